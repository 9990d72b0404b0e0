"""What the user sees: the plan, live progress per client, and the summary."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tgfetch.download.scheduler import Scheduler
from tgfetch.download.stats import ClientStats
from tgfetch.model import MessageCollection, TaskDistributionResult
from tgfetch.outcome import JobReport
from tgfetch.selection import SelectionResult
from tgfetch.telegram.scan import ScanResult

__all__ = ["human_bytes", "live_monitor", "plan_table", "print_plan", "print_summary", "write_report"]


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def plan_table(plan: TaskDistributionResult, scan: ScanResult | None = None) -> Table:
    """Per-client groups, files, bytes and load of a plan."""
    m = plan.metrics
    title = (f"plan: {plan.strategy} by {plan.metric.value} — balance {m.balance_ratio:.3f}, "
             f"imbalance {m.imbalance:.3f}, gap {m.gap:.2%}")
    t = Table(title=title, title_justify="left")
    for col in ("client", "groups", "albums", "messages", "files", "bytes", "load"):
        t.add_column(col, justify="left" if col == "client" else "right")
    for a in plan.client_assignments:
        albums = sum(1 for g in a.message_groups if g.is_media_group)
        t.add_row(a.client_name, str(len(a.message_groups)), str(albums), str(a.total_messages),
                  str(a.total_files), human_bytes(a.estimated_size), f"{m.loads.get(a.client_name, 0):.4g}")
    return t


def print_plan(console: Console, plan: TaskDistributionResult, scan: ScanResult) -> None:
    """Print the plan report: strategy, per-client table, albums, API calls."""
    console.print(plan_table(plan, scan))
    albums = sum(1 for g in scan.collection.groups if g.is_media_group)
    split = list(plan.metrics.albums_split)
    if split:
        console.print(f"[red]albums split across clients: {len(split)} of {albums}[/red] "
                      f"({', '.join(map(str, split[:20]))}{' …' if len(split) > 20 else ''})")
    else:
        console.print(f"albums kept whole: {albums} of {albums}")
    if scan.completed_albums:
        console.print(f"albums completed across the range edges: {', '.join(map(str, scan.completed_albums))}")
    if scan.partial_albums:
        console.print(f"[yellow]albums only partly in range: {', '.join(map(str, scan.partial_albums))}[/yellow]")
    for part in scan.parts or (scan,):
        c = part.collection
        console.print(f"scan {part.label}: {part.range_calls} {part.method} calls "
                      f"for ids {part.first_id}–{part.last_id} "
                      f"(+{part.edge_calls} at the edges); messages {c.total_messages}, "
                      f"files {c.total_files}, {human_bytes(c.total_size)}")
    _print_learned(console, plan)
    for w in plan.metrics.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    for e in plan.metrics.validation_errors[:10]:
        console.print(f"[red]validation:[/red] {e}")


def _print_learned(console: Console, plan: TaskDistributionResult) -> None:
    """Why `auto` chose, and whether the learned per-file costs planned."""
    if reason := plan.info.get("auto_reason"):
        console.print(f"why: {reason}")
    predicted = plan.info.get("predicted")
    if predicted:
        how = "re-planned" if predicted["replanned"] else "kept the speed plan"
        console.print(f"learned per-account file costs ({how}): predicted makespan {predicted['makespan_s']:.1f} s, "
                      f"the speed plan's {predicted['speed_plan_makespan_s']:.1f} s")


def _progress_table(sched: Scheduler, stats: Mapping[str, ClientStats], t0: float) -> Table:
    t = Table(title_justify="left")
    for col in ("client", "state", "files", "bytes", "speed", "est. left", "steals in/out", "current"):
        t.add_column(col)
    total_b = 0
    for name, st in stats.items():
        c = sched.clients.get(name)
        est = c.est_remaining if c else 0.0
        steals = f"{c.stolen_in}/{c.stolen_out}" if c else "-"
        t.add_row(name, st.state, str(st.files), human_bytes(st.bytes), f"{human_bytes(st.speed)}/s",
                  _seconds(est), steals, st.current[-40:])
        total_b += st.bytes
    t.title = f"total {human_bytes(total_b)} in {_seconds(time.monotonic() - t0)}, ETA {eta_text(sched)}"
    return t


def eta_text(sched: Scheduler) -> str:
    """The estimated time left: the learned forecast with its interval, else the slowest account's estimate."""
    f = sched.forecast
    if f is not None:
        return f"{_seconds(f.seconds)} ({_seconds(f.low)}–{_seconds(f.high)})"
    return _seconds(max((c.est_remaining for c in sched.alive), default=0.0))


