"""Keep groups with the client that scanned them when that costs no balance.

Groups with the same cost vector are interchangeable: swapping them between
clients changes no load and no group count. Within each such class, every client
keeps its number of slots, and the slots are handed first to groups scanned by
that client. Vectorized, O(n log n).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tgfetch.model import MessageGroup

__all__ = ["prefer_scanners"]


def _preferred(
    groups: Sequence[MessageGroup], scanned_by: Mapping[int, str], client_names: Sequence[str]
) -> np.ndarray:
    index = {name: i for i, name in enumerate(client_names)}
    get = scanned_by.get
    return np.fromiter(
        (index.get(get(g.messages[0].key, ""), -1) for g in groups),
        dtype=np.int64,
        count=len(groups),
    )


def prefer_scanners(
    assign: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    groups: Sequence[MessageGroup],
    scanned_by: Mapping[int, str],
    client_names: Sequence[str],
) -> tuple[np.ndarray, int]:
    """Return the re-labelled plan and how many groups stay with their scanner."""
    m = len(client_names)
    pref = _preferred(groups, scanned_by, client_names)
    if v.any():
        _, cls = np.unique(np.stack([u, v], axis=1), axis=0, return_inverse=True)
    else:
        _, cls = np.unique(u, return_inverse=True)
    cls = cls.ravel()
    n_cls = int(cls.max()) + 1 if len(cls) else 0
    slots = np.bincount(cls * m + assign, minlength=n_cls * m)
    known = pref >= 0
    wants = np.bincount(cls[known] * m + pref[known], minlength=n_cls * m)
    keep = np.minimum(slots, wants)
    # rank each group among those of its class that prefer the same client
    key = np.where(known, cls * m + pref, -1)
    order = np.lexsort((np.arange(len(key)), key))
    sorted_key = key[order]
    first = np.searchsorted(sorted_key, sorted_key, "left")
    rank = np.arange(len(key)) - first
    kept = np.zeros(len(key), dtype=bool)
    ok = sorted_key >= 0
    kept[order[ok]] = rank[ok] < keep[sorted_key[ok]]
    out = np.empty_like(assign)
    out[kept] = pref[kept]
    rest = np.flatnonzero(~kept)
    free = slots - keep
    free_keys = np.repeat(np.arange(n_cls * m), free)
    rest_sorted = rest[np.argsort(cls[rest], kind="stable")]
    out[rest_sorted] = free_keys % m
    return out, int(kept.sum())
