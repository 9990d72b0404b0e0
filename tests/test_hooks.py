"""Hooks: real subprocesses, real SQLite state DBs; no shell, at least once, bounded, never in the way."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tgfetch.errors import ConfigError
from tgfetch.events import AlbumDone, EventLog, FileDone
from tgfetch.hooks import OUTPUT_TAIL, HookRunner, check_command, hook_env, split_command
from tgfetch.store import MIGRATIONS, SCHEMA_VERSION, StateStore, read_state

REPO = Path(__file__).resolve().parents[1]
PY = shlex.quote(sys.executable)
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX process groups and file names")
# A pipe or a subprocess transport left open would show up as an unraisable exception: make it fail the test.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

HOOK = r"""
import json, os, sys, time
mode, out = sys.argv[1], sys.argv[2]
data = sys.stdin.read()
if mode == "dump":
    env = {k: v for k, v in os.environ.items()}
    with open(os.path.join(out, f"{os.getpid()}.json"), "w", encoding="utf-8", errors="surrogateescape") as f:
        json.dump({"env": env, "stdin": data, "argv": sys.argv}, f)
elif mode == "sleep":
    with open(out, "a") as f:
        f.write(f"start {time.monotonic()}\n")
    time.sleep(float(sys.argv[3]))
    with open(out, "a") as f:
        f.write(f"end {time.monotonic()}\n")
elif mode == "flaky":
    if not os.path.exists(sys.argv[3]):
        print("boom: the server said no", file=sys.stderr)
        sys.exit(3)
    with open(out, "a") as f:
        f.write(os.environ["TGFETCH_MESSAGE_ID"] + "\n")
elif mode == "loud":
    sys.stdout.write("x" * 1_000_000)
    sys.stdout.write("THE END")
    sys.exit(1)
