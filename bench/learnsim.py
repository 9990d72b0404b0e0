"""Simulated jobs on speed profiles, probed while they run: the ETAs (new and today's) and the per-file samples.

Shared by bench/eta.py, bench/models.py and tests/learning (real Telethon path, real engine; the
per-file samples come from the simulator's `TransferLog`, the server's view of each file).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgfetch.config import load_settings
from tgfetch.job import JobReport, download_channel
from tgfetch.learning.eta import Eta, EtaTracker, estimate, informed, legacy_eta, settled
from tgfetch.learning.live import remaining_of
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import Sample
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.profiles import AppliedProfile, FileTrace, ProfileClock, apply_profile

NAMES = ("client1", "client2", "client3")
FRACTIONS = (0.10, 0.25, 0.50, 0.75)
PERIOD = 0.2  # seconds between two probes


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
        self.snapshots.append(Snapshot(now, new, legacy_eta(rem), raw, left, known))

    @contextlib.asynccontextmanager
    async def __call__(self, scheduler: Any, stats: Mapping[str, Any]) -> AsyncIterator[None]:
        self.started = time.monotonic()  # as `RoundPredictions.begin`: a departure fades once all were learned
        self.fade = settled(self.predictor, [r.account for r in remaining_of(scheduler, stats)])
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

    def errors(self, fractions: Sequence[float] = FRACTIONS) -> dict[float, tuple[float, float, bool]]:
        """At each fraction of the download stage: (new APE, today's APE, truth inside the new interval);
        APE = |estimated - true remaining| / true remaining."""
        return errors_of(self.snapshots, self.started, self.ended, fractions)


def errors_of(snapshots: Sequence[Snapshot], started: float, ended: float,
              fractions: Sequence[float] = FRACTIONS) -> dict[float, tuple[float, float, bool]]:
    """`Probe.errors` of these snapshots of a job from `started` to `ended`."""
    total = ended - started
    out = {}
    for f in fractions:
        at = started + f * total
        snap = min(snapshots, key=lambda s: abs(s.at - at))
        true = ended - snap.at
        out[f] = (abs(snap.new.seconds - true) / true, abs(snap.old - true) / true,
                  snap.new.low <= true <= snap.new.high)
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
