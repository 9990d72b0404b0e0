"""End to end: the real Telethon client against the simulator, a real SQLite state DB, real files."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import unicodedata
from pathlib import Path

import pytest
from download_helpers import (
    NAMES,
    PYTHON,
    check_all_files,
    check_state_db,
    files_under,
    read_sidecar,
    run_job,
    served,
    settings_for,
    sha256_of,
    subprocess_env,
)

from tgfetch.download.layout import STATE_FILE
from tgfetch.download.naming import MAX_COMPONENT_BYTES
from tgfetch.errors import StateMismatchError, UsageError
from tgfetch.job import JobReport
from tgfetch.store import read_runs
from tgfetch.telegram.simulator import SimulatedTelegram

HOME_DC = 2
REQUEST = 1 << 20  # tgfetch's upload.getFile part (telegram.transfer.PART)
HOSTILE = {"../../x", "/etc/passwd", "CON", "a\x00b", "é" * 150 + ".bin", ".."}
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789"}


def album_members(sim: SimulatedTelegram) -> dict[int, list[int]]:
    """grouped_id -> message ids of the album's media messages."""
    out: dict[int, list[int]] = collections.defaultdict(list)
    for m in sim.media_messages():
        if m.grouped_id is not None:
            out[m.grouped_id].append(m.id)
    return dict(out)


