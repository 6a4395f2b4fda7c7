"""Multi-armed-bandit routers: :class:`EpsilonGreedy` and :class:`ThompsonSampling`.

Both are plain Seldon user classes, served like any model::

    seldon-core-microservice seldon_py.components.bandits.EpsilonGreedy --service-type ROUTER \\
        --parameters '[{"name":"n_branches","value":"2","type":"INT"}]'

and used as a ``ROUTER`` node of a SeldonDeployment graph (the node's children are the branches,
numbered from 0). ``route(X, names)`` picks a branch; ``send_feedback(features, names, reward,
truth, routing)`` tells the router how well the branch it chose (``routing``, which the executor
takes from ``response.meta.routing[<node name>]``) did.

Rewards follow Seldon's bandit routers: ``reward`` is the *proportion of successes* in the batch,
a number in [0, 1]; a batch of n rows with reward r counts as n·r successes and n·(1−r)
failures (a Bernoulli bandit). Unlike Seldon's images, fractional successes are kept (Seldon
truncates n·r to an integer, so a one-row batch with reward 0.7 counted as a failure there).

The learned state lives in the process: with several REST workers (``--workers``) or gRPC
processes each process learns separately from the feedback it happens to receive. Run a bandit
with one worker (the default) if it must learn from every reward; the router's work is tiny.

All state changes and every random draw happen under one lock, so concurrent ``route`` and
``send_feedback`` calls (``--threads`` > 1, or the executor's in-process mode) are safe.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from typing import Any

from ..errors import BadRequest, InvalidParameters

logger = logging.getLogger("seldon_py.bandits")

#: Upper bound on ``n_branches``: a graph node with more children than this is not a bandit.
MAX_BRANCHES = 1024
#: Largest batch (rows) one feedback may count for; bigger batches are refused, not truncated.
MAX_FEEDBACK_ROWS = 10_000_000


# ----------------------------------------------------------------------------- parameters
def _int_param(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise InvalidParameters(f"parameter {name}: {value!r} is not an integer")
    try:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            n = int(value)
        else:
            n = int(str(value).strip())
    except (ValueError, TypeError):
        raise InvalidParameters(f"parameter {name}: {value!r} is not an integer") from None
    if n < minimum or (maximum is not None and n > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidParameters(f"parameter {name}: {n} must be {bound}")
    return n


def _float_param(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool):
        raise InvalidParameters(f"parameter {name}: {value!r} is not a number")
    try:
        x = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (ValueError, TypeError):
        raise InvalidParameters(f"parameter {name}: {value!r} is not a number") from None
    if not math.isfinite(x) or x < low or x > high or (low_open and x == low):
        lo = "(" if low_open else "["
        raise InvalidParameters(f"parameter {name}: {x} must be in {lo}{low}, {high}]")
    return x


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise InvalidParameters(f"parameter {name}: {value!r} is not a boolean (true/false)")


def _list_param(name: str, value: Any) -> list[Any]:
    """A list given as a JSON list, a JSON-list string, or a ``:``/``,`` separated string."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise InvalidParameters(f"parameter {name}: {value!r} is not a valid JSON list") from None
            if isinstance(parsed, list):
                return parsed
        sep = ":" if ":" in text else ","
        return [part.strip() for part in text.split(sep)] if text else []
    return [value]


def _branch_names(value: Any, n_branches: int) -> list[str]:
    if value is None:
        return [f"branch_{i}" for i in range(n_branches)]
    names = [str(x) for x in _list_param("branch_names", value)]
    if len(names) != n_branches:
        raise InvalidParameters(
            f"parameter branch_names: {len(names)} names given for n_branches={n_branches}"
        )
    if any(not x for x in names) or len(set(names)) != len(names):
        raise InvalidParameters("parameter branch_names: names must be non-empty and distinct")
    return names


