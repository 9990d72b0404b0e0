"""A cluster job read from its Redis only: `tgfetch dashboard --redis`, and `--web` on `coordinator` and `worker`.

Read-only: the read methods of `ClusterQueue` (`meta`, `accounts`, `progress`, `remaining`,
`dead_letters`, `queue_accounts`) and read commands (SCAN, XPENDING, XRANGE, XREVRANGE, XLEN,
SMEMBERS); never a write, never one of the queue's scripts. What it shows:

- every registered account with its machine: files, bytes and steals (the `progress` hash), its
  queue (the `backlog`: groups not delivered yet), the groups it holds now (the streams' pending
  entries), its state (downloading while it holds a group whose lease is renewed, idle, or gone
  once its `last_seen` is older than `GONE_LEASES` leases) and its speed (measured here from its
  bytes over the last seconds, else the one it registered);
- the machines, the groups done / in flight / dead-lettered / queued, the dead letters with reasons;
- the files: one row per message of every queued group (the first `MAX_ENTRIES` stream entries).

Per-file times and paths live in each worker's own state DB (`tgfetch dashboard --state-db` there):
the timeline and the history are empty here, and there is no plan page (the plan is the streams).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tgfetch.cluster.keys import GROUP, RELEASED, split_consumer
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import AccountInfo, Counters, DeadLetter, GroupPayload, Progress, Remaining
from tgfetch.errors import NetworkError, UsageError
from tgfetch.web.records import (
    AccountView,
    ClusterView,
    DeadLetterView,
    FilePage,
    FileRow,
    History,
    MachineView,
    PlanView,
    Status,
    Timeline,
)

__all__ = ["DEAD_SHOWN", "GONE_LEASES", "MAX_ENTRIES", "ClusterSource", "choose_job", "find_jobs"]

GONE_LEASES = 3.0  # an account not seen for this many leases (and holding nothing) is gone
DEFAULT_LEASE_S = 60.0  # the coordinator's --lease default (a job's meta `lease_s` says its own)
MAX_ENTRIES = 200_000  # stream entries the files page reads (every queued group up to this)
MAX_PENDING = 1000  # pending entries read per stream (a few per account, unless many were handed back)
DEAD_SHOWN = 100  # dead letters listed in the status (the newest)
SPEED_WINDOW_S = 10.0
_CHUNK = 5000
_HEAD, _TAIL = "tgfetch:{", "}:meta"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _float(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


async def find_jobs(redis: Redis) -> list[str]:
    """The names of every cluster job in this Redis (a `tgfetch:{JOB}:meta` key each), sorted."""
    names = set()
    async for key in redis.scan_iter(match=f"{_HEAD}*{_TAIL}", count=1000):
        key = key.decode() if isinstance(key, bytes) else str(key)
        names.add(key[len(_HEAD):-len(_TAIL)])
    return sorted(names)


def choose_job(jobs: Sequence[str], job: str | None) -> str:
    """The job to show: the one named (it must exist), else the only one; a UsageError says why not."""
    listed = ", ".join(jobs[:20]) + (f", … ({len(jobs)} in all)" if len(jobs) > 20 else "")
    if job is not None:
        if job not in jobs:
            raise UsageError(f"--job {job!r}: no such cluster job in this Redis; "
                             + (f"its jobs: {listed}" if jobs else "it holds none yet"))
        return job
    if not jobs:
        raise UsageError("no cluster job in this Redis yet (no tgfetch:{JOB}:meta key): start `tgfetch coordinator`"
                         " first")
    if len(jobs) > 1:
        raise UsageError(f"{len(jobs)} cluster jobs in this Redis: choose one with --job NAME: {listed}")
    return jobs[0]


@dataclass(frozen=True)
class _Held:
    """A pending entry of a stream: a group delivered and not acknowledged yet."""

    planned: str  # the account whose stream it is in
    entry_id: str
    consumer: str  # machine:account, or 'released' (handed back: anyone may claim it)
    idle_ms: int
    files: int
    bytes: int

    @property
    def holder(self) -> tuple[str, str] | None:
        """(machine, account) holding it; None when released."""
        if self.consumer == RELEASED or ":" not in self.consumer:
            return None
        return split_consumer(self.consumer)


@dataclass(frozen=True)
class _Snapshot:
    """One read of the job's keys."""

    job: str
    meta: dict[str, str]
    accounts: dict[str, AccountInfo]
    progress: Progress
    remaining: Remaining
    held: tuple[_Held, ...]
    dead: tuple[DeadLetter, ...]
    failed: frozenset[str]
    now: float

    @property
    def lease_s(self) -> float:
        return _float(self.meta.get("lease_s")) or DEFAULT_LEASE_S

    @property
    def done(self) -> bool:
        return self.meta.get("state") == "done"

    def dead_now(self) -> list[DeadLetter]:
        """Dead letters of groups still failed (not completed since), one per group, the newest first."""
        seen: set[str] = set()
        out = []
        for d in reversed(self.dead):
            if d.group_id in self.failed and d.group_id not in seen:
                seen.add(d.group_id)
                out.append(d)
        return out


