"""Run every client's download slots over the scheduler until all groups are done.

Each client has MAX_CONCURRENT_DOWNLOADS_PER_CLIENT slots; a slot takes one
group at a time from the scheduler and downloads its files in order (a
backup copy goes in reverse order).  A file is recorded done in the state DB
only after its `.part` was fsynced and renamed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tgfetch.download.fetch import FileFailed, fetch_file
from tgfetch.download.files import PartFile, link_or_copy, write_json_atomic
from tgfetch.download.naming import safe_join, sidecar_path
from tgfetch.download.scheduler import FileTask, Pick, Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.errors import StorageError
from tgfetch.store import DoneFile, StateStore
from tgfetch.telegram.account import Account
from tgfetch.telegram.rpc import AccessDenied, AccountDead, FloodWait, Transient

__all__ = ["DownloadEngine", "FileRace"]

log = logging.getLogger("tgfetch.download")
BATCH = 200


@dataclass
class FileRace:
    """The copies of one file in flight; the first to finish wins."""

    winner: str | None = None
    holders: dict[str, asyncio.Task[None]] = field(default_factory=dict)


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
    records: list[FileRecord] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)
    races: dict[int, FileRace] = field(default_factory=dict)
    documents: dict[int, tuple[int, asyncio.Future[FileRecord]]] = field(default_factory=dict)
    fatal: BaseException | None = None

    async def run(self) -> None:
        """Download until every group is done or nobody is left to download."""
        await asyncio.gather(*(self._prefetch(n) for n in self.accounts))
        slots = [asyncio.create_task(self._slot(n)) for n in self.accounts for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*slots)
        finally:
            for t in slots:
                t.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
        if self.fatal is not None:
            raise self.fatal

    async def _prefetch(self, name: str) -> None:
        """Fetch, in batches, the planned messages this account did not scan itself."""
        acc = self.accounts[name]
        missing = [f.info.message_id for w in self.scheduler.clients[name].queue for f in w.remaining
                   if f.info.message_id not in acc.locations]
        try:
            for i in range(0, len(missing), BATCH):
                self.stats[name].refetch_calls += 1
                await acc.fetch(missing[i:i + BATCH])
        except (AccountDead, FloodWait, AccessDenied, Transient) as exc:
            log.warning("%s: cannot prepare its queue (%s); handing it to the others", name, exc)
            self.scheduler.release(name, str(exc), dead=not isinstance(exc, FloodWait | Transient))

    async def _slot(self, name: str) -> None:
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
            pick = sched.next(name)
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
            except StorageError as exc:
                self.fatal = exc
                sched.notify()
            finally:
                sched.group_left(name, pick.work)
                st.slot_stopped()
        st.finished = time.monotonic()
        if me.dead is None:
            st.state = "done"

    async def _group(self, acc: Account, pick: Pick) -> None:
        work = pick.work
        missing = [f.info.message_id for f in work.remaining if f.info.message_id not in acc.locations]
        if missing:
            if pick.victim is not None and pick.kind == "steal":
                missing = self._with_likely_steals(pick.victim, missing)
            for i in range(0, len(missing), BATCH):
                self.stats[acc.name].refetch_calls += 1
                self.stats[acc.name].steal_calls += 1
                await acc.fetch(missing[i:i + BATCH])
        files = work.remaining[::-1] if pick.kind == "backup" else work.remaining
        for task in files:
            if task.info.message_id in work.done_ids:
                continue
            await self._file(acc, pick, task)

    def _with_likely_steals(self, victim: str, ids: list[int]) -> list[int]:
        """Add the victim's next groups to a steal's re-fetch so later steals need no call."""
        out = list(ids)
        for w in reversed(self.scheduler.clients[victim].queue):
            more = [f.info.message_id for f in w.remaining]
            if len(out) + len(more) > BATCH:
                break
            out.extend(more)
        return out

    async def _file(self, acc: Account, pick: Pick, task: FileTask) -> None:
        mid = task.info.message_id
        race = self.races.setdefault(mid, FileRace())
        if race.winner is not None:
            return
        if await self._linked_duplicate(acc.name, pick, task):
            return
        job = asyncio.create_task(self._download(acc, pick, task, race))
        race.holders[acc.name] = job
        try:
            await job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if race.winner is None or race.winner == acc.name or (current and current.cancelling()):
                raise
        except FileFailed as exc:
            self.failures[mid] = str(exc)
            self.stats[acc.name].errors += 1
            self.store.record_failure(mid, str(exc))
            log.error("%s: %s", acc.name, exc)
        finally:
            race.holders.pop(acc.name, None)
            first = self.documents.get(task.info.document_id or -1)
            if first and first[0] == mid and not first[1].done() and race.winner is None and not race.holders:
                first[1].cancel()

    async def _linked_duplicate(self, name: str, pick: Pick, task: FileTask) -> bool:
        doc = task.info.document_id
        if doc is None:
            return False
        first_mid, fut = self.documents.setdefault(
            doc, (task.info.message_id, asyncio.get_running_loop().create_future()))
        if first_mid == task.info.message_id:
            return False  # this message is the document's first copy (or a backup of it)
        try:
            first = await asyncio.shield(fut)
        except asyncio.CancelledError:
            if fut.cancelled():
                return False  # the first copy failed: download this one
            raise
        final = safe_join(self.root, task.rel)
        link_or_copy(self.root / first.path, final)
        self._sidecar(task, final, first.sha256)
        self._commit(name, pick, task, final, first.sha256, linked_from=first.message_id)
        return True

    async def _download(self, acc: Account, pick: Pick, task: FileTask, race: FileRace) -> None:
        final = safe_join(self.root, task.rel)
        backup = pick.kind == "backup"
        part_path = self.root / ".tgfetch-backup" / acc.name / f"{task.info.message_id}.part" if backup else None
        part = PartFile(final, part_path)
        try:
            res = await fetch_file(acc, task, part, self.stats[acc.name], max_retries=self.max_retries,
                                   on_bytes=self.store.add_fetched_bytes)
            if race.winner is not None:
                part.discard()
                return
            race.winner = acc.name
            for other, t in race.holders.items():
                if other != acc.name:
                    t.cancel()
            self._sidecar(task, final, part.sha.hexdigest())
            sha = part.finish()
        except asyncio.CancelledError:
            if race.winner is not None and race.winner != acc.name:
                part.discard()
            else:
                part.close()
            raise
        except BaseException:
            part.close()
            raise
        self.scheduler.observe(acc.name, self.stats[acc.name].speed, res.fetched, res.seconds)
        self._commit(acc.name, pick, task, final, sha)

    def _sidecar(self, task: FileTask, final: Path, sha: str) -> None:
        if task.album_index is None and not task.info.caption:
            return
        i = task.info
        write_json_atomic(sidecar_path(final), {
            "message_id": i.message_id, "album_id": i.media_group_id, "index": task.album_index,
            "album_size": task.album_size, "caption": task.album_caption or i.caption,
            "date": i.date.isoformat() if i.date else None, "file_name": i.file_name,
            "mime_type": i.mime_type, "media_type": i.media_type, "size": i.file_size, "sha256": sha,
        })

    def _commit(self, name: str, pick: Pick, task: FileTask, final: Path, sha: str,
                linked_from: int | None = None) -> None:
        mid = task.info.message_id
        rel = task.rel.as_posix()
        self.store.mark_done(DoneFile(mid, rel, task.info.file_size, sha, name, task.info.document_id, time.time()))
        self.scheduler.file_done(pick.work, mid)
        self.failures.pop(mid, None)
        rec = FileRecord(mid, rel, task.info.file_size, sha, name, linked_from=linked_from)
        self.records.append(rec)
        st = self.stats[name]
        st.files += 1
        st.current = rel
        first = self.documents.get(task.info.document_id or -1)
        if first and first[0] == mid and not first[1].done():
            first[1].set_result(rec)
