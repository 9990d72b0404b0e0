"""Serve the dashboard from the job's own event loop: uvicorn's `Server` as a task beside the job.

The socket is bound before anything else starts, so a port in use (or an address that is not this
machine's) stops the command at once with one line (exit 2). The server never installs signal
handlers: Ctrl-C and SIGTERM stay the job's, and the server stops when its `serving` block ends.
A bind beyond loopback without WEB_TOKEN gets a random token, printed once (and kept out of the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import uvicorn

from tgfetch.errors import UsageError
from tgfetch.logs import redact_also
from tgfetch.web.app import build_app
from tgfetch.web.bind import WebBind
from tgfetch.web.hub import Hub
from tgfetch.web.records import DashboardSource

__all__ = ["Served", "bind_socket", "serving", "token_for"]

log = logging.getLogger("tgfetch.web")
STARTUP_S = 10.0  # the server accepts connections within this (it is already bound)
STOP_S = 5.0


@dataclass(frozen=True)
class Served:
    """A running dashboard: where it is, and its hub."""

    url: str  # with the port actually bound (and no token)
    port: int
    hub: Hub


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the job's own handling stays in charge."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def token_for(bind: WebBind, configured: str | None) -> tuple[str | None, bool]:
    """The token the dashboard requires (None: none, loopback only) and whether it was made up now."""
    if configured:
        return configured, False
    if bind.loopback:
        return None, False
    return secrets.token_urlsafe(24), True


def bind_socket(bind: WebBind) -> socket.socket:
    """A socket bound to the address (not listening yet); a clear UsageError when it cannot be."""
    where = f"the dashboard address {bind} (WEB, --web)"
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(bind.host, bind.port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"{where}: {bind.host!r} cannot be resolved ({exc}); expected an address of this "
                         "machine") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise UsageError(f"{where}: {_why(exc, bind)}") from None
    sock.setblocking(False)
    return sock


def _why(exc: OSError, bind: WebBind) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {bind.port} is in use; choose another port (0: any free one)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"port {bind.port} needs privileges here; choose a port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{bind.host} is not an address of this machine"
    return f"cannot listen there ({exc.strerror or exc})"


async def _serve(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn's way of failing its start-up
        log.error("dashboard: the web server could not start")


@contextlib.asynccontextmanager
async def serving(source: DashboardSource, bind: WebBind, token: str | None, *, clean: Callable[[str], str] = str,
                  say: Callable[[str], object] = print, made_up: bool = False) -> AsyncIterator[Served]:
    """Serve `source` at `bind` while the block runs; say where (with a made-up token: once, in the URL)."""
    sock = bind_socket(bind)
    port = int(sock.getsockname()[1])
    app, hub = build_app(source, token, clean)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, server_header=False,
                            http="h11", ws="none", log_config=None, timeout_graceful_shutdown=2)
    server = _Server(config)
    task = asyncio.create_task(_serve(server, sock))
    ticker = asyncio.create_task(hub.run())
    try:
        await _started(server, task)
        url = bind.url(port)
        if made_up and token:
            redact_also(token)
            say(f"dashboard: {url}?token={token} (a random token for this run; set WEB_TOKEN to choose one)")
        else:
            say(f"dashboard: {url}" + (" (token: WEB_TOKEN)" if token else ""))
        yield Served(url, port, hub)
    finally:
        hub.close()
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(task, ticker, return_exceptions=True), STOP_S)
        sock.close()


async def _started(server: _Server, task: asyncio.Task[None]) -> None:
    for _ in range(int(STARTUP_S / 0.01)):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        raise UsageError("the dashboard's web server did not start (LOG_LEVEL=DEBUG shows why)")
