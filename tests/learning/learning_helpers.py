"""Synthetic samples with a known law, for the learning tests."""

from __future__ import annotations

import random
import time

from tgfetch.learning.samples import Sample

T0 = time.time() - 3600.0
DC_COST = {1: 1.3, 2: 1.0, 3: 1.1, 4: 1.5, 5: 1.2}  # per-byte cost multiplier of each DC


def law(account: str, size: int, dc: int, speed: float = 2e6, overhead: float = 0.01) -> float:
    """The true cost (seconds of the account's time) of a file."""
    return overhead + size * DC_COST[dc] / speed


def samples(n: int, seed: int = 1, account: str = "a", speed: float = 2e6, noise: float = 0.1,
            start: float = T0, concurrency: float = 3.0) -> list[Sample]:
    """`n` samples of one account following `law`, lognormal noise, sizes log-uniform 10 KB..50 MB."""
    rng = random.Random(seed)
    out = []
    t = start
    for _ in range(n):
        size = int(10 ** rng.uniform(4, 7.7))
        dc = 2 if rng.random() < 0.6 else rng.choice((1, 3, 4, 5))
        cost = law(account, size, dc, speed) * rng.lognormvariate(0, noise)
        seconds = cost * concurrency
        out.append(Sample(account, size, dc, concurrency, t, seconds, 12.0, "job",
                          account_bytes=int(size * concurrency)))
        t += cost
    return out
