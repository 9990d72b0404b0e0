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
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tgfetch.config import Settings
from tgfetch.errors import TelegramAccessError, TgfetchError, UsageError
from tgfetch.model import MessageCollection, MessageInfo
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


class _Scanner:
    def __init__(self, accounts: Mapping[str, Account], pool: BatchPool, settings: Settings) -> None:
        self.accounts = accounts
        self.pool = pool
        self.settings = settings
        self.found: dict[int, tuple[MessageInfo, str]] = {}
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
            return await acc.fetch(self.pool.ids(k), timeout=s.grouping_timeout)

        def failed(attempt: int, exc: BaseException) -> None:
            log.info("%s: batch %d failed (%s), attempt %d", acc.name, k, exc, attempt + 1)

        try:
            return await SCAN_RETRY.with_retries(s.grouping_max_retries).run(
                call, retry_on=(Transient,), on_retry=failed
            )
        except Transient as exc:
            failed(s.grouping_max_retries, exc)
            return None

    def record(self, name: str, msgs: list[Any]) -> None:
        for m in msgs:
            info = to_message_info(m)
            if info is not None:
                self.found.setdefault(info.message_id, (info, name))


async def _complete_edges(
    sc: _Scanner, first_id: int, last_id: int, top_id: int
) -> tuple[int, list[int], list[int]]:
    """Fetch the ids just outside the range for albums at its edges; return calls, checked, completed."""
    alive = [a for a in sc.accounts.values() if a.dead is None]
    calls: int = 0
    checked: list[int] = []
    completed: list[int] = []
    edges = []
    if (m := sc.found.get(first_id)) and m[0].media_group_id is not None and first_id > 1:
        edges.append((m[0].media_group_id, list(range(max(1, first_id - ALBUM_SPAN + 1), first_id))))
    if (m := sc.found.get(last_id)) and m[0].media_group_id is not None and last_id < top_id:
        edges.append((m[0].media_group_id, list(range(last_id + 1, min(top_id, last_id + ALBUM_SPAN - 1) + 1))))
    for album, ids in edges:
        for acc in alive:
            if acc.dead is not None or acc.flood_wait_left > acc.handoff_seconds:
                continue  # its flood gate would refuse without calling Telegram
            calls += 1
            try:
                msgs = await acc.fetch(ids, timeout=sc.settings.grouping_timeout)
            except (Transient, FloodWait, AccountDead):
                continue
            infos = [i for i in map(to_message_info, msgs) if i is not None and i.media_group_id == album]
            for info in infos:
                sc.found.setdefault(info.message_id, (info, acc.name))
            checked.append(album)
            if infos:
                completed.append(album)
            break
    return calls, checked, completed


async def scan_accounts(
    accounts: Mapping[str, Account], channel: ChannelRef, first_id: int, last_id: int, settings: Settings,
    top_id: int,
) -> ScanResult:
    """Scan ids first_id..last_id with every account in parallel."""
    if not accounts:
        raise UsageError("no accounts to scan with")
    pool = BatchPool(first_id, last_id, settings.grouping_batch_size, list(accounts))
    sc = _Scanner(accounts, pool, settings)
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
    edge_calls, checked, completed = await _complete_edges(sc, first_id, last_id, top_id)
    return _result(sc, channel, first_id, last_id, top_id, edge_calls, checked, completed)


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
        scanned_by={mid: name for mid, (_, name) in sc.found.items()},
        completed_albums=tuple(completed), partial_albums=partial,
        range_calls=sc.range_calls, edge_calls=edge_calls,
        rpc_calls={n: a.rpc_counts() for n, a in sc.accounts.items()}, dead_clients=tuple(sc.dead),
    )


def _touches_edge(lo: int, hi: int, first_id: int, last_id: int, top_id: int) -> bool:
    return (lo == first_id and first_id > 1) or (hi == last_id and last_id < top_id)
