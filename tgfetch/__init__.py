"""tgfetch: download a Telegram channel's media with several accounts at once.

Albums are never split between accounts, the accounts' loads stay balanced, and
work moves between accounts while the job runs.
"""

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
