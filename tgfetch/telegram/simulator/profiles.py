"""Speed profiles: simulated accounts whose download rate is not one number.

Real Telegram throughput depends on the file's DC, on the hour, drifts slowly, is cut now and then
(FLOOD_PREMIUM_WAIT: Telegram slowing a non-Premium account's transfers) and sags when too many
requests run at once.  A profile shapes each getFile answer's rate through the account's pacer
(`accounts.PaceHook`): the account's bandwidth (``sim.client(name, bandwidth=...)``, its *base*)
times five factors, each seeded from the simulator's seed, the profile's name and the account's name
(never ``hash()``), so the same seed gives the same speeds at the same simulated times::

    rate(t, dc, n) = base x dc(dc) x daily(hour(t)) x exp(drift(t)) x throttle(t) x contention(n)

- ``dc``: 1 on DC 2 (the accounts' home DC); on DC d, ``1 - dc_spread x u_d`` (``u_d`` uniform in
  [0, 1), one per DC and seed: the machine's path to that DC) times ``exp(0.1 x dc_spread x g)``
  (``g`` normal, one per account and DC).
- ``daily``: ``1 - daily_amplitude x cos(2 pi (hour - 20) / 24)``: slowest at the 20:00 peak,
  fastest at 08:00.
- ``drift``: an Ornstein-Uhlenbeck path in log-speed, stationary deviation ``drift_sigma``, time
  constant ``drift_hours``, drawn on a grid of ``drift_hours / 20`` and interpolated.
- ``throttle``: ``throttle_factor`` inside throttled periods, else 1; periods start as a Poisson
  process of ``throttles_per_day`` per account and last an exponential time of mean
  ``throttle_minutes``; a Premium account is never throttled.
- ``contention``: ``1 / (1 + contention x max(0, n - FREE_REQUESTS))``, n = the account's getFile
  answers being paced, this one included.

Named profiles (`PROFILES`, ``--sim-profile NAME``):

| name | dc_spread | daily_amplitude | drift_sigma (drift_hours) | throttles/day (minutes, factor) | contention |
|---|---|---|---|---|---|
| ``steady`` | 0.3 | 0 | 0 | 0 | 0 |
| ``drifting`` | 0.3 | 0 | 0.25 (2 h) | 0 | 0.01 |
| ``daily`` | 0.3 | 0.35 | 0.08 (3 h) | 0 | 0.01 |
| ``throttled`` | 0.3 | 0 | 0.08 (3 h) | 6 (10 min, 0.25) | 0.01 |
| ``realistic`` | 0.4 | 0.25 | 0.2 (2 h) | 3 (8 min, 0.3) | 0.02 |

Time is the real clock, scaled: the simulator runs in real time, so a simulated day lasts
`ProfileClock.day_seconds` real seconds (600 by default: a simulated hour is 25 s), counted from
the clock's ``epoch`` (its `time.monotonic()` when made), starting at ``start_hour``.  Several
simulators may share one clock (a second run of a job continues the same day); the shapes of the
accounts depend only on the seed, the profile and the account, so a second `SimulatedTelegram`
with the same seed and clock sees the same speeds at the same times.

`TransferLog` (optional) hears every answer served and writes one `FileTrace` per file an account
fetched to its end: the real per-file figures the learning benches and tests train on.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .accounts import Part
from .content import derive_int

if TYPE_CHECKING:
    from .simulated import SimulatedTelegram

__all__ = ["PROFILES", "AccountShape", "AppliedProfile", "FileTrace", "Profile", "ProfileClock", "TransferLog",
           "apply_profile", "profile_named"]

HOME_DC = 2
DCS = (1, 2, 3, 4, 5)
FREE_REQUESTS = 8  # getFile answers paced at once before contention slows the account down
PEAK_HOUR = 20.0  # the daily curve's slowest hour
DEFAULT_BASE = 4e6  # bytes/s of an account that has no bandwidth of its own, before its spread


@dataclass(frozen=True)
class Profile:
    """How one kind of account's speed moves (see the module docstring for each factor)."""

    name: str
    description: str
    dc_spread: float = 0.0
    daily_amplitude: float = 0.0
    drift_sigma: float = 0.0
    drift_hours: float = 2.0
    throttles_per_day: float = 0.0
    throttle_minutes: float = 10.0
    throttle_factor: float = 1.0
    contention: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.dc_spread < 1 and 0 <= self.daily_amplitude < 1 and 0 < self.throttle_factor <= 1):
            raise ValueError("dc_spread and daily_amplitude must be in [0, 1), throttle_factor in (0, 1]")
        if min(self.drift_sigma, self.throttles_per_day, self.contention) < 0 or self.drift_hours <= 0:
            raise ValueError("drift_sigma, throttles_per_day and contention must be >= 0, drift_hours > 0")


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("steady", "constant speeds; only the file's DC matters", dc_spread=0.3),
    Profile("drifting", "speeds wander slowly (log-speed random walk, 2 h time constant)",
            dc_spread=0.3, drift_sigma=0.25, drift_hours=2.0, contention=0.01),
    Profile("daily", "a time-of-day curve: slowest at 20:00, fastest at 08:00",
            dc_spread=0.3, daily_amplitude=0.35, drift_sigma=0.08, drift_hours=3.0, contention=0.01),
    Profile("throttled", "now and then an account is slowed to a quarter for minutes (FLOOD_PREMIUM_WAIT-like)",
            dc_spread=0.3, drift_sigma=0.08, drift_hours=3.0, throttles_per_day=6.0, throttle_minutes=10.0,
            throttle_factor=0.25, contention=0.01),
    Profile("realistic", "all of them: DCs, the day, drift, throttles, contention",
            dc_spread=0.4, daily_amplitude=0.25, drift_sigma=0.2, drift_hours=2.0, throttles_per_day=3.0,
            throttle_minutes=8.0, throttle_factor=0.3, contention=0.02),
)}


