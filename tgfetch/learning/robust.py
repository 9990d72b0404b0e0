"""A robust regression of one account's per-file cost (numpy only): Huber IRLS on relative errors.

The cost of a file is the seconds of the account's time it takes (`samples.Sample.cost`).  Per
account, over its newest `WINDOW` samples (older ones weigh less: half-weight every `HALF_LIFE`
samples), with ``mb`` the file's size in MB::

    cost = t0                                  # per-file overhead (round trips)
         + mb x (t1 + sum_d t_d [dc = d]        # seconds per MB, and each non-home DC's extra
                 + t_s sin h + t_c cos h        # the time of day (h = 2 pi hour / 24)
                 + t_k (c - 1))                 # contention: more files in flight, slower per byte
         + t_r x recent                         # recent speed: the EWMA's size / speed for this file

`recent` lets the fit lean on the last minutes where the speed drifts and on the structure where
it does not.  The residuals are relative, ``(cost - fit) / cost``, so a 1 KB photo counts as much
as a 1 GB video; Huber's weights (k = 1.345 of the residuals' scale, 1.4826 x MAD) cut the
influence of stragglers; a light ridge (`RIDGE`, on standardized columns, every size term on the
size column's scale) keeps terms the window cannot tell apart (a DC seen once) near zero.  The
time-of-day terms are left out until the window covers `HOUR_BINS` hours of the day
(`HOUR_BIN_SAMPLES` files each): within one stretch of hours they would only learn the drift and
extrapolate it.  A robust fit finds the typical file, and the sum of many files is what plans and
ETAs add up, so the fit is then scaled by the ratio of the newest `CALIBRATE` costs to its fit of
them (Duan's smearing; each cost capped at 10 x its fit).  Refit every `REFIT_EVERY` samples.
Deterministic: no randomness anywhere.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tgfetch.learning.ewma import EwmaModel
from tgfetch.learning.samples import HOME_DC, Query, Sample

__all__ = ["HALF_LIFE", "MIN_SAMPLES", "RIDGE", "WINDOW", "RobustModel", "feature_row", "huber_fit"]

Array = npt.NDArray[np.float64]
WINDOW = 2000
HALF_LIFE = 400.0
MIN_SAMPLES = 30
REFIT_EVERY = 10
RIDGE = 1e-3
HUBER_K = 1.345
OTHER_DCS = (1, 3, 4, 5)
LOAD_TERMS = tuple(range(1, 2 + len(OTHER_DCS) + 3))  # per MB, the DCs, the hour, contention: one scale
HOUR_TERMS = [2 + len(OTHER_DCS), 3 + len(OTHER_DCS)]  # sin hour, cos hour
HOUR_BINS = 6  # hours of the day (of 24) each holding HOUR_BIN_SAMPLES samples before the hour terms count
HOUR_BIN_SAMPLES = 10
CALIBRATE = 100  # newest samples whose sum sets the level (Duan's smearing: sums come out right)
FEATURES = ("overhead", "per MB", *(f"DC{d}" for d in OTHER_DCS), "sin hour", "cos hour", "contention", "recent")


def feature_row(q: Query, recent: float) -> list[float]:
    """The regression's inputs for one file (`recent`: the EWMA's size / speed for it)."""
    c = max(q.concurrency, 1.0)
    mb = q.size / 1e6
    h = 2 * math.pi * q.hour / 24
    dcs = [mb * (q.dc == d) for d in OTHER_DCS] if q.dc != HOME_DC else [0.0] * len(OTHER_DCS)
    return [1.0, mb, *dcs, mb * math.sin(h), mb * math.cos(h), mb * (c - 1), recent]


def huber_fit(x: Array, y: Array, w: Array, *, ridge: float = RIDGE, iters: int = 30,
              tied: Sequence[int] = ()) -> Array:
    """Coefficients minimizing Huber's loss of the relative residuals (y - x.t) / y, weights `w`, plus
    a ridge on the standardized coefficients; columns `tied` are all scaled like the first of them (a
    term seen on a few files only cannot grow huge to fit them)."""
    xr = x / y[:, None]  # relative: each row divided by its own seconds, the target becomes 1
    one = np.ones_like(y)
    scale = np.sqrt(np.average(xr * xr, axis=0, weights=w)) + 1e-12
    if tied:
        scale[list(tied)] = scale[tied[0]]
    xs = xr / scale
    reg = ridge * w.sum() * np.eye(x.shape[1])
    reg[0, 0] = 0.0
    hw = np.ones_like(y)
    theta = np.zeros(x.shape[1])
    for _ in range(iters):
        ww = w * hw
        a = xs.T @ (xs * ww[:, None]) + reg
        new = np.linalg.solve(a, xs.T @ (one * ww))
        r = one - xs @ new
        s = 1.4826 * float(np.median(np.abs(r - np.median(r)))) + 1e-9
        hw = np.minimum(1.0, HUBER_K * s / np.maximum(np.abs(r), 1e-12))
        done = np.allclose(new, theta, rtol=1e-7, atol=1e-10)
        theta = new
        if done:
            break
    return np.asarray(theta / scale, dtype=np.float64)


def _hours_spread(x: Array) -> bool:
    """True when the window's samples cover HOUR_BINS hours of the day with HOUR_BIN_SAMPLES each."""
    mb = np.maximum(x[:, 1], 1e-12)
    angle = np.arctan2(x[:, HOUR_TERMS[0]] / mb, x[:, HOUR_TERMS[1]] / mb)
    hours = np.floor((angle % (2 * math.pi)) / (2 * math.pi) * 24).astype(int)[x[:, 1] > 1e-9]
    return int((np.bincount(hours, minlength=24) >= HOUR_BIN_SAMPLES).sum()) >= HOUR_BINS