@dataclass(frozen=True)
class _Entry:
    """A stream entry as the files page needs it."""

    entry_id: str
    group: str
    message_ids: tuple[int, ...]
    album: int | None
    planned: str
    bytes: int


def _entry(planned: str, entry_id: str, raw: Mapping[Any, Any] | None) -> _Entry:
    fields = {str(k): str(v) for k, v in (raw or {}).items()}
    try:
        p = GroupPayload.from_json(fields.get("p", ""))
    except ValueError:
        return _Entry(entry_id, fields.get("g", ""), (), None, planned, 0)
    return _Entry(entry_id, p.group_id, p.message_ids, p.album_id, planned, p.bytes)


class _Streams:
    """Each stream's entries read so far (streams only grow: later reads fetch only what is new)."""

    def __init__(self) -> None:
        self.entries: dict[str, list[_Entry]] = {}
        self.last: dict[str, str] = {}

    async def read(self, queue: ClusterQueue, accounts: Iterable[str]) -> list[_Entry]:
        """Every entry of the accounts' streams (at most MAX_ENTRIES in all)."""
        budget = MAX_ENTRIES - sum(len(v) for v in self.entries.values())
        for account in accounts:
            stream = queue.keys.queue(account)
            if len(self.entries.get(stream, ())) > int(await queue.redis.xlen(stream)):  # a new job of that name
                budget += len(self.entries.pop(stream))
                self.last.pop(stream, None)
            rows = self.entries.setdefault(stream, [])
            while budget > 0:
                start = f"({self.last[stream]}" if stream in self.last else "-"
                got = await queue.redis.xrange(stream, start, "+", count=min(_CHUNK, budget))
                if not got:
                    break
                rows += [_entry(account, str(i), f) for i, f in got]
                self.last[stream] = str(got[-1][0])
                budget -= len(got)
        return [e for rows in self.entries.values() for e in rows]


async def _held(queue: ClusterQueue, accounts: Sequence[str]) -> tuple[_Held, ...]:
    """Every pending entry of the accounts' streams, with its group's files and bytes."""
    async with queue.redis.pipeline(transaction=False) as pipe:
        for a in accounts:
            pipe.xpending_range(queue.keys.queue(a), GROUP, "-", "+", MAX_PENDING)
        pendings = await pipe.execute(raise_on_error=False)
    rows = [(a, p) for a, ps in zip(accounts, pendings, strict=True) if isinstance(ps, list) for p in ps]
    async with queue.redis.pipeline(transaction=False) as pipe:
        for a, p in rows:
            pipe.xrange(queue.keys.queue(a), p["message_id"], p["message_id"])
        entries = await pipe.execute(raise_on_error=False)
    out = []
    for (a, p), e in zip(rows, entries, strict=True):
        fields = e[0][1] if isinstance(e, list) and e else {}
        out.append(_Held(a, str(p["message_id"]), str(p["consumer"]), int(p["time_since_delivered"]),
                         _int(fields.get("f", 0)), _int(fields.get("b", 0))))
    return tuple(out)


