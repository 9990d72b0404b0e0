"""The running job as the dashboard sees it, read on the job's own event loop.

The job hands each round to `round_started` as its download starts (`RunOptions.on_start`); the
command tells of each round's end (`round_done`) and of the job's end (`finished`). Between those,
every read looks at the job's live objects (the scheduler, the stats, the accounts, the engine's
records) and changes nothing; the timeline and the history are read from the job's state DBs in a
worker thread (read-only, beside the job's own connection).

Figures of one round (files and bytes planned, done and left, ETA) are the current round's; an
account's counters add up over every round of this process (`watch` runs one round per poll).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tgfetch.job import JobReport, RoundView
from tgfetch.store import read_state
from tgfetch.web.records import FilePage, FileRow, History, PlanView, Status, Timeline
from tgfetch.web.statedb import history_of, timeline_of
from tgfetch.web.views import Caption, account_views, captions, in_flight, plan_view, round_rows, round_totals

__all__ = ["LiveSource"]

log = logging.getLogger("tgfetch.web")


class LiveSource:
    """The dashboard's view of the job running in this process."""

    name = "live"
    refresh_s = 0.5  # the pages are at most this far behind the job

    def __init__(self, job: str = "", clock: Callable[[], float] = time.time) -> None:
        self.job = job
        self.clock = clock
        self.started = clock()
        self.phase = "starting"
        self.outcome = ""
        self.rounds = 0
        self.view: RoundView | None = None
        self._before: dict[str, Counter[str]] = {}  # earlier rounds' counters per account
        self._rows: dict[int, FileRow] = {}  # earlier rounds' files by key
        self._downloaded_before = 0
        self._plan: PlanView | None = None
        self._info: dict[int, Caption] = {}
        self._labels: dict[int, str] = {}
        self._planned = (0, 0)  # the round's files (with those already on disk) and bytes to fetch

    # ------------------------------------------------------------------ the job's news

    def round_started(self, view: RoundView) -> None:
        """A round's download starts (`RunOptions.on_start`); a fault here is logged, never the job's."""
        try:
            self._start(view)
        except Exception:  # noqa: BLE001 - the dashboard must never stop a download
            log.warning("dashboard: cannot follow this round (LOG_LEVEL=DEBUG shows why)", exc_info=log.isEnabledFor(
                logging.DEBUG))

    def _start(self, view: RoundView) -> None:
        self._fold()
        self.view = view
        self.rounds += 1
        self.phase = "downloading"
        self.job = ", ".join(p.label for p in view.job.parts)
        self._labels = {p.number: p.label for p in view.job.parts}
        self._info = captions(view.scan)
        if view.plan is not None:
            self._plan = plan_view(view.plan, view.scan, self.rounds)
        sched = view.engine.scheduler if view.engine is not None else None
        clients = list(sched.clients.values()) if sched is not None else []
        self._planned = (sum(c.queued_files for c in clients) + len(view.done_before),
                         sum(c.queued_bytes for c in clients))

    def round_done(self, report: JobReport) -> None:
        """A round ended (`watch` waits for the next poll)."""
        self.outcome = report.result
        self.phase = "waiting"

    def finished(self, outcome: str) -> None:
        """The job ended: done, files_failed, interrupted or error."""
        self.outcome = self.outcome if outcome in ("done", "files_failed") and self.outcome else outcome
        self.phase = outcome

    def _fold(self) -> None:
        """Keep the finished round's counters and files before the next one replaces it."""
        if self.view is None:
            return
        for name, counts in round_totals(self.view).items():
            self._before[name] = self._before.get(name, Counter()) + counts
        self._rows.update(round_rows(self.view, self._labels, self._info))
        self._downloaded_before += len(self.view.engine.records) if self.view.engine is not None else 0

    # ------------------------------------------------------------------ the pages

    async def status(self) -> Status:
        """The job now (cheap: no pass over the job's files)."""
        return self.snapshot()

    def snapshot(self) -> Status:
        """The job now, synchronously."""
        now, v = self.clock(), self.view
        engine = v.engine if v is not None else None
        sched = engine.scheduler if engine is not None else None
        left, eta, ideal, low, high = 0, 0.0, 0.0, 0.0, 0.0
        if sched is not None:
            left = sum(c.queued_bytes for c in sched.clients.values()) + sum(w.bytes_left for w in in_flight(sched))
            eta = max((c.est_remaining for c in sched.alive), default=0.0)
            if sched.forecast is not None:  # the learned predictions' estimate and interval
                eta, low, high = sched.forecast.seconds, sched.forecast.low, sched.forecast.high
            speed = sum(c.speed for c in sched.active)
            ideal = left / speed if speed > 0 else 0.0
        records = len(engine.records) if engine is not None else 0
        return Status(
            source=self.name, phase=self.phase, job=self.job, round=self.rounds, now=now, started=self.started,
            elapsed_s=round(now - self.started, 3), files_planned=self._planned[0],
            files_done=(len(v.done_before) if v is not None else 0) + records,
            files_downloaded=self._downloaded_before + records,
            failures=len(engine.failures) if engine is not None else 0, bytes_planned=self._planned[1],
            bytes_left=left, eta_s=round(eta, 3), eta_low_s=round(low, 3), eta_high_s=round(high, 3),
            ideal_s=round(ideal, 3), outcome=self.outcome,
            accounts=account_views(v, self._before) if v is not None else (),
            strategy=v.plan.strategy if v is not None and v.plan is not None else "")

    async def plan(self) -> PlanView | None:
        """The newest round's plan."""
        return self._plan

    async def files(self, query: str, limit: int, offset: int) -> FilePage:
        """Every file of this process's rounds matching `query`, in chat and message order."""
        rows = dict(self._rows)
        if self.view is not None:
            rows.update(round_rows(self.view, self._labels, self._info))
        q = query.strip().casefold()
        ordered = [rows[k] for k in sorted(rows)]
        hits = [r for r in ordered if not q or q in _haystack(r)]
        counts = dict(Counter(r.state for r in ordered))
        return FilePage(q, len(hits), offset, tuple(hits[offset:offset + limit]), counts)

    async def timeline(self) -> Timeline:
        """What each account finished since this process started, from the job's state DBs."""
        paths = self._databases()
        if not paths:
            return Timeline(self.started, 1.0, ())
        return await asyncio.to_thread(timeline_of, paths, self.started, self.clock())

    async def history(self) -> History:
        """The job's finished rounds and learned speeds (its first chat's state DB)."""
        paths = self._databases()
        if not paths:
            return History((), ())
        return history_of(await asyncio.to_thread(read_state, paths[0]))

    def _databases(self) -> list[Path]:
        if self.view is None:
            return []
        return [store.path for _, store in self.view.job.disk.folders.values()]


def _haystack(r: FileRow) -> str:
    return f"{r.message_id}\n{r.state}\n{r.account}\n{r.path}\n{r.name}\n{r.caption}\n{r.error}\n{r.chat}".casefold()
