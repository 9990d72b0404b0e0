"""Scheduler bookkeeping: own queues, steal choice, released work, backups, speeds."""

from __future__ import annotations

import itertools
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tgfetch.download.scheduler import (
    BACKUP_MARGIN,
    DEFAULT_OVERHEAD,
    DEFAULT_SPEED,
    Scheduler,
)
from tgfetch.download.work import FileTask, GroupWork, PickKind
from tgfetch.model import MessageGroup, MessageInfo

_ids = itertools.count(1)


def work(*sizes: int, album: bool | None = None) -> GroupWork:
    """A group of len(sizes) files (an album when more than one)."""
    album = len(sizes) > 1 if album is None else album
    first = next(_ids) * 100
    gid = first if album else None
    infos = [MessageInfo(first + i, gid, s, f"f{i}", None, "document") for i, s in enumerate(sizes)]
    group = MessageGroup.of(infos)
    files = [FileTask(m, PurePosixPath(f"{m.message_id}.bin"), i + 1 if album else None, len(infos), "")
             for i, m in enumerate(infos)]
    return GroupWork(group, files, "")


def finish(s: Scheduler, name: str, w: GroupWork) -> None:
    """`name` downloads every remaining file of `w` and lets it go."""
    for f in w.remaining:
        w.done(f.info.message_id)
    s.group_left(name, w)


MB = 1_000_000


# ------------------------------------------------------------------ own queue


def test_own_queue_largest_group_first_ties_by_first_id() -> None:
    a, b, c = work(1 * MB), work(5 * MB), work(1 * MB)
    s = Scheduler({"x": [a, b, c]})
    got = [s.next("x") for _ in range(3)]
    assert [p.work for p in got if p] == [b, a, c]
    assert {p.kind for p in got if p} == {"own"}
    assert s.clients["x"].inflight == [b, a, c]
    assert all(w.owner == "x" and w.copies == {"x"} for w in (a, b, c))


def test_smallest_slot_takes_the_queue_from_its_small_end() -> None:
    big, mid, tiny = work(5 * MB), work(1 * MB), work(10_000)
    s = Scheduler({"x": [mid, tiny, big]}, stealing=False, backups=False)
    p = s.next("x", smallest=True)
    assert p is not None and p.work is tiny and p.kind == "own"
    assert s.clients["x"].queued_bytes == 6 * MB and s.clients["x"].queued_files == 2
    assert [p.work for p in (s.next("x"), s.next("x", smallest=True)) if p] == [big, mid]


def test_as_many_slots_take_the_small_end_as_the_tiny_files_per_file_time_needs() -> None:
    """A small file holds a slot for its per-file time, not bandwidth: enough slots take the small
    end to spread that time over the bandwidth-bound rest (one before it is measured; two slots
    always stay on the big files)."""

    def picks(latency: float) -> tuple[list[bool], int]:
        tiny = [work(10_000) for _ in range(200)]
        s = Scheduler({"x": [*tiny, *(work(20 * MB) for _ in range(10))]}, stealing=False, backups=False)
        s.clients["x"].slots = 5
        s.update_estimates("x", speed=10 * MB, measured_s=2.0, waiting=0.0, overhead=None, latency=latency)
        got = [s.next("x") for _ in range(5)]
        return [p is not None and p.work in tiny for p in got], len(s.clients["x"].small_end)

    assert picks(0.0) == ([True, False, False, False, False], 1)  # not measured yet: one slot
    # 210 files x 0.15 s = 31.5 s of per-file time over 20.2 s of bytes: two slots on the small end
    assert picks(0.15) == ([True, True, False, False, False], 2)
    assert picks(1.0) == ([True, True, True, False, False], 3)  # two slots stay on the big files


def test_a_spare_slot_takes_only_from_its_own_queue() -> None:
    """`own_only` (a spare slot): the client's own queue, never a steal."""
    mine, theirs = work(2 * MB), work(9 * MB)
    s = Scheduler({"a": [mine], "b": [theirs, work(8 * MB)]}, backups=False)
    p = s.next("a", own_only=True)
    assert p is not None and p.work is mine and p.kind == "own"
    assert s.next("a", own_only=True) is None  # its queue is empty: no steal of b's group
    p = s.next("a")
    assert p is not None and p.work is theirs and p.kind == "steal"


