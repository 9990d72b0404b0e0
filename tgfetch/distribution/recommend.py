"""Pick a strategy from the data: albums, size spread, client speeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tgfetch.model import DistributionMode, LoadBalanceMetric, MessageCollection

__all__ = ["HEAVY_TAIL_CV", "Recommendation", "recommend_strategy"]

#: File sizes whose coefficient of variation exceeds this count as heavy-tailed.
HEAVY_TAIL_CV = 1.0


@dataclass(frozen=True)
class Recommendation:
    """A strategy, the metric it should balance (None: keep the configured one), and why."""

    mode: DistributionMode
    metric: LoadBalanceMetric | None
    reason: str


def _speed_spread(client_names: Sequence[str], speeds: Mapping[str, float] | None) -> tuple[float, float] | None:
    known = [float(speeds[c]) for c in client_names if speeds and speeds.get(c)]
    if len(known) < 2 or max(known) <= min(known) * 1.05:
        return None
    return min(known), max(known)


def recommend_strategy(
    collection: MessageCollection,
    client_names: Sequence[str],
    client_speeds: Mapping[str, float] | None = None,
) -> Recommendation:
    """Return the strategy that suits this collection and these clients, with the reason."""
    spread = _speed_spread(client_names, client_speeds)
    if spread is not None:
        lo, hi = (s / 2**20 for s in spread)
        return Recommendation(
            DistributionMode.LOAD_BALANCED,
            LoadBalanceMetric.ESTIMATED_TIME,
            f"client speeds differ ({lo:.1f}-{hi:.1f} MiB/s): balance estimated download time",
        )
    albums = sum(1 for g in collection.groups if g.is_media_group)
    if albums == 0:
        return Recommendation(DistributionMode.RANGE_BASED, None, "no albums: equal id ranges cannot split anything")
    sizes = np.fromiter(
        (m.file_size for g in collection.groups for m in g.messages if m.media_type is not None),
        dtype=np.float64,
    )
    cv = float(sizes.std() / sizes.mean()) if len(sizes) > 1 and sizes.mean() > 0 else 0.0
    if cv > HEAVY_TAIL_CV:
        return Recommendation(
            DistributionMode.LOAD_BALANCED,
            LoadBalanceMetric.ESTIMATED_SIZE,
            f"{albums} albums and heavy-tailed sizes (coefficient of variation {cv:.1f}): "
            "balance bytes, keeping albums whole",
        )
    return Recommendation(
        DistributionMode.MEDIA_GROUP_AWARE,
        None,
        f"{albums} albums of similar-sized files (coefficient of variation {cv:.1f}): keep albums whole with LPT",
    )
