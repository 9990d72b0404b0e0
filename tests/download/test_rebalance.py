"""Rebalancing once the speeds are measured: held groups first, back to holders, steals made early."""

from __future__ import annotations

from collections.abc import Callable

from test_scheduler import MB, work

from tgfetch.download.scheduler import (
    FETCH_BATCH,
    WARMUP_SECONDS,
    Scheduler,
)
from tgfetch.download.work import GroupWork


def holds(table: dict[str, set[int]]) -> Callable[[str, GroupWork], bool]:
    """known_by(name, group) from the groups (by id()) each client holds the messages of."""
    return lambda name, w: id(w) in table.get(name, set())


# ------------------------------------------------------------- before the rebalance


def test_before_rebalance_a_slot_takes_its_largest_held_group_first() -> None:
    foreign_big, held_mid, held_small, foreign_tiny = work(9 * MB), work(5 * MB), work(1 * MB), work(1000)
    s = Scheduler({"x": [foreign_big, held_mid, held_small, foreign_tiny], "y": []})
    held = {id(held_mid), id(held_small)}
    p = s.next("x", lambda w: id(w) in held)
    assert p is not None and p.work is held_mid and p.kind == "own"
    p = s.next("x", lambda w: id(w) in held, smallest=True)
    assert p is not None and p.work is held_small
    # Nothing held left: the largest (or smallest) group, fetched as before.
    p = s.next("x", lambda w: id(w) in held)
    assert p is not None and p.work is foreign_big
    assert s.clients["x"].queued_bytes == 1000 and s.clients["x"].queued_files == 1


def test_after_rebalance_or_without_stealing_the_queue_order_is_kept() -> None:
    big, small = work(9 * MB), work(1 * MB)
    s = Scheduler({"x": [big, small], "y": []}, stealing=False, backups=False)
    p = s.next("x", lambda w: w is small)
    assert p is not None and p.work is big
    big, small = work(9 * MB), work(1 * MB)
    s = Scheduler({"x": [big, small], "y": []})
    s.rebalanced = True
    p = s.next("x", lambda w: w is small)
    assert p is not None and p.work is big


def test_warm_when_every_client_with_work_was_measured_long_enough() -> None:
    s = Scheduler({"x": [work(MB)], "y": [work(MB)], "idle": []})
    assert not s.warm()
    s.clients["x"].measured_s = WARMUP_SECONDS
    assert not s.warm()
    s.clients["y"].measured_s = WARMUP_SECONDS + 1
    assert s.warm()  # the idle client has nothing to measure; it does not hold the others up
    s.release("y", "revoked", dead=True)
    assert s.warm()
    assert not Scheduler({"x": [work(MB)]}).warm()  # one client: nothing to balance


# ------------------------------------------------------------------ the rebalance


def test_first_rebalance_gives_groups_back_to_their_holders_and_moves_the_largest() -> None:
    # The plan assumed equal speeds; "fast" is 3x "slow".  Each holds what it scanned.
    slow_scanned = [work(8 * MB), work(4 * MB), work(2 * MB), work(2 * MB)]
    fast_scanned = [work(8 * MB), work(4 * MB), work(2 * MB), work(2 * MB)]
    plan = {"slow": [fast_scanned[2], *slow_scanned], "fast": [slow_scanned[3], *fast_scanned[:2], fast_scanned[3]]}
    plan["slow"].remove(slow_scanned[3])
    s = Scheduler(plan, {"slow": 1 * MB, "fast": 3 * MB})
    known = holds({"slow": {id(w) for w in slow_scanned}, "fast": {id(w) for w in fast_scanned}})
    moved = s.rebalance(known)
    assert s.rebalanced and moved > 0
    fast, slow = s.clients["fast"], s.clients["slow"]
    # Each group scanned by "fast" is back with it; "slow" keeps only groups it holds.
    assert set(map(id, fast_scanned)) <= set(map(id, fast.queue))
    assert all(known("slow", w) for w in slow.queue)
    # The balance took the largest of slow's groups (the fewest messages per second of work):
    # 16 MB at 1 MB/s against 16 MB at 3 MB/s become 8 s each.
    assert list(slow.queue) == slow_scanned[1:]
    assert list(fast.queue) == [slow_scanned[0], *fast_scanned]
    assert fast.est_remaining < slow.est_remaining + slow.time_for(8 * MB, 1)
    assert slow.est_remaining < fast.est_remaining + fast.time_for(2 * MB, 1)
    # Queues stay largest first, owners follow, moves count as steals.
    for c in (fast, slow):
        sizes = [w.bytes_left for w in c.queue]
        assert sizes == sorted(sizes, reverse=True)
        assert all(w.owner == c.name for w in c.queue)
    assert fast.stolen_in + slow.stolen_in == fast.stolen_out + slow.stolen_out == moved
    assert sum(len(c.queue) for c in (fast, slow)) == 8


