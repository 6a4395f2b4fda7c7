"""Stand-in for SINGA-auto's ``singa_auto`` package (seldon_py): see ``singa_auto.model`` and
``singa_auto.constants``."""
