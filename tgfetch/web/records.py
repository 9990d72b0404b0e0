"""What the dashboard shows, as frozen records (their JSON is the `/api/*` answers), and where it comes from.

A `DashboardSource` answers the pages: the running job (`live.LiveSource`), a job's state DB
(`statedb.StateDbSource`), and a cluster job's Redis (`cluster.ClusterSource`). Every method is a coroutine, so a source
may read a database or Redis without blocking the job's event loop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["AccountView", "ClusterView", "DashboardSource", "DeadLetterView", "FilePage", "FileRow", "History",
           "MachineView", "PlanAccount", "PlanUnit", "PlanView", "RunView", "SpeedView", "Status", "Timeline",
           "TimelineRow", "to_json"]


@dataclass(frozen=True)
class AccountView:
    """One account now: its state, what it did, what it holds, what Telegram made it wait."""

    name: str
    state: str  # starting, downloading, idle, done, paused, flood-wait Ns, dead: <why>
    files: int = 0  # downloaded by this process (every round)
    bytes: int = 0
    speed_bps: float = 0.0  # measured while transferring (the report's speed_bps)
    est_speed_bps: float = 0.0  # what the scheduler plans with now
    queue_files: int = 0
    queue_bytes: int = 0
    inflight_groups: int = 0
    inflight_files: int = 0
    inflight_bytes: int = 0  # left to fetch of those groups
    est_remaining_s: float = 0.0  # until its queue and groups in flight are done
    stolen_in: int = 0
    stolen_out: int = 0
    backups: int = 0
    takeovers: int = 0
    handoffs: int = 0
    errors: int = 0
    flood_waits: int = 0
    flood_wait_s: float = 0.0
    flood_wait_left_s: float = 0.0
    api_calls: dict[str, int] = field(default_factory=dict)  # by TL method
    current: str = ""  # the file it finished last
    machine: str = ""  # the machine it runs on (cluster mode; '' on one machine)


@dataclass(frozen=True)
class MachineView:
    """One machine of a cluster: its accounts and what they did (summed over them)."""

    name: str
    state: str  # up, gone (no account seen for a few leases), done (the job is)
    accounts: tuple[str, ...]
    files: int = 0
    bytes: int = 0
    groups_done: int = 0
    groups_inflight: int = 0  # held by its accounts now
    groups_dead: int = 0  # dead-lettered groups planned for its accounts (not completed since)
    steals: int = 0
    last_seen: float = 0.0  # unix seconds: the newest of its accounts' last_seen


@dataclass(frozen=True)
class DeadLetterView:
    """A group the cluster gave up on, and why."""

    group: str
    account: str  # the account it was planned for
    deliveries: int
    reason: str
    message_ids: tuple[int, ...] = ()
    files: int = 0
    bytes: int = 0
    failed: bool = True  # False: a late worker completed it after all


@dataclass(frozen=True)
class ClusterView:
    """A cluster job as its Redis holds it (`Status.cluster`; None on one machine)."""

    job: str  # the job's name on Redis
    state: str  # the job's meta state: planning, running, watching, done ('' before the coordinator plans)
    machine: str = ""  # the worker serving this page ('' : the coordinator or `tgfetch dashboard --redis`)
    lease_s: float = 0.0
    groups_total: int = 0  # enqueued
    groups_done: int = 0
    groups_inflight: int = 0  # pending entries: held by a worker, or released and waiting to be claimed
    groups_dead: int = 0  # dead-lettered and not completed since
    groups_queued: int = 0  # never delivered yet
    machines: tuple[MachineView, ...] = ()
    dead_letters: tuple[DeadLetterView, ...] = ()  # the newest first (at most DEAD_SHOWN)
    dead_letters_total: int = 0


@dataclass(frozen=True)
class Status:
    """The job now (`/api/status`, and every server-sent `status` event)."""

    source: str  # live, state-db, cluster
    phase: str  # starting, downloading, waiting (watch), done, files_failed, interrupted, error, recorded;
    #             a cluster's: starting, planning, running, watching, done
    job: str  # the chats
    round: int  # download rounds started (watch: one per poll with something new)
    now: float  # unix seconds when this status was taken
    started: float
    elapsed_s: float
    files_planned: int  # on disk before the round + planned in it
    files_done: int  # on disk: downloaded now or by earlier runs
    files_downloaded: int  # by this process
    failures: int
    bytes_planned: int
    bytes_left: int
    eta_s: float  # the estimated time left (learned predictions; else the last account's estimate)
    ideal_s: float  # bytes left / the accounts' summed speed: the best any split could do
    outcome: str = ""  # the last finished round's: done, files_failed, interrupted, error
    eta_low_s: float = 0.0  # the estimate's interval (about 10 % to 90 %; 0: none)
    eta_high_s: float = 0.0
    accounts: tuple[AccountView, ...] = ()
    strategy: str = ""
    cluster: ClusterView | None = None  # the machines, groups and dead letters of a cluster job


@dataclass(frozen=True)
class PlanUnit:
    """One group of a plan as the plan page draws it (an album is one unit; `count` > 1: singles lumped)."""

    group: str
    album: bool
    files: int
    bytes: int
    edge: bool = False  # an album cut by the range's edge, completed by the scan
    caption: str = ""
    count: int = 1


@dataclass(frozen=True)
class PlanAccount:
    """One account's share of the plan."""

    name: str
    groups: int
    albums: int
    files: int
    bytes: int
    load: float
    units: tuple[PlanUnit, ...]


