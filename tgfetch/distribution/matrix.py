"""Plans from per-account, per-file costs (unrelated machines): what learned predictions plan with.

A `FileCosts` callable gives, for one account, the seconds of its time each of many files would
take (from their sizes and DCs): a file's cost differs per account, not only by a speed factor (an
account may be slow on one DC only).  `refine` takes a plan that keeps groups whole, sums each
group's files per account into a cost matrix, plans it again (earliest finish, largest first, then
moves and swaps off the most loaded account) and keeps whichever of the two plans has the smaller
predicted makespan.  Groups move whole, so albums stay whole.  The result's loads, makespan and
lower bound are then predicted seconds (`info["predicted"]` says so and gives the plan it replaced).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from tgfetch.model import ClientAssignment, MessageGroup, TaskDistributionResult

__all__ = ["REFINED_STRATEGIES", "FileCosts", "earliest_finish", "group_costs", "improve", "refine"]

Array = npt.NDArray[np.float64]
FileCosts = Callable[[str, Array, Array], Array]  # (account, sizes, dc ids) -> seconds per file
REFINED_STRATEGIES = frozenset({"media_group_aware", "load_balanced"})
_EPS = 1e-9
HOME_DC = 2.0


def group_costs(groups: Sequence[MessageGroup], names: Sequence[str], costs: FileCosts) -> Array:
    """A (groups x accounts) matrix: each account's predicted seconds for each group."""
    sizes, dcs, owner = [], [], []
    for i, g in enumerate(groups):
        for m in g.messages:
            if m.has_media:
                sizes.append(float(m.file_size))
                dcs.append(float(m.dc_id or HOME_DC))
                owner.append(i)
    out = np.zeros((len(groups), len(names)))
    s, d, o = np.asarray(sizes, dtype=np.float64), np.asarray(dcs, dtype=np.float64), np.asarray(owner, dtype=int)
    for j, name in enumerate(names):
        if len(s):
            c = np.asarray(costs(name, s, d), dtype=np.float64)
            out[:, j] = np.bincount(o, weights=c, minlength=len(groups))
    return out


def earliest_finish(cost: Array) -> list[int]:
    """Each group, cheapest-anywhere largest first, to the account that would finish it earliest."""
    n, m = cost.shape
    loads = np.zeros(m)
    assign = [0] * n
    for g in np.argsort(-cost.min(axis=1), kind="stable"):
        c = int(np.argmin(loads + cost[g]))
        assign[int(g)] = c
        loads[c] += cost[g, c]
    return assign


def _loads(cost: Array, assign: Sequence[int]) -> Array:
    out: Array = np.bincount(np.asarray(assign, dtype=int), weights=cost[np.arange(len(assign)), assign],
                             minlength=cost.shape[1]).astype(np.float64)
    return out


def _best_step(cost: Array, assign: list[int], loads: Array, a: int) -> tuple[float, int, int, int | None]:
    """(new max of the pair, b, group of a, group of b or None) of the best move/swap off account a."""
    best: tuple[float, int, int, int | None] = (float(loads[a]), -1, -1, None)
    owner = np.asarray(assign, dtype=int)
    mine = np.flatnonzero(owner == a)
    for b in range(cost.shape[1]):
        if b == a:
            continue
        theirs = np.flatnonzero(owner == b)
        for ga in mine:
            la, lb = loads[a] - cost[ga, a], loads[b] + cost[ga, b]
            if max(la, lb) < best[0] - _EPS:
                best = (float(max(la, lb)), b, int(ga), None)
            if len(theirs):
                new = np.maximum(la + cost[theirs, a], lb - cost[theirs, b])
                k = int(np.argmin(new))
                if new[k] < best[0] - _EPS:
                    best = (float(new[k]), b, int(ga), int(theirs[k]))
    return best


def improve(cost: Array, assign: list[int], seconds: float = 1.0) -> list[int]:
    """Lower the most loaded account with moves and swaps while one helps (at most `seconds`)."""
    deadline = time.perf_counter() + seconds
    assign = list(assign)
    for _ in range(20 * len(assign) + 100):
        if time.perf_counter() > deadline:
            break
        loads = _loads(cost, assign)
        a = int(np.argmax(loads))
        _, b, ga, gb = _best_step(cost, assign, loads, a)
        if b < 0:
            break
        assign[ga] = b
        if gb is not None:
            assign[gb] = a
    return assign


def refine(result: TaskDistributionResult, names: Sequence[str], costs: FileCosts) -> TaskDistributionResult:
    """The plan again on predicted per-account costs when that predicts a shorter makespan (see above)."""
    by_name = {a.client_name: a for a in result.client_assignments}
    groups = [g for n in names for g in by_name[n].message_groups] if set(by_name) == set(names) else []
    if not groups or result.metrics.albums_split or result.strategy not in REFINED_STRATEGIES:
        return result
    cost = group_costs(groups, names, costs)
    index = {n: j for j, n in enumerate(names)}
    before = [index[n] for n in names for _ in by_name[n].message_groups]
    after = improve(cost, earliest_finish(cost))
    old, new = _loads(cost, before), _loads(cost, after)
    chosen = after if new.max() < old.max() - _EPS else before
    loads = _loads(cost, chosen)
    mins = cost.min(axis=1)
    lb = max(float(mins.max()), float(mins.sum()) / len(names))
    hi, lo = float(loads.max()), float(loads.min())
    metrics = replace(result.metrics, makespan=hi, lower_bound=lb, gap=hi / lb - 1.0 if lb > 0 else 0.0,
                      balance_ratio=lo / hi if hi > 0 else 1.0, imbalance=(hi - lo) / hi if hi > 0 else 0.0,
                      loads={n: float(loads[j]) for j, n in enumerate(names)})
    plan = [ClientAssignment(n, [groups[g] for g, c in enumerate(chosen) if c == j]) for j, n in enumerate(names)]
    info = {**result.info, "predicted": {"makespan_s": round(hi, 3), "replanned": chosen is after,
                                         "speed_plan_makespan_s": round(float(old.max()), 3)}}
    return TaskDistributionResult(plan, result.strategy, result.metric, metrics, info)
