"""Issue 15: `tgfetch login NAME --qr` end to end on the simulator (its phone scans the code)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tgfetch.cli import main


def test_qr_login_writes_a_private_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["login", "alice", "--qr", "--simulate", "--session-dir", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert exit_.value.code == 0, out
    assert "\u2588" in out and "Link Desktop Device" in out and "logged in as alice" in out
    session = tmp_path / "s" / "alice.session"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600


def test_qr_and_phone_exclude_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["login", "alice", "--qr", "--phone", "+15551234567", "--simulate", "--session-dir", str(tmp_path)])
    assert exit_.value.code == 2 and "--phone or --qr" in capsys.readouterr().err
