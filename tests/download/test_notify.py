"""Issue 16: a job's events file, end to end on the simulator (file_done, album_done, account_state, job_done)."""

from __future__ import annotations

import json
from pathlib import Path

from download_helpers import NAMES, settings_for

from tgfetch.job import download_job
from tgfetch.targets import job_targets
from tgfetch.telegram.simulator import SimulatedTelegram


async def test_the_events_of_a_job(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=6, messages=120, first_id=1, size_scale=0.01,
                            faults="flood:GetFileRequest:at=2:seconds=1")
    events = tmp_path / "events.jsonl"
    settings = settings_for(tmp_path / "dl", channel=sim.channel_username, events_file=events)
    clients = {n: sim.client(n) for n in NAMES}
    try:
        report = await download_job(clients, job_targets(settings), tmp_path / "dl", settings)
    finally:
        for c in clients.values():
            await c.disconnect()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds[0] == "job_started" and kinds[1] == "plan" and kinds[-1] == "job_done"
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1)) and {e["v"] for e in lines} == {1}
    done = {e["message_id"]: e for e in lines if e["event"] == "file_done"}
    assert set(done) == {m.id for m in sim.media_messages()} and report.ok
    assert all(e["sha256"] == sim.file_sha256(i) and Path(e["path"]).is_file() for i, e in done.items())
    albums = {m.grouped_id for m in sim.media_messages() if m.grouped_id is not None}
    album_events = [e for e in lines if e["event"] == "album_done"]
    assert {e["album_id"] for e in album_events} == albums
    assert all(sorted(e["message_ids"]) == sorted(m.id for m in sim.media_messages() if m.grouped_id == e["album_id"])
               for e in album_events)
    floods = [e for e in lines if e["event"] == "account_state"]
    assert floods and all(e["state"] == "flood_wait" and e["seconds"] == 1.0 for e in floods)
    assert lines[-1]["exit_code"] == 0 and lines[-1]["downloaded"] == len(done)


async def test_a_repost_linked_to_a_file_of_an_earlier_run_is_a_file_done_too(tmp_path: Path) -> None:
    """A new post of a document downloaded by an earlier run is linked, not fetched: still final now, so the
    events (and the hooks) hear of it."""
    sim = SimulatedTelegram(seed=24, messages=40, first_id=72006, size_scale=0.02)
    first, again = 72011, 72028  # the same document (a repost)
    assert sim.message(first).doc_id == sim.message(again).doc_id is not None
    events = tmp_path / "events.jsonl"

    async def run(end: int) -> list[dict[str, object]]:
        settings = settings_for(tmp_path / "dl", channel=sim.channel_username, events_file=events,
                                end_message_id=end)
        clients = {n: sim.client(n) for n in NAMES}
        try:
            await download_job(clients, job_targets(settings), tmp_path / "dl", settings)
        finally:
            for c in clients.values():
                await c.disconnect()
        lines = [json.loads(line) for line in events.read_text().splitlines()]
        events.unlink()
        return lines

    before = await run(again - 1)
    assert first in {e["message_id"] for e in before if e["event"] == "file_done"}
    after = {e["message_id"]: e for e in await run(again) if e["event"] == "file_done"}
    assert again in after and first not in after  # the repost is final now; the first file was done before
    assert after[again]["sha256"] == sim.file_sha256(again) and Path(str(after[again]["path"])).is_file()