def test_finished_only_when_nothing_queued_released_or_in_flight() -> None:
    a = work(10)
    s = Scheduler({"x": [a], "y": []}, stealing=False, backups=False)
    assert not s.finished
    p = s.next("x")
    assert p is not None and not s.finished
    assert s.next("y") is None
    finish(s, "x", a)
    assert s.finished
    assert s.clients["x"].inflight == []


def test_unknown_learned_speeds_default() -> None:
    s = Scheduler({"x": [], "y": []}, {"x": 5e6})
    assert s.clients["x"].speed == 5e6
    assert s.clients["y"].speed == DEFAULT_SPEED
    assert s.clients["y"].overhead == DEFAULT_OVERHEAD


# ---------------------------------------------------------------------- steal


def test_idle_client_steals_largest_group_it_can_finish_sooner_from_most_loaded() -> None:
    small_victim = [work(2 * MB), work(2 * MB)]
    big1, big2, big3 = work(8 * MB), work(6 * MB), work(1 * MB)
    s = Scheduler({"thief": [], "v1": small_victim, "v2": [big1, big2, big3]}, backups=False)
    p = s.next("thief")
    assert p is not None and p.kind == "steal" and p.victim == "v2"
    assert p.work is big1  # the largest unstarted group of the most loaded client
    assert list(s.clients["v2"].queue) == [big2, big3]
    assert s.clients["v2"].stolen_out == 1 and s.clients["thief"].stolen_in == 1
    assert big1.owner == "thief" and big1.copies == {"thief"}


def test_steal_never_splits_an_album() -> None:
    album = work(3 * MB, 3 * MB, 3 * MB)
    other = work(1 * MB)
    s = Scheduler({"thief": [], "v": [album, other]}, backups=False)
    p = s.next("thief")
    assert p is not None and p.work is album
    assert [f.info.message_id for f in p.work.files] == album.group.message_ids
    assert list(s.clients["v"].queue) == [other]


def test_steal_skips_a_group_the_thief_would_finish_later() -> None:
    # The thief is 10x slower: 10 MB would take it 10 s, the victim needs only ~1.1 s for everything.
    big, small = work(10 * MB), work(100_000)
    s = Scheduler({"slow": [], "fast": [big, small]}, {"slow": 1e6, "fast": 10e6}, backups=False)
    p = s.next("slow")
    assert p is not None and p.work is small  # the small one is still worth taking
    assert list(s.clients["fast"].queue) == [big]
    assert s.next("slow") is None  # own in-flight load now makes even nothing worth it


def test_steal_prefers_a_group_the_thief_holds_the_messages_of_from_any_victim() -> None:
    v1_big, v1_small = work(6 * MB), work(2 * MB)
    v2_known = work(1 * MB)
    s = Scheduler({"thief": [], "v1": [v1_big, v1_small], "v2": [v2_known, work(3 * MB)]}, backups=False)
    known = {id(v1_small), id(v2_known)}
    p = s.next("thief", lambda w: id(w) in known)
    # v1 is the most loaded: its largest group it holds the messages of wins over its bigger one.
    assert p is not None and p.kind == "steal" and p.work is v1_small and p.victim == "v1"
    p = s.next("thief", lambda w: id(w) in known)
    assert p is not None and p.work is v2_known and p.victim == "v2"  # from the next victim, still free
    assert list(s.clients["v1"].queue) == [v1_big]


def test_steal_needing_a_refetch_must_save_enough_time() -> None:
    # The victim would finish the tiny group in 10 ms: not worth a getMessages call...
    tiny, tiny2 = work(5_000), work(5_000)
    s = Scheduler({"thief": [], "v": [tiny, tiny2]}, {"thief": 1e6, "v": 1e6}, backups=False)
    assert s.next("thief", lambda w: False) is None
    # ...but taken when the thief already holds its messages (no call).
    p = s.next("thief", lambda w: True)
    assert p is not None and p.work is tiny
    # A big group is worth the call.
    big1, big2 = work(5 * MB), work(5 * MB)
    s = Scheduler({"thief": [], "v": [big1, big2]}, {"thief": 1e6, "v": 1e6}, backups=False)
    p = s.next("thief", lambda w: False)
    assert p is not None and p.work is big1 and p.kind == "steal"