elif mode == "hang":
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(out, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    time.sleep(60)
"""


@pytest.fixture
def hook(tmp_path: Path) -> Path:
    path = tmp_path / "hook.py"
    path.write_text(HOOK)
    return path


def cmd(hook: Path, *args: str | Path) -> str:
    return " ".join([PY, shlex.quote(str(hook)), *(shlex.quote(str(a)) for a in args)])


def open_store(path: Path) -> StateStore:
    return StateStore.open(path, channel_id=1, channel_key="@chan", template="{message_id}")


def a_file(path: Path, mid: int = 7, **kw: object) -> FileDone:
    fields: dict[str, object] = dict(chat="@chan", chat_id=1001, message_id=mid, path=str(path), size=3,
                                     sha256="ab" * 32, account="alice", album_id=None, index=None, caption="hi",
                                     date="2024-05-01T12:00:00+00:00", media_type="photo", mime_type="image/jpeg")
    fields.update(kw)
    return FileDone(**fields)  # type: ignore[arg-type]


def dumps(folder: Path) -> list[dict[str, object]]:
    out = []
    for f in sorted(folder.glob("*.json")):
        out.append(json.loads(f.read_text(encoding="utf-8", errors="surrogateescape")))
    return out


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "job.sqlite"


# --------------------------------------------------------------- what it gets


async def test_env_vars_and_stdin_reach_the_hook(tmp_path: Path, hook: Path, db: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    media = tmp_path / "chan" / "7.jpg"
    media.parent.mkdir()
    media.write_bytes(b"abc")
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "dump", out), cmd(hook, "dump", out), stores={0: store})
        assert runner.submit(a_file(media, album_id=55, index=1))
        album = AlbumDone(chat="@chan", chat_id=1001, album_id=55, account="alice", files=2,
                          paths=(str(media), str(media) + "2"), message_ids=(7, 8), size=6, caption="hi")
        assert runner.submit(album)
        assert await runner.drain(10)
        got = {d["env"]["TGFETCH_HOOK"]: d for d in dumps(out)}  # type: ignore[index]
        assert [r.status for r in runner.results()] == ["ok", "ok"]
        assert store.hook_counts() == {"ok": 2}
    env = got["file"]["env"]
    assert isinstance(env, dict)
    assert env["TGFETCH_PATH"] == str(media) and env["TGFETCH_MESSAGE_ID"] == "7"
    assert env["TGFETCH_CHAT"] == "@chan" and env["TGFETCH_CHAT_ID"] == "1001"
    assert env["TGFETCH_SHA256"] == "ab" * 32 and env["TGFETCH_SIZE"] == "3" and env["TGFETCH_ACCOUNT"] == "alice"
    assert env["TGFETCH_ALBUM_ID"] == "55" and env["TGFETCH_INDEX"] == "1" and env["TGFETCH_CAPTION"] == "hi"
    assert env["TGFETCH_EVENT"] == "file_done" and env["TGFETCH_ATTEMPT"] == "1" and env["TGFETCH_SCHEMA"] == "1"
    event = json.loads(str(got["file"]["stdin"]))
    assert event["event"] == "file_done" and event["v"] == 1 and event["path"] == str(media)
    assert event["message_id"] == 7 and event["caption"] == "hi" and event["sha256"] == "ab" * 32
    aenv = got["album"]["env"]
    assert isinstance(aenv, dict)
    assert aenv["TGFETCH_PATHS"].split("\n") == [str(media), str(media) + "2"]
    assert aenv["TGFETCH_FILES"] == "2" and aenv["TGFETCH_MESSAGE_IDS"] == "7 8" and aenv["TGFETCH_ALBUM_ID"] == "55"
    assert "TGFETCH_PATH" not in aenv
    assert json.loads(str(got["album"]["stdin"]))["paths"] == [str(media), str(media) + "2"]


HOSTILE = ["$(touch pwned).mp4", "`touch pwned`.mp4", "a;touch pwned;.mp4", "it's \"quoted\".mp4",
           "line\nbreak $(touch pwned).mp4", "$HOME & | > pwned.mp4", "-rf --no-preserve-root.mp4"]


@posix_only
@pytest.mark.parametrize("shell_hook", [False, True], ids=["python-hook", "sh-hook"])
async def test_hostile_file_names_are_only_names(tmp_path: Path, hook: Path, db: Path, shell_hook: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(work)  # where a `touch pwned` would land
    files = []
    for name in HOSTILE:
        (work / name).write_bytes(b"x")
        files.append(work / name)
    # A shell hook that quotes its variables is as safe: the name is in the environment, not in the script.
    command = (f"sh -c 'cp \"$TGFETCH_PATH\" \"$1/$TGFETCH_MESSAGE_ID\"' sh {shlex.quote(str(out))}" if shell_hook
               else cmd(hook, "dump", out, "$(touch pwned)"))
    with open_store(db) as store:
        runner = HookRunner(command, None, stores={0: store})
        for i, path in enumerate(files):
            runner.submit(a_file(path, mid=i + 1))
        assert await runner.drain(20)
        assert [r.status for r in runner.results()] == ["ok"] * len(HOSTILE)
    assert not list(tmp_path.rglob("pwned")) and not (Path.home() / "pwned").exists()
    assert sorted(p.name for p in work.iterdir()) == sorted(HOSTILE)  # every file is still there
    if shell_hook:
        assert sorted(p.name for p in out.iterdir()) == [str(i) for i in range(1, len(HOSTILE) + 1)]
        return
    seen = {str(d["env"]["TGFETCH_PATH"]) for d in dumps(out)}  # type: ignore[index]
    assert seen == {str(p) for p in files}
    assert {str(d["argv"][-1]) for d in dumps(out)} == {"$(touch pwned)"}  # type: ignore[index]


async def test_secrets_stay_out_of_the_hook(tmp_path: Path, hook: Path, db: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    secrets = {"TG_API_HASH": "0123456789abcdef0123456789abcdef", "tg_session_strings": "1" + "A" * 300,
               "REDIS_URL": "redis://:pw@h:1/0", "PROXY": "socks5://u:p@h:1", "TG_PROXIES": "a=direct",
               "WEB_TOKEN": "tok", "TG_API_ID": "4242", "MY_WEBHOOK": "https://x/supersecretvalue/y"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TGFETCH_PATH", "/stale/from/an/outer/hook")
    monkeypatch.setenv("KEEP_ME", "yes")
    with open_store(db) as store:
        runner = HookRunner(None, cmd(hook, "dump", out), stores={0: store}, secrets=["supersecretvalue"])
        runner.submit(AlbumDone(chat="@c", chat_id=1, album_id=5, account="a", files=1, paths=("/x",),
                                message_ids=(1,), size=1))
        await runner.drain(10)
    env = dumps(out)[0]["env"]
    assert isinstance(env, dict)
    assert env["KEEP_ME"] == "yes" and "TGFETCH_PATH" not in env
    assert not {k.upper() for k in env} & {k.upper() for k in secrets}
    assert not [v for v in env.values() if "supersecretvalue" in v or "0123456789abcdef" in v]


# --------------------------------------------------------------- never in the way


async def test_concurrency_is_bounded_and_submit_never_waits(tmp_path: Path, hook: Path, db: Path) -> None:
    marks = tmp_path / "marks"
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "sleep", marks, "0.6"), None, stores={0: store}, concurrency=2)
        started = time.monotonic()
        for mid in range(1, 7):
            assert runner.submit(a_file(tmp_path / f"{mid}.jpg", mid=mid))
        assert time.monotonic() - started < 0.3  # six hooks of 0.6 s each: submit only queues them
        assert runner.summary()["pending"] == 6 and runner.results() == []
        assert store.hook_counts() == {"pending": 6}
        assert await runner.drain(30)
        assert runner.summary() == {"ok": 6, "failed": 0, "gone": 0, "pending": 0}
    level, peak = 0, 0
    events = sorted((float(t), kind) for kind, t in (line.split() for line in marks.read_text().splitlines()))
    for _, kind in events:  # at the same instant an end sorts before a start
        level += 1 if kind == "start" else -1
        peak = max(peak, level)
    assert peak == 2 and len(events) == 12


async def test_a_failing_hook_is_recorded_and_retried_until_it_succeeds(tmp_path: Path, hook: Path, db: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    flag, done = tmp_path / "server-is-up", tmp_path / "done"
    media = tmp_path / "7.jpg"
    media.write_bytes(b"abc")
    command = cmd(hook, "flaky", done, flag)
    with open_store(db) as store, caplog.at_level(logging.WARNING, logger="tgfetch"):
        runner = HookRunner(command, None, stores={0: store})
        runner.submit(a_file(media))
        await runner.drain(10)
        [res] = runner.results()
        assert (res.status, res.exit_code, res.attempts) == ("failed", 3, 1)
        assert res.command == Path(sys.executable).name + " …"  # the program's name; its arguments may be secret
        assert "exit 3" in res.error and "boom: the server said no" in res.error
        [run] = store.hook_runs()
        assert (run.kind, run.item, run.status, run.exit_code, run.attempts) == ("file", 7, "failed", 3, 1)
        assert "boom" in run.error and json.loads(run.event)["path"] == str(media)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tgfetch" and "hook" in r.getMessage()]
    assert len(warnings) == 1 and "exit 3" in warnings[0] and "\n" not in warnings[0]
    assert media.read_bytes() == b"abc"  # a failing hook never touches the file
    for attempt, up in ((2, False), (3, True)):  # later runs: new runners on the same state DB
        if up:
            flag.touch()
        with open_store(db) as store:
            runner = HookRunner(command, None, stores={0: store})
            assert runner.resume() == 1
            await runner.drain(10)
            [res] = runner.results()
            assert res.attempts == attempt and res.status == ("ok" if up else "failed")
    assert done.read_text() == "7\n"
    with open_store(db) as store:
        [run] = store.hook_runs()
        assert (run.status, run.attempts, run.exit_code, run.event, run.error) == ("ok", 3, 0, "", "")
        assert HookRunner(command, None, stores={0: store}).resume() == 0
    assert media.read_bytes() == b"abc"


async def test_a_run_left_running_is_retried(tmp_path: Path, hook: Path, db: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    media = tmp_path / "7.jpg"
    media.touch()
    payload = json.dumps({"v": 1, "event": "file_done", "path": str(media), "message_id": 7, "chat": "@chan"})
    with open_store(db) as store:
        store.hook_queued("file", 7, payload)
        store.hook_started("file", 7, "sha")  # then tgfetch was killed
        assert [r.status for r in store.hook_runs()] == ["running"]
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "dump", out), None, stores={0: store})
        assert [(c, r.status) for c, r in runner.pending()] == [(0, "running")]
        assert runner.resume() == 1
        await runner.drain(10)
        assert [(r.status, r.attempts) for r in store.hook_runs()] == [("ok", 2)]
    [got] = dumps(out)
    assert got["env"]["TGFETCH_PATH"] == str(media) and got["env"]["TGFETCH_ATTEMPT"] == "2"  # type: ignore[index]


KILLED_JOB = """
import asyncio, sys, time
from pathlib import Path
from tgfetch.events import FileDone
from tgfetch.hooks import HookRunner
from tgfetch.store import StateStore

async def main():
    store = StateStore.open(sys.argv[1], channel_id=1, channel_key="@chan", template="{message_id}")
    runner = HookRunner(sys.argv[2], None, stores={0: store})
    runner.submit(FileDone(chat="@chan", chat_id=1, message_id=7, path=sys.argv[4], size=1, sha256="ab" * 32,
                           account="alice"))
    while not Path(sys.argv[3]).exists():
        await asyncio.sleep(0.02)
    print("RUNNING", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@posix_only
async def test_a_hook_killed_with_tgfetch_runs_again_next_time(tmp_path: Path, hook: Path, db: Path) -> None:
    pids, out = tmp_path / "pids", tmp_path / "out"
    out.mkdir()
    media = tmp_path / "7.jpg"
    media.touch()
    job = subprocess.Popen([sys.executable, "-c", KILLED_JOB, str(db), cmd(hook, "hang", pids), str(pids), str(media)],
                           env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "RUNNING"
        os.kill(job.pid, signal.SIGKILL)  # tgfetch dies mid-hook
        job.wait(10)
    finally:
        job.kill()
    hook_pid, child_pid = map(int, pids.read_text().split())
    os.killpg(hook_pid, signal.SIGKILL)  # the orphaned hook of the dead run
    with open_store(db) as store:  # the lock died with the process
        assert [(r.status, r.attempts) for r in store.hook_runs()] == [("running", 1)]
        runner = HookRunner(cmd(hook, "dump", out), None, stores={0: store})  # a fixed command: it is used
        assert runner.resume() == 1
        assert await runner.drain(10)
        assert [(r.status, r.attempts) for r in store.hook_runs()] == [("ok", 2)]
    assert dumps(out)[0]["env"]["TGFETCH_PATH"] == str(media)  # type: ignore[index]


@posix_only
async def test_a_hook_over_its_time_is_stopped_with_its_children(tmp_path: Path, hook: Path, db: Path) -> None:
    pids = tmp_path / "pids"
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "hang", pids), None, stores={0: store}, timeout_s=1.0)
        runner.submit(a_file(tmp_path / "x.jpg"))
        assert await runner.drain(20)
        [res] = runner.results()
        assert (res.status, res.exit_code) == ("timeout", None) and "timed out after 1s" in res.error
        [run] = store.hook_runs()
        assert (run.status, run.exit_code) == ("failed", None)
    hook_pid, child_pid = map(int, pids.read_text().split())
    for pid in (hook_pid, child_pid):
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie child of ours: reap it
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return False
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return True


@posix_only
async def test_a_background_child_holding_the_output_does_not_hold_the_hook(tmp_path: Path, db: Path) -> None:
    pid = tmp_path / "pid"
    command = f"sh -c 'echo before; sleep 30 & echo $! > \"$1\"; exit 4' sh {shlex.quote(str(pid))}"
    with open_store(db) as store:
        runner = HookRunner(command, None, stores={0: store})
        started = time.monotonic()
        runner.submit(a_file(tmp_path / "x.jpg"))
        assert await runner.drain(20)
        assert time.monotonic() - started < 5  # the exit counts, not the pipe the child keeps open
        [res] = runner.results()
        assert (res.status, res.exit_code) == ("failed", 4) and res.error == "exit 4; output: before"
    os.kill(int(pid.read_text()), signal.SIGKILL)


async def test_drain_timeout_stops_the_rest_for_the_next_run(tmp_path: Path, hook: Path, db: Path) -> None:
    marks = tmp_path / "marks"
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "sleep", marks, "30"), None, stores={0: store}, concurrency=1)
        for mid in (1, 2, 3):
            (tmp_path / f"{mid}.jpg").touch()
            runner.submit(a_file(tmp_path / f"{mid}.jpg", mid=mid))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        assert not await runner.drain(0.5)
        assert time.monotonic() - started < 8  # SIGTERM ends it at once
        assert [(r.status, r.item) for r in runner.results()] == [("failed", 1)]
        assert "stopped" in runner.results()[0].error
        assert runner.summary()["pending"] == 2
        assert {r.item: r.status for r in store.hook_runs()} == {1: "failed", 2: "pending", 3: "pending"}
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "sleep", marks, "0"), None, stores={0: store}, concurrency=3)
        assert runner.resume() == 3
        assert await runner.drain(20)
        assert store.hook_counts() == {"ok": 3}


