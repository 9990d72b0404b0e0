"""LPT for hundreds of thousands of groups, in bulk with numpy.

Groups are sorted heaviest first once. The heavy prefix gets exact LPT (or, for
clients of different speeds, the earliest-finish rule). The light tail then fills
each client up to a common water level in contiguous runs of the sorted order,
never overshooting; each round leaves every client short by less than the next
(smaller) item, so the next round fills the rest with smaller items. The few
smallest items left go by the same rule as the prefix. The result is within one
small item of the lower bound, as LPT is when most items are small.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["bulk_schedule", "water_level"]

#: Heavy-prefix size per client (exact LPT over these).
HEAVY_PER_CLIENT = 16
HEAVY_MIN = 512
#: The smallest items left after filling go one by one beyond this many rounds.
MAX_ROUNDS = 64
#: Above this many unplaced items, an item that fits nowhere is placed anyway.
LEFTOVER_LIMIT = 4096


def water_level(loads: np.ndarray, total: float) -> float:
    """Return h with Σ max(0, h - load) = total (identical clients)."""
    s = np.sort(loads)
    k = np.arange(1, len(s) + 1)
    h = (total + np.cumsum(s)) / k
    nxt = np.append(s[1:], np.inf)
    return float(h[np.argmax(h <= nxt)])


def _uniform_level(loads: np.ndarray, rate: np.ndarray) -> float:
    """Return h with Σ max(0, h - load) / rate = 1 (rate: seconds for the whole tail)."""
    lo, hi = float(loads.min()), float(loads.max() + rate.min())
    for _ in range(100):
        mid = (lo + hi) / 2
        if float((np.maximum(mid - loads, 0.0) / rate).sum()) >= 1.0:
            hi = mid
        else:
            lo = mid
    return hi


class _Tail:
    """Cumulative costs of the sorted tail, to cut contiguous runs per client."""

    def __init__(self, u: np.ndarray, v: np.ndarray, beta: np.ndarray | None) -> None:
        self.cu = np.concatenate(([0.0], np.cumsum(u)))
        self.cv = np.concatenate(([0.0], np.cumsum(v))) if beta is not None else None
        self.beta = beta

    def cost(self, c: int, p: int, q: int) -> float:
        """Return the cost on client c of tail items p..q-1."""
        val = float(self.cu[q] - self.cu[p])
        if self.cv is not None and self.beta is not None:
            val += float(self.beta[c]) * float(self.cv[q] - self.cv[p])
        return val

    def end(self, c: int, p: int, cap: float) -> int:
        """Return the largest q with cost(c, p, q) <= cap."""
        if self.cv is None:
            return int(np.searchsorted(self.cu, self.cu[p] + cap * (1 + 1e-12), "right")) - 1
        lo, hi = p, len(self.cu) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.cost(c, p, mid) <= cap * (1 + 1e-12):
                lo = mid
            else:
                hi = mid - 1
        return lo


def _greedy(u: np.ndarray, v: np.ndarray, beta: np.ndarray | None, loads: np.ndarray, out: np.ndarray) -> None:
    """Give each item, in order, to the client that would finish it first."""
    if beta is None:
        heap = [(float(x), c) for c, x in enumerate(loads)]
        heapq.heapify(heap)
        for j, w in enumerate(u.tolist()):
            load, c = heap[0]
            out[j] = c
            heapq.heapreplace(heap, (load + w, c))
        for load, c in heap:
            loads[c] = load
        return
    for j in range(len(u)):
        finish = loads + u[j] + beta * v[j]
        c = int(np.argmin(finish))
        out[j] = c
        loads[c] = finish[c]


def _fill(tail: _Tail, n: int, loads: np.ndarray, level: float, out: np.ndarray) -> int:
    """Fill clients up to `level` with contiguous runs; return the first unassigned item."""
    pos = 0
    for _ in range(MAX_ROUNDS):
        if n - pos > LEFTOVER_LIMIT and pos < n:
            pos = _overshoot(tail, pos, loads, level, out)
        before = pos
        deficit = level - loads
        for c in np.argsort(-deficit).tolist():
            cap = float(level - loads[c])
            if pos >= n or cap <= 0:
                continue
            q = tail.end(c, pos, cap)
            if q > pos:
                out[pos:q] = c
                loads[c] += tail.cost(c, pos, q)
                pos = q
        if pos >= n or (pos == before and n - pos <= LEFTOVER_LIMIT):
            break
    return pos


def _overshoot(tail: _Tail, pos: int, loads: np.ndarray, level: float, out: np.ndarray) -> int:
    """Give item pos to the client furthest below the level when no run fits."""
    c = int(np.argmax(level - loads))
    if tail.cost(c, pos, pos + 1) <= level - loads[c]:
        return pos
    out[pos] = c
    loads[c] += tail.cost(c, pos, pos + 1)
    return pos + 1


def bulk_schedule(u: np.ndarray, m: int, v: np.ndarray | None = None, beta: np.ndarray | None = None) -> np.ndarray:
    """Return the client of each item; LPT quality, linear-ish time."""
    n = len(u)
    vv = v if v is not None and beta is not None else np.zeros(n)
    ref = u + vv * (float(beta.min()) if beta is not None else 0.0)
    order = np.argsort(-ref, kind="stable")
    su, sv = u[order], vv[order]
    out = np.empty(n, dtype=np.int64)
    loads = np.zeros(m)
    k = min(n, max(HEAVY_MIN, HEAVY_PER_CLIENT * m))
    _greedy(su[:k], sv[:k], beta, loads, out[:k])
    if k < n:
        tu, tv = su[k:], sv[k:]
        if beta is None:
            level = water_level(loads, float(tu.sum()))
        else:
            level = _uniform_level(loads, float(tu.sum()) + beta * float(tv.sum()))
        pos = _fill(_Tail(tu, tv, beta), n - k, loads, level, out[k:])
        if pos < n - k:
            _greedy(tu[pos:], tv[pos:], beta, loads, out[k + pos :])
    result = np.empty(n, dtype=np.int64)
    result[order] = out
    return result
