"""Scan stage: each account fetches its own slice of the id range, in parallel.

The range is cut into batches of GROUPING_BATCH_SIZE ids, so the number of
getMessages calls is ceil(range / batch) however many accounts share it (the
seed's "zero extra API calls").  An account that finishes early takes half of
the largest slice left; an account that dies or is flood-waited for long gives
its slice back.  Albums cut by the range edges are completed with one extra
call per edge (albums are at most 10 consecutive ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tgfetch.config import Settings
from tgfetch.errors import TelegramAccessError, TgfetchError, UsageError
from tgfetch.model import MessageCollection, MessageInfo, message_key
from tgfetch.retry import SCAN_RETRY
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.convert import to_message_info
from tgfetch.telegram.rpc import AccountDead, FloodWait, Transient

__all__ = ["ALBUM_SPAN", "BatchPool", "ScanResult", "scan_accounts"]

log = logging.getLogger("tgfetch.scan")
ALBUM_SPAN = 10


@dataclass(frozen=True)
class ScanResult:
    """What the scan found and what it cost."""

    channel: ChannelRef
    first_id: int
    last_id: int
    collection: MessageCollection
    scanned_by: dict[int, str]
    completed_albums: tuple[int, ...]
    partial_albums: tuple[int, ...]
    range_calls: int
    edge_calls: int
    rpc_calls: dict[str, dict[str, int]]
    dead_clients: tuple[str, ...] = ()
    chat: int = 0  # the job's chat number of these messages
    commented: dict[int, int] = field(default_factory=dict)  # post id -> comments under it (channels)
    parts: tuple[ScanResult, ...] = ()  # a job of several chats: each chat's own scan (this one merges them)
    method: str = "getMessages"  # what range_calls counts (getReplies for a topic or comments)
    name: str = ""  # the chat as FILTER's `chat` sees it (a comments scan: its channel); "" = channel.key
    is_comments: bool = False  # the comments under a channel's posts

    @property
    def chat_name(self) -> str:
        """The chat as FILTER's `chat` field sees it."""
        return self.name or self.channel.key

    @property
    def label(self) -> str:
        """How reports name this scan's chat: `@name`, or `@name comments`."""
        return f"{self.chat_name} comments" if self.is_comments else self.chat_name

    @property
    def messages(self) -> list[MessageInfo]:
        """Every scanned message in id order."""
        return self.collection.messages


