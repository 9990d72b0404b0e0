"""The dashboard's guard, over real HTTP: tokens, read-only, the Host check, headers, no secret in any answer."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import JobThread, events, get, hostile_channel

from tgfetch.web.app import page_html
from tgfetch.web.security import COOKIE, CSP

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
from download_helpers import subprocess_env  # noqa: E402

pytestmark = pytest.mark.timeout(300)

API_HASH = "0123456789abcdef0123456789abcdef"
SESSION = "1" + "AbCdEfGh" * 40  # the shape of a Telethon string session
TOKEN = "s3cret-Dashboard-Token_42"
STATIC = Path(__file__).resolve().parents[2] / "tgfetch" / "web" / "static"
PATHS = ("", "accounts", "plan", "timeline", "files", "history", "static/app.js", "static/app.css", "api/status",
         "api/plan", "api/files?q=", "api/files?q=redacted", "api/timeline", "api/history", "api/series", "metrics")
SIM = [sys.executable, "-m", "tgfetch", "download", "--simulate", "--sim-messages", "150", "--sim-seed", "9",
       "--quiet", "--dest", "dl"]


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, cwd=cwd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("dashboard: http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=120)
    return out, err


@pytest.fixture
def beyond_loopback(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """A download serving on 0.0.0.0 without WEB_TOKEN: the port, its printed token (reached on 127.0.0.1 only)."""
    proc, line = _start([*SIM, "--sim-bandwidth", "0.5", "--web", "0.0.0.0:0"], tmp_path)
    m = re.fullmatch(r"dashboard: http://0\.0\.0\.0:(\d+)/\?token=([\w-]+) \(a random token.*\)\n", line)
    assert m, line
    try:
        yield f"http://127.0.0.1:{m.group(1)}/", m.group(2), proc
    finally:
        proc.terminate()
        proc.wait(60)


def test_beyond_loopback_a_printed_token_is_required(beyond_loopback: tuple[str, str, Any]) -> None:
    url, token, proc = beyond_loopback
    assert len(token) >= 30
    for path in ("", "api/status", "metrics", "static/app.js", "events"):
        status, headers, body = get(url + path)
        assert status == 401 and b"token" in body and headers["www-authenticate"].startswith("Bearer")
        assert get(url + path, headers={"Authorization": "Bearer " + token[:-1] + "x"})[0] == 401
        assert get(url + path + "?token=" + token.upper())[0] == 401
    assert get(url + "api/status", headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert get(url + f"metrics?token={token}")[0] == 200
    status, headers, _ = get(url + f"files?q=album&token={token}")
    assert status == 303 and headers["location"] == "/files?q=album"  # the token leaves the address bar
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert token not in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    assert get(url + "api/status", headers=jar)[0] == 200
    assert get(url + "api/status", headers={"Cookie": f"{COOKIE}=forged"})[0] == 401
    assert next(events(url, 1.0, headers=jar), None) is not None
    proc.terminate()
    out, err = _stop(proc)
    assert token not in out + err, "the token is printed once, at start, and nowhere else"


def test_read_only_headers_and_host_check(tmp_path: Path) -> None:
    sim, bw, _ = hostile_channel(seconds=3.0)
    with JobThread(sim, tmp_path / "dl", bandwidth=bw) as job:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            for path in ("api/status", "", "metrics", "nowhere"):
                status, headers, _ = get(job.url + path, method=method)
                assert status == 405 and headers["allow"] == "GET, HEAD", (method, path)
        for path in (*PATHS, "nowhere", "static/../../config.py", "static/app.html"):
            status, headers, _ = get(job.url + path)
            assert status in (200, 404), path
            assert headers["content-security-policy"] == CSP, path
            assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
        assert "unsafe" not in CSP and "default-src 'self'" in CSP and "script-src 'self'" in CSP
        assert get(job.url + "api/status", method="HEAD")[0] == 200
        # A page elsewhere pointing its own host name at 127.0.0.1 (DNS rebinding) is refused.
        assert get(job.url + "api/status", headers={"Host": "evil.example:80"})[0] == 403
        assert get(job.url + "api/status", headers={"Host": "localhost:9999"})[0] == 200
        job.finished()


def test_no_secret_in_any_page_api_metric_or_event(tmp_path: Path) -> None:
    sim, bw, _ = hostile_channel(seconds=3.0)
    planted = next(m for m in sim.media_messages() if m.grouped_id is None and m.id > 72010)
    sim.edit(planted.id, caption=f"api hash {API_HASH} session {SESSION} token {TOKEN}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with JobThread(sim, tmp_path / "dl", bandwidth=bw, tg_api_hash=API_HASH, tg_session_strings=SESSION,
                   web_token=TOKEN) as job:
        assert get(job.url + "api/status")[0] == 401, "WEB_TOKEN is required on loopback too once it is set"
        job.finished()
        bodies = [get(job.url + p, headers=auth) for p in PATHS]
        bodies.append((200, {}, b"".join(repr(s).encode() for _, s in events(job.url, 1.2, headers=auth))))
        row = get(job.url + f"api/files?q={planted.id}", headers=auth)[2]
    assert all(status == 200 for status, _, _ in bodies)
    for secret in (API_HASH, SESSION, TOKEN):
        for _, _, body in bodies:
            assert secret.encode() not in body
        assert not any(secret in line for line in job.lines)
    assert b"api hash <redacted> session <redacted> token <redacted>" in row, row[:500]


def test_pages_have_no_inline_script_or_style_and_the_js_no_html_sinks() -> None:
    names = sorted(p.name.removesuffix(".main.html") for p in STATIC.glob("*.main.html"))
    assert names == ["accounts", "files", "history", "plan", "timeline"]
    for name in names:  # each page as served: the shared layout around its own part
        html = page_html(name).decode()
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert scripts == [(' src="/static/app.js" defer', "")], name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:|https?://|\{\{", html, re.I), name
    js = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute(\"style", "http://", "https://"):
        assert sink not in js or (sink == "http://" and js.count("http://") == 1), sink  # the SVG namespace
    assert "textContent" in js and "createTextNode" in js


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("flags", "says"), [
    (["--web", "127.0.0.1:70000"], "WEB='127.0.0.1:70000' is not allowed"),
    (["--web", "::1:80"], "expected [HOST:]PORT"),
    (["--web", "<script>:1"], "is not a host"),
    (["--web", "8080", "--web-token", "short"], "WEB_TOKEN='<secret>' is not allowed"),
])
def test_bad_web_settings_are_one_line_exit_2(flags: list[str], says: str, tmp_path: Path) -> None:
    res = subprocess.run([*SIM, *flags], cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tgfetch: error: ") and says in lines[0], lines
    assert "short" not in res.stderr


def test_a_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        res = subprocess.run([*SIM, "--web", f"127.0.0.1:{port}"], cwd=tmp_path, env=subprocess_env(),
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [f"tgfetch: error: the dashboard address 127.0.0.1:{port} (WEB, --web): port {port} is in use; "
                     "choose another port (0: any free one)"], res.stderr
    assert not (tmp_path / "dl").exists() and time.monotonic() - started < 30, "stopped before the job started"
