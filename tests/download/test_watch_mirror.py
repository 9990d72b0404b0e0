"""Issue 16: `tgfetch watch` mirrors a simulated channel that keeps receiving posts, through a `kill -9`.

The channel gets singles and albums member by member (`--sim-live`); a hook copies each file
elsewhere. The watch is killed with SIGKILL midway and started again (its simulator posts the same
messages again: they are a pure function of the seed and their ids), then stopped with Ctrl-C.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tgfetch.download.files import hash_file
from tgfetch.events import read_events
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.feed import feed_now

LIVE = 12
HOOK = """\
import json, os, shutil, sys
event = json.load(sys.stdin)
src = os.environ["TGFETCH_PATH"]
assert event["path"] == src
shutil.copyfile(src, os.path.join(os.environ["MIRROR"], os.environ["TGFETCH_MESSAGE_ID"]))
"""


def _done(path: Path) -> Counter[int]:
    return Counter(int(str(e["message_id"])) for e in read_events(path) if e["event"] == "file_done")


def _wait(check: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_watch_mirrors_a_live_channel_through_a_kill(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=24, messages=40, first_id=72006, size_scale=0.02)
    base = {m.id for m in sim.media_messages()}
    feed_now(sim, LIVE)
    want = {m.id: sim.file_sha256(m.id) for m in sim.media_messages()}
    (tmp_path / "hook.py").write_text(HOOK)
    (tmp_path / "mirror").mkdir()
    cmd = [sys.executable, "-m", "tgfetch", "watch", "--simulate", "--sim-messages", "40", "--sim-live", str(LIVE),
           "--interval", "0.3", "--settle", "0.6", "--dest", "dl", "--events", "events.jsonl", "--quiet",
           "--exec", f"{sys.executable} hook.py"]
    env = {"PATH": "/usr/bin:/bin", "MIRROR": str(tmp_path / "mirror"), "HOME": str(tmp_path)}
    events = tmp_path / "events.jsonl"

    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait(lambda: len(_done(events)) >= len(base) + 3, "the first posts")
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: set(_done(events)) >= set(want), "every post")
        _wait(lambda: len(list((tmp_path / "mirror").iterdir())) >= len(want), "every hook")
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 130, second.stderr.read() if second.stderr else ""

    done = _done(events)
    assert set(done) == set(want) and max(done.values()) == 1  # every file once: nothing downloaded again
    folder = tmp_path / "dl" / "tgfetch_sim"
    on_disk = {int(p.name.split("_", 1)[0]): p for p in folder.glob("*")
               if p.is_file() and p.name[:1].isdigit() and not p.name.endswith(".json")}
    album_files = {int(p.name.split("_")[1]): p for p in folder.glob("album_*/*") if not p.name.endswith(".json")}
    on_disk.update(album_files)
    assert set(on_disk) == set(want)
    assert all(hash_file(on_disk[i])[0].hexdigest() == want[i] for i in want)  # byte-identical
    assert all(hash_file(tmp_path / "mirror" / str(i))[0].hexdigest() == want[i] for i in want)
    with sqlite3.connect(folder / ".tgfetch.sqlite") as db:
        runs = dict(db.execute("SELECT item, status FROM hook_runs WHERE kind = 'file'").fetchall())
    assert set(runs) == set(want) and set(runs.values()) == {"ok"}  # each hook run recorded
