"""Scan stage against the simulator: real Telethon clients, real TL bytes, no mocks of tgfetch.

Every test builds a `SimulatedTelegram`, hands real `TelegramClient` objects to
`tgfetch.job.scan_channel` (or `open_accounts` + `scan_accounts` where the
Account objects matter) and checks the result against the simulator's own
content and its own per-account RPC counters.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram_helpers import NAMES, sim_clients

from tgfetch.config import Settings, load_settings
from tgfetch.errors import TelegramAccessError, TgfetchError
from tgfetch.job import plan_scan, scan_channel
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import open_accounts
from tgfetch.telegram.scan import ALBUM_SPAN, BatchPool, ScanResult, scan_accounts
from tgfetch.telegram.simulator import SimulatedTelegram

GM = "GetMessagesRequest"
NOT_SCANNED = ("deleted", "service")


# -- helpers ------------------------------------------------------------------


def make_settings(**kw: Any) -> Settings:
    """Settings from keyword overrides only (conftest already cleared the env)."""
    return load_settings(env_file=None, **kw)


def big_sim(**kw: Any) -> SimulatedTelegram:
    """The 5,000-message channel of the issue, files scaled down (scans download nothing)."""
    return SimulatedTelegram(seed=11, messages=5000, size_scale=0.001, **kw)



@asynccontextmanager
async def opened(
    sim: SimulatedTelegram, s: Settings, names: Iterable[str] = NAMES
) -> AsyncIterator[tuple[dict[str, Account], ChannelRef, int]]:
    """`open_accounts` on fresh simulator clients."""
    async with sim_clients(sim, names) as clients:
        yield await open_accounts(clients, sim.channel_username, s)


def albums(sim: SimulatedTelegram) -> dict[int, list[int]]:
    """Album id -> member ids, from the simulator's content."""
    out: dict[int, list[int]] = collections.defaultdict(list)
    for m in sim.messages:
        if m.grouped_id is not None:
            out[m.grouped_id].append(m.id)
    return dict(out)


def edges_inside_albums(sim: SimulatedTelegram) -> tuple[int, int, int, int]:
    """A range whose first and last ids both sit strictly inside albums: first, last, album_a, album_b."""
    big = [(g, ids) for g, ids in albums(sim).items() if len(ids) >= 4]
    (ga, a), (gb, b) = big[2], big[-2]
    assert a[0] > ALBUM_SPAN and b[-1] < sim.last_id
    return a[2], b[-3], ga, gb


def expected_ids(sim: SimulatedTelegram, first: int, last: int) -> tuple[set[int], set[int]]:
    """(every scanned id, media ids) for a scan of first..last with albums completed at the edges."""
    touched = {m.grouped_id for m in sim.messages if first <= m.id <= last and m.grouped_id is not None}
    ids = {
        m.id for m in sim.messages
        if (first <= m.id <= last or m.grouped_id in touched) and m.kind not in NOT_SCANNED
    }
    media = {m.id for m in sim.media_messages() if m.id in ids}
    return ids, media


def wire_calls(sim: SimulatedTelegram, names: Iterable[str], method: str = GM) -> int:
    """What the simulated server saw: calls of `method` summed over accounts."""
    return sum(sim.rpc_counts(n)[method] for n in names)


def check_complete(sim: SimulatedTelegram, res: ScanResult, first: int, last: int) -> None:
    """Every message once, media exactly the simulator's, every album whole."""
    all_ids, media_ids = expected_ids(sim, first, last)
    got = [m.message_id for m in res.messages]
    assert len(got) == len(set(got)), "a message appears twice"
    assert set(got) == all_ids, (sorted(all_ids - set(got))[:10], sorted(set(got) - all_ids)[:10])
    assert {m.message_id for m in res.messages if m.media_type is not None} == media_ids
    assert all(m.media_type is None for m in res.messages if sim.message(m.message_id).kind == "text")
    assert set(res.scanned_by) == all_ids
    truth = albums(sim)
    for g in res.collection.groups:
        if g.is_media_group:
            gid = g.messages[0].media_group_id
            assert gid is not None
            assert [m.message_id for m in g.messages] == truth[gid], f"album {gid} not whole"
    assert res.partial_albums == ()


def batches(first: int, last: int, s: Settings) -> int:
    return math.ceil((last - first + 1) / s.grouping_batch_size)


# -- the main claims ------------------------------------------------------------