def _priors(name: str, value: Any, n_branches: int) -> list[float]:
    """One Beta prior parameter per branch: a number (all branches) or a list of n_branches numbers."""
    items = _list_param(name, value) if isinstance(value, (list, tuple, str)) else [value]
    if len(items) == 1:
        items = items * n_branches
    if len(items) != n_branches:
        raise InvalidParameters(f"parameter {name}: {len(items)} values given for n_branches={n_branches}")
    return [_float_param(name, x, 0.0, 1e9, low_open=True) for x in items]


# ----------------------------------------------------------------------------- feedback
def _feedback_counts(features: Any, reward: Any) -> tuple[float, float]:
    """(successes, failures) for a feedback batch: rows·reward and rows·(1−reward)."""
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        try:
            reward = float(reward)
        except (TypeError, ValueError):
            raise BadRequest(f"bandit feedback: reward {reward!r} is not a number") from None
    r = float(reward)
    if not math.isfinite(r) or not 0.0 <= r <= 1.0:
        raise BadRequest(f"bandit feedback: reward {r} must be in [0, 1] (the proportion of successes)")
    shape = getattr(features, "shape", None)
    if shape is not None:
        rows = int(shape[0]) if len(shape) >= 1 else 1
    elif isinstance(features, (list, tuple)):
        rows = len(features)
    else:
        rows = 1
    rows = max(rows, 1)
    if rows > MAX_FEEDBACK_ROWS:
        raise BadRequest(f"bandit feedback: a batch of {rows} rows is more than {MAX_FEEDBACK_ROWS}")
    return rows * r, rows * (1.0 - r)


class _Bandit:
    """Shared bookkeeping: branches, per-branch successes/tries, the lock and the RNG."""

    kind = "bandit"

    def __init__(self, n_branches: Any, verbose: Any, branch_names: Any, seed: Any) -> None:
        if n_branches is None:
            raise InvalidParameters("parameter n_branches is required (the number of child nodes)")
        self.n_branches = _int_param("n_branches", n_branches, 1, MAX_BRANCHES)
        self.verbose = _bool_param("verbose", verbose)
        self.branch_names = _branch_names(branch_names, self.n_branches)
        self.seed = None if seed is None or seed == "" else _int_param("seed", seed, 0)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.successes = [0.0] * self.n_branches
        self.tries = [0.0] * self.n_branches

    def _branch(self, routing: Any) -> int:
        if routing is None:
            raise BadRequest(
                f"{self.kind} feedback has no routing for this router: send back the prediction's "
                "meta.routing (SELDON_ENABLE_ROUTING_INJECTION on the executor) so it knows the branch"
            )
        try:
            branch = int(routing)
        except (TypeError, ValueError):
            raise BadRequest(f"{self.kind} feedback: routing {routing!r} is not a branch number") from None
        if not 0 <= branch < self.n_branches:
            raise BadRequest(
                f"{self.kind} feedback: routing {branch} is not a branch (0..{self.n_branches - 1})"
            )
        return branch

    def send_feedback(
        self, features: Any, feature_names: Any, reward: Any, truth: Any, routing: Any = None
    ) -> None:
        branch = self._branch(routing)
        successes, failures = _feedback_counts(features, reward)
        with self._lock:
            self._learn(branch, successes, failures)
            if self.verbose:
                logger.info("%s: feedback for %s: %s", self.kind, self.branch_names[branch], self._summary())

    def _learn(self, branch: int, successes: float, failures: float) -> None:
        self.successes[branch] += successes
        self.tries[branch] += successes + failures

    def _summary(self) -> str:
        return ", ".join(
            f"{name} {s:g}/{t:g}" for name, s, t in zip(self.branch_names, self.successes, self.tries, strict=True)
        )

    def stats(self) -> dict[str, dict[str, float]]:
        """Per branch name: successes and tries so far (a copy, for logs and tests)."""
        with self._lock:
            return {
                name: {"successes": s, "tries": t}
                for name, s, t in zip(self.branch_names, self.successes, self.tries, strict=True)
            }