async def test_a_retry_of_a_file_no_longer_on_disk_is_gone(tmp_path: Path, hook: Path, db: Path) -> None:
    media = tmp_path / "7.jpg"
    media.touch()
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "flaky", tmp_path / "d", tmp_path / "never"), None, stores={0: store})
        runner.submit(a_file(media))
        await runner.drain(10)
    media.unlink()  # the user moved it away
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "flaky", tmp_path / "d", tmp_path / "never"), None, stores={0: store})
        assert runner.resume() == 1
        await runner.drain(10)
        assert [(r.status, r.attempts) for r in runner.results()] == [("gone", 1)]
        assert [(r.status, r.attempts) for r in store.hook_runs()] == [("gone", 1)]
        assert runner.resume() == 0


async def test_hook_failures_of_every_kind_are_recorded(tmp_path: Path, hook: Path, db: Path) -> None:
    script = tmp_path / "gone.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    with open_store(db) as store:
        loud = HookRunner(cmd(hook, "loud", tmp_path), None, stores={0: store})
        loud.submit(a_file(tmp_path / "1.jpg", mid=1))
        await loud.drain(10)
        [res] = loud.results()
        assert res.exit_code == 1 and res.error.startswith("exit 1; output: xxx") and res.error.endswith("THE END")
        assert len(res.error) <= OUTPUT_TAIL
        if os.name == "posix":
            missing = HookRunner(str(script), None, stores={0: store})
            script.unlink()  # the program went away after the start-up check
            missing.submit(a_file(tmp_path / "2.jpg", mid=2))
            await missing.drain(10)
            [res] = missing.results()
            assert (res.status, res.exit_code) == ("failed", None) and "cannot start" in res.error
        assert {r.item: r.status for r in store.hook_runs()} == {1: "failed", **({2: "failed"} if os.name == "posix"
                                                                                 else {})}


