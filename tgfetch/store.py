"""SQLite state of one download job: done files, failures, client speeds, counters.

One job, one runner: a state DB belongs to one channel and one file-name
template, and only one process may use it at a time: an exclusive OS lock on
``<db>.lock`` (``filelock.FileLock``: ``flock`` on Unix, ``msvcrt.locking`` on
Windows), released on close or when the process dies. The holder writes its
pid into the lock file so that a refused second process can name it.

The database is a real SQLite file in WAL mode with ``synchronous=NORMAL``:
every committed write survives a SIGKILL of the process (only a power loss may
drop the last few commits). The file is created with mode 0600. Secrets
(session strings, api_hash, phone numbers) are never stored; error texts are
redacted before they are written.

Schema (version 2, kept in ``PRAGMA user_version``; version 1 lacked ``hook_runs``)::

    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
        -- channel_id, channel_key (@name), template, created_at, free keys
    done_files(message_id INTEGER PRIMARY KEY, path TEXT NOT NULL,
               size INTEGER NOT NULL, sha256 TEXT NOT NULL, client TEXT NOT NULL,
               document_id INTEGER, done_at REAL NOT NULL)
        -- index done_files_document(document_id)
    failures(message_id INTEGER PRIMARY KEY, error TEXT NOT NULL,
             attempts INTEGER NOT NULL, last_at REAL NOT NULL)
    client_speeds(account TEXT PRIMARY KEY, bytes_per_s REAL NOT NULL,
                  overhead_s REAL NOT NULL, samples INTEGER NOT NULL,
                  updated REAL NOT NULL)
    counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)
        -- 'fetched_bytes': bytes downloaded from Telegram, kept or not
    hook_runs(kind TEXT NOT NULL, item INTEGER NOT NULL, status TEXT NOT NULL,
              event TEXT NOT NULL, command_sha TEXT NOT NULL, exit_code INTEGER,
              attempts INTEGER NOT NULL, error TEXT NOT NULL, created REAL NOT NULL,
              updated REAL NOT NULL, PRIMARY KEY(kind, item))
        -- index hook_runs_status(status)
        -- one row per hook (`tgfetch.hooks`): kind 'file' (item = message id) or 'album'
        -- (item = album id); status pending, running, ok, failed or gone (its files left the
        -- disk before a retry); event: the JSON given on the hook's stdin ('' once ok);
        -- command_sha: sha256 of the command that ran last (never the command itself);
        -- exit_code: negative = killed by that signal, NULL = it never exited (timeout,
        -- could not start); error: the last failure and the tail of the hook's output.

Client speeds are a running EWMA across runs: when a previous value exists,
``new = SPEED_ALPHA * observed + (1 - SPEED_ALPHA) * old`` with
``SPEED_ALPHA = 0.5`` (for both bytes_per_s and overhead_s); ``samples`` adds up.

A database of an earlier schema is brought up to date when the job opens it
(``MIGRATIONS``); ``read_state`` reads either version without changing it.

Rows are read by column name (explicit column lists, ``sqlite3.Row``), never by
position, so a later migration may add columns anywhere in a table.

``read_state`` reads a state DB without the job lock (``tgfetch verify``): a
read-only connection (``mode=ro``) and one WAL read snapshot, which never blocks
the job's writes.
"""

from __future__ import annotations

import inspect
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from filelock import BaseFileLock, FileLock, Timeout

from tgfetch.errors import JobLockedError, StateMismatchError, StorageError
from tgfetch.logs import RedactingFilter

__all__ = [
    "SCHEMA_VERSION",
    "SPEED_ALPHA",
    "ClientSpeed",
    "HOOK_STATUSES",
    "DoneFile",
    "HookRun",
    "RunRow",
    "StateCorruptError",
    "StateSnapshot",
    "StateStore",
    "read_runs",
    "read_state",
]

SCHEMA_VERSION = 3
SPEED_ALPHA = 0.5
BUSY_TIMEOUT_MS = 5000
MAX_ERROR_CHARS = 2000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BINDING_KEYS = frozenset({"channel_id", "channel_key", "template"})
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# filelock >= 4 falls back to a soft lock (a marker file) where the file system lacks flock; the job lock must
# be the OS lock, which the kernel drops when its holder dies, so refuse that fallback where it exists.
_OS_LOCK_ONLY: dict[str, Any] = (
    {"fallback_to_soft": False} if "fallback_to_soft" in inspect.signature(FileLock).parameters else {}
)

