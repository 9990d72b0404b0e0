"""Simulated jobs on speed profiles, probed while they run: the ETAs (new and today's) and the per-file samples.

Shared by bench/eta.py, bench/models.py, bench/makespan.py and tests/learning (real Telethon path, real
engine; the per-file samples come from the simulator's `TransferLog`, the server's view of each file).
`Oracle`: reference ETAs from the simulator's true speeds (what a perfect estimator of speeds would say).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tgfetch.config import load_settings
from tgfetch.job import JobReport, download_channel
from tgfetch.learning.eta import Eta, EtaTracker, Remaining, estimate, informed, legacy_eta, settled
from tgfetch.learning.live import remaining_of
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import Sample
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.profiles import (
    HOME_DC,
    AccountShape,
    AppliedProfile,
    FileTrace,
    ProfileClock,
    apply_profile,
)

NAMES = ("client1", "client2", "client3")
FRACTIONS = (0.10, 0.25, 0.50, 0.75)
PERIOD = 0.2  # seconds between two probes
STEP = 0.05  # seconds: the integration step over a profile's true rates
RECENT = 5.0  # seconds: the window of `Oracle`'s recent efficiency


def to_sample(tr: FileTrace, job: str = "") -> Sample:
    """A simulator trace as a learning sample (its monotonic start made wall-clock)."""
    started = time.time() - (time.monotonic() - tr.started)
    return Sample(tr.account, tr.size, tr.dc, tr.concurrency, started, tr.seconds, tr.hour, job, tr.account_bytes)


@dataclass
class Snapshot:
    at: float  # time.monotonic()
    new: Eta
    old: float
    raw: Eta | None = None  # `estimate` before the tracker's correction (to replay the tracker: bench/eta.py)
    left: int = 0  # bytes left
    known: bool = False  # `informed`
    by_dc: dict[int, int] = field(default_factory=dict)  # bytes left per DC (for the oracles)
    live: tuple[str, ...] = ()  # the accounts alive
    oracle: tuple[float, ...] | None = None  # seconds: `Oracle.at`'s


class Errors(NamedTuple):
    """APEs at one point of a run: the new and today's estimates, the truth in the new interval, the oracles'
    (NaN when not known: an old dump)."""

    new: float
    old: float
    inside: bool
    nowcast: float = math.nan
    foresight: float = math.nan
    efficient: float = math.nan
    recent: float = math.nan


def left_by_dc(rem: Sequence[Remaining]) -> dict[int, int]:
    """Bytes left per DC: every account's groups and files in flight (backup copies are duplicates)."""
    out: dict[int, int] = {}
    for r in rem:
        for g in (*r.groups, *r.inflight):
            for b, dc in g:
                out[dc] = out.get(dc, 0) + b
    return out


def dc_mix(shape: AccountShape, by_dc: Mapping[int, float]) -> float:
    """The account's DC factor on a mix of bytes: bytes / sum(bytes_dc / factor_dc) (the byte-weighted
    harmonic mean: its rate on these bytes over its home DC's); 1 for no bytes."""
    total = sum(by_dc.values())
    return total / sum(b / shape.dc.get(dc, 1.0) for dc, b in by_dc.items()) if total > 0 else 1.0


def home_rates(applied: AppliedProfile, names: Iterable[str], at: float) -> dict[str, float]:
    """Each account's true rate (bytes/s) on its home DC at `at` (time.monotonic()), alone (no contention)."""
    return {n: applied.rate(n, HOME_DC, at) for n in names}


def fetch_seconds(applied: AppliedProfile, work: float, start: float, weights: Mapping[str, float],
                  step: float = STEP) -> float:
    """The shortest T in which the accounts of `weights`, pooled, each at its true home-DC rate from `start`
    (time.monotonic()) on times its weight (a DC mix), fetch `work` bytes: the profile's rates integrated."""
    if work <= 0 or not weights:
        return 0.0 if work <= 0 else math.inf
    t, done = 0.0, 0.0
    while True:
        rate = sum(weights[n] * r for n, r in home_rates(applied, weights, start + t + step / 2).items())
        if done + rate * step >= work:
            return t + (work - done) / rate
        t, done = t + step, done + rate * step


