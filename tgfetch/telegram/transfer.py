"""upload.getFile as tgfetch sends it: 1 MiB parts, several in flight per file, one sender per DC.

Telegram's rules for upload.getFile (core.telegram.org/api/files, "Downloading files"):

- without the `precise` flag: `offset` divisible by 4 KiB, `limit` divisible by 4 KiB, and
  1048576 (1 MiB) divisible by `limit`;
- with `precise`: `offset` and `limit` divisible by 1 KiB, `limit` at most 1048576;
- in any case the part lies within one 1 MiB chunk of the file:
  ``offset // 1048576 == (offset + limit - 1) // 1048576``.

So every part is one whole 1 MiB chunk (offset a multiple of 1 MiB, limit 1 MiB, no flag), except
where a download resumes inside a chunk (`part_at`): that first part runs, `precise`, from the
offset (1 KiB-aligned; `layout.resume_offset` gives 4 KiB) to the chunk's end.  The last part is
asked like the others: Telegram answers the bytes up to the end of the file, and a short answer
ends the file, so it needs no flag either.

Several parts of one file are in flight at once (`parts_in_flight`, by the bytes left) and the
bytes are still yielded in file order.  A file on another DC than the account's goes through an
exported sender of that DC, borrowed once per DC and account (`Telethon._borrow_exported_sender`)
and kept while the client stays connected (Telethon's `disconnect()` closes it; after a reconnect
the next part borrows a new one); FILE_MIGRATE_X moves to DC X.  CDN DCs are out of scope:
`cdn_supported` is never set, so Telegram answers from the file's own DC.

How many files one account fetches at once is the server's to say: help.getAppConfig's
`small_queue_max_active_operations_count` / `large_queue_max_active_operations_count` for files
smaller / bigger than 20 MB downloaded in parallel from one DC (`QueueLimits`).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from telethon import errors as tl_errors
from telethon.tl import functions, types

from tgfetch.telegram.convert import FileLocation
from tgfetch.telegram.window import Window

__all__ = ["MAX_PARTS", "PART", "FileParts", "QueueLimits", "part_at", "part_count", "parts_in_flight",
           "queue_limits"]

PART = 1 << 20  # the largest part Telegram serves, and the 1 MiB chunk no part may cross
PRECISE_ALIGN = 1024  # the offset alignment of a `precise` part
# Parts in flight for one file.  With the server's 2 large files at once, 8 MiB per file keeps
# 16 MiB in flight: 53 MiB/s at a 300 ms round trip, above a fast account's bandwidth.
# bench/transfer.py (one account, 32 MiB/s, 300 ms): 2 parts reach 0.83 of the bandwidth, 4 parts
# 0.91, 8 parts 0.97, 16 parts 0.90 (more parts of the big files queue ahead of the small ones').
MAX_PARTS = 8
LARGE_FILE = 20 * PART  # the small/large queue threshold of core.telegram.org/api/files ("20MB")
GET_FILE = "GetFileRequest"


@dataclass(frozen=True)
class QueueLimits:
    """Files one account should download at once from one DC (help.getAppConfig)."""

    small: int = 5  # small_queue_max_active_operations_count (Telegram sends 5)
    large: int = 2  # large_queue_max_active_operations_count (Telegram sends 2)

    def for_size(self, size: int) -> int:
        """The limit of the queue a file of `size` bytes belongs to."""
        return self.large if size >= LARGE_FILE else self.small


def queue_limits(app_config: Any) -> QueueLimits:
    """Read the two queue limits from a help.appConfig answer (Telegram's values where absent)."""
    found: dict[str, int] = {}
    config = getattr(app_config, "config", None)
    for item in getattr(config, "value", None) or ():
        value = getattr(item, "value", None)
        if isinstance(value, types.JsonNumber) and value.value >= 1:
            found[getattr(item, "key", "")] = int(value.value)
    default = QueueLimits()
    return QueueLimits(found.get("small_queue_max_active_operations_count", default.small),
                       found.get("large_queue_max_active_operations_count", default.large))


def part_at(offset: int) -> tuple[int, int, bool]:
    """The part that starts at `offset`: (offset, limit, precise); see the module's rules."""
    inside = offset % PART
    if inside == 0:
        return offset, PART, False
    if offset % PRECISE_ALIGN:
        raise ValueError(f"offset {offset} is not a multiple of {PRECISE_ALIGN}")
    return offset, PART - inside, True


def part_count(offset: int, size: int) -> int:
    """upload.getFile calls that fetch bytes [offset, size) of a file."""
    if offset >= size:
        return 0
    first_end = offset + part_at(offset)[1]
    return 1 + max(0, -(-(size - first_end) // PART))


def parts_in_flight(left: int) -> int:
    """Parts of one file in flight with `left` bytes to fetch: all of them, up to `MAX_PARTS`."""
    return max(1, min(MAX_PARTS, -(-left // PART)))


class Host(Protocol):
    """What `FileParts` needs of its account: the client, the counted call, the speed meter."""

    client: Any
    min_rtt: float

    async def _rpc(self, method: str, send: Callable[[], Awaitable[Any]], timeout: float | None) -> Any: ...

    def _net_enter(self) -> None: ...

    def _net_exit(self, nbytes: int) -> None: ...

    def abandon(self, nbytes: int) -> None: ...

    def window_limit(self) -> float | None: ...


class FileParts:
    """One account's file downloads: parts in order, several in flight, one sender per DC."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.borrowed = 0  # exported senders borrowed (one per DC while the client stays connected)
        self._senders: dict[int, Any] = {}
        self._lock = asyncio.Lock()
        self.window = Window(host.window_limit)

    async def iter_file(self, loc: FileLocation, offset: int, width: int | None = None) -> AsyncGenerator[bytes, None]:
        """Yield the file's bytes from `offset` in order, `width` parts in flight (default: by size)."""
        width = width or parts_in_flight(loc.size - offset)
        window: collections.deque[tuple[asyncio.Task[bytes], int]] = collections.deque()
        ahead = offset
        try:
            while True:
                while len(window) < width and ahead < loc.size:
                    at, limit, precise = part_at(ahead)
                    task = asyncio.create_task(self.part(loc, at, limit, precise))
                    task.add_done_callback(_consume)
                    window.append((task, min(limit, loc.size - at)))
                    ahead = at + limit
                if not window:
                    return
                task, expected = window.popleft()
                chunk = await task
                if chunk:
                    yield chunk
                if len(chunk) < expected:
                    return  # a short answer ends the file
        except (GeneratorExit, asyncio.CancelledError):
            # Stopped from outside (a take-over, a lost race, Ctrl-C): the parts asked for are still
            # coming down the connection, ahead of anything the account asks for next.
            self.host.abandon(sum(n for t, n in window if not t.done()))
            raise
        finally:
            await _cancel([t for t, _ in window])

    async def part(self, loc: FileLocation, offset: int, limit: int, precise: bool) -> bytes:
        """One getFile through the account's counted call; its waits count as transfer time."""
        host = self.host
        asked = min(limit, loc.size - offset)
        await self.window.acquire(asked)
        host._net_enter()
        got = 0
        try:
            data: bytes = await host._rpc(GET_FILE, functools.partial(self._send, loc, offset, limit, precise), None)
            got = len(data)
            return data
        finally:
            host._net_exit(got)
            self.window.release(asked)

    async def _send(self, loc: FileLocation, offset: int, limit: int, precise: bool) -> bytes:
        req = functions.upload.GetFileRequest(loc.location, offset, limit, precise=precise or None)
        client, dc_id = self.host.client, loc.dc_id
        t0 = time.monotonic()
        for moved in (False, True):
            try:
                res = await client._call(await self.sender(dc_id), req)
                break
            except tl_errors.FileMigrateError as exc:
                if moved:
                    raise
                dc_id = exc.new_dc
            except tl_errors.FloodPremiumWaitError:
                # Telethon keeps this wait per request type and would answer later getFile calls
                # itself with a FLOOD_WAIT (a hand-off); the account's own gate waits instead.
                client._flood_waited_requests.pop(req.CONSTRUCTOR_ID, None)
                raise
        self.host.min_rtt = min(self.host.min_rtt, time.monotonic() - t0)
        return bytes(res.bytes)

    async def sender(self, dc_id: int | None) -> Any:
        """The sender for files of `dc_id`: the client's own, or one borrowed per DC and kept."""
        client = self.host.client
        if not dc_id or dc_id == client.session.dc_id:
            return client._sender
        if (kept := self._kept(dc_id)) is not None:
            return kept
        async with self._lock:
            if (kept := self._kept(dc_id)) is not None:
                return kept
            sender = await client._borrow_exported_sender(dc_id)
            self._senders[dc_id] = sender
            self.borrowed += 1
            return sender

    def _kept(self, dc_id: int) -> Any:
        """The sender borrowed for `dc_id`, unless Telethon let it go (on disconnect)."""
        sender = self._senders.get(dc_id)
        entry = self.host.client._borrowed_senders.get(dc_id)
        return sender if sender is not None and entry is not None and entry[1] is sender else None


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve the error of a part nobody awaits any more (the file stopped before it)."""
    if not task.cancelled():
        task.exception()


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel parts still in flight and wait until they are gone."""
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks)