async def test_the_same_file_queued_twice_runs_once(tmp_path: Path, hook: Path, db: Path) -> None:
    marks, out = tmp_path / "marks", tmp_path / "out"
    out.mkdir()
    with open_store(db) as store:
        runner = HookRunner(cmd(hook, "dump", out), None, stores={0: store}, concurrency=1)
        runner.submit(a_file(tmp_path / "a.jpg", mid=1))
        runner.submit(a_file(tmp_path / "b.jpg", mid=2))
        runner.submit(a_file(tmp_path / "c.jpg", mid=2))  # still queued: it runs once, with the newest event
        assert await runner.drain(10)
    assert sorted(str(d["env"]["TGFETCH_PATH"]) for d in dumps(out)) == [  # type: ignore[index]
        str(tmp_path / "a.jpg"), str(tmp_path / "c.jpg")]
    assert not marks.exists()


async def test_hooks_of_each_chat_go_to_its_state_db(tmp_path: Path, hook: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    first = open_store(tmp_path / "a.sqlite")
    second = StateStore.open(tmp_path / "b.sqlite", channel_id=2, channel_key="@other", template="{message_id}")
    events = EventLog.open(tmp_path / "events.jsonl")
    try:
        runner = HookRunner(cmd(hook, "dump", out), None, stores={0: first, 1: second}, events=events)
        runner.submit(a_file(tmp_path / "1.jpg", mid=1), chat=0)
        runner.submit(a_file(tmp_path / "2.jpg", mid=2, chat="@other"), chat=1)
        runner.submit(a_file(tmp_path / "3.jpg", mid=3), chat=9)  # no state DB: runs, unrecorded
        assert await runner.drain(10)
        assert [r.item for r in first.hook_runs()] == [1] and [r.item for r in second.hook_runs()] == [2]
        assert runner.summary()["ok"] == 3
    finally:
        first.close()
        second.close()
        events.close()
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted((x["event"], x["item"], x["status"]) for x in lines) == [
        ("hook_done", 1, "ok"), ("hook_done", 2, "ok"), ("hook_done", 3, "ok")]
    assert {x["chat"] for x in lines} == {"@chan", "@other"}
    report = runner.report()
    json.dumps(report)
    assert report["file"] == Path(sys.executable).name + " …" and report["album"] is None and len(report["runs"]) == 3


async def test_an_unreadable_stored_event_is_set_aside(tmp_path: Path, hook: Path, db: Path) -> None:
    with open_store(db) as store:
        store.hook_queued("file", 1, "{not json")
        store.hook_queued("file", 2, "[1, 2]")
        runner = HookRunner(cmd(hook, "dump", tmp_path), None, stores={0: store})
        assert runner.resume() == 0
        assert [(r.item, r.status, r.error) for r in store.hook_runs()] == [
            (1, "gone", "its event cannot be read"), (2, "gone", "its event cannot be read")]


async def test_a_closed_state_db_never_stops_a_hook(tmp_path: Path, hook: Path, db: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    store = open_store(db)
    store.close()  # e.g. the disk went away: every write fails
    runner = HookRunner(cmd(hook, "dump", out), None, stores={0: store})
    with caplog.at_level(logging.WARNING, logger="tgfetch"):
        assert runner.pending() == [] and runner.resume() == 0
        runner.submit(a_file(tmp_path / "1.jpg", mid=1))
        runner.submit(a_file(tmp_path / "2.jpg", mid=2))
        assert await runner.drain(10)
    assert [r.status for r in runner.results()] == ["ok", "ok"] and len(dumps(out)) == 2
    assert len([r for r in caplog.records if "cannot record hook runs" in r.getMessage()]) == 1


async def test_no_command_of_a_kind_leaves_its_runs_waiting(tmp_path: Path, hook: Path, db: Path) -> None:
    with open_store(db) as store:
        store.hook_queued("album", 99, json.dumps({"event": "album_done", "paths": []}))
        runner = HookRunner(cmd(hook, "dump", tmp_path), None, stores={0: store})
        assert not runner.submit(AlbumDone(chat="@c", chat_id=1, album_id=5, account="a", files=1, paths=("/x",),
                                           message_ids=(1,), size=1))
        assert runner.resume() == 0 and await runner.drain(1)
        assert [(r.kind, r.status) for r in store.hook_runs()] == [("album", "pending")]


# ----------------------------------------------------------------- settings


def test_commands_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ON_FILE_EXEC cannot be split"):
        HookRunner("python 'unclosed", None, stores={})
    with pytest.raises(ConfigError, match="ON_ALBUM_EXEC: the program 'no-such-program-xyz' is not found"):
        HookRunner(None, "no-such-program-xyz --token=s3cret", stores={})
    with pytest.raises(ConfigError) as err:
        check_command("no-such-program-xyz --token=s3cret")
    assert "s3cret" not in str(err.value)
    with pytest.raises(ConfigError, match="HOOK_CONCURRENCY"):
        HookRunner(None, None, stores={}, concurrency=0)
    with pytest.raises(ConfigError, match="HOOK_TIMEOUT"):
        HookRunner(None, None, stores={}, timeout_s=0)
    off = HookRunner("", "  ", stores={})
    assert not off.enabled and off.command("file") is None


def test_commands_split_like_a_shell_without_one() -> None:
    assert split_command("notify --title 'a b' \"$X\" `y` ;", posix=True) == [
        "notify", "--title", "a b", "$X", "`y`", ";"]
    assert split_command(r'C:\tools\hook.exe "C:\My Files\x" /q', posix=False) == [
        r"C:\tools\hook.exe", r"C:\My Files\x", "/q"]


def test_hook_env_values_are_always_usable() -> None:
    env = hook_env({"event": "file_done", "v": 1, "path": "/a\x00b", "caption": "c" * 100_000, "album_id": None,
                    "index": None, "chat": "\ud800x"}, attempt=3)
    assert env["TGFETCH_PATH"] == "/ab" and len(env["TGFETCH_CAPTION"]) == 16384
    assert env["TGFETCH_ALBUM_ID"] == "" and env["TGFETCH_INDEX"] == "" and env["TGFETCH_ATTEMPT"] == "3"
    for value in env.values():
        value.encode("utf-8", "surrogateescape")


# ----------------------------------------------------------------- the state DB


def test_an_earlier_state_db_gains_the_hook_table(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db, isolation_level=None)
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute("INSERT INTO meta VALUES ('channel_id', '1'), ('channel_key', '@chan'), ('template', '{message_id}')")
    conn.execute("INSERT INTO done_files VALUES (3, 'a/3.jpg', 9, ?, 'alice', NULL, 1.0)", ("ab" * 32,))
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert read_state(db).done[3].path == "a/3.jpg"  # read-only: a version-1 DB still reads
    with open_store(db) as store:
        assert store.done_files()[3].size == 9 and store.hook_runs() == []
        store.hook_queued("file", 3, "{}")
        assert store.hook_counts() == {"pending": 1}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    assert read_state(db).done[3].path == "a/3.jpg"


def test_hook_runs_keep_attempts_and_drop_the_event_once_ok(db: Path) -> None:
    with open_store(db) as store:
        store.hook_queued("file", 5, '{"a": 1}')
        store.hook_started("file", 5, "sha1")
        store.hook_finished("file", 5, "failed", -9, "killed; key 0123456789abcdef0123456789abcdef")
        [run] = store.hook_runs("failed")
        assert (run.attempts, run.exit_code, run.command_sha, run.event) == (1, -9, "sha1", '{"a": 1}')
        assert "0123456789abcdef" not in run.error
        store.hook_queued("file", 5, '{"a": 2}')  # queued again: keeps its attempts
        store.hook_started("file", 5, "sha2")
        store.hook_finished("file", 5, "ok", 0, "ignored")
        [run] = store.hook_runs()
        assert (run.status, run.attempts, run.event, run.error, run.command_sha) == ("ok", 2, "", "", "sha2")
        assert store.hook_runs("pending", "running", "failed") == []
        with pytest.raises(ValueError):
            store.hook_finished("file", 5, "running", None)
