"""The whole job: accounts → scan → plan → download → report.

    open_job ─► scan_parts ─► choose ─► resume (skip done files) ─► plan_scan ─► DownloadEngine ─► JobReport

A job has one or more chats (`Target`s: an id range, a topic, message links, comments);
they are scanned each on its own and planned together, so albums stay whole and the
accounts balanced over all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telethon import TelegramClient

from tgfetch.aio import cancel_quietly
from tgfetch.config import Settings
from tgfetch.context import JobContext, open_job
from tgfetch.download.engine import DownloadEngine
from tgfetch.download.layout import backup_dir
from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.download.tasks import Pending, resume, works
from tgfetch.errors import EXIT_FAILED_FILES, EXIT_INTERRUPTED, EXIT_OK, TelegramAccessError, TgfetchError, UsageError
from tgfetch.incremental import new_parts, record_settled
from tgfetch.model import LoadBalanceMetric, MessageCollection, TaskDistributionResult
from tgfetch.notify import ChatInfo, JobObserver, open_observer
from tgfetch.outcome import ChatPart, JobReport, client_summary
from tgfetch.predictions import PlanLearning, RoundPredictions
from tgfetch.selection import SelectionResult, select
from tgfetch.store import RunRow
from tgfetch.targets import Target
from tgfetch.telegram.clients import connect_accounts
from tgfetch.telegram.parts import open_parts, scan_parts
from tgfetch.telegram.peers import parse_channel
from tgfetch.telegram.scan import ScanResult

if TYPE_CHECKING:
    from tgfetch.distribution import TaskDistributor

__all__ = ["JobReport", "Monitor", "RoundView", "RunOptions", "choose", "download_channel", "download_job", "plan_scan",
           "run_round", "scan_channel", "scan_job"]

Monitor = Callable[[Scheduler, Mapping[str, ClientStats]], Any]
OnPlan = Callable[[TaskDistributionResult, ScanResult], Any]


@dataclass(frozen=True)
class RoundView:
    """One round's download as it starts, for live views (the web dashboard): read it, never change it."""

    job: JobContext
    scan: ScanResult
    plan: TaskDistributionResult | None  # None: nothing to download in this round
    engine: DownloadEngine | None
    stats: Mapping[str, ClientStats]
    done_before: Sequence[FileRecord]  # the round's files already on disk (earlier runs)


OnStart = Callable[[RoundView], Any]


async def scan_channel(
    clients: Mapping[str, TelegramClient], channel: str, first_id: int | None, last_id: int | None,
    settings: Settings,
) -> ScanResult:
    """Scan ids first_id..last_id (inclusive) of the channel with every client in parallel."""
    return await scan_job(clients, [Target(parse_channel(channel), first_id, last_id)], settings)


async def scan_job(clients: Mapping[str, TelegramClient], targets: Sequence[Target], settings: Settings) -> ScanResult:
    """Scan every chat of a job (ranges, topics, links, comments) with every client; one merged result."""
    accounts = await connect_accounts(clients, settings)
    return await scan_parts(accounts, await open_parts(accounts, targets, settings), settings)


def choose(scan: ScanResult, settings: Settings) -> SelectionResult:
    """The scanned groups the selection keeps (all of them when nothing is chosen), and what it dropped."""
    sel = settings.selection()
    return SelectionResult.combine([select(p.collection.groups, p.chat_name, sel) for p in scan.parts or (scan,)])


async def plan_scan(
    scan: ScanResult, names: list[str], settings: Settings, speeds: Mapping[str, float] | None = None,
    collection: MessageCollection | None = None, mode: str | None = None, overhead: float | None = None,
    distributor: TaskDistributor | None = None, learned: PlanLearning | None = None,
) -> TaskDistributionResult:
    """Plan the scanned groups over the clients with the configured strategy.

    `speeds` (bytes/s) and `overhead` (seconds per file) are the learned ones; they
    are used only when the plan may balance estimated time (None: the defaults).
    `distributor` lends the strategies registered on it; `settings` still rule.
    `learned` (from the per-machine history): its per-account file costs replace speeds and
    overhead where estimated time is balanced (`distribution.matrix.refine`), and in `auto` its
    bandit choice replaces today's rule; None (or nothing learned): today's plan.
    """
    from tgfetch.distribution import TaskDistributor

    coll = collection if collection is not None else choose(scan, settings).collection
    if not coll.groups:
        where = (f"ids {scan.first_id}–{scan.last_id} of {scan.channel.key}" if not scan.parts
                 else ", ".join(p.label for p in scan.parts))
        raise UsageError(f"no messages in {where}: nothing to plan")
    auto = (mode or settings.mode) == "auto"
    timed = settings.load_balance_metric is LoadBalanceMetric.ESTIMATED_TIME or auto
    use_speeds = None
    use_overhead = None
    if speeds and timed:
        # An account without history is assumed as slow as the slowest measured one;
        # stealing corrects the guess once it runs.
        slowest = min(speeds.values())
        use_speeds = {n: speeds.get(n, slowest) for n in names}
        use_overhead = overhead
    planner = distributor.with_settings(settings) if distributor is not None else TaskDistributor(settings)
    choice = learned.choice if learned is not None and auto else None
    result = await planner.distribute(
        coll, names, mode=choice.arm.strategy if choice else mode, metric=choice.arm.metric if choice else None,
        client_speeds=use_speeds, scanned_by=scan.scanned_by, file_overhead=use_overhead)
    return _learned_plan(result, names, learned, auto)


