"""Fixtures: a small simulated Telegram and connected clients that clean up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tgfetch.telegram.simulator import SimulatedTelegram


@pytest.fixture
def sim() -> SimulatedTelegram:
    """A 300-message channel with files scaled down to a few KB."""
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01)


@asynccontextmanager
async def connected(sim: SimulatedTelegram, *names: str, **kwargs: Any) -> AsyncIterator[list[Any]]:
    """Connect one client per name; disconnect them all afterwards."""
    clients = [sim.client(name, **kwargs) for name in names]
    try:
        for client in clients:
            await client.connect()
        yield clients
    finally:
        for client in clients:
            await client.disconnect()


@pytest.fixture
def connect() -> Callable[..., Any]:
    """Expose `connected` to tests."""
    return connected
