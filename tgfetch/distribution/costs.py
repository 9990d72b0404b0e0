"""Per-group costs as arrays, per-client loads, and the lower bound of a plan.

The cost of group ``g`` on client ``i`` is ``u[g] + beta[i] * v[g]``. For the plain
metrics ``v`` is zero and all clients are identical; for ``estimated_time`` with
known client speeds ``u`` is the per-file overhead (``file_overhead`` seconds per
file, default ``FILE_OVERHEAD_SECONDS``), ``v`` the bytes and
``beta[i] = 1 / speed[i]`` (uniform machines).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tgfetch.distribution.base import (
    DEFAULT_SPEED,
    LoadCalculator,
    file_overhead_seconds,
    mixed_scale,
)
from tgfetch.model import ClientAssignment, LoadBalanceMetric, MessageCollection, MessageGroup

__all__ = ["CostModel", "GroupVectors", "lower_bound", "speed_betas"]

_INTEGRAL = {
    LoadBalanceMetric.MESSAGE_COUNT,
    LoadBalanceMetric.FILE_COUNT,
    LoadBalanceMetric.ESTIMATED_SIZE,
}


def _fromiter(values: object, n: int) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64, count=n)  # type: ignore[call-overload]


class GroupVectors:
    """Messages, files and bytes per group as float arrays, each computed on first use."""

    def __init__(self, groups: Sequence[MessageGroup]) -> None:
        self.groups = groups

    @cached_property
    def msgs(self) -> np.ndarray:
        """Messages per group."""
        return _fromiter((len(g.messages) for g in self.groups), len(self.groups))

    @cached_property
    def files(self) -> np.ndarray:
        """Files per group."""
        return _fromiter((g.total_files for g in self.groups), len(self.groups))

    @cached_property
    def sizes(self) -> np.ndarray:
        """Bytes per group."""
        return _fromiter((g.total_size for g in self.groups), len(self.groups))


def speed_betas(client_names: Sequence[str], client_speeds: Mapping[str, float] | None) -> np.ndarray | None:
    """Return seconds-per-byte per client, or None when all speeds are equal."""
    if not client_speeds:
        return None
    speeds = [float(client_speeds.get(c) or DEFAULT_SPEED) for c in client_names]
    if any(s <= 0 or not math.isfinite(s) for s in speeds):
        raise ValueError("client speeds must be positive numbers of bytes per second")
    if max(speeds) == min(speeds):
        return None
    return 1.0 / np.asarray(speeds, dtype=np.float64)


@dataclass
class CostModel:
    """Costs of every group of a collection under one metric, for n clients."""

    u: np.ndarray
    v: np.ndarray
    beta: np.ndarray | None
    integral: bool
    n_clients: int

    @classmethod
    def build(
        cls,
        collection: MessageCollection,
        client_names: Sequence[str],
        metric: LoadBalanceMetric,
        client_speeds: Mapping[str, float] | None = None,
        load_calculator: LoadCalculator | None = None,
        *,
        file_overhead: float | None = None,
    ) -> CostModel:
        """Compute the cost arrays of the collection's groups."""
        groups = collection.groups
        m = len(client_names)
        zeros = np.zeros(len(groups))
        if load_calculator is not None:
            name = client_names[0] if client_names else ""
            u = _fromiter((load_calculator(ClientAssignment(name, [g])) for g in groups), len(groups))
            return cls(u, zeros, None, False, m)
        vec = GroupVectors(groups)
        u, v, beta = cls.metric_vectors(metric, collection, vec, client_names, client_speeds, file_overhead)
        return cls(u, v if beta is not None else zeros, beta, metric in _INTEGRAL, m)

    @staticmethod
    def metric_vectors(
        metric: LoadBalanceMetric,
        collection: MessageCollection,
        vec: GroupVectors,
        client_names: Sequence[str],
        client_speeds: Mapping[str, float] | None,
        file_overhead: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return (u, v, beta) of a metric; v only matters when beta is not None.

        `file_overhead` is the seconds per file of ``estimated_time`` (None:
        ``FILE_OVERHEAD_SECONDS``).
        """
        if metric is LoadBalanceMetric.MESSAGE_COUNT:
            return vec.msgs, vec.msgs, None
        if metric is LoadBalanceMetric.FILE_COUNT:
            return vec.files, vec.files, None
        if metric is LoadBalanceMetric.ESTIMATED_SIZE:
            return vec.sizes, vec.sizes, None
        sizes = vec.sizes
        if metric is LoadBalanceMetric.MIXED:
            return 0.5 * vec.files + 0.5 * mixed_scale(collection) * sizes, sizes, None
        beta = speed_betas(client_names, client_speeds)
        overhead = vec.files * file_overhead_seconds(file_overhead)
        if beta is None:
            speed = float(DEFAULT_SPEED)
            if client_speeds and client_names:
                speed = float(client_speeds.get(client_names[0]) or DEFAULT_SPEED)
            return overhead + sizes / speed, sizes, None
        return overhead, sizes, beta

    @property
    def uniform(self) -> bool:
        """Whether clients differ in speed."""
        return self.beta is not None

    def loads(self, assign: np.ndarray) -> np.ndarray:
        """Return each client's load for an array of client indices per group."""
        m = self.n_clients
        loads: np.ndarray = np.bincount(assign, weights=self.u, minlength=m)[:m]
        if self.beta is not None:
            loads = loads + self.beta * np.bincount(assign, weights=self.v, minlength=m)[:m]
        return loads

    def lower_bound(self) -> float:
        """Return a lower bound on the makespan of any plan that keeps groups whole."""
        return lower_bound(self.u, self.v, self.beta, self.n_clients, self.integral)


def lower_bound(u: np.ndarray, v: np.ndarray, beta: np.ndarray | None, m: int, integral: bool) -> float:
    """Return max(total / Σspeed, largest group on the fastest client).

    For identical clients this is max(total / n, largest group), rounded up when
    every cost is an integer (a plan's loads are then integers too).
    """
    if len(u) == 0 or m == 0:
        return 0.0
    if beta is None:
        total = float(u.sum())
        avg = float(math.ceil(total / m - 1e-9)) if integral else total / m
        return max(avg, float(u.max()))
    speeds = 1.0 / beta
    fractional = (float(u.sum()) * float(speeds.min()) + float(v.sum())) / float(speeds.sum())
    largest = float((u + v * float(beta.min())).max())
    return max(fractional, largest)
