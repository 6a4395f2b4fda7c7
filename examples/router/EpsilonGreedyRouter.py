"""An epsilon-greedy multi-armed-bandit router.

``route`` sends each request to the branch with the best average reward so far, except with
probability ``epsilon`` it explores a random branch. ``send_feedback`` gets back the branch that
served a request (``routing``) and its ``reward`` and updates that branch's statistics.

Parameters (``--parameters`` or PREDICTIVE_UNIT_PARAMETERS): ``n_branches`` (INT, default 2),
``epsilon`` (FLOAT, default 0.1), ``seed`` (INT, optional, for reproducible exploration).
"""

import random


class EpsilonGreedyRouter:
    def __init__(self, n_branches=2, epsilon=0.1, seed=None):
        if int(n_branches) < 1:
            raise ValueError("n_branches must be at least 1")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError("epsilon must be between 0 and 1")
        self.n_branches = int(n_branches)
        self.epsilon = float(epsilon)
        self.rng = random.Random(seed)
        self.pulls = [0] * self.n_branches
        self.rewards = [0.0] * self.n_branches

    def _mean(self, branch):
        return self.rewards[branch] / self.pulls[branch] if self.pulls[branch] else 0.0

    def route(self, features, feature_names):
        if self.rng.random() < self.epsilon:
            return self.rng.randrange(self.n_branches)
        # ties go to the lowest branch number; must be a plain Python int
        return int(max(range(self.n_branches), key=lambda b: (self._mean(b), -b)))

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        if routing is None or not 0 <= int(routing) < self.n_branches:
            return None
        branch = int(routing)
        self.pulls[branch] += 1
        self.rewards[branch] += float(reward)
        return None

    def tags(self):
        return {"branch_means": [round(self._mean(b), 4) for b in range(self.n_branches)]}
