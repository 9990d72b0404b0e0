"""Option records handed from the command line to the subcommand bodies.

Kept apart from `tgfetch.cli` (which imports `tgfetch.app` lazily) so that
`tgfetch.app` can use them without an import cycle, and light enough that
importing it pulls in neither pydantic nor Telethon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tgfetch.config import Settings

__all__ = ["CommandOptions", "SimOptions"]


@dataclass(frozen=True)
class SimOptions:
    """How to build the built-in simulated channel (`--simulate`)."""

    seed: int = 24
    messages: int = 150
    clients: int = 3
    first_id: int = 72006
    bandwidth: tuple[float, ...] = ()
    latency: float = 0.0
    jitter: float = 0.0
    faults: str | None = None
    size_scale: float = 0.02
    topics: int = 0  # a forum with this many topics
    comments: bool = False  # a channel with a discussion group
    channels: str | None = None  # more channels, comma-separated usernames
    live: int = 0  # posts the channel receives while the job runs (simulator.feed)
    profile: str | None = None  # a named speed profile of the accounts (simulator.profiles)


@dataclass(frozen=True)
class CommandOptions:
    """What every job subcommand receives: settings plus run-time switches."""

    settings: Settings
    simulate: SimOptions | None = None
    report: Path | None = None
    display: str = "auto"  # auto, rich, plain, quiet
    links: tuple[str, ...] = ()  # message links given on the command line (they name the whole job)
