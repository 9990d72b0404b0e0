"""`window.Window`: an account's getFile bytes in flight held to its limit, admitted in order."""

from __future__ import annotations

import asyncio

import pytest

from tgfetch.telegram.window import FLOOR, SLACK, Window, spare_room, window_limit

MiB = 1 << 20


def test_the_limit_keeps_the_bandwidth_busy_over_two_round_trips() -> None:
    assert window_limit(1e6, 0.001) == FLOOR  # a slow account on a short link: two parts
    assert window_limit(32e6, 0.3) == pytest.approx(32e6 * (0.6 + SLACK))  # 300 ms: 27 MB in flight


def test_a_spare_file_is_made_ready_only_for_a_fast_account_with_room_in_its_window() -> None:
    fast = window_limit(17e6, 0.002)  # ~4.4 MB: set by the bandwidth
    assert spare_room(fast, 0.01e6) and spare_room(fast, fast - MiB)
    assert not spare_room(fast, fast - MiB + 1)  # no room for another part
    assert not spare_room(None, 0)  # speed not measured yet
    assert not spare_room(window_limit(1.3e6, 0.002), 0)  # a slow account: the two-part floor


async def test_parts_wait_in_order_until_their_bytes_fit() -> None:
    limit: list[float | None] = [None]
    w = Window(lambda: limit[0])
    await w.acquire(MiB)
    await w.acquire(MiB)  # no limit before the speed is measured
    limit[0] = 2 * MiB
    order: list[str] = []

    async def part(name: str, nbytes: int) -> None:
        await w.acquire(nbytes)
        order.append(name)

    big, small = asyncio.create_task(part("big", MiB)), asyncio.create_task(part("small", 1024))
    await asyncio.sleep(0)
    assert order == [] and w.used == 2 * MiB
    w.release(MiB)
    await asyncio.sleep(0)
    assert order == ["big"]  # in the order they asked: the small one does not overtake
    w.release(MiB)
    await asyncio.gather(big, small)
    assert order == ["big", "small"] and w.used == MiB + 1024


async def test_a_part_larger_than_the_limit_goes_alone_and_a_cancelled_wait_gives_nothing_back() -> None:
    w = Window(lambda: 1024.0)
    await w.acquire(MiB)  # nothing in flight: it fits whatever its size
    waiting = asyncio.create_task(w.acquire(MiB))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    w.release(MiB)
    assert w.used == 0
    await w.acquire(512)
    assert w.used == 512
