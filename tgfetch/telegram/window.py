"""How many bytes of getFile answers one account has asked for and not yet received.

Telegram answers one connection's requests in turn, so parts asked for beyond what the account's
bandwidth carries over a round trip add nothing to its speed: they only queue.  Everything asked
for after them waits behind the queue (a tiny file behind a video's parts), and a group taken over
from the account leaves its queued parts still coming.  So once the account's speed is measured,
its parts in flight are held to `Window.limit` bytes: the speed times twice the round trip plus
`SLACK` (the time the client needs to ask for the next part), at least `FLOOR`.  Before the speed
is measured there is no limit (every slot's parts go out at once, as before).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

__all__ = ["FLOOR", "SLACK", "Window", "spare_room", "window_limit"]

FLOOR = 2 << 20  # bytes: two 1 MiB parts (one arriving while the next is asked for)
SLACK = 0.25  # seconds of the account's speed kept in flight beyond two round trips


def window_limit(speed: float, rtt: float) -> float:
    """Bytes in flight that keep an account of `speed` bytes/s and round trip `rtt` s busy."""
    return max(float(FLOOR), speed * (2 * rtt + SLACK))


def spare_room(limit: float | None, used: float) -> bool:
    """Whether an account with `used` bytes in flight under its window `limit` should get another
    file ready (the download engine's spare slots): its speed is measured, its window is set by its
    bandwidth rather than the two-part floor (a fast account), and one more part would fit."""
    return limit is not None and limit > FLOOR and used + FLOOR / 2 <= limit


class Window:
    """Admits parts in the order they ask while their bytes fit under `limit()` (None: no limit).

    A part always fits when nothing is in flight, whatever its size."""

    def __init__(self, limit: Callable[[], float | None]) -> None:
        self._limit = limit
        self.used = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, nbytes: int) -> bool:
        limit = self._limit()
        return limit is None or self.used == 0 or self.used + nbytes <= limit

    async def acquire(self, nbytes: int) -> None:
        """Wait until `nbytes` more may be in flight, then count them."""
        if not self._waiting and self._fits(nbytes):
            self.used += nbytes
            return
        entry = (nbytes, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                self.release(nbytes)  # admitted as it was cancelled
            elif entry in self._waiting:
                self._waiting.remove(entry)
            raise

    def release(self, nbytes: int) -> None:
        """`nbytes` arrived (or were given up): admit who fits now."""
        self.used -= nbytes
        while self._waiting and (self._waiting[0][1].done() or self._fits(self._waiting[0][0])):
            nbytes, fut = self._waiting.popleft()
            if not fut.done():
                self.used += nbytes
                fut.set_result(None)
