"""`tgfetch coordinator --watch`: the coordinator follows the channel and enqueues new posts as they arrive.

After the first plan is enqueued, every WATCH_INTERVAL seconds (and at once when one of its accounts
receives an update for the channel) the coordinator asks for the newest id (one getHistory call),
scans the ids above its settled edge, holds back an album at the newest end until no member has
arrived for WATCH_SETTLE_SECONDS (`watch.AlbumSettle`), plans the new groups over the accounts
registered now (albums whole, measured speeds) and enqueues them. The settled edge is kept in the
job's meta on Redis (`watch_last_id`), so a restarted coordinator continues from it, and enqueueing
is idempotent by group id: nothing is queued twice. The job's state is `watching`: workers keep
serving until they are stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError
from telethon import TelegramClient

from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import GroupPayload
from tgfetch.config import Settings
from tgfetch.errors import NetworkError
from tgfetch.job import choose, plan_scan
from tgfetch.model import TaskDistributionResult
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.rpc import RpcProblem
from tgfetch.telegram.scan import scan_accounts
from tgfetch.watch import AlbumSettle, wake_on_posts

__all__ = ["Follower", "follow", "make_payloads"]

log = logging.getLogger("tgfetch.cluster")


def make_payloads(plan: TaskDistributionResult, channel_id: int) -> dict[str, list[GroupPayload]]:
    """Each account's planned groups as queue payloads, largest first."""
    out: dict[str, list[GroupPayload]] = {}
    for a in plan.client_assignments:
        groups = sorted((g for g in a.message_groups if g.total_files), key=lambda g: (-g.total_size, g.first_id))
        out[a.client_name] = [GroupPayload.from_group(channel_id, g, a.client_name) for g in groups]
    return out


@dataclass
class Follower:
    """New posts of one channel, from a settled edge on, planned and enqueued."""

    accounts: Mapping[str, Account]
    ref: ChannelRef
    settings: Settings
    queue: ClusterQueue
    settle: AlbumSettle
    last_id: int  # every id up to here is enqueued (or was in the first plan)

    async def poll(self) -> int:
        """Enqueue what arrived since the settled edge; return how many groups were added."""
        first = next(iter(self.accounts.values()))
        top = await first.retrying(lambda: first.top_message_id(), self.settings.max_file_retries)
        if top <= self.last_id:
            return 0
        scan = self.settle(await scan_accounts(self.accounts, self.ref, self.last_id + 1, top, self.settings, top))
        edge = scan.last_id
        chosen = choose(scan, self.settings)
        added = 0
        if chosen.groups:
            speeds = {a: info.speed_bps for a, info in (await self.queue.accounts()).items()}
            if not speeds:
                return 0  # no worker registered: keep the edge, plan once one is
            plan = await plan_scan(scan, sorted(speeds), self.settings, {k: v for k, v in speeds.items() if v > 0},
                                   chosen.collection)
            added = await self.queue.enqueue_plan(make_payloads(plan, self.ref.channel_id), final=False)
        if edge > self.last_id:
            self.last_id = edge
            await self.queue.set_meta({"watch_last_id": edge, "last_id": edge})
        if added:
            log.info("watch: %d new group(s) enqueued (ids up to %d settled)", added, edge)
        return added


async def follow(follower: Follower, clients: Mapping[str, TelegramClient], stop: asyncio.Event) -> None:
    """Poll (and wake on updates) until stop is set; a failed poll is logged and tried again next time."""
    settings = follower.settings
    wake = asyncio.Event()
    undo = wake_on_posts(clients, [follower.ref.channel_id], wake)
    try:
        while not stop.is_set():
            try:
                await follower.poll()
            except (RedisError, NetworkError, RpcProblem) as exc:
                log.warning("watch: polling the channel failed (%s); trying again", exc)
            wait = min(settings.watch_interval, settings.watch_settle_seconds) if follower.settle.held \
                else settings.watch_interval
            await _wait_round(wake, stop, wait)
    finally:
        undo()


async def _wait_round(wake: asyncio.Event, stop: asyncio.Event, interval: float) -> None:
    """Sleep until the next poll: the interval, an update (wake) or stop."""
    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        wake.clear()
