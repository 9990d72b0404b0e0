"""Shared helpers of the Telegram-layer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from tgfetch.telegram.clients import close_clients
from tgfetch.telegram.simulator import SimulatedTelegram

NAMES = ("c1", "c2", "c3")


@asynccontextmanager
async def sim_clients(sim: SimulatedTelegram, names: Iterable[str] = NAMES) -> AsyncIterator[dict[str, Any]]:
    """Real TelegramClients of the simulator, one per name, always disconnected afterwards."""
    clients = {n: sim.client(n) for n in names}
    try:
        yield clients
    finally:
        await close_clients(clients)
