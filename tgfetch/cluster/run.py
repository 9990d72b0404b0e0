"""`tgfetch coordinator` and `tgfetch worker`: the cluster cores wired to Telegram and the disk.

The coordinator scans with its own accounts, waits for the workers' accounts to
register, plans over them, enqueues the groups (largest first per account) and
shows cluster-wide progress.  A worker downloads the groups of its own accounts'
streams, then steals, writing files exactly as single-machine mode does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from telethon import TelegramClient

from tgfetch.aio import cancel_quietly
from tgfetch.cluster.coordinator import WATCHING, CoordinatorSummary, run_coordinator
from tgfetch.cluster.follow import Follower, follow, make_payloads
from tgfetch.cluster.keys import job_name
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import GroupPayload, Progress, Remaining
from tgfetch.cluster.security import connect, redact_url
from tgfetch.cluster.worker import AccountDead, run_worker_loop
from tgfetch.config import Settings
from tgfetch.context import JobContext, job_range, open_job
from tgfetch.download.group import Downloader
from tgfetch.download.prefetch import fetch_missing
from tgfetch.download.scheduler import DEFAULT_OVERHEAD
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.download.tasks import resume
from tgfetch.download.work import GroupWork
from tgfetch.errors import NetworkError, UsageError
from tgfetch.job import RunOptions, choose, observing, plan_scan
from tgfetch.model import MessageGroup, TaskDistributionResult
from tgfetch.notify import JobObserver
from tgfetch.portable import on_signals
from tgfetch.report import human_bytes
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import open_accounts
from tgfetch.telegram.convert import to_message_info
from tgfetch.telegram.rpc import AccountDead as RpcAccountDead
from tgfetch.telegram.rpc import FloodWait
from tgfetch.telegram.scan import scan_accounts
from tgfetch.watch import AlbumSettle

__all__ = ["coordinate", "work"]

log = logging.getLogger("tgfetch.cluster")
STOP_SIGNALS = ("SIGTERM", "SIGINT")


def redis_for(settings: Settings, url: str | None, insecure: bool) -> Redis:
    """A checked Redis client for the --redis URL or REDIS_URL."""
    url = url or (settings.redis_url.get_secret_value() if settings.redis_url else None)
    if not url:
        raise UsageError("no Redis URL: give --redis redis://host:port/0 or set REDIS_URL")
    client = connect(url, insecure=insecure)
    log.debug("redis: %s", redact_url(url))  # the commands print where, once they connected
    return client


async def check_redis(redis: Redis) -> None:
    """Make sure Redis answers, or raise NetworkError (exit 4) in one line.

    The client itself retries a call for about 10 s (`security.connect`): that is the wait.
    """
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        raise NetworkError(f"Redis at {_url_of(redis)} is unreachable (tried for about 10 s: "
                           f"{type(exc).__name__}): start it, or check --redis / REDIS_URL") from None


def _url_of(redis: Redis) -> str:
    """The client's URL with its password as *** (safe to show)."""
    kw = redis.connection_pool.connection_kwargs
    scheme = "rediss" if redis.connection_pool.connection_class.__name__.startswith("SSL") else "redis"
    auth = ":***@" if kw.get("password") else ""
    return f"{scheme}://{auth}{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


def job_for(ref: ChannelRef, settings: Settings) -> str:
    """The job's name: the same on every machine that runs the same settings."""
    return job_name(ref.channel_id, settings.start_message_id or 1, settings.end_message_id or 0)


async def _wait_for_accounts(queue: ClusterQueue, expect: int, wait_s: float, stop: asyncio.Event) -> dict[str, float]:
    """Wait until `expect` accounts registered (or, without expect, until none joined for a while)."""
    deadline = time.monotonic() + wait_s
    last, seen = time.monotonic(), 0
    while not stop.is_set():
        accounts = await queue.accounts()
        if len(accounts) != seen:
            seen, last = len(accounts), time.monotonic()
        enough = len(accounts) >= expect if expect else (seen and time.monotonic() - last > 2.0)
        if enough or time.monotonic() > deadline:
            if not accounts:
                raise UsageError(f"no worker registered within {wait_s:.0f}s: start `tgfetch worker` first")
            return {a: info.speed_bps for a, info in accounts.items()}
        await asyncio.sleep(0.2)
    raise asyncio.CancelledError


def _show_progress(console: Console) -> Callable[[Progress, Remaining], None]:
    last = [0.0]

    def show(progress: Progress, remaining: Remaining) -> None:
        if time.monotonic() - last[0] < 2.0:
            return
        last[0] = time.monotonic()
        per = ", ".join(f"{m}: {c.files} files {human_bytes(c.bytes)} steals {c.steals}"
                        for m, c in sorted(progress.by_machine().items()))
        console.print(f"groups {remaining.done}/{remaining.total} done, {remaining.in_flight} in flight, "
                      f"{remaining.failed} dead-lettered | {per}")
    return show


