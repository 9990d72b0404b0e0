"""The built-in strategies: range_based, media_group_aware, load_balanced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tgfetch.distribution.base import TaskDistributionStrategy
from tgfetch.distribution.costs import CostModel
from tgfetch.distribution.planning import PlanOptions, plan
from tgfetch.distribution.tiebreak import prefer_scanners
from tgfetch.model import (
    ClientAssignment,
    DistributionMetrics,
    MessageCollection,
    MessageGroup,
    TaskDistributionResult,
)

__all__ = [
    "LoadBalancedStrategy",
    "MediaGroupAwareStrategy",
    "RangeBasedStrategy",
    "assignments_from_index",
    "repair_empty_clients",
]


def _blank_metrics() -> DistributionMetrics:
    return DistributionMetrics(makespan=0.0, lower_bound=0.0, gap=0.0, balance_ratio=1.0, imbalance=0.0)


def assignments_from_index(
    groups: Sequence[MessageGroup], assign: np.ndarray, client_names: Sequence[str]
) -> list[ClientAssignment]:
    """Build one assignment per client; each keeps its groups in collection order."""
    m = len(client_names)
    order = np.argsort(assign, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(assign, minlength=m)[:m])))
    idx = order.tolist()
    out = []
    for c, name in enumerate(client_names):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        out.append(ClientAssignment(name, [groups[i] for i in idx[lo:hi]]))
    return out


def repair_empty_clients(assign: np.ndarray, weight: np.ndarray, m: int) -> int:
    """Move a lightest group to each empty client from one holding two or more; return moves."""
    counts = np.bincount(assign, minlength=m)
    moves = 0
    while len(assign) and counts.min() == 0 and counts.max() >= 2:
        empty, donor = int(counts.argmin()), int(counts.argmax())
        mine = np.flatnonzero(assign == donor)
        g = int(mine[np.argmin(weight[mine])])
        assign[g] = empty
        counts[donor] -= 1
        counts[empty] += 1
        moves += 1
    return moves


class _BalancedStrategy(TaskDistributionStrategy):
    """Albums stay whole; balance the chosen metric."""

    name = ""
    description = ""
    strong = False

    def _largest_first(self) -> bool:
        return self.prefer_large_groups_first

    async def distribute_tasks(
        self, message_collection: MessageCollection, client_names: list[str]
    ) -> TaskDistributionResult:
        """Plan with the strategy's algorithm and return the per-client groups."""
        names = list(client_names)
        metric = self.effective_metric
        cost = CostModel.build(
            message_collection,
            names,
            metric,
            self.client_speeds,
            self.load_calculator,
            file_overhead=self.file_overhead,
        )
        assign, notes = plan(cost, PlanOptions(largest_first=self._largest_first(), strong=self.strong))
        notes["repaired_empty_clients"] = repair_empty_clients(assign, cost.u + cost.v, len(names))
        if self.scanned_by:
            assign, kept = prefer_scanners(assign, cost.u, cost.v, message_collection.groups, self.scanned_by, names)
            notes["kept_with_scanner"] = kept
        assignments = assignments_from_index(message_collection.groups, assign, names)
        return TaskDistributionResult(assignments, self.name, metric, _blank_metrics(), notes)

    def get_strategy_info(self) -> dict[str, Any]:
        """Describe the strategy."""
        return {"name": self.name, "description": self.description, "splits_albums": False}


class MediaGroupAwareStrategy(_BalancedStrategy):
    """Albums are atomic; LPT on the metric, then move/swap local search."""

    name = "media_group_aware"
    description = "keeps every album on one client; LPT (largest groups first) then a move/swap improvement phase"


class LoadBalancedStrategy(_BalancedStrategy):
    """Albums are atomic; the best balance found by LPT, Karmarkar–Karp and local search."""

    name = "load_balanced"
    description = (
        "keeps every album on one client; best of LPT and Karmarkar–Karp with local search "
        "(earliest-finish rule when client speeds differ); never worse than LPT"
    )
    strong = True

    def _largest_first(self) -> bool:
        return True


class RangeBasedStrategy(TaskDistributionStrategy):
    """Contiguous id ranges of (nearly) equal message counts; may split albums."""

    name = "range_based"
    splits_albums = True

    async def distribute_tasks(
        self, message_collection: MessageCollection, client_names: list[str]
    ) -> TaskDistributionResult:
        """Cut the id-ordered messages into len(client_names) equal runs."""
        groups = message_collection.groups
        counts = np.fromiter((len(g.messages) for g in groups), dtype=np.int64, count=len(groups))
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        m = len(client_names)
        cuts = [total * k // m for k in range(m + 1)]
        out = [ClientAssignment(name, _run(groups, ends, cuts[c], cuts[c + 1])) for c, name in enumerate(client_names)]
        return TaskDistributionResult(out, self.name, self.effective_metric, _blank_metrics(), {})

    def get_strategy_info(self) -> dict[str, Any]:
        """Describe the strategy."""
        return {
            "name": self.name,
            "description": "contiguous message-id ranges of equal message counts (the old way); may split albums",
            "splits_albums": True,
        }


def _run(groups: Sequence[MessageGroup], ends: np.ndarray, lo: int, hi: int) -> list[MessageGroup]:
    """Return the groups covering message positions lo..hi-1, cutting the edge groups."""
    if lo >= hi:
        return []
    g0 = int(np.searchsorted(ends, lo, "right"))
    g1 = int(np.searchsorted(ends, hi - 1, "right"))
    out = list(groups[g0 : g1 + 1])
    start0 = int(ends[g0]) - len(groups[g0].messages)
    start1 = int(ends[g1]) - len(groups[g1].messages)
    if g0 == g1:
        return [_piece(groups[g0], lo - start0, hi - start0)]
    out[0] = _piece(groups[g0], lo - start0, len(groups[g0].messages))
    out[-1] = _piece(groups[g1], 0, hi - start1)
    return out


def _piece(group: MessageGroup, a: int, b: int) -> MessageGroup:
    """Return the group itself when whole, else a group of messages a..b-1."""
    if a == 0 and b == len(group.messages):
        return group
    return MessageGroup.of(group.messages[a:b])
