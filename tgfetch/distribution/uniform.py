"""Clients of different speeds (uniform machines): earliest finish, then move/swap.

The cost of group g on client c is ``u[g] + beta[c] * v[g]`` (overhead plus bytes
over the client's speed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

__all__ = ["earliest_finish", "uniform_local_search"]

_EPS = 1e-12


def earliest_finish(u: Sequence[float], v: Sequence[float], beta: Sequence[float], order: Sequence[int]) -> list[int]:
    """Give each group, in order, to the client that would finish it earliest."""
    m = len(beta)
    loads = [0.0] * m
    assign = [0] * len(u)
    for g in order:
        ug, vg = u[g], v[g]
        best = min(range(m), key=lambda c: (loads[c] + ug + beta[c] * vg, c))
        assign[g] = best
        loads[best] += ug + beta[best] * vg
    return assign


def _loads(u: Sequence[float], v: Sequence[float], beta: Sequence[float], assign: list[int]) -> list[float]:
    loads = [0.0] * len(beta)
    for g, c in enumerate(assign):
        loads[c] += u[g] + beta[c] * v[g]
    return loads


def _best_exchange(
    u: Sequence[float],
    v: Sequence[float],
    beta: Sequence[float],
    members: list[list[int]],
    loads: list[float],
    a: int,
    b: int,
) -> tuple[float, int | None, int | None]:
    """Return (new max of a and b, ga, gb) of the best move/swap between a and b."""
    best: tuple[float, int | None, int | None] = (loads[a], None, None)
    ba, bb = beta[a], beta[b]
    for ga in members[a]:
        ca, cb = u[ga] + ba * v[ga], u[ga] + bb * v[ga]
        new = max(loads[a] - ca, loads[b] + cb)
        if new < best[0] - _EPS:
            best = (new, ga, None)
        for gb in members[b]:
            na = loads[a] - ca + u[gb] + ba * v[gb]
            nb = loads[b] + cb - u[gb] - bb * v[gb]
            new = max(na, nb)
            if new < best[0] - _EPS:
                best = (new, ga, gb)
    return best


def uniform_local_search(
    u: Sequence[float],
    v: Sequence[float],
    beta: Sequence[float],
    assign: list[int],
    deadline: float | None = None,
) -> list[int]:
    """Lower the most-loaded client with moves and swaps while one helps."""
    m = len(beta)
    members: list[list[int]] = [[] for _ in range(m)]
    for g, c in enumerate(assign):
        members[c].append(g)
    loads = _loads(u, v, beta, assign)
    for _ in range(20 * len(u) + 100):
        if deadline is not None and time.perf_counter() > deadline:
            break
        a = max(range(m), key=loads.__getitem__)
        best: tuple[float, int, int | None, int | None] = (loads[a], -1, None, None)
        for b in range(m):
            if b != a:
                new, x, y = _best_exchange(u, v, beta, members, loads, a, b)
                if new < best[0] - _EPS:
                    best = (new, b, x, y)
        _, b, ga, gb = best
        if ga is None:
            break
        pairs: tuple[tuple[int | None, int, int], ...] = ((ga, a, b), (gb, b, a))
        for grp, src, dst in pairs:
            if grp is not None:
                members[src].remove(grp)
                members[dst].append(grp)
                assign[grp] = dst
        loads = _loads(u, v, beta, assign)
    return assign
