"""One Telegram account as the pipeline uses it: calls, pauses, channel, files.

Every RPC of the pipeline goes through `Account.call`, which counts it, pauses
the whole account on FLOOD_WAIT (other accounts go on), retries short waits,
and raises `FloodWait` for waits longer than the hand-off threshold.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from telethon import TelegramClient
from telethon.tl import functions, types

from tgfetch.model import key_chat, key_id, message_key
from tgfetch.retry import RPC_RETRY
from tgfetch.telegram.convert import FileLocation, to_location
from tgfetch.telegram.peers import ChannelSpec, find_channel, parse_channel
from tgfetch.telegram.rpc import AccountDead, FloodWait, Transient, classify

__all__ = ["Account", "ChannelRef"]

log = logging.getLogger("tgfetch.telegram")
T = TypeVar("T")
REQUEST_SIZE = 512 * 1024
LaneQueue = asyncio.Queue[bytes | BaseException | None]  # chunks of one lane, then None or the error


@dataclass(frozen=True)
class ChannelRef:
    """A resolved channel: its id and how the user named it."""

    channel_id: int
    title: str
    username: str | None
    spec: str
    forum: bool = False  # a forum supergroup: its messages without a topic are in General (topic 1)

    @property
    def key(self) -> str:
        """A short display name (@username or the id)."""
        return f"@{self.username}" if self.username else str(self.channel_id)


class Account:
    """A connected TelegramClient with its own view of the channel."""

    def __init__(self, name: str, client: TelegramClient, *, handoff_seconds: float = 60.0,
                 rpc_timeout: float = 60.0) -> None:
        self.name = name
        self.client = client
        self.handoff_seconds = handoff_seconds
        self.rpc_timeout = rpc_timeout
        self.calls: collections.Counter[str] = collections.Counter()
        self.paused_until = 0.0
        self.flood_waits = 0  # FLOOD_WAITs received
        self.flood_seconds = 0.0  # seconds the account was held by them (overlaps counted once)
        self.dead: str | None = None
        # InputChannel of *this* account for each of the job's chats (0: the first chat).
        self.peers: dict[int, Any] = {}
        self.locations: dict[int, FileLocation] = {}  # by job-wide message key (model.message_key)
        # Download throughput: file bytes over the time at least one getFile was in flight.
        self.net_bytes = 0
        self.net_seconds = 0.0
        self._net_active = 0
        self._net_since = 0.0
        # (busy seconds, bytes) when the first getFile answer arrived: the pipeline is full from
        # then on, so bytes since over busy time since is the speed without the start-up lag.
        self._net_first: tuple[float, int] | None = None
        self.min_rtt = float("inf")  # fastest getFile round trip seen: the per-request latency floor
        # Flood waits are handled here so that only this account pauses.
        client.flood_sleep_threshold = 0

    @property
    def flood_wait_left(self) -> float:
        """Seconds this account must still wait (0 when free)."""
        return max(0.0, self.paused_until - time.monotonic())

    async def _wait_gate(self) -> None:
        while (left := self.flood_wait_left) > 0:
            if left > self.handoff_seconds:
                raise FloodWait(left)
            await asyncio.sleep(left)

    async def call(self, request: Any, *, timeout: float | None = None) -> Any:
        """Send one request; count it; pause on FLOOD_WAIT; translate errors."""
        return await self._rpc(type(request).__name__, lambda: self.client(request), timeout)

    async def _rpc(self, method: str, send: Callable[[], Awaitable[Any]], timeout: float | None) -> Any:
        if self.dead is not None:
            raise AccountDead(self.dead)
        while True:
            await self._wait_gate()
            self.calls[method] += 1
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation.
                async with asyncio.timeout(timeout or self.rpc_timeout):
                    return await send()
            except Exception as exc:  # noqa: BLE001 - translated below
                problem = classify(exc)
                if problem is None:
                    raise
                if isinstance(problem, FloodWait):
                    self.pause(problem.seconds)
                    if problem.seconds > self.handoff_seconds:
                        raise problem from None
                    continue
                if isinstance(problem, AccountDead):
                    self.dead = str(problem)
                if isinstance(problem, Transient):
                    await self.reconnect()
                raise problem from None

    @property
    def net_busy(self) -> float:
        """Seconds so far with at least one getFile in flight."""
        return self.net_seconds + (time.monotonic() - self._net_since if self._net_active else 0.0)

    @property
    def throughput(self) -> float:
        """Measured download speed in bytes/s (0 before any file byte)."""
        busy = self.net_busy
        return self.net_bytes / busy if busy > 0 else 0.0

    @property
    def steady_busy(self) -> float:
        """Seconds of transfer measured since the first getFile answer (0 before it)."""
        return self.net_busy - self._net_first[0] if self._net_first is not None else 0.0

    def speed_estimate(self, prior: float) -> float:
        """Live speed for scheduling: `prior` until 0.3 s of transfers were seen.

        Counted from the first answer on: before it, every slot's requests were in flight
        and no byte was counted yet (several MB for a fast account), which would make a
        slow account look slower still for many seconds.
        """
        busy = self.net_busy
        if busy < 0.3:
            return prior
        if self._net_first is not None and self.steady_busy >= 0.3:
            return max(self.net_bytes - self._net_first[1], 1024) / self.steady_busy
        return max(self.net_bytes, 1024) / busy

    def _net_enter(self) -> None:
        if self._net_active == 0:
            self._net_since = time.monotonic()
        self._net_active += 1

    def _net_exit(self, nbytes: int) -> None:
        self._net_active -= 1
        self.net_bytes += nbytes
        if self._net_active == 0:
            self.net_seconds += time.monotonic() - self._net_since
        if self._net_first is None and nbytes:
            self._net_first = (self.net_busy, self.net_bytes)

    async def retrying(self, call: Callable[[], Awaitable[T]], retries: int) -> T:
        """Run `call`, retrying Transient failures with back-off (dropped connections, timeouts)."""
        return await RPC_RETRY.with_retries(retries).run(call, retry_on=(Transient,))

    def pause(self, seconds: float) -> None:
        """Pause every call of this account for `seconds`."""
        now = time.monotonic()
        until = max(self.paused_until, now + seconds)
        self.flood_waits += 1
        self.flood_seconds += until - max(self.paused_until, now)
        self.paused_until = until
        log.info("%s: flood wait %.0fs", self.name, seconds)

    async def reconnect(self) -> None:
        """Reconnect after a dropped connection: the main sender and other DCs' senders."""
        try:
            if not self.client.is_connected():
                await self.client.connect()
            await self._reconnect_borrowed()
        except (OSError, ConnectionError) as exc:
            raise Transient(f"reconnect failed: {type(exc).__name__}") from None

    async def _reconnect_borrowed(self) -> None:
        """Reconnect file senders of other DCs that lost their connection for good.

        Telethon reconnects a borrowed sender only after it was idle long enough to be
        disconnected on purpose; one whose connection broke stays broken until this.
        """
        c: Any = self.client
        async with c._borrow_sender_lock:
            for dc_id, (state, sender) in list(c._borrowed_senders.items()):
                if state.need_connect() or sender.is_connected():
                    continue
                dc = await c._get_dc(dc_id)
                await sender.connect(c._connection(dc.ip_address, dc.port, dc.id, loggers=c._log,
                                                   proxy=c._proxy, local_addr=c._local_addr))

    @property
    def channel(self) -> Any:
        """This account's InputChannel of the job's first chat (None before `resolve`)."""
        return self.peers.get(0)

    async def resolve(self, spec: str | ChannelSpec, chat: int = 0) -> ChannelRef:
        """Resolve the job's chat number `chat` with this account's own access hash."""
        target = spec if isinstance(spec, ChannelSpec) else parse_channel(spec)
        found = await find_channel(self.client, self.call, target)
        self.peers[chat] = types.InputChannel(found.id, found.access_hash or 0)
        return ChannelRef(found.id, found.title, found.username, target.text, bool(getattr(found, "forum", False)))

    async def top_message_id(self, chat: int = 0) -> int:
        """Return the id of the chat's newest message (0 if empty)."""
        peer = types.InputPeerChannel(self.peers[chat].channel_id, self.peers[chat].access_hash)
        res = await self.call(functions.messages.GetHistoryRequest(
            peer=peer, offset_id=0, offset_date=None, add_offset=0, limit=1, max_id=0, min_id=0, hash=0))
        return max((m.id for m in res.messages), default=0)

    async def fetch(self, ids: Sequence[int], *, chat: int = 0, timeout: float | None = None) -> list[Any]:
        """Fetch messages of the job's chat `chat` by id (≤ 200) and remember their file locations."""
        req = functions.channels.GetMessagesRequest(self.peers[chat], [types.InputMessageID(i) for i in ids])
        res = await self.call(req, timeout=timeout)
        msgs = list(res.messages)
        self.remember(msgs, chat)
        return msgs

    def remember(self, msgs: Sequence[Any], chat: int = 0) -> None:
        """Keep the file locations of messages of the job's chat `chat` this account received."""
        for m in msgs:
            loc = to_location(m)
            if loc is not None:
                self.locations[message_key(chat, loc.message_id)] = loc

    async def fetch_keys(self, keys: Sequence[int], batch: int = 200) -> None:
        """Fetch messages by job-wide key (new file references): one call per chat and `batch` ids."""
        by_chat: dict[int, list[int]] = {}
        for k in keys:
            by_chat.setdefault(key_chat(k), []).append(key_id(k))
        for chat, ids in by_chat.items():
            for i in range(0, len(ids), batch):
                await self.fetch(ids[i:i + batch], chat=chat)

    async def iter_file(self, loc: FileLocation, offset: int, lanes: int) -> AsyncIterator[bytes]:
        """Yield the file's bytes from `offset` in order, `lanes` requests in flight."""
        if offset >= loc.size:
            return
        lanes = max(1, min(lanes, -(-(loc.size - offset) // REQUEST_SIZE)))
        if lanes == 1:
            async for chunk in self._lane(loc, offset, REQUEST_SIZE):
                yield chunk
            return
        queues: list[LaneQueue] = [asyncio.Queue(2) for _ in range(lanes)]
        tasks = [
            asyncio.create_task(self._pump(loc, offset + i * REQUEST_SIZE, lanes * REQUEST_SIZE, queues[i]))
            for i in range(lanes)
        ]
        try:
            i = 0
            while True:
                item = await queues[i % lanes].get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                if len(item) < REQUEST_SIZE:
                    return
                i += 1
        finally:
            await _stop_lanes(tasks, queues)

    async def _pump(self, loc: FileLocation, offset: int, stride: int,
                    out: LaneQueue) -> None:
        try:
            async for chunk in self._lane(loc, offset, stride):
                await out.put(chunk)
            await out.put(None)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            await out.put(exc)

    async def _lane(self, loc: FileLocation, offset: int, stride: int) -> AsyncIterator[bytes]:
        while offset < loc.size:
            chunk: bytes = await self._rpc("GetFileRequest", functools.partial(self._get_chunk, loc, offset), None)
            if not chunk:
                return
            yield chunk
            if len(chunk) < REQUEST_SIZE:
                return
            offset += stride

    async def _get_chunk(self, loc: FileLocation, offset: int) -> bytes:
        self._net_enter()
        got, t0 = 0, time.monotonic()
        try:
            got = len(chunk := await self._get_chunk_raw(loc, offset))
            self.min_rtt = min(self.min_rtt, time.monotonic() - t0)
            return chunk
        finally:
            self._net_exit(got)

    async def _get_chunk_raw(self, loc: FileLocation, offset: int) -> bytes:
        it = self.client.iter_download(
            loc.location, offset=offset, limit=1, request_size=REQUEST_SIZE, file_size=loc.size, dc_id=loc.dc_id)
        async for chunk in it:
            return bytes(chunk)
        return b""

    def rpc_counts(self) -> dict[str, int]:
        """Calls made by the pipeline through this account, per TL method."""
        return dict(self.calls)



async def _stop_lanes(tasks: list[asyncio.Task[None]], queues: list[LaneQueue]) -> None:
    """Cancel the lanes; keep their queues drained so none blocks on a full queue."""
    pending = set(tasks)
    while pending:
        for t in pending:
            t.cancel()
        for q in queues:
            while not q.empty():
                q.get_nowait()
        _, pending = await asyncio.wait(pending, timeout=0.05)
