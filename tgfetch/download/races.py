"""Races between accounts for one group: migration and end-game backups.

Migration: a faster account takes a started group over and continues its `.part`
files.  Backup: a second copy of the whole group; the first copy to have every
file wins, so an album stays with one account.  The engine side these need is
the small `RaceHost` interface; `Holders` says which account's task works on
which group right now.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Protocol

from tgfetch.download.disk import Disk
from tgfetch.download.fetch import FetchResult, FileFailed
from tgfetch.download.files import PartFile, copy_prefix
from tgfetch.download.layout import backup_part, file_size, part_path, resume_offset
from tgfetch.download.work import FileTask, GroupWork, Pick
from tgfetch.telegram.account import Account

__all__ = ["Holders", "RaceHost", "backup", "take_over", "win"]

log = logging.getLogger("tgfetch.download")


class Holders:
    """The tasks working on each group right now, with their account.

    An account runs several slots, so it may hold more than one task on a group for a moment
    (a stopped one still finishing its cancellation beside a new one).  A task stopped by a
    race decision (`stop`) is told apart from one cancelled because its slot is."""

    def __init__(self) -> None:
        self._tasks: dict[GroupWork, dict[asyncio.Task[None], str]] = {}
        self._stopped: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()

    def hold(self, work: GroupWork, name: str, task: asyncio.Task[None]) -> None:
        """`name` works on `work` through `task`."""
        self._tasks.setdefault(work, {})[task] = name

    def drop(self, work: GroupWork, task: asyncio.Task[None]) -> None:
        """`task` stopped working on `work`."""
        held = self._tasks.get(work, {})
        held.pop(task, None)
        if not held:
            self._tasks.pop(work, None)

    def of(self, work: GroupWork, name: str) -> list[asyncio.Task[None]]:
        """`name`'s tasks on `work`."""
        return [t for t, n in self._tasks.get(work, {}).items() if n == name]

    def anyone(self, work: GroupWork) -> bool:
        """True when some account works on `work`."""
        return bool(self._tasks.get(work))

    def stop(self, task: asyncio.Task[None]) -> None:
        """Cancel `task` for a race decision (a take-over, a lost race)."""
        self._stopped.add(task)
        task.cancel()

    def stopped(self, task: asyncio.Task[None]) -> bool:
        """True when `task` was cancelled by `stop` (not by its own slot's cancellation)."""
        return task in self._stopped

    def stopping(self, work: GroupWork) -> list[asyncio.Task[None]]:
        """Tasks on `work` stopped but still finishing (their writes to `.part` files)."""
        return [t for t in self._tasks.get(work, {}) if t in self._stopped and not t.done()]

    def cancel_others(self, work: GroupWork, name: str) -> None:
        """Stop every account's task on `work` but `name`'s."""
        for task, other in list(self._tasks.get(work, {}).items()):
            if other != name:
                self.stop(task)


class RaceHost(Protocol):
    """What the races need of the engine."""

    disk: Disk
    holders: Holders

    async def prefetch(self, acc: Account, pick: Pick) -> None:
        """Make sure `acc` holds the messages of the picked group."""

    async def fetch(self, acc: Account, task: FileTask, part: PartFile,
                    on_chunk: Callable[[int], None] | None = None) -> FetchResult:
        """Fill `part` with one file through `acc`."""

    def finish_later(self, name: str, pick: Pick, task: FileTask, part: PartFile) -> None:
        """fsync, rename and record the fetched file in the background."""


async def take_over(host: RaceHost, work: GroupWork, old: str) -> None:
    """Stop the old owner's file (its .part stays) and continue from where it got."""
    for job in host.holders.of(work, old):
        host.holders.stop(job)
    if stopping := host.holders.stopping(work):
        await asyncio.wait(stopping)
    for f in work.remaining:
        size = await host.disk.run(file_size, part_path(host.disk.final(f)))
        if size:
            work.resume_at(f.info.key, resume_offset(size, f.info.file_size))


def win(holders: Holders, work: GroupWork, name: str) -> None:
    """`name` has the whole group: stop the other copy."""
    work.win(name)
    holders.cancel_others(work, name)


async def backup(host: RaceHost, acc: Account, pick: Pick) -> None:
    """Race a slow client for a whole group; the first copy with every file wins."""
    work = pick.work
    await host.prefetch(acc, pick)
    job = asyncio.create_task(_backup_copy(host, acc, pick))
    host.holders.hold(work, acc.name, job)
    try:
        await job
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not host.holders.stopped(job) or (current and current.cancelling()):
            raise
    except FileFailed as exc:
        log.info("%s: backup copy abandoned (%s)", acc.name, exc)
    finally:
        host.holders.drop(work, job)


async def _backup_copy(host: RaceHost, acc: Account, pick: Pick) -> None:
    work = pick.work
    parts: list[tuple[FileTask, PartFile]] = []
    try:
        for task in work.files:
            if work.winner is not None:
                return
            part = PartFile(host.disk.final(task), backup_part(host.disk.root_of(task), acc.name, task.info.key))
            parts.append((task, part))
            if resumed := work.resumed.get(task.info.key, 0):
                # The owner's .part below its resume point is final: start from a local copy.
                await host.disk.run(copy_prefix, part_path(part.final), part.part, resumed)
            await host.fetch(acc, task, part)
        if work.winner is not None:
            return
        win(host.holders, work, acc.name)
        await host.disk.wait_group(work)  # the other copy's renames land first, then ours replace them
        for task, part in parts:
            work.fetched(task.info.key)
            host.finish_later(acc.name, pick, task, part)
        parts = []
    finally:
        for _, part in parts:
            part.discard()
