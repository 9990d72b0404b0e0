"""Download one picked group with one account: the files in order, duplicates linked, races run.

`Downloader` is the engine's unit of work, used by the single-machine engine's
slots and by a cluster worker alike.  It implements `races.RaceHost`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from tgfetch.download import races
from tgfetch.download.disk import Disk
from tgfetch.download.documents import Documents
from tgfetch.download.fetch import FetchResult, FileFailed, fetch_file
from tgfetch.download.files import PartFile
from tgfetch.download.layout import backup_part
from tgfetch.download.stats import SMALL_FILE, ClientStats, FileRecord
from tgfetch.download.work import FileTask, GroupWork, Pick, PickKind
from tgfetch.errors import StorageError
from tgfetch.model import key_chat, key_id
from tgfetch.telegram.account import Account

__all__ = ["Downloader", "Observer", "Prefetch", "Timing"]

log = logging.getLogger("tgfetch.download")

class Observer(Protocol):
    """Who hears of files made final and of failures (tgfetch.notify.JobObserver)."""

    def file_done(self, task: FileTask, rec: FileRecord) -> None: ...
    def file_failed(self, key: int, error: str) -> None: ...


class Timing(Protocol):
    """Who times each file an account fetches (tgfetch.predictions.RoundPredictions)."""

    def file_started(self, acc: Account) -> Any: ...
    def file_ended(self, ticket: Any, acc: Account, task: FileTask, result: FetchResult | None) -> None: ...


Prefetch = Callable[[Account, Pick], Awaitable[None]]
"""Make sure the account holds the messages (fresh file references) of the picked group."""


class Downloader:
    """Downloads picked groups; keeps the records, failures and the first fatal error."""

    def __init__(self, disk: Disk, stats: Mapping[str, ClientStats], max_retries: int, prefetch: Prefetch) -> None:
        self.disk = disk
        self.stats = stats
        self.max_retries = max_retries
        self._prefetch = prefetch
        self.holders = races.Holders()
        self.documents = Documents()
        self.records: dict[int, FileRecord] = {}
        self.failures: dict[int, str] = {}
        self.fatal: BaseException | None = None
        self.observer: Observer | None = None  # hears each file made final and each failure (events, hooks)
        self.timing: Timing | None = None  # times each file fetched (learned predictions)

    async def prefetch(self, acc: Account, pick: Pick) -> None:
        """Make sure `acc` holds the picked group's messages."""
        await self._prefetch(acc, pick)

    def stop(self, exc: BaseException) -> None:
        """A fatal error (the disk): stop after the current files; release duplicates waiting."""
        self.fatal = self.fatal or exc
        self.documents.release_all()

    async def download(self, acc: Account, pick: Pick) -> None:
        """Download the picked group's files that are still to do (or race for it)."""
        if pick.kind is PickKind.BACKUP:
            await races.backup(self, acc, pick)
            return
        work = pick.work
        if pick.kind is PickKind.MIGRATE and pick.victim is not None:
            await races.take_over(self, work, pick.victim)
        await self.prefetch(acc, pick)
        for task in work.remaining:
            if work.lost_by(acc.name) or work.owner != acc.name:
                return
            if not work.settled(task.info.key) and not await self._file(acc, pick, task):
                return  # stopped by a race: the group went elsewhere (perhaps to another slot of `acc`)
        if not work.remaining and work.winner is None and work.owner == acc.name:
            races.win(self.holders, work, acc.name)

    async def download_alone(self, acc: Account, work: GroupWork) -> list[FileRecord]:
        """Download one group with one account, with no scheduler (multi-machine mode).

        Returns the group's records once every file is fsynced, renamed and recorded;
        raises FileFailed when a file could not be downloaded.
        """
        work.assign(acc.name)
        try:
            await self.download(acc, Pick(work, PickKind.OWN))
        finally:
            await self.disk.drain()
        if self.fatal is not None:
            raise self.fatal
        failed = [f.info.key for f in work.files if f.info.key in self.failures]
        if failed:
            raise FileFailed(f"messages {[key_id(k) for k in failed]} failed: {self.failures[failed[0]]}")
        return [self.records[f.info.key] for f in work.files if f.info.key in self.records]

    async def _file(self, acc: Account, pick: Pick, task: FileTask) -> bool:
        """One file of the picked group; False when a race stopped it (its `.part` stays) or the
        group moved while it waited for the document's first copy."""
        work = pick.work
        first = await self._first_copy(task)
        if work.lost_by(acc.name) or work.owner != acc.name:
            return False  # taken over meanwhile: the new owner links or downloads it
        if first is not None:
            await self._link(acc.name, pick, task, first)
        if first is not None or self.fatal is not None:
            return True
        job = asyncio.create_task(self._download(acc, pick, task))
        self.holders.hold(work, acc.name, job)
        try:
            await job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.holders.stopped(job) or (current and current.cancelling()):
                raise
            return False  # the group goes on elsewhere: the document's later copies still wait for it
        except FileFailed as exc:
            self.failed(acc.name, work, task.info.key, str(exc))
        finally:
            self.holders.drop(work, job)
            if not self.holders.stopped(job) and not work.settled(task.info.key) and not self.holders.anyone(work):
                self.documents.given_up(task)
        return True

    def failed(self, name: str, work: GroupWork, key: int, error: str) -> None:
        """Give one file up for this run (a rerun tries again); `key` is its job-wide message key."""
        work.fail(key)
        self.failures[key] = error
        self.stats[name].errors += 1
        self.disk.store_of(key_chat(key)).record_failure(key_id(key), error)
        if self.observer is not None:
            self.observer.file_failed(key, error)
        log.error("%s: message %d: %s", name, key_id(key), error)

    async def _first_copy(self, task: FileTask) -> FileRecord | None:
        """The record of the document's first copy once it is on disk; None when `task` downloads
        the file itself (it is the first copy, or the first copy was given up)."""
        first = self.documents.first_of(task)
        if first is None:
            return None
        try:
            return await asyncio.shield(first.record)
        except asyncio.CancelledError:
            if first.record.cancelled():
                return None  # the first copy failed: download this one
            raise

    async def _link(self, name: str, pick: Pick, task: FileTask, rec: FileRecord) -> None:
        await self.disk.run(self.disk.link, name, task, rec)
        self._committed(name, pick, task, rec.sha256, linked_from=rec.message_id)

    async def _download(self, acc: Account, pick: Pick, task: FileTask) -> None:
        work = pick.work
        backup = pick.kind is PickKind.BACKUP
        part = PartFile(self.disk.final(task),
                        backup_part(self.disk.root_of(task), acc.name, task.info.key) if backup else None)
        counted = 0

        def progress(n: int) -> None:
            nonlocal counted
            if work.owner == acc.name:
                counted += n
                work.add_partial(n)

        try:
            await self.fetch(acc, task, part, progress)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and work.lost_by(acc.name):
                part.discard()
            else:
                part.close()
            raise
        finally:
            work.add_partial(-counted)
        if work.lost_by(acc.name):
            part.discard()
            return
        work.fetched(task.info.key)
        self.finish_later(acc.name, pick, task, part)

    async def fetch(self, acc: Account, task: FileTask, part: PartFile,
                    on_chunk: Callable[[int], None] | None = None) -> FetchResult:
        """Fill `part` with one file through `acc` (counted, retried, resumable; timed)."""
        timing = self.timing
        ticket = timing.file_started(acc) if timing is not None else None
        result: FetchResult | None = None
        t0 = time.monotonic()
        try:
            result = await fetch_file(acc, task, part, self.stats[acc.name], max_retries=self.max_retries,
                                      on_bytes=self.disk.store_of(task.info.chat).add_fetched_bytes,
                                      executor=self.disk.executor, on_chunk=on_chunk)
            if task.info.file_size <= SMALL_FILE:
                self.stats[acc.name].small_file_took(time.monotonic() - t0)
            return result
        finally:
            if timing is not None:
                timing.file_ended(ticket, acc, task, result)

    def finish_later(self, name: str, pick: Pick, task: FileTask, part: PartFile) -> None:
        """fsync + rename + record in the background (never cut in half by a cancellation)
        while the slot already fetches its next file."""
        self.disk.spawn(pick.work, self._finish(name, pick, task, part))

    async def _finish(self, name: str, pick: Pick, task: FileTask, part: PartFile) -> None:
        try:
            sha = await self.disk.run(self.disk.finalize, name, task, part)
        except StorageError as exc:
            pick.work.unfetched(task.info.key)
            self.stop(exc)
            return
        pick.work.unfetched(task.info.key)
        self._committed(name, pick, task, sha)

    def _committed(self, name: str, pick: Pick, task: FileTask, sha: str, linked_from: int | None = None) -> None:
        key = task.info.key
        pick.work.done(key)
        self.failures.pop(key, None)
        rec = FileRecord(task.info.message_id, task.rel.as_posix(), task.info.file_size, sha, name,
                         linked_from=linked_from, chat=task.info.chat)
        self.records[key] = rec
        if self.observer is not None:
            self.observer.file_done(task, rec)
        st = self.stats[name]
        st.files += 1
        st.current = rec.path
        self.documents.done(task, rec)
