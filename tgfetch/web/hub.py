"""One status for every open page: read every `refresh_s`, encoded once, pushed as server-sent events.

However many pages are open, the source is read once per tick; each page's stream only waits for the
next encoded status. The hub also keeps each account's byte count over time (the speed charts),
halving its resolution whenever it fills, so that a day-long job keeps its whole curve.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from tgfetch.errors import TgfetchError
from tgfetch.web.records import DashboardSource, Status, to_json

__all__ = ["KEEPALIVE_S", "Hub", "Series"]

log = logging.getLogger("tgfetch.web")
KEEPALIVE_S = 15.0  # a comment line this often keeps idle proxies from closing a stream
MAX_SAMPLES = 720


class Series:
    """Each account's bytes over time, at most `size` samples (older ones thinned as it fills)."""

    def __init__(self, size: int = MAX_SAMPLES) -> None:
        self.size = size
        self.t: list[float] = []
        self.bytes: dict[str, list[int]] = {}
        self.stride = 1  # keep one tick in `stride`
        self._ticks = 0

    def add(self, status: Status) -> None:
        """Sample one status (every `stride`-th one)."""
        self._ticks += 1
        if self._ticks % self.stride:
            return
        n = len(self.t)
        self.t.append(round(status.now, 3))
        for a in status.accounts:
            self.bytes.setdefault(a.name, [0] * n).append(a.bytes)
        for values in self.bytes.values():
            if len(values) == n:  # an account the status no longer lists keeps its last count
                values.append(values[-1] if values else 0)
        if len(self.t) > self.size:
            self.t = self.t[::2]
            self.bytes = {k: v[::2] for k, v in self.bytes.items()}
            self.stride *= 2

    def to_json(self) -> dict[str, Any]:
        """{"t": [unix seconds], "bytes": {account: [bytes done]}}."""
        return {"t": list(self.t), "bytes": {k: list(v) for k, v in self.bytes.items()}}


class Hub:
    """Reads the source on a timer and fans the encoded status out to every stream."""

    def __init__(self, source: DashboardSource, clean: Callable[[str], str] = str) -> None:
        self.source = source
        self.clean = clean
        self.series = Series()
        self.latest = b""
        self.version = 0
        self.closing = asyncio.Event()
        self._news = asyncio.Event()
        self._error = ""

    async def run(self) -> None:
        """Tick until `close`."""
        while not self.closing.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(self.closing.wait(), self.source.refresh_s)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """Read the source once: a new status for every stream and a sample for the charts."""
        try:
            status = await self.source.status()
        except Exception as exc:  # noqa: BLE001 - a state DB being replaced, or a fault here: the job goes on
            self._failed(exc)
            return
        self._error = ""
        self.series.add(status)
        self.latest = json.dumps(to_json(status, self.clean), separators=(",", ":")).encode()
        self.version += 1
        news, self._news = self._news, asyncio.Event()
        news.set()

    def _failed(self, exc: Exception) -> None:
        """Say why the status cannot be read, once per reason (the next tick tries again)."""
        why = str(exc) if isinstance(exc, TgfetchError) else f"cannot read the job's status ({type(exc).__name__})"
        if why != self._error:
            self._error = why
            log.warning("dashboard: %s", why, exc_info=log.isEnabledFor(logging.DEBUG))

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closing.set()
        self._news.set()

    async def stream(self) -> AsyncIterator[bytes]:
        """Server-sent events: the newest status at once, then every new one; keep-alive comments between."""
        seen = 0
        yield b"retry: 2000\n\n"
        while not self.closing.is_set():
            news = self._news  # taken before the check: a tick between the two still wakes this stream
            if self.version != seen and self.latest:
                seen = self.version
                yield b"event: status\ndata: " + self.latest + b"\n\n"
            try:
                await asyncio.wait_for(news.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keep-alive\n\n"
