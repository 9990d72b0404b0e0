"""`races.Holders`: which tasks work on which group, and which of them a race decision stopped.

An account runs several slots, so for a moment it can hold two tasks on one group (a stopped one
still finishing its cancellation beside a new one); a task stopped by a race is told apart from
one cancelled because its own slot is (Ctrl-C, a fatal error), which must propagate."""

from __future__ import annotations

import asyncio

from test_scheduler import MB, work

from tgfetch.download.races import Holders


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_race_stop_is_told_apart_from_a_cancellation() -> None:
    h, w = Holders(), work(1 * MB)
    stopped, cancelled = asyncio.create_task(_forever()), asyncio.create_task(_forever())
    h.hold(w, "a", stopped)
    h.hold(w, "b", cancelled)
    h.stop(stopped)
    cancelled.cancel()
    assert h.stopping(w) == [stopped]  # still finishing
    await asyncio.wait([stopped, cancelled])
    assert h.stopped(stopped) and not h.stopped(cancelled)
    assert h.stopping(w) == []


async def test_two_slots_of_one_account_hold_a_group_apart() -> None:
    h, w = Holders(), work(1 * MB)
    old, new, other = (asyncio.create_task(_forever()) for _ in range(3))
    h.hold(w, "a", old)
    h.hold(w, "a", new)
    h.hold(w, "b", other)
    assert h.of(w, "a") == [old, new]
    h.drop(w, old)  # the stopped slot leaving does not drop the new one
    assert h.of(w, "a") == [new] and h.anyone(w)
    h.cancel_others(w, "a")  # a wins: b's copy is stopped, a's own task runs on
    await asyncio.wait([other])
    assert h.stopped(other) and not new.done()
    h.drop(w, other)
    h.drop(w, new)
    assert not h.anyone(w)
    new.cancel()
    await asyncio.wait([new])