def test_no_steal_when_it_would_not_help() -> None:
    a = work(1 * MB)
    s = Scheduler({"thief": [], "v": [a]}, backups=False)
    # The victim holds one group: the thief would finish it no sooner than the victim.
    assert s.next("thief") is None
    assert list(s.clients["v"].queue) == [a]


def test_stealing_disabled() -> None:
    s = Scheduler({"thief": [], "v": [work(9 * MB), work(9 * MB)]}, stealing=False, backups=False)
    assert s.next("thief") is None


def test_no_steal_from_dead_client_but_its_work_is_released() -> None:
    q = [work(5 * MB), work(4 * MB)]
    s = Scheduler({"a": [], "dead": q}, backups=False)
    s.clients["dead"].dead = "revoked"
    assert s.next("a") is None  # dead clients are not victims...
    s.release("dead", "revoked", dead=True)
    p = s.next("a")  # ...their queue is released instead
    assert p is not None and p.kind == "released" and p.work is q[0]


# ------------------------------------------------------------ release/failover


def test_release_dead_hands_queue_back_and_in_flight_group_on_leave() -> None:
    a1, a2, a3 = work(3 * MB), work(2 * MB, 2 * MB), work(1 * MB)
    s = Scheduler({"a": [a1, a2, a3], "b": []}, stealing=False, backups=False)
    p = s.next("a")
    assert p is not None and p.work is a2  # 4 MB album is the largest
    a2.done(a2.files[0].info.message_id)
    moved = s.release("a", "AuthKeyUnregisteredError", dead=True)
    assert moved == 2
    assert s.clients["a"].dead == "AuthKeyUnregisteredError"
    assert s.clients["a"].handoffs == 2 and list(s.clients["a"].queue) == []
    assert s.next("a") is None  # dead clients get nothing
    s.group_left("a", a2)  # the engine's slot lets the half-done album go
    assert a2 in s.released and a2.copies == set()
    assert s.alive == [s.clients["b"]]
    got = []
    while (pk := s.next("b")) is not None:
        assert pk.kind == "released"
        got.append(pk.work)
    assert got == [a1, a2, a3]  # largest bytes left first (a2 has 2 MB left)
    assert a2.remaining == [a2.files[1]]  # only the missing file of the album is left
    for w in got:
        finish(s, "b", w)
    assert s.finished


def test_release_flood_wait_pauses_then_resume() -> None:
    a1, a2 = work(1 * MB), work(2 * MB)
    s = Scheduler({"a": [a1, a2], "b": []}, stealing=False, backups=False)
    assert s.release("a", "FLOOD_WAIT 300s", dead=False) == 2
    me = s.clients["a"]
    assert me.paused and me.dead is None and me in s.alive
    assert s.next("a") is None
    p = s.next("b")
    assert p is not None and p.work is a2 and p.kind == "released"
    s.resume("a")
    p2 = s.next("a")
    assert p2 is not None and p2.work is a1 and p2.kind == "released"


def test_group_left_after_finishing_does_not_release() -> None:
    a = work(1 * MB, 1 * MB)
    s = Scheduler({"a": [a]})
    s.next("a")
    finish(s, "a", a)
    assert s.released == [] and s.finished


def test_group_left_by_losing_copy_keeps_winner_copy() -> None:
    a = work(1 * MB)
    s = Scheduler({"a": [a], "b": []})
    s.next("a")
    a.copies.add("b")
    s.clients["b"].inflight.append(a)
    s.group_left("b", a)  # the backup gave up: the owner still works on it
    assert s.released == [] and a.copies == {"a"}


def test_group_left_twice_releases_once() -> None:
    a = work(1 * MB)
    s = Scheduler({"a": [a], "b": []}, stealing=False, backups=False)
    s.next("a")
    s.group_left("a", a)
    s.group_left("a", a)
    assert s.released == [a]


def test_changes_reach_the_listeners() -> None:
    s = Scheduler({"a": [work(1 * MB)], "b": []})
    heard: list[str] = []
    s.on_change(lambda: heard.append("change"))
    s.release("a", "x", dead=False)
    assert heard == ["change"]
    p = s.next("b")
    assert p is not None and p.kind is PickKind.RELEASED
    s.group_left("b", p.work)
    assert heard == ["change", "change"]