def fetched_between(applied: AppliedProfile, names: Sequence[str], t0: float, t1: float,
                    step: float = STEP) -> dict[str, float]:
    """Bytes each account could fetch at its true home-DC rate from `t0` to `t1` (time.monotonic())."""
    out = dict.fromkeys(names, 0.0)
    t = t0
    while t < t1:
        dt = min(step, t1 - t)
        for n, r in home_rates(applied, names, t + dt / 2).items():
            out[n] += r * dt
        t += dt
    return out


@dataclass
class Oracle:
    """Reference ETAs of a run on a profile from the simulator's true speeds (contention 1, no round trips):
    now-cast (the live accounts, pooled, at their current true rates held to the end), foresight (at their
    true future rates: `fetch_seconds`), and foresight over the efficiency achieved so far (bytes fetched /
    bytes the true rates could have fetched since the start) or over the last RECENT s.  Feed it the
    snapshots in time order."""

    applied: AppliedProfile
    started: float
    total: Mapping[int, int]  # bytes per DC at the start
    _at: float = 0.0
    _capacity: dict[str, float] = field(default_factory=dict)  # account: home-DC bytes it could fetch so far
    _history: list[tuple[float, float, float]] = field(default_factory=list)  # (at, fetched, could fetch)

    def at(self, s: Snapshot) -> tuple[float, float, float, float]:
        """(now-cast, foresight, foresight / efficiency, foresight / recent efficiency) seconds at `s`."""
        left = sum(s.by_dc.values())
        mix = {n: dc_mix(self.applied.shapes[n], s.by_dc) for n in s.live}
        rates = home_rates(self.applied, s.live, s.at)
        nowcast = left / sum(mix[n] * r for n, r in rates.items()) if left else 0.0
        foresight = fetch_seconds(self.applied, left, s.at, mix)
        fetched, could = self._progress(s)
        then = next((h for h in reversed(self._history) if h[0] <= s.at - RECENT), (self.started, 0.0, 0.0))
        self._history.append((s.at, fetched, could))
        return nowcast, foresight, foresight / _ratio(fetched, could), foresight / _ratio(fetched - then[1],
                                                                                           could - then[2])

    def _progress(self, s: Snapshot) -> tuple[float, float]:
        """(bytes fetched since the start, bytes the live accounts' true rates could have fetched) at `s`."""
        for n, b in fetched_between(self.applied, s.live, max(self._at, self.started), s.at).items():
            self._capacity[n] = self._capacity.get(n, 0.0) + b
        self._at = s.at
        done = {dc: max(0, b - s.by_dc.get(dc, 0)) for dc, b in self.total.items()}
        return sum(done.values()), sum(dc_mix(self.applied.shapes[n], done) * c for n, c in self._capacity.items())


def _ratio(fetched: float, could: float) -> float:
    """An efficiency: fetched / could; 1 (unknown) before anything was fetched."""
    return fetched / could if could > 0 and fetched > 0 else 1.0