async def coordinate(clients: Mapping[str, TelegramClient], channel: str, settings: Settings, redis: Redis, *,
                     expect_accounts: int, wait_s: float, lease_s: float, console: Console,
                     watch: bool = False, on_queue: Callable[[ClusterQueue], None] | None = None) -> int:
    """Run the coordinator: scan, plan over the registered accounts, enqueue, show progress.

    `watch`: then follow the channel, enqueueing new posts as they arrive, until stopped (`follow`).
    `on_queue`: told of the job's queue once the channel is resolved (the dashboard reads it)."""
    if watch and settings.end_message_id is not None:
        raise UsageError("--watch follows the channel's new posts: it cannot be used with END_MESSAGE_ID")
    await check_redis(redis)
    accounts, ref, top = await open_accounts(clients, channel, settings)
    queue = ClusterQueue(redis, job_for(ref, settings), lease_s=lease_s)
    if on_queue is not None:
        on_queue(queue)
    console.print(f"coordinator: job {queue.keys.job} on {_url_of(redis)}")
    stop = asyncio.Event()
    settle = AlbumSettle(settings.watch_settle_seconds)
    with on_signals(stop.set, STOP_SIGNALS):
        meta = await queue.meta()
        meta_fields: dict[str, str | int] = {"lease_s": f"{lease_s:g}"}  # for the dashboard's "gone"
        plan_payloads = await _plan_new(_Start(accounts, ref, top, settle, stop, watch), queue, meta, meta_fields,
                                        settings, expect_accounts, wait_s, console)
        edge = int(meta.get("watch_last_id") or meta_fields.get("last_id") or meta.get("last_id") or top)
        following = asyncio.create_task(follow(Follower(accounts, ref, settings, queue, settle, edge), clients, stop)
                                        ) if watch else None
        try:
            summary = await run_coordinator(queue, plan_payloads, meta=meta_fields, stop=stop,
                                            on_progress=_show_progress(console), poll_s=0.5, watching=watch)
        finally:
            await cancel_quietly(following)
    _print_summary(console, summary)
    return 130 if watch else 0 if summary.finished and not summary.failed else 1


@dataclass(frozen=True)
class _Start:
    """What a coordinator knows once its accounts opened the channel."""

    accounts: dict[str, Account]
    ref: ChannelRef
    top: int
    settle: AlbumSettle
    stop: asyncio.Event
    watch: bool


async def _plan_new(start: _Start, queue: ClusterQueue, meta: Mapping[str, str], meta_fields: dict[str, str | int],
                    settings: Settings, expect_accounts: int, wait_s: float,
                    console: Console) -> dict[str, list[GroupPayload]]:
    """A job not planned yet: scan, wait for the workers' accounts, plan; one planned already: resume it."""
    if meta.get("state") in ("running", "done", WATCHING):
        console.print(f"job {queue.keys.job} already planned ({meta.get('state')}): resuming the watch")
        return {}
    ref, watch = start.ref, start.watch
    first, last = job_range(settings.start_message_id, settings.end_message_id, start.top, ref)
    scan = await scan_accounts(start.accounts, ref, first, last, settings, start.top)
    scan = start.settle(scan) if watch else scan  # an album still growing waits for the next poll
    speeds = await _wait_for_accounts(queue, expect_accounts, wait_s, start.stop)
    meta_fields |= {"channel": ref.key, "first_id": first, "last_id": scan.last_id}
    if watch and not choose(scan, settings).groups:  # a watch may start on nothing new
        return {}
    plan = await plan_scan(scan, sorted(speeds), settings, {k: v for k, v in speeds.items() if v > 0})
    return _first_plan(plan, ref, meta_fields, console)


def _first_plan(plan: TaskDistributionResult, ref: ChannelRef, meta: dict[str, str | int],
                console: Console) -> dict[str, list[GroupPayload]]:
    """The plan's payloads; says what was planned."""
    out = make_payloads(plan, ref.channel_id)
    console.print(f"plan: {plan.strategy} over {len(plan.client_assignments)} accounts, "
                  f"{sum(map(len, out.values()))} groups, balance {plan.metrics.balance_ratio:.3f}")
    meta["strategy"] = plan.strategy
    return out


def _print_summary(console: Console, summary: CoordinatorSummary) -> None:
    for dl in summary.dead:
        console.print(f"[red]dead-lettered[/red] group {dl.group_id}: {dl.reason}")
    console.print(f"job {summary.job}: {summary.done}/{summary.total} groups done, {summary.failed} failed, "
                  f"{summary.enqueued_now} enqueued by this run, {summary.elapsed_s:.1f}s")
    for acc, c in sorted(summary.progress.by_account().items()):
        console.print(f"  {acc}: {c.groups} groups, {c.files} files, {human_bytes(c.bytes)}, {c.steals} steals")


