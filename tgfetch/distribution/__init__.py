"""Task distribution: which client downloads which message groups.

Public names: TaskDistributor, TaskDistributionStrategy, DistributionMode,
LoadBalanceMetric, CustomMetric, the built-in strategies, load calculators, the
plugin loader and the comparison table renderers.
"""

from __future__ import annotations

from tgfetch.distribution.base import (
    DEFAULT_SPEED,
    FILE_OVERHEAD_SECONDS,
    DistributionMode,
    LoadBalanceMetric,
    LoadCalculator,
    TaskDistributionStrategy,
    file_count_load,
    load_calculator_for,
    message_count_load,
    size_load,
)
from tgfetch.distribution.compare import comparison_rows, comparison_table, format_comparison, rows_table
from tgfetch.distribution.distributor import TaskDistributor
from tgfetch.distribution.plugins import PluginSource, load_strategy, plugin_sources
from tgfetch.distribution.recommend import Recommendation, recommend_strategy
from tgfetch.distribution.strategies import (
    LoadBalancedStrategy,
    MediaGroupAwareStrategy,
    RangeBasedStrategy,
)
from tgfetch.model import CustomMetric

__all__ = [
    "DEFAULT_SPEED",
    "FILE_OVERHEAD_SECONDS",
    "CustomMetric",
    "DistributionMode",
    "LoadBalanceMetric",
    "LoadBalancedStrategy",
    "LoadCalculator",
    "MediaGroupAwareStrategy",
    "PluginSource",
    "RangeBasedStrategy",
    "Recommendation",
    "TaskDistributionStrategy",
    "TaskDistributor",
    "comparison_rows",
    "comparison_table",
    "file_count_load",
    "format_comparison",
    "load_calculator_for",
    "load_strategy",
    "message_count_load",
    "plugin_sources",
    "recommend_strategy",
    "rows_table",
    "size_load",
]
