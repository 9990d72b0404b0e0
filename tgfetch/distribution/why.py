"""Explain why a plan cannot meet MAX_IMBALANCE_RATIO."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tgfetch.distribution.base import LoadCalculator
from tgfetch.distribution.costs import CostModel
from tgfetch.model import LoadBalanceMetric, MessageCollection, TaskDistributionResult

__all__ = ["imbalance_reason"]


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def imbalance_reason(
    result: TaskDistributionResult,
    collection: MessageCollection,
    metric: LoadBalanceMetric,
    client_speeds: Mapping[str, float] | None,
    load_calculator: LoadCalculator | None,
    file_overhead: float | None = None,
) -> str:
    """Return the most likely cause of a high imbalance, in one sentence."""
    names = [a.client_name for a in result.client_assignments]
    m = len(names)
    cost = CostModel.build(collection, names, metric, client_speeds, load_calculator, file_overhead=file_overhead)
    own = cost.u + cost.v * (float(cost.beta.min()) if cost.beta is not None else 0.0)
    weighted = int(np.count_nonzero(own > 0))
    if weighted < m:
        what = "custom" if load_calculator is not None else metric.value
        return (
            f"only {weighted} group(s) carry any {what} load for {m} clients, "
            f"so {m - weighted} client(s) must stay idle"
        )
    fair = float(own.sum()) / m
    big = int(np.argmax(own))
    if own[big] > fair:
        gid = collection.groups[big].group_id
        return (
            f"group {gid} alone ({_fmt(float(own[big]))}) is larger than a fair share "
            f"({_fmt(fair)}) and albums are never split"
        )
    if result.metrics.gap <= 1e-9:
        return (
            "the plan is optimal for whole groups (makespan equals the lower bound); "
            "the groups are too coarse for this ratio"
        )
    return (
        f"the groups are too coarse: best makespan {_fmt(result.metrics.makespan)} "
        f"against a lower bound of {_fmt(result.metrics.lower_bound)}"
    )
