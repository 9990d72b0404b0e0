"""The per-machine learning history: one small SQLite file shared by every job on this machine.

Where: ``$XDG_DATA_HOME/tgfetch/history.sqlite`` (``~/.local/share/tgfetch/history.sqlite`` when
``XDG_DATA_HOME`` is unset), or the path given (tests).  Opened disabled (``LEARNING=off``) it
records nothing and answers nothing.  Schema (version 1, ``PRAGMA user_version``)::

    samples(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT, size INTEGER, dc INTEGER,
            concurrency REAL, started REAL, seconds REAL, hour REAL, job TEXT, account_bytes INTEGER)
        -- one finished file (`samples.Sample`); only the newest MAX_SAMPLES (50,000) are kept
    runs(id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT, accounts TEXT, strategy TEXT, metric TEXT,
         makespan REAL, ideal REAL, started REAL, efficiency REAL)
        -- one download round: the job's key, its sorted account names (JSON), the plan's strategy and
        -- metric, the achieved makespan and the ideal bound (seconds), the ETA's efficiency;
        -- the newest MAX_RUNS (10,000) are kept

Samples are cleaned again when read into a model (`load_predictor`), so a file written by an older
or broken tgfetch cannot poison a plan.  Writers share the file through SQLite's own locking (WAL,
a busy timeout): several jobs at once are fine.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tgfetch.learning.predictor import Predictor
from tgfetch.learning.robust import REFIT_EVERY
from tgfetch.learning.samples import Sample

__all__ = ["MAX_RUNS", "MAX_SAMPLES", "History", "HistorySummary", "RunOutcome", "default_history_path",
           "format_summary", "load_predictor"]

MAX_SAMPLES = 50_000
LOAD_PER_ACCOUNT = 1000  # newest samples of each account a job learns from (the robust fit halves weights every 400)
LOAD_REFIT_EVERY = 200  # files between refits while they are replayed
MAX_RUNS = 10_000
SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS samples(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,"
    " size INTEGER NOT NULL, dc INTEGER NOT NULL, concurrency REAL NOT NULL, started REAL NOT NULL,"
    " seconds REAL NOT NULL, hour REAL NOT NULL, job TEXT NOT NULL, account_bytes INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS samples_account ON samples(account)",
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL,"
    " accounts TEXT NOT NULL, strategy TEXT NOT NULL, metric TEXT NOT NULL, makespan REAL NOT NULL,"
    " ideal REAL NOT NULL, started REAL NOT NULL, efficiency REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS runs_job ON runs(job, accounts)",
)
_SAMPLE_COLUMNS = "account, size, dc, concurrency, started, seconds, hour, job, account_bytes"


def default_history_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/tgfetch/history.sqlite``, by default under ``~/.local/share``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tgfetch" / "history.sqlite"


@dataclass(frozen=True)
class RunOutcome:
    """One download round as the bandit learns from it."""

    job: str
    accounts: tuple[str, ...]
    strategy: str
    metric: str
    makespan: float  # seconds the download took
    ideal: float  # seconds at the ideal bound
    started: float = 0.0  # wall-clock seconds
    efficiency: float = 0.0  # the ETA's efficiency at the end (0: unknown)

    @property
    def reward(self) -> float:
        """ideal / makespan, in (0, 1] (1: the bound was reached); 0 for a run without a makespan."""
        return min(1.0, self.ideal / self.makespan) if self.makespan > 0 and self.ideal > 0 else 0.0


@dataclass(frozen=True)
class HistorySummary:
    """What `tgfetch history` shows."""

    path: Path | None  # None: learning is off
    samples: int
    accounts: dict[str, tuple[int, float]]  # name: (samples, median bytes/s of its files)
    runs: int
    jobs: int
    oldest: float | None
    newest: float | None


class History:
    """The history file (see the module docstring); `History.open`, then use it as a context manager."""

    def __init__(self, path: Path | None, conn: sqlite3.Connection | None) -> None:
        self.path, self._conn = path, conn

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> History:
        """Open (creating) the history file; disabled: one that records nothing."""
        if not enabled:
            return cls(None, None)
        p = Path(path) if path is not None else default_history_path()
        p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(p, timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        for sql in _SCHEMA:
            conn.execute(sql)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return cls(p, conn)

    @property
    def enabled(self) -> bool:
        """False when learning is off."""
        return self._conn is not None

    def __enter__(self) -> History:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def add_samples(self, samples: Iterable[Sample]) -> int:
        """Record finished files (the oldest beyond MAX_SAMPLES go); return how many were added."""
        if self._conn is None:
            return 0
        rows = [(s.account, s.size, s.dc, s.concurrency, s.started, s.seconds, s.hour, s.job, s.account_bytes)
                for s in samples]
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(f"INSERT INTO samples({_SAMPLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._conn.execute("DELETE FROM samples WHERE id <= (SELECT MAX(id) FROM samples) - ?", (MAX_SAMPLES,))
        return len(rows)

    def samples(self, accounts: Sequence[str] | None = None, limit: int | None = None) -> list[Sample]:
        """Recorded samples, oldest first (of `accounts` only; the newest `limit` only)."""
        if self._conn is None:
            return []
        where, args = "", list[object]()
        if accounts is not None:
            where = f" WHERE account IN ({','.join('?' * len(accounts))})"
            args = list(accounts)
        sql = f"SELECT {_SAMPLE_COLUMNS} FROM samples{where} ORDER BY id DESC LIMIT ?"
        rows = self._conn.execute(sql, [*args, limit if limit is not None else -1]).fetchall()
        return [Sample(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in reversed(rows)]

    def add_run(self, run: RunOutcome) -> None:
        """Record one download round (the oldest beyond MAX_RUNS go)."""
        if self._conn is None:
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO runs(job, accounts, strategy, metric, makespan, ideal, started, efficiency)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (run.job, _accounts_key(run.accounts), run.strategy, run.metric, run.makespan, run.ideal,
                 run.started or time.time(), run.efficiency))
            self._conn.execute("DELETE FROM runs WHERE id <= (SELECT MAX(id) FROM runs) - ?", (MAX_RUNS,))

    def runs(self, job: str | None = None, accounts: Sequence[str] | None = None) -> list[RunOutcome]:
        """Recorded rounds, oldest first (of one job and account set, when given)."""
        if self._conn is None:
            return []
        where: list[str] = []
        args: list[object] = []
        if job is not None:
            where, args = [*where, "job = ?"], [*args, job]
        if accounts is not None:
            where, args = [*where, "accounts = ?"], [*args, _accounts_key(accounts)]
        sql = ("SELECT job, accounts, strategy, metric, makespan, ideal, started, efficiency FROM runs"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id")
        return [RunOutcome(r[0], tuple(json.loads(r[1])), r[2], r[3], r[4], r[5], r[6], r[7])
                for r in self._conn.execute(sql, args)]

    def summary(self) -> HistorySummary:
        """Counts per account, runs and jobs, the time span."""
        if self._conn is None:
            return HistorySummary(None, 0, {}, 0, 0, None, None)
        c = self._conn
        accounts = {}
        for (name,) in c.execute("SELECT DISTINCT account FROM samples ORDER BY account").fetchall():
            speeds = sorted(s for (s,) in c.execute(
                "SELECT size / seconds FROM samples WHERE account = ? AND seconds > 0", (name,)))
            accounts[name] = (len(speeds), speeds[len(speeds) // 2] if speeds else 0.0)
        n, oldest, newest = c.execute("SELECT COUNT(*), MIN(started), MAX(started) FROM samples").fetchone()
        runs, jobs = c.execute("SELECT COUNT(*), COUNT(DISTINCT job) FROM runs").fetchone()
        return HistorySummary(self.path, n, accounts, runs, jobs, oldest, newest)

    def reset(self) -> tuple[int, int]:
        """Forget everything learned; return (samples, runs) removed."""
        if self._conn is None:
            return 0, 0
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            n = self._conn.execute("DELETE FROM samples").rowcount
            r = self._conn.execute("DELETE FROM runs").rowcount
        self._conn.execute("VACUUM")
        return n, r


def _accounts_key(accounts: Sequence[str]) -> str:
    return json.dumps(sorted(accounts))


def format_summary(s: HistorySummary) -> str:
    """`tgfetch history`'s text."""
    if s.path is None:
        return "learning is off (LEARNING=off): no history is kept"
    lines = [f"history: {s.path}", f"  {s.samples} file samples, {s.runs} runs of {s.jobs} jobs"]
    if s.oldest is not None and s.newest is not None:
        fmt = "%Y-%m-%d %H:%M"
        lines.append(f"  from {time.strftime(fmt, time.localtime(s.oldest))} to "
                     f"{time.strftime(fmt, time.localtime(s.newest))}")
    for name, (n, speed) in s.accounts.items():
        lines.append(f"  {name}: {n} files, median {speed / 1e6:.2f} MB/s per file")
    return "\n".join(lines)


def load_predictor(history: History, accounts: Sequence[str], speeds: Mapping[str, float] | None = None,
                   limit: int = 20_000) -> Predictor:
    """A predictor that learned the accounts' recorded samples (cleaned again; the newest `limit`, at most
    `LOAD_PER_ACCOUNT` of each account), its model refitted every `LOAD_REFIT_EVERY` files meanwhile:
    replaying 20,000 files with a refit every 10 took 13 s before a job could start."""
    newest: list[Sample] = []
    seen: collections.Counter[str] = collections.Counter()
    for s in reversed(history.samples(accounts, limit)):
        seen[s.account] += 1
        if seen[s.account] <= LOAD_PER_ACCOUNT:
            newest.append(s)
    predictor = Predictor(speeds)
    predictor.model.refit_every = LOAD_REFIT_EVERY
    for s in reversed(newest):
        predictor.observe(s)
    predictor.model.refit_every = REFIT_EVERY  # the next prediction refits on everything replayed
    return predictor
