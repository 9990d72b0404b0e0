"""The event log: real files, real threads; lines parse, never interleave, never hold a secret."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tgfetch.config import load_settings
from tgfetch.download.stats import FileRecord
from tgfetch.errors import ConfigError, UsageError
from tgfetch.events import (
    EVENT_KINDS,
    SCHEMA_VERSION,
    AccountState,
    AlbumDone,
    EventLog,
    FileDone,
    FileFailed,
    HookDone,
    JobDone,
    JobStarted,
    NullEvents,
    Plan,
    event_json,
    event_schema,
    file_done,
    open_events,
    plan_event,
    read_events,
    settings_summary,
)
from tgfetch.model import (
    ClientAssignment,
    DistributionMetrics,
    LoadBalanceMetric,
    MessageGroup,
    MessageInfo,
    TaskDistributionResult,
)

API_HASH = "0123456789abcdef0123456789abcdef"
SESSION = "1" + "A" * 300
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines()]


def a_file(mid: int = 7, caption: str = "hi") -> FileDone:
    return FileDone(chat="@chan", chat_id=1001, message_id=mid, path=f"/data/chan/{mid}.jpg", size=10,
                    sha256="ab" * 32, account="alice", album_id=55, index=1, caption=caption,
                    date="2024-05-01T12:00:00+00:00", media_type="photo", mime_type="image/jpeg")


def every_kind() -> list[object]:
    return [
        JobStarted(version="0.1.0", chats=("@chan",), accounts=("alice", "bob"), settings={"albums": "whole"}),
        Plan(strategy="media_group_aware", accounts={"alice": {"groups": 1, "files": 2, "bytes": 30}}),
        a_file(),
        AlbumDone(chat="@chan", chat_id=1001, album_id=55, account="alice", files=2, paths=("/a", "/b"),
                  message_ids=(7, 8), size=20, caption="hi"),
        FileFailed(chat="@chan", chat_id=1001, message_id=9, error="timeout", attempts=3),
        AccountState(account="bob", state="flood_wait", seconds=42.0, detail="FLOOD_WAIT_42"),
        HookDone(hook="file", chat="@chan", item=7, status="failed", exit_code=3, attempts=1, seconds=0.2),
        JobDone(outcome="done", exit_code=0, files=2, downloaded=2, bytes=20, failures=0, elapsed_s=1.5,
                hooks={"ok": 2}),
    ]


# ------------------------------------------------------------------- lines


def test_every_kind_is_one_parsable_line_with_the_envelope(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "events.jsonl"
    with EventLog.open(path, run="r1") as log:
        for ev in every_kind():
            log.emit(ev)  # type: ignore[arg-type]
    got = lines(path)
    assert [g["event"] for g in got] == [k.kind for k in EVENT_KINDS]
    assert [g["seq"] for g in got] == list(range(1, len(EVENT_KINDS) + 1))
    for g, ev in zip(got, every_kind(), strict=True):
        assert g["v"] == SCHEMA_VERSION == 1 and g["run"] == "r1" and TS.match(str(g["ts"]))
        fields = {f.name for f in dataclasses.fields(ev)}  # type: ignore[arg-type]
        assert set(g) == fields | {"v", "event", "ts", "run", "seq"}
    assert got[2]["path"] == "/data/chan/7.jpg" and got[2]["album_id"] == 55 and got[2]["index"] == 1
    assert got[3]["paths"] == ["/a", "/b"] and got[7]["hooks"] == {"ok": 2}
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_runs_append_and_number_their_own_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        log = EventLog.open(path)
        log.emit(a_file(1))
        log.emit(a_file(2))
        log.close()
        log.close()  # idempotent
        log.emit(a_file(3))  # after close: dropped, no error
    got = lines(path)
    assert [g["seq"] for g in got] == [1, 2, 1, 2]
    assert got[0]["run"] == got[1]["run"] != got[2]["run"] == got[3]["run"]


def test_the_schema_lists_every_kind_and_its_fields() -> None:
    schema = event_schema()
    json.dumps(schema)  # JSON-ready, for the README
    assert schema["version"] == SCHEMA_VERSION
    assert set(schema["envelope"]) == {"v", "event", "ts", "run", "seq"}
    assert list(schema["kinds"]) == [k.kind for k in EVENT_KINDS]
    for cls in EVENT_KINDS:
        assert list(schema["kinds"][cls.kind]["fields"]) == [f.name for f in dataclasses.fields(cls)]
    file_fields = schema["kinds"]["file_done"]["fields"]
    for name in ("chat", "message_id", "path", "size", "sha256", "account", "album_id", "index", "caption"):
        assert name in file_fields
    assert file_fields["album_id"] == "int | None"
    assert set(schema["kinds"]) >= {"job_started", "plan", "file_done", "album_done", "file_failed",
                                    "account_state", "job_done"}


def test_concurrent_emits_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog.open(path)
    n_threads, per_thread = 8, 300
    barrier = threading.Barrier(n_threads)

    def emit(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            log.emit(a_file(t * 10_000 + i, caption=f"{t}-" + "x" * (500 + 97 * t)))  # lines of different lengths

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    got = lines(path)  # every line parses
    assert [g["seq"] for g in got] == list(range(1, n_threads * per_thread + 1))  # file order = seq order
    assert sorted(int(str(g["message_id"])) for g in got) == sorted(
        t * 10_000 + i for t in range(n_threads) for i in range(per_thread))
    for g in got:
        t = int(str(g["message_id"])) // 10_000
        assert g["caption"] == f"{t}-" + "x" * (500 + 97 * t)


def test_odd_text_stays_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    weird = "caf\u00e9 \U0001f600 line\nbreak \"q\" \\ \x00 tab\t"
    bad_name = os.fsdecode(b"/data/\xff\xfe.jpg") if os.name == "posix" else "/data/x.jpg"
    with EventLog.open(path) as log:
        log.emit(dataclasses.replace(a_file(), caption=weird, path=bad_name))
    raw = path.read_bytes()
    raw.decode("utf-8")  # valid UTF-8 even with a non-UTF-8 file name
    assert raw.count(b"\n") == 1
    got = lines(path)[0]
    assert got["caption"] == weird
    assert got["path"] == bad_name  # the \u escape reads back as the same name


# ---------------------------------------------------------------- refusals


def test_a_directory_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory") as err:
        EventLog.open(tmp_path)
    assert isinstance(err.value, UsageError) and err.value.exit_code == 2
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        EventLog.open(blocker / "events.jsonl")  # its folder is a file


def test_an_io_error_turns_the_log_off_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog.open(tmp_path / "events.jsonl")
    log.emit(a_file(1))
    assert log._fd is not None
    ro = os.open(os.devnull, os.O_RDONLY)
    os.dup2(ro, log._fd)  # the file turns unwritable under the log
    os.close(ro)
    with caplog.at_level(logging.WARNING, logger="tgfetch"):
        for mid in range(2, 10):
            log.emit(a_file(mid))  # never raises
    assert not log.enabled
    warnings = [r for r in caplog.records if "events file" in r.getMessage()]
    assert len(warnings) == 1 and "off for this run" in warnings[0].getMessage()
    log.close()
    assert [g["message_id"] for g in lines(tmp_path / "events.jsonl")] == [1]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_turns_the_log_off(caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog.open("/dev/full")
    with caplog.at_level(logging.WARNING, logger="tgfetch"):
        log.emit(a_file())
        log.emit(a_file())
    assert not log.enabled
    assert len([r for r in caplog.records if "No space left" in r.getMessage()]) == 1


def test_no_file_means_null_events(tmp_path: Path) -> None:
    events = open_events(None)
    assert isinstance(events, NullEvents) and not events.enabled
    events.emit(a_file())
    events.close()
    log = open_events(tmp_path / "e.jsonl")
    assert isinstance(log, EventLog) and log.enabled
    log.close()


# ----------------------------------------------------------------- secrets


def test_no_secret_reaches_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    monkeypatch.setenv("TG_SESSION_STRINGS", SESSION)
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2pass@example.org:6379/0")
    monkeypatch.setenv("PROXY", "socks5://user:proxypass@127.0.0.1:1080")
    monkeypatch.setenv("TG_SESSIONS", "alice,bob")
    settings = load_settings(env_file=None)
    path = tmp_path / "events.jsonl"
    with EventLog.open(path) as log:
        log.emit(JobStarted(version="0.1.0", chats=("@chan",), accounts=("alice", "bob"),
                            settings=settings_summary(settings)))
        log.emit(FileFailed(chat="@chan", chat_id=1, message_id=3, error=f"auth failed with {API_HASH} {SESSION}"))
        log.emit(AccountState(account="bob", state="revoked", detail=f"session {SESSION} revoked, +15551234567"))
    text = path.read_text()
    for secret in (API_HASH, SESSION, "hunter2pass", "proxypass", "+15551234567", "12345"):
        assert secret not in text
    started = lines(path)[0]["settings"]
    assert isinstance(started, dict)
    assert started["albums"] == "whole" and started["load_balance_metric"] == "file_count"
    assert not {k for k in started if "hash" in k or "session" in k or "proxy" in k or "redis" in k}


# ---------------------------------------------------------------- builders


def test_file_done_from_a_record(tmp_path: Path) -> None:
    info = MessageInfo(12, media_group_id=99, file_size=5, media_type="video", mime_type="video/mp4",
                       date=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), caption="look")
    rec = FileRecord(12, "album/12.mp4", 5, "cd" * 32, "bob")
    ev = file_done(rec, info, chat="@chan", chat_id=1001, root=tmp_path / "chan", index=2)
    assert ev.path == str(tmp_path / "chan" / "album" / "12.mp4") and Path(ev.path).is_absolute()
    assert (ev.album_id, ev.index, ev.caption, ev.account, ev.media_type) == (99, 2, "look", "bob", "video")
    assert ev.date == "2024-05-01T12:00:00+00:00"
    naive = file_done(rec, dataclasses.replace(info, date=datetime(2024, 5, 1, 12, 0)), chat="@c", chat_id=1,
                      root=tmp_path)
    assert naive.date == "2024-05-01T12:00:00+00:00"
    bare = file_done(rec, None, chat="@c", chat_id=1, root=tmp_path)
    assert (bare.album_id, bare.date, bare.caption) == (None, None, "")
    assert event_json(ev)["event"] == "file_done"


def test_plan_event_counts_each_account() -> None:
    album = MessageGroup.of([MessageInfo(1, 5, 10, media_type="photo"), MessageInfo(2, 5, 20, media_type="photo")])
    single = MessageGroup.of([MessageInfo(3, None, 7, media_type="video")])
    plan = TaskDistributionResult(
        [ClientAssignment("alice", [album]), ClientAssignment("bob", [single]), ClientAssignment("carol", [])],
        "media_group_aware", LoadBalanceMetric.FILE_COUNT, DistributionMetrics(2, 1, 1, 0.5, 0.5))
    ev = plan_event(plan)
    assert ev.strategy == "media_group_aware"
    assert dict(ev.accounts) == {"alice": {"groups": 1, "files": 2, "bytes": 30},
                                 "bob": {"groups": 1, "files": 1, "bytes": 7},
                                 "carol": {"groups": 0, "files": 0, "bytes": 0}}


def test_read_events_leaves_a_line_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert read_events(path) == []  # not there yet
    path.write_text('{"event": "job_started", "seq": 1}\n{"event": "file_do')
    assert read_events(path) == [{"event": "job_started", "seq": 1}]
    with path.open("a") as f:
        f.write('ne", "seq": 2}\n')
    assert [e["seq"] for e in read_events(path)] == [1, 2]