def test_a_plan_on_track_is_kept() -> None:
    # Balanced within ON_TRACK: even the group "x" would have to fetch stays with it.
    a, b = [work(4 * MB), work(2 * MB)], [work(4 * MB), work(2 * MB)]
    s = Scheduler({"x": a, "y": b}, {"x": 1 * MB, "y": 1.02 * MB})
    assert s.rebalance(holds({"x": {id(a[0])}, "y": {*map(id, b), id(a[1])}})) == 0
    assert list(s.clients["x"].queue) == a and list(s.clients["y"].queue) == b
    # Off track (y twice as fast): the group goes back to its holder and the balance follows.
    a, b = [work(4 * MB), work(2 * MB)], [work(4 * MB), work(2 * MB)]
    s = Scheduler({"x": a, "y": b}, {"x": 1 * MB, "y": 2 * MB})
    assert s.rebalance(holds({"x": {id(a[0])}, "y": {*map(id, b), id(a[1])}})) > 0
    assert a[1] in s.clients["y"].queue


def test_later_rebalances_move_held_groups_first_and_others_when_worth_a_call() -> None:
    fast_held = work(1 * MB)
    slow = [work(5 * MB), work(5 * MB), fast_held]
    s = Scheduler({"slow": slow, "fast": []}, {"slow": 1 * MB, "fast": 5 * MB})
    s.rebalanced = True  # the first one happened
    known = holds({"slow": set(map(id, slow)), "fast": {id(fast_held)}})
    # Held first: the 1 MB group costs "fast" no call; the 5 MB groups are 4 and 3 s sooner on "fast"
    # (worth a getMessages call each); then "slow", idle, takes the 1 MB group back (0.8 s sooner).
    assert s.rebalance(known) == 4
    assert list(s.clients["fast"].queue) == slow[:2] and list(s.clients["slow"].queue) == [fast_held]
    assert slow[0].owner == slow[1].owner == "fast"
    assert s.rebalance(known) == 0  # balanced: 2 s on "fast", 1 s on "slow"


def test_later_rebalances_fetch_nothing_for_a_gain_under_the_margin() -> None:
    # "fast" would finish the slow account's 0.2 MB group 0.16 s sooner than "slow": under
    # REBALANCE_MARGIN (speeds drift: such a move soon reverses), so no getMessages call is spent.
    slow = [work(200_000)]
    s = Scheduler({"slow": slow, "fast": []}, {"slow": 1 * MB, "fast": 5 * MB})
    s.rebalanced = True
    assert s.rebalance(holds({"slow": set(map(id, slow)), "fast": set()})) == 0
    assert list(s.clients["slow"].queue) == slow


def test_consolidate_hands_a_few_foreign_groups_to_an_account_whose_call_has_room() -> None:
    # "slow" must fetch one small album (split between two scan batches, say); "fast" fetches
    # anyway and has room in its call: the album goes to "fast", "slow" makes no call at all.
    odd = work(100_000, 100_000, 100_000)
    fast_foreign = work(6 * MB)
    slow_own = [work(2 * MB), work(2 * MB)]
    fast_own = [work(2 * MB)]
    s = Scheduler({"slow": [*slow_own, odd], "fast": [*fast_own, fast_foreign]}, {"slow": 1 * MB, "fast": 5 * MB})
    known = holds({"slow": set(map(id, slow_own)), "fast": set(map(id, fast_own))})
    s.rebalance(known)
    assert odd in s.clients["fast"].queue and fast_foreign in s.clients["fast"].queue
    assert all(known("slow", w) for w in s.clients["slow"].queue)


def test_consolidate_never_delays_the_run_by_more_than_a_call() -> None:
    # Moving the 4 MB album to "fast" (whose call has room) would make it finish far
    # later than "slow" would, more than MIN_REFETCH_GAIN: kept.
    odd = work(2 * MB, 2 * MB)
    s = Scheduler({"slow": [odd], "fast": [work(5 * MB)]}, {"slow": 1 * MB, "fast": 1 * MB})
    s.rebalance(holds({}))
    assert list(s.clients["slow"].queue) == [odd]