def profile_named(name: str) -> Profile:
    """The named profile; ValueError listing the names otherwise."""
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown speed profile {name!r}; choose one of {', '.join(PROFILES)}") from None


@dataclass
class ProfileClock:
    """Simulated time of day from the real clock: a day lasts `day_seconds` real seconds."""

    day_seconds: float = 600.0
    start_hour: float = 9.0
    epoch: float = dataclasses.field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not (self.day_seconds > 0 and 0 <= self.start_hour < 24):
            raise ValueError("day_seconds must be > 0 and start_hour in [0, 24)")

    @property
    def hours_per_second(self) -> float:
        """Simulated hours per real second."""
        return 24.0 / self.day_seconds

    def hours(self, now: float | None = None) -> float:
        """Simulated hours since the epoch's midnight (start_hour at the epoch)."""
        t = time.monotonic() if now is None else now
        return self.start_hour + (t - self.epoch) * self.hours_per_second

    def hour(self, now: float | None = None) -> float:
        """The simulated hour of day, in [0, 24)."""
        return self.hours(now) % 24.0


class AccountShape:
    """One account's speed factors over simulated time (deterministic from seed, profile and name)."""

    def __init__(self, profile: Profile, seed: int, name: str) -> None:
        self.profile = profile
        self.dc = _dc_factors(profile, seed, name)
        self._rng = random.Random(derive_int("speed-profile", seed, profile.name, name))
        self._step = profile.drift_hours / 20.0
        self._drift = [self._rng.gauss(0.0, 1.0) * profile.drift_sigma]
        self._throttles: list[tuple[float, float]] = []  # (start, end) in hours
        self._throttle_rng = random.Random(derive_int("throttles", seed, profile.name, name))
        self._throttled_to = 0.0  # hours up to which periods were drawn
        self.premium = False

    def drift(self, hours: float) -> float:
        """exp(drift) at `hours` (hours of the profile's clock, >= 0)."""
        p = self.profile
        if p.drift_sigma == 0:
            return 1.0
        x = max(hours, 0.0) / self._step
        k = int(x)
        a = math.exp(-self._step / p.drift_hours)
        while len(self._drift) <= k + 1:
            self._drift.append(self._drift[-1] * a + p.drift_sigma * math.sqrt(1 - a * a) * self._rng.gauss(0, 1))
        return math.exp(self._drift[k] + (x - k) * (self._drift[k + 1] - self._drift[k]))

    def throttle(self, hours: float) -> float:
        """throttle_factor inside a throttled period, else 1."""
        p = self.profile
        if p.throttles_per_day == 0 or self.premium:
            return 1.0
        while self._throttled_to <= hours:
            start = self._throttled_to + self._throttle_rng.expovariate(p.throttles_per_day / 24.0)
            length = self._throttle_rng.expovariate(60.0 / p.throttle_minutes)
            self._throttles.append((start, start + length))
            self._throttled_to = start + length
        i = bisect.bisect_right(self._throttles, (hours, math.inf)) - 1
        return p.throttle_factor if i >= 0 and self._throttles[i][1] > hours else 1.0

    def factor(self, dc: int, hours: float, active: int = 0) -> float:
        """The rate multiplier of an answer from `dc` at `hours`, with `active` answers already paced."""
        p = self.profile
        daily = 1.0 - p.daily_amplitude * math.cos(2 * math.pi * ((hours % 24.0) - PEAK_HOUR) / 24.0)
        crowd = 1.0 / (1.0 + p.contention * max(0, active + 1 - FREE_REQUESTS))
        return self.dc.get(dc, 1.0) * daily * self.drift(hours) * self.throttle(hours) * crowd


