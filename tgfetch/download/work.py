"""The records the download stage passes around: a file to fetch, a group's work, a pick.

`GroupWork` is the unit that moves between accounts (an album is never split);
it changes only through its methods, called by the scheduler and the engine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from tgfetch.model import MessageGroup, MessageInfo

__all__ = ["FileTask", "GroupWork", "Pick", "PickKind"]


@dataclass(frozen=True)
class FileTask:
    """One file to download: the message and where it goes (relative path)."""

    info: MessageInfo
    rel: PurePosixPath
    album_index: int | None
    album_size: int
    album_caption: str


@dataclass(eq=False)
class GroupWork:
    """A group (album or single) with the files still to download."""

    group: MessageGroup
    files: list[FileTask]
    planned: str
    owner: str = ""
    copies: set[str] = field(default_factory=set)
    done_ids: set[int] = field(default_factory=set)
    finishing: set[int] = field(default_factory=set)  # fetched; being fsynced and renamed
    failed: set[int] = field(default_factory=set)  # gave up for this run (a rerun tries again)
    # Backups race for the whole group: the first copy to have every file wins it, so one
    # account downloads every file of an album.
    winner: str | None = None
    partial: int = 0  # bytes of unfinished files already fetched by the owner
    resumed: dict[int, int] = field(default_factory=dict)  # bytes already in .part files from earlier runs

    def lost_by(self, name: str) -> bool:
        """True when another copy has won this group."""
        return self.winner is not None and self.winner != name

    @property
    def remaining(self) -> list[FileTask]:
        """Files of the group not fetched yet (read-only: may be `files` itself)."""
        if not (self.done_ids or self.finishing or self.failed):
            return self.files
        settled = self.done_ids | self.finishing | self.failed
        return [f for f in self.files if f.info.key not in settled]

    @property
    def bytes_left(self) -> int:
        """Bytes still to fetch."""
        left = sum(f.info.file_size - self.resumed.get(f.info.key, 0) for f in self.remaining)
        return max(0, left - self.partial)

    def settled(self, message_id: int) -> bool:
        """True when the file is on disk or being renamed into place."""
        return message_id in self.done_ids or message_id in self.finishing

    def assign(self, name: str) -> None:
        """`name` owns the group and works on it."""
        self.owner = name
        self.copies.add(name)

    def add_partial(self, nbytes: int) -> None:
        """The owner fetched `nbytes` more of an unfinished file (negative: gave them back)."""
        self.partial += nbytes

    def resume_at(self, message_id: int, offset: int) -> None:
        """The file's `.part` already holds `offset` bytes (an earlier run or owner)."""
        self.resumed[message_id] = offset

    def fetched(self, message_id: int) -> None:
        """The file is fetched and is being fsynced and renamed."""
        self.finishing.add(message_id)

    def unfetched(self, message_id: int) -> None:
        """The file's rename is over (done or failed)."""
        self.finishing.discard(message_id)

    def done(self, message_id: int) -> None:
        """The file is on disk (by whichever copy)."""
        self.done_ids.add(message_id)

    def fail(self, message_id: int) -> None:
        """The file is given up for this run."""
        self.failed.add(message_id)

    def win(self, name: str) -> None:
        """`name` has the whole group: the other copies stop."""
        self.winner = name


class PickKind(enum.StrEnum):
    """Why a client's slot got a group."""

    OWN = "own"  # from its own queue
    RELEASED = "released"  # handed back by a dead or long flood-waited client
    STEAL = "steal"  # an unstarted group of a more loaded client
    MIGRATE = "migrate"  # a group a much slower client started: its .part files continue here
    BACKUP = "backup"  # a second copy of a slow client's group in flight; the first to finish wins


@dataclass(frozen=True)
class Pick:
    """A group handed to a client, and why."""

    work: GroupWork
    kind: PickKind
    victim: str | None = None
