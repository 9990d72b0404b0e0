"""Selection in the pipeline (issue 14): only chosen files are planned and fetched, albums whole or matching."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
from download_helpers import NAMES, check_state_db, run_job, settings_for  # noqa: E402

from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402
from tgfetch.telegram.simulator.content import SimMessage  # noqa: E402

MIN_SIZE = 10_000


def _sim() -> SimulatedTelegram:
    return SimulatedTelegram(seed=5, messages=250, first_id=1000, size_scale=0.01)


def _expected(sim: SimulatedTelegram, albums: str) -> set[int]:
    """Computed from the simulator's content, independently of tgfetch's selection code."""
    media = sim.media_messages()
    match = {m.id for m in media if m.kind == "video" and m.size >= MIN_SIZE}
    if albums == "matching":
        return match
    hit = {m.grouped_id for m in media if m.id in match and m.grouped_id is not None}
    return match | {m.id for m in media if m.grouped_id in hit}


@pytest.mark.parametrize("albums", ["whole", "matching"])
async def test_only_the_chosen_files_are_fetched(tmp_path: Path, albums: str) -> None:
    sim = _sim()
    want = _expected(sim, albums)
    assert 0 < len(want) < len(sim.media_messages())
    settings = settings_for(tmp_path / "dl", media_types="video", min_file_size="10KB", albums=albums)
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert report.ok and {f.message_id for f in report.files} == want
    for f in report.files:
        assert f.sha256 == sim.file_sha256(f.message_id)
    # A filtered-out file costs no upload.getFile call: the bytes served are at most the chosen files'.
    served = sum(sim.bytes_served(n) for n in NAMES)
    assert served <= sum(sim.message(i).size for i in want)
    assert report.to_json()["selection"]["dropped"]["type"]["messages"] > 0
    check_state_db(sim, report.dest / ".tgfetch.sqlite", report.dest)


async def test_a_filter_expression_chooses_the_files(tmp_path: Path) -> None:
    sim = _sim()
    media = sim.media_messages()
    want = {m.id for m in media if m.kind == "photo" and m.size > 5_000 and m.grouped_id is None}
    settings = settings_for(tmp_path / "dl", filter='media_type == "photo" and size > 5KB and not album_id',
                            albums="matching")
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert {f.message_id for f in report.files} == want


async def test_extensions_choose_the_files(tmp_path: Path) -> None:
    sim = _sim()
    media = sim.media_messages()
    def ext(m: SimMessage) -> str:
        """Independently: the file name's extension, else the MIME subtype's (image/jpeg is .jpg)."""
        if m.file_name:
            return m.file_name.rsplit(".", 1)[-1].lower()
        return {"image/jpeg": "jpg"}.get(m.mime_type or "", (m.mime_type or "/").split("/")[1])

    want = {m.id for m in media if ext(m) in {"mp4", "pdf"}}
    assert 0 < len(want) < len(media)
    settings = settings_for(tmp_path / "dl", include_ext="MP4,pdf", albums="matching")
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert report.ok and {f.message_id for f in report.files} == want
    served = sum(sim.bytes_served(n) for n in NAMES)
    assert served <= sum(sim.message(i).size for i in want)


async def test_dates_choose_the_files(tmp_path: Path) -> None:
    sim = _sim()
    media = sim.media_messages()
    dates = sorted(m.date for m in media)
    lo, hi = dates[len(dates) // 4], dates[len(dates) // 2]
    want = {m.id for m in media if lo <= m.date <= hi}
    assert 0 < len(want) < len(media)
    settings = settings_for(tmp_path / "dl", date_from=lo.isoformat(), date_to=hi.isoformat(), albums="matching")
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert report.ok and {f.message_id for f in report.files} == want
    assert report.to_json()["selection"]["dropped"]["date"]["files"] == len(media) - len(want)