def _learned_plan(result: TaskDistributionResult, names: list[str], learned: PlanLearning | None,
                  auto: bool) -> TaskDistributionResult:
    """The plan on the learned per-file costs where it balances time; `auto`'s reason in `info`."""
    from tgfetch.distribution.matrix import refine

    choice = learned.choice if learned is not None and auto else None
    if choice is not None:
        result.info["recommendation"] = {"mode": choice.arm.strategy, "reason": choice.reason}
        result.info["auto_reason"] = choice.reason
    elif auto and "recommendation" in result.info:
        rec = result.info["recommendation"]
        result.info["auto_reason"] = (f"auto chose {result.strategy}/{result.metric.value} by today's rule: "
                                      f"{rec['reason']}")
    timed = result.metric is LoadBalanceMetric.ESTIMATED_TIME or (auto and choice is None)
    if learned is not None and learned.costs is not None and timed:
        result = refine(result, names, learned.costs)
    return result


async def download_channel(
    clients: Mapping[str, TelegramClient], channel: str, first_id: int | None, last_id: int | None,
    dest: str | os.PathLike[str], settings: Settings, *, monitor: Monitor | None = None, stealing: bool = True,
    backups: bool = True, on_plan: OnPlan | None = None, on_abort: Callable[[JobReport], Any] | None = None,
    distributor: TaskDistributor | None = None, on_start: OnStart | None = None,
) -> JobReport:
    """Scan, plan and download the media of ids first_id..last_id of one channel; return what was done.

    `monitor` shows progress while files download; `on_plan` sees the plan before they start;
    `on_abort` gets the report of what was done when the download stops on an error or an
    interruption (the error is raised after it). `distributor` plans with the strategies registered on it.
    `on_start` sees the round's download (`RoundView`) as it starts.
    """
    target = Target(parse_channel(channel), first_id, last_id, topic=settings.topic, comments=settings.comments)
    return await download_job(clients, [target], dest, settings, monitor=monitor, stealing=stealing,
                              backups=backups, on_plan=on_plan, on_abort=on_abort, distributor=distributor,
                              on_start=on_start)


async def download_job(
    clients: Mapping[str, TelegramClient], targets: Sequence[Target], dest: str | os.PathLike[str],
    settings: Settings, *, monitor: Monitor | None = None, stealing: bool = True, backups: bool = True,
    on_plan: OnPlan | None = None, on_abort: Callable[[JobReport], Any] | None = None,
    distributor: TaskDistributor | None = None, on_start: OnStart | None = None,
) -> JobReport:
    """Scan, plan (once, over every chat) and download the media of the job's chats; see `download_channel`."""
    t0 = time.monotonic()
    run = RunOptions(monitor, stealing, backups, on_plan, on_abort, distributor, on_start=on_start)
    async with open_job(clients, targets, settings, dest) as job, observing(job, settings, run) as run:
        report = await run_round(job, settings, run, t0)
    if not any(a.dead is None for a in job.accounts.values()):
        raise TelegramAccessError("every account lost access during the job; state kept, rerun with working sessions")
    return report


@dataclass(frozen=True)
class RunOptions:
    """How one round of a job runs: progress, plan and abort callbacks, stealing, backups, strategies."""

    monitor: Monitor | None = None
    stealing: bool = True
    backups: bool = True
    on_plan: OnPlan | None = None
    on_abort: Callable[[JobReport], Any] | None = None
    distributor: TaskDistributor | None = None
    observer: JobObserver | None = None  # events and hooks (None: the job opens its own when configured)
    on_start: OnStart | None = None  # sees each round's download as it starts (the web dashboard)


Hold = Callable[[ScanResult], ScanResult]


