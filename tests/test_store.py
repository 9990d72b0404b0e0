"""State store: real SQLite files, a real second process for the lock, SIGKILL safety."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgfetch.errors import JobLockedError, StateMismatchError, UsageError
from tgfetch.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ClientSpeed,
    DoneFile,
    RunRow,
    StateCorruptError,
    StateStore,
    read_runs,
)

REPO = Path(__file__).resolve().parents[1]
SHA = "ab" * 32

LOCK_CHILD = """
import sys
from tgfetch.errors import JobLockedError
from tgfetch.store import StateStore
try:
    s = StateStore.open(sys.argv[1], channel_id=1, channel_key="@chan", template="{id}")
except JobLockedError as e:
    print("LOCKED", e)
    sys.exit(3)
print("OPENED")
s.close()
"""

WRITER_CHILD = """
import sys
from tgfetch.store import DoneFile, StateStore
s = StateStore.open(sys.argv[1], channel_id=1, channel_key="@chan", template="{id}")
i = 0
while True:
    s.mark_done(DoneFile(i, f"dir/f{i}.jpg", i * 10, "ab" * 32, "acc", i, float(i)))
    s.add_fetched_bytes(1)
    if i == 50:
        print("GO", flush=True)
    i += 1
"""


def open_store(path: Path, channel_id: int = 1, key: str = "@chan", template: str = "{id}") -> StateStore:
    return StateStore.open(path, channel_id=channel_id, channel_key=key, template=template)


def run_child(code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def done(mid: int, doc: int | None = None, path: str | None = None) -> DoneFile:
    return DoneFile(mid, path or f"album/{mid}.jpg", mid * 100, SHA, "alice", doc, 1700000000.5 + mid)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "deep" / "job.sqlite"


# ------------------------------------------------------------------ round trip


def test_fresh_db_is_created_versioned_and_in_wal_mode(db: Path) -> None:
    with open_store(db) as s:
        assert s.done_files() == {} and s.failures() == {} and s.load_speeds() == {}
        assert s.fetched_bytes() == 0 and s.integrity_ok()
        assert s.get_meta("channel_id") == "1" and s.get_meta("template") == "{id}"
    assert db.is_file() and Path(f"{db}.lock").is_file()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_done_files_round_trip_and_reopen(db: Path) -> None:
    with open_store(db) as s:
        s.mark_done(done(5, doc=77))
        s.mark_done(done(3))
        s.mark_done(done(9, doc=77))
        assert s.done_files() == {3: done(3), 5: done(5, doc=77), 9: done(9, doc=77)}
        assert s.done_by_document(77) == done(5, doc=77)
        assert s.done_by_document(1) is None
        s.mark_done(done(3, path="other/3.jpg"))  # replace
    with open_store(db) as s:
        assert s.done_files()[3].path == "other/3.jpg"
        assert sorted(s.done_files()) == [3, 5, 9]
        assert isinstance(s.done_files()[5], DoneFile)


def test_failures_count_attempts_and_clear(db: Path) -> None:
    with open_store(db) as s:
        s.record_failure(4, "timeout")
        s.record_failure(4, "flood wait 30")
        s.record_failure(6, "gone")
        assert s.failures() == {4: ("flood wait 30", 2), 6: ("gone", 1)}
        s.clear_failure(6)
        s.clear_failure(123)  # unknown: no-op
    with open_store(db) as s:
        assert s.failures() == {4: ("flood wait 30", 2)}
        s.mark_done(done(4))
        assert s.failures() == {}


def test_failure_text_is_redacted_and_capped(db: Path) -> None:
    with open_store(db) as s:
        s.record_failure(1, "login +4915112345678 failed " + "x" * 5000)
        err, n = s.failures()[1]
    assert "+4915112345678" not in err and "<redacted>" in err and len(err) <= 2000 and n == 1
    assert b"4915112345678" not in db.read_bytes()  # the WAL was checkpointed on close


def test_meta_and_counters_round_trip(db: Path) -> None:
    with open_store(db) as s:
        s.set_meta("last_run", "2024")
        s.add_fetched_bytes(1 << 20)
        s.add_fetched_bytes(0)
        s.add_fetched_bytes(5)
        with pytest.raises(ValueError):
            s.add_fetched_bytes(-1)
        with pytest.raises(ValueError):
            s.set_meta("channel_id", "2")
        assert s.get_meta("nope") is None
    with open_store(db) as s:
        assert s.get_meta("last_run") == "2024"
        assert s.fetched_bytes() == (1 << 20) + 5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mid=st.integers(1, 2**63 - 1),
    path=st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
    size=st.integers(0, 2**62),
    doc=st.none() | st.integers(-(2**63), 2**63 - 1),
    at=st.floats(0, 4e9),
)
def test_any_done_file_round_trips(db: Path, mid: int, path: str, size: int, doc: int | None, at: float) -> None:
    rec = DoneFile(mid, path, size, SHA, "bob", doc, at)
    with open_store(db) as s:
        s.mark_done(rec)
        assert s.done_files()[mid] == rec
        if doc is not None:
            assert s.done_by_document(doc) is not None


def test_methods_are_fast(db: Path) -> None:
    with open_store(db) as s:
        t0 = time.perf_counter()
        for i in range(300):
            s.mark_done(done(i))
            s.add_fetched_bytes(1 << 20)
        per_call = (time.perf_counter() - t0) / 600
        assert len(s.done_files()) == 300
    assert per_call < 0.005


# ---------------------------------------------------------------------- speeds


def test_speeds_keep_an_ewma_across_runs(db: Path) -> None:
    with open_store(db) as s:
        s.save_speed("alice", 100.0, 1.0, 3)
        sp = s.load_speeds()["alice"]
        assert (sp.bytes_per_s, sp.overhead_s, sp.samples) == (100.0, 1.0, 3)
        assert isinstance(sp, ClientSpeed) and sp.updated > 0
        s.save_speed("alice", 200.0, 0.0, 2)
    with open_store(db) as s:
        sp = s.load_speeds()["alice"]
        assert (sp.bytes_per_s, sp.overhead_s, sp.samples) == (150.0, 0.5, 5)
        s.save_speed("alice", 50.0, 0.5, 1)
        s.save_speed("bob", 10.0, 0.2, 1)
        speeds = s.load_speeds()
    assert (speeds["alice"].bytes_per_s, speeds["alice"].samples) == (100.0, 6)
    assert speeds["bob"] == ClientSpeed("bob", 10.0, 0.2, 1, speeds["bob"].updated)


def _run(n: int) -> RunRow:
    return RunRow(0, 1000.0 + n, 1010.0 + n, "lpt", "size", '["a", "b"]', n, n * 10, 9.5, 9.0, "done", "{}")


def test_runs_are_kept_newest_first_and_read_beside_the_job(db: Path) -> None:
    with open_store(db) as s:
        for n in range(1, 4):
            s.record_run(_run(n))
        assert [r.files for r in s.runs()] == [3, 2, 1]
        assert [r.id for r in s.runs(limit=2)] == [3, 2]
        assert read_runs(db) == s.runs()  # read-only, without the lock the job holds
    assert read_runs(db)[0] == dataclasses.replace(_run(3), id=3)


def test_a_schema_2_db_gains_the_runs_table_and_keeps_its_files(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    for step in MIGRATIONS[:2]:
        for sql in step:
            conn.execute(sql)
    conn.execute("INSERT INTO meta VALUES ('channel_id', '1'), ('channel_key', '@chan'), ('template', '{id}')")
    conn.execute("INSERT INTO done_files VALUES (7, 'a.jpg', 3, 'x', 'alice', NULL, 1.0)")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    assert read_runs(db) == []
    with open_store(db) as s:
        assert list(s.done_files()) == [7]
        s.record_run(_run(1))
    assert [r.files for r in read_runs(db)] == [1]


@pytest.mark.parametrize(
    ("bps", "ovh", "n"), [(0, 0, 1), (float("nan"), 0, 1), (1, -1, 1), (1, float("inf"), 1), (1, 0, 0)]
)
def test_bad_speeds_are_refused(db: Path, bps: float, ovh: float, n: int) -> None:
    with open_store(db) as s, pytest.raises(ValueError):
        s.save_speed("alice", bps, ovh, n)


# ----------------------------------------------------------- added columns

# A later migration may add columns: at the end (ALTER TABLE ... ADD COLUMN) or anywhere (table rebuild).
ADD_AT_THE_END = """
ALTER TABLE done_files ADD COLUMN extra TEXT DEFAULT 'kept';
ALTER TABLE client_speeds ADD COLUMN extra TEXT DEFAULT 'kept';
"""
ADD_IN_THE_MIDDLE = """
BEGIN;
CREATE TABLE done_new(message_id INTEGER PRIMARY KEY, extra TEXT DEFAULT 'kept', path TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, thumb_size INTEGER, client TEXT NOT NULL, document_id INTEGER,
    done_at REAL NOT NULL);