@dataclass
class BatchPool:
    """Batch indices per account; idle accounts split the largest remaining slice."""

    first_id: int
    last_id: int
    batch: int
    names: list[str]
    slices: dict[str, list[int]] = field(default_factory=dict)
    returned: list[int] = field(default_factory=list)
    releases: int = 0

    def __post_init__(self) -> None:
        total = self.batches
        n = len(self.names)
        for i, name in enumerate(self.names):
            self.slices[name] = [total * i // n, total * (i + 1) // n]

    @property
    def batches(self) -> int:
        """Number of batches covering the range."""
        return -(-(self.last_id - self.first_id + 1) // self.batch)

    def ids(self, k: int) -> list[int]:
        """The message ids of batch k (a small list, never the whole range)."""
        lo = self.first_id + k * self.batch
        return list(range(lo, min(self.last_id, lo + self.batch - 1) + 1))

    def next(self, name: str) -> int | None:
        """The next batch for `name`: its own, a returned one, or half of the largest slice."""
        own = self.slices.get(name)
        if own is not None and own[0] < own[1]:
            own[0] += 1
            return own[0] - 1
        if self.returned:
            return self.returned.pop()
        victim = max(self.slices.values(), key=lambda s: s[1] - s[0], default=None)
        if victim is None or victim[1] - victim[0] <= 0:
            return None
        mid = victim[0] + (victim[1] - victim[0]) // 2
        self.slices[name] = [mid, victim[1]]
        victim[1] = mid
        return self.next(name)

    def release(self, name: str, current: int | None) -> None:
        """Give `name`'s unscanned batches (and the one in hand) back to the others."""
        lo, hi = self.slices.pop(name, [0, 0])
        if current is not None:
            self.returned.append(current)
        if hi > lo:
            self.releases += 1  # a unique key: an earlier release of `name` may still hold batches
            self.slices[f"{name}#released{self.releases}"] = [lo, hi]

    def remaining(self) -> bool:
        """Tell whether any batch is still to be handed out."""
        return bool(self.returned) or any(hi > lo for lo, hi in self.slices.values())


@dataclass
class ListPool(BatchPool):
    """A BatchPool over given ids (message links) instead of a range: batch k is the k-th run of `batch` ids."""

    wanted: list[int] = field(default_factory=list)

    @property
    def batches(self) -> int:
        """Number of batches covering the ids."""
        return -(-len(self.wanted) // self.batch)

    def ids(self, k: int) -> list[int]:
        """The message ids of batch k."""
        return self.wanted[k * self.batch:(k + 1) * self.batch]


class _Scanner:
    def __init__(self, accounts: Mapping[str, Account], pool: BatchPool, settings: Settings, chat: int = 0,
                 forum: bool = False) -> None:
        self.accounts = accounts
        self.pool = pool
        self.settings = settings
        self.chat = chat
        self.forum = forum  # messages without a topic are in General (core.telegram.org/api/forum)
        self.found: dict[int, tuple[MessageInfo, str]] = {}
        self.commented: dict[int, int] = {}
        self.failed: list[int] = []
        self.range_calls = 0
        self.dead: list[str] = []

    async def run_account(self, acc: Account) -> None:
        while (k := self.pool.next(acc.name)) is not None:
            try:
                msgs = await self.fetch_batch(acc, k)
            except (AccountDead, FloodWait) as exc:
                log.warning("%s: %s; its scan slice goes to the other accounts", acc.name, exc)
                self.pool.release(acc.name, k)
                if isinstance(exc, AccountDead):
                    self.dead.append(acc.name)
                return
            if msgs is None:
                self.failed.append(k)
                continue
            self.record(acc.name, msgs)

    async def fetch_batch(self, acc: Account, k: int) -> list[Any] | None:
        """Fetch batch `k`, retrying transient failures; None when every attempt failed."""
        s = self.settings

        async def call() -> list[Any]:
            self.range_calls += 1
            return await acc.fetch(self.pool.ids(k), chat=self.chat, timeout=s.grouping_timeout)

        def failed(attempt: int, exc: BaseException) -> None:
            log.info("%s: batch %d failed (%s), attempt %d", acc.name, k, exc, attempt + 1)

        try:
            return await SCAN_RETRY.with_retries(s.grouping_max_retries).run(
                call, retry_on=(Transient,), on_retry=failed
            )
        except Transient as exc:
            failed(s.grouping_max_retries, exc)
            return None

    def record(self, name: str, msgs: list[Any]) -> list[MessageInfo]:
        out = []
        for m in msgs:
            info = to_message_info(m)
            if info is None:
                continue
            if self.chat or (self.forum and info.topic_id is None):
                info = dataclasses.replace(info, chat=self.chat, topic_id=info.topic_id or (1 if self.forum else None))
            self.found.setdefault(info.message_id, (info, name))
            out.append(info)
            if (replies := getattr(m, "replies", None)) is not None and replies.comments and replies.replies:
                self.commented[info.message_id] = replies.replies
        return out


async def _complete_edges(
    sc: _Scanner, first_id: int, last_id: int, top_id: int, low_edge: bool = True
) -> tuple[int, list[int], list[int]]:
    """Fetch the ids just outside the range for albums at its edges; return calls, checked, completed."""
    alive = [a for a in sc.accounts.values() if a.dead is None]
    calls: int = 0
    checked: list[int] = []
    completed: list[int] = []
    edges = []
    if low_edge and (m := sc.found.get(first_id)) and m[0].media_group_id is not None and first_id > 1:
        edges.append((m[0].media_group_id, list(range(max(1, first_id - ALBUM_SPAN + 1), first_id))))
    if (m := sc.found.get(last_id)) and m[0].media_group_id is not None and last_id < top_id:
        edges.append((m[0].media_group_id, list(range(last_id + 1, min(top_id, last_id + ALBUM_SPAN - 1) + 1))))
    for album, ids in edges:
        for acc in alive:
            if acc.dead is not None or acc.flood_wait_left > acc.handoff_seconds:
                continue  # its flood gate would refuse without calling Telegram
            calls += 1
            try:
                msgs = await acc.fetch(ids, chat=sc.chat, timeout=sc.settings.grouping_timeout)
            except (Transient, FloodWait, AccountDead):
                continue
            albums = [m for m in msgs if getattr(m, "grouped_id", None) == album]
            infos = sc.record(acc.name, albums)
            checked.append(album)
            if infos:
                completed.append(album)
            break
    return calls, checked, completed


async def scan_accounts(
    accounts: Mapping[str, Account], channel: ChannelRef, first_id: int, last_id: int, settings: Settings,
    top_id: int, chat: int = 0, *, low_edge: bool = True,
) -> ScanResult:
    """Scan ids first_id..last_id of the job's chat number `chat` with every account in parallel.

    `low_edge` False: the range starts at an album's first member (no album to complete below it)."""
    if not accounts:
        raise UsageError("no accounts to scan with")
    pool = BatchPool(first_id, last_id, settings.grouping_batch_size, list(accounts))
    sc = _Scanner(accounts, pool, settings, chat, channel.forum)
    await _run_pool(sc, channel)
    edge_calls, checked, completed = await _complete_edges(sc, first_id, last_id, top_id, low_edge)
    if not low_edge and (m := sc.found.get(first_id)) and m[0].media_group_id is not None:
        checked.append(m[0].media_group_id)  # whole: the range starts at its first member
    return _result(sc, channel, first_id, last_id, top_id, edge_calls, checked, completed)


async def _run_pool(sc: _Scanner, channel: ChannelRef) -> None:
    """Fetch every batch of the scanner's pool with every account in parallel."""
    accounts, pool, settings = sc.accounts, sc.pool, sc.settings
    await asyncio.gather(*(sc.run_account(a) for a in accounts.values()))
    if len(sc.dead) == len(accounts):
        raise TelegramAccessError(
            f"every account lost access while scanning {channel.key} ({', '.join(sc.dead)}); state kept")
    # Batches given back and not taken before the others finished.  When only flood-waited
    # accounts are left, wait for the one free soonest rather than drop the batches.
    while pool.remaining():
        alive = [a for a in accounts.values() if a.dead is None]
        if not alive:
            raise TelegramAccessError(
                f"every account lost access while scanning {channel.key} ({', '.join(sc.dead)}); state kept")
        acc = min(alive, key=lambda a: a.flood_wait_left)
        await asyncio.sleep(acc.flood_wait_left)
        await sc.run_account(acc)
    if sc.failed:
        ids = pool.ids(sc.failed[0])
        raise TgfetchError(f"could not fetch message ids {ids[0]}–{ids[-1]} of {channel.key} after "
                           f"{settings.grouping_max_retries} retries")


def _result(sc: _Scanner, channel: ChannelRef, first_id: int, last_id: int, top_id: int, edge_calls: int,
            checked: list[int], completed: list[int]) -> ScanResult:
    infos = [info for info, _ in sc.found.values()]
    collection = MessageCollection.from_messages(infos)
    partial = tuple(
        g.messages[0].media_group_id or 0 for g in collection.groups
        if g.is_media_group and _touches_edge(g.messages[0].message_id, g.messages[-1].message_id,
                                              first_id, last_id, top_id)
        and (g.messages[0].media_group_id not in checked)
    )
    return ScanResult(
        channel=channel, first_id=first_id, last_id=last_id, collection=collection,
        scanned_by={message_key(sc.chat, mid): name for mid, (_, name) in sc.found.items()},
        completed_albums=tuple(completed), partial_albums=partial,
        range_calls=sc.range_calls, edge_calls=edge_calls,
        rpc_calls={n: a.rpc_counts() for n, a in sc.accounts.items()}, dead_clients=tuple(sc.dead),
        chat=sc.chat, commented=dict(sc.commented),
    )


def _touches_edge(lo: int, hi: int, first_id: int, last_id: int, top_id: int) -> bool:
    return (lo == first_id and first_id > 1) or (hi == last_id and last_id < top_id)


async def scan_ids(
    accounts: Mapping[str, Account], channel: ChannelRef, ids: Sequence[int], settings: Settings, top_id: int,
    chat: int = 0, single: frozenset[int] = frozenset(),
) -> ScanResult:
    """Fetch the linked messages (ceil(n/200) getMessages calls shared by the accounts), then the rest
    of their albums from the ids around them (albums are at most ALBUM_SPAN consecutive ids).

    A message in `single` is taken alone, without the rest of its album.
    """
    if not accounts:
        raise UsageError("no accounts to scan with")
    wanted = sorted(set(ids))
    sc = _Scanner(accounts, ListPool(1, top_id, settings.grouping_batch_size, list(accounts), wanted=wanted),
                  settings, chat, channel.forum)
    await _run_pool(sc, channel)
    missing = [i for i in wanted if i not in sc.found]
    if missing:
        log.warning("%s: %d linked message(s) do not exist (deleted?), e.g. %d", channel.key, len(missing), missing[0])
    albums = {info.media_group_id for info, _ in sc.found.values()
              if info.media_group_id is not None and info.message_id not in single}
    near = sorted({j for info, _ in sc.found.values() if info.media_group_id in albums
                   for j in range(max(1, info.message_id - ALBUM_SPAN + 1),
                                  min(top_id, info.message_id + ALBUM_SPAN - 1) + 1)} - sc.found.keys())
    edge = _Scanner(accounts, ListPool(1, top_id, settings.grouping_batch_size, list(accounts), wanted=near),
                    settings, chat, channel.forum)
    await _run_pool(edge, channel)
    for mid, (info, name) in edge.found.items():
        if info.media_group_id in albums:
            sc.found[mid] = (info, name)
    first, last = (wanted[0], wanted[-1]) if wanted else (1, 1)
    result = _result(sc, channel, first, last, top_id, edge.range_calls, list(albums), [])
    return dataclasses.replace(result, completed_albums=tuple(sorted(a for a in albums if a is not None)))