async def test_5000_messages_3_clients_every_message_once_albums_whole_exact_calls() -> None:
    sim = big_sim()
    first, last, ga, gb = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100)
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, s)

    check_complete(sim, res, first, last)
    assert sorted(res.completed_albums) == sorted([ga, gb])
    assert min(res.scanned_by) < first and max(res.scanned_by) > last  # albums completed outside the range
    # ceil(range / batch) range calls, one completion call per edge, and the server agrees.
    assert res.range_calls == batches(first, last, s) == 49
    assert res.edge_calls == 2
    assert wire_calls(sim, NAMES) == res.range_calls + res.edge_calls  # open_accounts makes no getMessages
    for n in NAMES:
        assert res.rpc_calls[n][GM] == sim.rpc_counts(n)[GM]
    # The three accounts really shared the work.
    per_client = collections.Counter(res.scanned_by.values())
    assert set(per_client) == set(NAMES)
    assert min(sim.rpc_counts(n)[GM] for n in NAMES) >= 14
    assert res.dead_clients == ()


async def test_whole_channel_scan_needs_no_edge_calls() -> None:
    sim = big_sim()
    s = make_settings()
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, None, None, s)
    check_complete(sim, res, 1, sim.last_id)
    assert res.range_calls == 25 and res.edge_calls == 0
    assert wire_calls(sim, NAMES) == 25


async def test_flood_wait_on_10_percent_of_calls_is_survived() -> None:
    sim = big_sim(faults="flood:GetMessagesRequest:rate=0.1:seconds=1")
    first, last, ga, gb = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100)
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, s)
    check_complete(sim, res, first, last)
    assert sorted(res.completed_albums) == sorted([ga, gb])
    floods = wire_calls(sim, NAMES) - res.range_calls - res.edge_calls
    print(f"flood waits answered by the server: {floods}")
    assert floods >= 2, "the fault plan should have fired"
    assert res.range_calls == batches(first, last, s)  # a flood retry is not a new batch attempt
    for n in NAMES:  # our own counter sees every attempt, as the server does
        assert res.rpc_calls[n][GM] == sim.rpc_counts(n)[GM]
    assert res.dead_clients == ()


async def test_timed_out_batch_is_retried() -> None:
    sim = big_sim(faults="timeout:GetMessagesRequest:at=2")
    first, last, _, _ = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100, grouping_timeout=0.5)
    t0 = time.monotonic()
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, s)
    elapsed = time.monotonic() - t0
    check_complete(sim, res, first, last)
    # Each account's second getMessages is never answered: one retry per account.
    assert res.range_calls == batches(first, last, s) + len(NAMES)
    assert wire_calls(sim, NAMES) == res.range_calls + res.edge_calls
    assert 0.5 <= elapsed < 10


async def test_batch_that_keeps_timing_out_fails_loudly() -> None:
    sim = SimulatedTelegram(seed=3, messages=100, size_scale=0.01,
                            faults="timeout:GetMessagesRequest:at=1:burst=50")
    s = make_settings(grouping_batch_size=100, grouping_timeout=0.1, grouping_max_retries=1)
    async with sim_clients(sim, ["c1"]) as clients:
        with pytest.raises(TgfetchError, match=r"could not fetch message ids 1–100"):
            await scan_channel(clients, sim.channel_username, None, None, s)
    assert sim.rpc_counts("c1")[GM] == 2  # the first attempt and GROUPING_MAX_RETRIES=1 retry


async def test_account_revoked_mid_scan_hands_its_slice_to_the_others() -> None:
    # c2 makes 5 RPCs while opening (config, users, state, difference, resolve): revoke after 3 scan calls.
    sim = big_sim(latency=0.002, faults="revoke:c2:after_rpcs=8")
    first, last, _, _ = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100)
    async with opened(sim, s) as (accounts, ref, top):
        opening = sim.account("c2").rpcs
        res = await scan_accounts(accounts, ref, first, last, s, top)
    answered = 8 - opening
    assert 1 <= answered <= 4
    check_complete(sim, res, first, last)
    assert res.dead_clients == ("c2",)
    assert accounts["c2"].dead is not None
    assert sim.rpc_counts("c2")[GM] == answered + 1  # the last one refused
    served = collections.Counter(res.scanned_by.values())
    assert 0 < served["c2"] <= answered * 100
    assert served["c1"] > 1600 and served["c3"] > 1600
    # The batch in hand when the key was revoked is fetched again by another account.
    assert res.range_calls == batches(first, last, s) + 1
    assert wire_calls(sim, NAMES) == res.range_calls + res.edge_calls


