"""A job's state DB, read-only: `tgfetch dashboard --state-db PATH`, and the live dashboard's timeline.

Every read opens its own read-only connection (`mode=ro`, one snapshot), never takes the job lock
and never writes, so it is safe beside a running job. Reads run in a worker thread: the event loop
(and a job sharing it) never waits for SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from tgfetch.errors import StorageError, UsageError
from tgfetch.store import StateSnapshot, read_state
from tgfetch.web.records import (
    AccountView,
    FilePage,
    FileRow,
    History,
    PlanView,
    RunView,
    SpeedView,
    Status,
    Timeline,
    TimelineRow,
)

__all__ = ["ACTIVE_S", "StateDbSource", "history_of", "timeline_of"]

TIMELINE_BUCKETS = 120
TIMELINE_WINDOW_S = 86400.0  # a state DB's timeline shows its last day of files
ACTIVE_S = 30.0  # a state DB whose newest file is this recent belongs to a job that is running
_NICE = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
_FILES = (
    "SELECT * FROM (SELECT 'done' AS state, message_id, path, size, client AS account, '' AS error FROM done_files"
    " UNION ALL SELECT 'failed', message_id, '', 0, '', error FROM failures)"
)
_MATCH = (" WHERE instr(fold(path), :q) OR instr(fold(account), :q) OR instr(state, :q)"
          " OR instr(fold(error), :q) OR instr(CAST(message_id AS TEXT), :q)")


@contextlib.contextmanager
def _reader(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection in one read snapshot; SQLite's errors become one StorageError line."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, timeout=5)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the state DB {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.create_function("fold", 1, lambda s: str(s or "").casefold(), deterministic=True)
        conn.execute("BEGIN")
        yield conn
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the state DB {path}: {exc}") from None
    finally:
        conn.close()


def _nice_bucket(span: float) -> float:
    """A bucket of 1, 2, 5, 10 … seconds that cuts `span` into about TIMELINE_BUCKETS."""
    want = span / TIMELINE_BUCKETS
    return float(next((n for n in _NICE if n >= want), math.ceil(want / 86400) * 86400))


def bucketed(rows: Sequence[tuple[str, int, float]], since: float | None, now: float) -> Timeline:
    """(account, bytes, done_at) rows as a timeline from `since` (None: the last day of the rows) to now."""
    if not rows:
        return Timeline(since if since is not None else now, 1.0, ())
    last = max(t for _, _, t in rows)
    start = since if since is not None else max(min(t for _, _, t in rows), last - TIMELINE_WINDOW_S)
    end = max(last, now) if since is not None else last
    bucket = _nice_bucket(max(end - start, 1.0))
    start = math.floor(start / bucket) * bucket
    n = int((end - start) // bucket) + 1
    per: dict[str, tuple[list[int], list[int]]] = {}
    for account, size, t in rows:
        if t < start:
            continue
        files, nbytes = per.setdefault(account, ([0] * n, [0] * n))
        i = min(int((t - start) // bucket), n - 1)
        files[i] += 1
        nbytes[i] += size
    return Timeline(start, bucket, tuple(TimelineRow(a, tuple(f), tuple(b)) for a, (f, b) in sorted(per.items())))


def timeline_of(paths: Sequence[Path], since: float | None, now: float | None = None) -> Timeline:
    """Files finished per account in these state DBs (blocking: call it in a thread)."""
    rows: list[tuple[str, int, float]] = []
    for path in paths:
        with _reader(path) as conn:
            sql = "SELECT client, size, done_at FROM done_files WHERE done_at >= ?"
            rows += [(str(r[0]), int(r[1]), float(r[2])) for r in conn.execute(sql, (since or 0.0,))]
    return bucketed(rows, since, time.time() if now is None else now)


def history_of(snapshot: StateSnapshot) -> History:
    """A state DB's finished rounds (newest first) and learned speeds."""
    runs = tuple(RunView(r.id, r.started, r.finished, r.strategy, r.metric, tuple(map(str, _json(r.accounts, list))),
                         r.files, r.bytes, r.download_s, r.ideal_s, r.outcome,
                         {str(k): float(v) for k, v in _json(r.speeds, dict).items()})
                 for r in snapshot.runs)
    speeds = tuple(SpeedView(s.account, s.bytes_per_s, s.overhead_s, s.samples, s.updated)
                   for s in snapshot.speeds.values())
    return History(runs, speeds)


