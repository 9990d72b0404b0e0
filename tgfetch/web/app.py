"""The dashboard's Starlette app: five pages, their two assets, the JSON API, server-sent events, /metrics.

    GET /, /accounts, /plan, /timeline, /files, /history   pages (static HTML; app.js draws them)
    GET /static/app.js, app.css, favicon.svg             the only assets (shipped in the package)
    GET /api/status | plan | timeline | history | series  JSON (records.py)
    GET /api/files?q=TEXT&limit=N&offset=N                 files matching a search
    GET /events                                            `status` events, at most `refresh_s` behind
    GET /metrics                                           Prometheus text format

Every answer goes through `security.Guard`; every string of every answer through the secrets' redaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tgfetch.errors import TgfetchError
from tgfetch.web.hub import Hub
from tgfetch.web.metrics import CONTENT_TYPE, metrics_registry, render
from tgfetch.web.records import DashboardSource, to_json
from tgfetch.web.security import PAGES, Guard

__all__ = ["ASSETS", "Dashboard", "build_app"]

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}
MAX_LIMIT = 500
MAX_QUERY = 200


def _static(name: str) -> bytes:
    return (resources.files("tgfetch.web") / "static" / name).read_bytes()


def page_html(name: str) -> bytes:
    """A page: the shared layout (head, navigation, summary) around the page's own `<name>.main.html`."""
    layout = _static("layout.html").decode()
    return layout.replace("{{page}}", name).replace("{{main}}", _static(f"{name}.main.html").decode()).encode()


class Dashboard:
    """The request handlers over one source (and the hub that pushes its status)."""

    def __init__(self, source: DashboardSource, clean: Callable[[str], str]) -> None:
        self.source = source
        self.clean = clean
        self.hub = Hub(source, clean)
        self.registry, self.collector = metrics_registry(clean)
        self.pages = {p: page_html("accounts" if p == "/" else p.strip("/")) for p in PAGES}
        self.assets = {name: _static(name) for name in ASSETS}

    def _json(self, value: Any, status: int = 200) -> Response:
        body = json.dumps(to_json(value, self.clean), separators=(",", ":"))
        return Response(body, status, media_type="application/json")

    async def page(self, request: Request) -> Response:
        """One of the HTML pages."""
        return Response(self.pages[request.url.path], media_type="text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        """app.js, app.css or favicon.svg."""
        name = request.path_params["name"]
        if name not in self.assets:
            return Response("404: no such file\n", 404, media_type="text/plain")
        return Response(self.assets[name], media_type=ASSETS[name])

    async def status(self, _: Request) -> Response:
        """/api/status: the job now."""
        return self._json(await self.source.status())

    async def plan(self, _: Request) -> Response:
        """/api/plan: the current round's plan (null: this source keeps none)."""
        return self._json(await self.source.plan())

    async def timeline(self, _: Request) -> Response:
        """/api/timeline."""
        return self._json(await self.source.timeline())

    async def history(self, _: Request) -> Response:
        """/api/history."""
        return self._json(await self.source.history())

    async def series(self, _: Request) -> Response:
        """/api/series: each account's bytes over time (the speed charts)."""
        return self._json(self.hub.series.to_json())

    async def files(self, request: Request) -> Response:
        """/api/files?q=&limit=&offset=."""
        q = request.query_params.get("q", "")
        try:
            limit = int(request.query_params.get("limit", "100"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return self._json({"error": "limit and offset must be whole numbers"}, 400)
        if not (1 <= limit <= MAX_LIMIT and 0 <= offset) or len(q) > MAX_QUERY:
            return self._json({"error": f"expected limit 1..{MAX_LIMIT}, offset >= 0, q of at most {MAX_QUERY} "
                                        "characters"}, 400)
        return self._json(await self.source.files(q, limit, offset))

    async def events(self, _: Request) -> Response:
        """/events: server-sent `status` events."""
        return StreamingResponse(self.hub.stream(), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def metrics(self, _: Request) -> Response:
        """/metrics: the job now in the Prometheus text format."""
        return Response(render(self.registry, self.collector, await self.source.status()), media_type=CONTENT_TYPE)


def _unavailable(_: Request, exc: Exception) -> Response:
    """A source that cannot be read now (a state DB being replaced): one line, 503."""
    return JSONResponse({"error": str(exc)}, 503)


def build_app(source: DashboardSource, token: str | None, clean: Callable[[str], str] = str) -> tuple[Guard, Hub]:
    """The guarded ASGI app over `source`, and its hub (the caller runs `hub.run()` beside the server)."""
    d = Dashboard(source, clean)
    routes = [Route(p, d.page) for p in PAGES] + [
        Route("/static/{name}", d.asset), Route("/api/status", d.status), Route("/api/plan", d.plan),
        Route("/api/files", d.files), Route("/api/timeline", d.timeline), Route("/api/history", d.history),
        Route("/api/series", d.series), Route("/events", d.events), Route("/metrics", d.metrics),
    ]
    app = Starlette(routes=routes, exception_handlers={TgfetchError: _unavailable})
    return Guard(app, token), d.hub