class EpsilonGreedy(_Bandit):
    """Epsilon-greedy bandit router.

    With probability ``1 - epsilon`` route to the branch with the best success rate so far (ties:
    the lowest branch number; before any feedback: ``best_branch``), otherwise to a branch chosen
    uniformly at random (which may be the best one too).

    Parameters: ``n_branches`` (INT, required), ``epsilon`` (FLOAT in [0, 1], default 0.1),
    ``best_branch`` (INT, the branch to prefer before any feedback, default a random branch),
    ``verbose`` (BOOL, log every decision and update), ``branch_names`` (STRING ``a:b:c`` or JSON
    list, used in logs and :meth:`stats`), ``seed`` (INT, reproducible choices).
    """

    kind = "EpsilonGreedy"

    def __init__(
        self,
        n_branches: Any = None,
        epsilon: Any = 0.1,
        best_branch: Any = None,
        verbose: Any = False,
        branch_names: Any = None,
        seed: Any = None,
    ) -> None:
        super().__init__(n_branches, verbose, branch_names, seed)
        self.epsilon = _float_param("epsilon", epsilon, 0.0, 1.0)
        if best_branch is None or best_branch == "":
            self.best_branch = self._rng.randrange(self.n_branches)
        else:
            self.best_branch = _int_param("best_branch", best_branch, 0, self.n_branches - 1)
        if self.verbose:
            logger.info("EpsilonGreedy: %d branches, epsilon %g, best %s", self.n_branches,
                        self.epsilon, self.branch_names[self.best_branch])

    def route(self, features: Any, feature_names: Any) -> int:
        with self._lock:
            if self._rng.random() < self.epsilon:
                branch = self._rng.randrange(self.n_branches)
            else:
                branch = self.best_branch
        if self.verbose:
            logger.info("EpsilonGreedy: routing to %s", self.branch_names[branch])
        return branch

    def _learn(self, branch: int, successes: float, failures: float) -> None:
        super()._learn(branch, successes, failures)
        rates = [s / t if t > 0 else -1.0 for s, t in zip(self.successes, self.tries, strict=True)]
        best = max(rates)
        if best >= 0.0:
            self.best_branch = rates.index(best)


class ThompsonSampling(_Bandit):
    """Thompson-sampling bandit router (Beta-Bernoulli).

    Each branch has a Beta(alpha + successes, beta + failures) posterior over its success rate;
    ``route`` draws one sample per branch and picks the largest.

    Parameters: ``n_branches`` (INT, required), ``alpha`` and ``beta`` (the Beta prior: a number
    for every branch, or one per branch as ``1:2`` / a JSON list; default 1 = uniform, as
    Seldon's image), ``verbose``, ``branch_names``, ``seed`` (as :class:`EpsilonGreedy`).
    """

    kind = "ThompsonSampling"

    def __init__(
        self,
        n_branches: Any = None,
        verbose: Any = False,
        branch_names: Any = None,
        seed: Any = None,
        alpha: Any = 1.0,
        beta: Any = 1.0,
    ) -> None:
        super().__init__(n_branches, verbose, branch_names, seed)
        self.alpha = _priors("alpha", alpha, self.n_branches)
        self.beta = _priors("beta", beta, self.n_branches)
        if self.verbose:
            logger.info("ThompsonSampling: %d branches, priors alpha %s beta %s", self.n_branches,
                        self.alpha, self.beta)

    def route(self, features: Any, feature_names: Any) -> int:
        with self._lock:
            draws = [
                self._rng.betavariate(a + s, b + (t - s))
                for a, b, s, t in zip(self.alpha, self.beta, self.successes, self.tries, strict=True)
            ]
        branch = max(range(self.n_branches), key=draws.__getitem__)
        if self.verbose:
            logger.info("ThompsonSampling: routing to %s", self.branch_names[branch])
        return branch

    def posterior(self) -> list[tuple[float, float]]:
        """(alpha, beta) of each branch's current Beta posterior."""
        with self._lock:
            return [
                (a + s, b + (t - s))
                for a, b, s, t in zip(self.alpha, self.beta, self.successes, self.tries, strict=True)
            ]


__all__ = ["MAX_BRANCHES", "MAX_FEEDBACK_ROWS", "EpsilonGreedy", "ThompsonSampling"]
