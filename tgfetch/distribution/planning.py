"""Turn a cost model into a plan: which client gets each group (an index array).

Small jobs (at most SMALL_N weighted groups) are solved in pure Python with LPT,
Karmarkar–Karp and local search; large ones in bulk with numpy (see bulk.py).
Groups that cost nothing (text-only messages under file/size metrics) are spread
afterwards so every client gets a fair share of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tgfetch.distribution import algorithms as alg
from tgfetch.distribution.bulk import bulk_schedule
from tgfetch.distribution.costs import CostModel, lower_bound
from tgfetch.distribution.uniform import earliest_finish, uniform_local_search

__all__ = ["PlanOptions", "plan", "spread_free"]

#: Up to this many weighted groups, plans are searched exactly-ish in pure Python.
SMALL_N = 5000
#: load_balanced also computes plain heap LPT up to this many groups, keeping the best.
LPT_CHECK_N = 100_000
#: Karmarkar–Karp runs when groups per client are fewer than this...
KK_GROUPS_PER_CLIENT = 50
#: ...and the job is small enough (groups × clients).
KK_MAX_WORK = 200_000


@dataclass(frozen=True)
class PlanOptions:
    """How hard to search: LPT order, perturbation (strong), time budget per phase."""

    largest_first: bool = True
    strong: bool = False
    budget_seconds: float = 0.002


def plan(cost: CostModel, opts: PlanOptions) -> tuple[np.ndarray, dict[str, object]]:
    """Return the client index of every group and notes on how it was found."""
    n, m = len(cost.u), cost.n_clients
    assign = np.zeros(n, dtype=np.int64)
    weighted = np.flatnonzero((cost.u > 0) | (cost.v > 0))
    notes: dict[str, object] = {"weighted_groups": int(len(weighted))}
    if len(weighted) and m > 1:
        u, v = cost.u[weighted], cost.v[weighted]
        if cost.beta is not None:
            sub, how = _plan_uniform(u, v, cost.beta, opts)
        else:
            target = lower_bound(u, v, None, m, cost.integral)
            sub, how = _plan_identical(u, m, opts, target)
        assign[weighted] = sub
        notes["algorithm"] = how
    spread_free(assign, weighted, m)
    return assign, notes


def _plan_identical(w: np.ndarray, m: int, opts: PlanOptions, target: float) -> tuple[np.ndarray, str]:
    n = len(w)
    if n > SMALL_N:
        return _plan_identical_bulk(w, m, opts)
    weights = w.tolist()
    start = time.perf_counter()
    order = None if opts.largest_first else list(range(n))
    best = alg.local_search(weights, alg.lpt(weights, m, order), m, start + opts.budget_seconds)
    how = "lpt+local_search" if opts.largest_first else "list_scheduling+local_search"
    span = alg.makespan(weights, best, m)
    if span > target and n < KK_GROUPS_PER_CLIENT * m and n * m <= KK_MAX_WORK:
        kk = alg.local_search(weights, alg.karmarkar_karp(weights, m), m, start + 2 * opts.budget_seconds)
        if alg.makespan(weights, kk, m) < span:
            best, how, span = kk, "karmarkar_karp+local_search", alg.makespan(weights, kk, m)
    if opts.strong and span > target:
        best = alg.perturbed_search(weights, best, m, target, start + 3 * opts.budget_seconds)
        how += "+perturbation"
    return np.asarray(best, dtype=np.int64), how


def _plan_identical_bulk(w: np.ndarray, m: int, opts: PlanOptions) -> tuple[np.ndarray, str]:
    if not opts.largest_first:
        weights = w.tolist()
        return np.asarray(alg.lpt(weights, m, range(len(weights))), dtype=np.int64), "list_scheduling"
    assign = bulk_schedule(w, m)
    if opts.strong and len(w) <= LPT_CHECK_N:
        weights = w.tolist()
        plain = np.asarray(alg.lpt(weights, m), dtype=np.int64)
        if _makespan(w, plain, m) < _makespan(w, assign, m):
            return plain, "lpt"
    return assign, "bulk_lpt"


def _plan_uniform(u: np.ndarray, v: np.ndarray, beta: np.ndarray, opts: PlanOptions) -> tuple[np.ndarray, str]:
    if len(u) > SMALL_N:
        return bulk_schedule(u, len(beta), v, beta), "bulk_earliest_finish"
    ul, vl, bl = u.tolist(), v.tolist(), beta.tolist()
    ref = u + v * float(beta.min())
    order = np.argsort(-ref, kind="stable").tolist() if opts.largest_first else list(range(len(ul)))
    assign = earliest_finish(ul, vl, bl, order)
    deadline = time.perf_counter() + opts.budget_seconds * (2 if opts.strong else 1)
    return np.asarray(uniform_local_search(ul, vl, bl, assign, deadline), dtype=np.int64), (
        "earliest_finish+local_search"
    )


def _makespan(w: np.ndarray, assign: np.ndarray, m: int) -> float:
    return float(np.bincount(assign, weights=w, minlength=m).max())


def spread_free(assign: np.ndarray, weighted: np.ndarray, m: int) -> None:
    """Give the groups outside `weighted` to the clients with the fewest groups."""
    n = len(assign)
    free = np.ones(n, dtype=bool)
    free[weighted] = False
    idx = np.flatnonzero(free)
    if not len(idx):
        return
    counts = np.bincount(assign[weighted], minlength=m).astype(np.float64)
    level = _count_level(counts, len(idx))
    take = np.maximum(np.floor(level - counts), 0).astype(np.int64)
    short = len(idx) - int(take.sum())
    if short > 0:
        # the remainder, one each, to the clients still furthest below the level
        extra = np.argsort(counts + take, kind="stable")[:short]
        take[extra] += 1
    assign[idx] = np.repeat(np.arange(m), take)[: len(idx)]


def _count_level(counts: np.ndarray, total: int) -> float:
    s = np.sort(counts)
    k = np.arange(1, len(s) + 1)
    h = (total + np.cumsum(s)) / k
    nxt = np.append(s[1:], np.inf)
    return float(h[np.argmax(h <= nxt)])