def getfile_chunks(sim: SimulatedTelegram) -> int:
    """upload.getFile calls needed to fetch every distinct file once (1 MiB parts)."""
    sizes = {m.doc_id: m.size for m in sim.media_messages()}
    return sum(max(1, -(-s // REQUEST)) for s in sizes.values())


# --------------------------------------------------------------- the whole job


@pytest.fixture(scope="module")
def channel_sim() -> SimulatedTelegram:
    """1,000 messages with albums, hostile names, reposted documents and files on DCs 1-5."""
    sim = SimulatedTelegram(seed=13, messages=1000, first_id=1000, size_scale=0.002)
    names = {m.file_name for m in sim.media_messages()}
    assert HOSTILE <= names, "seed 13 was chosen because it holds every hostile name checked here"
    return sim


async def test_whole_channel_three_clients_then_rerun_downloads_nothing(
    channel_sim: SimulatedTelegram, tmp_path: Path,
) -> None:
    sim = channel_sim
    dest = tmp_path / "dl"
    report = await run_job(sim, dest)

    check_all_files(sim, report)
    assert len(report.files) == len(sim.media_messages())
    assert report.downloaded == report.files  # a fresh job fetches everything
    assert report.dest == dest / sim.channel_username
    _check_albums(sim, report)
    _check_names_stay_inside(sim, report, tmp_path)
    _check_duplicates_fetched_once(sim, report)
    _check_other_dcs(sim, report)
    check_state_db(sim, report.dest / ".tgfetch.sqlite", report.dest)

    # Second run: new clients, same destination and state DB -> nothing is fetched.
    before = {n: sim.rpc_counts(n) for n in NAMES}
    bytes_before = served(sim)
    again = await run_job(sim, dest)
    assert again.downloaded == []
    assert again.ok and len(again.files) == len(report.files)
    assert all(f.skipped for f in again.files)
    assert {f.message_id: f.sha256 for f in again.files} == {f.message_id: f.sha256 for f in report.files}
    for n in NAMES:
        delta = sim.rpc_counts(n) - before[n]
        assert delta["GetFileRequest"] == 0, f"{n} called upload.getFile on a rerun"
    assert served(sim) == bytes_before
    check_all_files(sim, again)
    # The run history: the first run is one round; a rerun with nothing to fetch plans nothing and adds none.
    (run,) = read_runs(report.dest / ".tgfetch.sqlite")
    fetched = [f for f in report.files if f.linked_from is None]
    assert (run.files, run.bytes) == (len(fetched), sum(f.size for f in fetched))
    assert run.strategy == report.strategy and run.outcome == "done"
    assert set(json.loads(run.accounts)) == set(NAMES) and set(json.loads(run.speeds)) <= set(NAMES)
    assert 0 < run.ideal_s and 0 < run.download_s < run.finished - run.started + 1


def _check_albums(sim: SimulatedTelegram, report: JobReport) -> None:
    by_id = {f.message_id: f for f in report.files}
    albums = album_members(sim)
    assert len(albums) >= 20
    for gid, ids in albums.items():
        clients = {by_id[i].client for i in ids}
        assert len(clients) == 1, f"album {gid} was split between {clients}"
        captions = [sim.message(i).caption for i in ids if sim.message(i).caption]
        for index, mid in enumerate(ids, start=1):
            side = read_sidecar(report.dest / by_id[mid].path)
            assert side["album_id"] == gid and side["message_id"] == mid
            assert side["index"] == index and side["album_size"] == len(ids)
            assert side["caption"] == (captions[0] if captions else "")
            assert side["sha256"] == sim.file_sha256(mid)
    # An album's files share its folder.
    for ids in albums.values():
        assert len({Path(by_id[i].path).parent for i in ids}) == 1


def _check_names_stay_inside(sim: SimulatedTelegram, report: JobReport, top: Path) -> None:
    root = report.dest.resolve()
    state = {".tgfetch.sqlite", ".tgfetch.sqlite-wal", ".tgfetch.sqlite-shm", ".tgfetch.sqlite.lock"}
    for path in files_under(top):
        if path.parent == top / "dl" and path.name in state:
            continue
        assert path.resolve().is_relative_to(root), f"{path} is outside the channel folder"
        for part in path.relative_to(top).parts:
            assert len(part.encode()) <= MAX_COMPONENT_BYTES
            assert not any(unicodedata.category(c) == "Cc" for c in part), repr(part)
            assert part not in (".", "..") and part.split(".")[0].upper() not in RESERVED
    hostile = [m for m in sim.media_messages() if m.file_name in HOSTILE]
    by_id = {f.message_id: f for f in report.files}
    for m in hostile:
        p = (report.dest / by_id[m.id].path).resolve()
        assert p.is_file() and p.parent.is_relative_to(root)
        assert sha256_of(p) == sim.file_sha256(m.id)
    assert not (top / "x").exists() and not (top / "etc").exists()


def _check_duplicates_fetched_once(sim: SimulatedTelegram, report: JobReport) -> None:
    by_doc: dict[int, list[int]] = collections.defaultdict(list)
    for m in sim.media_messages():
        assert m.doc_id is not None
        by_doc[m.doc_id].append(m.id)
    dups = {d: ids for d, ids in by_doc.items() if len(ids) > 1}
    assert dups, "the channel must repost some documents"
    by_id = {f.message_id: f for f in report.files}
    for ids in dups.values():
        digests = {sha256_of(report.dest / by_id[i].path) for i in ids}
        assert len(digests) == 1
    total, per_message = sim.total_media_bytes(), sim.total_media_bytes_per_message()
    saved = per_message - total
    got = served(sim)
    assert total <= got, "fewer bytes served than the files hold"
    # Each document's bytes came once: allow a margin far below what refetching the reposts would cost.
    assert got - total <= min(saved // 4, total // 100), (got, total, per_message)


def _check_other_dcs(sim: SimulatedTelegram, report: JobReport) -> None:
    dcs = collections.Counter(sim.message(f.message_id).dc_id for f in report.downloaded)
    assert sum(v for dc, v in dcs.items() if dc != HOME_DC) > 0, dcs
    exported = sum(sim.rpc_counts(n)["ExportAuthorizationRequest"] for n in NAMES)
    assert exported > 0, "files on other DCs need exported authorizations"


# --------------------------------------------------------------------- faults


def fault_sim(faults: str, **kw: float) -> SimulatedTelegram:
    """A small channel with the given faults injected."""
    args: dict[str, float] = {"messages": 150, "size_scale": 0.01}
    args.update(kw)
    return SimulatedTelegram(seed=23, first_id=1000, faults=faults, **args)  # type: ignore[arg-type]


async def test_flood_wait_on_getfile(tmp_path: Path) -> None:
    sim = fault_sim("flood:GetFileRequest:rate=0.05:seconds=1")
    report = await run_job(sim, tmp_path / "dl")
    check_all_files(sim, report)
    calls = sum(sim.rpc_counts(n)["GetFileRequest"] for n in NAMES)
    assert calls > getfile_chunks(sim), "some getFile calls must have been answered FLOOD_WAIT and retried"


async def test_file_reference_expired_mid_file_for_documents_and_photos(tmp_path: Path) -> None:
    # Scale 0.6: some photos are over 1 MiB, so they have mid-file getFile parts to expire.
    sim = fault_sim("expire:rate=0.3, expire:after_bytes=524288", messages=80, size_scale=0.6, max_file_size=6 << 20)
    report = await run_job(sim, tmp_path / "dl")
    check_all_files(sim, report)
    kinds = {m.doc_id: m.kind for m in sim.media_messages()}
    expired = collections.Counter(kinds[d] for n in NAMES for d in sim.account(n).ref_generation)
    assert expired["photo"] > 0, expired
    assert expired["video"] + expired["document"] + expired["audio"] > 0, expired


async def test_expire_after_bytes_every_file(tmp_path: Path) -> None:
    sim = fault_sim("expire:after_bytes=524288", messages=80, size_scale=0.3, max_file_size=6 << 20)
    report = await run_job(sim, tmp_path / "dl")
    check_all_files(sim, report)
    assert sum(len(sim.account(n).ref_generation) for n in NAMES) > 5


async def test_dropped_connections(tmp_path: Path) -> None:
    sim = fault_sim("drop:GetFileRequest:rate=0.02", messages=300)
    report = await run_job(sim, tmp_path / "dl")
    check_all_files(sim, report)
    assert sum(c["errors"] for c in report.clients.values()) > 0, "drops must have been retried"


async def test_one_account_revoked_mid_run(tmp_path: Path) -> None:
    sim = fault_sim("", messages=300, size_scale=0.02)
    sim = fault_sim(f"revoke:client2:after_bytes={sim.total_media_bytes() // 6}", messages=300, size_scale=0.02)
    report = await run_job(sim, tmp_path / "dl", bandwidth=20e6)
    check_all_files(sim, report)
    assert report.clients["client2"]["state"].startswith("dead"), report.clients["client2"]
    assert report.clients["client1"]["state"] == "done" and report.clients["client3"]["state"] == "done"
    assert sim.account("client2").revoked
    others = sum(1 for f in report.downloaded if f.client != "client2")
    assert others > len(report.files) // 2


async def test_file_migrate_without_faults_is_transparent(tmp_path: Path) -> None:
    sim = fault_sim("", messages=300)
    report = await run_job(sim, tmp_path / "dl", names=("solo",))
    check_all_files(sim, report)
    assert {sim.message(f.message_id).dc_id for f in report.files} - {HOME_DC}


# ------------------------------------------------------------------ bad input


async def test_destination_under_a_regular_file_is_a_usage_error(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=40, first_id=1000, size_scale=0.002)
    (tmp_path / "file.txt").write_text("not a folder")
    dest = tmp_path / "file.txt" / "sub"
    with pytest.raises(UsageError) as err:
        await run_job(sim, dest)
    assert err.value.exit_code == 2
    assert "DOWNLOAD_DIR" in str(err.value)
    assert sum(sim.rpc_counts(n)["GetFileRequest"] for n in NAMES) == 0


def test_destination_not_writable_cli_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    proc = subprocess.run(
        [PYTHON, "-m", "tgfetch", "download", "--simulate", "--sim-messages", "20", "--quiet",
         "--dest", str(tmp_path / "file.txt" / "sub")],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tgfetch: error:") and "DOWNLOAD_DIR" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_destination_read_only_dir(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=40, first_id=1000, size_scale=0.002)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UsageError):
            await run_job(sim, ro / "sub")
    finally:
        ro.chmod(0o700)


async def test_two_channels_share_a_download_dir_each_with_its_own_state(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    one = SimulatedTelegram(seed=4, messages=60, first_id=1000, size_scale=0.002, channel="channel_one")
    two = SimulatedTelegram(seed=4, messages=60, first_id=1000, size_scale=0.002, channel="channel_two")
    assert (await run_job(one, dest)).ok
    second = await run_job(two, dest)
    check_all_files(two, second)
    assert (dest / "channel_one" / STATE_FILE).is_file() and (dest / "channel_two" / STATE_FILE).is_file()
    again = await run_job(one, dest)
    assert again.downloaded == [] and again.ok


async def test_state_db_of_another_channel_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    settings = settings_for(dest, state_db=tmp_path / "shared.sqlite")
    one = SimulatedTelegram(seed=4, messages=60, first_id=1000, size_scale=0.002, channel="channel_one")
    first = await run_job(one, dest, settings=settings)
    assert first.ok
    two = SimulatedTelegram(seed=4, messages=60, first_id=1000, size_scale=0.002, channel="channel_two")
    assert two.channel_id != one.channel_id
    with pytest.raises(StateMismatchError) as err:
        await run_job(two, dest, settings=settings)
    assert err.value.exit_code == 2
    assert "channel_one" in str(err.value)
    assert not (dest / "channel_two").exists() or files_under(dest / "channel_two") == []
    assert sum(two.rpc_counts(n)["GetFileRequest"] for n in NAMES) == 0
    # The first channel's state is untouched: a rerun of it still downloads nothing.
    again = await run_job(one, dest, settings=settings)
    assert again.downloaded == [] and again.ok


async def test_a_job_started_with_the_old_shared_state_db_keeps_it(tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    sim = SimulatedTelegram(seed=4, messages=60, first_id=1000, size_scale=0.002)
    first = await run_job(sim, dest, settings=settings_for(dest, state_db=dest / STATE_FILE))
    assert first.ok
    again = await run_job(sim, dest)  # default settings: finds DOWNLOAD_DIR/.tgfetch.sqlite of this channel
    assert again.downloaded == [] and again.ok
    assert not (first.dest / STATE_FILE).exists()


# ------------------------------------------------------- regressions and findings


async def test_relative_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the engine once compared a resolved file path with an unresolved root."""
    sim = SimulatedTelegram(seed=3, messages=40, first_id=1000, size_scale=0.002)
    monkeypatch.chdir(tmp_path)
    report = await run_job(sim, Path("dl"), settings=settings_for(Path("dl")))
    check_all_files(sim, report)


async def test_symlinked_destination(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=40, first_id=1000, size_scale=0.002)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    report = await run_job(sim, tmp_path / "link")
    check_all_files(sim, report)


async def test_rerun_reports_clients_done(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=40, first_id=1000, size_scale=0.002)
    await run_job(sim, tmp_path / "dl")
    again = await run_job(sim, tmp_path / "dl")
    assert again.downloaded == []
    assert {c["state"] for c in again.clients.values()} == {"done"}


async def test_long_name_with_caption_gets_its_sidecar(tmp_path: Path) -> None:
    """Regression: '<250-byte name>.json.tmp' once failed ENAMETOOLONG and aborted the job."""
    sim = SimulatedTelegram(seed=21, messages=150, first_id=1000, size_scale=0.01)
    long = [m for m in sim.media_messages() if len((m.file_name or "").encode()) > 250 and m.caption]
    assert long, "seed 21 has a captioned message with a 300-byte file name"
    report = await run_job(sim, tmp_path / "dl")
    check_all_files(sim, report)
    by_id = {f.message_id: f for f in report.files}
    for m in long:
        assert read_sidecar(report.dest / by_id[m.id].path)["caption"] == m.caption
