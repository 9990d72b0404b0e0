"""A download round's learned predictions (`LEARNING`, `tgfetch.learning`).

Each file an account fetches to its end becomes a `Sample` (its size, DC, the files in flight with
it, its seconds, the bytes the account fetched meanwhile) that the round's `Predictor` learns at
once and the per-machine history keeps for the next runs. Every `TICK` seconds the round's
estimated finish (with an interval) is taken from the work left in the scheduler (`EtaTracker`);
the live view and the dashboard show it. When 10, 25, 50 and 75 % of the round's bytes are
fetched, that estimate and today's (the slowest account's bytes left over its speed) are noted;
at the end each is compared with how long the round really took, and the JSON report says how
far off both were (`predictions.eta`). The run's outcome (strategy, makespan, ideal bound) goes to
the history too, for `auto` to learn from. With `LEARNING=off` the history is neither read nor
written: the predictions start from the job's own learned speeds.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tgfetch.config import Settings
from tgfetch.distribution.matrix import FileCosts
from tgfetch.download.fetch import FetchResult
from tgfetch.download.work import FileTask
from tgfetch.learning.bandit import Arm, Choice, choose
from tgfetch.learning.eta import Eta, EtaTracker, legacy_eta, settled
from tgfetch.learning.history import History, RunOutcome, load_predictor
from tgfetch.learning.live import remaining_of
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import HOME_DC, InFlight, Sample, hour_of_day
from tgfetch.telegram.account import Account

__all__ = ["AUTO_CANDIDATES", "CHECKPOINTS", "EtaPoint", "PlanLearning", "RoundPredictions", "plan_learning"]

log = logging.getLogger("tgfetch")

CHECKPOINTS = (0.10, 0.25, 0.50, 0.75)  # shares of the round's bytes at which the estimates are noted
TICK = 0.5  # seconds between estimates


@dataclass(frozen=True)
class EtaPoint:
    """The estimates taken when `done` of the round's bytes were fetched, `at_s` seconds into it."""

    done: float
    at_s: float
    eta_s: float
    low_s: float
    high_s: float
    legacy_s: float  # today's estimator: the slowest account's bytes left over its speed

    def scored(self, actual_s: float) -> dict[str, float]:
        """With the seconds the round really had left then, and each estimate's relative error."""
        out = {k: round(v, 3) for k, v in asdict(self).items()}
        out["actual_s"] = round(actual_s, 3)
        if actual_s > 0:
            out["error"] = round(abs(self.eta_s - actual_s) / actual_s, 4)
            out["legacy_error"] = round(abs(self.legacy_s - actual_s) / actual_s, 4)
        return out


#: What `auto` chooses among once the history has runs of the job and account set (albums kept whole).
AUTO_CANDIDATES = (Arm("media_group_aware", "estimated_time"), Arm("media_group_aware", "estimated_size"),
                   Arm("media_group_aware", "file_count"), Arm("load_balanced", "estimated_time"),
                   Arm("load_balanced", "estimated_size"))


@dataclass(frozen=True)
class PlanLearning:
    """What the plan takes from the history: per-account file costs, `auto`'s choice (None: today's)."""

    costs: FileCosts | None = None
    choice: Choice | None = None


def _file_costs(predictor: Predictor, accounts: Sequence[str]) -> FileCosts | None:
    """The predictor's per-file costs, when it learned files of every account (else None)."""
    if not accounts or any(predictor.source(a) == "prior" for a in accounts):
        return None
    hour = hour_of_day()

    def costs(account: str, sizes: Any, dcs: Any) -> Any:
        return predictor.cost_array(account, sizes, dcs, predictor.concurrency(account), hour)
    return costs


def _learning_of(history: History, predictor: Predictor, job: str, accounts: Sequence[str]) -> PlanLearning:
    if not history.enabled:
        return PlanLearning()
    runs = history.runs(job, accounts)
    choice = None
    if runs:
        observed = [(Arm(r.strategy, r.metric), r.reward) for r in runs]
        choice = choose(AUTO_CANDIDATES, observed, key=f"{job}|{','.join(sorted(accounts))}")
    return PlanLearning(_file_costs(predictor, accounts), choice)


def plan_learning(settings: Settings, accounts: Sequence[str], job: str,
                  speeds: Mapping[str, float] | None = None, history_path: Path | None = None) -> PlanLearning:
    """What a plan alone (`tgfetch plan`) takes from the per-machine history; nothing is written."""
    history = _open_history(settings, history_path)
    try:
        return _learning_of(history, load_predictor(history, accounts, speeds), job, accounts)
    finally:
        history.close()


