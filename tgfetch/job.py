"""The whole job: accounts → scan → plan → download → report."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon import TelegramClient

from tgfetch.config import Settings
from tgfetch.download.engine import DownloadEngine
from tgfetch.download.files import tmp_dir
from tgfetch.download.naming import sanitize_component
from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.download.tasks import resume, works
from tgfetch.errors import TelegramAccessError, UsageError
from tgfetch.model import LoadBalanceMetric, MessageCollection, TaskDistributionResult
from tgfetch.store import StateStore
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import open_accounts
from tgfetch.telegram.scan import ScanResult, scan_accounts

__all__ = ["JobReport", "Monitor", "download_channel", "plan_scan", "scan_channel"]

log = logging.getLogger("tgfetch")
Monitor = Callable[[Scheduler, Mapping[str, ClientStats]], Any]


@dataclass
class JobReport:
    """What a download job did; `files` has one record per media message on disk."""

    channel: str
    first_id: int
    last_id: int
    strategy: str
    plan: TaskDistributionResult | None
    scan: ScanResult
    files: list[FileRecord]
    failures: dict[int, str]
    clients: dict[str, dict[str, Any]]
    api_calls: dict[str, dict[str, int]]
    elapsed_s: float
    dest: Path
    fetched_bytes: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every media file is on disk."""
        return not self.failures

    @property
    def downloaded(self) -> list[FileRecord]:
        """Files fetched by this run (not skipped)."""
        return [f for f in self.files if not f.skipped]

    def to_json(self) -> dict[str, Any]:
        """The JSON report (`--report`)."""
        plan: dict[str, Any] = {}
        if self.plan is not None:
            m = self.plan.metrics
            plan = {
                "strategy": self.plan.strategy, "metric": str(self.plan.metric.value),
                "makespan": m.makespan, "lower_bound": m.lower_bound, "gap": m.gap,
                "balance_ratio": m.balance_ratio, "imbalance": m.imbalance,
                "albums_split": list(m.albums_split), "validation_errors": list(m.validation_errors),
                "clients": {a.client_name: a.message_ids for a in self.plan.client_assignments},
            }
        return {
            "channel": self.channel, "first_id": self.first_id, "last_id": self.last_id,
            "strategy": self.strategy, "plan": plan, "clients": self.clients,
            "files": [f.__dict__ for f in sorted(self.files, key=lambda f: f.message_id)],
            "failures": {str(k): v for k, v in self.failures.items()},
            "api_calls": self.api_calls, "elapsed_s": round(self.elapsed_s, 3),
            "scan": {"range_calls": self.scan.range_calls, "edge_calls": self.scan.edge_calls,
                     "completed_albums": list(self.scan.completed_albums),
                     "partial_albums": list(self.scan.partial_albums)},
            "fetched_bytes": self.fetched_bytes, "stage_seconds": self.stage_seconds,
        }


def _job_range(first_id: int | None, last_id: int | None, top: int, ref: ChannelRef) -> tuple[int, int]:
    first = first_id or 1
    if top == 0:
        raise UsageError(f"channel {ref.key} has no messages")
    if first > top:
        raise UsageError(f"START_MESSAGE_ID={first} is past the last message of {ref.key} ({top})")
    last = top if last_id is None else last_id
    if last > top:
        log.warning("END_MESSAGE_ID=%d is past the last message of %s; scanning up to %d", last, ref.key, top)
        last = top
    if last < first:
        raise UsageError(f"empty range {first}–{last} for {ref.key}")
    return first, last


async def _accounts_and_scan(
    clients: Mapping[str, TelegramClient], channel: str, first_id: int | None, last_id: int | None,
    settings: Settings,
) -> tuple[dict[str, Account], ScanResult]:
    accounts, ref, top = await open_accounts(clients, channel, settings)
    first, last = _job_range(first_id, last_id, top, ref)
    scan = await scan_accounts(accounts, ref, first, last, settings, top)
    return accounts, scan


async def scan_channel(
    clients: Mapping[str, TelegramClient], channel: str, first_id: int | None, last_id: int | None,
    settings: Settings,
) -> ScanResult:
    """Scan ids first_id..last_id (inclusive) of the channel with every client in parallel."""
    return (await _accounts_and_scan(clients, channel, first_id, last_id, settings))[1]


async def plan_scan(
    scan: ScanResult, names: list[str], settings: Settings, speeds: Mapping[str, float] | None = None,
    collection: MessageCollection | None = None, mode: str | None = None, overhead: float | None = None,
) -> TaskDistributionResult:
    """Plan the scanned groups over the clients with the configured strategy.

    `speeds` (bytes/s) and `overhead` (seconds per file) are the learned ones; they
    are used only when the plan may balance estimated time (None: the defaults).
    """
    from tgfetch.distribution import TaskDistributor

    coll = collection if collection is not None else scan.collection
    if not coll.groups:
        raise UsageError(f"no messages in ids {scan.first_id}–{scan.last_id} of {scan.channel.key}: nothing to plan")
    metric = settings.load_balance_metric
    timed = metric is LoadBalanceMetric.ESTIMATED_TIME or (mode or settings.mode) == "auto"
    use_speeds = None
    use_overhead = None
    if speeds and timed:
        # An account without history is assumed as slow as the slowest measured one;
        # stealing corrects the guess once it runs.
        slowest = min(speeds.values())
        use_speeds = {n: speeds.get(n, slowest) for n in names}
        use_overhead = overhead
    return await TaskDistributor(settings).distribute(
        coll, names, mode=mode, client_speeds=use_speeds, scanned_by=scan.scanned_by, file_overhead=use_overhead)


