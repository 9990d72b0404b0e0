"""Per-client counters shown live and in the final report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["SMALL_FILE", "ClientStats", "FileRecord"]

SMALL_FILE = 64 * 1024  # bytes: a file this small costs a slot its per-file work (round trip, local), not bandwidth


@dataclass(frozen=True)
class FileRecord:
    """One media file on disk and the account that downloaded it."""

    message_id: int
    path: str
    size: int
    sha256: str
    client: str
    skipped: bool = False  # done by an earlier run (no download)
    linked_from: int | None = None  # same document as another message
    chat: int = 0  # the job's chat number (model.message_key)


@dataclass
class ClientStats:
    """What one client did during this run."""

    name: str
    files: int = 0
    bytes: int = 0
    errors: int = 0
    refetch_calls: int = 0  # getMessages calls for messages this client did not scan
    steal_calls: int = 0  # the part of refetch_calls caused by steals, hand-overs and backups
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    state: str = "starting"
    current: str = ""
    busy_seconds: float = 0.0
    active: int = 0
    active_since: float = 0.0
    small_file_s: float = 0.0  # seconds a small file holds a slot (moving average; 0: none yet)

    @property
    def seconds(self) -> float:
        """Wall-clock seconds from start until done (or now)."""
        return (self.finished or time.monotonic()) - self.started

    @property
    def speed(self) -> float:
        """Bytes per second while busy."""
        busy = self.busy_seconds + (time.monotonic() - self.active_since if self.active else 0.0)
        return self.bytes / busy if busy > 0 else 0.0

    def slot_started(self) -> None:
        """A download slot became busy."""
        if self.active == 0:
            self.active_since = time.monotonic()
        self.active += 1

    def small_file_took(self, seconds: float) -> None:
        """A small file (`SMALL_FILE` bytes or less: its time is per-file work, not bandwidth) took this long."""
        self.small_file_s = seconds if not self.small_file_s else 0.9 * self.small_file_s + 0.1 * seconds

    def slot_stopped(self) -> None:
        """A download slot became idle."""
        self.active -= 1
        if self.active == 0:
            self.busy_seconds += time.monotonic() - self.active_since
