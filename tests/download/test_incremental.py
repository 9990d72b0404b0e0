"""Issue 16: incremental runs (NEW_ONLY) and watch, against a simulated channel that receives posts."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from download_helpers import settings_for

from tgfetch.config import Settings
from tgfetch.job import JobReport, RunOptions, download_job
from tgfetch.targets import job_targets
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.watch import watch_job

MESSAGE_CALLS = ("GetMessagesRequest", "GetHistoryRequest")


def _sim() -> SimulatedTelegram:
    return SimulatedTelegram(seed=4, messages=300, first_id=1, size_scale=0.01)


async def _run(sim: SimulatedTelegram, dest: Path, names: tuple[str, ...] = ("solo",), **kw: object) -> JobReport:
    settings = settings_for(dest, **{"channel": sim.channel_username, "new_only": True, **kw})
    clients = {n: sim.client(n) for n in names}
    try:
        return await download_job(clients, job_targets(settings), dest, settings)
    finally:
        for c in clients.values():
            await c.disconnect()


def _calls(sim: SimulatedTelegram, names: tuple[str, ...] = ("solo",)) -> int:
    return sum(sim.rpc_counts(n)[m] for n in names for m in MESSAGE_CALLS)


def _media_ids(sim: SimulatedTelegram) -> set[int]:
    return {m.id for m in sim.media_messages()}


async def test_a_new_only_run_costs_what_is_new(tmp_path: Path) -> None:
    sim = _sim()
    dest = tmp_path / "dl"
    first = await _run(sim, dest)
    assert first.ok and {f.message_id for f in first.files} == _media_ids(sim)
    before_posts = set(_media_ids(sim))

    for singles in (0, 1, 196, 250):  # nothing but an album, a little, one call's worth, more
        old_last = sim.last_id
        if singles:
            sim.post(singles, kinds=("photo", "document", "text"))
        album = sim.post_album(3)
        album.add(3)
        calls = _calls(sim)
        report = await _run(sim, dest)
        new = sim.last_id - old_last
        assert _calls(sim) - calls <= math.ceil(new / 200) + 2
        assert report.ok and {f.message_id for f in report.downloaded} == _media_ids(sim) - before_posts
        before_posts = set(_media_ids(sim))

    calls = _calls(sim)
    idle = await _run(sim, dest)
    assert idle.ok and not idle.downloaded and _calls(sim) - calls <= 2


async def test_an_album_still_arriving_is_completed_by_the_next_run(tmp_path: Path) -> None:
    sim = _sim()
    dest = tmp_path / "dl"
    await _run(sim, dest)
    album = sim.post_album(4)
    album.add(2)
    partial = await _run(sim, dest)
    assert {f.message_id for f in partial.downloaded} == set(album.ids)
    album.add(2)
    rest = await _run(sim, dest)
    assert {f.message_id for f in rest.downloaded} == set(album.ids) - {f.message_id for f in partial.downloaded}
    assert all(f.sha256 == sim.file_sha256(f.message_id) for f in partial.downloaded + rest.downloaded)


async def test_edited_media_is_downloaded_again_and_the_old_file_kept(tmp_path: Path) -> None:
    sim = _sim()
    dest = tmp_path / "dl"
    first = await _run(sim, dest, new_only=False)
    target = next(f for f in first.files if sim.message(f.message_id).grouped_id is None)
    old = (first.dest / target.path)
    old_sha = target.sha256
    sim.edit(target.message_id, new_media=True)
    gone = next(f for f in first.files if f.message_id != target.message_id)
    sim.delete([gone.message_id])
    again = await _run(sim, dest, new_only=False)
    redone = next(f for f in again.files if f.message_id == target.message_id)
    assert not redone.skipped and redone.sha256 == sim.file_sha256(target.message_id) != old_sha
    kept = list(old.parent.glob(f"{Path(target.path).stem}.prev-*"))
    assert len(kept) == 1 and kept[0].stat().st_size == target.size
    assert (first.dest / gone.path).is_file()  # a deleted message's file stays


async def test_watch_downloads_posts_as_they_arrive_and_albums_once_complete(tmp_path: Path) -> None:
    sim = _sim()
    dest = tmp_path / "dl"
    names = ("w1", "w2", "w3")
    settings: Settings = settings_for(dest, channel=sim.channel_username, watch_interval=0.2,
                                      watch_settle_seconds=0.6)
    rounds: list[JobReport] = []
    clients = {n: sim.client(n) for n in names}
    task = asyncio.ensure_future(watch_job(clients, job_targets(settings), dest, settings, RunOptions(),
                                           on_round=lambda report, held: rounds.append(report)))
    try:
        await _until(lambda: bool(rounds))
        sim.post(5, kinds="photo")
        album = sim.post_album(4)
        for _ in range(4):
            album.add()
            await asyncio.sleep(0.25)  # members arrive over a second
        await _until(lambda: {f.message_id for r in rounds for f in r.downloaded} >= _media_ids(sim))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for c in clients.values():
            await c.disconnect()
    got = [f.message_id for r in rounds for f in r.downloaded]
    assert sorted(got) == sorted(_media_ids(sim))  # every file once
    album_rounds = {i for i, r in enumerate(rounds) for f in r.downloaded if f.message_id in album.ids}
    assert len(album_rounds) == 1  # planned once complete: all of its members in one round
    assert len({f.client for r in rounds for f in r.downloaded if f.message_id in album.ids}) == 1


async def _until(check: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