def channel_dir(dest: Path, ref: ChannelRef) -> Path:
    """The folder of one channel's files under DOWNLOAD_DIR."""
    return dest / sanitize_component(ref.username or f"channel_{ref.channel_id}")


def check_destination(dest: Path) -> None:
    """Refuse early when the destination cannot be written."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"DOWNLOAD_DIR={str(dest)!r} cannot be created: {exc.strerror}") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise UsageError(f"DOWNLOAD_DIR={str(dest)!r} is not writable")


async def download_channel(
    clients: Mapping[str, TelegramClient], channel: str, first_id: int | None, last_id: int | None,
    dest: Path, settings: Settings, *, monitor: Monitor | None = None, stealing: bool = True,
    backups: bool = True, on_plan: Callable[[TaskDistributionResult, ScanResult], Any] | None = None,
) -> JobReport:
    """Scan, plan and download the channel's media; return what was done.

    `monitor` shows progress while files download; `on_plan` sees the plan before they start.
    """
    t0 = time.monotonic()
    check_destination(dest)
    accounts, ref, top = await open_accounts(clients, channel, settings)
    state_db = settings.state_db_for(dest)
    with StateStore.open(state_db, channel_id=ref.channel_id, channel_key=ref.key,
                         template=settings.file_name_template) as store:
        first, last = _job_range(first_id, last_id, top, ref)
        stages = {"connect": time.monotonic() - t0}
        scan = await scan_accounts(accounts, ref, first, last, settings, top)
        stages["scan"] = time.monotonic() - t0 - sum(stages.values())
        alive = {n: a for n, a in accounts.items() if a.dead is None}
        root = channel_dir(dest.resolve(), ref)
        shutil.rmtree(tmp_dir(root), ignore_errors=True)  # temporary files of an interrupted run
        pending = resume(scan.collection.groups, settings.file_name_template, store, root)
        history = {k: v for k, v in store.load_speeds().items() if k in alive}
        learned = {k: v.bytes_per_s for k, v in history.items()}
        # The planner's per-file cost: the mean measured overhead of this job's accounts.
        overhead = sum(v.overhead_s for v in history.values()) / len(history) if history else None
        plan = None
        strategy = "nothing to do"
        stats = {n: ClientStats(n) for n in alive}
        scheduler = Scheduler({n: [] for n in alive}, learned, stealing=stealing, backups=backups)
        engine = DownloadEngine(root, store, scheduler, alive, stats, settings.max_concurrent_downloads_per_client,
                                settings.max_file_retries)
        if pending.groups:
            plan = await plan_scan(scan, list(alive), settings, learned, MessageCollection.of_groups(pending.groups),
                                   overhead=overhead)
            if on_plan is not None:
                on_plan(plan, scan)
            strategy = plan.strategy
            per_client = works(pending, {a.client_name: a.message_groups for a in plan.client_assignments}, root)
            scheduler = Scheduler(per_client, learned, stealing=stealing, backups=backups)
            engine.scheduler = scheduler
            stages["plan"] = time.monotonic() - t0 - sum(stages.values())
            await _run_engine(engine, monitor)
            stages["download"] = time.monotonic() - t0 - sum(stages.values())
            if not engine.failures:
                # Backup copies that lost (or a killed run's) are of no further use.
                shutil.rmtree(root / ".tgfetch-backup", ignore_errors=True)
        else:
            for st in stats.values():
                st.state, st.finished = "done", time.monotonic()
        _save_speeds(store, scheduler, alive)
        report = JobReport(
            channel=ref.key, first_id=first, last_id=last, strategy=strategy, plan=plan, scan=scan,
            files=pending.done + list(engine.records.values()), failures=dict(engine.failures),
            clients=_client_summary(scheduler, stats, alive),
            api_calls={n: a.rpc_counts() for n, a in accounts.items()},
            elapsed_s=time.monotonic() - t0, dest=root, fetched_bytes=store.fetched_bytes(),
            stage_seconds={k: round(v, 4) for k, v in stages.items()},
        )
    if not any(a.dead is None for a in accounts.values()):
        raise TelegramAccessError("every account lost access during the job; state kept, rerun with working sessions")
    return report


async def _run_engine(engine: DownloadEngine, monitor: Monitor | None) -> None:
    if monitor is None:
        await engine.run()
        return
    async with monitor(engine.scheduler, engine.stats):
        await engine.run()


def _save_speeds(store: StateStore, scheduler: Scheduler, accounts: Mapping[str, Account]) -> None:
    for name, acc in accounts.items():
        if acc.net_bytes > 0 and acc.throughput > 0 and name in scheduler.clients:
            store.save_speed(name, acc.throughput, scheduler.clients[name].overhead, 1)


def _client_summary(scheduler: Scheduler, stats: Mapping[str, ClientStats],
                    accounts: Mapping[str, Account]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, st in stats.items():
        c = scheduler.clients.get(name)
        acc = accounts.get(name)
        out[name] = {
            "files": st.files, "bytes": st.bytes, "seconds": round(st.busy_seconds, 3), "errors": st.errors,
            "refetch_calls": st.refetch_calls, "steal_calls": st.steal_calls,
            "speed_bps": round(acc.throughput if acc else st.speed, 1),
            "stolen_in": c.stolen_in if c else 0, "stolen_out": c.stolen_out if c else 0,
            "backups": c.backups if c else 0, "handoffs": c.handoffs if c else 0,
            "flood_waits": acc.flood_waits if acc else 0,
            "flood_wait_s": round(acc.flood_seconds, 3) if acc else 0.0,
            "state": (f"dead: {c.dead}" if c and c.dead else st.state),
        }
    return out