INSERT INTO done_new(message_id, path, size, sha256, client, document_id, done_at)
    SELECT message_id, path, size, sha256, client, document_id, done_at FROM done_files;
DROP TABLE done_files;
ALTER TABLE done_new RENAME TO done_files;
CREATE INDEX done_files_document ON done_files(document_id);
CREATE TABLE speeds_new(extra TEXT DEFAULT 'kept', account TEXT PRIMARY KEY, samples INTEGER NOT NULL,
    bytes_per_s REAL NOT NULL, overhead_s REAL NOT NULL, updated REAL NOT NULL);
INSERT INTO speeds_new(account, samples, bytes_per_s, overhead_s, updated)
    SELECT account, samples, bytes_per_s, overhead_s, updated FROM client_speeds;
DROP TABLE client_speeds;
ALTER TABLE speeds_new RENAME TO client_speeds;
COMMIT;
"""


@pytest.mark.parametrize("script", [ADD_AT_THE_END, ADD_IN_THE_MIDDLE], ids=["at-the-end", "in-the-middle"])
def test_reads_and_writes_survive_added_columns(db: Path, script: str) -> None:
    with open_store(db) as s:
        for rec in (done(3), done(5, doc=77), done(9, doc=77)):
            s.mark_done(rec)
        s.record_failure(4, "timeout")
        s.save_speed("alice", 100.0, 1.0, 3)
        s.save_speed("bob", 10.0, 0.2, 1)
        speeds = s.load_speeds()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(script)
    assert len(conn.execute("SELECT * FROM done_files").fetchone()) > len(fields(DoneFile))
    assert len(conn.execute("SELECT * FROM client_speeds").fetchone()) > len(fields(ClientSpeed))
    conn.close()
    with open_store(db) as s:
        assert s.done_files() == {3: done(3), 5: done(5, doc=77), 9: done(9, doc=77)}
        assert s.done_by_document(77) == done(5, doc=77) and s.done_by_document(1) is None
        assert s.load_speeds() == speeds
        assert s.failures() == {4: ("timeout", 1)} and s.get_meta("template") == "{id}"
        s.mark_done(done(4, doc=8))  # a new row, and a replaced one
        s.mark_done(done(3, path="other/3.jpg"))
        s.save_speed("alice", 200.0, 0.0, 2)
    with open_store(db) as s:
        expected = {3: done(3, path="other/3.jpg"), 4: done(4, doc=8), 5: done(5, doc=77), 9: done(9, doc=77)}
        assert s.done_files() == expected
        assert s.done_by_document(8) == done(4, doc=8) and s.failures() == {}
        alice = s.load_speeds()["alice"]
        assert (alice.account, alice.bytes_per_s, alice.overhead_s, alice.samples) == ("alice", 150.0, 0.5, 5)
        assert s.load_speeds()["bob"] == speeds["bob"]
    conn = sqlite3.connect(db)  # the written rows took the added column's default
    assert {row[0] for row in conn.execute("SELECT extra FROM done_files")} == {"kept"}
    conn.close()


# ------------------------------------------------------------------------ lock


def test_second_process_is_refused_with_our_pid_then_succeeds(db: Path) -> None:
    s = open_store(db)
    child = run_child(LOCK_CHILD, str(db))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 3, err
    assert f"pid {os.getpid()}" in out and str(db) in out and "DOWNLOAD_DIR/STATE_DB" in out
    assert len(out.strip().splitlines()) == 1
    s.close()
    child = run_child(LOCK_CHILD, str(db))
    out, err = child.communicate(timeout=30)
    assert (child.returncode, out.strip()) == (0, "OPENED"), err


def test_second_open_in_same_process_is_refused(db: Path) -> None:
    with open_store(db):
        with pytest.raises(JobLockedError, match=rf"pid {os.getpid()}\)"):
            open_store(db)
    with open_store(db) as s:
        s.close()
        s.close()  # idempotent
        assert s.closed


def test_close_from_another_thread_releases_the_lock(db: Path) -> None:
    s = open_store(db)
    closer = threading.Thread(target=s.close)
    closer.start()
    closer.join()
    assert s.closed
    open_store(db).close()


# -------------------------------------------------------------- job binding


def test_other_channel_is_refused(db: Path) -> None:
    open_store(db, channel_id=10, key="@first").close()
    with pytest.raises(StateMismatchError) as e:
        open_store(db, channel_id=20, key="@second")
    msg = str(e.value)
    assert "@first (id 10)" in msg and "@second (id 20)" in msg and "\n" not in msg
    assert e.value.exit_code == 2
    with open_store(db, channel_id=10, key="@renamed") as s:  # same id, new username: fine
        assert s.get_meta("channel_key") == "@renamed"


def test_template_change_with_done_files_is_refused(db: Path) -> None:
    with open_store(db, template="{id}") as s:
        s.mark_done(done(1))
        s.mark_done(done(2))
    with pytest.raises(StateMismatchError, match=r"from '\{id\}' to '\{date\}' but 2 files"):
        open_store(db, template="{date}")
    with open_store(db, template="{id}") as s:  # unchanged, still bound
        assert s.get_meta("template") == "{id}"


def test_template_change_without_done_files_is_accepted(db: Path) -> None:
    with open_store(db, template="{id}") as s:
        s.record_failure(1, "x")
    with open_store(db, template="{date}") as s:
        assert s.get_meta("template") == "{date}"


# -------------------------------------------------------------- broken files


def test_random_blob_is_refused_clearly(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00garbage" + os.urandom(4096))
    with pytest.raises(StateCorruptError, match=r"is not a tgfetch state database: not an SQLite file") as e:
        open_store(db)
    assert isinstance(e.value, UsageError) and "\n" not in str(e.value)
    db.unlink()
    open_store(db).close()  # the lock was released despite the error


def test_corrupt_sqlite_is_refused_clearly(db: Path) -> None:
    with open_store(db) as s:
        for i in range(50):
            s.mark_done(done(i))
    data = bytearray(db.read_bytes())
    data[100:] = os.urandom(len(data) - 100)
    db.write_bytes(bytes(data))
    with pytest.raises(StateCorruptError, match="is not a tgfetch state database"):
        open_store(db)


def test_other_programs_sqlite_and_newer_schema_are_refused(db: Path, tmp_path: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos(x)")
    conn.commit()
    conn.close()
    with pytest.raises(StateCorruptError, match="another program"):
        open_store(db)
    newer = tmp_path / "newer.db"
    open_store(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateCorruptError, match="newer tgfetch"):
        open_store(newer)


# ------------------------------------------------------------ files and safety


def test_files_are_private(db: Path) -> None:
    old = os.umask(0o022)
    try:
        with open_store(db) as s:
            s.mark_done(done(1))
            for f in (db, Path(f"{db}.lock"), Path(f"{db}-wal")):
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        db.chmod(0o644)
        open_store(db).close()
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_sigkill_mid_writes_leaves_a_sound_prefix(db: Path) -> None:
    open_store(db).close()
    child = run_child(WRITER_CHILD, str(db))
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "GO"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with open_store(db) as s:  # the dead process's lock is gone
        assert s.integrity_ok()
        rows = s.done_files()
        n = len(rows)
        assert n > 50 and sorted(rows) == list(range(n))
        assert rows[n - 1] == DoneFile(n - 1, f"dir/f{n - 1}.jpg", (n - 1) * 10, SHA, "acc", n - 1, float(n - 1))
        assert s.fetched_bytes() in (n - 1, n)
