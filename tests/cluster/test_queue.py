"""ClusterQueue against a real redis-server: enqueue, own reads, stealing, leases, completion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from tgfetch.cluster.keys import GROUP
from tgfetch.cluster.queue import ClusterQueue

Plan = Callable[..., Any]


async def test_enqueue_is_idempotent_across_calls_and_restarts(
    make_queue: Callable[..., ClusterQueue], make_plan: Plan
):
    plan = make_plan({"a": 5, "b": 3, "c": 0})
    q = make_queue(enqueue_batch=2)
    assert await q.enqueue_plan(plan) == 8
    assert await q.enqueue_plan(plan) == 0
    restarted = make_queue(enqueue_batch=3)
    assert await restarted.enqueue_plan(plan) == 0
    # Even with the cursor lost, the enqueued set keeps every group single.
    await q.redis.delete(q.keys.cursor)
    assert await make_queue().enqueue_plan(plan) == 0
    assert await q.redis.xlen(q.keys.queue("a")) == 5
    assert await q.redis.xlen(q.keys.queue("b")) == 3
    assert await q.redis.xlen(q.keys.queue("c")) == 0
    rem = await q.remaining()
    assert (rem.total, rem.done, rem.left) == (8, 0, 8)
    assert rem.unstarted["a"].groups == 5 and rem.unstarted["a"].bytes == 5000
    assert await q.meta() == {"state": "running"}


async def test_enqueue_adds_only_new_groups_of_a_changed_plan(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    assert await q.enqueue_plan(make_plan({"a": 3})) == 3
    # A replanned job: same groups moved to b plus two new ones; only the new ones are added.
    assert await q.enqueue_plan(make_plan({"b": 5})) == 2
    assert await q.redis.xlen(q.keys.queue("b")) == 2


async def test_enqueue_refuses_a_group_planned_twice(make_queue: Callable[..., ClusterQueue], payload: Plan):
    q = make_queue()
    try:
        await q.enqueue_plan({"a": [payload(1, "a")], "b": [payload(1, "b")]})
    except ValueError as exc:
        assert "m1" in str(exc)
    else:
        raise AssertionError("a group planned twice was accepted")


async def test_reads_own_stream_first_then_steals(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 2, "b": 3}))
    got = []
    while ds := await q.read_own("a", "m1:a", 1):
        got.append(ds[0].payload.group_id)
        assert ds[0].account == "a" and ds[0].delivery_count == 1
        assert await q.complete(ds[0], "m1:a", 1, 1000)
    assert got == ["m1", "m2"]
    stolen = await q.steal("a", "m1:a")
    assert stolen is not None
    assert (stolen.account, stolen.payload.group_id) == ("b", "m3")
    assert await q.complete(stolen, "m1:a", 1, 1000)
    prog = (await q.progress()).by_account()
    assert prog["a"].groups == 3 and prog["a"].steals == 1 and prog["a"].bytes == 3000
    assert (await q.remaining()).unstarted["b"].groups == 2


async def test_steal_takes_from_the_most_loaded_stream(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    plan = make_plan({"a": 0, "b": 2, "c": 3})
    await q.enqueue_plan(plan)
    first = await q.steal("a", "m1:a")
    assert first is not None and first.account == "c"  # 3 groups x 1000 B vs 2 x 1000 B
    await q.register_account("b", "m2", speed_bps=1.0)
    await q.register_account("c", "m3", speed_bps=1000.0)
    second = await q.steal("a", "m1:a")
    assert second is not None and second.account == "b"  # b is slow: more time left
    assert await q.steal("a", "m1:a") is not None
    accounts = await q.accounts()
    assert accounts["b"].machine == "m2" and accounts["c"].speed_bps == 1000.0


async def test_complete_twice_returns_false(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 1}))
    (d,) = await q.read_own("a", "m1:a", 1)
    assert await q.complete(d, "m1:a", 1, 1000) is True
    assert await q.complete(d, "m1:a", 1, 1000) is False
    assert (await q.progress()).total.groups == 1
    assert await q.is_done()


async def test_dead_consumer_entry_is_reclaimed_and_old_lease_is_lost(
    make_queue: Callable[..., ClusterQueue], make_plan: Plan
):
    q = make_queue(lease_s=0.5)
    await q.enqueue_plan(make_plan({"a": 1, "b": 0}))
    (d,) = await q.read_own("a", "m1:a", 1)  # m1 then "dies": it never acks nor renews
    assert await q.steal("b", "m2:b") is None  # lease not expired yet, nothing unstarted
    await asyncio.sleep(0.6)
    taken = await q.steal("b", "m2:b")
    assert taken is not None and taken.entry_id == d.entry_id and taken.delivery_count == 2
    assert await q.renew(d, "m1:a") is False
    assert await q.renew(taken, "m2:b") is True
    assert await q.release(d, "m1:a") is False
    assert await q.complete(taken, "m2:b", 1, 1000)
    assert await q.complete(d, "m1:a", 1, 1000) is False  # the zombie finishing late is a duplicate
    assert (await q.progress()).by_account()["b"].steals == 1


async def test_renew_keeps_the_lease(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=0.4)
    await q.enqueue_plan(make_plan({"a": 1}))
    (d,) = await q.read_own("a", "m1:a", 1)
    for _ in range(4):
        await asyncio.sleep(0.15)
        assert await q.renew(d, "m1:a")
    assert await q.steal("b", "m2:b") is None


async def test_dead_letter_after_max_deliveries(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    dead_seen: list[Any] = []
    q = make_queue(lease_s=0.2, max_deliveries=3, on_dead=dead_seen.append)
    await q.enqueue_plan(make_plan({"a": 1}))
    (d,) = await q.read_own("a", "m1:a", 1)
    for n in (2, 3):
        await asyncio.sleep(0.25)
        again = await q.steal("b", f"m{n}:b")
        assert again is not None and again.delivery_count == n
    await asyncio.sleep(0.25)
    assert await q.steal("b", "m9:b") is None
    assert [(x.group_id, x.deliveries, x.account) for x in dead_seen] == [("m1", 4, "a")]
    letters = await q.dead_letters()
    assert [(x.group_id, x.deliveries, x.entry_id) for x in letters] == [("m1", 4, d.entry_id)]
    rem = await q.remaining()
    assert (rem.failed, rem.left, rem.in_flight) == (1, 0, 0)
    assert await q.is_done()
    # A zombie that finishes the group after all turns it from failed into done.
    assert await q.complete(d, "m1:a", 1, 1000)
    assert (await q.remaining()).failed == 0


async def test_sweep_dead_letters_without_workers(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=0.2, max_deliveries=1)
    await q.enqueue_plan(make_plan({"a": 2}))
    (d,) = await q.read_own("a", "m1:a", 1)
    await asyncio.sleep(0.25)
    dead = await q.sweep()
    assert [(x.group_id, x.deliveries) for x in dead] == [("m1", 1)]
    assert await q.renew(d, "m1:a") is False


async def test_sweep_marks_expired_entries_released(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=0.2)
    await q.enqueue_plan(make_plan({"a": 1}))
    await q.read_own("a", "m1:a", 1)
    await asyncio.sleep(0.25)
    assert await q.sweep() == []
    pending = await q.redis.xpending_range(q.keys.queue("a"), GROUP, "-", "+", 10)
    assert pending[0]["consumer"] == "released" and pending[0]["time_since_delivered"] > 10**9
    assert pending[0]["times_delivered"] == 1


async def test_release_lets_another_worker_take_it_at_once(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=60)
    await q.enqueue_plan(make_plan({"a": 1, "b": 0}))
    (d,) = await q.read_own("a", "m1:a", 1)
    assert await q.release(d, "m1:a")
    other = make_queue(lease_s=60)
    taken = await other.steal("b", "m2:b")
    assert taken is not None and taken.entry_id == d.entry_id
    assert taken.delivery_count == 1  # a graceful release is not a failed attempt
    assert await q.renew(d, "m1:a") is False
    assert await other.complete(taken, "m2:b", 1, 1000)


async def test_failed_release_counts_the_attempt(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=60)
    await q.enqueue_plan(make_plan({"a": 1}))
    (d,) = await q.read_own("a", "m1:a", 1)
    assert await q.release(d, "m1:a", failed=True)
    again = await q.steal("a", "m1:a")
    assert again is not None and again.delivery_count == 2


async def test_restarted_worker_gets_its_pending_entries_first(
    make_queue: Callable[..., ClusterQueue], make_plan: Plan
):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 3}))
    first = await q.read_own("a", "m1:a", 2)
    assert [d.payload.group_id for d in first] == ["m1", "m2"]
    restarted = make_queue()
    again = await restarted.read_own("a", "m1:a", 1)
    assert [(d.payload.group_id, d.delivery_count) for d in again] == [("m1", 2)]
    again = await restarted.read_own("a", "m1:a", 5)
    assert [d.payload.group_id for d in again] == ["m2"]
    new = await restarted.read_own("a", "m1:a", 5)
    assert [d.payload.group_id for d in new] == ["m3"]


async def test_bad_payload_goes_to_dead_letters(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 1}))
    await q.redis.xadd(q.keys.queue("a"), {"g": "m77", "p": '{"pickle": true}', "f": "1", "b": "1"})
    await q.redis.sadd(q.keys.enqueued, "m77")
    assert len(await q.read_own("a", "m1:a", 5)) == 1
    letters = await q.dead_letters()
    assert [x.group_id for x in letters] == ["m77"] and letters[0].reason.startswith("bad_payload")


async def test_read_own_blocks_until_work_arrives(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 0}), final=False)
    reader = asyncio.create_task(q.read_own("a", "m1:a", 1, block_ms=2000))
    await asyncio.sleep(0.1)
    await make_queue().enqueue_plan(make_plan({"a": 1}))
    got = await asyncio.wait_for(reader, 3)
    assert [d.payload.group_id for d in got] == ["m1"]


async def test_client_without_decode_responses_is_refused(rclient: Redis, job: str):
    raw = Redis(connection_pool=None, host="127.0.0.1", port=1)
    try:
        ClusterQueue(raw, job)
    except ValueError as exc:
        assert "decode_responses" in str(exc)
    else:
        raise AssertionError("accepted a bytes client")
    finally:
        await raw.aclose()