async def test_long_flood_hands_the_slice_over_without_waiting() -> None:
    sim = big_sim(latency=0.002, faults="flood:GetMessagesRequest:at=2:seconds=30@c3")
    first, last, _, _ = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100, flood_wait_handoff_seconds=2)
    t0 = time.monotonic()
    async with opened(sim, s) as (accounts, ref, top):
        res = await scan_accounts(accounts, ref, first, last, s, top)
    elapsed = time.monotonic() - t0
    check_complete(sim, res, first, last)
    assert elapsed < 10, f"waited {elapsed:.1f}s for a flood that should have been handed off"
    assert accounts["c3"].flood_wait_left > 20
    assert res.dead_clients == ()  # flood-waited, not dead
    assert sim.rpc_counts("c3")[GM] == 2  # one good batch, then the flood
    served = collections.Counter(res.scanned_by.values())
    assert served["c1"] + served["c2"] > 0.9 * len(res.scanned_by)
    assert res.range_calls == batches(first, last, s) + 1


async def test_long_flood_on_the_only_account_is_not_silently_incomplete() -> None:
    sim = SimulatedTelegram(seed=3, messages=1000, size_scale=0.01,
                            faults="flood:GetMessagesRequest:at=2:seconds=3")
    s = make_settings(grouping_batch_size=100, flood_wait_handoff_seconds=1)
    async with sim_clients(sim, ["c1"]) as clients:
        try:
            res = await scan_channel(clients, sim.channel_username, None, None, s)
        except TgfetchError:
            return  # failing loudly is acceptable too
    check_complete(sim, res, 1, sim.last_id)


async def test_edge_calls_match_the_wire_when_the_first_account_is_flood_paused() -> None:
    sim = big_sim(faults="flood:GetMessagesRequest:at=2:seconds=30@c1")
    first, last, ga, gb = edges_inside_albums(sim)
    s = make_settings(grouping_batch_size=100, flood_wait_handoff_seconds=2)
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, s)
    check_complete(sim, res, first, last)
    assert sorted(res.completed_albums) == sorted([ga, gb])
    assert wire_calls(sim, NAMES) == res.range_calls + res.edge_calls
    assert res.edge_calls == 2


async def test_every_account_revoked_is_an_access_error() -> None:
    sim = SimulatedTelegram(seed=3, messages=2000, size_scale=0.01,
                            faults="revoke:c1:after_rpcs=7, revoke:c2:after_rpcs=7")
    s = make_settings(grouping_batch_size=100)
    async with sim_clients(sim, ["c1", "c2"]) as clients:
        with pytest.raises(TelegramAccessError, match="every account lost access") as info:
            await scan_channel(clients, sim.channel_username, None, None, s)
    assert info.value.exit_code == 3


# -- album edges ----------------------------------------------------------------


async def test_range_inside_one_album_returns_the_whole_album() -> None:
    sim = big_sim()
    gid, ids = next((g, ids) for g, ids in albums(sim).items() if len(ids) >= 6 and ids[0] > 100)
    first, last = ids[2], ids[3]
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, make_settings())
    assert [m.message_id for m in res.messages] == ids
    assert res.completed_albums == (gid,) * 2 or set(res.completed_albums) == {gid}
    assert res.range_calls == 1 and res.edge_calls == 2
    assert wire_calls(sim, NAMES) == 3


async def test_first_id_on_the_first_member_of_an_album_costs_no_edge_call() -> None:
    sim = big_sim()
    ids = next(ids for ids in albums(sim).values() if len(ids) >= 3 and ids[0] > 100)
    first, last = ids[0], ids[0] + 400
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, first, last, make_settings(grouping_batch_size=50))
    check_complete(sim, res, first, last)
    assert min(res.scanned_by) == first
    assert res.range_calls == 9
    assert res.edge_calls <= 2  # checking the album before is allowed; the album itself starts here


async def test_album_ending_at_the_newest_message_is_not_reported_partial() -> None:
    sim = SimulatedTelegram(seed=2, messages=300, size_scale=0.01)  # ids 296–300 are one album
    assert sim.messages[-1].grouped_id is not None
    async with sim_clients(sim) as clients:
        res = await scan_channel(clients, sim.channel_username, None, None, make_settings(grouping_batch_size=50))
    check_complete(sim, res, 1, sim.last_id)  # includes partial_albums == ()


# -- "zero extra API calls" ------------------------------------------------------


