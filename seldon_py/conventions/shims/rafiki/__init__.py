"""Stand-in for Rafiki's ``rafiki`` package (seldon_py): see ``rafiki.model`` and ``rafiki.constants``."""
