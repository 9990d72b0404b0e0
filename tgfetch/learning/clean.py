"""Outlier rejection: a sample that cannot be true never reaches a model, and the reason is logged.

| reason | rule |
|---|---|
| ``empty file`` | size <= 0 |
| ``bad duration`` | seconds not a finite number > 0 |
| ``huge duration`` | seconds > `MAX_SECONDS` (6 h for one file) |
| ``absurd speed`` | size / seconds > `MAX_SPEED` (2 GB/s: no Telegram account is that fast) |
| ``broken network`` | a file of at least 1 MiB at under `MIN_SPEED` (1 KiB/s) |
| ``clock jump`` | started before 2015, or started or ended more than `CLOCK_SLACK` (5 min) after now |
| ``bad concurrency`` | concurrency not in [1, 1024] |
| ``bad hour`` | hour not in [0, 24) |
| ``off the model`` | a warm model's prediction is `MAX_RATIO` (25) times off either way (`Predictor`) |

Rejections are counted by reason (`Cleaner.rejected`) and logged on the ``tgfetch.learning`` logger:
the first `LOG_FIRST` of each reason, then every `LOG_EVERY`-th, so a poisoned history cannot flood it.
"""

from __future__ import annotations

import collections
import logging
import math
import time

from tgfetch.learning.samples import Sample

__all__ = ["CLOCK_SLACK", "MAX_RATIO", "MAX_SECONDS", "MAX_SPEED", "MIN_SPEED", "Cleaner", "reject_reason"]

log = logging.getLogger("tgfetch.learning")

MAX_SECONDS = 6 * 3600.0
MAX_SPEED = 2e9
MIN_SPEED = 1024.0
MIN_SPEED_SIZE = 1 << 20
EPOCH_2015 = 1_420_070_400.0
CLOCK_SLACK = 300.0
MAX_RATIO = 25.0
LOG_FIRST = 3
LOG_EVERY = 1000


def reject_reason(s: Sample, now: float | None = None) -> str | None:
    """Why `s` cannot be a true sample (see the module docstring), or None when it may be."""
    now = time.time() if now is None else now
    if s.size <= 0:
        return "empty file"
    if not (math.isfinite(s.seconds) and s.seconds > 0):
        return "bad duration"
    if s.seconds > MAX_SECONDS:
        return "huge duration"
    if s.size / s.seconds > MAX_SPEED:
        return "absurd speed"
    if s.size >= MIN_SPEED_SIZE and s.size / s.seconds < MIN_SPEED:
        return "broken network"
    if not math.isfinite(s.started) or s.started < EPOCH_2015 or s.started + s.seconds > now + CLOCK_SLACK:
        return "clock jump"
    if not (math.isfinite(s.concurrency) and 1 <= s.concurrency <= 1024):
        return "bad concurrency"
    if not (math.isfinite(s.hour) and 0 <= s.hour < 24):
        return "bad hour"
    return None


def off_the_model(seconds: float, predicted: float) -> bool:
    """True when `seconds` is MAX_RATIO times off `predicted` either way."""
    return predicted > 0 and not (predicted / MAX_RATIO <= seconds <= predicted * MAX_RATIO)


class Cleaner:
    """Reject impossible samples; count and log why (rate-limited)."""

    def __init__(self) -> None:
        self.rejected: collections.Counter[str] = collections.Counter()

    def check(self, s: Sample, now: float | None = None) -> str | None:
        """The reason `s` is rejected (counted and logged), or None when it is kept."""
        reason = reject_reason(s, now)
        if reason is not None:
            self.reject(s, reason)
        return reason

    def reject(self, s: Sample, reason: str) -> None:
        """Count and log one rejection."""
        self.rejected[reason] += 1
        n = self.rejected[reason]
        if n <= LOG_FIRST or n % LOG_EVERY == 0:
            log.info("learning: sample of %s rejected (%s): %d bytes in %.3g s, started %.0f (%d so far)",
                     s.account, reason, s.size, s.seconds, s.started, n)