def _redis_down(exc: BaseException) -> NetworkError:
    """A Redis error as one line (never the URL: it may hold the password)."""
    return NetworkError(f"the cluster's Redis cannot be read now ({type(exc).__name__}); the dashboard shows the "
                        "job again once it answers")


class ClusterSource:
    """The pages of a cluster job, from its Redis; before its queue is known, a `starting` status."""

    name = "cluster"
    refresh_s = 1.0

    def __init__(self, redis: Redis | None = None, job: str | None = None, *, machine: str = "",
                 label: str = "", clock: Callable[[], float] = time.time) -> None:
        """`redis` and `job` (None: the only job there): read that; neither: wait for `attach`."""
        self.machine = machine  # the worker serving the page ('' : the coordinator, `tgfetch dashboard`)
        self.label = label
        self.clock = clock
        self._redis, self._job = redis, job
        self._queue: ClusterQueue | None = None
        self._streams = _Streams()
        self._dead_key: tuple[int, str] = (0, "")
        self._dead: tuple[DeadLetter, ...] = ()
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self.started = clock()

    def attach(self, queue: ClusterQueue) -> None:
        """Read this queue's job from now on (the coordinator or worker made it once the channel resolved)."""
        self._queue = queue

    async def resolve(self) -> str:
        """The job's name: found in Redis when not given (a UsageError: none, or several and no name)."""
        if self._queue is None and self._redis is not None:
            try:
                jobs = await find_jobs(self._redis)
            except (RedisError, OSError) as exc:
                raise _redis_down(exc) from None
            self._queue = ClusterQueue(self._redis, choose_job(jobs, self._job))
        return self._queue.keys.job if self._queue is not None else ""

    async def status(self) -> Status:
        """The job now (a `starting` status until the queue is known)."""
        await self.resolve()
        if self._queue is None:
            return self._starting()
        snap = await self._read(self._queue)
        speeds = self._measure(snap.now, {a: c.bytes for a, c in snap.progress.by_account().items()})
        return build_status(snap, speeds, self.machine)

    def _starting(self) -> Status:
        now = self.clock()
        return Status(source=self.name, phase="starting", job=self.label, round=0, now=now, started=self.started,
                      elapsed_s=now - self.started, files_planned=0, files_done=0, files_downloaded=0, failures=0,
                      bytes_planned=0, bytes_left=0, eta_s=0.0, ideal_s=0.0)

    async def _read(self, queue: ClusterQueue) -> _Snapshot:
        try:
            meta, accounts = await queue.meta(), await queue.accounts()
            progress, remaining = await queue.progress(), await queue.remaining()
            held = await _held(queue, sorted(remaining.unstarted))
            dead = await self._dead_letters(queue)
            failed = await queue.redis.smembers(queue.keys.failed) if remaining.failed else set()
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        return _Snapshot(queue.keys.job, meta, accounts, progress, remaining, held, dead,
                         frozenset(map(str, failed)), self.clock())

    async def _dead_letters(self, queue: ClusterQueue) -> tuple[DeadLetter, ...]:
        """The dead-letter stream, read again only when it changed."""
        async with queue.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(queue.keys.dead)
            pipe.xrevrange(queue.keys.dead, count=1)
            n, last = await pipe.execute()
        key = (int(n), str(last[0][0]) if last else "")
        if key != self._dead_key:
            self._dead = tuple(await queue.dead_letters())
            self._dead_key = key
        return self._dead

    def _measure(self, now: float, done: dict[str, int]) -> dict[str, float]:
        """Each account's bytes per second over the last SPEED_WINDOW_S (empty until a second has passed)."""
        if not self._samples or now - self._samples[-1][0] >= 0.25:
            self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= SPEED_WINDOW_S:
            self._samples.popleft()
        t0, first = self._samples[0]
        if now - t0 < 1.0:
            return {}
        return {a: max(0.0, (b - first.get(a, 0)) / (now - t0)) for a, b in done.items()}

    async def plan(self) -> PlanView | None:
        """No plan page: a cluster's plan is its streams (the accounts page shows each account's queue)."""
        return None

    async def files(self, query: str, limit: int, offset: int) -> FilePage:
        """One row per message of every queued group: done, failed (the dead letter's reason), downloading, queued."""
        q = query.strip().casefold()
        await self.resolve()
        if self._queue is None:
            return FilePage(q, 0, offset, ())
        try:
            rows = await self._file_rows(self._queue)
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        counts = dict(Counter(r.state for r in rows))
        hits = [r for r in rows if not q or _matches(r, q)]
        return FilePage(q, len(hits), offset, tuple(hits[offset:offset + limit]), counts)

    async def _file_rows(self, queue: ClusterQueue) -> list[FileRow]:
        accounts = await queue.queue_accounts()
        entries = await self._streams.read(queue, accounts)
        async with queue.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(queue.keys.done)
            pipe.smembers(queue.keys.failed)
            pipe.hget(queue.keys.meta, "channel")
            done, failed, channel = await pipe.execute()
        held = {(h.planned, h.entry_id): h for h in await _held(queue, accounts)}
        reasons = {d.group_id: d.reason for d in await self._dead_letters(queue)}
        rows = []
        for e in entries:
            h = held.get((e.planned, e.entry_id))
            state = ("done" if e.group in done else "failed" if e.group in failed
                     else "downloading" if h is not None and h.holder is not None else "queued")
            account = h.holder[1] if state == "downloading" and h is not None and h.holder else e.planned
            size = e.bytes if len(e.message_ids) == 1 else 0  # an album's files' sizes are on the workers
            error = reasons.get(e.group, "") if state == "failed" else ""
            rows += [FileRow(str(channel or queue.keys.job), m, state, account, "", size, album=e.album, error=error)
                     for m in e.message_ids]
        rows.sort(key=lambda r: (r.message_id, r.state))
        return rows

    async def timeline(self) -> Timeline:
        """Empty: when each file finished is in each worker's own state DB."""
        return Timeline(self.clock(), 1.0, ())

    async def history(self) -> History:
        """Empty: the runs and learned speeds are in each worker's own state DB."""
        return History((), ())


