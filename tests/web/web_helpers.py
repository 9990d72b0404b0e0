"""Shared helpers of the dashboard tests: a real simulated job serving its dashboard, and plain HTTP to it.

`JobThread` runs `download_channel` on a `SimulatedTelegram` in a thread of its own (its own event
loop), inside `live_dashboard` exactly as `tgfetch download --web` does; the dashboard keeps serving
after the job ended until the test calls `stop()`, so the final state can be read.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))

from download_helpers import NAMES, settings_for  # noqa: E402

from tgfetch.job import JobReport, download_channel  # noqa: E402
from tgfetch.telegram.clients import close_clients  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402
from tgfetch.web.commands import live_dashboard  # noqa: E402

HOSTILE_CAPTION = ("<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned';"
                   "document.body.append(Object.assign(document.createElement('div'),{id:'injected'}))</script>"
                   "</td><b id=bold>&amp; \"quoted\" 'single'")
HOSTILE_SEED = 9  # its 150-message channel holds a document named '<>:"|?*.doc' (message 72087)
HOSTILE_NAME_ID = 72087


def hostile_channel(seconds: float = 6.0) -> tuple[SimulatedTelegram, float, int]:
    """The seed-9 channel with a hostile caption on its first media message, and a per-account
    bandwidth (bytes/s) that makes three accounts take about `seconds`; and that message's id."""
    sim = SimulatedTelegram(seed=HOSTILE_SEED, messages=150, first_id=72006, size_scale=0.02)
    target = next(m for m in sim.media_messages() if m.grouped_id is None)
    sim.edit(target.id, caption=HOSTILE_CAPTION)
    return sim, sim.total_media_bytes() / (len(NAMES) * seconds), target.id


class JobThread:
    """A simulated download serving its live dashboard, in a background thread."""

    def __init__(self, sim: SimulatedTelegram, dest: Path, *, bandwidth: float | dict[str, float] | None,
                 start: int | None = None, **settings: Any) -> None:
        """`bandwidth`: bytes/s of every account (or of each, by name; None: unthrottled); `start`: the first id."""
        self.sim, self.dest, self.start = sim, dest, start or sim.first_id
        self.bandwidths = bandwidth if isinstance(bandwidth, dict) else dict.fromkeys(NAMES, bandwidth)
        self.settings = settings_for(dest, **{"web": "127.0.0.1:0", **settings})
        self.lines: list[str] = []
        self.url = ""
        self.report: JobReport | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> JobThread:
        self._thread.start()
        assert self.ready.wait(30), f"the dashboard did not start: {self.error!r}"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the dashboard did not stop"

    async def _main(self) -> None:
        try:
            async with live_dashboard(self.settings, "", self.lines.append) as source:
                self.url = _url(self.lines)
                self.ready.set()
                try:
                    self.report = await self._download(source.round_started)
                    source.round_done(self.report)
                    source.finished(self.report.result)
                finally:
                    self.done.set()
                while not self._stop.is_set():
                    await asyncio.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc
            self.ready.set()
            self.done.set()

    async def _download(self, on_start: Any) -> JobReport:
        clients = {n: self.sim.client(n, bandwidth=bw) for n, bw in self.bandwidths.items()}
        try:
            return await download_channel(clients, self.sim.channel_username, self.start, None, self.dest,
                                          self.settings, on_start=on_start)
        finally:
            await close_clients(clients)

    def finished(self, timeout: float = 120.0) -> JobReport:
        """Wait for the job to end; its report."""
        assert self.done.wait(timeout), "the job did not finish"
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report


def _url(lines: list[str]) -> str:
    m = re.search(r"(http://\S+?/)(?:\?token=\S+)?(?:\s|$)", " ".join(lines))
    assert m, f"no dashboard URL in {lines}"
    return m.group(1)


def get(url: str, *, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request: status, headers (lower-case names), body; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _opener().open(req, timeout=30) as res:
            return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect)


def get_json(url: str, **kw: Any) -> Any:
    """GET a JSON answer (asserting 200)."""
    status, _, body = get(url, **kw)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)


def events(url: str, seconds: float, headers: dict[str, str] | None = None) -> Iterator[tuple[float, dict[str, Any]]]:
    """The `status` events of /events for `seconds`: (time received, status)."""
    m = re.match(r"http://([^/]+)/", url)
    assert m
    conn = http.client.HTTPConnection(m.group(1), timeout=10)
    conn.request("GET", "/events", headers=headers or {})
    res = conn.getresponse()
    assert res.status == 200 and res.getheader("content-type", "").startswith("text/event-stream")
    end = time.monotonic() + seconds
    event = ""
    try:
        while time.monotonic() < end:
            line = res.fp.readline().decode()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "status":
                yield time.time(), json.loads(line[5:])
    finally:
        conn.close()
