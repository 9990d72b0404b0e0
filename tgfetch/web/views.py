"""The running job's objects as dashboard records: accounts, the plan, the files.

Pure reading of one round (`tgfetch.job.RoundView`): the scheduler's queues and groups in flight,
the per-account stats, the accounts' counters, the engine's records and failures. Nothing is changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from tgfetch.download.load import ClientState
from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import FileRecord
from tgfetch.download.work import FileTask, GroupWork
from tgfetch.job import RoundView
from tgfetch.model import MessageGroup, TaskDistributionResult, key_chat, key_id, message_key
from tgfetch.outcome import client_summary
from tgfetch.telegram.account import Account
from tgfetch.telegram.scan import ScanResult
from tgfetch.web.records import AccountView, FileRow, PlanAccount, PlanUnit, PlanView

__all__ = ["COUNTED", "MAX_UNITS", "Caption", "account_views", "captions", "in_flight", "plan_view", "round_rows",
           "round_totals"]

MAX_UNITS = 400  # units per account on the plan page: the largest albums; the rest lumped
COUNTED = ("files", "bytes", "stolen_in", "stolen_out", "backups", "takeovers", "handoffs", "errors")


@dataclass(frozen=True)
class Caption:
    """What Telegram says of a file: its name, its (album's) caption, its album."""

    name: str
    caption: str
    album: int | None


@dataclass
class _Account:
    """One account's figures in one round."""

    counts: Counter[str] = field(default_factory=Counter)
    state: str = ""
    current: str = ""


def captions(scan: ScanResult) -> dict[int, Caption]:
    """Each scanned media message's name, caption (an album member: the album's) and album, by key."""
    out: dict[int, Caption] = {}
    for g in scan.collection.groups:
        text = next((m.caption for m in g.messages if m.caption), "")
        for m in g.messages:
            if m.has_media:
                out[m.key] = Caption(m.file_name or "", text, m.media_group_id)
    return out


def round_totals(view: RoundView) -> dict[str, Counter[str]]:
    """Per account, this round's COUNTED figures."""
    return {n: a.counts for n, a in _round_accounts(view).items()}


def _round_accounts(view: RoundView) -> dict[str, _Account]:
    sched = view.engine.scheduler if view.engine is not None else None
    summary = client_summary(sched, view.stats, view.job.accounts)
    out: dict[str, _Account] = {}
    for name, s in summary.items():
        c = sched.clients.get(name) if sched is not None else None
        counts = Counter({k: int(s.get(k, 0)) for k in COUNTED})
        counts["takeovers"] = c.takeovers if c is not None else 0
        state = "paused (handed off)" if c is not None and c.paused and c.dead is None else str(s["state"])
        out[name] = _Account(counts, state, view.stats[name].current)
    return out


def account_views(view: RoundView, before: Mapping[str, Counter[str]]) -> tuple[AccountView, ...]:
    """Every account of the job now (`before`: the COUNTED figures of earlier rounds)."""
    sched = view.engine.scheduler if view.engine is not None else None
    now = _round_accounts(view)
    out = []
    for name, acc in view.job.accounts.items():
        mine = now.get(name) or _Account(state=f"dead: {acc.dead}" if acc.dead else "not in this round")
        c = sched.clients.get(name) if sched is not None else None
        out.append(_account(acc, c, mine, mine.counts + before.get(name, Counter())))
    return tuple(out)


def _account(acc: Account, c: ClientState | None, now: _Account, counts: Counter[str]) -> AccountView:
    inflight = list(c.inflight) if c is not None else []
    busy = c is not None and c.dead is None and bool(c.queue or c.inflight)
    return AccountView(
        name=acc.name, state=now.state, files=counts["files"], bytes=counts["bytes"],
        speed_bps=round(acc.throughput, 1), est_speed_bps=round(c.speed, 1) if c is not None else 0.0,
        queue_files=c.queued_files if c is not None else 0, queue_bytes=c.queued_bytes if c is not None else 0,
        inflight_groups=len(inflight), inflight_files=sum(len(w.remaining) for w in inflight),
        inflight_bytes=sum(w.bytes_left for w in inflight),
        est_remaining_s=round(c.est_remaining, 3) if busy and c is not None else 0.0,
        stolen_in=counts["stolen_in"], stolen_out=counts["stolen_out"], backups=counts["backups"],
        takeovers=counts["takeovers"], handoffs=counts["handoffs"], errors=counts["errors"],
        flood_waits=acc.flood_waits, flood_wait_s=round(acc.flood_seconds, 3),
        flood_wait_left_s=round(acc.flood_wait_left, 3), api_calls=acc.rpc_counts(), current=now.current)


def in_flight(sched: Scheduler) -> list[GroupWork]:
    """Groups in flight or released, each once (a backed-up group is in two accounts' flights)."""
    seen: dict[int, GroupWork] = {}
    for w in [*sched.released, *(w for c in sched.clients.values() for w in c.inflight)]:
        seen.setdefault(id(w), w)
    return list(seen.values())


def plan_view(plan: TaskDistributionResult, scan: ScanResult, number: int) -> PlanView:
    """The plan as the plan page draws it: per account its albums (whole units) and its singles lumped."""
    m = plan.metrics
    edge = set(scan.completed_albums)
    accounts = tuple(PlanAccount(
        a.client_name, len(a.message_groups), sum(1 for g in a.message_groups if g.is_media_group), a.total_files,
        a.estimated_size, round(m.loads.get(a.client_name, 0.0), 6), _units(a.message_groups, edge))
        for a in plan.client_assignments)
    return PlanView(number, plan.strategy, str(plan.metric.value), m.makespan, m.lower_bound, m.gap, m.balance_ratio,
                    accounts, tuple(sorted(edge)), tuple(sorted(scan.partial_albums)), tuple(m.albums_split))


def _units(groups: list[MessageGroup], edge: set[int]) -> tuple[PlanUnit, ...]:
    albums = sorted((g for g in groups if g.is_media_group), key=lambda g: -g.total_size)
    units = [PlanUnit(g.group_id, True, g.total_files, g.total_size, g.messages[0].media_group_id in edge,
                      next((x.caption for x in g.messages if x.caption), "")) for g in albums[:MAX_UNITS]]
    rest = [g for g in groups if not g.is_media_group] + albums[MAX_UNITS:]
    if rest:
        units.append(PlanUnit("singles", False, sum(g.total_files for g in rest), sum(g.total_size for g in rest),
                              count=len(rest)))
    return tuple(units)


def round_rows(view: RoundView, labels: Mapping[int, str], info: Mapping[int, Caption]) -> dict[int, FileRow]:
    """Every file of the round by key: done, skipped (an earlier run's), failed, downloading, queued."""
    out: dict[int, FileRow] = {}
    for rec in view.done_before:
        out[message_key(rec.chat, rec.message_id)] = _record_row(rec, "skipped", labels, info)
    engine = view.engine
    if engine is None:
        return out
    sched = engine.scheduler
    for c in sched.clients.values():
        for w in c.queue:
            out.update((t.info.key, _task_row(t, "queued", c.name, labels, info)) for t in w.remaining)
    for w in sched.released:
        out.update((t.info.key, _task_row(t, "queued", "", labels, info)) for t in w.remaining)
    for c in sched.clients.values():
        for w in c.inflight:
            out.update((t.info.key, _task_row(t, "downloading", c.name, labels, info)) for t in w.remaining)
    for key, rec in list(engine.records.items()):
        out[key] = _record_row(rec, "done", labels, info)
    for key, error in list(engine.failures.items()):
        row = out.get(key)
        out[key] = FileRow(labels.get(key_chat(key), ""), key_id(key), "failed", row.account if row else "",
                           row.path if row else "", row.size if row else 0, *_about(key, info), error=error)
    return out


def _about(key: int, info: Mapping[int, Caption]) -> tuple[str, str, int | None]:
    c = info.get(key)
    return (c.name, c.caption, c.album) if c is not None else ("", "", None)


def _record_row(rec: FileRecord, state: str, labels: Mapping[int, str], info: Mapping[int, Caption]) -> FileRow:
    key = message_key(rec.chat, rec.message_id)
    return FileRow(labels.get(rec.chat, ""), rec.message_id, state, rec.client, rec.path, rec.size, *_about(key, info))


def _task_row(t: FileTask, state: str, account: str, labels: Mapping[int, str],
              info: Mapping[int, Caption]) -> FileRow:
    return FileRow(labels.get(t.info.chat, ""), t.info.message_id, state, account, t.rel.as_posix(),
                   t.info.file_size, t.info.file_name or "", t.album_caption or t.info.caption, t.info.media_group_id)