@contextlib.asynccontextmanager
async def observing(job: JobContext, settings: Settings, run: RunOptions) -> AsyncIterator[RunOptions]:
    """The job's events and hooks around its rounds: job_started … job_done, hooks drained at the end."""
    chats = {p.number: ChatInfo(p.label, p.ref.channel_id, root) for p, (root, _) in
             zip(job.parts, job.disk.folders.values(), strict=True)}
    observer = run.observer or open_observer(settings, {n: s for n, (_, s) in job.disk.folders.items()}, chats)
    if observer is None:
        yield run
        return
    observer.started(settings, job.alive)
    for acc in job.accounts.values():
        acc.on_state = functools.partial(observer.account_state, acc.name)
    on_abort = run.on_abort

    def aborted(report: JobReport) -> None:
        observer.last = report
        if on_abort is not None:
            on_abort(report)

    code = EXIT_INTERRUPTED
    try:
        yield dataclasses.replace(run, observer=observer, on_abort=aborted)
        last = observer.last
        code = (EXIT_OK if last is None or last.ok else
                EXIT_INTERRUPTED if last.outcome == "interrupted" else EXIT_FAILED_FILES)
    except TgfetchError as exc:
        code = exc.exit_code
        raise
    finally:
        await observer.finish(observer.last, code)


async def run_round(job: JobContext, settings: Settings, run: RunOptions, t0: float | None = None,
                    hold: Hold | None = None) -> JobReport:
    """Scan the opened job's chats, choose, plan and download once; remember how far each chat is settled.

    `hold` may take groups out of the scan before the plan (`watch` holds albums still growing back).
    """
    t0, started = time.monotonic() if t0 is None else t0, time.time()
    stages = {"connect": time.monotonic() - t0}
    stores = {n: store for n, (_, store) in job.disk.folders.items()}
    if settings.new_only:
        job.parts = new_parts(job.parts, stores, say=logging.DEBUG if hold is not None else logging.INFO)
    if settings.max_concurrent_downloads_per_client is None:
        job.ask_download_limits()  # while the scan runs
    scan = await scan_parts(job.accounts, job.parts, settings)
    scan = hold(scan) if hold is not None else scan
    first, last = scan.first_id, scan.last_id
    stages["scan"] = time.monotonic() - t0 - sum(stages.values())
    chosen = choose(scan, settings)  # filtered-out files cost no getFile call and no plan weight
    pending = resume(chosen.groups, settings.file_name_template, job.disk)
    if run.observer is not None:
        run.observer.expect(pending)
    dl = _Download(job, scan, pending, stealing=run.stealing, backups=run.backups, distributor=run.distributor,
                   chosen=chosen, observer=run.observer)
    try:
        await dl.go(run.monitor, run.on_plan, stages, t0, run.on_start)
    except BaseException as exc:
        if run.on_abort is not None:
            interrupted = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
            aborted = dl.report(first, last, stages, time.monotonic() - t0,
                                outcome="interrupted" if interrupted else "error", error=str(exc))
            run.on_abort(aborted)
            with contextlib.suppress(TgfetchError):  # the abort's own cause is what the user must see
                dl.record_run(aborted, started)
        raise
    report = dl.report(first, last, stages, time.monotonic() - t0)
    dl.record_run(report, started)
    record_settled(job.parts, scan, report.failures, stores)
    if run.observer is not None:
        run.observer.last = report
    return report


