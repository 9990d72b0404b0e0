"""`tgfetch watch`: follow chats and download new posts as they arrive, with every account.

The job is opened once (accounts connected, chats resolved, state DBs locked). Each round is a
new-only run (`tgfetch.incremental`): the newest id of each chat (one getHistory call), the new
ids scanned (getMessages, 200 a call), chosen, planned over all accounts (albums whole) and
downloaded. Rounds start every WATCH_INTERVAL seconds, and at once when an account receives an
update for a watched chat (updateNewChannelMessage, core.telegram.org/api/updates).

An album is planned only once it is complete: its members arrive over a second or more, so an
album at the newest end of a chat is held back until no member has been added to it for
WATCH_SETTLE_SECONDS (its ids are scanned again next round: the settled edge stays before it).

Everything is in the state DBs: a watch killed (even with SIGKILL) and started again continues
where the last settled edge is, resuming `.part` files; Ctrl-C ends the round's files in flight
(or leaves them to resume) and exits 130.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from telethon import TelegramClient, events

from tgfetch.config import Settings
from tgfetch.context import JobContext, open_job
from tgfetch.job import JobReport, RunOptions, observing, run_round
from tgfetch.model import MessageCollection, MessageGroup
from tgfetch.targets import Target
from tgfetch.telegram.parts import merge_scans
from tgfetch.telegram.scan import ScanResult

__all__ = ["AlbumSettle", "wake_on_posts", "watch_job"]

log = logging.getLogger("tgfetch")


class AlbumSettle:
    """Albums at a chat's newest end, held back until no member has arrived for `settle_s` seconds."""

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = settle_s
        self.clock = clock
        self._seen: dict[tuple[int, int], tuple[int, float]] = {}  # (chat, album) -> (members, since)
        self.held: set[tuple[int, int]] = set()

    def growing(self, group: MessageGroup) -> bool:
        """Whether the album may still get members (one arrived within the settle time)."""
        key = (group.messages[0].chat, group.messages[0].media_group_id or 0)
        now, count = self.clock(), len(group.messages)
        seen = self._seen.get(key)
        if seen is None or seen[0] != count:
            self._seen[key] = (count, now)
            seen = self._seen[key]
        return now - seen[1] < self.settle_s

    def __call__(self, scan: ScanResult) -> ScanResult:
        """The scan without the albums still growing at each chat's newest end."""
        self.held = set()
        parts = [self._hold(p) for p in (scan.parts or (scan,))]
        return parts[0] if len(parts) == 1 else merge_scans(parts)

    def _hold(self, scan: ScanResult) -> ScanResult:
        groups = scan.collection.groups
        last = max(groups, key=lambda g: g.messages[-1].message_id, default=None)
        if last is None or not last.is_media_group or scan.is_comments or not self.growing(last):
            return scan
        self.held.add((last.messages[0].chat, last.messages[0].media_group_id or 0))
        kept = MessageCollection.of_groups(g for g in groups if g is not last)
        by = {k: v for k, v in scan.scanned_by.items() if all(k != m.key for m in last.messages)}
        # The settled edge stays before the album: the next round scans it again.
        return dataclasses.replace(scan, collection=kept, scanned_by=by, last_id=last.first_id - 1)


async def _refresh_tops(job: JobContext) -> None:
    """Each watched chat's newest id: one getHistory call per chat."""
    acc = next((a for a in job.accounts.values() if a.dead is None), None)
    if acc is None:
        return
    tops = {p.number: await acc.retrying(functools.partial(acc.top_message_id, p.number), 3)
            for p in job.parts if not p.is_comments}
    job.parts = [dataclasses.replace(p, top=tops.get(p.number, p.top)) for p in job.parts]


def wake_on_posts(clients: Mapping[str, TelegramClient], chats: Sequence[int],
                  wake: asyncio.Event) -> Callable[[], None]:
    """Set `wake` when an account receives a new post of one of the chats (by channel id); return the undo."""

    async def on_post(_: Any) -> None:
        wake.set()

    handlers = []
    for client in clients.values():
        handler = client.add_event_handler(on_post, events.NewMessage(chats=chats))
        handlers.append((client, handler))

    def undo() -> None:
        for client, _ in handlers:
            client.remove_event_handler(on_post)

    return undo


async def watch_job(clients: Mapping[str, TelegramClient], targets: Sequence[Target], dest: str | os.PathLike[str],
                    settings: Settings, run: RunOptions, *, on_round: Callable[[JobReport, set[tuple[int, int]]], Any],
                    rounds: int | None = None) -> None:
    """Follow the chats until cancelled (or for `rounds` rounds): a new-only round, then wait for the
    next poll or update; `on_round` sees each round's report and the albums held back."""
    settings = settings.model_copy(update={"new_only": True})
    settle = AlbumSettle(settings.watch_settle_seconds)
    wake = asyncio.Event()
    async with open_job(clients, targets, settings, dest) as job, observing(job, settings, run) as run:
        undo = wake_on_posts(clients, [p.ref.channel_id for p in job.parts if not p.is_comments], wake)
        try:
            done = 0
            while rounds is None or done < rounds:
                report = await run_round(job, settings, run, hold=settle)
                on_round(report, set(settle.held))
                done += 1
                if rounds is not None and done >= rounds:
                    break
                wait = min(settings.watch_interval, settings.watch_settle_seconds) if settle.held \
                    else settings.watch_interval
                try:
                    await asyncio.wait_for(wake.wait(), wait)
                except TimeoutError:
                    pass
                wake.clear()
                await _refresh_tops(job)
        finally:
            undo()