@dataclass(frozen=True)
class WorkerReport:
    """A worker's files and failures, as its `job_done` event and exit code see them."""

    files: list[FileRecord]
    failures: dict[int, str]
    elapsed_s: float
    outcome: str = ""  # 'interrupted' when stopped

    @property
    def downloaded(self) -> list[FileRecord]:
        """Files this worker fetched (not found done)."""
        return [f for f in self.files if not f.skipped]

    @property
    def ok(self) -> bool:
        """No file failed and the worker was not stopped."""
        return not self.failures and not self.outcome

    @property
    def result(self) -> str:
        """The outcome as events name it."""
        return self.outcome or ("done" if self.ok else "files_failed")


class _GroupRunner:
    """Downloads one queued group with one account, through the single-machine downloader."""

    def __init__(self, job: JobContext, observer: JobObserver | None = None) -> None:
        self.job = job
        self.stats = {n: ClientStats(n) for n in job.accounts}
        settings = job.settings
        self.downloader = Downloader(job.disk, self.stats, settings.max_file_retries,
                                     functools.partial(fetch_missing, max_retries=settings.max_file_retries))
        self.downloader.observer = self.observer = observer  # events and hooks of this worker's own files
        self.records: list[FileRecord] = []
        self.started = time.monotonic()

    def report(self, outcome: str = "") -> WorkerReport:
        """What this worker did so far (for its `job_done` event)."""
        return WorkerReport(list(self.records), dict(self.downloader.failures), time.monotonic() - self.started,
                            outcome)

    async def __call__(self, account: str, payload: GroupPayload) -> tuple[int, int]:
        acc = self.job.accounts[account]
        try:
            msgs = await acc.fetch(list(payload.message_ids))
            infos = [i for i in map(to_message_info, msgs) if i is not None]
            if not infos:
                return 0, 0
            group = MessageGroup.of(infos)
            pending = resume([group], self.job.settings.file_name_template, self.job.disk)
            if self.observer is not None:
                self.observer.expect(pending)
            files = list(pending.tasks.values())
            done = list(pending.done)
            if files:
                done += await self.downloader.download_alone(acc, GroupWork(group, files, account))
        except (RpcAccountDead, FloodWait) as exc:
            raise AccountDead(f"{account}: {exc}") from None
        self.records += done
        return len(done), sum(r.size for r in done)


async def work(clients: Mapping[str, TelegramClient], channel: str, settings: Settings, redis: Redis, *,
               machine: str | None, lease_s: float, console: Console,
               on_queue: Callable[[ClusterQueue], None] | None = None) -> tuple[int, list[FileRecord], dict[str, Any]]:
    """Run a worker: register this machine's accounts, then download queued groups until the job is done
    (`on_queue`: told of the job's queue once the channel is resolved)."""
    machine = machine or settings.machine_name or socket.gethostname().split(".")[0]
    await check_redis(redis)
    async with open_job(clients, channel, settings, settings.download_dir) as job, \
            observing(job, settings, RunOptions()) as run:
        queue = ClusterQueue(redis, job_for(job.ref, settings), lease_s=lease_s)
        if on_queue is not None:
            on_queue(queue)
        learned = job.store.load_speeds()
        speeds = {n: learned[n].bytes_per_s if n in learned else 0.0 for n in job.accounts}
        runner = _GroupRunner(job, run.observer)
        console.print(f"worker {machine}: accounts {', '.join(job.accounts)}, job {queue.keys.job} "
                      f"on {_url_of(redis)}")
        if (await queue.meta()).get("state") not in ("running", "done"):
            console.print(f"worker {machine}: waiting for the coordinator to plan job {queue.keys.job}")
        stop = asyncio.Event()
        with on_signals(stop.set, STOP_SIGNALS):
            try:
                summary = await run_worker_loop(queue, list(job.accounts), machine, runner, stop=stop,
                                                lease_s=lease_s, speeds=speeds)
            finally:
                if run.observer is not None:
                    run.observer.last = runner.report("interrupted" if stop.is_set() else "")
        job.save_speeds({n: DEFAULT_OVERHEAD for n in job.accounts})
    info = {a: s.__dict__ for a, s in summary.accounts.items()}
    for a, s in summary.accounts.items():
        console.print(f"  {machine}:{a}: {s.groups} groups, {s.files} files, {human_bytes(s.bytes)}, "
                      f"{s.steals} steals{' (stopped)' if s.stopped else ''}{' (dead)' if s.dead else ''}")
    code = 130 if stop.is_set() else 0
    return code, runner.records, info
