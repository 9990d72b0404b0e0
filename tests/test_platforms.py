"""Portability: a whole job through the non-POSIX branches, and str paths everywhere public."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tgfetch import portable
from tgfetch.cli import main
from tgfetch.config import load_settings
from tgfetch.context import channel_dir, check_destination
from tgfetch.download.files import hash_file
from tgfetch.job import download_channel
from tgfetch.logs import setup_logging
from tgfetch.report import write_report
from tgfetch.store import StateStore
from tgfetch.telegram.simulator import SimulatedTelegram

SIM = ["--simulate", "--sim-seed", "3", "--sim-messages", "60", "--sim-clients", "2"]
CHANNEL = "tgfetch_sim"


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what every os.fsync call syncs ('dir' or 'file')."""
    seen: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return seen


def _run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return int(exit_.value.code or 0)


@pytest.mark.parametrize("posix", [True, False])
def test_whole_download_through_each_platform_branch(posix: bool, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portable, "POSIX", posix)
    monkeypatch.setattr(portable, "LOOP_SIGNALS", posix)
    seen = _fsyncs(monkeypatch)
    dest = tmp_path / "out"
    code = _run_cli(["download", *SIM, "--quiet", "--dest", str(dest), "--report", str(tmp_path / "r.json")])
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    sim = SimulatedTelegram(seed=3, messages=60, first_id=72006, size_scale=0.02)
    assert sorted(f["message_id"] for f in report["files"]) == [m.id for m in sim.media_messages()]
    for f in report["files"]:
        assert hash_file(dest / CHANNEL / f["path"])[0].hexdigest() == sim.file_sha256(f["message_id"])
    assert "file" in seen
    # Directories are fsynced after renames where the platform can, and never elsewhere.
    assert ("dir" in seen) is posix


def _child(dest: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A download in a child process with the non-POSIX branches forced (slow enough to interrupt)."""
    code = ("import sys, tgfetch.portable as p; p.POSIX = False; p.LOOP_SIGNALS = False; "
            "from tgfetch.cli import main; main(sys.argv[1:])")
    args = ["download", *SIM, "--sim-bandwidth", "0.3", "--quiet", "--dest", str(dest), *extra]
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert proc.poll() is None, (proc.stdout.read() if proc.stdout else b"").decode(errors="replace")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_sigterm_without_loop_signal_handlers_stops_cleanly_and_the_rerun_resumes(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    proc = _child(dest)
    db = dest / CHANNEL / ".tgfetch.sqlite"

    def some_done() -> bool:
        folder = dest / CHANNEL
        return folder.is_dir() and any(p.is_file() and not p.name.endswith((".part", ".json"))
                                       for p in folder.rglob("*") if ".tgfetch" not in str(p))

    _wait_for(some_done, proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert db.exists()
    rerun = _child(dest, "--report", str(tmp_path / "r.json"))
    out = rerun.communicate(timeout=120)[0].decode(errors="replace")
    assert rerun.returncode == 0, out
    files = json.loads((tmp_path / "r.json").read_text())["files"]
    assert any(f["skipped"] for f in files) and not all(f["skipped"] for f in files)
    sim = SimulatedTelegram(seed=3, messages=60, first_id=72006, size_scale=0.02)
    assert sorted(f["message_id"] for f in files) == [m.id for m in sim.media_messages()]
    for f in files:
        assert hash_file(dest / CHANNEL / f["path"])[0].hexdigest() == sim.file_sha256(f["message_id"])


async def test_public_functions_take_str_paths(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=2, messages=30, first_id=1, size_scale=0.01)
    env = tmp_path / "my.env"
    env.write_text("LOG_LEVEL=WARNING\n")
    settings = load_settings(env_file=str(env), download_dir=str(tmp_path / "dl"))
    check_destination(str(tmp_path / "dl"))
    clients = {"a": sim.client("a"), "b": sim.client("b")}
    try:
        report = await download_channel(clients, sim.channel_username, 1, None, str(tmp_path / "dl"), settings)
    finally:
        for c in clients.values():
            await c.disconnect()
    assert report.ok and report.files
    assert report.dest == channel_dir(str((tmp_path / "dl").resolve()), _ref(report.channel, sim))
    write_report(str(tmp_path / "rep" / "r.json"), report)
    assert json.loads((tmp_path / "rep" / "r.json").read_text())["channel"] == report.channel
    setup_logging("WARNING", log_file=str(tmp_path / "logs" / "t.log"))
    assert (tmp_path / "logs" / "t.log").exists()
    first = report.files[0]
    assert hash_file(str(report.dest / first.path))[0].hexdigest() == first.sha256
    with StateStore.open(str(report.dest / ".tgfetch.sqlite"), channel_id=sim.channel_id,
                         channel_key=report.channel, template=settings.file_name_template) as store:
        assert len(store.done_files()) == len(report.files)


def _ref(key: str, sim: SimulatedTelegram) -> object:
    from tgfetch.telegram.account import ChannelRef

    return ChannelRef(sim.channel_id, "", key.removeprefix("@"), key)
