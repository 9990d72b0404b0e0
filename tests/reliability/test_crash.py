"""Crash safety: the real `tgfetch download --simulate` process killed 20 times (SIGKILL, then SIGINT) mid-run.

Each kill lands at a seeded random moment: most when the bytes on disk reach a
random fraction of the channel (so the moments spread over the whole download),
a few at a random time after start (opening the state DB, scanning, planning).
After every kill the state DB must be sound and every done row a complete file;
after the last run every media file is present once, byte-identical, with no
`.part` left and little re-fetched.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import (
    CHANNEL_DIR,
    check_done_rows,
    cli,
    db_rows,
    disk_bytes,
    files_under,
    run_cli,
    sim_for,
    subprocess_env,
    verify_complete,
)

# 500 messages -> 402 files, 37 MB; 3 accounts at 1 MB/s each: one uninterrupted run takes ~13 s.
SEED, MESSAGES, SCALE, BANDWIDTH = 31, 500, 0.02, 1.0
KILLS = 20
EARLY = 3  # SIGKILLs at a random time after start (before or while the first bytes arrive)

pytestmark = pytest.mark.slow


def _spawn(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, cwd=cwd, env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _kill_at(proc: subprocess.Popen[str], chan: Path, *, after_s: float | None, at_bytes: int) -> bool:
    """Wait for the moment (a time, or bytes on disk past a mark and growing); return False if the run ended."""
    t0 = time.monotonic()
    start = disk_bytes(chan)
    while proc.poll() is None:
        if time.monotonic() - t0 > 60:
            raise AssertionError("no progress within 60 s")
        now = disk_bytes(chan) if after_s is None else 0
        if (after_s is not None and time.monotonic() - t0 >= after_s) or (
            after_s is None and now >= at_bytes and now > start
        ):
            return True
        time.sleep(0.01)
    return False


def _torture(tmp_path: Path, sig: signal.Signals, seed: int) -> dict[str, float]:
    sim = sim_for(SEED, MESSAGES, SCALE)
    total = sim.total_media_bytes()
    dest = tmp_path / "D"
    chan = dest / CHANNEL_DIR
    cmd = cli(dest, seed=SEED, messages=MESSAGES, scale=SCALE, bandwidth=BANDWIDTH)
    rng = random.Random(seed)
    marks = sorted(rng.uniform(0.02, 0.9) for _ in range(KILLS))
    early = set(rng.sample(range(KILLS), EARLY)) if sig == signal.SIGKILL else set()
    t_start = time.monotonic()
    landed = parts_seen = 0
    for i, frac in enumerate(marks):
        proc = _spawn(cmd, tmp_path)
        after = rng.uniform(0.1, 1.2) if i in early else None
        alive = _kill_at(proc, chan, after_s=after, at_bytes=int(frac * total))
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(sig)
            landed += 1
        _, err = proc.communicate(timeout=60)
        assert alive, f"run {i} ended before its kill moment (exit {proc.returncode}): {err[-2000:]}"
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL, err[-2000:]
        else:
            assert proc.returncode == 130, err[-3000:]
            assert "interrupted" in err.strip().splitlines()[-1] and "Traceback" not in err, err[-3000:]
        check_done_rows(sim, dest)  # after every kill: DB sound, nothing marked done that is not complete
        parts_seen += sum(1 for p in files_under(chan) if p.name.endswith(".part"))
    final = run_cli(cmd, tmp_path)
    assert final.returncode == 0, final.stderr[-3000:]
    files = verify_complete(sim, dest)
    _, _, fetched = db_rows(dest / "tgfetch_sim" / ".tgfetch.sqlite")
    assert fetched <= 1.1 * total, (fetched, total)
    numbers = {"kills": landed, "files": files, "channel_bytes": total, "fetched_bytes": fetched,
               "ratio": round(fetched / total, 4), "parts_left_by_kills": parts_seen,
               "seconds": round(time.monotonic() - t_start, 1)}
    print(f"\n{sig.name}: {numbers}")
    assert landed == KILLS
    return numbers


def test_sigkill_20_times_then_everything_is_intact(tmp_path: Path) -> None:
    _torture(tmp_path, signal.SIGKILL, seed=20240601)


def test_sigint_20_times_exits_130_then_everything_is_intact(tmp_path: Path) -> None:
    _torture(tmp_path, signal.SIGINT, seed=20240602)
