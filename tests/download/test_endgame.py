"""The end-game of a job (issue 15): an idle fast account takes over or backs up a slow account's
last groups in flight when it would have them sooner; before the speeds are known, slots start single
files (which can still move) before albums (pinned to an account by their first file).  Scheduler
choices first (pure bookkeeping), then whole jobs on the simulator (real Telethon clients, loopback
only): behaviour only, never timing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from download_helpers import albums_on_one_account, check_all_files, run_with_bandwidths, settings_for
from test_scheduler import MB, one_file_done, work

from tgfetch.download.scheduler import Scheduler
from tgfetch.download.work import GroupWork, Pick, PickKind
from tgfetch.job import JobReport, download_channel
from tgfetch.telegram.simulator import SimulatedTelegram

KB = 1000
RACES = (PickKind.MIGRATE, PickKind.BACKUP)


def started(s: Scheduler, name: str, *groups: GroupWork) -> None:
    """`name`'s slots start these groups (its own queue) in this order."""
    for w in groups:
        p = s.next(name)
        assert p is not None and p.work is w, (p, w)


# ------------------------------------------------------------ estimates


def test_groups_in_flight_share_the_owners_bandwidth() -> None:
    small, big = work(1 * MB), work(4 * MB)
    s = Scheduler({"a": [big, small]}, {"a": 1e6})
    started(s, "a", big, small)
    a = s.clients["a"]
    a.overhead = 0.0
    # Both get half the bandwidth until the small one is done: 2 s for it, then 3 s more for the big one.
    assert a.finish_of(small) == pytest.approx(2.0)
    assert a.finish_of(big) == pytest.approx(5.0) == a.est_remaining
    a.waiting = 1.5  # a short FLOOD_WAIT it sits in comes first
    assert a.finish_of(small) == pytest.approx(3.5)


# ------------------------------------------------------------ the end-game of idle clients


def test_idle_client_takes_over_a_file_sharing_the_slow_clients_bandwidth() -> None:
    """Alone, the slow client's file would end before the fast one could fetch it again; sharing
    the slow client's bandwidth with its other group in flight, it ends later: taken over."""
    last, other = work(2 * MB), work(2 * MB)
    s = Scheduler({"slow": [last, other], "fast": []}, {"slow": 2e6, "fast": 2e6 * 1.1})
    started(s, "slow", last, other)
    assert s.clients["slow"].time_for(2 * MB, 1) < 1.2 * s.clients["fast"].time_for(2 * MB, 1)
    p = s.next("fast")
    assert p is not None and p.kind is PickKind.MIGRATE and p.victim == "slow"
    assert p.work.owner == "fast" and p.work.copies == {"fast"}
    assert s.clients["fast"].stolen_in == 1 and s.clients["slow"].stolen_out == 1
    assert s.clients["fast"].takeovers == 1 and s.clients["fast"].backups == 0


def test_idle_client_backs_up_a_started_album_whole() -> None:
    album = one_file_done(work(1 * MB, 3 * MB, 3 * MB))
    s = Scheduler({"slow": [album], "fast": []}, {"slow": 1e6, "fast": 10e6})
    started(s, "slow", album)
    p = s.next("fast")
    assert p is not None and p.kind is PickKind.BACKUP and p.work is album
    assert album.owner == "slow" and album.copies == {"slow", "fast"}
    assert s.clients["fast"].backups == 1


def test_no_race_when_the_owner_has_it_sooner() -> None:
    w = work(8 * MB)
    s = Scheduler({"a": [w], "b": []}, {"a": 10e6, "b": 11e6})
    started(s, "a", w)
    assert s.next("b") is None


def test_no_race_before_the_idle_clients_speed_is_known() -> None:
    """An idle client's prior speed says nothing: it races only once this run measured it (or an
    earlier run's speed was learned)."""
    w = work(4 * MB)
    s = Scheduler({"slow": [w], "fast": []})
    started(s, "slow", w)
    s.update_estimates("slow", speed=0.1e6, measured_s=2.0, waiting=0.0, overhead=None)
    s.update_estimates("fast", speed=10e6, measured_s=0.5, waiting=0.0, overhead=None)
    assert s.next("fast") is None
    s.update_estimates("fast", speed=10e6, measured_s=1.0, waiting=0.0, overhead=None)
    p = s.next("fast")
    assert p is not None and p.kind is PickKind.MIGRATE and p.work is w


def test_a_flood_waiting_owner_has_its_group_taken_over() -> None:
    """A short FLOOD_WAIT of the owner counts in when it would have its group."""
    w = work(2 * MB)
    s = Scheduler({"a": [w], "b": []}, {"a": 10e6, "b": 10e6})
    started(s, "a", w)
    assert s.next("b") is None
    s.update_estimates("a", speed=10e6, measured_s=2.0, waiting=5.0, overhead=None)
    p = s.next("b")
    assert p is not None and p.kind is PickKind.MIGRATE and p.victim == "a"


