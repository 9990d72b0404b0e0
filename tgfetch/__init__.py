"""tgfetch: download a Telegram channel's media with several accounts at once.

Albums are never split between accounts, the accounts' loads stay balanced, and
work moves between accounts while the job runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tgfetch.config import Settings, load_settings
    from tgfetch.distribution import (
        LoadBalancedStrategy,
        MediaGroupAwareStrategy,
        RangeBasedStrategy,
        TaskDistributionStrategy,
        TaskDistributor,
        comparison_table,
        format_comparison,
        load_calculator_for,
    )
    from tgfetch.download.stats import FileRecord
    from tgfetch.errors import TgfetchError
    from tgfetch.job import JobReport, download_channel, scan_channel
    from tgfetch.model import (
        ClientAssignment,
        DistributionMetrics,
        DistributionMode,
        LoadBalanceMetric,
        MessageCollection,
        MessageGroup,
        MessageInfo,
        TaskDistributionResult,
    )
    from tgfetch.telegram.scan import ScanResult

__all__ = [
    "ClientAssignment",
    "DistributionMetrics",
    "DistributionMode",
    "FileRecord",
    "JobReport",
    "LoadBalanceMetric",
    "LoadBalancedStrategy",
    "MediaGroupAwareStrategy",
    "MessageCollection",
    "MessageGroup",
    "MessageInfo",
    "RangeBasedStrategy",
    "ScanResult",
    "Settings",
    "TaskDistributionResult",
    "TaskDistributionStrategy",
    "TaskDistributor",
    "TgfetchError",
    "comparison_table",
    "download_channel",
    "format_comparison",
    "load_calculator_for",
    "load_settings",
    "scan_channel",
]

# Public name -> the module that defines it.  Resolved on first use (PEP 562), so that
# `import tgfetch.cli` (every `tgfetch --help`) does not load pydantic, Telethon and numpy.
_LAZY: dict[str, str] = {
    "ClientAssignment": "tgfetch.model",
    "DistributionMetrics": "tgfetch.model",
    "DistributionMode": "tgfetch.model",
    "FileRecord": "tgfetch.download.stats",
    "JobReport": "tgfetch.job",
    "LoadBalanceMetric": "tgfetch.model",
    "LoadBalancedStrategy": "tgfetch.distribution",
    "MediaGroupAwareStrategy": "tgfetch.distribution",
    "MessageCollection": "tgfetch.model",
    "MessageGroup": "tgfetch.model",
    "MessageInfo": "tgfetch.model",
    "RangeBasedStrategy": "tgfetch.distribution",
    "ScanResult": "tgfetch.telegram.scan",
    "Settings": "tgfetch.config",
    "TaskDistributionResult": "tgfetch.model",
    "TaskDistributionStrategy": "tgfetch.distribution",
    "TaskDistributor": "tgfetch.distribution",
    "TgfetchError": "tgfetch.errors",
    "comparison_table": "tgfetch.distribution",
    "download_channel": "tgfetch.job",
    "format_comparison": "tgfetch.distribution",
    "load_calculator_for": "tgfetch.distribution",
    "load_settings": "tgfetch.config",
    "scan_channel": "tgfetch.job",
}


def __getattr__(name: str) -> Any:
    """Import the module defining a public name on first access and cache the name."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the module's names, the lazily imported public ones included."""
    return sorted(set(globals()) | set(__all__))
