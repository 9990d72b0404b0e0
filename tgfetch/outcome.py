"""What a download job did: the `JobReport` record and its JSON form (`--report`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.model import TaskDistributionResult
from tgfetch.telegram.account import Account
from tgfetch.telegram.scan import ScanResult

__all__ = ["JobReport", "client_summary", "plan_json", "scan_json"]


def plan_json(plan: TaskDistributionResult | None) -> dict[str, Any]:
    """A plan as JSON: strategy, metric, balance and each account's message ids."""
    if plan is None:
        return {}
    m = plan.metrics
    return {
        "strategy": plan.strategy, "metric": str(plan.metric.value),
        "makespan": m.makespan, "lower_bound": m.lower_bound, "gap": m.gap,
        "balance_ratio": m.balance_ratio, "imbalance": m.imbalance,
        "albums_split": list(m.albums_split), "validation_errors": list(m.validation_errors),
        "clients": {a.client_name: a.message_ids for a in plan.client_assignments},
    }


def scan_json(scan: ScanResult) -> dict[str, Any]:
    """What the scan did, as JSON."""
    return {"range_calls": scan.range_calls, "edge_calls": scan.edge_calls,
            "completed_albums": list(scan.completed_albums), "partial_albums": list(scan.partial_albums)}


@dataclass
class JobReport:
    """What a download job did; `files` has one record per media message on disk."""

    channel: str
    first_id: int
    last_id: int
    strategy: str
    plan: TaskDistributionResult | None
    scan: ScanResult
    files: list[FileRecord]
    failures: dict[int, str]
    clients: dict[str, dict[str, Any]]
    api_calls: dict[str, dict[str, int]]
    elapsed_s: float
    dest: Path
    fetched_bytes: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    outcome: str = ""  # "interrupted" or "error" when the run did not end normally
    error: str = ""
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # by the selection, per reason

    @property
    def ok(self) -> bool:
        """True when every media file is on disk."""
        return not self.failures

    @property
    def downloaded(self) -> list[FileRecord]:
        """Files fetched by this run (not skipped)."""
        return [f for f in self.files if not f.skipped]

    @property
    def result(self) -> str:
        """How the run ended: done, files_failed, interrupted or error."""
        return self.outcome or ("done" if self.ok else "files_failed")

    def to_json(self) -> dict[str, Any]:
        """The JSON report (`--report`)."""
        return {
            "outcome": self.result, "error": self.error,
            "channel": self.channel, "first_id": self.first_id, "last_id": self.last_id,
            "strategy": self.strategy, "plan": plan_json(self.plan), "clients": self.clients,
            "files": [f.__dict__ for f in sorted(self.files, key=lambda f: f.message_id)],
            "failures": {str(k): v for k, v in self.failures.items()},
            "api_calls": self.api_calls, "elapsed_s": round(self.elapsed_s, 3),
            "scan": scan_json(self.scan),
            "fetched_bytes": self.fetched_bytes, "stage_seconds": self.stage_seconds,
            "selection": {"dropped": self.dropped},
        }


def client_summary(scheduler: Scheduler | None, stats: Mapping[str, ClientStats],
                   accounts: Mapping[str, Account]) -> dict[str, dict[str, Any]]:
    """Per account: what it did in this run (the report's `clients`)."""
    out: dict[str, dict[str, Any]] = {}
    for name, st in stats.items():
        c = scheduler.clients.get(name) if scheduler is not None else None
        acc = accounts.get(name)
        out[name] = {
            "files": st.files, "bytes": st.bytes, "seconds": round(st.busy_seconds, 3), "errors": st.errors,
            "refetch_calls": st.refetch_calls, "steal_calls": st.steal_calls,
            "speed_bps": round(acc.throughput if acc else st.speed, 1),
            "stolen_in": c.stolen_in if c else 0, "stolen_out": c.stolen_out if c else 0,
            "backups": c.backups if c else 0, "handoffs": c.handoffs if c else 0,
            "flood_waits": acc.flood_waits if acc else 0,
            "flood_wait_s": round(acc.flood_seconds, 3) if acc else 0.0,
            "state": (f"dead: {c.dead}" if c and c.dead else st.state),
        }
    return out