T = TypeVar("T", list, dict)  # type: ignore[type-arg]


def _json(text: str, kind: type[T]) -> T:
    """A JSON list or object from the state DB (an empty one when it is not one)."""
    try:
        value = json.loads(text)
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def open_snapshot(path: Path) -> StateSnapshot:
    """The state DB's snapshot; a missing file or a directory is a usage error naming what was expected."""
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise UsageError(f"--state-db {str(path)!r} {what}: expected a job's state DB "
                         "(DOWNLOAD_DIR/<channel>/.tgfetch.sqlite)")
    return read_state(path)


class StateDbSource:
    """The pages of a job read from its state DB: files, failures, timeline, history (no plan: it is not kept)."""

    name = "state-db"
    refresh_s = 1.0

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.label = open_snapshot(path).meta.get("channel_key", "?")  # checks that it is a tgfetch state DB

    async def status(self) -> Status:
        """Files and bytes per account, failures, learned speeds, as recorded."""
        return await asyncio.to_thread(self._status)

    def _status(self) -> Status:
        with _reader(self.path) as conn:
            per = conn.execute("SELECT client, count(*) AS n, sum(size) AS b, min(done_at) AS t0, max(done_at) AS t1"
                               " FROM done_files GROUP BY client ORDER BY client").fetchall()
            failed = int(conn.execute("SELECT count(*) FROM failures").fetchone()[0])
            speeds = {str(r[0]): float(r[1]) for r in conn.execute("SELECT account, bytes_per_s FROM client_speeds")}
        now = self.clock()
        names = sorted({str(r["client"]) for r in per} | set(speeds))
        by = {str(r["client"]): r for r in per}
        accounts = tuple(_recorded(n, by.get(n), speeds.get(n, 0.0)) for n in names)
        first = min((float(r["t0"]) for r in per), default=now)
        last = max((float(r["t1"]) for r in per), default=now)
        files = sum(a.files for a in accounts)
        nbytes = sum(a.bytes for a in accounts)
        return Status(source=self.name, phase="active" if now - last < ACTIVE_S and per else "recorded",
                      job=self.label, round=0, now=now, started=first, elapsed_s=last - first,
                      files_planned=files + failed, files_done=files, files_downloaded=files, failures=failed,
                      bytes_planned=nbytes, bytes_left=0, eta_s=0.0, ideal_s=0.0, accounts=accounts)

    async def plan(self) -> PlanView | None:
        """The state DB keeps no plan."""
        return None

    async def files(self, query: str, limit: int, offset: int) -> FilePage:
        """Done files and failures matching `query`."""
        return await asyncio.to_thread(self._files, query.strip().casefold(), limit, offset)

    def _files(self, q: str, limit: int, offset: int) -> FilePage:
        where = _MATCH if q else ""
        with _reader(self.path) as conn:
            total = int(conn.execute(f"SELECT count(*) FROM ({_FILES}{where})", {"q": q}).fetchone()[0])
            rows = conn.execute(f"{_FILES}{where} ORDER BY message_id, state LIMIT :n OFFSET :o",
                                {"q": q, "n": limit, "o": offset}).fetchall()
            counts = {str(r[0]): int(r[1]) for r in conn.execute(f"SELECT state, count(*) FROM ({_FILES}) GROUP BY 1")}
        out = tuple(FileRow(self.label, int(r["message_id"]), str(r["state"]), str(r["account"]), str(r["path"]),
                            int(r["size"]), error=str(r["error"])) for r in rows)
        return FilePage(q, total, offset, out, counts)

    async def timeline(self) -> Timeline:
        """The last day of files finished, per account."""
        return await asyncio.to_thread(timeline_of, [self.path], None, self.clock())

    async def history(self) -> History:
        """Finished rounds (the `runs` table) and learned speeds."""
        return history_of(await asyncio.to_thread(read_state, self.path))


def _recorded(name: str, row: sqlite3.Row | None, learned: float) -> AccountView:
    """An account as its state DB saw it: files and bytes done, its learned speed."""
    files, nbytes = (int(row["n"]), int(row["b"] or 0)) if row is not None else (0, 0)
    return AccountView(name=name, state="recorded", files=files, bytes=nbytes, speed_bps=learned,
                       est_speed_bps=learned)
