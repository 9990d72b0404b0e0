"""What a download job did: the `JobReport` record and its JSON form (`--report`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats, FileRecord
from tgfetch.model import TaskDistributionResult, key_chat, key_id
from tgfetch.telegram.account import Account
from tgfetch.telegram.scan import ScanResult

__all__ = ["ChatPart", "JobReport", "client_summary", "plan_json", "scan_json"]


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


@dataclass(frozen=True)
class ChatPart:
    """One chat of a job of several (`JobReport.chats`): its number, name and folder."""

    number: int
    label: str
    folder: Path


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
    chats: list[ChatPart] = field(default_factory=list)  # a job of several chats (or with comments): each
    predictions: dict[str, Any] = field(default_factory=dict)  # the learned predictions' ETA checkpoints and samples

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
        """The JSON report (`--report`); a job of several chats has each chat's files under `chats`."""
        out = {
            "outcome": self.result, "error": self.error,
            "channel": self.channel, "first_id": self.first_id, "last_id": self.last_id,
            "strategy": self.strategy, "plan": plan_json(self.plan), "clients": self.clients,
            "files": [_file_json(f) for f in sorted(self.files, key=lambda f: (f.chat, f.message_id))],
            "failures": {self._failure_key(k): v for k, v in self.failures.items()},
            "api_calls": self.api_calls, "elapsed_s": round(self.elapsed_s, 3),
            "scan": scan_json(self.scan),
            "fetched_bytes": self.fetched_bytes, "stage_seconds": self.stage_seconds,
            "selection": {"dropped": self.dropped},
        }
        if self.chats:
            out["chats"] = [self._chat_json(c) for c in self.chats]
        if self.predictions:
            out["predictions"] = self.predictions
        return out

    def _failure_key(self, key: int) -> str:
        """A failed file's key in the JSON: its message id, after `<chat>/` for the job's later chats."""
        chat = key_chat(key)
        return str(key_id(key)) if chat == 0 else f"{self.chats[chat].label}/{key_id(key)}"

    def _chat_json(self, chat: ChatPart) -> dict[str, Any]:
        files = [f for f in self.files if f.chat == chat.number]
        failed = {str(key_id(k)): v for k, v in self.failures.items() if key_chat(k) == chat.number}
        return {"number": chat.number, "chat": chat.label, "folder": str(chat.folder), "files": len(files),
                "bytes": sum(f.size for f in files), "downloaded": sum(1 for f in files if not f.skipped),
                "failures": failed}


def _file_json(f: FileRecord) -> dict[str, Any]:
    """One file of the report (`chat`, the job's chat number, only in a job of several chats)."""
    out = dict(f.__dict__)
    if not f.chat:
        del out["chat"]
    return out


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
            "takeovers": c.takeovers if c else 0, "backups": c.backups if c else 0,
            "handoffs": c.handoffs if c else 0,
            "flood_waits": acc.flood_waits if acc else 0,
            "flood_wait_s": round(acc.flood_seconds, 3) if acc else 0.0,
            "state": (f"dead: {c.dead}" if c and c.dead else st.state),
        }
    return out