class _Download:
    """The plan-and-download part of one `download_channel` call."""

    def __init__(self, job: JobContext, scan: ScanResult, pending: Pending, *, stealing: bool, backups: bool,
                 distributor: TaskDistributor | None = None, chosen: SelectionResult | None = None,
                 observer: JobObserver | None = None) -> None:
        self.job, self.scan, self.pending, self.distributor = job, scan, pending, distributor
        self.observer = observer
        self.dropped = {r: dataclasses.asdict(d) for r, d in (chosen.dropped.items() if chosen else ()) if d.messages}
        self.stealing, self.backups = stealing, backups
        self.alive = job.alive
        self.stats = {n: ClientStats(n) for n in self.alive}
        history = job.learned_speeds()
        self.learned = {k: v.bytes_per_s for k, v in history.items()}
        # The planner's per-file cost: the mean measured overhead of this job's accounts.
        self.overhead = sum(v.overhead_s for v in history.values()) / len(history) if history else None
        self.fetched_before = job.fetched_bytes()  # the counter spans every run of the job
        self.plan: TaskDistributionResult | None = None
        self.engine: DownloadEngine | None = None
        self.predictions: RoundPredictions | None = None

    async def go(self, monitor: Monitor | None, on_plan: OnPlan | None, stages: dict[str, float], t0: float,
                 on_start: OnStart | None = None) -> None:
        """Plan the pending groups and download them (nothing to do: every account is done)."""
        if not self.pending.groups:
            for st in self.stats.values():
                st.state, st.finished = "done", time.monotonic()
            if on_start is not None:
                on_start(RoundView(self.job, self.scan, None, None, self.stats, self.pending.done))
            return
        settings = self.job.settings
        self.predictions = RoundPredictions(settings, list(self.alive), self.learned,
                                            ", ".join(p.label for p in self.job.parts))
        self.plan = await plan_scan(self.scan, list(self.alive), settings, self.learned,
                                    MessageCollection.of_groups(self.pending.groups), overhead=self.overhead,
                                    distributor=self.distributor, learned=self.predictions.planning())
        if on_plan is not None:
            on_plan(self.plan, self.scan)
        if self.observer is not None:
            self.observer.planned(self.plan)
        per_client = works(self.pending, {a.client_name: a.message_groups for a in self.plan.client_assignments},
                           self.job.disk)
        scheduler = Scheduler(per_client, self.learned, stealing=self.stealing, backups=self.backups)
        self.engine = DownloadEngine(self.job.disk, scheduler, self.alive, self.stats,
                                     settings.max_concurrent_downloads_per_client, settings.max_file_retries)
        self.engine.downloader.observer = self.observer
        if on_start is not None:
            on_start(RoundView(self.job, self.scan, self.plan, self.engine, self.stats, self.pending.done))
        stages["plan"] = time.monotonic() - t0 - sum(stages.values())
        await self._run_engine(scheduler, monitor)
        self.job.save_speeds({n: c.overhead for n, c in scheduler.clients.items()})
        stages["download"] = time.monotonic() - t0 - sum(stages.values())
        if not self.engine.failures:
            # Backup copies that lost (or a killed run's) are of no further use.
            shutil.rmtree(backup_dir(self.job.root), ignore_errors=True)

    async def _run_engine(self, scheduler: Scheduler, monitor: Monitor | None) -> None:
        """The download stage; the learned predictions time its files and keep its estimated finish."""
        assert self.engine is not None and self.predictions is not None
        self.predictions.begin()
        self.engine.downloader.timing = self.predictions
        total = sum(c.queued_bytes for c in scheduler.clients.values())
        follow = asyncio.create_task(self.predictions.follow(scheduler, self.stats, total))
        try:
            if monitor is None:
                await self.engine.run()
            else:
                async with monitor(scheduler, self.stats):
                    await self.engine.run()
        finally:
            await cancel_quietly(follow)

    def record_run(self, report: JobReport, started: float) -> None:
        """Keep this round in the state DB's run history (a round with nothing to download is not one)."""
        if self.plan is None or self.engine is None:
            return
        done = [r for r in self.engine.records.values() if not r.skipped and r.linked_from is None]
        nbytes = sum(r.size for r in done)
        speeds = {n: round(t, 1) for n in self.alive if (t := self.job.accounts[n].throughput) > 0}
        metric, took = str(self.plan.metric.value), report.stage_seconds.get("download", 0.0)
        ideal = nbytes / sum(speeds.values()) if speeds else 0.0
        self.job.store.record_run(RunRow(
            0, started, time.time(), self.plan.strategy, metric, json.dumps(sorted(self.alive)),
            len(done), nbytes, took, ideal, report.result, json.dumps(speeds)))
        if self.predictions is not None:
            report.predictions = self.predictions.close(self.plan.strategy, metric, took, ideal)

    def report(self, first: int, last: int, stages: dict[str, float], elapsed: float, *,
               outcome: str = "", error: str = "") -> JobReport:
        """What this call did (so far)."""
        engine, job = self.engine, self.job
        several = len(job.parts) > 1
        return JobReport(
            channel=", ".join(p.label for p in job.parts), first_id=first, last_id=last,
            strategy=self.plan.strategy if self.plan else "nothing to do", plan=self.plan, scan=self.scan,
            files=self.pending.done + list(engine.records.values() if engine else []),
            failures=dict(engine.failures if engine else {}),
            clients=client_summary(engine.scheduler if engine else None, self.stats, self.alive),
            api_calls={n: a.rpc_counts() for n, a in job.accounts.items()},
            elapsed_s=elapsed, dest=job.root if all(f.is_relative_to(job.root) for f, _ in job.disk.folders.values())
            else job.root.parent,
            fetched_bytes=job.fetched_bytes() - self.fetched_before,
            stage_seconds={k: round(v, 4) for k, v in stages.items()}, outcome=outcome, error=error,
            dropped=self.dropped,
            chats=[ChatPart(p.number, p.label, job.disk.folders[p.number][0]) for p in job.parts] if several else [],
        )
