"""Ready-made graph components shipped with seldon_py (serve them like any user class).

* :mod:`seldon_py.components.bandits` — ``EpsilonGreedy`` and ``ThompsonSampling`` routers.
"""

from .bandits import EpsilonGreedy, ThompsonSampling

__all__ = ["EpsilonGreedy", "ThompsonSampling"]