@dataclass(frozen=True)
class PlanView:
    """The current round's plan (`/api/plan`)."""

    round: int
    strategy: str
    metric: str
    makespan: float
    lower_bound: float
    gap: float
    balance_ratio: float
    accounts: tuple[PlanAccount, ...]
    edge_albums: tuple[int, ...] = ()
    partial_albums: tuple[int, ...] = ()
    albums_split: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRow:
    """One file of the job: where it is, who has it, and why it failed."""

    chat: str
    message_id: int
    state: str  # done, skipped (an earlier run's), failed, downloading, queued (a cluster's: no skipped)
    account: str  # a cluster's: the one holding it now, else the one it was planned for
    path: str
    size: int
    name: str = ""  # the name Telegram gave it ('' unknown)
    caption: str = ""
    album: int | None = None
    error: str = ""


@dataclass(frozen=True)
class FilePage:
    """A page of the files matching a search (`/api/files?q=`)."""

    query: str
    total: int  # matching files
    offset: int
    rows: tuple[FileRow, ...]
    counts: dict[str, int] = field(default_factory=dict)  # every file of the job by state


@dataclass(frozen=True)
class TimelineRow:
    """What one account finished in each bucket of the timeline."""

    account: str
    files: tuple[int, ...]
    bytes: tuple[int, ...]


@dataclass(frozen=True)
class Timeline:
    """Files finished per account over time, from the state DB (`/api/timeline`)."""

    start: float  # unix seconds of the first bucket
    bucket_s: float
    rows: tuple[TimelineRow, ...]


@dataclass(frozen=True)
class RunView:
    """One finished round of the job (the state DB's `runs`)."""

    id: int
    started: float
    finished: float
    strategy: str
    metric: str
    accounts: tuple[str, ...]
    files: int
    bytes: int
    download_s: float
    ideal_s: float
    outcome: str
    speeds: dict[str, float]


@dataclass(frozen=True)
class SpeedView:
    """An account's speed as learned over the job's runs."""

    account: str
    bytes_per_s: float
    overhead_s: float
    samples: int
    updated: float


@dataclass(frozen=True)
class History:
    """The job's run history and learned speeds (`/api/history`)."""

    runs: tuple[RunView, ...]
    speeds: tuple[SpeedView, ...]


class DashboardSource(Protocol):
    """Where the pages read the job from."""

    name: str  # shown in the page header: live, state-db, …
    refresh_s: float  # seconds between pushed statuses

    async def status(self) -> Status:
        """The job now."""
        ...

    async def plan(self) -> PlanView | None:
        """The current plan (None: not known to this source)."""
        ...

    async def files(self, query: str, limit: int, offset: int) -> FilePage:
        """Files whose name, path, caption, account, state or message id contains `query` (case-insensitive)."""
        ...

    async def timeline(self) -> Timeline:
        """Files finished per account over time."""
        ...

    async def history(self) -> History:
        """Finished rounds and learned speeds."""
        ...


def to_json(record: Any, clean: Callable[[str], str] = str) -> Any:
    """A record (or None) as JSON values, every string passed through `clean` (the secrets' redaction)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        record = dataclasses.asdict(record)
    return _clean(record, clean)


def _clean(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _clean(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, clean) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN and infinities are not JSON
        return None
    return value