# MIGRATIONS[i] brings a database from user_version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE done_files(message_id INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL,"
        " sha256 TEXT NOT NULL, client TEXT NOT NULL, document_id INTEGER, done_at REAL NOT NULL)",
        "CREATE INDEX done_files_document ON done_files(document_id)",
        "CREATE TABLE failures(message_id INTEGER PRIMARY KEY, error TEXT NOT NULL,"
        " attempts INTEGER NOT NULL, last_at REAL NOT NULL)",
        "CREATE TABLE client_speeds(account TEXT PRIMARY KEY, bytes_per_s REAL NOT NULL,"
        " overhead_s REAL NOT NULL, samples INTEGER NOT NULL, updated REAL NOT NULL)",
        "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
    (
        "CREATE TABLE hook_runs(kind TEXT NOT NULL, item INTEGER NOT NULL, status TEXT NOT NULL,"
        " event TEXT NOT NULL, command_sha TEXT NOT NULL, exit_code INTEGER, attempts INTEGER NOT NULL,"
        " error TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY(kind, item))",
        "CREATE INDEX hook_runs_status ON hook_runs(status)",
    ),
    (
        "CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL NOT NULL,"
        " strategy TEXT NOT NULL, metric TEXT NOT NULL, accounts TEXT NOT NULL, files INTEGER NOT NULL,"
        " bytes INTEGER NOT NULL, download_s REAL NOT NULL, ideal_s REAL NOT NULL, outcome TEXT NOT NULL,"
        " speeds TEXT NOT NULL)",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION

_UPSERT_SPEED = (
    "INSERT INTO client_speeds(account, bytes_per_s, overhead_s, samples, updated) VALUES (:acc, :bps, :ovh, :n, :t)"
    " ON CONFLICT(account) DO UPDATE SET"
    " bytes_per_s = :a * excluded.bytes_per_s + (1 - :a) * bytes_per_s,"
    " overhead_s = :a * excluded.overhead_s + (1 - :a) * overhead_s,"
    " samples = samples + excluded.samples, updated = excluded.updated"
)


class StateCorruptError(StateMismatchError):
    """The state DB file is not a (usable) tgfetch state database."""


@dataclass(frozen=True, slots=True)
class DoneFile:
    """A file saved to its final name; path is relative to the channel folder (posix)."""

    message_id: int
    path: str
    size: int
    sha256: str
    client: str
    document_id: int | None
    done_at: float


@dataclass(frozen=True, slots=True)
class ClientSpeed:
    """Learned download speed of one account (EWMA across runs)."""

    account: str
    bytes_per_s: float
    overhead_s: float
    samples: int
    updated: float


HOOK_STATUSES = ("pending", "running", "ok", "failed", "gone")
MAX_HOOK_ERROR_CHARS = 4096


@dataclass(frozen=True, slots=True)
class HookRun:
    """One hook of one file or album (`tgfetch.hooks`) as the state DB keeps it."""

    kind: str  # 'file' (item = message id) or 'album' (item = album id)
    item: int
    status: str  # one of HOOK_STATUSES
    event: str  # the event JSON the hook reads on stdin ('' once it succeeded)
    command_sha: str  # sha256 of the command that ran last ('' before the first start)
    exit_code: int | None  # negative: killed by that signal; None: never exited
    attempts: int  # starts so far
    error: str  # last failure and the tail of the hook's output (redacted)
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class RunRow:
    """One finished download round of the job: what was planned, what it achieved, the ideal it is measured by."""

    id: int  # 0 before it is recorded
    started: float  # wall-clock seconds
    finished: float
    strategy: str
    metric: str
    accounts: str  # JSON list of the account names that downloaded
    files: int
    bytes: int
    download_s: float  # the download stage's seconds (the achieved makespan)
    ideal_s: float  # bytes / the accounts' summed measured speeds (0: nothing measured)
    outcome: str  # 'ok', 'failed files', 'interrupted', 'error'
    speeds: str  # JSON {account: measured bytes/s}


MAX_RUNS_KEPT = 1000

_Record = TypeVar("_Record", DoneFile, ClientSpeed, HookRun, RunRow)


def _columns(cls: type[_Record]) -> str:
    """Return the column list of a record type: its field names, comma-separated."""
    return ", ".join(f.name for f in fields(cls))


def _record(cls: type[_Record], row: sqlite3.Row) -> _Record:
    """Build a record from a row by column name (columns the record lacks are ignored)."""
    return cls(**{f.name: row[f.name] for f in fields(cls)})


_SELECT_DONE = f"SELECT {_columns(DoneFile)} FROM done_files"
_SELECT_SPEEDS = f"SELECT {_columns(ClientSpeed)} FROM client_speeds ORDER BY account"
_SELECT_HOOKS = f"SELECT {_columns(HookRun)} FROM hook_runs"
_SELECT_RUNS = f"SELECT {_columns(RunRow)} FROM runs ORDER BY id DESC LIMIT ?"
_QUEUE_HOOK = (
    "INSERT INTO hook_runs(kind, item, status, event, command_sha, exit_code, attempts, error, created, updated)"
    " VALUES (?, ?, 'pending', ?, '', NULL, 0, '', ?, ?) ON CONFLICT(kind, item) DO UPDATE SET"
    " status = 'pending', event = excluded.event, updated = excluded.updated"
)
_REPLACE_DONE = (
    f"INSERT OR REPLACE INTO done_files({_columns(DoneFile)})"
    f" VALUES ({', '.join(':' + f.name for f in fields(DoneFile))})"
)


class StateStore:
    """The SQLite state of one job, held exclusively by this process until close()."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: BaseFileLock) -> None:
        """Wrap an opened, bound connection; use StateStore.open() instead."""
        self.path = path
        self._conn = conn
        self._lock: BaseFileLock | None = lock
        self._mutex = threading.Lock()
        self._redactor = RedactingFilter()

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, channel_id: int, channel_key: str, template: str) -> StateStore:
        """Lock, open (creating if needed) and bind the state DB of one job."""
        db = Path(path)
        _make_parent(db)
        lock = _acquire_lock(db)
        try:
            conn = _connect(db)
            try:
                _bind(conn, db, channel_id, channel_key, template)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(db, conn, lock)

    def close(self) -> None:
        """Close the database and release the job lock (idempotent)."""
        with self._mutex:
            if self._lock is None:
                return
            try:
                self._conn.close()
            finally:
                self._lock.release()
                self._lock = None

    @property
    def closed(self) -> bool:
        """Return True once close() was called."""
        return self._lock is None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --------------------------------------------------------------- internals

    def _rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """Run a query and return all its rows (read them by column name)."""
        with self._mutex:
            return self._conn.execute(sql, params).fetchall()

    def _write(self, *statements: tuple[str, Any]) -> None:
        """Run statements in one committed transaction."""
        try:
            with self._mutex, _transaction(self._conn):
                for sql, params in statements:
                    self._conn.execute(sql, params)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, read-only file system
            raise StorageError(f"cannot write the state DB {self.path}: {exc}; free some space and rerun") from None

    # ------------------------------------------------------------------- files

    def done_files(self) -> dict[int, DoneFile]:
        """Return every done file by message id."""
        rows = self._rows(f"{_SELECT_DONE} ORDER BY message_id")
        return {r["message_id"]: _record(DoneFile, r) for r in rows}

    def mark_done(self, rec: DoneFile) -> None:
        """Record a file as done (replacing any earlier record) and clear its failure."""
        self._write(
            (_REPLACE_DONE, asdict(rec)),
            ("DELETE FROM failures WHERE message_id = ?", (rec.message_id,)),
        )

    def done_by_document(self, document_id: int) -> DoneFile | None:
        """Return a done file holding this Telegram document (lowest message id), if any."""
        rows = self._rows(f"{_SELECT_DONE} WHERE document_id = ? ORDER BY message_id LIMIT 1", (document_id,))
        return _record(DoneFile, rows[0]) if rows else None

    # ---------------------------------------------------------------- failures

    def record_failure(self, message_id: int, error: str) -> None:
        """Count one more failed attempt for a message and keep its (redacted) error."""
        text = self._redactor.redact(error)[:MAX_ERROR_CHARS]
        sql = (
            "INSERT INTO failures(message_id, error, attempts, last_at) VALUES (?, ?, 1, ?)"
            " ON CONFLICT(message_id) DO UPDATE SET error = excluded.error,"
            " attempts = attempts + 1, last_at = excluded.last_at"
        )
        self._write((sql, (message_id, text, time.time())))

    def failures(self) -> dict[int, tuple[str, int]]:
        """Return (last error, attempts) by message id."""
        rows = self._rows("SELECT message_id, error, attempts FROM failures ORDER BY message_id")
        return {r["message_id"]: (r["error"], r["attempts"]) for r in rows}

    def clear_failure(self, message_id: int) -> None:
        """Forget the failures of a message."""
        self._write(("DELETE FROM failures WHERE message_id = ?", (message_id,)))

    # ------------------------------------------------------------------ speeds

    def load_speeds(self) -> dict[str, ClientSpeed]:
        """Return the learned speed of every account."""
        return {r["account"]: _record(ClientSpeed, r) for r in self._rows(_SELECT_SPEEDS)}

    def save_speed(self, account: str, bytes_per_s: float, overhead_s: float, samples: int) -> None:
        """Blend a run's measured speed into the account's EWMA (alpha SPEED_ALPHA)."""
        _check_speed(bytes_per_s, overhead_s, samples)
        params = {"a": SPEED_ALPHA, "acc": account, "bps": float(bytes_per_s), "ovh": float(overhead_s)}
        self._write((_UPSERT_SPEED, {**params, "n": int(samples), "t": time.time()}))

    # ---------------------------------------------------------------- counters

    def add_fetched_bytes(self, n: int) -> None:
        """Add n bytes to the job's count of bytes downloaded from Telegram."""
        if n < 0:
            raise ValueError(f"fetched bytes must be >= 0, got {n}")
        if n:
            sql = (
                "INSERT INTO counters(name, value) VALUES ('fetched_bytes', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value"
            )
            self._write((sql, (n,)))

    def fetched_bytes(self) -> int:
        """Return the job's cumulative bytes downloaded from Telegram."""
        rows = self._rows("SELECT value FROM counters WHERE name = 'fetched_bytes'")
        return int(rows[0]["value"]) if rows else 0

    # --------------------------------------------------------------- hook runs

    def hook_queued(self, kind: str, item: int, event: str) -> None:
        """Record a hook as due (pending) with the event it reads; a known one keeps its attempts and error."""
        now = time.time()
        self._write((_QUEUE_HOOK, (kind, item, event, now, now)))

    def hook_started(self, kind: str, item: int, command_sha: str) -> None:
        """Record a hook's start: running, one more attempt (a kill leaves it running: retried next run)."""
        sql = ("UPDATE hook_runs SET status = 'running', attempts = attempts + 1, command_sha = ?, updated = ?"
               " WHERE kind = ? AND item = ?")
        self._write((sql, (command_sha, time.time(), kind, item)))

    def hook_finished(self, kind: str, item: int, status: str, exit_code: int | None, error: str = "") -> None:
        """Record how a hook ended: 'ok' (its event is dropped), 'failed' or 'gone' (with the redacted error)."""
        if status not in ("ok", "failed", "gone"):
            raise ValueError(f"a hook ends ok, failed or gone, not {status!r}")
        text = "" if status == "ok" else self._redactor.redact(error)[-MAX_HOOK_ERROR_CHARS:]
        sql = ("UPDATE hook_runs SET status = ?, exit_code = ?, error = ?, updated = ?,"
               " event = CASE WHEN ? = 'ok' THEN '' ELSE event END WHERE kind = ? AND item = ?")
        self._write((sql, (status, exit_code, text, time.time(), status, kind, item)))

    def hook_runs(self, *statuses: str) -> list[HookRun]:
        """Return the hook runs in these statuses (every one when none is given), oldest first."""
        where = f" WHERE status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        return [_record(HookRun, r) for r in self._rows(f"{_SELECT_HOOKS}{where} ORDER BY created, kind, item",
                                                          statuses)]

    def hook_counts(self) -> dict[str, int]:
        """Return how many hook runs are in each status."""
        rows = self._rows("SELECT status, count(*) AS n FROM hook_runs GROUP BY status")
        return {str(r["status"]): int(r["n"]) for r in rows}

    # -------------------------------------------------------------------- meta

    def record_run(self, run: RunRow) -> None:
        """Keep one finished round (the newest MAX_RUNS_KEPT are kept)."""
        names = [f.name for f in fields(RunRow) if f.name != "id"]
        values = {n: getattr(run, n) for n in names}
        self._write((f"INSERT INTO runs({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})", values),
                    ("DELETE FROM runs WHERE id <= (SELECT max(id) FROM runs) - ?", (MAX_RUNS_KEPT,)))

    def runs(self, limit: int = 100) -> list[RunRow]:
        """The newest rounds first."""
        return [_record(RunRow, r) for r in self._rows(_SELECT_RUNS, (limit,))]

    def set_meta(self, key: str, value: str) -> None:
        """Store a free-form job setting (the job binding keys are read-only)."""
        if key in _BINDING_KEYS:
            raise ValueError(f"meta key {key!r} is set by StateStore.open()")
        self._write(("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value))))

    def get_meta(self, key: str) -> str | None:
        """Return a job setting, or None."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def integrity_ok(self) -> bool:
        """Return True when PRAGMA integrity_check finds nothing wrong."""
        try:
            rows = self._rows("PRAGMA integrity_check")
        except sqlite3.DatabaseError:
            return False
        return [tuple(r) for r in rows] == [("ok",)]


# ------------------------------------------------------------ read-only access

# SQLite result codes (low byte) that mean "could not read the file", not "not a tgfetch database":
# SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN.
_UNREADABLE_CODES = frozenset({3, 5, 6, 8, 10, 14})


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """A state DB as one read saw it: its meta keys and its done files by message id."""

    meta: dict[str, str]
    done: dict[int, DoneFile]
    speeds: dict[str, ClientSpeed] = field(default_factory=dict)  # learned per account
    runs: list[RunRow] = field(default_factory=list)  # the newest rounds first (schema 3 on)


def read_runs(path: str | os.PathLike[str]) -> list[RunRow]:
    """The rounds a state DB recorded, newest first, read-only beside a running job."""
    return read_state(path).runs


def read_state(path: str | os.PathLike[str]) -> StateSnapshot:
    """Read a state DB's meta and done files read-only, without the job lock (safe beside a running job)."""
    db = Path(path)
    _check_header_readonly(db)
    uri = db.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as e:
        raise StorageError(f"cannot open the state DB {db}: {e}") from None
    try:
        conn.row_factory = sqlite3.Row
        return _read_snapshot(conn, db)
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorcode", 0) & 0xFF in _UNREADABLE_CODES:
            raise StorageError(f"cannot read the state DB {db}: {e}") from None
        raise _not_ours(db, str(e)) from None
    except sqlite3.DatabaseError as e:
        raise _not_ours(db, str(e)) from None
    finally:
        conn.close()


def _check_header_readonly(db: Path) -> None:
    """Refuse a file that is not SQLite (or is empty) without creating or changing it."""
    try:
        with open(db, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise StorageError(f"cannot open the state DB {db}: {e.strerror or e}") from None
    if head != _SQLITE_MAGIC:
        raise _not_ours(db, "not an SQLite file" if head else "the file is empty")


def _read_snapshot(conn: sqlite3.Connection, db: Path) -> StateSnapshot:
    """Read meta and done files in one read transaction (one consistent snapshot)."""
    conn.execute("BEGIN")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()["user_version"])
        if version > SCHEMA_VERSION:
            raise StateCorruptError(
                f"state DB {db} was written by a newer tgfetch (schema {version} > {SCHEMA_VERSION}); upgrade tgfetch"
            )
        if version < 1:
            raise _not_ours(db, "it has no tgfetch schema")
        meta = {str(r["key"]): str(r["value"]) for r in conn.execute("SELECT key, value FROM meta")}
        if not meta.get("channel_id", "").lstrip("-").isdigit():
            raise _not_ours(db, "it is bound to no channel")
        rows = conn.execute(f"{_SELECT_DONE} ORDER BY message_id").fetchall()
        speeds = {str(r["account"]): _record(ClientSpeed, r) for r in conn.execute(_SELECT_SPEEDS)}
        runs = [_record(RunRow, r) for r in conn.execute(_SELECT_RUNS, (MAX_RUNS_KEPT,))] if version >= 3 else []
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # a read transaction: nothing to keep
    return StateSnapshot(meta, {r["message_id"]: _record(DoneFile, r) for r in rows}, speeds, runs)


# ------------------------------------------------------------------- helpers


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run the body in BEGIN IMMEDIATE ... COMMIT, rolling back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_speed(bytes_per_s: float, overhead_s: float, samples: int) -> None:
    """Refuse speeds that would poison the EWMA."""
    if not (math.isfinite(bytes_per_s) and bytes_per_s > 0):
        raise ValueError(f"bytes_per_s must be a positive finite number, got {bytes_per_s}")
    if not (math.isfinite(overhead_s) and overhead_s >= 0):
        raise ValueError(f"overhead_s must be a finite number >= 0, got {overhead_s}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")


def _make_parent(db: Path) -> None:
    """Create the DB's parent directory."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the state DB directory {db.parent}: {e.strerror or e}") from None


def _acquire_lock(db: Path) -> BaseFileLock:
    """Take the exclusive job lock on <db>.lock without waiting and write our pid into it."""
    lock_path = Path(f"{db}.lock")
    lock = FileLock(lock_path, timeout=0, mode=0o600, thread_local=False, **_OS_LOCK_ONLY)
    earlier = _read_pid(lock_path)  # filelock < 4 truncates the lock file on every attempt, even a refused one
    try:
        lock.acquire()
    except Timeout:  # before OSError: filelock.Timeout is a TimeoutError
        holder = _read_pid(lock_path)
        raise JobLockedError(
            f"another tgfetch process (pid {earlier if holder == '?' else holder}) is running this job "
            f"(state DB {db}); wait for it or use another DOWNLOAD_DIR/STATE_DB"
        ) from None
    except (OSError, NotImplementedError) as e:  # NotImplementedError: filelock < 4 on a file system without flock
        raise StorageError(f"cannot take the job lock {lock_path}: {getattr(e, 'strerror', None) or e}") from None
    _write_pid(lock_path)
    return lock


def _write_pid(lock_path: Path) -> None:
    """Write our pid into the lock file we hold (best effort: Windows refuses writes to a locked byte)."""
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_TRUNC | _OPEN_FLAGS)
    except OSError:
        return
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_pid(lock_path: Path) -> str:
    """Return the pid written in a lock file, or '?' while it is unknown (not written yet, unreadable)."""
    try:
        with open(lock_path, "rb") as f:
            text = f.read(32).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


def _not_ours(db: Path, why: str) -> StateCorruptError:
    """Build the one-line error for a file that is not a usable state DB."""
    return StateCorruptError(f"{db} is not a tgfetch state database: {why}; move it away or use another STATE_DB")


def _check_header(db: Path) -> None:
    """Create the DB file with mode 0600, or refuse an existing file that is not SQLite."""
    try:
        fd = os.open(db, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
    except OSError as e:
        raise StorageError(f"cannot open the state DB {db}: {e.strerror or e}") from None
    try:
        head = os.read(fd, len(_SQLITE_MAGIC))
        if os.name == "posix" and os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    if head and head != _SQLITE_MAGIC[: len(head)]:
        raise _not_ours(db, "not an SQLite file")


def _connect(db: Path) -> sqlite3.Connection:
    """Open the DB in WAL mode and bring its schema up to date."""
    _check_header(db)
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, db)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise _not_ours(db, str(e)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, db: Path) -> None:
    """Create or upgrade the schema, refusing foreign or newer databases."""
    with _transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()["user_version"])
        if version > SCHEMA_VERSION:
            raise StateCorruptError(
                f"state DB {db} was written by a newer tgfetch (schema {version} > {SCHEMA_VERSION}); upgrade tgfetch"
            )
        if version == 0 and conn.execute("SELECT count(*) AS n FROM sqlite_master").fetchone()["n"]:
            raise _not_ours(db, "it is an SQLite database of another program")
        for v in range(version, SCHEMA_VERSION):
            for sql in MIGRATIONS[v]:
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _bind(conn: sqlite3.Connection, db: Path, channel_id: int, channel_key: str, template: str) -> None:
    """Tie a fresh DB to this job, or check that an existing one belongs to it."""
    with _transaction(conn):
        meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        if "channel_id" in meta and int(meta["channel_id"]) != channel_id:
            raise StateMismatchError(
                f"state DB {db} belongs to channel {meta.get('channel_key', '?')} (id {meta['channel_id']}), "
                f"not {channel_key} (id {channel_id}): use another DOWNLOAD_DIR or STATE_DB"
            )
        old = meta.get("template")
        if old is not None and old != template:
            _check_template_change(conn, old, template)
        created = meta.get("created_at", repr(time.time()))
        rows = {"channel_id": str(channel_id), "channel_key": channel_key, "template": template, "created_at": created}
        conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", rows.items())


def _check_template_change(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Refuse a new file-name template once files were saved under the old one."""
    done = int(conn.execute("SELECT count(*) AS n FROM done_files").fetchone()["n"])
    if done:
        raise StateMismatchError(
            f"FILE_NAME_TEMPLATE changed from {old!r} to {new!r} but {done} files were saved under the old names; "
            "restore the old template or use another DOWNLOAD_DIR"
        )