def _open_history(settings: Settings, path: Path | None) -> History:
    """The per-machine history (a disabled one with LEARNING=off, or when it cannot be opened)."""
    try:
        return History.open(path, enabled=settings.learning == "on")
    except (OSError, sqlite3.Error) as exc:
        log.warning("learning: the history cannot be opened (%s); this run learns only for itself", exc)
        return History.open(enabled=False)


class RoundPredictions:
    """One round's samples, model and estimated finish; see the module's docstring."""

    def __init__(self, settings: Settings, accounts: Sequence[str], speeds: Mapping[str, float], job: str,
                 history_path: Path | None = None) -> None:
        self.history = _open_history(settings, history_path)
        self.predictor = (load_predictor(self.history, accounts, speeds) if self.history.enabled
                          else Predictor(speeds))
        self.job, self.accounts = job, tuple(accounts)
        self.inflight = InFlight()
        self.samples: list[Sample] = []
        self.rejected = 0
        self.started = time.time()
        self.tracker = EtaTracker(time.monotonic())
        self.current: Eta | None = None
        self.points: list[EtaPoint] = []

    def planning(self) -> PlanLearning:
        """What this round's plan takes from the history (see `PlanLearning`)."""
        return _learning_of(self.history, self.predictor, self.job, self.accounts)

    def begin(self) -> None:
        """The download starts now (after the plan): the estimated finish is timed from here."""
        self.started = time.time()
        # an efficiency off its prior fades only when the history taught the predictor every account
        self.tracker = EtaTracker(time.monotonic(), fade=settled(self.predictor, self.accounts))

    # -- the downloader's timing of each file ------------------------------------------------------

    def file_started(self, acc: Account) -> tuple[Any, int, float]:
        """A file of `acc` starts: its ticket."""
        return self.inflight.start(acc.name), acc.net_bytes, time.time()

    def file_ended(self, ticket: tuple[Any, int, float], acc: Account, task: FileTask,
                   result: FetchResult | None) -> None:
        """The file ended (`result` None: it did not finish); a finished one is learned."""
        mark, before, t0 = ticket
        concurrency = self.inflight.finish(mark)
        if result is None or result.fetched <= 0:
            return
        sample = Sample(acc.name, result.fetched, task.info.dc_id or HOME_DC, concurrency, t0, result.seconds,
                        hour_of_day(t0), self.job, account_bytes=acc.net_bytes - before)
        if self.predictor.observe(sample) is None:
            self.samples.append(sample)
        else:
            self.rejected += 1

    # -- the estimated finish ----------------------------------------------------------------------

    async def follow(self, scheduler: Any, stats: Mapping[str, Any], total_bytes: int) -> None:
        """Keep `current` up to date while the round runs (cancel it at the end)."""
        while True:
            await asyncio.sleep(TICK)
            try:
                self.tick(scheduler, stats, total_bytes)
            except Exception as exc:  # noqa: BLE001 - an estimate must never stop a download
                log.debug("the estimated finish could not be computed: %s", exc)

    def tick(self, scheduler: Any, stats: Mapping[str, Any], total_bytes: int) -> Eta:
        """Estimate the finish now; note the checkpoints reached."""
        left = remaining_of(scheduler, stats)
        now = time.monotonic()
        self.current = scheduler.forecast = eta = self.tracker.update(now, left, self.predictor, hour=hour_of_day())
        done = 1 - sum(r.bytes for r in left) / total_bytes if total_bytes > 0 else 1.0
        for share in CHECKPOINTS[len(self.points):]:
            if done < share:
                break
            self.points.append(EtaPoint(share, now - self.tracker.started, eta.seconds, eta.low, eta.high,
                                        legacy_eta(left)))
        return eta

    # -- the end -----------------------------------------------------------------------------------

    def close(self, strategy: str, metric: str, makespan: float, ideal: float) -> dict[str, Any]:
        """Keep the samples and the run's outcome in the history; the report's `predictions`."""
        ran = time.monotonic() - self.tracker.started
        enabled = self.history.enabled
        try:
            self.history.add_samples(self.samples)
            if makespan > 0:
                self.history.add_run(RunOutcome(self.job, self.accounts, strategy, metric, makespan, ideal,
                                                self.started, self.tracker.efficiency))
        except (OSError, sqlite3.Error) as exc:
            log.warning("learning: the history could not be written (%s); the files are not affected", exc)
        finally:
            self.history.close()
        return {
            "learning": "on" if enabled else "off", "samples": len(self.samples),
            "rejected": self.rejected,
            "eta": [p.scored(ran - p.at_s) for p in self.points],
        }
