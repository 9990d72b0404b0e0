"""The strategy interface and the load calculators (what 'load' means per metric).

Load by metric, per client (DESIGN §4):

- ``message_count``: every assigned message, text-only ones included (this is
  what the old range split balanced; a text message still has to be recorded).
- ``file_count``: assigned files; messages without media weigh 0.
- ``estimated_size`` (alias ``file_size``): assigned bytes.
- ``mixed``: file-equivalents, half by count and half by bytes, where a file of
  the collection's average size counts 1: ``0.5 * files + 0.5 * bytes / avg``.
- ``estimated_time``: seconds, ``Σ(overhead + bytes / speed)`` over files, with
  the client's speed (bytes/s) or ``DEFAULT_SPEED``; ``overhead`` is the per-file
  cost given as ``file_overhead`` (the learned one when there is history), else
  ``FILE_OVERHEAD_SECONDS``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tgfetch.model import (
    ClientAssignment,
    DistributionMode,
    LoadBalanceMetric,
    MessageCollection,
    TaskDistributionResult,
)

if TYPE_CHECKING:
    from tgfetch.config import Settings

__all__ = [
    "DEFAULT_SPEED",
    "FILE_OVERHEAD_SECONDS",
    "DistributionMode",
    "LoadBalanceMetric",
    "LoadCalculator",
    "StrategyOutput",
    "TaskDistributionStrategy",
    "file_count_load",
    "load_calculator_for",
    "message_count_load",
    "size_load",
]

LoadCalculator = Callable[[ClientAssignment], float]
StrategyOutput = (
    TaskDistributionResult | list[ClientAssignment] | Mapping[str, ClientAssignment] | Mapping[str, list[Any]]
)

#: Assumed download speed (bytes/s) of a client whose speed is unknown.
DEFAULT_SPEED = 2 * 1024 * 1024
#: Fixed cost of one file (request round-trips, file creation), in seconds, when
#: no measured per-file overhead is given.
FILE_OVERHEAD_SECONDS = 0.5


def message_count_load(assignment: ClientAssignment) -> float:
    """Return the number of assigned messages."""
    return float(assignment.total_messages)


def file_count_load(assignment: ClientAssignment) -> float:
    """Return the number of assigned files."""
    return float(assignment.total_files)


def size_load(assignment: ClientAssignment) -> float:
    """Return the assigned bytes."""
    return float(assignment.estimated_size)


def mixed_scale(collection: MessageCollection) -> float:
    """Return the bytes-to-file-equivalent factor of the mixed metric."""
    if collection.total_size <= 0 or collection.total_files <= 0:
        return 0.0
    return collection.total_files / collection.total_size


def _mixed(scale: float) -> LoadCalculator:
    def mixed_load(assignment: ClientAssignment) -> float:
        return 0.5 * assignment.total_files + 0.5 * assignment.estimated_size * scale

    return mixed_load


def file_overhead_seconds(file_overhead: float | None) -> float:
    """Return the per-file overhead to use: the given one, else ``FILE_OVERHEAD_SECONDS``."""
    if file_overhead is None:
        return FILE_OVERHEAD_SECONDS
    value = float(file_overhead)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"file_overhead must be a finite number of seconds >= 0, got {file_overhead!r}")
    return value


def _timed(speeds: Mapping[str, float] | None, file_overhead: float | None = None) -> LoadCalculator:
    overhead = file_overhead_seconds(file_overhead)

    def time_load(assignment: ClientAssignment) -> float:
        speed = (speeds or {}).get(assignment.client_name) or DEFAULT_SPEED
        return assignment.total_files * overhead + assignment.estimated_size / speed

    return time_load


def load_calculator_for(
    metric: LoadBalanceMetric,
    collection: MessageCollection,
    client_speeds: Mapping[str, float] | None = None,
    *,
    file_overhead: float | None = None,
) -> LoadCalculator:
    """Return the load calculator of a built-in metric for this collection.

    `file_overhead` (seconds per file, None: ``FILE_OVERHEAD_SECONDS``) only
    matters for ``estimated_time``.
    """
    if metric is LoadBalanceMetric.MESSAGE_COUNT:
        return message_count_load
    if metric is LoadBalanceMetric.FILE_COUNT:
        return file_count_load
    if metric is LoadBalanceMetric.ESTIMATED_SIZE:
        return size_load
    if metric is LoadBalanceMetric.MIXED:
        return _mixed(mixed_scale(collection))
    return _timed(client_speeds, file_overhead)


class TaskDistributionStrategy(abc.ABC):
    """Map a collection's groups to clients; subclasses implement distribute_tasks.

    The distributor builds a strategy with no arguments and then calls
    :meth:`configure`, so a subclass may omit ``__init__`` (as the seed's example
    does). Built-in strategies read the attributes set here.
    """

    #: Whether the strategy may split albums (only range_based does).
    splits_albums: bool = False

    def __init__(
        self,
        *,
        metric: LoadBalanceMetric | str | None = None,
        settings: Settings | None = None,
        load_calculator: LoadCalculator | None = None,
        client_speeds: Mapping[str, float] | None = None,
        scanned_by: Mapping[int, str] | None = None,
        file_overhead: float | None = None,
    ) -> None:
        self.metric = LoadBalanceMetric(metric) if metric is not None else None
        self.settings = settings
        self.load_calculator = load_calculator
        self.client_speeds = client_speeds
        self.scanned_by = scanned_by
        self.file_overhead = file_overhead

    def configure(self, **options: Any) -> TaskDistributionStrategy:
        """Set the run's options (metric, settings, load_calculator, ...); return self."""
        for key, value in options.items():
            if key == "metric" and value is not None:
                value = LoadBalanceMetric(value)
            setattr(self, key, value)
        return self

    @property
    def effective_metric(self) -> LoadBalanceMetric:
        """The metric to balance: the configured one, else the settings', else file_count."""
        metric = getattr(self, "metric", None)
        if metric is not None:
            return LoadBalanceMetric(metric)
        settings = getattr(self, "settings", None)
        if settings is not None:
            return LoadBalanceMetric(settings.load_balance_metric)
        return LoadBalanceMetric.FILE_COUNT

    @property
    def prefer_large_groups_first(self) -> bool:
        """Whether to place large groups first (PREFER_LARGE_GROUPS_FIRST)."""
        settings = getattr(self, "settings", None)
        return True if settings is None else bool(settings.prefer_large_groups_first)

    @abc.abstractmethod
    async def distribute_tasks(self, message_collection: MessageCollection, client_names: list[str]) -> StrategyOutput:
        """Return a plan: a result, a list of assignments, or {client: groups}."""

    @abc.abstractmethod
    def get_strategy_info(self) -> dict[str, Any]:
        """Return at least {"name": ..., "description": ...}."""
