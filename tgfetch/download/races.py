"""Races between accounts for one group: migration (a faster account takes a started
group over and continues its .part files) and end-game backups (a second copy of the
whole group; the first copy to have every file wins, so an album stays with one account).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tgfetch.download.fetch import FileFailed
from tgfetch.download.files import ALIGN, PartFile, copy_prefix
from tgfetch.download.naming import safe_join
from tgfetch.download.scheduler import FileTask, GroupWork, Pick
from tgfetch.telegram.account import Account

if TYPE_CHECKING:
    from tgfetch.download.engine import DownloadEngine

__all__ = ["backup", "take_over", "win"]

log = logging.getLogger("tgfetch.download")


async def take_over(engine: DownloadEngine, work: GroupWork, old: str) -> None:
    """Stop the old owner's file (its .part stays) and continue from where it got."""
    job = work.holders.get(old)
    if job is not None:
        job.cancel()
        await asyncio.wait([job])
    for f in work.remaining:
        part = safe_join(engine.root, f.rel)
        size = await engine.disk(_size, part.with_name(part.name + ".part"))
        if size > 0:
            work.resumed[f.info.message_id] = min(size - size % ALIGN, f.info.file_size)


def win(work: GroupWork, name: str) -> None:
    """`name` has the whole group: stop the other copy."""
    work.winner = name
    for other, t in list(work.holders.items()):
        if other != name:
            t.cancel()


async def backup(engine: DownloadEngine, acc: Account, pick: Pick) -> None:
    """Race a slow client for a whole group; the first copy with every file wins."""
    work = pick.work
    await engine.ensure_messages(acc, pick)
    job = asyncio.create_task(_backup_copy(engine, acc, pick))
    work.holders[acc.name] = job
    try:
        await job
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not work.lost_by(acc.name) or (current and current.cancelling()):
            raise
    except FileFailed as exc:
        log.info("%s: backup copy abandoned (%s)", acc.name, exc)
    finally:
        work.holders.pop(acc.name, None)


async def _backup_copy(engine: DownloadEngine, acc: Account, pick: Pick) -> None:
    work = pick.work
    parts: list[tuple[FileTask, PartFile]] = []
    try:
        for task in work.files:
            if work.winner is not None:
                return
            final = safe_join(engine.root, task.rel)
            part = PartFile(final, engine.root / ".tgfetch-backup" / acc.name / f"{task.info.message_id}.part")
            parts.append((task, part))
            if resumed := work.resumed.get(task.info.message_id, 0):
                # The owner's .part below its resume point is final: start from a local copy.
                primary = final.with_name(final.name + ".part")
                await engine.disk(copy_prefix, primary, part.part, resumed)
            await engine.fetch(acc, task, part)
        if work.winner is not None:
            return
        win(work, acc.name)
        while work.finishing:  # the other copy's renames land first, then ours replace them
            await asyncio.sleep(0.005)
        for task, part in parts:
            work.finishing.add(task.info.message_id)
            engine.spawn_finish(acc.name, pick, task, part.final, part)
        parts = []
    finally:
        for _, part in parts:
            part.discard()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
