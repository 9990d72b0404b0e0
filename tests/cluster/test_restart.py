"""Redis restarts: with AOF, pending entries survive and stay completable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tgfetch.cluster.keys import GROUP
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.redis_server import RedisServer
from tgfetch.cluster.security import connect


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_pending_entries_survive_a_redis_restart(
    fresh_server: RedisServer, make_plan: Callable[..., Any], crash: bool
):
    client = connect(fresh_server.url)
    try:
        q = ClusterQueue(client, "restart-job")
        await q.enqueue_plan(make_plan({"a": 3}))
        (d,) = await q.read_own("a", "m1:a", 1)
        assert await q.complete(d, "m1:a", 1, 1000)
        (pending,) = await q.read_own("a", "m1:a", 1)
        pid = fresh_server.pid

        fresh_server.restart(crash=crash)
        assert fresh_server.pid != pid

        info = await client.xpending(q.keys.queue("a"), GROUP)  # the client reconnects by itself
        assert info["pending"] == 1 and info["consumers"] == [{"name": "m1:a", "pending": 1}]
        assert await q.renew(pending, "m1:a")  # scripts are reloaded after NOSCRIPT
        assert await q.complete(pending, "m1:a", 1, 1000)
        assert await q.complete(d, "m1:a", 1, 1000) is False
        restarted = ClusterQueue(client, "restart-job")
        assert await restarted.enqueue_plan(make_plan({"a": 3})) == 0
        (last,) = await restarted.read_own("a", "m1:a", 5)
        assert last.payload.group_id == "m3"
        assert await restarted.complete(last, "m1:a", 1, 1000)
        assert await restarted.is_done()
    finally:
        await client.aclose()


@pytest.mark.usefixtures("need_redis")
def test_server_with_password_and_stop_by_pid(tmp_path: Any):
    import os

    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server = RedisServer.start(tmp_path / "pw", password="s3cret/:@")
    try:
        assert server.url.startswith("redis://:s3cret%2F%3A%40@127.0.0.1:")
        assert redis.Redis.from_url(server.url).ping()
        try:
            redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0)).ping()
        except redis.AuthenticationError:
            pass
        else:
            raise AssertionError("server answered without the password")
        pid = server.pid
        assert pid is not None
    finally:
        server.stop()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("redis-server still running after stop()")