async def test_media_group_aware_costs_no_more_scan_calls_than_range_based() -> None:
    calls: dict[str, tuple[int, int, int]] = {}
    for mode in ("range_based", "media_group_aware"):
        sim = big_sim()
        first, last, _, _ = edges_inside_albums(sim)
        s = make_settings(grouping_batch_size=100, task_distribution_mode=mode)
        async with opened(sim, s) as (accounts, ref, top):
            assert wire_calls(sim, NAMES) == 0  # opening the accounts fetches no messages
            res = await scan_accounts(accounts, ref, first, last, s, top)
            after_scan = wire_calls(sim, NAMES)
            names = list(accounts)
            plans = {m: await plan_scan(res, names, s, mode=m) for m in ("range_based", "media_group_aware")}
            after_plan = wire_calls(sim, NAMES)
        calls[mode] = (res.range_calls, res.edge_calls, after_scan)
        assert after_plan == after_scan, "planning must not call getMessages"
        for m, plan in plans.items():
            planned = sorted(i for a in plan.client_assignments for i in a.message_ids)
            assert planned == sorted(res.scanned_by), f"{m}: every message exactly once"
        assert plans["media_group_aware"].metrics.albums_split == []
        assert not plans["media_group_aware"].metrics.validation_errors
    print(f"scan calls (range, edge, wire): range_based={calls['range_based']} "
          f"media_group_aware={calls['media_group_aware']}")
    assert calls["range_based"] == calls["media_group_aware"]
    assert calls["range_based"][0] == math.ceil((last - first + 1) / 100)


# -- BatchPool ------------------------------------------------------------------


def test_batch_pool_slices_cover_the_range_once() -> None:
    pool = BatchPool(5, 1004, 100, ["a", "b", "c"])
    assert pool.batches == 10
    assert [pool.ids(k)[0] for k in range(10)] == list(range(5, 1005, 100))
    assert pool.ids(9)[-1] == 1004
    got = []
    for name in ["a", "b", "c"] * 10:
        k = pool.next(name)
        if k is not None:
            got.append(k)
    assert sorted(got) == list(range(10))
    assert all(pool.next(n) is None for n in "abc")


def test_batch_pool_with_more_accounts_than_batches() -> None:
    pool = BatchPool(1, 5, 200, ["a", "b", "c"])
    assert pool.batches == 1
    assert [pool.next("a"), pool.next("b"), pool.next("c")].count(0) == 1
    assert pool.ids(0) == [1, 2, 3, 4, 5]


def test_batch_pool_release_twice_keeps_every_batch() -> None:
    pool = BatchPool(0, 999, 10, ["a", "b"])  # 100 batches: a 0–49, b 50–99
    assert pool.next("a") == 0
    pool.release("a", 0)  # long flood: 0 back, 1–49 released
    assert pool.next("a") == 0  # the flood ended; a comes back and takes the returned batch
    k = pool.next("a")  # then steals half of the largest slice
    assert k is not None
    pool.release("a", k)  # flooded again
    done = [0]
    while (j := pool.next("b")) is not None:
        done.append(j)
    assert sorted(done) == list(range(100))


@settings(max_examples=200, deadline=None)
@given(
    n_batches=st.integers(1, 60),
    n_names=st.integers(1, 6),
    ops=st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=200),
)
def test_batch_pool_hands_out_every_batch_exactly_once_despite_deaths(
    n_batches: int, n_names: int, ops: list[tuple[int, bool]]
) -> None:
    """Accounts finish or die in any order; every batch is completed exactly once by a survivor."""
    names = [f"n{i}" for i in range(n_names)]
    pool = BatchPool(1, n_batches * 10, 10, names)
    assert pool.batches == n_batches
    hand: dict[str, int | None] = {n: pool.next(n) for n in names}
    alive = set(names)
    done: list[int] = []
    for who, dies in ops:
        name = names[who % n_names]
        if name not in alive:
            continue
        if dies and len(alive) > 1:
            pool.release(name, hand[name])
            alive.discard(name)
            continue
        k = hand[name]
        if k is None:
            continue  # this account's run_account has returned (pool was empty for it)
        done.append(k)
        hand[name] = pool.next(name)
    for name in sorted(alive):  # scan_accounts' second pass: survivors run again until the pool is empty
        k = hand[name]
        while True:
            if k is not None:
                done.append(k)
            k = pool.next(name)
            if k is None:
                break
    assert sorted(done) == list(range(n_batches))