def _matches(row: FileRow, q: str) -> bool:
    return any(q in s.casefold() for s in (str(row.message_id), row.state, row.account, row.error, row.chat))


# -- the status, from one snapshot (pure functions) ----------------------------------------------------


def _machine_of(name: str, snap: _Snapshot) -> str:
    info = snap.accounts.get(name)
    if info is not None:
        return info.machine
    return next((c.machine for c in snap.progress.consumers if c.account == name), "")


def _account_state(name: str, mine: Sequence[_Held], snap: _Snapshot) -> str:
    """downloading (holds a group whose lease is being renewed), done, gone (not seen for a few leases), idle."""
    if any(h.idle_ms < 2000 * snap.lease_s for h in mine):
        return "downloading"
    if snap.done:
        return "done"
    info = snap.accounts.get(name)
    if info is None or snap.now - info.last_seen > GONE_LEASES * snap.lease_s:
        return "gone"
    return "idle"


def _account(name: str, snap: _Snapshot, done: Counters, measured: float) -> AccountView:
    mine = [h for h in snap.held if h.holder is not None and h.holder[1] == name]
    queued = snap.remaining.unstarted.get(name, Counters())
    info = snap.accounts.get(name)
    registered = info.speed_bps if info is not None else 0.0
    speed = measured or registered
    left = queued.bytes + sum(h.bytes for h in mine)
    return AccountView(name=name, state=_account_state(name, mine, snap), files=done.files, bytes=done.bytes,
                       speed_bps=speed, est_speed_bps=registered or measured, queue_files=queued.files,
                       queue_bytes=queued.bytes, inflight_groups=len(mine),
                       inflight_files=sum(h.files for h in mine), inflight_bytes=sum(h.bytes for h in mine),
                       est_remaining_s=left / speed if speed > 0 else 0.0, stolen_in=done.steals,
                       machine=_machine_of(name, snap))


