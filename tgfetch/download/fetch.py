"""Download one file through one account into its `.part`, resuming and retrying.

The bytes come from `Account.iter_file` in order (1 MiB upload.getFile parts, several in flight:
`telegram.transfer`); a `.part` of an earlier attempt continues at its size aligned down to
`layout.ALIGN`, its first part `precise` up to the next 1 MiB boundary.  An expired file reference
(FILE_REFERENCE_EXPIRED) re-fetches the message and continues at the byte reached; a speed limit
(FLOOD_PREMIUM_WAIT) is waited inside the account and never fails the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from tgfetch.download.files import PartFile
from tgfetch.download.stats import ClientStats
from tgfetch.download.work import FileTask
from tgfetch.errors import TgfetchError
from tgfetch.model import key_id
from tgfetch.retry import FILE_RETRY
from tgfetch.telegram.account import Account
from tgfetch.telegram.convert import FileLocation
from tgfetch.telegram.rpc import ReferenceExpired, Transient

__all__ = ["FileFailed", "FetchResult", "fetch_file"]

log = logging.getLogger("tgfetch.download")
# Fresh references that expire again at the same byte this many times in a row: give the file up.
EXPIRY_LIMIT = 20
STALL_LIMIT = 4  # failures without progress, the account's other files moving, allowed per retry
_FLUSH_BYTES = 1 << 20
_OFFLOAD_BYTES = 64 << 10  # chunks this big are written (and hashed) in the disk thread pool


class FileFailed(TgfetchError):
    """A file could not be downloaded after its retries (a rerun tries again)."""


@dataclass(frozen=True)
class FetchResult:
    """A finished `.part`: bytes fetched in this attempt and seconds spent."""

    fetched: int
    seconds: float


async def fetch_file(
    acc: Account,
    task: FileTask,
    part: PartFile,
    stats: ClientStats,
    *,
    max_retries: int,
    on_bytes: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> FetchResult:
    """Fill `part` with the file's bytes; the caller renames it when complete."""
    transfer = _Transfer(acc, task, part, stats, max_retries, on_bytes, executor, on_chunk)
    return await transfer.run()


class _Transfer:
    """One attempt to fill a `.part`: getFile parts in flight, expired references, retries."""

    def __init__(self, acc: Account, task: FileTask, part: PartFile, stats: ClientStats, max_retries: int,
                 on_bytes: Callable[[int], None] | None, executor: Executor | None,
                 on_chunk: Callable[[int], None] | None) -> None:
        self.acc, self.part, self.stats = acc, part, stats
        self.key, self.mid, self.size = task.info.key, task.info.message_id, task.info.file_size
        self.max_retries, self.retry = max_retries, FILE_RETRY.with_retries(max_retries)
        self.on_bytes, self.executor, self.on_chunk = on_bytes, executor, on_chunk
        self.failures, self.failed_at = 0, -1
        self.stalls, self.acc_bytes = 0, -1  # failures in a row without progress; the account's bytes then
        self.expired_at: dict[int, int] = {}
        self.pending = 0  # bytes not yet reported to on_bytes

    async def run(self) -> FetchResult:
        """Fetch until the part holds the whole file."""
        part, size = self.part, self.size
        # Opening may hash a large .part: off the event loop.
        start = await asyncio.get_running_loop().run_in_executor(self.executor, part.open, size)
        t0 = time.monotonic()
        log.debug("%s: message %d: %d bytes from byte %d", self.acc.name, self.mid, size, start)
        try:
            while part.offset < size or size == 0:
                try:
                    await self._stream()
                except ReferenceExpired:
                    await self._expired()
                    continue
                except Transient as exc:
                    await self._transient(exc)
                    continue
                if size == 0 or part.offset >= size:
                    break
                raise FileFailed(f"message {self.mid}: Telegram sent {part.offset} of {size} bytes")
        finally:
            if self.pending and self.on_bytes is not None:
                self.on_bytes(self.pending)  # counted even when interrupted
        if part.offset != size:
            raise FileFailed(f"message {self.mid}: got {part.offset} bytes, expected {size}")
        seconds = time.monotonic() - t0
        log.debug("%s: message %d: fetched %d bytes in %.3fs", self.acc.name, self.mid, part.offset - start, seconds)
        return FetchResult(part.offset - start, seconds)

    async def _stream(self) -> None:
        """Append the file's bytes from the part's offset on."""
        loc = await _location(self.acc, self.key, self.stats)
        # After an expiry, one part at a time until the next byte arrives: a part further on
        # must not spoil the fresh reference for the one that matters.
        width = 1 if self.part.offset in self.expired_at else None
        async with self.acc.queues.turn(loc), \
                contextlib.aclosing(self.acc.iter_file(loc, self.part.offset, width)) as chunks:
            async for chunk in chunks:
                await _write(self.part, chunk, self.executor)
                self._count(len(chunk))

    def _count(self, n: int) -> None:
        self.stats.bytes += n
        if self.on_chunk is not None:
            self.on_chunk(n)
        self.pending += n
        if self.pending >= _FLUSH_BYTES and self.on_bytes is not None:
            self.on_bytes(self.pending)
            self.pending = 0

    async def _expired(self) -> None:
        """Forget the expired reference (the next pass fetches the message again)."""
        at = self.part.offset
        # A fresh reference that expires again at the same byte will not get better.
        n = self.expired_at[at] = self.expired_at.get(at, 0) + 1
        if n > EXPIRY_LIMIT:
            raise FileFailed(f"message {self.mid}: file reference keeps expiring at byte {at}") from None
        log.info("%s: file reference of message %d expired at %d; fetching it again", self.acc.name, self.mid, at)
        self.acc.locations.pop(self.key, None)
        await asyncio.sleep(0.002 * n)

    async def _transient(self, exc: Transient) -> None:
        """Wait before the next pass, or give the file up after too many failures without progress."""
        # Only failures without progress count: a drop that cost one request of a
        # long file is no sign that the file cannot be downloaded.  Nor is a dropped connection
        # that the account's other files got bytes through since (it broke every request in
        # flight, this file's among them): that counts once, bounded by `stalls`.
        moved = self.acc.net_bytes != self.acc_bytes
        if self.part.offset != self.failed_at:
            self.failures = self.stalls = 1
        else:
            self.failures += 0 if moved else 1
            self.stalls += 1
        self.failed_at, self.acc_bytes = self.part.offset, self.acc.net_bytes
        self.stats.errors += 1
        if self.retry.gives_up(self.failures) or self.stalls > STALL_LIMIT * (self.max_retries + 1):
            raise FileFailed(f"message {self.mid}: {exc} after {self.max_retries} retries") from None
        await self.retry.sleep(self.failures - 1)


async def _write(part: PartFile, chunk: bytes, executor: Executor | None) -> None:
    """Append a chunk; a big one off the event loop, so the other transfers keep flowing."""
    if executor is None or len(chunk) < _OFFLOAD_BYTES:
        part.write(chunk)
        return
    done = asyncio.get_running_loop().run_in_executor(executor, part.write, chunk)
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        await asyncio.wait([done])  # the part is closed by the caller: never under a running write
        raise


async def _location(acc: Account, key: int, stats: ClientStats) -> FileLocation:
    loc = acc.locations.get(key)
    if loc is None:
        stats.refetch_calls += 1
        await acc.fetch_keys([key])
        loc = acc.locations.get(key)
        if loc is None:
            raise FileFailed(f"message {key_id(key)} no longer has a file (deleted or edited)")
    return loc
