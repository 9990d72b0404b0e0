"""The same document posted twice is downloaded once: later copies wait for the first and link it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tgfetch.download.stats import FileRecord
from tgfetch.download.work import FileTask

__all__ = ["Documents", "FirstCopy"]


@dataclass(frozen=True)
class FirstCopy:
    """The message whose download stands for every message of one document."""

    message_id: int  # its job-wide key
    record: asyncio.Future[FileRecord]


class Documents:
    """First copies by document id; a later message of the same document links the first's file."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, int], FirstCopy] = {}  # by (chat, document id): a copy links in its folder

    def first_of(self, task: FileTask) -> FirstCopy | None:
        """The first copy `task` must wait for, or None when `task` downloads the file itself.

        The first message of a document to ask becomes its first copy (a backup of that
        message is the same copy).
        """
        doc = task.info.document_id
        if doc is None:
            return None
        first = self._first.setdefault(
            (task.info.chat, doc), FirstCopy(task.info.key, asyncio.get_running_loop().create_future()))
        return None if first.message_id == task.info.key else first

    def _own(self, task: FileTask) -> FirstCopy | None:
        first = self._first.get((task.info.chat, task.info.document_id or -1))
        if first is None or first.message_id != task.info.key or first.record.done():
            return None
        return first

    def done(self, task: FileTask, record: FileRecord) -> None:
        """`task` is on disk: if it is a first copy, the messages waiting for it link it now."""
        if (first := self._own(task)) is not None:
            first.record.set_result(record)

    def given_up(self, task: FileTask) -> None:
        """`task` will not be downloaded by anyone now: the first later copy downloads it instead."""
        if (first := self._own(task)) is not None:
            first.record.cancel()

    def release_all(self) -> None:
        """Release everything waiting (a fatal error stops the job): nothing waits forever."""
        for first in self._first.values():
            if not first.record.done():
                first.record.cancel()
