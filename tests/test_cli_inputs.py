"""Issue 18's findings, one test each: what a user typed, the exit code and the one line they get."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from tgfetch.cli import cli, main

SIM = ["--simulate", "--sim-messages", "12", "--sim-clients", "2", "--sim-size-scale", "0.002"]


@pytest.fixture(autouse=True)
def _sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LOG_FILE", "STATE_DB", "TG_SESSIONS", "TG_API_ID", "TG_API_HASH", "CHANNEL", "SIMULATE",
                 "DOWNLOAD_DIR", "LOG_LEVEL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out = capsys.readouterr()
    code = exit_.value.code if isinstance(exit_.value.code, int) else 0
    return code, out.out, out.err


def one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("tgfetch: error:")]
    assert len(lines) == 1 and "internal error" not in err, err
    return lines[0]


def test_report_into_a_directory_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["download", *SIM, "--dest", str(tmp_path / "dl"), "--report", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in one_error(err)
    assert not (tmp_path / "dl").exists()  # nothing was downloaded first


@pytest.mark.parametrize("variable", ["LOG_FILE", "STATE_DB"])
def test_file_settings_naming_a_directory_exit_2(variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(variable, str(tmp_path))
    code, _, err = run(["download", *SIM, "--dest", str(tmp_path / "dl")], capsys)
    assert code == 2 and f"{variable}=" in one_error(err) and "is a directory" in err


def test_an_empty_state_db_flag_means_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["download", *SIM, "--quiet", "--dest", str(tmp_path / "dl"), "--state-db", ""], capsys)
    assert code == 0, err
    assert (tmp_path / "dl" / "tgfetch_sim" / ".tgfetch.sqlite").is_file()
    assert not (tmp_path / ".tgfetch.sqlite").exists()


def test_missing_env_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["plan", *SIM, "--env-file", "typo.env"], capsys)
    assert code == 2 and "typo.env" in one_error(err) and "does not exist" in err


def test_plan_and_compare_write_their_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", *SIM, "--report", "p.json"], capsys)[0] == 0
    plan = json.loads(Path("p.json").read_text())
    assert plan["plan"]["strategy"] and plan["plan"]["clients"] and plan["exit_code"] == 0
    assert run(["compare", *SIM, "--report", "c.json"], capsys)[0] == 0
    rows = json.loads(Path("c.json").read_text())["comparison"]
    assert {r["strategy"] for r in rows} >= {"range_based", "media_group_aware", "load_balanced"}


@pytest.mark.parametrize(("flag", "value"), [("--sim-first-id", "2147483647"), ("--sim-first-id", "99999999999999"),
                                             ("--sim-bandwidth", "nan"), ("--sim-latency", "inf"),
                                             ("--sim-size-scale", "nan")])
def test_simulator_flags_out_of_range_exit_2(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["plan", *SIM, flag, value], capsys)
    assert code == 2 and (flag in one_error(err) or "32-bit" in err)


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("TG_SESSIONS", "a,a", "listed twice"),
    ("TG_API_HASH", "short", "32-hex-digit"),
    ("TG_API_ID", "12345678901234567890123", "2147483647"),
])
def test_account_settings_are_checked_up_front(variable: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = run(["plan", *SIM], capsys)
    assert code == 2 and variable in one_error(err) and said in err
    assert value not in err or variable != "TG_API_HASH"  # the hash is a secret


@pytest.mark.parametrize("name", ["../evil", "bad/name", "a b", "", "x" * 65])
def test_login_names_stay_inside_the_session_dir(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["login", name, "--simulate", "--phone", "+15551234567",
                        "--session-dir", str(tmp_path / "s")], capsys)
    assert code == 2 and "session name" in one_error(err)
    assert not list(tmp_path.rglob("*.session"))


def test_login_phone_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["login", "other", "--simulate", "--phone", "not-a-phone",
                        "--session-dir", str(tmp_path / "s")], capsys)
    assert code == 2 and "phone number" in one_error(err)


def test_login_simulated_writes_the_session_inside_the_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("builtins.input", lambda _prompt="": "12345")  # the simulator's login code
    code, out, err = run(["login", "alice", "--simulate", "--phone", "+15551234567",
                          "--session-dir", str(tmp_path / "s")], capsys)
    assert code == 0, err
    session = tmp_path / "s" / "alice.session"
    assert session.is_file() and session.stat().st_mode & 0o777 == 0o600


def test_no_channel_points_at_a_command_that_exists(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    line = one_error(err)
    assert code == 2 and "tgfetch download --simulate" in line
    assert run(["download", "--simulate", "--sim-messages", "5", "--quiet", "--dest", "dl"], capsys)[0] == 0


def test_simulate_from_the_environment_runs_the_default_command(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIMULATE", "1")
    monkeypatch.setenv("DOWNLOAD_DIR", "dl")
    code, _, err = run([], capsys)
    assert code == 0, err
    assert (Path("dl") / "tgfetch_sim").is_dir()


def test_bad_usage_is_one_line_with_where_to_look(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["plan", "--bogus"], capsys)
    assert code == 2 and "--bogus" in one_error(err) and "tgfetch plan --help" in err
    assert err.count("\n") == 1


def test_help_lists_the_allowed_values_and_only_options_that_act(capsys: pytest.CaptureFixture[str]) -> None:
    from tgfetch.model import DistributionMode, LoadBalanceMetric

    assert isinstance(cli, click.Group)
    options = {name: {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
               for name, cmd in cli.commands.items()}
    assert "--dest" not in options["coordinator"] and "--report" not in options["coordinator"]
    assert "--mode" not in options["compare"] and "--concurrency" not in options["plan"]
    assert "--mode" not in options["worker"] and "--batch-size" not in options["worker"]
    assert "--quiet" not in options["plan"] and "--template" not in options["compare"]
    main(["download", "--help"])  # help is printed and main returns (exit 0)
    text = " ".join(capsys.readouterr().out.split())
    assert all(m in text for m in DistributionMode.names())
    assert all(m in text for m in LoadBalanceMetric.names())
    assert "debug" in text.lower() and "warning" in text.lower()


def test_quiet_hides_info_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["download", *SIM, "--sim-messages", "4", "--quiet", "--dest", str(tmp_path / "dl")], capsys)
    assert code == 0 and " INFO " not in err and "WARNING" not in err, err


def test_worker_with_redis_unreachable_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["worker", *SIM, "--redis", "redis://127.0.0.1:1/0", "--dest", "dl"], capsys)
    assert code == 4 and "unreachable" in one_error(err)


def test_interrupted_download_still_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    args = [sys.executable, "-m", "tgfetch", "download", "--simulate", "--sim-messages", "80", "--sim-bandwidth", "0.3",
            "--quiet", "--dest", str(tmp_path / "dl"), "--report", str(report)]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    folder = tmp_path / "dl" / "tgfetch_sim"
    while not (folder.is_dir() and any(p.suffix == ".part" or p.is_file() for p in folder.rglob("*.part"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    data = json.loads(report.read_text())
    assert data["outcome"] == "interrupted" and data["exit_code"] == 130 and "interrupted" in data["error"]
    assert data["channel"] == "@tgfetch_sim" and isinstance(data["files"], list)
