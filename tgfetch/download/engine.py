"""Run every client's download slots over the scheduler until all groups are done.

Each client has MAX_CONCURRENT_DOWNLOADS_PER_CLIENT slots; a slot takes one
group at a time from the scheduler and hands it to the `Downloader` (files in
order; a backup copy races for the whole group).  A ticker keeps the
scheduler's speed estimates current and rebalances the queues once the speeds
are measured.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Mapping

from tgfetch.aio import wait_event
from tgfetch.download.disk import Disk
from tgfetch.download.group import Downloader
from tgfetch.download.prefetch import Prefetcher
from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.download.work import GroupWork, Pick
from tgfetch.errors import StorageError
from tgfetch.telegram.account import Account
from tgfetch.telegram.rpc import AccessDenied, AccountDead, FloodWait, Transient
from tgfetch.telegram.transfer import QueueLimits
from tgfetch.telegram.window import spare_room

__all__ = ["DownloadEngine"]

log = logging.getLogger("tgfetch.download")
TICK = 0.2  # seconds between speed refreshes
REBALANCE_TICKS = 5  # ticks between rebalances after the first (which waits for measured speeds)
IDLE_WAIT = 0.1  # seconds an idle slot sleeps unless the scheduler announces a change (the end-game's estimates move)
# Slots per account beyond the files it streams at once (`Account.queues`): a spare slot takes its next
# group from its own queue, fetches its messages and opens its `.part` while the others stream, and streams
# as soon as one ends; else the bandwidth of a fast account fetching small files idles for that set-up after
# each file (~0.5 % of a job of three fast accounts).  Only on an account whose window (`Account.window_limit`)
# is set by its measured bandwidth, not the two-part floor (a slow account's two parts keep it busy anyway,
# and a group it holds unstarted could only be taken over, not stolen, by a faster account at the end), and
# while its bytes in flight leave room for another part.
SPARE_SLOTS = 2


class DownloadEngine:
    """The download stage of one job: slots per account over one scheduler."""

    def __init__(self, disk: Disk, scheduler: Scheduler, accounts: Mapping[str, Account],
                 stats: Mapping[str, ClientStats], concurrency: int | None, max_retries: int) -> None:
        """`concurrency`: files in flight per account; None: as the server's download queues allow."""
        self.scheduler = scheduler
        self.accounts = accounts
        self.stats = stats
        self.fixed = concurrency
        self.slots = {n: concurrency or QueueLimits().small for n in accounts}
        self.concurrency = max(self.slots.values(), default=1)
        self.prefetcher = Prefetcher(scheduler, stats, self.concurrency, max_retries)
        self.downloader = Downloader(disk, stats, max_retries, self.prefetcher)
        self._changed = asyncio.Event()
        scheduler.on_change(self._changed.set)

    @property
    def records(self) -> dict[int, FileRecord]:
        """Files this run put on disk, by message id."""
        return self.downloader.records

    @property
    def failures(self) -> dict[int, str]:
        """Files given up in this run, with the reason."""
        return self.downloader.failures

    async def run(self) -> None:
        """Download until every group is done or nobody is left to download."""
        try:
            await self._run()
        finally:
            await self.downloader.disk.drain()  # files already fetched are always finished, even on Ctrl-C
        if self.downloader.fatal is not None:
            raise self.downloader.fatal

    async def _queues(self) -> None:
        """Without MAX_CONCURRENT_DOWNLOADS_PER_CLIENT each account runs as many files as its server's
        small-file queue allows, big files (LARGE_FILE and up) in turns of its large-file queue per DC."""
        if self.fixed is not None:
            for name, acc in self.accounts.items():
                acc.queues.use(None, self.fixed)
                self.scheduler.clients[name].slots = self.fixed
            return
        limits = await asyncio.gather(*(acc.download_limits() for acc in self.accounts.values()))
        for (name, acc), lim in zip(self.accounts.items(), limits, strict=True):
            acc.queues.use(lim, lim.small)
            self.slots[name] = self.scheduler.clients[name].slots = lim.small
        self.concurrency = self.prefetcher.concurrency = max(self.slots.values(), default=1)

    async def _run(self) -> None:
        await self._queues()
        slots = [asyncio.create_task(self._slot(n)) for n in self.accounts for _ in range(self.slots[n] + SPARE_SLOTS)]
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.gather(*slots)
        finally:
            for t in [*slots, ticker]:
                t.cancel()
            await asyncio.gather(*slots, ticker, return_exceptions=True)

    async def _tick(self) -> None:
        """Keep speed estimates (and so the live view and the steal decisions) current."""
        ticks = itertools.count(1)
        while True:
            await asyncio.sleep(TICK)
            self._refresh_speeds()
            sched = self.scheduler
            due = not sched.rebalanced or sched.rebalance_cut or next(ticks) % REBALANCE_TICKS == 0
            if sched.stealing and sched.warm() and due:
                if moved := sched.rebalance(self._holds):
                    log.info("measured speeds: %d queued groups moved to balance the accounts", moved)

    async def _wait_change(self, timeout: float) -> None:
        self._changed.clear()
        await wait_event(self._changed, timeout)

    async def _slot(self, name: str) -> None:
        acc, st, sched = self.accounts[name], self.stats[name], self.scheduler
        me = sched.clients[name]
        while not sched.finished and self.downloader.fatal is None and me.dead is None:
            if me.paused:
                await self._paused(name)
                continue
            pick = self._pick(acc, st)
            if pick is None:
                st.state = "idle" if st.active == 0 else st.state
                await self._wait_change(IDLE_WAIT)
                continue
            st.slot_started()
            st.state = "downloading"
            try:
                await self._run_pick(acc, pick)
            finally:
                sched.group_left(name, pick.work)
                st.slot_stopped()
        st.finished = time.monotonic()
        if me.dead is None:
            st.state = "done"

    async def _paused(self, name: str) -> None:
        """A handed-off account waits out its FLOOD_WAIT, then takes work again."""
        left = self.accounts[name].flood_wait_left
        if left <= 0:
            self.scheduler.resume(name)
            return
        self.stats[name].state = f"flood-wait {left:.0f}s"
        await self._wait_change(min(left, 1.0))

    async def _run_pick(self, acc: Account, pick: Pick) -> None:
        """Download one pick; an account that cannot go on hands its work to the others."""
        name, sched = acc.name, self.scheduler
        try:
            await self.downloader.download(acc, pick)
        except AccountDead as exc:
            log.warning("%s: account unusable (%s); its work goes to the others", name, exc)
            sched.release(name, str(exc), dead=True)
            self.stats[name].state = f"dead: {exc}"
        except FloodWait as exc:
            if not sched.clients[name].paused:  # the account's other slots hear of the same wait
                log.warning("%s: %s is longer than the hand-off threshold; its work goes to the others", name, exc)
            sched.release(name, str(exc), dead=False)
        except (Transient, AccessDenied) as exc:
            # The group's messages could not be fetched again: its files fail for this run.
            for task in pick.work.remaining:
                self.downloader.failed(name, pick.work, task.info.key, f"cannot fetch message: {exc}")
        except StorageError as exc:
            self.downloader.stop(exc)
            self._changed.set()

    def _pick(self, acc: Account, st: ClientStats) -> Pick | None:
        """The slot's next group: anything while the account streams fewer files than it may, else
        (a spare slot, see SPARE_SLOTS) only from its own queue and only when `spare_room` says so."""
        spare = st.active >= self.slots[acc.name]
        if spare and not spare_room(acc.window_limit(), acc.files.window.used):
            return None
        self._refresh_speeds()
        return self.scheduler.next(acc.name, functools.partial(self._holds, acc.name), own_only=spare)

    def _holds(self, name: str, work: GroupWork) -> bool:
        """Whether `name` can download the group without fetching its messages first."""
        locations = self.accounts[name].locations
        return all(f.info.key in locations for f in work.remaining)

    def _refresh_speeds(self) -> None:
        # A file costs at least one round trip, shared by the client's concurrent slots.  The
        # accounts share this machine and its network, so the typical (median) account's
        # fastest round trip stands for all: a slow account's own requests queue behind its
        # big transfers and would make its per-file cost look many times higher than it is.
        rtts = sorted(acc.min_rtt for acc in self.accounts.values() if acc.min_rtt < float("inf"))
        overhead = rtts[len(rtts) // 2] / self.concurrency if rtts else None
        for name, acc in self.accounts.items():
            c = self.scheduler.clients[name]
            speed = acc.speed_estimate(c.speed)
            # Given-up parts still coming hold the account's connection up as a flood wait does.
            self.scheduler.update_estimates(name, speed=speed, measured_s=acc.steady_busy,
                                            waiting=acc.flood_wait_left + acc.abandoned_bytes / max(speed, 1.0),
                                            overhead=overhead, latency=self.stats[name].small_file_s)
