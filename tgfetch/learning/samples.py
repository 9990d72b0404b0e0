"""The records the learning package works on: one finished file, a question, an answer with its interval."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["HOME_DC", "InFlight", "Prediction", "Query", "Sample", "hour_of_day"]

HOME_DC = 2  # where most files live (the accounts' home DC): the baseline of the DC terms


@dataclass(frozen=True)
class Query:
    """What is known of a file before it is fetched: how long will `account` take for it?"""

    account: str
    size: int  # bytes to fetch
    dc: int = HOME_DC
    concurrency: float = 1.0  # files the account fetches at once (this one included)
    hour: float = 12.0  # local hour of day of the start, in [0, 24)


@dataclass(frozen=True)
class Sample:
    """One file an account fetched to its end: the inputs and the seconds it took."""

    account: str
    size: int  # bytes fetched (a resumed file: the rest only)
    dc: int
    concurrency: float  # files of the account in flight, averaged over this file's time (itself included)
    started: float  # wall-clock seconds (time.time()) at the start
    seconds: float
    hour: float = 12.0  # local hour of day at the start, in [0, 24) (simulations: the profile clock's)
    job: str = ""  # the job it belongs to (history)
    account_bytes: int = 0  # bytes the account fetched while this file was in flight, its own included (0: unknown)

    @property
    def query(self) -> Query:
        """The question this sample answers."""
        return Query(self.account, self.size, self.dc, self.concurrency, self.hour)

    @property
    def cost(self) -> float:
        """Seconds of the account's time this file took: its share of the bytes the account fetched
        meanwhile, times its seconds (unknown bytes: an equal share of the files in flight)."""
        if self.account_bytes >= self.size > 0:
            return self.seconds * self.size / self.account_bytes
        return self.seconds / max(self.concurrency, 1.0)

    @property
    def speed(self) -> float:
        """Bytes per second of this file alone (0 for a zero duration)."""
        return self.size / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Prediction:
    """Seconds one file is expected to take, with an interval (about 10 % to 90 %) and where it came from."""

    seconds: float
    low: float
    high: float
    source: str  # 'model', 'ewma' (the model is cold or did worse lately), 'prior' (nothing learned yet)


def hour_of_day(ts: float | None = None) -> float:
    """The local hour of day of wall-clock time `ts` (now by default), with its fraction, in [0, 24)."""
    t = time.time() if ts is None else ts
    lt = time.localtime(t)
    return lt.tm_hour + lt.tm_min / 60 + (lt.tm_sec + t % 1) / 3600


class InFlight:
    """Files each account has in flight, for the `concurrency` of a `Sample`: its time average.

    ``t = f.start(account)`` when a file starts, ``f.finish(t)`` when it ends returns the mean
    number of the account's files in flight over that file's time (itself included).
    """

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float, int]] = {}  # account: (integral, at, in flight)

    def _advance(self, account: str, now: float, change: int) -> float:
        area, at, n = self._state.get(account, (0.0, now, 0))
        area += n * max(0.0, now - at)
        self._state[account] = (area, max(at, now), max(0, n + change))
        return area

    def start(self, account: str, now: float | None = None) -> tuple[str, float, float]:
        """A file of `account` starts: the ticket to hand to `finish`."""
        t = time.monotonic() if now is None else now
        area = self._advance(account, t, +1)
        return account, t, area

    def finish(self, ticket: tuple[str, float, float], now: float | None = None) -> float:
        """The file of `ticket` ended (fetched, failed or abandoned): its mean concurrency."""
        account, t0, area0 = ticket
        t = time.monotonic() if now is None else now
        area = self._advance(account, t, 0)
        self._advance(account, t, -1)
        return max(1.0, (area - area0) / (t - t0)) if t > t0 else 1.0

    def active(self, account: str) -> int:
        """Files of `account` in flight now."""
        return self._state.get(account, (0.0, 0.0, 0))[2]
