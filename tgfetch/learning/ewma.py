"""Today's estimate, per file: an account's speed (bytes/s, an EWMA) plus a per-file overhead.

Every model here predicts a file's *cost*: the seconds of the account's time it takes
(`samples.Sample.cost`: its seconds times its share of the bytes the account fetched meanwhile;
over a run the costs add up to the time the account was busy).  A file's seconds are about its
cost times the files in flight with it.  Today's formula (the scheduler's ``time_for``)::

    cost = overhead + size / speed

``speed`` is bytes over busy time net of the overheads, exponentially weighted by file: after each
file, ``B <- (1 - ALPHA) B + ALPHA size`` and ``C <- (1 - ALPHA) C + ALPHA cost`` (a plain mean over
the first 1 / ALPHA files), ``speed = B / (C - overhead)``.  Only files of at least `SMALL` bytes count
for the speed; ``overhead`` is an EWMA (``BETA``) of the cost of smaller files, which is nearly all
waiting.  Before any file: `DEFAULT_SPEED` and `DEFAULT_OVERHEAD` (the scheduler's
own defaults), or a learned speed given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tgfetch.learning.samples import Query, Sample

__all__ = ["ALPHA", "BETA", "DEFAULT_OVERHEAD", "DEFAULT_SPEED", "EwmaModel", "Rate"]

Array = npt.NDArray[np.float64]
DEFAULT_SPEED = 1_000_000.0  # bytes/s (download.load.DEFAULT_SPEED)
DEFAULT_OVERHEAD = 0.05  # seconds per file (download.load.DEFAULT_OVERHEAD)
ALPHA = 0.05
BETA = 0.1
SMALL = 64 << 10


@dataclass
class Rate:
    """One account's EWMA state."""

    nbytes: float = DEFAULT_SPEED  # EWMA of bytes per file
    cost: float = 1.0  # EWMA of seconds of cost per file
    overhead: float = DEFAULT_OVERHEAD
    files: int = 0  # files of at least SMALL bytes blended in (a learned speed counts as one)

    @property
    def speed(self) -> float:
        """Bytes per second of busy time net of the per-file overhead (so mean costs add up right)."""
        return self.nbytes / max(self.cost - self.overhead, 0.1 * self.cost, 1e-9)


class EwmaModel:
    """Per account: an EWMA of bytes/s and of the per-file overhead."""

    name = "ewma"

    def __init__(self, speeds: Mapping[str, float] | None = None, *, alpha: float = ALPHA, beta: float = BETA) -> None:
        self.alpha, self.beta = alpha, beta
        learned = (speeds or {}).items()
        self.rates: dict[str, Rate] = {a: Rate(nbytes=s, cost=1.0 + DEFAULT_OVERHEAD, files=1) for a, s in learned
                                       if s > 0}

    def rate(self, account: str) -> Rate:
        """The account's state (the defaults before any file)."""
        return self.rates.get(account) or Rate()

    def cost(self, q: Query) -> float:
        """Seconds of the account's time for the file of `q`."""
        r = self.rate(q.account)
        return r.overhead + q.size / r.speed

    def predict(self, q: Query) -> float:
        """Seconds for the file of `q` (its cost times its concurrency)."""
        return max(q.concurrency, 1.0) * self.cost(q)

    def cost_array(self, account: str, size: Array) -> Array:
        """`cost` of many files of one account at once."""
        r = self.rate(account)
        return np.asarray(r.overhead + size / r.speed, dtype=np.float64)

    def update(self, s: Sample) -> None:
        """Blend one finished file in."""
        r = self.rates.setdefault(s.account, Rate(files=0))
        cost = s.cost
        if s.size < SMALL:  # nearly all waiting: tells the overhead, not the speed
            r.overhead += self.beta * (cost - r.overhead)
            return
        if r.files == 0:
            r.nbytes, r.cost = float(s.size), cost
        else:
            a = max(self.alpha, 1.0 / (r.files + 1))  # a plain mean over the first 1 / alpha files
            r.nbytes += a * (s.size - r.nbytes)
            r.cost += a * (cost - r.cost)
        r.files += 1
