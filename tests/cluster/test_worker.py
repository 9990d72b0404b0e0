"""run_worker_loop, LeaseKeeper and run_coordinator against a real redis-server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from tgfetch.cluster.coordinator import run_coordinator
from tgfetch.cluster.lease import LeaseKeeper
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import GroupPayload
from tgfetch.cluster.worker import AccountDead, run_worker_loop

Plan = Callable[..., Any]


class Recorder:
    """A trivial process_group that records which account downloaded which group."""

    def __init__(self, delay: float = 0.002, dead: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.delay = delay
        self.dead = dead

    async def __call__(self, account: str, p: GroupPayload) -> tuple[int, int]:
        if account == self.dead:
            raise AccountDead(f"{account} was logged out")
        await asyncio.sleep(self.delay)
        self.calls.append((account, p.group_id))
        return p.files, p.bytes


async def test_three_accounts_complete_every_group_exactly_once(
    make_queue: Callable[..., ClusterQueue], make_plan: Plan
):
    plan = make_plan({"a": 30, "b": 10, "c": 0})
    await make_queue().enqueue_plan(plan)
    rec = Recorder()
    stop = asyncio.Event()
    # Two machines: m1 runs a and b, m2 runs c (its own ClusterQueue, as another process would).
    s1, s2 = await asyncio.wait_for(
        asyncio.gather(
            run_worker_loop(make_queue(lease_s=2), ["a", "b"], "m1", rec, stop=stop, speeds={"a": 1e6, "b": 1e6}),
            run_worker_loop(make_queue(lease_s=2), ["c"], "m2", rec, stop=stop, idle_poll_s=0.05),
        ),
        20,
    )
    ids = Counter(gid for _, gid in rec.calls)
    assert set(ids) == {p.group_id for ps in plan.values() for p in ps}
    assert set(ids.values()) == {1}
    q = make_queue()
    prog = await q.progress()
    assert prog.total.groups == 40 and prog.total.bytes == 40_000
    assert prog.by_machine()["m2"].groups == s2.accounts["c"].groups > 0
    assert s2.accounts["c"].steals == s2.accounts["c"].groups  # c had no plan of its own
    assert sum(s.groups for s in [*s1.accounts.values(), *s2.accounts.values()]) == 40
    assert await q.is_done()
    rem = await q.remaining()
    assert (rem.left, rem.in_flight) == (0, 0)
    assert set(await q.accounts()) == {"a", "b"}


async def test_dead_account_hands_back_and_others_finish(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    plan = make_plan({"a": 6, "b": 6, "c": 6})
    await make_queue().enqueue_plan(plan)
    rec = Recorder(dead="b")
    summary = await asyncio.wait_for(
        run_worker_loop(make_queue(lease_s=5), ["a", "b", "c"], "m1", rec, stop=asyncio.Event()), 20
    )
    assert summary.accounts["b"].dead and summary.accounts["b"].released == 1
    ids = Counter(gid for _, gid in rec.calls)
    assert len(ids) == 18 and set(ids.values()) == {1}
    assert {acct for acct, _ in rec.calls} == {"a", "c"}
    assert await make_queue().is_done()


async def test_stop_releases_in_flight_groups_at_once(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    await make_queue().enqueue_plan(make_plan({"a": 1, "b": 0}))
    started, stop = asyncio.Event(), asyncio.Event()
    cancelled: list[str] = []

    async def hang(account: str, p: GroupPayload) -> tuple[int, int]:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(p.group_id)
            raise
        return 0, 0

    loop = asyncio.create_task(run_worker_loop(make_queue(lease_s=60), ["a"], "m1", hang, stop=stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    summary = await asyncio.wait_for(loop, 5)
    assert cancelled == ["m1"]
    assert summary.accounts["a"].released == 1 and summary.accounts["a"].stopped
    other = await make_queue(lease_s=60).steal("b", "m2:b")  # long lease, yet taken at once
    assert other is not None and other.payload.group_id == "m1" and other.delivery_count == 1


async def test_lease_keeper_renews_and_reports_a_lost_lease(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=0.3)
    await q.enqueue_plan(make_plan({"a": 1}))
    (d,) = await q.read_own("a", "m1:a", 1)
    async with LeaseKeeper(q, d, "m1:a") as keeper:
        await asyncio.sleep(0.45)
        assert keeper.renewals >= 2 and not keeper.lost.is_set()
        assert await q.steal("b", "m2:b") is None  # kept alive past the 0.3 s lease
        await q.redis.xclaim(d.stream, "workers", "m2:b", 0, [d.entry_id], justid=True)  # another takes it
        await asyncio.wait_for(keeper.lost.wait(), 1)


async def test_worker_drops_a_group_whose_lease_was_lost(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue(lease_s=0.3)
    await q.enqueue_plan(make_plan({"a": 1}))
    taken = asyncio.Event()

    async def slow(account: str, p: GroupPayload) -> tuple[int, int]:
        entries = await q.redis.xpending_range(q.keys.queue("a"), "workers", "-", "+", 1)
        await q.redis.xclaim(q.keys.queue("a"), "workers", "m2:x", 0, [entries[0]["message_id"]], justid=True)
        taken.set()
        await asyncio.sleep(3600)
        return 0, 0

    stop = asyncio.Event()
    loop = asyncio.create_task(run_worker_loop(q, ["a"], "m1", slow, stop=stop, idle_poll_s=0.05))
    await asyncio.wait_for(taken.wait(), 5)
    await asyncio.sleep(0.4)
    stop.set()
    summary = await asyncio.wait_for(loop, 5)
    assert summary.accounts["a"].lost_leases == 1 and summary.accounts["a"].groups == 0


async def test_failing_group_is_retried_then_dead_lettered(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    await make_queue().enqueue_plan(make_plan({"a": 2}))

    async def flaky(account: str, p: GroupPayload) -> tuple[int, int]:
        if p.group_id == "m1":
            raise RuntimeError("always fails")
        return 1, 1000

    q = make_queue(lease_s=5, max_deliveries=3)
    summary = await asyncio.wait_for(run_worker_loop(q, ["a"], "m1", flaky, stop=asyncio.Event()), 10)
    assert summary.accounts["a"].failures == 3 and summary.accounts["a"].groups == 1
    assert [x.group_id for x in await q.dead_letters()] == ["m1"]
    rem = await q.remaining()
    assert (rem.done, rem.failed, rem.left) == (1, 1, 0)


async def test_coordinator_runs_to_done_and_restarts_without_duplicates(
    make_queue: Callable[..., ClusterQueue], make_plan: Plan
):
    plan = make_plan({"a": 8, "b": 4})
    seen: list[int] = []
    stop = asyncio.Event()
    meta = {"channel": "-1001234", "first_id": 1, "last_id": 12, "strategy": "media_group_aware"}
    coord = asyncio.create_task(
        run_coordinator(make_queue(), plan, meta=meta, poll_s=0.05, on_progress=lambda p, r: seen.append(r.left))
    )
    rec = Recorder()
    await asyncio.wait_for(run_worker_loop(make_queue(), ["a", "b"], "m1", rec, stop=stop, idle_poll_s=0.05), 10)
    summary = await asyncio.wait_for(coord, 5)
    assert summary.finished and (summary.total, summary.done, summary.enqueued_now) == (12, 12, 12)
    assert summary.progress.total.groups == 12 and seen and seen[-1] == 0
    stored = await make_queue().meta()
    assert stored["state"] == "done" and stored["total_groups"] == "12" and stored["strategy"] == "media_group_aware"
    again = await asyncio.wait_for(run_coordinator(make_queue(), plan, meta=meta, poll_s=0.05), 5)
    assert again.finished and again.enqueued_now == 0 and again.total == 12
    assert len(rec.calls) == 12


async def test_redis_round_trips_per_group(make_queue: Callable[..., ClusterQueue], make_plan: Plan):
    q = make_queue()
    await q.enqueue_plan(make_plan({"a": 100}))
    await q.redis.config_resetstat()
    await asyncio.wait_for(run_worker_loop(q, ["a"], "m1", Recorder(0), stop=asyncio.Event()), 10)
    calls = {k: v["calls"] for k, v in (await q.redis.info("commandstats")).items()}
    # One script to take the group, one to complete it; the rest is start-up and the final checks.
    assert calls["cmdstat_evalsha"] <= 2 * 100 + 5
    assert sum(calls.values()) <= 13 * 100
