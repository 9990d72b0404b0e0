"""Mirroring with several machines: `coordinator --watch` enqueues new posts as they arrive, and each
worker writes its own events file and runs its hooks for its own files (issue 16, item 5).

Real processes (`python -m tgfetch`), a real redis-server, the simulated channel of `--sim-live` in
every process (its posts are a pure function of the seed and their ids, so every machine sees the
same channel); the workers start first, so their channels are ahead of the coordinator's.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tgfetch.cluster.redis_server import RedisServer
from tgfetch.download.files import hash_file
from tgfetch.events import read_events
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.feed import feed_now

MESSAGES, LIVE, FIRST_ID = 40, 10, 72006
CHANNEL_DIR = "tgfetch_sim"
MACHINES = ("m1", "m2")
HOOK = """\
import json, os, shutil, sys
event = json.load(sys.stdin)
assert event["path"] == os.environ["TGFETCH_PATH"]
shutil.copyfile(os.environ["TGFETCH_PATH"], os.path.join(os.environ["MIRROR"], os.environ["TGFETCH_MESSAGE_ID"]))
"""


def _done(path: Path) -> Counter[int]:
    return Counter(int(str(e["message_id"])) for e in read_events(path) if e["event"] == "file_done")


def _wait(check: object, what: str, procs: dict[str, subprocess.Popen[bytes]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        for name, p in procs.items():
            assert p.poll() is None, f"{name} exited with {p.returncode}: {p.stderr.read() if p.stderr else ''}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_coordinator_watch_enqueues_new_posts_and_workers_run_their_hooks(tmp_path: Path,
                                                                          fresh_server: RedisServer) -> None:
    sim = SimulatedTelegram(seed=24, messages=MESSAGES, first_id=FIRST_ID, size_scale=0.02)
    base = {m.id for m in sim.media_messages()}
    feed_now(sim, LIVE)
    want = {m.id: sim.file_sha256(m.id) for m in sim.media_messages()}
    albums = {m.id: m.grouped_id for m in sim.media_messages() if m.grouped_id is not None}
    assert len(want) > len(base) and set(albums) - base  # albums among the new posts
    (tmp_path / "hook.py").write_text(HOOK)
    (tmp_path / "mirror").mkdir()
    env = {"PATH": "/usr/bin:/bin", "MIRROR": str(tmp_path / "mirror"), "HOME": str(tmp_path),
           "PYTHONUNBUFFERED": "1"}
    sim_flags = ["--simulate", "--sim-messages", str(MESSAGES), "--sim-live", str(LIVE), "--sim-clients", "1",
                 "--sim-bandwidth", "4", "--redis", fresh_server.url, "--quiet"]
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, args: list[str]) -> None:
        procs[name] = subprocess.Popen([sys.executable, "-m", "tgfetch", *args, *sim_flags], cwd=tmp_path, env=env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    for m in MACHINES:
        spawn(m, ["worker", "--machine", m, "--dest", m, "--events", f"{m}.jsonl", "--exec",
                  f"{sys.executable} hook.py"])
    time.sleep(1.0)
    spawn("coordinator", ["coordinator", "--watch", "--interval", "0.5", "--settle", "1.0",
                          "--expect-accounts", str(len(MACHINES))])
    done = lambda: sum((_done(tmp_path / f"{m}.jsonl") for m in MACHINES), Counter())  # noqa: E731
    try:
        _wait(lambda: set(done()) >= set(want), "every post, the live ones too", procs)
        _wait(lambda: len(list((tmp_path / "mirror").iterdir())) >= len(want), "every hook", procs)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        codes = {n: p.wait(30) for n, p in procs.items()}
    assert codes == {n: 130 for n in procs}, {n: (c, procs[n].stderr.read() if procs[n].stderr else b"")
                                              for n, c in codes.items()}

    counts = done()
    assert set(counts) == set(want) and max(counts.values()) == 1  # every file once, across the machines
    by_machine = {m: set(_done(tmp_path / f"{m}.jsonl")) for m in MACHINES}
    assert all(by_machine.values()), by_machine  # both machines worked
    owner = {i: m for m, ids in by_machine.items() for i in ids}
    for mid, group in albums.items():  # albums whole: one machine has all of an album
        assert {owner[i] for i, g in albums.items() if g == group} == {owner[mid]}
    for m in MACHINES:
        folder = tmp_path / m / CHANNEL_DIR
        with sqlite3.connect(folder / ".tgfetch.sqlite") as db:
            rows = dict(db.execute("SELECT message_id, path FROM done_files").fetchall())
            runs = dict(db.execute("SELECT item, status FROM hook_runs WHERE kind = 'file'").fetchall())
        assert set(rows) == by_machine[m]
        assert all(hash_file(folder / p)[0].hexdigest() == want[i] for i, p in rows.items())  # byte-identical
        assert set(runs) == by_machine[m] and set(runs.values()) == {"ok"}  # each worker ran its own hooks
        kinds = [e["event"] for e in read_events(tmp_path / f"{m}.jsonl")]
        assert kinds[0] == "job_started" and kinds[-1] == "job_done"
    assert all(hash_file(tmp_path / "mirror" / str(i))[0].hexdigest() == want[i] for i in want)


def test_coordinator_watch_refuses_an_end_id(tmp_path: Path, fresh_server: RedisServer) -> None:
    done = subprocess.run([sys.executable, "-m", "tgfetch", "coordinator", "--watch", "--simulate", "--end", "72010",
                           "--redis", fresh_server.url, "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--watch follows the channel's new posts" in done.stderr and len(done.stderr.strip().splitlines()) == 1


pytestmark = pytest.mark.timeout(300)