# ------------------------------------------------------------ migration, backups


def one_file_done(w: GroupWork) -> GroupWork:
    """The owner has finished a file of w: the group can no longer migrate whole."""
    w.done_ids.add(w.files[0].info.message_id)
    return w


def test_migrate_a_slow_clients_started_group_before_any_file_is_done() -> None:
    slow_w, fast_w = work(8 * MB), work(1 * MB)
    s = Scheduler({"slow": [slow_w], "fast": [fast_w]}, {"slow": 1e6, "fast": 20e6})
    s.next("slow")
    s.next("fast")
    finish(s, "fast", fast_w)
    p = s.next("fast")
    assert p is not None and p.kind == "migrate" and p.victim == "slow" and p.work is slow_w
    assert slow_w.owner == "fast" and slow_w.copies == {"fast"} and slow_w.winner is None
    assert slow_w not in s.clients["slow"].inflight and s.clients["slow"].stolen_out == 1
    assert s.clients["slow"].handoffs == 0  # a hand-off is a failing account's; this is a steal
    s.group_left("slow", slow_w)  # the old owner stops: nothing is released
    assert s.released == []
    finish(s, "fast", slow_w)
    assert s.finished


def test_no_migration_without_margin() -> None:
    w = work(8 * MB)
    s = Scheduler({"a": [w], "b": []}, {"a": 10e6, "b": 10e6 * BACKUP_MARGIN * 0.99}, backups=False)
    s.next("a")
    assert s.next("b") is None


def test_backup_of_slow_clients_group_when_nothing_to_steal() -> None:
    slow_w, fast_w = work(8 * MB, 8 * MB), work(1 * MB)
    s = Scheduler({"slow": [slow_w], "fast": [fast_w]}, {"slow": 1e6, "fast": 20e6})
    s.next("slow")
    s.next("fast")
    finish(s, "fast", fast_w)
    one_file_done(slow_w)
    p = s.next("fast")
    assert p is not None and p.kind == "backup" and p.victim == "slow" and p.work is slow_w
    assert slow_w.copies == {"slow", "fast"} and slow_w.owner == "slow"
    assert s.clients["fast"].backups == 1
    assert s.next("fast") is None  # busy with the backup
    # The first copy to finish wins; the loser's leave does not release anything.
    finish(s, "fast", slow_w)
    s.group_left("slow", slow_w)
    assert s.finished and s.released == []


def test_backup_needs_margin() -> None:
    w = one_file_done(work(1 * MB, 8 * MB))
    speed = 10e6
    s = Scheduler({"a": [w], "b": []}, {"a": speed, "b": speed * BACKUP_MARGIN * 0.99})
    s.next("a")
    assert s.next("b") is None  # not BACKUP_MARGIN times faster (for the whole group)
    s2 = Scheduler({"a": [w], "b": []}, {"a": speed, "b": speed * BACKUP_MARGIN * 1.5})
    w.copies.clear()
    s2.next("a")
    p = s2.next("b")
    assert p is not None and p.kind == "backup"


def test_at_most_one_backup_per_group_and_picks_the_slowest() -> None:
    w1, w2 = one_file_done(work(1, 4 * MB)), one_file_done(work(1, 4 * MB))
    s = Scheduler({"s1": [w1], "s2": [w2], "f1": [], "f2": []},
                  {"s1": 1e6, "s2": 0.5e6, "f1": 50e6, "f2": 50e6})
    s.next("s1")
    s.next("s2")
    p1, p2 = s.next("f1"), s.next("f2")
    assert p1 is not None and p1.work is w2  # the group that would finish last
    assert p2 is not None and p2.work is w1
    assert s.next("f1") is None


def test_backups_disabled_and_dead_owner_ignored() -> None:
    w = one_file_done(work(1, 8 * MB))
    s = Scheduler({"a": [w], "b": []}, {"a": 1e5, "b": 1e8}, backups=False)
    s.next("a")
    assert s.next("b") is None
    s2 = Scheduler({"a": [w], "b": []}, {"a": 1e5, "b": 1e8})
    w.copies.clear()
    s2.next("a")
    s2.clients["a"].dead = "gone"
    assert s2.next("b") is None


