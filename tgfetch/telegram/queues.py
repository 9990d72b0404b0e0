"""An account's download queues: how many files it streams at once, and its large files per DC.

Telegram's apps download at most `small_queue_max_active_operations_count` files at once (5) and
files of LARGE_FILE bytes or more at most `large_queue_max_active_operations_count` at once per DC
(2), as help.getAppConfig says (core.telegram.org/api/files; `transfer.queue_limits`).  The engine
may run more slots than that (spare slots get their next file ready meanwhile): a file streams only
inside `Queues.turn`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tgfetch.telegram.convert import FileLocation
from tgfetch.telegram.transfer import LARGE_FILE, QueueLimits

__all__ = ["Queues"]


class Queues:
    """One account's turns: a stream (`use`'s `files`), and first a large-queue turn for a big file."""

    def __init__(self) -> None:
        self._limits: QueueLimits | None = None  # the server's, when they apply
        self._large: dict[int, asyncio.Semaphore] = {}  # per DC
        self._streams: asyncio.Semaphore | None = None  # None: no limit

    def use(self, limits: QueueLimits | None, files: int) -> None:
        """From now on at most `files` files stream at once, and with the server's `limits` a file
        of LARGE_FILE bytes or more also waits for a turn in its DC's large queue."""
        self._limits = limits
        self._streams = asyncio.Semaphore(files)

    @contextlib.asynccontextmanager
    async def turn(self, loc: FileLocation) -> AsyncIterator[None]:
        """Hold while fetching `loc`: a turn in its DC's large queue when the server's limits apply
        (first: a file waiting for it holds no stream), then one of the streams."""
        large = (self._large.setdefault(loc.dc_id, asyncio.Semaphore(self._limits.large))
                 if self._limits is not None and loc.size >= LARGE_FILE else contextlib.nullcontext())
        async with large, self._streams or contextlib.nullcontext():
            yield
