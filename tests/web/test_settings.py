"""WEB and WEB_TOKEN: the bind address forms, the token's rules, redaction, the docs and the package data."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from tgfetch.config import load_settings
from tgfetch.errors import ConfigError
from tgfetch.web.bind import WebBind, parse_bind
from tgfetch.web.metrics import METRIC_NAMES
from tgfetch.web.server import token_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "host", "port", "loopback"), [
    ("8080", "127.0.0.1", 8080, True),
    ("0", "127.0.0.1", 0, True),
    ("127.0.0.1:9", "127.0.0.1", 9, True),
    ("127.8.9.10:65535", "127.8.9.10", 65535, True),
    ("localhost:8080", "localhost", 8080, True),
    ("[::1]:8080", "::1", 8080, True),
    ("0.0.0.0:8080", "0.0.0.0", 8080, False),
    ("[::]:8080", "::", 8080, False),
    ("192.168.1.5:80", "192.168.1.5", 80, False),
    ("dash.example.org:443", "dash.example.org", 443, False),
    (" 8080 ", "127.0.0.1", 8080, True),
])
def test_bind_forms(text: str, host: str, port: int, loopback: bool) -> None:
    b = parse_bind(text)
    assert (b.host, b.port, b.loopback) == (host, port, loopback)
    assert parse_bind(str(b)) == b


@pytest.mark.parametrize("text", ["", "x", "65536", "-1", "1e3", "８０８０", "::1:80", "[::1]", "[1.2.3.4]:80",
                                  "300.1.1.1:80", "a b:80", "<script>:80", "host:", ":80x", "0x50", "1:2:3",
                                  "-host:80", "x" * 300 + ":80"])
def test_bad_binds(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bind(text)


def test_settings_check_web_and_keep_the_token_secret() -> None:
    s = load_settings(env_file=None, web="0.0.0.0:8080", web_token="a" * 20)
    assert s.web_bind() == WebBind("0.0.0.0", 8080) and "a" * 20 in s.secret_values()
    assert "a" * 20 not in repr(s)
    assert load_settings(env_file=None, web=" ").web is None and load_settings(env_file=None).web_bind() is None
    with pytest.raises(ConfigError, match=r"^WEB='localhost:x' is not allowed: 'x' is not a port; expected \[HOST"):
        load_settings(env_file=None, web="localhost:x")
    for bad in ("short", "has space in it ok", "ö" * 20, "x" * 257):
        with pytest.raises(ConfigError) as err:
            load_settings(env_file=None, web_token=bad)
        assert bad not in str(err.value) and "WEB_TOKEN='<secret>' is not allowed" in str(err.value)


def test_a_token_only_beyond_loopback_unless_one_is_set() -> None:
    assert token_for(WebBind("127.0.0.1", 1), None) == (None, False)
    assert token_for(WebBind("127.0.0.1", 1), "t" * 16) == ("t" * 16, False)
    made, fresh = token_for(WebBind("0.0.0.0", 1), None)
    assert fresh and made and len(made) >= 30 and made != token_for(WebBind("0.0.0.0", 1), None)[0]


def test_the_readme_documents_every_metric_and_flag() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Web dashboard"):]
    missing = [m for m in METRIC_NAMES if f"`{m}`" not in section]
    assert missing == []
    for text in ("--web", "--web-token", "WEB_TOKEN", "tgfetch dashboard --state-db", "ssh -N -L",
                 "docs/dashboard.png"):
        assert text in section, text
    assert (ROOT / "docs" / "dashboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_wheel_ships_the_static_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = project["tool"]["setuptools"]["package-data"]["tgfetch"]
    static = sorted((ROOT / "tgfetch" / "web" / "static").iterdir())
    assert {p.suffix for p in static} == {".html", ".js", ".css", ".svg"}
    for p in static:
        rel = p.relative_to(ROOT / "tgfetch").as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
    deps = " ".join(project["project"]["dependencies"])
    for dep in ("starlette>=", "uvicorn>=", "prometheus_client>="):
        assert dep in deps
    assert any(re.match(r"selenium>=", d) for d in project["project"]["optional-dependencies"]["dev"])
