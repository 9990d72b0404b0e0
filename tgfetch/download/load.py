"""One client's load as the scheduler sees it: its queue, its groups in flight, its speed, and
when it would finish them.

Pure bookkeeping (no I/O, no asyncio), changed only by the scheduler.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tgfetch.download.work import GroupWork

__all__ = ["DEFAULT_OVERHEAD", "DEFAULT_SPEED", "ClientState"]

DEFAULT_SPEED = 1_000_000.0  # bytes/s assumed before anything is measured
DEFAULT_OVERHEAD = 0.05  # seconds per file before anything is measured


@dataclass
class ClientState:
    """One client as the scheduler sees it."""

    name: str
    queue: deque[GroupWork] = field(default_factory=deque)  # unstarted, largest first
    inflight: list[GroupWork] = field(default_factory=list)
    leaving: list[GroupWork] = field(default_factory=list)  # taken over from it; its slot has not stopped yet
    small_end: set[GroupWork] = field(default_factory=set)  # in flight, taken from its queue's small end
    slots: int = 1  # files it runs at once (the engine's slots)
    latency: float = 0.0  # seconds a small file holds one of its slots (0: not measured yet)
    queued_bytes: int = 0
    queued_files: int = 0
    speed: float = DEFAULT_SPEED
    overhead: float = DEFAULT_OVERHEAD
    dead: str | None = None
    paused: bool = False  # handed its work off (long FLOOD_WAIT)
    waiting: float = 0.0  # seconds left of a short FLOOD_WAIT (the engine keeps it current)
    stolen_in: int = 0
    stolen_out: int = 0
    backups: int = 0
    takeovers: int = 0  # groups in flight it took over from a slower client (counted in stolen_in too)
    handoffs: int = 0
    measured_s: float = 0.0  # seconds of transfer behind `speed` (the engine keeps it current)
    learned: bool = False  # `speed` came from an earlier run (before this one measured it)

    def small_end_turn(self) -> bool:
        """Whether its next slot takes the queue's small end.  A small file holds a slot for its
        per-file work (`latency`: round trip, local handling), not for bandwidth; left for the end,
        the tiny files would run there with the bandwidth idle.  So enough slots work from the small
        end to spread that per-file work over the bandwidth-bound rest of the queue: its files times
        `latency` over its bytes' time.  At least one (before `latency` is measured), and at least
        two slots stay on the big files that keep the bandwidth busy."""
        if self.slots < 2 or not self.queue:
            return False
        want = 1
        if self.latency > 0:
            rest = self.queued_bytes / max(self.speed, 1.0)
            want = math.ceil(self.queued_files * self.latency / max(rest, 1e-3))
        return len(self.small_end) < max(1, min(want, self.slots - 2))

    def time_for(self, nbytes: int, nfiles: int) -> float:
        """Estimated seconds for this client to fetch nbytes in nfiles."""
        return nbytes / max(self.speed, 1.0) + nfiles * self.overhead

    def finish_in(self, nbytes: int, nfiles: int) -> float:
        """Seconds until this client has fetched nbytes in nfiles, counting a FLOOD_WAIT it sits in."""
        return self.waiting + self.time_for(nbytes, nfiles)

    def group_time(self, w: GroupWork) -> float:
        """Seconds this client needs for what is left of `w`."""
        return self.time_for(w.bytes_left, len(w.remaining))

    @property
    def est_remaining(self) -> float:
        """Estimated seconds until this client's queue and groups in flight are done."""
        nbytes = self.queued_bytes + sum(w.bytes_left for w in self.inflight)
        nfiles = self.queued_files + sum(len(w.remaining) for w in self.inflight)
        return self.finish_in(nbytes, nfiles)

    def finish_of(self, w: GroupWork) -> float:
        """Estimated seconds until this client has `w` (one of its groups in flight): its groups
        in flight share its bandwidth evenly, so the smaller ones end first (processor sharing)."""
        mine = self.group_time(w)
        before = 0.0
        sharing = 0
        for t in (self.group_time(x) for x in self.inflight if x is not w):
            if t < mine:
                before += t
            else:
                sharing += 1
        return self.waiting + before + (sharing + 1) * mine

    def set_queue(self, works: Iterable[GroupWork]) -> None:
        """Replace the queue (sorted largest first) and its totals."""
        self.queue = deque(sorted(works, key=lambda w: (-w.bytes_left, w.group.first_id)))
        self.queued_bytes = sum(w.bytes_left for w in self.queue)
        self.queued_files = sum(len(w.remaining) for w in self.queue)

    def add(self, w: GroupWork) -> None:
        """Queue one more group (at the end: `set_queue` puts it in order)."""
        self.queue.append(w)
        self.queued_bytes += w.bytes_left
        self.queued_files += len(w.remaining)

    def tail_order(self, front_share: float) -> Iterator[GroupWork]:
        """The queue from the groups started last outwards (those most likely stolen).

        Slots take the queue from both ends, `front_share` of the time from the front;
        the last groups started are where the two ends meet."""
        q = self.queue
        cum = list(itertools.accumulate(self.time_for(w.bytes_left, len(w.remaining)) for w in q))
        meet = bisect.bisect_left(cum, front_share * cum[-1]) if cum else 0
        lo, hi = meet - 1, meet
        while lo >= 0 or hi < len(q):
            if hi < len(q):
                yield q[hi]
                hi += 1
            if lo >= 0:
                yield q[lo]
                lo -= 1

    def take(self, index: int = 0) -> GroupWork:
        """Remove and return the queued group at `index` (0: the largest, -1: the smallest)."""
        w = self.queue[index]
        del self.queue[index]
        self.queued_bytes -= w.bytes_left
        self.queued_files -= len(w.remaining)
        return w