@dataclass
class Probe:
    """A `download_channel` monitor: every PERIOD s, teach the predictor the files finished since, then
    estimate the finish both ways."""

    predictor: Predictor
    applied: AppliedProfile
    job: str = ""
    snapshots: list[Snapshot] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    prior: float = 1.0  # the efficiency earlier runs achieved
    tracker: EtaTracker | None = None
    fade: bool = True  # the tracker's (`settled` at the start)
    total: dict[int, int] = field(default_factory=dict)  # bytes per DC left at the start (the oracles')
    _fed: int = 0

    def feed(self) -> None:
        assert self.applied.log is not None
        traces = self.applied.log.traces
        for tr in traces[self._fed:]:
            self.predictor.observe(to_sample(tr, self.job))
        self._fed = len(traces)

    def take(self, scheduler: Any, stats: Mapping[str, Any] | None = None) -> None:
        self.feed()
        rem = remaining_of(scheduler, stats)
        clock = self.applied.clock
        assert self.tracker is not None
        now = time.monotonic()  # as `EtaTracker.update`, the raw estimate kept
        raw = estimate(rem, self.predictor, hour=clock.hour(), hours_per_second=clock.hours_per_second)
        left, known = sum(r.bytes for r in rem), informed(rem, self.predictor)
        new = self.tracker.correct(now, raw, left, known)
        self.snapshots.append(Snapshot(now, new, legacy_eta(rem), raw, left, known, left_by_dc(rem),
                                       tuple(r.account for r in rem if r.alive)))

    def score_oracles(self) -> None:
        """Each snapshot's `Oracle` ETAs (after the run: the job's event loop is not slowed by them)."""
        oracle = Oracle(self.applied, self.started, self.total)
        for s in self.snapshots:
            s.oracle = oracle.at(s)

    @contextlib.asynccontextmanager
    async def __call__(self, scheduler: Any, stats: Mapping[str, Any]) -> AsyncIterator[None]:
        self.started = time.monotonic()  # as `RoundPredictions.begin`: a departure fades once all were learned
        rem = remaining_of(scheduler, stats)
        self.fade, self.total = settled(self.predictor, [r.account for r in rem]), left_by_dc(rem)
        self.tracker = EtaTracker(self.started, self.prior, fade=self.fade)

        async def loop() -> None:
            while True:
                await asyncio.sleep(PERIOD)
                self.take(scheduler, stats)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            self.ended = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.feed()
            self.score_oracles()

    def errors(self, fractions: Sequence[float] = FRACTIONS) -> dict[float, Errors]:
        """At each fraction of the download stage: the APEs (|estimated - true remaining| / true remaining)
        of the new and today's estimates and the oracles', and whether the truth was inside the new interval."""
        return errors_of(self.snapshots, self.started, self.ended, fractions)


def errors_of(snapshots: Sequence[Snapshot], started: float, ended: float,
              fractions: Sequence[float] = FRACTIONS) -> dict[float, Errors]:
    """`Probe.errors` of these snapshots of a job from `started` to `ended`."""
    total = ended - started
    out = {}
    for f in fractions:
        at = started + f * total
        snap = min(snapshots, key=lambda s: abs(s.at - at))
        true = ended - snap.at
        oracle = [abs(o - true) / true for o in snap.oracle] if snap.oracle else []
        out[f] = Errors(abs(snap.new.seconds - true) / true, abs(snap.old - true) / true,
                        snap.new.low <= true <= snap.new.high, *oracle)
    return out


@dataclass(frozen=True)
class Job:
    """A simulated channel and its accounts."""

    seed: int = 5
    messages: int = 600
    size_scale: float = 0.12
    names: tuple[str, ...] = NAMES
    latency: float = 0.03
    bandwidth: float = 3e6  # the accounts' base (each spread lognormal by the profile)
    max_file_size: int | None = 16 << 20  # no single file a large share of the job (it would be its tail)


async def run_profiled(job: Job, profile: str, dest: Path, *, clock: ProfileClock, predictor: Predictor,
                       state: Path | None = None, probe: bool = True, prior: float = 1.0,
                       ) -> tuple[JobReport, Probe, AppliedProfile]:
    """Download the channel once on `profile` (time on `clock`), probing ETAs; `state`: a state DB
    of an earlier run to start from (its learned speeds; a copy is used)."""
    sim = SimulatedTelegram(seed=job.seed, messages=job.messages, size_scale=job.size_scale, latency=job.latency,
                            jitter=0.3, max_file_size=job.max_file_size)
    clients = {n: sim.client(n) for n in job.names}
    applied = apply_profile(sim, profile, job.names, clock=clock, log=True, base_bandwidth=job.bandwidth)
    dest.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if state is not None:
        shutil.copy(state, dest / "learned.sqlite")
        extra["state_db"] = dest / "learned.sqlite"
    settings = load_settings(env_file=None, download_dir=dest, log_level="ERROR", **extra)
    p = Probe(predictor, applied, job=f"{profile}:{job.seed}", prior=prior)
    try:
        report = await download_channel(clients, sim.channel_username, sim.first_id, None, dest, settings,
                                        monitor=p if probe else None)
    finally:
        for c in clients.values():
            await c.disconnect()
    if not probe:
        for tr in applied.log.traces if applied.log else []:
            predictor.observe(to_sample(tr, p.job))
    return report, p, applied


def state_db(dest: Path, state: Path | None = None) -> Path:
    """The state DB a run into `dest` used."""
    return dest / "learned.sqlite" if state is not None else dest / "tgfetch_sim" / ".tgfetch.sqlite"
