"""Stand-in for ``vessl`` (seldon_py): ``RunnerBase`` only.

``register_model``/``register_torch_model`` exist so that a module calling them under
``if __name__ == "__main__"`` imports; called, they raise (registering needs the real SDK).
"""

from seldon_py.conventions._vessl_api import RunnerBase, register_model, register_torch_model

__all__ = ["RunnerBase", "register_model", "register_torch_model"]
