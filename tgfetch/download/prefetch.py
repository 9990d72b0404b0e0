"""Fetch a picked group's messages just before use, with the groups likely taken next in the same call.

An account must hold a message (its file reference, with its own access hash)
before it can download the file; it holds what it scanned.  Everything else is
fetched here, up to `FETCH_BATCH` ids per getMessages call: the picked group,
then the groups its queue will give next (from both ends, as its slots take
them) and, with stealing, the groups it is most likely to steal later.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import Iterator, Mapping

from tgfetch.download.scheduler import FETCH_BATCH, Scheduler
from tgfetch.download.stats import ClientStats
from tgfetch.download.work import GroupWork, Pick, PickKind
from tgfetch.telegram.account import Account

__all__ = ["Prefetcher", "fetch_missing", "missing_ids"]

FILL_LOOKAHEAD = 2000  # queued groups looked at to fill a batch (bounded for huge queues)
# An album has at most 10 messages: with less room than that left, stop looking for a group that fits.
ALBUM_MAX = 10


def missing_ids(acc: Account, pick: Pick) -> list[int]:
    """Ids of the picked group's messages `acc` does not hold (a backup needs every file)."""
    files = pick.work.files if pick.kind is PickKind.BACKUP else pick.work.remaining
    return [f.info.key for f in files if f.info.key not in acc.locations]


async def fetch_missing(acc: Account, pick: Pick, *, max_retries: int) -> None:
    """Fetch just the picked group's messages `acc` does not hold (multi-machine mode: no queue ahead)."""
    if ids := missing_ids(acc, pick):
        await acc.retrying(functools.partial(acc.fetch_keys, ids), max_retries)


class Prefetcher:
    """The engine's message fetching: one fetch per account at a time, batches filled ahead."""

    def __init__(self, scheduler: Scheduler, stats: Mapping[str, ClientStats], concurrency: int,
                 max_retries: int) -> None:
        self.scheduler = scheduler
        self.stats = stats
        self.concurrency = concurrency
        self.max_retries = max_retries
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, acc: Account, pick: Pick) -> None:
        """Fetch the picked group's messages if `acc` does not hold them, filling the call."""
        lock = self._locks.setdefault(acc.name, asyncio.Lock())
        async with lock:  # a slot waiting here may find its group fetched by the one before
            ids = missing_ids(acc, pick)
            if not ids:
                return
            self._fill(acc, pick, ids)
            self.stats[acc.name].refetch_calls += 1
            if pick.kind is not PickKind.OWN:
                self.stats[acc.name].steal_calls += 1
            await acc.retrying(functools.partial(acc.fetch_keys, ids), self.max_retries)

    def _fill(self, acc: Account, pick: Pick, ids: list[int]) -> None:
        """Add the keys of groups of the same chat taken next to `ids`, up to FETCH_BATCH."""
        ahead: Iterator[GroupWork] = _both_ends(self.scheduler.clients[acc.name].queue)
        if self.scheduler.stealing:
            ahead = itertools.chain(ahead, self._likely_steals(acc.name, pick.victim))
        chat = pick.work.group.messages[0].chat
        for w in itertools.islice(ahead, FILL_LOOKAHEAD):
            if w.group.messages[0].chat != chat:
                continue  # one getMessages call reads one chat
            more = [f.info.key for f in w.files if f.info.key not in acc.locations]
            if len(ids) + len(more) > FETCH_BATCH:
                if len(ids) > FETCH_BATCH - ALBUM_MAX:
                    break
                continue
            ids.extend(more)

    def _likely_steals(self, name: str, victim: str | None) -> Iterator[GroupWork]:
        """Queued groups of the other accounts that `name` is most likely to steal later:
        the victim's first, then the others' in turn (the most loaded first), each from the
        groups it would start last outwards.  Which account falls behind is not known yet,
        so a batch's spare room holds a few of everybody's; a later steal of one of them
        needs no call."""
        others = sorted((c for c in self.scheduler.alive if c.name not in (name, victim)),
                        key=lambda c: -c.est_remaining)
        share = 1 - 1 / self.concurrency
        if victim in self.scheduler.clients:
            yield from self.scheduler.clients[victim].tail_order(share)
        tails = [c.tail_order(share) for c in others]
        for w in itertools.chain.from_iterable(itertools.zip_longest(*tails)):
            if w is not None:
                yield w


def _both_ends(queue: deque[GroupWork]) -> Iterator[GroupWork]:
    """The queue's groups alternately from the front (largest) and the back (smallest), each once."""
    front, back = iter(queue), reversed(queue)
    for k in range(len(queue)):
        yield next(front) if k % 2 == 0 else next(back)
