"""Worker core: one loop per account — read own stream, else steal; process under a lease; complete.

    ┌► read_own ──none──► steal ──none──► done? ──yes──► exit
    │     │                 │               └─no──► wait idle_poll_s ─┐
    │     └──── delivery ◄──┘                                         │
    │  process_group (LeaseKeeper renews) ──ok──► complete ───────────┤
    │     ├─ lease lost ─► cancel, drop                ───────────────┤
    │     ├─ error ──────► release(failed=True)        ───────────────┘
    │     ├─ AccountDead ► release, stop this account
    └─────┴─ stop set ───► cancel, release at once, exit
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from tgfetch.aio import wait_event
from tgfetch.cluster.keys import consumer_name
from tgfetch.cluster.lease import LeaseKeeper
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import Delivery, GroupPayload
from tgfetch.errors import TelegramAccessError
from tgfetch.retry import REDIS_CALL_RETRY, REDIS_OUTAGE_RETRY

__all__ = ["AccountDead", "AccountStats", "ProcessGroup", "WorkerSummary", "run_worker_loop"]

log = logging.getLogger(__name__)

ProcessGroup = Callable[[str, GroupPayload], Coroutine[Any, Any, tuple[int, int]]]
"""Download one group with an account; return (files, bytes)."""


class AccountDead(TelegramAccessError):
    """Raised by process_group when its account can no longer download (the group is handed back)."""


class _Outcome(enum.Enum):
    OK = "ok"
    LOST = "lost"
    FAILED = "failed"
    DEAD = "dead"
    STOPPED = "stopped"


@dataclass
class AccountStats:
    """What one account's loop did."""

    groups: int = 0
    files: int = 0
    bytes: int = 0
    steals: int = 0
    duplicates: int = 0
    lost_leases: int = 0
    failures: int = 0
    released: int = 0
    dead: bool = False
    stopped: bool = False
    group_ids: list[str] = field(default_factory=list)


@dataclass
class WorkerSummary:
    """What a worker process did, per account."""

    machine: str
    accounts: dict[str, AccountStats]
    elapsed_s: float


