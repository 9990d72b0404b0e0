"""Fixtures: a real redis-server (free port, temp dir, stopped by pid) and queues on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import GroupPayload
from tgfetch.cluster.redis_server import RedisServer, find_redis_server
from tgfetch.cluster.security import connect


@pytest.fixture(scope="session")
def need_redis() -> None:
    """Skip the test (one line: how to install it) when the redis-server binary is missing."""
    try:
        find_redis_server()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def redis_server(need_redis: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server per test module; each test uses its own job name."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_server(need_redis: None, tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test only, fsyncing AOF on every write (for restarts)."""
    server = RedisServer.start(tmp_path / "redis", appendfsync="always")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def rclient(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """An async client of the module's server."""
    client = connect(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def job() -> str:
    """A job name unique to the test."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_queue(rclient: Redis, job: str) -> Callable[..., ClusterQueue]:
    """Build ClusterQueue objects on the module's server (a new one = a restarted process)."""

    def make(**kw: Any) -> ClusterQueue:
        return ClusterQueue(rclient, job, **kw)

    return make


def _payload(n: int, client: str, *, files: int = 1, size: int = 1000, album: bool = False) -> GroupPayload:
    """A group payload numbered n (album a<n> of files messages, or single m<n>)."""
    ids = tuple(range(n * 100, n * 100 + files)) if album else (n,)
    gid = f"a{n}" if album else f"m{n}"
    return GroupPayload(-1001234, gid, ids, n if album else None, client, files, size)


def _make_plan(sizes: dict[str, int], *, start: int = 1, size: int = 1000) -> dict[str, list[GroupPayload]]:
    """A plan with sizes[account] single-file groups per account, numbered from start."""
    plan: dict[str, list[GroupPayload]] = {}
    n = start
    for account, count in sizes.items():
        plan[account] = []
        for _ in range(count):
            plan[account].append(_payload(n, account, size=size))
            n += 1
    return plan


@pytest.fixture
def payload() -> Callable[..., GroupPayload]:
    """Return the payload builder: payload(n, client, files=1, size=1000, album=False)."""
    return _payload


@pytest.fixture
def make_plan() -> Callable[..., dict[str, list[GroupPayload]]]:
    """Return the plan builder: make_plan({"a": 3, "b": 1}, start=1, size=1000)."""
    return _make_plan
