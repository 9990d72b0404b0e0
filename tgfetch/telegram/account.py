"""One Telegram account as the pipeline uses it: calls, pauses, channel, files.

Every RPC of the pipeline goes through `Account.call`, which counts it, pauses
the whole account on FLOOD_WAIT (other accounts go on), retries short waits,
and raises `FloodWait` for waits longer than the hand-off threshold.  A speed
limit (FLOOD_PREMIUM_WAIT_X, SLOWMODE_WAIT_X) holds that method of the account
for X seconds and repeats the call, however long X is: never a failure nor a
hand-off, but a getFile's wait counts as transfer time, so the account's
measured speed drops and the scheduler moves work away from it.  File parts
(`iter_file`, `transfer.FileParts`) and the server's download queue limits
(`download_limits`) are counted calls too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from telethon import TelegramClient
from telethon import errors as tl_errors
from telethon.tl import functions, types

from tgfetch.model import key_chat, key_id, message_key
from tgfetch.retry import RPC_RETRY
from tgfetch.telegram.convert import FileLocation, to_location
from tgfetch.telegram.peers import ChannelSpec, find_channel, parse_channel
from tgfetch.telegram.queues import Queues
from tgfetch.telegram.rpc import AccountDead, FloodWait, RpcProblem, SpeedLimit, Transient, classify
from tgfetch.telegram.transfer import FileParts, QueueLimits, queue_limits
from tgfetch.telegram.window import window_limit

__all__ = ["Account", "ChannelRef"]

log = logging.getLogger("tgfetch.telegram")
T = TypeVar("T")
WINDOW_WARMUP = 1.0  # seconds of measured transfer before the account's parts in flight are limited


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
        # Told of flood waits, hand-offs and a lost account (state, seconds, detail): the job's events.
        self.on_state: Callable[[str, float | None, str], None] | None = None
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
        self.speed_limits = 0  # FLOOD_PREMIUM_WAIT / SLOWMODE_WAIT answers received
        self.speed_limit_seconds = 0.0  # seconds they held the account's calls (overlaps counted once)
        self._slow_until: dict[str, float] = {}  # per method: when its speed-limit wait ends
        self.files = FileParts(self)
        self._limits: asyncio.Future[QueueLimits] | None = None  # asked once (`download_limits`)
        self.queues = Queues()  # files streaming at once, large files per DC (set by the engine)
        self._abandoned, self._abandoned_at = 0.0, 0.0  # given-up parts' bytes still coming (`abandon`)
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
            await self._slow_gate(method)
            self.calls[method] += 1
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation.
                async with asyncio.timeout(timeout or self.rpc_timeout):
                    return await send()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # this call itself is cancelled
                # The sender cancelled the request: its connection closed with the request in flight.
                raise Transient(f"{method}: the connection closed with the request in flight") from None
            except Exception as exc:  # noqa: BLE001 - translated below
                problem = classify(exc)
                if problem is None:
                    raise
                if isinstance(problem, SpeedLimit):
                    self.slow_down(method, problem.seconds)
                    continue
                if isinstance(problem, FloodWait):
                    self.pause(problem.seconds)
                    if problem.seconds > self.handoff_seconds:
                        self._tell("handed_off", problem.seconds, method)
                        raise problem from None
                    continue
                if isinstance(problem, AccountDead):
                    self.dead = str(problem)
                    self._tell("revoked" if "revoked" in self.dead.lower() else "dead", None, self.dead)
                if isinstance(problem, Transient):
                    await self.reconnect()
                raise problem from None

    async def _slow_gate(self, method: str) -> None:
        while (left := self._slow_until.get(method, 0.0) - time.monotonic()) > 0:
            await asyncio.sleep(left)

    def slow_down(self, method: str, seconds: float) -> None:
        """Hold this account's calls of `method` for `seconds` (a speed limit, not a pause)."""
        now = time.monotonic()
        before = max(self._slow_until.get(method, 0.0), now)
        until = max(before, now + seconds)
        self.speed_limits += 1
        self.speed_limit_seconds += until - before
        self._slow_until[method] = until
        log.info("%s: %s speed limit %.0fs", self.name, method, seconds)

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
        # Telegram answers every call of the window with FLOOD_WAIT: calls already in flight when
        # the first arrived report the same wait, which is one flood wait, not several.
        new = now >= self.paused_until
        longer = until - max(self.paused_until, now)
        self.paused_until = until
        if new or longer >= 1:
            self.flood_waits += new
            self.flood_seconds += longer
            log.info("%s: flood wait %.0fs", self.name, seconds)
            self._tell("flood_wait", seconds, "")

    def _tell(self, state: str, seconds: float | None, detail: str) -> None:
        if self.on_state is not None:
            self.on_state(state, seconds, detail)

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

    def iter_file(self, loc: FileLocation, offset: int, width: int | None = None) -> AsyncGenerator[bytes, None]:
        """The file's bytes from `offset` in order: 1 MiB getFile parts, `width` in flight
        (default: by the bytes left; see `transfer`).  Close it (`contextlib.aclosing`) to stop
        the parts still in flight at once."""
        return self.files.iter_file(loc, offset, width)

    def download_limits(self) -> asyncio.Future[QueueLimits]:
        """Files to download at once from one DC, by size, as the server says (help.getAppConfig,
        asked once, from the first call on in the background: a job asks while it scans; again only
        if that ask was cancelled; Telegram's published values when it cannot be asked)."""
        asked = self._limits
        if asked is None or (asked.done() and (asked.cancelled() or asked.exception() is not None)):
            asked = self._limits = asyncio.ensure_future(self._ask_limits())
            asked.add_done_callback(_retrieve)
        return asked

    async def _ask_limits(self) -> QueueLimits:
        try:
            return queue_limits(await self.call(functions.help.GetAppConfigRequest(hash=0)))
        except (RpcProblem, tl_errors.RPCError) as exc:
            log.info("%s: no app config (%s); default download queues", self.name, exc)
            return QueueLimits()

    def abandon(self, nbytes: int) -> None:
        """Parts given up while their answers were on the way: Telegram sends them all the same
        (MTProto has no cancel that Telethon uses), ahead of what this account asks for next."""
        if nbytes > 0:
            self._abandoned = self.abandoned_bytes + nbytes
            self._abandoned_at = time.monotonic()

    @property
    def abandoned_bytes(self) -> float:
        """Bytes of given-up parts still coming, drained at the measured speed."""
        rate = self.throughput
        left = self._abandoned - rate * (time.monotonic() - self._abandoned_at) if rate > 0 else self._abandoned
        return max(0.0, left)

    def window_limit(self) -> float | None:
        """Bytes of getFile answers worth having in flight (`window.Window`); None until the speed
        has been measured for `WINDOW_WARMUP` s."""
        if self.steady_busy < WINDOW_WARMUP or self.min_rtt == float("inf"):
            return None
        return window_limit(self.speed_estimate(0.0), self.min_rtt)

    def rpc_counts(self) -> dict[str, int]:
        """Calls made by the pipeline through this account, per TL method."""
        return dict(self.calls)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark the outcome of a call nobody may await (the job ended first) as seen."""
    if not fut.cancelled():
        fut.exception()
