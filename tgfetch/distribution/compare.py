"""Render the side-by-side comparison of strategies (rich table and plain text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tgfetch.model import TaskDistributionResult

__all__ = ["comparison_rows", "comparison_table", "format_comparison", "rows_table"]

_COLUMNS = ("strategy", "balance", "imbalance", "gap", "albums split", "plan time")


def comparison_rows(results: Sequence[TaskDistributionResult]) -> list[dict[str, Any]]:
    """Return one dict of figures per strategy."""
    return [
        {
            "strategy": r.strategy,
            "metric": r.metric.value,
            "balance_ratio": r.metrics.balance_ratio,
            "imbalance": r.metrics.imbalance,
            "gap": r.metrics.gap,
            "albums_split": len(r.metrics.albums_split),
            "planning_seconds": r.metrics.planning_seconds,
            "makespan": r.metrics.makespan,
            "lower_bound": r.metrics.lower_bound,
        }
        for r in results
    ]


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["strategy"]),
        f"{row['balance_ratio']:.4f}",
        f"{row['imbalance']:.4f}",
        f"{row['gap']:.2e}",
        str(row["albums_split"]),
        f"{row['planning_seconds'] * 1000:.1f} ms",
    ]


def comparison_table(results: Sequence[TaskDistributionResult], title: str | None = None) -> Table:
    """Return a rich table with one row per strategy."""
    return rows_table(comparison_rows(results), title)


def rows_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Table:
    """Return the rich table of `comparison_rows` (e.g. a plan's ``info["comparison"]``)."""
    metric = rows[0]["metric"] if rows else ""
    table = Table(title=title or f"Strategy comparison (metric: {metric})")
    for i, col in enumerate(_COLUMNS):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*_cells(row))
    return table


def format_comparison(results: Sequence[TaskDistributionResult], title: str | None = None) -> str:
    """Return the comparison as plain text (no colours), for logs."""
    console = Console(width=100, color_system=None, force_terminal=False, record=True)
    with console.capture() as cap:
        console.print(comparison_table(results, title))
    return cap.get().rstrip()
