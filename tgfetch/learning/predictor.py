"""The per-file model tgfetch uses: outliers out, the robust fit, a guard that falls back to the EWMA, intervals.

For each finished file (`observe`): the `Cleaner` rejects impossible samples; a sample both the
model and the EWMA put `clean.MAX_RATIO` times off is rejected too (``off the model``); otherwise
both predictions are scored (absolute error of the file's cost, so that big files, which make
the plans and ETAs, count most) before either learns the file.  Per account the guard compares
the two summed over the last `GUARD_WINDOW` files: where the model did worse than the EWMA,
`predict` answers with the EWMA until the model does better again (each switch is logged).  The
interval is the 10 % and 90 % quantiles of the account's last `RESIDUALS` log ratios
(actual / predicted) of the answers given; `DEFAULT_BAND` before `MIN_RESIDUALS` of them.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tgfetch.learning.clean import Cleaner, off_the_model
from tgfetch.learning.ewma import EwmaModel
from tgfetch.learning.robust import RobustModel
from tgfetch.learning.samples import Prediction, Query, Sample

__all__ = ["DEFAULT_BAND", "GUARD_WINDOW", "Predictor"]

log = logging.getLogger("tgfetch.learning")
GUARD_WINDOW = 50
RESIDUALS = 200
MIN_RESIDUALS = 10
DEFAULT_BAND = (math.log(0.5), math.log(2.0))
QUANTILES = (0.1, 0.9)


@dataclass
class _Track:
    errors: collections.deque[tuple[float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=GUARD_WINDOW))  # (model, ewma) |cost error|
    residuals: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=RESIDUALS))
    concurrency: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=20))
    source: str = "ewma"


class Predictor:
    """Learn per-file seconds online from finished files; predict with an interval."""

    def __init__(self, speeds: Mapping[str, float] | None = None, *, model: RobustModel | None = None) -> None:
        """`speeds`: learned bytes/s per account (the EWMA's start); `model`: another model sharing
        `self.ewma` (a comparison, a test)."""
        self.cleaner = Cleaner()
        self.ewma = model.ewma if model is not None else EwmaModel(speeds)
        self.model = model or RobustModel(self.ewma)
        self.tracks: dict[str, _Track] = {}
        self.samples = 0

    def observe(self, s: Sample, now: float | None = None) -> str | None:
        """Learn one finished file; return why it was rejected (None: learned)."""
        reason = self.cleaner.check(s, now)
        if reason is not None:
            return reason
        q = s.query
        m, e = self.model.predict(q), self.ewma.predict(q)
        if self.model.warm(s.account) and off_the_model(s.seconds, m) and off_the_model(s.seconds, e):
            self.cleaner.reject(s, "off the model")
            return "off the model"
        t = self.tracks.setdefault(s.account, _Track())
        if self.model.warm(s.account):
            c = max(s.concurrency, 1.0)
            t.errors.append((abs(s.cost - m / c), abs(s.cost - e / c)))
        t.residuals.append(math.log(s.cost * max(s.concurrency, 1.0) / (m if t.source == "model" else e)))
        t.concurrency.append(s.concurrency)
        self.model.update(s)  # before the EWMA: the model's `recent` input is what was known at the start
        self.ewma.update(s)
        self.samples += 1
        self._guard(s.account, t)
        return None

    def _guard(self, account: str, t: _Track) -> None:
        if not self.model.warm(account) or len(t.errors) < min(GUARD_WINDOW, 10):
            source = "ewma"
        else:
            model_err, ewma_err = (sum(col) / len(t.errors) for col in zip(*t.errors, strict=True))
            source = "model" if model_err <= ewma_err else "ewma"
        if source != t.source and self.model.warm(account):
            log.info("learning: %s now predicted by the %s (summed cost error over the last %d files)",
                     account, "model" if source == "model" else "EWMA: the model did worse", len(t.errors))
        t.source = source

    def source(self, account: str) -> str:
        """Which answers `predict` gives for `account`: 'model', 'ewma' or 'prior' (nothing learned)."""
        t = self.tracks.get(account)
        if t is None or (t.source == "ewma" and not self.ewma.rate(account).files):
            return "ewma" if self.ewma.rate(account).files else "prior"
        return t.source

    def band(self, account: str, block: int = 1) -> tuple[float, float]:
        """(low, high) log ratios of actual to predicted seconds for `account` (10 % and 90 %);
        `block` > 1: of the means of that many consecutive files (the band of a sum of many files)."""
        t = self.tracks.get(account)
        if t is None or len(t.residuals) < max(MIN_RESIDUALS, 2 * block):
            return DEFAULT_BAND
        r = np.asarray(t.residuals)
        if block > 1:
            r = np.convolve(r, np.full(block, 1.0 / block), mode="valid")
        lo, hi = np.quantile(r, QUANTILES)
        return min(float(lo), 0.0), max(float(hi), 0.0)

    def predict(self, q: Query) -> Prediction:
        """Seconds for the file of `q`, with an interval."""
        source = self.source(q.account)
        seconds = self.model.predict(q) if source == "model" else self.ewma.predict(q)
        lo, hi = self.band(q.account)
        return Prediction(seconds, seconds * math.exp(lo), seconds * math.exp(hi), source)

    def cost_array(self, account: str, size: npt.NDArray[np.float64], dc: npt.NDArray[np.float64],
                   concurrency: float, hour: float) -> npt.NDArray[np.float64]:
        """Seconds of `account`'s time for each of many files (same concurrency and hour): their seconds
        over the concurrency, as `predict` would say."""
        if self.source(account) == "model":
            return self.model.cost_array(account, size, dc, concurrency, hour)
        return self.ewma.cost_array(account, size)

    def concurrency(self, account: str, default: float = 1.0) -> float:
        """The account's files in flight, as its last files saw it (mean of the last 20)."""
        t = self.tracks.get(account)
        return sum(t.concurrency) / len(t.concurrency) if t and t.concurrency else default
