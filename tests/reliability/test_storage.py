"""Storage faults: a full disk (real ENOSPC on a tmpfs), the destination removed mid-run, a locked job.

The RLIMIT_FSIZE variant of the full disk (EFBIG mid-file, then a rerun) lives in
tests/download/test_resume.py (test_disk_full_mid_file_exit_1_then_rerun).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import (
    CHANNEL_DIR,
    check_done_rows,
    cli,
    files_under,
    run_cli,
    run_job,
    sim_for,
    subprocess_env,
    verify_complete,
    verify_report,
)

from tgfetch.errors import StorageError

SEED, MESSAGES, SCALE = 18, 300, 0.02  # 245 files, 34 MB, largest 3.2 MB


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at path (root only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def grow(path: Path, size: str) -> None:
    """Give the tmpfs more room (the user freed space)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True, timeout=10)


def one_clear_error(err: str) -> str:
    last = err.strip().splitlines()[-1]
    assert last.startswith("tgfetch: error:"), err[-3000:]
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    return last


def test_disk_full_on_a_real_filesystem_then_rerun(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "6m") as mnt:
        # The state DB stays off the full disk here: a full disk under the DB is BUG 6 (next test).
        dest = mnt / "D"
        db = tmp_path / "state" / ".tgfetch.sqlite"
        cmd = cli(dest, "--state-db", str(db), seed=SEED, messages=MESSAGES, scale=SCALE)
        sim = sim_for(SEED, MESSAGES, SCALE)
        first = run_cli(cmd, tmp_path)
        assert first.returncode in (1, 2), first.stderr[-3000:]
        last = one_clear_error(first.stderr)
        assert "disk full" in last and "rerun" in last, last
        done = check_done_rows(sim, dest, db)  # nothing incomplete marked done
        assert 0 < len(done) < len(sim.media_messages())
        grow(mnt, "64m")
        again = run_cli(cmd, tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
        n = verify_complete(sim, dest, db)
        print(f"\nENOSPC: first run stopped with {len(done)} files done; rerun finished {n}")


def test_state_db_on_a_full_filesystem_is_a_clear_error_then_rerun(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "160k") as mnt:
        dest = tmp_path / "D"
        cmd = cli(dest, "--state-db", str(mnt / "state.sqlite"), seed=SEED, messages=MESSAGES, scale=SCALE)
        first = run_cli(cmd, tmp_path)
        assert first.returncode in (1, 2), first.stderr[-3000:]
        one_clear_error(first.stderr)
        grow(mnt, "16m")
        again = run_cli(cmd, tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]


async def test_destination_removed_mid_run(tmp_path: Path) -> None:
    sim = sim_for(SEED, MESSAGES, SCALE)
    dest = tmp_path / "D"
    root = dest / CHANNEL_DIR
    job = asyncio.ensure_future(run_job(sim, dest, bandwidth=3e6))
    while len(files_under(root)) < 40:
        assert not job.done(), job
        await asyncio.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)  # files renamed while it walks the tree are gone anyway
    removed_at = time.monotonic()
    try:
        report = await job
        outcome = f"finished (ok={report.ok})"
    except StorageError as exc:  # a clear one-line error is the other acceptable outcome
        assert "rerun" in str(exc) or "cannot write" in str(exc), exc
        outcome = f"StorageError: {exc}"
    assert time.monotonic() - removed_at < 60
    again = await run_job(sim, dest)
    n = verify_report(sim, again)
    verify_complete(sim, dest)
    print(f"\ndestination removed mid-run: first run {outcome}; rerun finished {n} files")


def test_second_process_on_the_same_job_is_refused_exit_2(tmp_path: Path) -> None:
    dest = tmp_path / "D"
    cmd = cli(dest, seed=SEED, messages=MESSAGES, scale=SCALE, bandwidth=3.0)
    first = subprocess.Popen(cmd, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not (dest / CHANNEL_DIR).exists():
            assert first.poll() is None and time.monotonic() - t0 < 30
            time.sleep(0.05)
        second = run_cli(cmd, tmp_path)
        assert second.returncode == 2, second.stderr[-3000:]
        last = one_clear_error(second.stderr)
        assert f"pid {first.pid}" in last and "another tgfetch process" in last, last
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-3000:]  # the running job was not disturbed
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    verify_complete(sim_for(SEED, MESSAGES, SCALE), dest)
    assert os.stat(dest / "tgfetch_sim" / ".tgfetch.sqlite").st_mode & 0o777 == 0o600
