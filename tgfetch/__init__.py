"""tgfetch: download a Telegram channel's media with several accounts at once."""

from tgfetch.config import Settings, load_settings
from tgfetch.errors import TgfetchError
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

__all__ = [
    "ClientAssignment",
    "DistributionMetrics",
    "DistributionMode",
    "LoadBalanceMetric",
    "MessageCollection",
    "MessageGroup",
    "MessageInfo",
    "Settings",
    "TaskDistributionResult",
    "TgfetchError",
    "load_settings",
]