@dataclass
class _Account:
    rows: deque[list[float]] = field(default_factory=lambda: deque(maxlen=WINDOW))
    costs: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    theta: Array | None = None
    fresh: int = 0  # samples since the last fit


class RobustModel:
    """Per-account Huber regression (see the module docstring); the EWMA until `MIN_SAMPLES`."""

    name = "robust"

    def __init__(self, ewma: EwmaModel | None = None) -> None:
        self.ewma = ewma or EwmaModel()
        self._own_ewma = ewma is None
        self.accounts: dict[str, _Account] = {}
        self.refit_every = REFIT_EVERY  # files between refits (more while a history is replayed)

    def cost(self, q: Query) -> float:
        """Seconds of the account's time for the file of `q`."""
        theta = self._theta(q.account)
        if theta is None:
            return self.ewma.cost(q)
        fit = float(np.dot(theta, self._row(q)))
        return max(fit, 0.2 * self.ewma.cost(q), 1e-4)

    def predict(self, q: Query) -> float:
        """Seconds for the file of `q` (its cost times its concurrency)."""
        return max(q.concurrency, 1.0) * self.cost(q)

    def _row(self, q: Query) -> list[float]:
        return feature_row(q, q.size / self.ewma.rate(q.account).speed)

    def cost_array(self, account: str, size: Array, dc: Array, concurrency: float, hour: float) -> Array:
        """`cost` of many files of one account at once (same concurrency and hour)."""
        ewma = self.ewma.cost_array(account, size)
        theta = self._theta(account)
        if theta is None:
            return ewma
        c = max(concurrency, 1.0)
        mb = size / 1e6
        h = 2 * math.pi * hour / 24
        cols = [np.ones_like(mb), mb, *(mb * (dc == d) for d in OTHER_DCS), mb * math.sin(h), mb * math.cos(h),
                mb * (c - 1), size / self.ewma.rate(account).speed]
        fit = np.column_stack(cols) @ theta
        return np.asarray(np.maximum(np.maximum(fit, 0.2 * ewma), 1e-4), dtype=np.float64)

    def warm(self, account: str) -> bool:
        """True when the account has a fit (else `predict` is the EWMA's)."""
        return self._theta(account) is not None

    def update(self, s: Sample) -> None:
        """Add one finished file (the EWMA's view of it is taken before the EWMA learns it)."""
        a = self.accounts.setdefault(s.account, _Account())
        a.rows.append(self._row(s.query))
        a.costs.append(s.cost)
        a.fresh += 1
        if self._own_ewma:
            self.ewma.update(s)

    def coefficients(self, account: str) -> dict[str, float]:
        """The account's fitted terms by name (empty while cold): what a user can inspect."""
        theta = self._theta(account)
        return {} if theta is None else dict(zip(FEATURES, (float(t) for t in theta), strict=True))

    def _theta(self, account: str) -> Array | None:
        a = self.accounts.get(account)
        if a is None or len(a.costs) < MIN_SAMPLES:
            return None
        if a.theta is None or a.fresh >= self.refit_every:
            x = np.asarray(a.rows, dtype=np.float64)
            y = np.asarray(a.costs, dtype=np.float64)
            age = np.arange(len(y) - 1, -1, -1, dtype=np.float64)
            if not _hours_spread(x):  # one stretch of hours: a time-of-day term would only learn the drift
                x = x.copy()
                x[:, HOUR_TERMS] = 0.0
            theta = huber_fit(x, y, np.power(0.5, age / HALF_LIFE), tied=LOAD_TERMS)
            fit = np.maximum(x[-CALIBRATE:] @ theta, 1e-4)
            a.theta = theta * float(np.minimum(y[-CALIBRATE:], 10 * fit).sum() / fit.sum())
            a.fresh = 0
        return a.theta