# ---------------------------------------------------------------------- speeds


def test_update_estimates_sets_the_measured_values() -> None:
    s = Scheduler({"a": []})
    c = s.clients["a"]
    s.update_estimates("a", speed=4e6, measured_s=2.0, waiting=0.0, overhead=None)
    assert (c.speed, c.measured_s, c.waiting, c.overhead) == (4e6, 2.0, 0.0, DEFAULT_OVERHEAD)
    s.update_estimates("a", speed=2e6, measured_s=3.0, waiting=1.5, overhead=0.01)
    assert (c.speed, c.measured_s, c.waiting, c.overhead) == (2e6, 3.0, 1.5, 0.01)


def test_est_remaining_counts_queue_and_in_flight_bytes_left() -> None:
    a, b = work(2 * MB, 2 * MB), work(1 * MB)
    s = Scheduler({"x": [a, b]}, {"x": 1e6})
    c = s.clients["x"]
    assert c.est_remaining == pytest.approx(5.0 + 3 * DEFAULT_OVERHEAD)
    s.next("x")
    a.done(a.files[0].info.message_id)
    assert c.est_remaining == pytest.approx(3.0 + 2 * DEFAULT_OVERHEAD)


# ----------------------------------------------------------------- invariants


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(1, 20 * MB), min_size=1, max_size=10), min_size=0, max_size=25),
    nclients=st.integers(1, 4),
    speeds=st.lists(st.floats(1e5, 1e8), min_size=4, max_size=4),
    ops=st.lists(st.tuples(st.integers(0, 3),
                           st.sampled_from(["next", "finish", "die", "pause", "resume", "rebalance"])),
                 max_size=200),
)
def test_every_group_done_exactly_once_whatever_happens(
    sizes: list[list[int]], nclients: int, speeds: list[float], ops: list[tuple[int, str]],
) -> None:
    names = [f"c{i}" for i in range(nclients)]
    groups = [work(*g) for g in sizes]
    plan = {n: groups[i::nclients] for i, n in enumerate(names)}
    s = Scheduler(plan, dict(zip(names, speeds, strict=False)))
    held: dict[str, list[GroupWork]] = {n: [] for n in names}
    done_by: dict[int, str] = {}

    def do_finish(n: str) -> None:
        if held[n]:
            w = held[n].pop(0)
            for f in w.remaining:
                assert f.info.message_id not in done_by
                done_by[f.info.message_id] = n
                w.done(f.info.message_id)
            s.group_left(n, w)
            for other in names:  # a finished group's other copies lose the race
                if w in held[other]:
                    held[other].remove(w)
                    s.group_left(other, w)

    for i, op in ops:
        n = names[i % nclients]
        if op == "next" and (p := s.next(n)) is not None:
            assert p.work.remaining, "handed out a group with nothing left"
            assert p.work not in held[n]
            held[n].append(p.work)
        elif op == "finish":
            do_finish(n)
        elif op == "die" and len(s.alive) > 1 and s.clients[n].dead is None:
            s.release(n, "dead", dead=True)
            for w in list(held[n]):
                held[n].remove(w)
                s.group_left(n, w)
        elif op == "pause" and s.clients[n].dead is None:
            s.release(n, "flood", dead=False)
        elif op == "resume":
            s.resume(n)
        elif op == "rebalance":  # the first moves anything; later ones what the taker "holds"
            s.rebalance(lambda name, w, k=i: (w.group.first_id + len(name)) % (k + 2) == 0)
    # Drain: every alive client resumes and works until the scheduler is finished.
    for n in names:
        if s.clients[n].dead is None:
            s.resume(n)
    for _ in range(10_000):
        if s.finished:
            break
        progressed = False
        for n in names:
            if s.clients[n].dead is not None:
                continue
            if (p := s.next(n)) is not None:
                held[n].append(p.work)
                progressed = True
            if held[n]:
                do_finish(n)
                progressed = True
        assert progressed, "stuck: work left but nobody can take it"
    assert s.finished
    want = {f.info.message_id for g in groups for f in g.files}
    assert set(done_by) == want
    for g in groups:  # groups move whole, so one client did every file of each group
        assert len({done_by[f.info.message_id] for f in g.files}) == 1