async def _first(task: asyncio.Task[tuple[int, int]], *events: asyncio.Event) -> None:
    """Wait until the task ends or one of the events is set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def _cancel(task: asyncio.Task[tuple[int, int]], grace_s: float) -> None:
    task.cancel()
    await asyncio.wait([task], timeout=grace_s)


class _AccountLoop:
    """The loop of one account."""

    def __init__(
        self,
        queue: ClusterQueue,
        account: str,
        machine: str,
        process_group: ProcessGroup,
        *,
        lease_s: float,
        stop: asyncio.Event,
        idle_poll_s: float,
        grace_s: float,
    ) -> None:
        self.queue, self.account, self.process_group = queue, account, process_group
        self.consumer = consumer_name(machine, account)
        self.lease_s, self.stop, self.idle_poll_s, self.grace_s = lease_s, stop, idle_poll_s, grace_s
        self.stats = AccountStats()

    async def run(self) -> AccountStats:
        """Work until the job is done, the account dies or stop is set."""
        outages, touched = 0, 0.0
        while not self.stop.is_set():
            try:
                if time.monotonic() - touched > self.lease_s:
                    await self.queue.touch(self.account)
                    touched = time.monotonic()
                d = await self._take()
                if d is None and await self.queue.is_done():
                    break
                outages = 0
            except RedisError as exc:
                log.warning("%s: Redis unavailable (%s); retrying in %.1fs",
                            self.consumer, exc, REDIS_OUTAGE_RETRY.delay(outages))
                await REDIS_OUTAGE_RETRY.sleep(outages, self.stop)
                outages += 1
                continue
            if d is None:
                await wait_event(self.stop, self.idle_poll_s)
                continue
            try:
                outcome = await self._process(d)
            except RedisError as exc:
                # The entry stays pending; its lease expires and whoever steals next takes it over.
                log.warning("%s: Redis failed while finishing %s (%s)", self.consumer, d.payload.group_id, exc)
                continue
            if outcome in (_Outcome.DEAD, _Outcome.STOPPED):
                self.stats.dead = outcome is _Outcome.DEAD
                break
        self.stats.stopped = self.stop.is_set()
        return self.stats

    async def _take(self) -> Delivery | None:
        own = await self.queue.read_own(self.account, self.consumer, 1)
        return own[0] if own else await self.queue.steal(self.account, self.consumer)

    async def _process(self, d: Delivery) -> _Outcome:
        task = asyncio.create_task(self.process_group(self.account, d.payload))
        try:
            async with LeaseKeeper(self.queue, d, self.consumer, self.lease_s) as keeper:
                await _first(task, self.stop, keeper.lost)
        except asyncio.CancelledError:
            await _cancel(task, self.grace_s)
            await asyncio.shield(self._release(d, failed=False))
            raise
        if task.done():
            return await self._finish(d, task)
        await _cancel(task, self.grace_s)
        if keeper.lost.is_set():
            self.stats.lost_leases += 1
            return _Outcome.LOST
        await self._release(d, failed=False)
        return _Outcome.STOPPED

    async def _finish(self, d: Delivery, task: asyncio.Task[tuple[int, int]]) -> _Outcome:
        exc: BaseException | None = asyncio.CancelledError() if task.cancelled() else task.exception()
        if exc is None:
            files, nbytes = task.result()
            ok = await self._retry(lambda: self.queue.complete(d, self.consumer, files, nbytes))
            self._count(d, ok, files, nbytes)
            return _Outcome.OK
        if isinstance(exc, AccountDead):
            log.warning("%s: account unusable (%s); handing its work back", self.consumer, exc)
            await self._release(d, failed=False)
            return _Outcome.DEAD
        log.warning("%s: group %s failed: %r", self.consumer, d.payload.group_id, exc)
        self.stats.failures += 1
        await self._release(d, failed=True)
        return _Outcome.FAILED

    def _count(self, d: Delivery, ok: bool, files: int, nbytes: int) -> None:
        if not ok:
            self.stats.duplicates += 1
            return
        s = self.stats
        s.groups, s.files, s.bytes = s.groups + 1, s.files + files, s.bytes + nbytes
        s.steals += d.account != self.account
        s.group_ids.append(d.payload.group_id)

    async def _release(self, d: Delivery, *, failed: bool) -> None:
        if await self._retry(lambda: self.queue.release(d, self.consumer, failed=failed)):
            self.stats.released += 1

    async def _retry(self, call: Callable[[], Awaitable[bool]]) -> bool:
        """Run an idempotent queue call, retrying while Redis is unreachable."""
        def failed(attempt: int, exc: BaseException) -> None:
            log.warning("%s: Redis call failed (%s); retrying", self.consumer, exc)

        return await REDIS_CALL_RETRY.run(call, retry_on=(RedisError,), on_retry=failed)


async def run_worker_loop(
    queue: ClusterQueue,
    accounts: Sequence[str],
    machine: str,
    process_group: ProcessGroup,
    *,
    stop: asyncio.Event,
    lease_s: float | None = None,
    speeds: Mapping[str, float] | None = None,
    idle_poll_s: float = 0.5,
    grace_s: float = 5.0,
) -> WorkerSummary:
    """Run one loop per account until the job is done or stop is set; return what each did."""
    started = time.monotonic()
    lease = queue.lease_s if lease_s is None else lease_s
    if speeds is not None:
        for account in accounts:
            await queue.register_account(account, machine, speeds.get(account, 0.0))
    loops = [
        _AccountLoop(
            queue, a, machine, process_group, lease_s=lease, stop=stop, idle_poll_s=idle_poll_s, grace_s=grace_s
        )
        for a in accounts
    ]
    stats = await asyncio.gather(*(loop.run() for loop in loops))
    return WorkerSummary(machine, dict(zip(accounts, stats, strict=True)), time.monotonic() - started)