def _dc_factors(profile: Profile, seed: int, name: str) -> dict[int, float]:
    out = {}
    for dc in DCS:
        if dc == HOME_DC or profile.dc_spread == 0:
            out[dc] = 1.0
            continue
        path = random.Random(derive_int("dc-path", seed, dc)).random()
        own = random.Random(derive_int("dc-account", seed, name, dc)).gauss(0.0, 1.0)
        out[dc] = (1.0 - profile.dc_spread * path) * math.exp(0.1 * profile.dc_spread * own)
    return out


@dataclass(frozen=True)
class FileTrace:
    """One file (or the rest of a resumed one) an account fetched to its end, as the server saw it."""

    account: str
    doc_id: int
    size: int  # bytes served in this transfer (the file's size unless resumed)
    file_size: int
    dc: int
    started: float  # time.monotonic() of the first answer's request
    seconds: float
    hour: float  # the profile clock's hour of day at the start
    concurrency: float  # files of the account in transfer, averaged over this file's time (itself included)
    account_bytes: int  # bytes served to the account while this file was in transfer (its own included)


@dataclass
class _Open:
    started: float
    area: float  # the account's files-in-transfer integral at the start
    left: int  # bytes still to serve
    last: float
    first: int = 0  # the offset of the first answer (a resumed file starts past 0)
    served: int = 0  # the account's bytes served counter at the start


