"""Run every client's download slots over the scheduler until all groups are done.

Each client has MAX_CONCURRENT_DOWNLOADS_PER_CLIENT slots; a slot takes one
group at a time from the scheduler and downloads its files in order (a
backup copy goes in reverse order).  A file is recorded done in the state DB
only after its `.part` was fsynced and renamed.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tgfetch.download import races
from tgfetch.download.fetch import FetchResult, FileFailed, fetch_file
from tgfetch.download.files import PartFile, link_or_copy, write_json_atomic
from tgfetch.download.naming import safe_join, sidecar_path
from tgfetch.download.scheduler import FETCH_BATCH, FileTask, GroupWork, Pick, Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.errors import StorageError
from tgfetch.store import DoneFile, StateStore
from tgfetch.telegram.account import Account
from tgfetch.telegram.rpc import AccessDenied, AccountDead, FloodWait, Transient

__all__ = ["DownloadEngine"]

log = logging.getLogger("tgfetch.download")
T = TypeVar("T")
FILL_LOOKAHEAD = 2000  # queued groups looked at to fill a getMessages batch (bounded for huge queues)
TICK = 0.2  # seconds between speed refreshes
REBALANCE_TICKS = 5  # ticks between rebalances after the first (which waits for measured speeds)


@dataclass
class DownloadEngine:
    """Shared state of one job's download stage."""

    root: Path
    store: StateStore
    scheduler: Scheduler
    accounts: Mapping[str, Account]
    stats: dict[str, ClientStats]
    concurrency: int
    max_retries: int
    records: dict[int, FileRecord] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    documents: dict[int, tuple[int, asyncio.Future[FileRecord]]] = field(default_factory=dict)
    fatal: BaseException | None = None
    # Disk work (open, fsync, rename, state DB) runs here so slow fsyncs overlap.
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(32, "tgfetch-disk"))

    async def disk(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    finalizing: set[asyncio.Task[None]] = field(default_factory=set)
    fetch_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def run(self) -> None:
        """Download until every group is done or nobody is left to download."""
        try:
            await self._run()
        finally:
            # Files already fetched are always finished and recorded, even on Ctrl-C.
            while self.finalizing:
                await asyncio.gather(*self.finalizing, return_exceptions=True)
            self.executor.shutdown(wait=True)
        if self.fatal is not None:
            raise self.fatal

    async def _run(self) -> None:
        slots = [asyncio.create_task(self._slot(n, smallest=i == 0 and self.concurrency > 1))
                 for n in self.accounts for i in range(self.concurrency)]
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
            if sched.stealing and sched.warm() and (not sched.rebalanced or next(ticks) % REBALANCE_TICKS == 0):
                if moved := sched.rebalance(self._holds):
                    log.info("measured speeds: %d queued groups moved to balance the accounts", moved)

    async def download_group(self, acc: Account, work: GroupWork) -> list[FileRecord]:
        """Download one group with one account outside the scheduler (multi-machine mode).

        Returns the group's records once every file is fsynced, renamed and recorded;
        raises FileFailed when a file could not be downloaded.
        """
        work.owner = acc.name
        work.copies.add(acc.name)
        self.scheduler.clients[acc.name].inflight.append(work)
        try:
            await self._group(acc, Pick(work, "own"))
        finally:
            self.scheduler.group_left(acc.name, work)
            while self.finalizing:
                await asyncio.gather(*self.finalizing, return_exceptions=True)
        if self.fatal is not None:
            raise self.fatal
        failed = [f.info.message_id for f in work.files if f.info.message_id in self.failures]
        if failed:
            raise FileFailed(f"messages {failed} failed: {self.failures[failed[0]]}")
        return [self.records[f.info.message_id] for f in work.files if f.info.message_id in self.records]

    async def _slot(self, name: str, *, smallest: bool = False) -> None:
        acc, st, sched = self.accounts[name], self.stats[name], self.scheduler
        me = sched.clients[name]
        while not sched.finished and self.fatal is None and me.dead is None:
            if me.paused:
                if acc.flood_wait_left <= 0:
                    sched.resume(name)
                else:
                    st.state = f"flood-wait {acc.flood_wait_left:.0f}s"
                    await sched.wait_change(min(acc.flood_wait_left, 1.0))
                continue
            self._refresh_speeds()
            pick = sched.next(name, functools.partial(self._holds, name), smallest=smallest)
            if pick is None:
                st.state = "idle" if st.active == 0 else st.state
                await sched.wait_change(0.25)
                continue
            st.slot_started()
            st.state = "downloading"
            try:
                await self._group(acc, pick)
            except AccountDead as exc:
                log.warning("%s: account unusable (%s); its work goes to the others", name, exc)
                sched.release(name, str(exc), dead=True)
                st.state = f"dead: {exc}"
            except FloodWait as exc:
                log.warning("%s: %s is longer than the hand-off threshold; its work goes to the others", name, exc)
                sched.release(name, str(exc), dead=False)
            except (Transient, AccessDenied) as exc:
                # The group's messages could not be fetched again: its files fail for this run.
                for task in pick.work.remaining:
                    self._failed(name, pick.work, task.info.message_id, f"cannot fetch message: {exc}")
            except StorageError as exc:
                self.stop(exc)
            finally:
                sched.group_left(name, pick.work)
                st.slot_stopped()
        st.finished = time.monotonic()
        if me.dead is None:
            st.state = "done"

    def stop(self, exc: BaseException) -> None:
        """A fatal error (the disk): every slot stops after its current file.

        Copies of a document waiting for a first copy that will now never be finished
        are released too, so that nothing waits forever.
        """
        self.fatal = self.fatal or exc
        for _, first in self.documents.values():
            if not first.done():
                first.cancel()
        self.scheduler.notify()

    def _holds(self, name: str, work: GroupWork) -> bool:
        """Whether `name` can download the group without fetching its messages first."""
        locations = self.accounts[name].locations
        return all(f.info.message_id in locations for f in work.remaining)

    def _refresh_speeds(self) -> None:
        # A file costs at least one round trip, shared by the client's concurrent slots.  The
        # accounts share this machine and its network, so the typical (median) account's
        # fastest round trip stands for all: a slow account's own requests queue behind its
        # big transfers and would make its per-file cost look many times higher than it is.
        rtts = sorted(acc.min_rtt for acc in self.accounts.values() if acc.min_rtt < float("inf"))
        floor = rtts[len(rtts) // 2] if rtts else float("inf")
        for name, acc in self.accounts.items():
            c = self.scheduler.clients[name]
            c.speed = acc.speed_estimate(c.speed)
            c.measured_s = acc.steady_busy
            c.waiting = acc.flood_wait_left
            if floor < float("inf"):
                c.overhead = floor / self.concurrency

    async def _group(self, acc: Account, pick: Pick) -> None:
        if pick.kind == "backup":
            await races.backup(self, acc, pick)
            return
        work = pick.work
        if pick.kind == "migrate" and pick.victim is not None:
            await races.take_over(self, work, pick.victim)
        await self.ensure_messages(acc, pick)
        for task in work.remaining:
            if work.lost_by(acc.name) or work.owner != acc.name:
                return
            mid = task.info.message_id
            if mid not in work.done_ids and mid not in work.finishing:
                await self._file(acc, pick, task)
        if not work.remaining and work.winner is None and work.owner == acc.name:
            races.win(work, acc.name)

    async def ensure_messages(self, acc: Account, pick: Pick) -> None:
        """Fetch the picked group's messages if `acc` did not scan them, in one call with the
        groups it will take next (its own queue, from both ends as its slots take them) and,
        with stealing, the spare room filled with groups it may steal later (`_likely_steals`),
        so a batch of up to 200 ids serves many groups and a later steal often needs no call.
        Messages are fetched just before use, so their file references are fresh."""
        files = pick.work.files if pick.kind == "backup" else pick.work.remaining
        lock = self.fetch_locks.setdefault(acc.name, asyncio.Lock())
        async with lock:  # one fetch per account at a time: a slot waiting here may find its group fetched
            ids = [f.info.message_id for f in files if f.info.message_id not in acc.locations]
            if not ids:
                return
            ahead: Iterator[GroupWork] = _both_ends(self.scheduler.clients[acc.name].queue)
            if self.scheduler.stealing:
                ahead = itertools.chain(ahead, self._likely_steals(acc.name, pick.victim))
            for w in itertools.islice(ahead, FILL_LOOKAHEAD):
                more = [f.info.message_id for f in w.files if f.info.message_id not in acc.locations]
                if len(ids) + len(more) > FETCH_BATCH:
                    if len(ids) > FETCH_BATCH - 10:
                        break
                    continue
                ids.extend(more)
            self.stats[acc.name].refetch_calls += 1
            if pick.kind != "own":
                self.stats[acc.name].steal_calls += 1
            await acc.retrying(functools.partial(acc.fetch, ids), self.max_retries)

    def _likely_steals(self, name: str, victim: str | None) -> Iterator[GroupWork]:
        """Queued groups of the other accounts that `name` is most likely to steal later:
        the victim's first, then the others' in turn (the most loaded first), each from the
        groups it would start last outwards.  Which account falls behind is not known yet,
        so a batch's spare room holds a few of everybody's; a later steal of one of them
        needs no call."""
        others = sorted((c for c in self.scheduler.alive if c.name not in (name, victim)),
                        key=lambda c: -c.est_remaining)
        share = 1 - 1 / self.concurrency
        if victim in self.scheduler.clients:
            yield from self.scheduler.clients[victim].tail_order(share)
        tails = [c.tail_order(share) for c in others]
        for w in itertools.chain.from_iterable(itertools.zip_longest(*tails)):
            if w is not None:
                yield w

    async def _file(self, acc: Account, pick: Pick, task: FileTask) -> None:
        mid, work = task.info.message_id, pick.work
        if await self._linked_duplicate(acc.name, pick, task) or self.fatal is not None:
            return
        job = asyncio.create_task(self._download(acc, pick, task))
        work.holders[acc.name] = job
        try:
            await job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            gone = work.lost_by(acc.name) or work.moved_from(acc.name)
            if not gone or (current and current.cancelling()):
                raise
        except FileFailed as exc:
            self._failed(acc.name, work, mid, str(exc))
        finally:
            work.holders.pop(acc.name, None)
            first = self.documents.get(task.info.document_id or -1)
            settled = mid in work.done_ids or mid in work.finishing
            if first and first[0] == mid and not first[1].done() and not settled and not work.holders:
                first[1].cancel()

    def _failed(self, name: str, work: GroupWork, mid: int, error: str) -> None:
        work.failed.add(mid)
        self.failures[mid] = error
        self.stats[name].errors += 1
        self.store.record_failure(mid, error)
        log.error("%s: message %d: %s", name, mid, error)

    async def _linked_duplicate(self, name: str, pick: Pick, task: FileTask) -> bool:
        doc = task.info.document_id
        if doc is None:
            return False
        first_mid, fut = self.documents.setdefault(
            doc, (task.info.message_id, asyncio.get_running_loop().create_future())
        )
        if first_mid == task.info.message_id:
            return False  # this message is the document's first copy (or a backup of it)
        try:
            first = await asyncio.shield(fut)
        except asyncio.CancelledError:
            if fut.cancelled():
                return False  # the first copy failed: download this one
            raise
        final = safe_join(self.root, task.rel)
        await self.disk(self._link, name, task, final, first)
        self._committed(name, pick, task, first.sha256, linked_from=first.message_id)
        return True

    def _link(self, name: str, task: FileTask, final: Path, first: FileRecord) -> None:
        link_or_copy(self.root / first.path, final, self.root)
        self._sidecar(task, final, first.sha256)
        self._record(name, task, first.sha256)

    async def _download(self, acc: Account, pick: Pick, task: FileTask) -> None:
        work = pick.work
        final = safe_join(self.root, task.rel)
        backup = pick.kind == "backup"
        part_path = self.root / ".tgfetch-backup" / acc.name / f"{task.info.message_id}.part" if backup else None
        part = PartFile(final, part_path)
        counted = 0

        def progress(n: int) -> None:
            nonlocal counted
            if work.owner == acc.name:
                counted += n
                work.partial += n

        try:
            res = await self.fetch(acc, task, part, progress)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and work.lost_by(acc.name):
                part.discard()
            else:
                part.close()
            raise
        finally:
            work.partial -= counted
        if work.lost_by(acc.name):
            part.discard()
            return
        pick.work.finishing.add(task.info.message_id)
        self.scheduler.observe(acc.name, acc.throughput, res.fetched, res.seconds)
        self.spawn_finish(acc.name, pick, task, final, part)

    async def fetch(self, acc: Account, task: FileTask, part: PartFile,
                    on_chunk: Callable[[int], None] | None = None) -> FetchResult:
        """Fill `part` with one file through `acc` (counted, retried, resumable)."""
        return await fetch_file(acc, task, part, self.stats[acc.name], max_retries=self.max_retries,
                                on_bytes=self.store.add_fetched_bytes, executor=self.executor, on_chunk=on_chunk)

    def spawn_finish(self, name: str, pick: Pick, task: FileTask, final: Path, part: PartFile) -> None:
        """fsync + rename + record in the background (never cut in half by a cancellation)
        while the slot already fetches its next file."""
        job = asyncio.ensure_future(self._finish(name, pick, task, final, part))
        self.finalizing.add(job)
        job.add_done_callback(self.finalizing.discard)

    async def _finish(self, name: str, pick: Pick, task: FileTask, final: Path, part: PartFile) -> None:
        try:
            sha = await self.disk(self._finalize, name, task, final, part)
        except StorageError as exc:
            pick.work.finishing.discard(task.info.message_id)
            self.stop(exc)
            return
        pick.work.finishing.discard(task.info.message_id)
        self._committed(name, pick, task, sha)

    def _finalize(self, name: str, task: FileTask, final: Path, part: PartFile) -> str:
        """Sidecar, fsync, rename, record done (in a worker thread)."""
        self._sidecar(task, final, part.sha.hexdigest())
        sha = part.finish()
        self._record(name, task, sha)
        # A backup copy won: the owner's own .part of this file (maybe from an earlier run) is stale.
        final.with_name(final.name + ".part").unlink(missing_ok=True)
        return sha

    def _sidecar(self, task: FileTask, final: Path, sha: str) -> None:
        if task.album_index is None and not task.info.caption:
            return
        i = task.info
        write_json_atomic(
            sidecar_path(final),
            {
                "message_id": i.message_id,
                "album_id": i.media_group_id,
                "index": task.album_index,
                "album_size": task.album_size,
                "caption": task.album_caption or i.caption,
                "date": i.date.isoformat() if i.date else None,
                "file_name": i.file_name,
                "mime_type": i.mime_type,
                "media_type": i.media_type,
                "size": i.file_size,
                "sha256": sha,
            },
            self.root,
        )

    def _record(self, name: str, task: FileTask, sha: str) -> None:
        i = task.info
        self.store.mark_done(
            DoneFile(i.message_id, task.rel.as_posix(), i.file_size, sha, name, i.document_id, time.time())
        )

    def _committed(self, name: str, pick: Pick, task: FileTask, sha: str, linked_from: int | None = None) -> None:
        mid = task.info.message_id
        self.scheduler.file_done(pick.work, mid)
        self.failures.pop(mid, None)
        rec = FileRecord(mid, task.rel.as_posix(), task.info.file_size, sha, name, linked_from=linked_from)
        self.records[mid] = rec
        st = self.stats[name]
        st.files += 1
        st.current = rec.path
        first = self.documents.get(task.info.document_id or -1)
        if first and first[0] == mid and not first[1].done():
            first[1].set_result(rec)


def _both_ends(queue: deque[GroupWork]) -> Iterator[GroupWork]:
    """The queue's groups alternately from the front (largest) and the back (smallest), each once."""
    front, back = iter(queue), reversed(queue)
    for k in range(len(queue)):
        yield next(front) if k % 2 == 0 else next(back)
