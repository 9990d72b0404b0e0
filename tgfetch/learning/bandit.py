"""`auto` learns from outcomes: Thompson sampling among candidate (strategy, metric) pairs.

Each past round of the job (same account set) gave its arm a reward, ``ideal bound / achieved
makespan`` in (0, 1].  Per arm, the rewards' mean and variance get a Normal-Inverse-Gamma
posterior from the prior ``mean PRIOR_MEAN, kappa0 = 1, alpha0 = 2, beta0 = alpha0 x PRIOR_SD^2``::

    kappa_n = kappa0 + n                 mean_n = (kappa0 x PRIOR_MEAN + n x mean) / kappa_n
    alpha_n = alpha0 + n / 2             beta_n = beta0 + SS / 2 + kappa0 n (mean - PRIOR_MEAN)^2 / (2 kappa_n)

(``mean``, ``SS``: the arm's rewards' mean and sum of squared deviations).  The rule: draw
``sigma^2 ~ InvGamma(alpha_n, beta_n)`` and ``mu ~ Normal(mean_n, sigma^2 / kappa_n)`` for every arm
and run the arm with the largest ``mu``.  An arm never tried draws from the prior (wide), so it gets
tried; an arm clearly worse stops being drawn on top.  The draws come from a `numpy` generator
seeded with sha256 of (seed, job, account set, number of past rounds): the same history gives the
same choice, and `Choice.reason` says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PRIOR_MEAN", "PRIOR_SD", "Arm", "ArmStats", "Choice", "choose", "posterior"]

PRIOR_MEAN = 0.85
PRIOR_SD = 0.1
KAPPA0 = 1.0
ALPHA0 = 2.0


@dataclass(frozen=True)
class Arm:
    """One candidate: a strategy and the load metric it balances."""

    strategy: str
    metric: str

    def __str__(self) -> str:
        return f"{self.strategy}/{self.metric}"


@dataclass(frozen=True)
class ArmStats:
    """One arm's posterior and its draw."""

    arm: Arm
    runs: int
    mean: float  # the rewards' mean (the prior's before any run)
    posterior_mean: float
    draw: float


@dataclass(frozen=True)
class Choice:
    """The arm to run and why."""

    arm: Arm
    stats: tuple[ArmStats, ...]

    @property
    def reason(self) -> str:
        """One line for `tgfetch plan`."""
        parts = [f"{s.arm}: draw {s.draw:.3f}, " + (f"mean reward {s.mean:.3f} over {s.runs} runs" if s.runs
                                                      else "never tried")
                 for s in sorted(self.stats, key=lambda s: -s.draw)]
        return (f"auto chose {self.arm} by Thompson sampling on ideal/makespan of past runs ("
                + "; ".join(parts) + ")")


def posterior(rewards: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean_n, kappa_n, alpha_n, beta_n) of one arm's rewards (module docstring)."""
    n = len(rewards)
    beta0 = ALPHA0 * PRIOR_SD**2
    if n == 0:
        return PRIOR_MEAN, KAPPA0, ALPHA0, beta0
    r = np.asarray(rewards, dtype=np.float64)
    mean = float(r.mean())
    ss = float(((r - mean) ** 2).sum())
    kappa = KAPPA0 + n
    return ((KAPPA0 * PRIOR_MEAN + n * mean) / kappa, kappa, ALPHA0 + n / 2,
            beta0 + ss / 2 + KAPPA0 * n * (mean - PRIOR_MEAN) ** 2 / (2 * kappa))


def _rng(seed: int, key: str, rounds: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{key}|{rounds}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def choose(candidates: Sequence[Arm], history: Sequence[tuple[Arm, float]], *, seed: int = 0,
           key: str = "") -> Choice:
    """The arm to run next among `candidates`, from past (arm, reward) rounds (module docstring).

    `key` names the job and account set (part of the seed); rewards of arms no longer candidates
    are ignored."""
    if not candidates:
        raise ValueError("no candidate to choose from")
    rng = _rng(seed, key, len(history))
    stats = []
    for arm in candidates:
        rewards = [r for a, r in history if a == arm]
        mean_n, kappa, alpha, beta = posterior(rewards)
        var = beta / rng.gamma(alpha)  # InvGamma(alpha, beta): beta / Gamma(alpha, 1)
        draw = float(rng.normal(mean_n, np.sqrt(var / kappa)))
        mean = float(np.mean(rewards)) if rewards else PRIOR_MEAN
        stats.append(ArmStats(arm, len(rewards), mean, mean_n, draw))
    best = max(stats, key=lambda s: s.draw)
    return Choice(best.arm, tuple(stats))
