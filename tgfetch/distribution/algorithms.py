"""Exact-ish scheduling of a few thousand groups on identical clients (pure Python).

LPT, list scheduling, Karmarkar–Karp differencing and a move/swap local search.
Every function returns ``assign``: the client index of each group.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["karmarkar_karp", "local_search", "lpt", "makespan", "perturbed_search"]

_EPS = 1e-9


def makespan(weights: Sequence[float], assign: Sequence[int], m: int) -> float:
    """Return the largest client load of a plan."""
    loads = [0.0] * m
    for w, c in zip(weights, assign, strict=True):
        loads[c] += w
    return max(loads) if loads else 0.0


def lpt(
    weights: Sequence[float],
    m: int,
    order: Sequence[int] | None = None,
    loads: list[float] | None = None,
) -> list[int]:
    """Give each group, in `order` (default: heaviest first), to the least-loaded client."""
    if order is None:
        order = sorted(range(len(weights)), key=lambda g: -weights[g])
    start = loads or [0.0] * m
    heap = [(start[c], c) for c in range(m)]
    heapq.heapify(heap)
    assign = [0] * len(weights)
    for g in order:
        load, c = heap[0]
        assign[g] = c
        heapq.heapreplace(heap, (load + weights[g], c))
    return assign


def karmarkar_karp(weights: Sequence[float], m: int) -> list[int]:
    """Return the multiway Karmarkar–Karp (largest differencing) partition."""
    tie = itertools.count()
    heap: list[tuple[float, int, list[tuple[float, list[int]]]]] = []
    for g, w in enumerate(weights):
        part = [(float(w), [g])] + [(0.0, []) for _ in range(m - 1)]
        heap.append((-float(w), next(tie), part))
    heapq.heapify(heap)
    while len(heap) > 1:
        a = heapq.heappop(heap)[2]
        b = heapq.heappop(heap)[2]
        merged = [(la + lb, ia + ib) for (la, ia), (lb, ib) in zip(a, reversed(b), strict=True)]
        merged.sort(key=lambda t: -t[0])
        base = merged[-1][0]
        merged = [(load - base, items) for load, items in merged]
        heapq.heappush(heap, (-merged[0][0], next(tie), merged))
    assign = [0] * len(weights)
    if heap:
        for c, (_, items) in enumerate(heap[0][2]):
            for g in items:
                assign[g] = c
    return assign


class _State:
    """Per-client sorted weights and loads of a plan under improvement."""

    def __init__(self, weights: Sequence[float], assign: list[int], m: int) -> None:
        self.weights = weights
        self.assign = assign
        self.loads = [0.0] * m
        self.items: list[list[tuple[float, int]]] = [[] for _ in range(m)]
        for g, c in enumerate(assign):
            self.loads[c] += weights[g]
            self.items[c].append((weights[g], g))
        for lst in self.items:
            lst.sort()

    def apply(self, a: int, b: int, ga: int | None, gb: int | None) -> None:
        """Move ga from a to b and gb from b to a (either may be None)."""
        for g, src, dst in ((ga, a, b), (gb, b, a)):
            if g is None:
                continue
            w = self.weights[g]
            lst = self.items[src]
            lst.pop(bisect_left(lst, (w, g)))
            dst_lst = self.items[dst]
            dst_lst.insert(bisect_left(dst_lst, (w, g)), (w, g))
            self.loads[src] -= w
            self.loads[dst] += w
            self.assign[g] = dst


def _closest(lst: list[tuple[float, int]], target: float, lo: float, hi: float) -> tuple[float, int] | None:
    """Return the item of `lst` whose weight is closest to target within (lo, hi)."""
    i = bisect_left(lst, (target, -1))
    best: tuple[float, int] | None = None
    for j in (i - 1, i):
        if 0 <= j < len(lst):
            w = lst[j][0]
            if lo < w < hi and (best is None or abs(w - target) < abs(best[0] - target)):
                best = lst[j]
    return best


def _best_pair_move(st: _State, a: int, b: int) -> tuple[float, int | None, int | None]:
    """Return (gain, ga, gb) of the best move/swap that lowers max(load a, load b)."""
    diff = st.loads[a] - st.loads[b]
    if diff <= _EPS:
        return 0.0, None, None
    half = diff / 2
    best_gain, best_a, best_b = 0.0, None, None
    mv = _closest(st.items[a], half, _EPS, diff - _EPS)
    if mv is not None:
        best_gain, best_a = min(mv[0], diff - mv[0]), mv[1]
    seen = None
    for wa, ga in st.items[a]:
        if wa == seen or wa <= _EPS:
            continue
        seen = wa
        sw = _closest(st.items[b], wa - half, wa - diff + _EPS, wa - _EPS)
        if sw is None:
            continue
        delta = wa - sw[0]
        gain = min(delta, diff - delta)
        if gain > best_gain + _EPS:
            best_gain, best_a, best_b = gain, ga, sw[1]
            if best_gain >= half - _EPS:
                break
    return best_gain, best_a, best_b


def local_search(weights: Sequence[float], assign: list[int], m: int, deadline: float | None = None) -> list[int]:
    """Improve a plan with moves and swaps off the most-loaded client until none helps."""
    if m < 2 or not weights:
        return assign
    st = _State(weights, assign, m)
    for step in range(50 * len(weights) + 100):
        if deadline is not None and step % 16 == 0 and time.perf_counter() > deadline:
            break
        a = max(range(m), key=st.loads.__getitem__)
        best: tuple[float, int, int | None, int | None] = (0.0, -1, None, None)
        for b in sorted(range(m), key=st.loads.__getitem__):
            if b == a:
                continue
            gain, ga, gb = _best_pair_move(st, a, b)
            if gain > best[0] + _EPS:
                best = (gain, b, ga, gb)
                if gain >= (st.loads[a] - st.loads[b]) / 2 - _EPS:
                    break
        if best[2] is None and best[3] is None:
            break
        st.apply(a, best[1], best[2], best[3])
    return st.assign


def perturbed_search(
    weights: Sequence[float], assign: list[int], m: int, target: float, deadline: float, seed: int = 0
) -> list[int]:
    """Iterated local search: kick the best plan with a random swap, re-improve, keep the best."""
    rng = random.Random(seed)
    best = list(assign)
    best_span = makespan(weights, best, m)
    n = len(weights)
    while best_span > target * (1 + 1e-12) and n > 1 and time.perf_counter() < deadline:
        cur = list(best)
        for _ in range(rng.randint(1, 3)):
            g, h = rng.randrange(n), rng.randrange(n)
            cur[g], cur[h] = cur[h], cur[g]
        cur = local_search(weights, cur, m, deadline)
        span = makespan(weights, cur, m)
        if span < best_span:
            best, best_span = cur, span
    return best
