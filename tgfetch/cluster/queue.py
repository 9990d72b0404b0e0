"""ClusterQueue: the job's Redis Streams queue (enqueue, read, steal, lease, complete).

Life of a group (one stream entry)::

    enqueue_plan ──XADD──► q:<planned account> ──read_own / steal──► in flight (PEL, lease)
        in flight ──complete──► done set (XACK)       ──renew every lease/3──► in flight
        in flight ──release───► PEL of "released", idle for years: claimable at once
        in flight ──no renew for a lease──► reclaimed by steal (XAUTOCLAIM) or sweep
        delivered more than max_deliveries times ──► dead stream + failed set

Keys are described in ``tgfetch.cluster.keys``; the scripts in ``tgfetch.cluster.scripts``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from redis.asyncio import Redis

from tgfetch.cluster.keys import GROUP, JobKeys, split_consumer, validate_name
from tgfetch.cluster.records import (
    AccountInfo,
    ConsumerProgress,
    Counters,
    DeadLetter,
    Delivery,
    GroupPayload,
    Progress,
    Remaining,
)
from tgfetch.cluster.scripts import Scripts

__all__ = ["RELEASED_IDLE_MS", "ClusterQueue"]

log = logging.getLogger(__name__)

RELEASED_IDLE_MS = 10 * 365 * 24 * 3600 * 1000
"""Idle time given to released entries: any min-idle threshold claims them at once."""

_METRICS = ("groups", "files", "bytes")


Arg = str | int | float


def _log_dead(d: DeadLetter) -> None:
    log.warning("group %s of %s dead-lettered after %d deliveries (%s)", d.group_id, d.account, d.deliveries, d.reason)


def _s(value: Any) -> str:
    """Return a reply value as text (clients made with decode_responses=True already give str)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _sdict(raw: Any) -> dict[str, str]:
    """Return a hash reply as a str -> str dict."""
    return {_s(k): _s(v) for k, v in (raw or {}).items()}


def _fields(flat: Sequence[Any]) -> dict[str, str]:
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _plan_items(assignments: Mapping[str, Sequence[GroupPayload]]) -> list[tuple[str, GroupPayload]]:
    """Flatten a plan round-robin (so early workers all find work), refusing a group given twice."""
    lists = [(a, list(gs)) for a, gs in assignments.items()]
    items: list[tuple[str, GroupPayload]] = []
    seen: set[str] = set()
    for i in range(max((len(gs) for _, gs in lists), default=0)):
        for account, gs in lists:
            if i < len(gs):
                if gs[i].group_id in seen:
                    raise ValueError(f"group {gs[i].group_id} is planned twice")
                seen.add(gs[i].group_id)
                items.append((account, gs[i]))
    return items


def _plan_id(items: Sequence[tuple[str, GroupPayload]]) -> str:
    h = hashlib.sha256()
    for account, p in items:
        h.update(f"{account}\0{p.group_id}\n".encode())
    return h.hexdigest()[:16]