def test_consolidate_only_into_room_left_in_a_call() -> None:
    # "fast" fetches FETCH_BATCH ids already: one more would cost it a second call.  With
    # 10 ids less there is room.
    for spare, moved in ((0, False), (10, True)):
        full = [work(*[1000] * 10) for _ in range((FETCH_BATCH - spare) // 10)]
        odd = work(1000)
        s = Scheduler({"slow": [odd], "fast": full}, {"slow": 1 * MB, "fast": 100 * MB})
        for c in s.clients.values():
            c.overhead = 0.0
        s.rebalance(holds({}))
        assert (odd in s.clients["fast"].queue) is moved, spare
        assert (list(s.clients["slow"].queue) == [odd]) is not moved


def test_tail_order_starts_where_both_ends_of_the_queue_meet() -> None:
    ws = [work(s * MB) for s in (8, 4, 2, 1, 1)]
    s = Scheduler({"x": ws}, {"x": 1 * MB})
    c = s.clients["x"]
    c.overhead = 0.0
    # 16 MB: two thirds (10.7 MB) from the front are reached inside the 4 MB group.
    assert list(c.tail_order(2 / 3)) == [ws[1], ws[0], ws[2], ws[3], ws[4]]
    assert list(c.tail_order(1.0)) == [ws[4], ws[3], ws[2], ws[1], ws[0]]
    assert list(c.tail_order(0.0)) == ws
    assert list(Scheduler({"y": []}).clients["y"].tail_order(0.5)) == []


def test_rebalance_keeps_every_group_exactly_once() -> None:
    groups = [work(*[(i % 7 + 1) * 100_000] * (i % 3 + 1)) for i in range(60)]
    plan: dict[str, list[GroupWork]] = {f"c{i}": groups[i::4] for i in range(4)}
    s = Scheduler(plan, {"c0": 1 * MB, "c1": 9 * MB, "c2": 3 * MB, "c3": 0.5 * MB})
    scanner = {id(w): f"c{(i * 7) % 4}" for i, w in enumerate(groups)}
    known = lambda name, w: scanner[id(w)] == name  # noqa: E731
    assert s.rebalance(known) > 0
    s.rebalance(known)
    queued = [w for c in s.clients.values() for w in c.queue]
    assert sorted(map(id, queued)) == sorted(map(id, groups))
    for c in s.clients.values():
        assert c.queued_bytes == sum(w.bytes_left for w in c.queue)
        assert c.queued_files == sum(len(w.remaining) for w in c.queue)


def test_a_steal_needing_a_call_takes_a_batch_that_pays_for_it() -> None:
    # 30 groups of 50 KB at 1 MB/s: each alone saves the victim 0.05 s, less than a call is
    # worth, but the thief (10x faster) takes as many as it finishes sooner, in one call.
    small = [work(50_000) for _ in range(30)]
    s = Scheduler({"thief": [], "v": small}, {"thief": 10 * MB, "v": 1 * MB}, backups=False)
    for c in s.clients.values():
        c.overhead = 0.0
    p = s.next("thief", lambda w: False)
    assert p is not None and p.kind == "steal" and p.work is small[0] and p.victim == "v"
    thief, v = s.clients["thief"], s.clients["v"]
    taken = [p.work, *thief.queue]
    # The 28th still ends (28 x 5 ms) before the victim's last three would (3 x 50 ms); a 29th not.
    assert len(taken) == 28
    assert thief.stolen_in == v.stolen_out == 28 and len(v.queue) == 2
    assert all(w.owner == "thief" for w in taken) and sum(len(w.files) for w in taken) <= FETCH_BATCH
    # One group alone would not have paid for the call.
    s = Scheduler({"thief": [], "v": [work(50_000), work(50_000)]}, {"thief": 10 * MB, "v": 1 * MB}, backups=False)
    assert s.next("thief", lambda w: False) is None


def test_a_later_rebalance_moves_a_group_only_for_a_real_gain() -> None:
    """After the first rebalance the speeds drift and are noisy: a group moves only when the later of
    the two finishes comes REBALANCE_MARGIN sooner, or it would go back and forth at every tick."""
    from tgfetch.download.scheduler import REBALANCE_MARGIN

    def later_rebalance(fast_speed: float) -> int:
        big = [work(2 * MB) for _ in range(3)]
        s = Scheduler({"slow": big, "fast": [work(2 * MB) for _ in range(2)]})
        for name, speed in (("slow", 1 * MB), ("fast", fast_speed)):
            s.update_estimates(name, speed=speed, measured_s=5.0, waiting=0.0, overhead=0.0)
        s.rebalanced = True  # the first one is done
        return s.rebalance(holds({"fast": {id(w) for w in big}}))

    # slow: 6 s left; fast at 1.02 MB/s: 3.9 s, 5.9 s with a 2 MB group: 0.1 s sooner, not worth a move
    assert 0 < 6 - 6 / 1.02 < REBALANCE_MARGIN
    assert later_rebalance(1.02 * MB) == 0
    # fast at 1.1 MB/s: 3.6 s + 1.8 s = 5.5 s against slow's 6 s: 0.5 s sooner, worth it
    assert 6 - (4 / 1.1 + 2 / 1.1) > REBALANCE_MARGIN
    assert later_rebalance(1.1 * MB) == 1
