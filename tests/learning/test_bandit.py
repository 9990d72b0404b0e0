"""Thompson sampling for `auto`: deterministic under a seed, explores, converges on the best arm."""

from __future__ import annotations

import random

from tgfetch.learning.bandit import Arm, choose, posterior

ARMS = [Arm("media_group_aware", "file_size"), Arm("media_group_aware", "estimated_time"),
        Arm("load_balanced", "file_count")]
MEANS = {ARMS[0]: 0.85, ARMS[1]: 0.93, ARMS[2]: 0.80}


def _play(rounds: int, seed: int) -> list[tuple[Arm, float]]:
    rng = random.Random(seed)
    history: list[tuple[Arm, float]] = []
    for _ in range(rounds):
        arm = choose(ARMS, history, seed=seed, key="job|a,b").arm
        history.append((arm, min(1.0, rng.gauss(MEANS[arm], 0.03))))
    return history


def test_same_history_same_choice() -> None:
    h = _play(10, seed=1)
    assert choose(ARMS, h, seed=1, key="k") == choose(ARMS, h, seed=1, key="k")
    assert _play(15, seed=2) == _play(15, seed=2)


def test_every_arm_is_tried_and_the_best_wins() -> None:
    for seed in range(5):
        h = _play(40, seed)
        assert {a for a, _ in h} == set(ARMS)
        late = [a for a, _ in h[20:]]
        assert late.count(ARMS[1]) >= 15, seed


def test_reason_names_the_arms_and_their_runs() -> None:
    h = [(ARMS[0], 0.9), (ARMS[0], 0.88)]
    c = choose(ARMS, h, seed=3, key="k")
    assert "Thompson" in c.reason and "over 2 runs" in c.reason and "never tried" in c.reason


def test_posterior_shrinks_toward_the_rewards() -> None:
    mean, kappa, alpha, beta = posterior([0.95] * 20)
    assert 0.94 < mean < 0.95 and kappa == 21 and alpha == 12