class TransferLog:
    """Turn served getFile answers into one `FileTrace` per file fetched to its end."""

    STALE = 30.0  # seconds without an answer after which an open transfer counts as abandoned

    def __init__(self, clock: ProfileClock) -> None:
        self.clock = clock
        self.traces: list[FileTrace] = []
        self._open: dict[str, dict[int, _Open]] = {}
        self._area: dict[str, tuple[float, float, int]] = {}  # account: (integral, at, files open)
        self._served: dict[str, int] = {}  # account: bytes served so far

    def _advance(self, account: str, now: float, change: int = 0) -> float:
        area, at, n = self._area.get(account, (0.0, now, 0))
        area += n * max(0.0, now - at)
        self._area[account] = (area, max(at, now), n + change)
        return area

    def requested(self, account: str, part: Part, now: float) -> None:
        """Note that one answer of `account` starts being paced (its file's transfer may start here)."""
        files = self._open.setdefault(account, {})
        entry = files.get(part.doc_id)
        if entry is None:
            self._drop_stale(account, files, now)
            files[part.doc_id] = _Open(now, self._advance(account, now), part.size - part.offset, now, part.offset,
                                       self._served.get(account, 0))
            self._advance(account, now, +1)
        elif part.offset < entry.first:  # an earlier part's request overtaken by a later one's (jitter)
            entry.left += entry.first - part.offset
            entry.first = part.offset

    def served(self, account: str, part: Part, start: float, end: float) -> None:
        """Note one answer of `account` served (paced from `start` to `end`); the file's last ends its trace."""
        self._served[account] = self._served.get(account, 0) + part.nbytes
        entry = self._open.get(account, {}).get(part.doc_id)
        if entry is None:
            return
        entry.left -= part.nbytes
        entry.last = end
        if entry.left > 0:
            return
        del self._open[account][part.doc_id]
        area = self._advance(account, end, -1)
        seconds = max(end - entry.started, 1e-6)
        nbytes = part.size - entry.first
        self.traces.append(FileTrace(account, part.doc_id, nbytes, part.size, part.dc, entry.started, seconds,
                                     self.clock.hour(entry.started), max(1.0, (area - entry.area) / seconds),
                                     self._served[account] - entry.served))

    def _drop_stale(self, account: str, files: dict[int, _Open], now: float) -> None:
        for doc, entry in list(files.items()):
            if now - entry.last > self.STALE:
                del files[doc]
                self._advance(account, now, -1)


class _Hook:
    """The pacer hook of one account: its shape on the profile clock, and the transfer log."""

    def __init__(self, name: str, shape: AccountShape, clock: ProfileClock, log: TransferLog | None) -> None:
        self.name, self.shape, self.clock, self.log = name, shape, clock, log

    def rate(self, base: float, part: Part, active: int, now: float) -> float:
        if self.log is not None:
            self.log.requested(self.name, part, now)
        return base * self.shape.factor(part.dc, self.clock.hours(now), active)

    def served(self, part: Part, start: float, end: float) -> None:
        if self.log is not None:
            self.log.served(self.name, part, start, end)


@dataclass
class AppliedProfile:
    """A profile put on a simulator's accounts: their shapes, the clock, the transfer log."""

    profile: Profile
    clock: ProfileClock
    shapes: dict[str, AccountShape]
    bases: dict[str, float]  # bytes/s before the factors
    log: TransferLog | None

    def rate(self, name: str, dc: int = HOME_DC, now: float | None = None) -> float:
        """Account `name`'s rate (bytes/s) from `dc` at `now`, alone (no contention)."""
        return self.bases[name] * self.shapes[name].factor(dc, self.clock.hours(now))


def apply_profile(sim: SimulatedTelegram, profile: str | Profile, names: Iterable[str], *,
                  clock: ProfileClock | None = None, log: TransferLog | bool = False,
                  base_bandwidth: float = DEFAULT_BASE) -> AppliedProfile:
    """Shape the download rate of accounts `names` of `sim` with `profile`.

    An account without a bandwidth of its own gets ``base_bandwidth`` times a seeded lognormal
    spread (sigma 0.5).  ``log=True`` records a `TransferLog` (or pass one to share it).
    """
    prof = profile_named(profile) if isinstance(profile, str) else profile
    clock = clock or ProfileClock()
    tlog = log if isinstance(log, TransferLog) else TransferLog(clock) if log else None
    shapes, bases = {}, {}
    for name in names:
        account = sim.account(name)
        if not account.pacer.bandwidth:
            spread = random.Random(derive_int("base-speed", sim.seed, name)).gauss(0.0, 0.5)
            account.pacer.bandwidth = base_bandwidth * math.exp(spread)
        shape = shapes[name] = AccountShape(prof, sim.seed, name)
        shape.premium = account.premium
        bases[name] = float(account.pacer.bandwidth)
        account.pacer.hook = _Hook(name, shape, clock, tlog)
    return AppliedProfile(prof, clock, shapes, bases, tlog)
