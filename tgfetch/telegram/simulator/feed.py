"""A simulated channel that keeps receiving posts (`--sim-live N`): singles, and albums member by member.

`feed` posts N items over time into a running simulator (what `tgfetch watch --simulate --sim-live N`
follows); `feed_now` posts the same items at once, so a test can compute what the channel holds once
the feed is over (posts are a pure function of the seed and their ids: a restarted process feeding
again posts the same messages).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .simulated import SimulatedTelegram

__all__ = ["FEED_PAUSE", "feed", "feed_now", "feed_steps"]

FEED_PAUSE = 0.3  # seconds between items; an album's members come FEED_PAUSE / 2 apart
ALBUM_EVERY, ALBUM_SIZE = 4, 3


def feed_steps(n: int) -> list[int]:
    """The sizes of the N items: 1 for a single photo, ALBUM_SIZE for an album (every ALBUM_EVERY-th)."""
    return [ALBUM_SIZE if i % ALBUM_EVERY == ALBUM_EVERY - 1 else 1 for i in range(n)]


async def feed(sim: SimulatedTelegram, n: int, pause: float = FEED_PAUSE) -> None:
    """Post the N items over time."""
    for size in feed_steps(n):
        await asyncio.sleep(pause)
        if size == 1:
            sim.post(1, kinds="photo")
            continue
        album = sim.post_album(size)
        for _ in range(size):
            album.add()
            await asyncio.sleep(pause / 2)


def feed_now(sim: SimulatedTelegram, n: int) -> None:
    """Post the same N items at once."""
    for size in feed_steps(n):
        if size == 1:
            sim.post(1, kinds="photo")
        else:
            sim.post_album(size).add(size)