def _machines(snap: _Snapshot, accounts: Sequence[AccountView], dead: Sequence[DeadLetter]) -> tuple[MachineView, ...]:
    by_machine = snap.progress.by_machine()
    owner = {a.name: a.machine for a in accounts}
    out = []
    for m in sorted({a.machine for a in accounts if a.machine} | set(by_machine)):
        mine = [a for a in accounts if a.machine == m]
        c = by_machine.get(m, Counters())
        seen = max((snap.accounts[a.name].last_seen for a in mine if a.name in snap.accounts), default=0.0)
        up = any(a.state in ("downloading", "idle") for a in mine)
        out.append(MachineView(
            name=m, state="done" if snap.done else "up" if up else "gone", accounts=tuple(a.name for a in mine),
            files=c.files, bytes=c.bytes, groups_done=c.groups, steals=c.steals,
            groups_inflight=sum(1 for h in snap.held if h.holder is not None and h.holder[0] == m),
            groups_dead=sum(1 for d in dead if owner.get(d.account) == m), last_seen=seen))
    return tuple(out)


def _dead_view(d: DeadLetter, failed: frozenset[str]) -> DeadLetterView:
    try:
        p = GroupPayload.from_json(d.payload)
    except ValueError:
        return DeadLetterView(d.group_id, d.account, d.deliveries, d.reason, failed=d.group_id in failed)
    return DeadLetterView(d.group_id, d.account, d.deliveries, d.reason, p.message_ids, p.files, p.bytes,
                          failed=d.group_id in failed)


def _cluster(snap: _Snapshot, accounts: Sequence[AccountView], machine: str) -> ClusterView:
    dead = snap.dead_now()
    rem = snap.remaining
    newest = tuple(_dead_view(d, snap.failed) for d in list(reversed(snap.dead))[:DEAD_SHOWN])
    return ClusterView(job=snap.job, state=snap.meta.get("state", ""), machine=machine, lease_s=snap.lease_s,
                       groups_total=rem.total, groups_done=rem.done, groups_inflight=rem.in_flight,
                       groups_dead=rem.failed, groups_queued=sum(c.groups for c in rem.unstarted.values()),
                       machines=_machines(snap, accounts, dead), dead_letters=newest,
                       dead_letters_total=len(snap.dead))


def _failed_files(dead: Iterable[DeadLetter]) -> int:
    files = 0
    for d in dead:
        try:
            files += GroupPayload.from_json(d.payload).files
        except ValueError:
            files += 1
    return files


def build_status(snap: _Snapshot, speeds: Mapping[str, float], machine: str = "") -> Status:
    """The job now, from one read of its keys and each account's measured speed."""
    by_account = snap.progress.by_account()
    names = sorted(set(snap.accounts) | set(by_account) | set(snap.remaining.unstarted))
    accounts = tuple(_account(n, snap, by_account.get(n, Counters()), speeds.get(n, 0.0)) for n in names)
    done, meta = snap.progress.total, snap.meta
    queued = sum(snap.remaining.unstarted.values(), Counters())
    held_files, held_bytes = sum(h.files for h in snap.held), sum(h.bytes for h in snap.held)
    dead = snap.dead_now()
    failed = _failed_files(dead)
    bytes_left = queued.bytes + held_bytes
    speed = sum(a.speed_bps for a in accounts if a.state != "gone")
    started = _float(meta.get("created_at")) or snap.now
    end = (_float(meta.get("finished_at")) or snap.now) if snap.done else snap.now
    return Status(
        source="cluster", phase=meta.get("state") or "starting", job=meta.get("channel") or snap.job, round=0,
        now=snap.now, started=started, elapsed_s=max(0.0, end - started),
        files_planned=max(_int(meta.get("total_files", 0)), done.files + queued.files + held_files + failed),
        files_done=done.files, files_downloaded=done.files, failures=failed,
        bytes_planned=max(_int(meta.get("total_bytes", 0)), done.bytes + bytes_left), bytes_left=bytes_left,
        eta_s=bytes_left / speed if speed > 0 else 0.0, ideal_s=bytes_left / speed if speed > 0 else 0.0,
        outcome=("files_failed" if dead else "done") if snap.done else "", accounts=accounts,
        strategy=meta.get("strategy", ""), cluster=_cluster(snap, accounts, machine))