def _plain_line(sched: Scheduler, stats: Mapping[str, ClientStats]) -> str:
    parts = [f"{n}: {st.files} files {human_bytes(st.bytes)} {st.state}" for n, st in stats.items()]
    return " | ".join(parts)


@contextlib.asynccontextmanager
async def live_monitor(sched: Scheduler, stats: Mapping[str, ClientStats], display: str,
                       console: Console) -> AsyncIterator[None]:
    """Show progress while the body runs: rich on a terminal, plain lines otherwise, or nothing."""
    mode = display
    if mode == "auto":
        mode = "rich" if console.is_terminal else "plain"
    if mode == "quiet":
        yield
        return
    t0 = time.monotonic()
    if mode == "rich":
        with Live(_progress_table(sched, stats, t0), console=console, refresh_per_second=4) as live:
            task = asyncio.create_task(_refresh(lambda: live.update(_progress_table(sched, stats, t0)), 0.25))
            try:
                yield
            finally:
                task.cancel()
                live.update(_progress_table(sched, stats, t0))
        return
    task = asyncio.create_task(_refresh(lambda: console.print(_plain_line(sched, stats)), 2.0))
    try:
        yield
    finally:
        task.cancel()


async def _refresh(draw: Any, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        draw()


def print_selection(console: Console, scanned: MessageCollection, chosen: SelectionResult) -> None:
    """What the selection kept and dropped, by reason (nothing when nothing was chosen)."""
    total = chosen.dropped_total
    if not total.messages:
        return
    kept = chosen.collection
    console.print(f"selection: kept {kept.total_messages} of {scanned.total_messages} messages, "
                  f"{kept.total_files} files, {human_bytes(kept.total_size)}; dropped {total.messages} messages, "
                  f"{total.files} files, {human_bytes(total.bytes)}")
    for reason, d in chosen.dropped.items():
        if d.messages:
            console.print(f"  dropped by {reason}: {d.messages} messages, {d.files} files, {human_bytes(d.bytes)}")


def print_summary(console: Console, report: JobReport) -> None:
    """Per-client summary table, plan vs achieved balance, failures."""
    where = report.channel if report.chats else f"{report.channel} ids {report.first_id}–{report.last_id}"
    t = Table(title=f"{where}: summary", title_justify="left")
    for col in ("client", "files", "bytes", "busy", "speed", "refetch", "errors",
                "stolen in", "stolen out", "take-overs", "backups", "handoffs", "flood waits", "state"):
        t.add_column(col, justify="left" if col in ("client", "state") else "right")
    for name, c in report.clients.items():
        t.add_row(name, str(c["files"]), human_bytes(c["bytes"]), f"{c['seconds']:.1f}s",
                  f"{human_bytes(c['speed_bps'])}/s", str(c["refetch_calls"]), str(c["errors"]),
                  str(c["stolen_in"]), str(c["stolen_out"]), str(c["takeovers"]), str(c["backups"]),
                  str(c["handoffs"]),
                  f"{c['flood_waits']} ({c['flood_wait_s']:.0f}s)" if c["flood_waits"] else "0", c["state"])
    console.print(t)
    done = [f for f in report.files if f.skipped]
    console.print(f"files: {len(report.files)} on disk ({len(report.downloaded)} downloaded now, "
                  f"{len(done)} from earlier runs), {len(report.failures)} failed; "
                  f"{report.elapsed_s:.1f}s; files in {report.dest}")
    for chat in report.to_json().get("chats", []):
        console.print(f"  {chat['chat']}: {chat['files']} files, {human_bytes(chat['bytes'])}, "
                      f"{len(chat['failures'])} failed, in {chat['folder']}")
    busy = [c["seconds"] for c in report.clients.values() if c["files"]]
    if report.plan is not None and busy:
        groups = sum(len(a.message_groups) for a in report.plan.client_assignments)
        accounts = len(report.plan.client_assignments)
        if groups < accounts:  # a resumed run with a few groups left: an idle account is no imbalance
            console.print(f"balance: {groups} group(s) were left for {accounts} accounts: nothing to balance")
        else:
            achieved = min(busy) / max(busy) if max(busy) > 0 else 1.0
            console.print(f"balance: planned {report.plan.metrics.balance_ratio:.3f} ({report.plan.metric.value}), "
                          f"achieved {achieved:.3f} (busy time, min/max)")
    for key, err in list(report.to_json()["failures"].items())[:20]:
        console.print(f"[red]failed[/red] message {key}: {err}")


def write_report(path: str | os.PathLike[str], report: JobReport) -> None:
    """Write the JSON report."""
    write_json(path, report.to_json())


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write a JSON document (a report), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")

