"""What the commands call: the live dashboard around a job (`--web`), a state DB's or a cluster's dashboard
(`tgfetch dashboard --state-db | --redis`), and a cluster job's dashboard in its coordinator and workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from redis.asyncio import Redis

from tgfetch.config import Settings
from tgfetch.errors import EXIT_OK, InterruptedJob
from tgfetch.logs import RedactingFilter
from tgfetch.portable import on_signals
from tgfetch.web.bind import WebBind, parse_bind
from tgfetch.web.cluster import ClusterSource
from tgfetch.web.live import LiveSource
from tgfetch.web.records import DashboardSource
from tgfetch.web.server import Served, serving, token_for
from tgfetch.web.statedb import StateDbSource

__all__ = ["DEFAULT_DASHBOARD", "cluster_dashboard", "cluster_live_dashboard", "live_dashboard", "serve_source",
           "state_dashboard"]

DEFAULT_DASHBOARD = "127.0.0.1:8080"  # `tgfetch dashboard` without WEB


@contextlib.asynccontextmanager
async def serve_source(source: DashboardSource, settings: Settings, bind: WebBind,
                       say: Callable[[str], object], secrets: Sequence[str] = ()) -> AsyncIterator[Served]:
    """Serve `source` with the settings' token (a random one beyond loopback without WEB_TOKEN) and redaction
    (of the settings' secrets and `secrets`: a Redis password given on the command line)."""
    configured = settings.web_token.get_secret_value() if settings.web_token is not None else None
    token, made_up = token_for(bind, configured)
    clean = RedactingFilter([*settings.secret_values(), *secrets, *([token] if token else [])]).redact
    async with serving(source, bind, token, clean=clean, say=say, made_up=made_up) as served:
        yield served


@contextlib.asynccontextmanager
async def live_dashboard(settings: Settings, job: str, say: Callable[[str], object]) -> AsyncIterator[LiveSource]:
    """The live dashboard at WEB while the block (the job) runs; the job feeds the yielded source."""
    bind = settings.web_bind()
    assert bind is not None, "live_dashboard needs WEB"
    source = LiveSource(job)
    async with serve_source(source, settings, bind, say):
        try:
            yield source
        except BaseException as exc:
            stopped = isinstance(exc, InterruptedJob | asyncio.CancelledError | KeyboardInterrupt)
            source.finished("interrupted" if stopped else "error")
            raise


async def state_dashboard(settings: Settings, path: Path, say: Callable[[str], object]) -> int:
    """Serve a job's state DB read-only until Ctrl-C or SIGTERM (then exit 0)."""
    source = StateDbSource(path)
    bind = settings.web_bind() or parse_bind(DEFAULT_DASHBOARD)
    stop = asyncio.Event()
    async with serve_source(source, settings, bind, say):
        with on_signals(stop.set, ("SIGINT", "SIGTERM")):
            say(f"serving {source.label} from {path}, read-only; Ctrl-C stops")
            await stop.wait()
    return EXIT_OK


@contextlib.asynccontextmanager
async def cluster_live_dashboard(settings: Settings, say: Callable[[str], object], *, machine: str = "",
                                 secrets: Sequence[str] = ()) -> AsyncIterator[ClusterSource]:
    """A cluster job's dashboard at WEB while the block (a coordinator or a worker) runs: `starting` until the
    process attaches its queue (`ClusterSource.attach`), then the whole job from Redis."""
    bind = settings.web_bind()
    assert bind is not None, "cluster_live_dashboard needs WEB"
    source = ClusterSource(machine=machine)
    async with serve_source(source, settings, bind, say, secrets):
        yield source


async def cluster_dashboard(settings: Settings, redis: Redis, job: str | None, say: Callable[[str], object],
                            secrets: Sequence[str] = ()) -> int:
    """Serve a cluster job read-only from its Redis until Ctrl-C or SIGTERM (then exit 0)."""
    source = ClusterSource(redis, job)
    name = await source.resolve()  # no job, or several and no --job: one line, exit 2, before serving
    bind = settings.web_bind() or parse_bind(DEFAULT_DASHBOARD)
    stop = asyncio.Event()
    async with serve_source(source, settings, bind, say, secrets):
        with on_signals(stop.set, ("SIGINT", "SIGTERM")):
            say(f"serving cluster job {name} from Redis, read-only; Ctrl-C stops")
            await stop.wait()
    return EXIT_OK
