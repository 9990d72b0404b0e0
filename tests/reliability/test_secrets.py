"""Secrets: session strings, api_hash and phone numbers never reach output, logs, reports or the state DB."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reliability_helpers import PYTHON, cli, files_under, run_cli, subprocess_env
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

API_HASH = "0123456789abcdef0123456789abcdef"
PHONE = "+15551234567"


def _session_string() -> str:
    s = StringSession()
    s.set_dc(2, "127.0.0.1", 443)  # loopback: a test session never points outside
    s.auth_key = AuthKey(os.urandom(256))
    return s.save()


def _leaks(blob: bytes, secrets: list[str]) -> list[str]:
    return [x[:12] + "..." for x in secrets if x.encode() in blob]


def test_debug_job_never_shows_a_secret(tmp_path: Path) -> None:
    secret = _session_string()
    dest, log, report = tmp_path / "D", tmp_path / "tg.log", tmp_path / "r.json"
    env = subprocess_env(TG_SESSION_STRINGS=secret, TG_API_HASH=API_HASH, TG_API_ID="12345")
    cmd = cli(dest, "--log-level", "DEBUG", "--log-file", str(log), "--report", str(report),
              "--sim-faults", "flood:*:rate=0.02:seconds=0,drop:GetFileRequest:rate=0.02",
              seed=9, messages=120, scale=0.005)
    res = run_cli(cmd, tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert log.stat().st_size > 1000, "DEBUG logging must have written something"
    secrets = [secret, API_HASH, secret[1:60]]
    places = {"stdout": res.stdout.encode(), "stderr": res.stderr.encode(), "log": log.read_bytes(),
              "report": report.read_bytes()}
    for p in files_under(dest):
        if p.name.startswith(".tgfetch.sqlite"):
            places[p.name] = p.read_bytes()
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for where, blob in places.items():
        assert _leaks(blob, secrets) == [], f"secret in {where}"


def test_simulated_login_hides_the_phone_and_writes_a_0600_session(tmp_path: Path) -> None:
    res = run_cli([PYTHON, "-m", "tgfetch", "login", "alice", "--simulate", "--phone", PHONE,
                   "--session-dir", str(tmp_path / "s")], tmp_path, input="12345\n",
                  env=subprocess_env(LOG_LEVEL="DEBUG"))
    assert res.returncode == 0, res.stderr[-3000:]
    session = tmp_path / "s" / "alice.session"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    for where, blob in {"stdout": res.stdout, "stderr": res.stderr}.items():
        assert PHONE not in blob and PHONE[1:] not in blob, f"phone in {where}"
    assert PHONE[1:].encode() not in session.read_bytes()
