"""Shared helpers of the reliability (torture) tests: CLI runs on the simulator and full verification."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tgfetch.config import ALLOWED, Settings, load_settings
from tgfetch.download.files import hash_file
from tgfetch.download.layout import STATE_FILE
from tgfetch.job import JobReport, download_channel
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.faults import RuleCounter

PYTHON = sys.executable
NAMES = ("client1", "client2", "client3")
SIM_FIRST_ID = 72006  # the CLI's default --sim-first-id
CHANNEL_DIR = "tgfetch_sim"
MiB = 1 << 20


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a `python -m tgfetch` child: no tgfetch variables, unbuffered, plus `extra`."""
    ours = {k.upper() for k in ALLOWED}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(dest: Path, *extra: str, seed: int, messages: int, scale: float, bandwidth: float | None = None,
        command: str = "download") -> list[str]:
    """`python -m tgfetch download --simulate ...` for a channel that `sim_for` rebuilds in-process."""
    cmd = [PYTHON, "-m", "tgfetch", command, "--simulate", "--sim-seed", str(seed), "--sim-messages", str(messages),
           "--sim-size-scale", str(scale), "--dest", str(dest), "--quiet"]
    if bandwidth:
        cmd += ["--sim-bandwidth", str(bandwidth)]
    return cmd + list(extra)


def sim_for(seed: int, messages: int, scale: float) -> SimulatedTelegram:
    """The simulator that `cli(...)` builds in the child (same seed, size, first id)."""
    return SimulatedTelegram(seed=seed, messages=messages, first_id=SIM_FIRST_ID, size_scale=scale)


def run_cli(cmd: Sequence[str], cwd: Path, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a tgfetch command to its end, capturing its output."""
    env = kw.pop("env", None) or subprocess_env()
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file on disk."""
    return str(hash_file(path)[0].hexdigest())


def files_under(root: Path) -> list[Path]:
    """Every regular file below root (recursively)."""
    return [Path(d) / f for d, _, fs in os.walk(root) for f in fs]


def disk_bytes(root: Path) -> int:
    """Bytes of every file below root (finished files and `.part`s), 0 when root is missing."""
    total = 0
    for p in files_under(root):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def db_rows(db: Path) -> tuple[str, dict[int, tuple[str, int, str]], int]:
    """(integrity_check result, done rows {mid: (path, size, sha256)}, fetched_bytes) of a state DB."""
    conn = sqlite3.connect(db)
    try:
        check = ",".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        done = {r[0]: (r[1], r[2], r[3]) for r in conn.execute("SELECT message_id, path, size, sha256 FROM done_files")}
        row = conn.execute("SELECT value FROM counters WHERE name = 'fetched_bytes'").fetchone()
    finally:
        conn.close()
    return check, done, int(row[0]) if row else 0


def check_done_rows(sim: SimulatedTelegram, dest: Path, db: Path | None = None) -> dict[int, tuple[str, int, str]]:
    """The state DB is sound and every done row names a complete, byte-identical file (no lie)."""
    db = db or dest / "tgfetch_sim" / ".tgfetch.sqlite"
    if not db.exists():
        return {}
    check, done, _ = db_rows(db)
    assert check == "ok", f"PRAGMA integrity_check: {check}"
    root = dest / CHANNEL_DIR
    for mid, (path, size, sha) in done.items():
        f = root / path
        assert f.is_file(), f"done row {mid}: {path!r} is missing"
        assert f.stat().st_size == size == sim.message(mid).size, f"done row {mid}: incomplete file"
        assert sha == sim.file_sha256(mid) == sha256_of(f), f"done row {mid}: wrong bytes"
    return done


def verify_complete(sim: SimulatedTelegram, dest: Path, db: Path | None = None) -> int:
    """Every media file present exactly once, byte-identical, no `.part`, DB sound; return the files checked."""
    done = check_done_rows(sim, dest, db)
    media = [m.id for m in sim.media_messages()]
    assert sorted(done) == media, f"missing: {sorted(set(media) - set(done))[:10]}"
    paths = [p for p, _, _ in done.values()]
    assert len(set(paths)) == len(paths), "two messages share one file"
    root = dest / CHANNEL_DIR
    allowed = set(paths) | {p + ".json" for p in paths}
    state = {STATE_FILE + suffix for suffix in ("", "-wal", "-shm", ".lock")}  # the job's own state DB
    on_disk = [p.relative_to(root).as_posix() for p in files_under(root) if p.name not in state]
    assert [p for p in on_disk if p.endswith(".part")] == []
    stray = sorted(set(on_disk) - allowed)
    assert stray == [], f"files that belong to no message: {stray[:10]}"
    return len(done)


def settings_for(dest: Path, **overrides: Any) -> Settings:
    """Settings without a .env, downloading into dest."""
    return load_settings(env_file=None, download_dir=dest, log_level="WARNING", **overrides)


async def run_job(sim: SimulatedTelegram, dest: Path, names: Sequence[str] = NAMES, *,
                  bandwidth: float | None = None, settings: Settings | None = None) -> JobReport:
    """Download the whole simulated channel in-process with fresh clients; always disconnect them."""
    clients = {n: sim.client(n, bandwidth=bandwidth) for n in names}
    try:
        return await download_channel(clients, sim.channel_username, sim.first_id, None, dest,
                                      settings or settings_for(dest))
    finally:
        for c in clients.values():
            await c.disconnect()


def verify_report(sim: SimulatedTelegram, report: JobReport) -> int:
    """An in-process job's files: every media file once, byte-identical, no `.part`; return the count."""
    assert report.ok, report.failures
    assert sorted(f.message_id for f in report.files) == [m.id for m in sim.media_messages()]
    root = report.dest.resolve()
    for rec in report.files:
        path = (root / rec.path).resolve()
        assert path.is_relative_to(root)
        assert sha256_of(path) == rec.sha256 == sim.file_sha256(rec.message_id), rec.message_id
    assert [p for p in files_under(root) if p.name.endswith(".part")] == []
    return len(report.files)


def fired(sim: SimulatedTelegram, names: Iterable[str] = NAMES) -> int:
    """How many flood/drop/timeout faults the simulator injected (replays each rule's seeded trigger)."""
    total = 0
    for name in names:
        acc = sim.account(name)
        for index, counter in acc.counters.items():
            rule = sim.fault_plan.rules[index]
            if rule.kind == "expire":
                continue
            replay = RuleCounter(sim.seed, index, name, rule)
            total += sum(replay.fire() for _ in range(counter.calls))
    return total


def expired(sim: SimulatedTelegram, names: Iterable[str] = NAMES) -> int:
    """File references the simulator rotated (FILE_REFERENCE_EXPIRED answers armed)."""
    return sum(sum(sim.account(n).ref_generation.values()) for n in names)