def test_a_group_taken_over_is_not_taken_back_before_its_old_slot_stopped() -> None:
    """The old owner's slot is still stopping (its requests in flight, its `.part` writes) when the
    take-over happens; until it has left, the old owner neither takes the group back nor backs it
    up, and its slot leaving touches nothing of the new owner's."""
    w = work(4 * MB)
    s = Scheduler({"a": [w], "b": []}, {"a": 1e6, "b": 10e6})
    started(s, "a", w)
    p = s.next("b")
    assert p is not None and p.kind is PickKind.MIGRATE and p.victim == "a"
    s.update_estimates("b", speed=0.1e6, measured_s=5.0, waiting=30.0, overhead=None)  # b now stuck
    s.update_estimates("a", speed=10e6, measured_s=5.0, waiting=0.0, overhead=None)
    assert s.next("a") is None  # a's stopped slot has not left the group yet
    s.group_left("a", w)
    assert w.owner == "b" and w.copies == {"b"} and s.clients["b"].inflight == [w] and not s.released
    p = s.next("a")
    assert p is not None and p.kind is PickKind.MIGRATE and p.victim == "b"  # now it may


# ------------------------------------------------------------ groups started before the speeds were known


def test_before_the_speeds_are_known_a_slot_starts_single_files_before_albums() -> None:
    album, single, small = work(3 * MB, 3 * MB), work(2 * MB), work(1 * MB)
    s = Scheduler({"x": [album, single, small], "y": []})
    held = lambda w: True  # noqa: E731 - every group's messages are held
    p = s.next("x", held)
    assert p is not None and p.work is single
    p = s.next("x", held, smallest=True)
    assert p is not None and p.work is small
    p = s.next("x", held)
    assert p is not None and p.work is album  # no single left
    s2 = Scheduler({"x": [work(3 * MB, 3 * MB), work(2 * MB)], "y": []})
    s2.rebalanced = True
    p = s2.next("x", held)
    assert p is not None and len(p.work.files) == 2  # once measured: the largest group first
    alone = Scheduler({"x": [work(3 * MB, 3 * MB), work(2 * MB)]})
    p = alone.next("x", held)
    assert p is not None and len(p.work.files) == 2  # one account: nothing to move to, largest first


# ------------------------------------------------------------ whole jobs on the simulator


@dataclass(frozen=True)
class Race:
    taker: str
    kind: PickKind
    victim: str
    victim_queued: int  # groups the victim still had queued: 0 for its last groups in flight


def record_races(monkeypatch: pytest.MonkeyPatch) -> list[Race]:
    """Every take-over and backup the engine's slots are handed."""
    races: list[Race] = []
    real_next = Scheduler.next

    def next_pick(self: Scheduler, name: str, *args: object, **kwargs: object) -> Pick | None:
        pick = real_next(self, name, *args, **kwargs)  # type: ignore[arg-type]
        if pick is not None and pick.kind in RACES and pick.victim is not None:
            races.append(Race(name, pick.kind, pick.victim, len(self.clients[pick.victim].queue)))
        return pick

    monkeypatch.setattr(Scheduler, "next", next_pick)
    return races


async def run(sim: SimulatedTelegram, dest: Path, bandwidths: dict[str, float], **settings: object) -> JobReport:
    return await run_with_bandwidths(sim, dest, bandwidths, **settings)


# 1, 3 and 9 units, unknown to the planner; the slow account's share of the plan takes it ~15 s.
SHORT_JOB = {"client1": 50 * KB, "client2": 150 * KB, "client3": 450 * KB}


def short_job() -> SimulatedTelegram:
    """15 files of at most 200 kB in 9 groups (albums of 2 and 6), ~2.3 MB: a few groups per account."""
    return SimulatedTelegram(seed=3, messages=16, first_id=1, size_scale=0.5, max_file_size=200 * KB)


async def test_short_job_the_fast_accounts_race_for_the_slow_accounts_last_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    races = record_races(monkeypatch)
    sim = short_job()
    report = await run(sim, tmp_path / "dl", SHORT_JOB)
    check_all_files(sim, report)  # every file once, byte-identical; no .part (backup copies included) left
    albums_on_one_account(sim, report)
    last = [r for r in races if r.victim == "client1" and r.victim_queued == 0]
    assert last, f"no take-over or backup of the slow account's last groups in flight: {races}"
    assert all(r.taker != r.victim for r in races)
    backups = sum(c["backups"] for c in report.clients.values())
    assert backups == sum(r.kind is PickKind.BACKUP for r in races)
    moved = [r for r in races if r.kind is PickKind.MIGRATE]
    assert sum(c["stolen_in"] for c in report.clients.values()) >= len(moved)
    # The takers' copies are the ones on disk (which fast account took what depends on the machine's
    # load: the fastest one may take the middle one's groups too).
    takers = {r.taker for r in races if r.victim == "client1"}
    assert {f.client for f in report.files} & takers


async def test_short_job_without_races_still_downloads_everything(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With stealing and backups off no race starts; the files are the same."""
    races = record_races(monkeypatch)
    sim = short_job()
    clients = {n: sim.client(n, bandwidth=bw * 4) for n, bw in SHORT_JOB.items()}
    dest = tmp_path / "dl"
    try:
        report = await download_channel(clients, sim.channel_username, sim.first_id, None, dest,
                                        settings_for(dest), stealing=False, backups=False)
    finally:
        for c in clients.values():
            await c.disconnect()
    check_all_files(sim, report)
    albums_on_one_account(sim, report)
    assert races == []