class ClusterQueue:
    """The queue of one job on one Redis (client must use decode_responses=True)."""

    def __init__(
        self,
        redis: Redis,
        job: str,
        *,
        lease_s: float = 60.0,
        max_deliveries: int = 5,
        enqueue_batch: int = 500,
        on_dead: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        if not redis.get_connection_kwargs().get("decode_responses"):
            raise ValueError("ClusterQueue needs a Redis client made with decode_responses=True")
        self.redis = redis
        self.keys = JobKeys(job)
        self.lease_s = lease_s
        self.max_deliveries = max_deliveries
        self._batch = enqueue_batch
        self._on_dead = on_dead or _log_dead
        self._s = Scripts.register(redis)
        self._claim_cursor: dict[str, str] = {}
        self._sweep_cursor: dict[str, str] = {}
        self._pending_after: dict[tuple[str, str], str | None] = {}
        self._registered: dict[str, AccountInfo] = {}

    @property
    def min_idle_ms(self) -> int:
        """Idle time after which an entry's lease has expired."""
        return max(1, int(self.lease_s * 1000))

    # -- accounts ---------------------------------------------------------

    async def register_account(self, account: str, machine: str, speed_bps: float) -> AccountInfo:
        """Announce an account, its machine and its measured speed."""
        validate_name("account", account)
        validate_name("machine", machine)
        now = time.time()
        old = await self.redis.hget(self.keys.accounts, account)
        since = AccountInfo.from_json(account, _s(old)).registered_at if old else now
        info = AccountInfo(account, machine, float(speed_bps), since, now)
        await self.redis.hset(self.keys.accounts, account, info.to_json())
        self._registered[account] = info
        return info

    async def touch(self, account: str) -> None:
        """Refresh last_seen of an account registered through this object."""
        info = self._registered.get(account)
        if info is not None:
            info = replace(info, last_seen=time.time())
            self._registered[account] = info
            await self.redis.hset(self.keys.accounts, account, info.to_json())

    async def accounts(self) -> dict[str, AccountInfo]:
        """Return every registered account."""
        raw = _sdict(await self.redis.hgetall(self.keys.accounts))
        return {a: AccountInfo.from_json(a, v) for a, v in sorted(raw.items())}

    # -- enqueue ----------------------------------------------------------

    async def enqueue_plan(self, assignments: Mapping[str, Sequence[GroupPayload]], *, final: bool = True) -> int:
        """Enqueue a plan idempotently; return how many groups were newly added."""
        accounts = [validate_name("account", a) for a in assignments]
        items = _plan_items(assignments)
        plan = _plan_id(items)
        cursor = _sdict(await self.redis.hgetall(self.keys.cursor))
        start = int(cursor.get("position", 0)) if cursor.get("plan") == plan else 0
        index = {a: i + 1 for i, a in enumerate(accounts)}
        keys = [self.keys.enqueued, self.keys.cursor, self.keys.backlog, *(self.keys.queue(a) for a in accounts)]
        added = 0
        for lo in range(start, max(len(items), 1), self._batch):
            chunk = items[lo : lo + self._batch]
            args: list[Arg] = [GROUP, plan, lo + len(chunk), len(items), len(accounts), *accounts]
            for account, p in chunk:
                args += [index[account], p.group_id, p.to_json(), p.files, p.bytes]
            added += int(await self._s.enqueue(keys=keys, args=args))
        if final:
            state = await self.redis.hget(self.keys.meta, "state")
            if state is None or _s(state) == "planning":
                await self.redis.hset(self.keys.meta, "state", "running")
        return added

    # -- taking work ------------------------------------------------------

    async def read_own(self, account: str, consumer: str, count: int = 1, block_ms: int = 0) -> list[Delivery]:
        """Return entries of the account's own stream: its pending ones first (after a restart), then new ones."""
        stream = self.keys.queue(account)
        pending = await self._own_pending(account, stream, consumer, count)
        if pending:
            return pending
        got = await self._next([account], consumer, -1, count)
        if got or block_ms <= 0:
            return got
        await self.redis.xread({stream: "$"}, count=1, block=block_ms)
        return await self._next([account], consumer, -1, count)

    async def steal(self, account: str, consumer: str) -> Delivery | None:
        """Take one group: an expired or released entry first, else an unstarted one, most-loaded stream first."""
        order = await self._steal_order(account)
        got = await self._next(order, consumer, self.min_idle_ms, 1)
        return got[0] if got else None

    async def _own_pending(self, account: str, stream: str, consumer: str, count: int) -> list[Delivery]:
        key = (stream, consumer)
        while (after := self._pending_after.get(key, "0")) is not None:
            keys = [stream, self.keys.dead, self.keys.failed]
            last, entries, dead = await self._s.own_pending(
                keys=keys, args=[GROUP, consumer, count, after, self.max_deliveries]
            )
            self._pending_after[key] = last or None
            for d in dead:
                self._on_dead(DeadLetter(account, str(d[0]), str(d[1]), int(d[2]), str(d[3])))
            got = [x for e in entries if (x := await self._delivery(stream, account, e)) is not None]
            if got:
                return got
        return []

    async def _next(self, order: Sequence[str], consumer: str, min_idle: int, count: int) -> list[Delivery]:
        streams = [self.keys.queue(a) for a in order]
        cursors = [self._claim_cursor.get(s, "0-0") for s in streams]
        keys = [self.keys.dead, self.keys.failed, self.keys.backlog, *streams]
        args: list[Arg] = [GROUP, consumer, min_idle, self.max_deliveries, count, len(streams), *cursors, *order]
        _kind, idx, entries, new_cursors, dead = await self._s.next(keys=keys, args=args)
        self._claim_cursor.update(zip(streams, (str(c) for c in new_cursors), strict=True))
        for d in dead:
            self._on_dead(DeadLetter(order[int(d[0]) - 1], str(d[1]), str(d[2]), int(d[3]), str(d[4])))
        if not entries:
            return []
        stream, account = streams[int(idx) - 1], order[int(idx) - 1]
        return [x for e in entries if (x := await self._delivery(stream, account, e)) is not None]

    async def _delivery(self, stream: str, account: str, entry: Sequence[Any]) -> Delivery | None:
        entry_id, fields, count = str(entry[0]), _fields(entry[1]), int(entry[2])
        try:
            payload = GroupPayload.from_json(fields.get("p", ""))
        except ValueError as exc:
            await self._bury(stream, account, entry_id, fields, count, f"bad_payload: {exc}")
            return None
        return Delivery(stream, entry_id, payload, count, account)

    async def _bury(self, stream: str, account: str, entry_id: str, fields: dict[str, str], n: int, why: str) -> None:
        """Dead-letter an entry whose payload cannot be used."""
        gid = fields.get("g", "")
        async with self.redis.pipeline(transaction=True) as pipe:
            dead: dict[Any, Any] = {"stream": stream, "id": entry_id, "g": gid, "p": fields.get("p", "")}
            dead |= {"deliveries": n, "reason": why}
            pipe.xadd(self.keys.dead, dead, maxlen=100000, approximate=True)
            pipe.xack(stream, GROUP, entry_id)
            if gid:
                pipe.sadd(self.keys.failed, gid)
            await pipe.execute()
        self._on_dead(DeadLetter(account, entry_id, gid, n, fields.get("p", ""), why))

    async def _steal_order(self, account: str) -> list[str]:
        """Own stream first, then the others by estimated remaining time (backlog bytes / owner speed)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.backlog)
            pipe.hgetall(self.keys.accounts)
            backlog_raw, accounts_raw = await pipe.execute()
        backlog = _parse_backlog(_sdict(backlog_raw))
        speeds = {a: AccountInfo.from_json(a, v).speed_bps for a, v in _sdict(accounts_raw).items()}
        known = [s for s in speeds.values() if s > 0]
        default = sum(known) / len(known) if known else 1.0

        def load(a: str) -> tuple[float, int, int, str]:
            c = backlog[a]
            return (-(c.bytes / (speeds.get(a) or default)), -c.files, -c.groups, a)

        others = sorted((a for a in backlog if a != account), key=load)
        return [account, *others]

    # -- leases -----------------------------------------------------------

    async def renew(self, delivery: Delivery, consumer: str) -> bool:
        """Keep a lease alive; False if the entry is no longer this consumer's."""
        args: list[Arg] = [GROUP, delivery.entry_id, consumer]
        return int(await self._s.renew(keys=[delivery.stream], args=args)) == 1

    async def complete(self, delivery: Delivery, consumer: str, files: int, nbytes: int) -> bool:
        """Mark a group done, ack it and count progress; False for a duplicate completion."""
        stolen = "1" if split_consumer(consumer)[1] != delivery.account else "0"
        keys = [self.keys.done, delivery.stream, self.keys.progress, self.keys.failed]
        gid = delivery.payload.group_id
        args: list[Arg] = [GROUP, delivery.entry_id, gid, consumer, int(files), int(nbytes), stolen]
        return int(await self._s.complete(keys=keys, args=args)) == 1

    async def release(self, delivery: Delivery, consumer: str, *, failed: bool = False) -> bool:
        """Hand an entry back so anyone may claim it now; failed=True counts the delivery as an attempt."""
        args: list[Arg] = [GROUP, delivery.entry_id, consumer, RELEASED_IDLE_MS, "1" if failed else "0"]
        return int(await self._s.release(keys=[delivery.stream], args=args)) == 1

    # -- reclaim ------------------------------------------------------------

    async def sweep(self, min_idle_ms: int | None = None, count: int = 100) -> list[DeadLetter]:
        """Pass once over every stream: dead-letter expired entries delivered max times, release the others."""
        idle = self.min_idle_ms if min_idle_ms is None else min_idle_ms
        out: list[DeadLetter] = []
        for account in await self.queue_accounts():
            stream = self.keys.queue(account)
            for _ in range(1000):
                cursor = self._sweep_cursor.get(stream, "0-0")
                args: list[Arg] = [GROUP, idle, cursor, count, self.max_deliveries, RELEASED_IDLE_MS]
                nxt, dead = await self._s.sweep(keys=[stream, self.keys.dead, self.keys.failed], args=args)
                self._sweep_cursor[stream] = str(nxt)
                for d in dead:
                    letter = DeadLetter(account, str(d[0]), str(d[1]), int(d[2]), str(d[3]))
                    self._on_dead(letter)
                    out.append(letter)
                if str(nxt) == "0-0":
                    break
        return out

    async def dead_letters(self) -> list[DeadLetter]:
        """Return every entry of the dead-letter stream."""
        out = []
        for entry_id, raw in await self.redis.xrange(self.keys.dead) or []:
            f = _sdict(raw)
            account = self.keys.account_of(f["stream"]) if f.get("stream") else ""
            gid, n = f.get("g", ""), int(f.get("deliveries", 0))
            out.append(DeadLetter(account, f.get("id", _s(entry_id)), gid, n, f.get("p", ""), f.get("reason", "")))
        return out

    # -- figures ------------------------------------------------------------

    async def queue_accounts(self) -> list[str]:
        """Accounts that have a queue stream in this job."""
        return sorted(_parse_backlog(_sdict(await self.redis.hgetall(self.keys.backlog))))

    async def progress(self) -> Progress:
        """Return completed files, bytes, groups and steals per machine:account."""
        raw = _sdict(await self.redis.hgetall(self.keys.progress))
        per: dict[str, dict[str, int]] = {}
        for key, value in raw.items():
            consumer, _, metric = key.rpartition(":")
            per.setdefault(consumer, {})[metric] = int(value)
        rows = []
        for consumer, m in sorted(per.items()):
            machine, account = split_consumer(consumer)
            counters = Counters(m.get("files", 0), m.get("bytes", 0), m.get("groups", 0), m.get("steals", 0))
            rows.append(ConsumerProgress(machine, account, counters))
        return Progress(tuple(rows))

    async def remaining(self) -> Remaining:
        """Return what is left: totals, unstarted work per account and entries in flight."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.scard(self.keys.enqueued)
            pipe.scard(self.keys.done)
            pipe.scard(self.keys.failed)
            pipe.hgetall(self.keys.backlog)
            total, done, failed, backlog_raw = await pipe.execute()
        backlog = _parse_backlog(_sdict(backlog_raw))
        async with self.redis.pipeline(transaction=False) as pipe:
            for account in backlog:
                pipe.xpending(self.keys.queue(account), GROUP)
            pendings = await pipe.execute(raise_on_error=False)
        in_flight = sum(int(p["pending"]) for p in pendings if isinstance(p, dict))
        return Remaining(int(total), int(done), int(failed), in_flight, backlog)

    async def is_done(self) -> bool:
        """Whether the plan is fully enqueued and every group is done or dead-lettered."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.meta, "state")
            pipe.scard(self.keys.enqueued)
            pipe.scard(self.keys.done)
            pipe.scard(self.keys.failed)
            state, total, done, failed = await pipe.execute()
        state = _s(state) if state is not None else None
        if state == "done":
            return True
        return state == "running" and int(total) - int(done) - int(failed) <= 0

    async def meta(self) -> dict[str, str]:
        """Return the job's meta hash."""
        return _sdict(await self.redis.hgetall(self.keys.meta))

    async def set_meta(self, fields: Mapping[str, str | int | float]) -> None:
        """Store fields of the job's meta hash."""
        if fields:
            mapping: dict[Any, Any] = dict(fields)
            await self.redis.hset(self.keys.meta, mapping=mapping)


def _parse_backlog(raw: Mapping[str, str]) -> dict[str, Counters]:
    per: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        account, _, metric = key.rpartition(":")
        if metric in _METRICS:
            per.setdefault(account, {})[metric] = int(value)
    return {a: Counters(m.get("files", 0), m.get("bytes", 0), m.get("groups", 0)) for a, m in per.items()}
