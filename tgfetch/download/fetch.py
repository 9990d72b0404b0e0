"""Download one file through one account into its `.part`, resuming and retrying."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from tgfetch.download.files import PartFile
from tgfetch.download.scheduler import FileTask
from tgfetch.download.stats import ClientStats
from tgfetch.errors import TgfetchError
from tgfetch.telegram.account import Account
from tgfetch.telegram.convert import FileLocation
from tgfetch.telegram.rpc import ReferenceExpired, Transient

__all__ = ["FileFailed", "FetchResult", "fetch_file"]

log = logging.getLogger("tgfetch.download")
LANES = 4  # parallel getFile requests for one big file
# Fresh references that expire again at the same byte this many times in a row: give the file up.
EXPIRY_LIMIT = 20
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
    mid = task.info.message_id
    size = task.info.file_size
    # Opening may hash a large .part: off the event loop.
    offset = await asyncio.get_running_loop().run_in_executor(executor, part.open, size)
    start, t0 = offset, time.monotonic()
    failures, failed_at = 0, -1
    expired_at: dict[int, int] = {}
    pending = 0
    try:
        while part.offset < size or size == 0:
            try:
                loc = await _location(acc, mid, stats)
                # After an expiry, one request at a time until the next byte arrives: a parallel
                # lane further on must not spoil the fresh reference for the one that matters.
                lanes = 1 if part.offset in expired_at else LANES
                async for chunk in acc.iter_file(loc, part.offset, lanes):
                    await _write(part, chunk, executor)
                    stats.bytes += len(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                    pending += len(chunk)
                    if pending >= _FLUSH_BYTES and on_bytes is not None:
                        on_bytes(pending)
                        pending = 0
            except ReferenceExpired:
                # A fresh reference that expires again at the same byte will not get better.
                n = expired_at[part.offset] = expired_at.get(part.offset, 0) + 1
                if n > EXPIRY_LIMIT:
                    raise FileFailed(f"message {mid}: file reference keeps expiring at byte {part.offset}") from None
                log.info("%s: file reference of message %d expired at %d; fetching it again",
                         acc.name, mid, part.offset)
                acc.locations.pop(mid, None)
                await asyncio.sleep(0.002 * n)
                continue
            except Transient as exc:
                # Only failures without progress count: a drop that cost one request of a
                # long file is no sign that the file cannot be downloaded.
                failures = failures + 1 if part.offset == failed_at else 1
                failed_at = part.offset
                stats.errors += 1
                if failures > max_retries:
                    raise FileFailed(f"message {mid}: {exc} after {max_retries} retries") from None
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                continue
            if size == 0 or part.offset >= size:
                break
            raise FileFailed(f"message {mid}: Telegram sent {part.offset} of {size} bytes")
    finally:
        if pending and on_bytes is not None:
            on_bytes(pending)  # counted even when interrupted
    if part.offset != size:
        raise FileFailed(f"message {mid}: got {part.offset} bytes, expected {size}")
    return FetchResult(part.offset - start, time.monotonic() - t0)


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


async def _location(acc: Account, mid: int, stats: ClientStats) -> FileLocation:
    loc = acc.locations.get(mid)
    if loc is None:
        stats.refetch_calls += 1
        await acc.refetch_locations([mid])
        loc = acc.locations.get(mid)
        if loc is None:
            raise FileFailed(f"message {mid} no longer has a file (deleted or edited)")
    return loc
