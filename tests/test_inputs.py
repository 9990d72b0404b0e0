"""The rule for every input: a documented exit code and one line naming what was wrong, never an internal error.

Walks every setting (environment variable) and every flag of every command with hostile
values, then lets hypothesis feed random strings, numbers and paths to each.  Every run is
on the built-in simulator (`--simulate`) in a fresh folder: nothing here can reach the
network.  Allowed exit codes: 0 (it worked), 1 (files failed), 2 (usage/configuration),
3 (authorization/access), 4 (network, after the retries).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgfetch.cli import cli, main
from tgfetch.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ALLOWED_CODES = {0, 1, 2, 3, 4}
SIM = ["--simulate", "--sim-messages", "6", "--sim-clients", "2", "--sim-size-scale", "0.001"]
# Values that must never be sent anywhere: Redis URLs get a fixed list of local or malformed ones.
NETWORK = {"REDIS_URL", "--redis"}
# Valid values of these make a run as slow as asked (10 million messages, a minute per call, a
# bandwidth of a byte a day): they get the fixed hostile values, not random ones.
SLOW = {"--sim-messages", "--messages", "--sim-latency", "--sim-size-scale", "--sim-bandwidth", "--sim-clients",
        "--sim-jitter", "--sim-faults", "RPC_TIMEOUT", "GROUPING_TIMEOUT", "MAX_FILE_RETRIES", "GROUPING_MAX_RETRIES",
        "FLOOD_WAIT_HANDOFF_SECONDS", "MAX_CONCURRENT_DOWNLOADS_PER_CLIENT"}
HOSTILE = ["", " ", "0", "-1", "1e400", "nan", "inf", "99999999999999999999999999", "x" * 300, "../..",
           "/", "/dev/null/x", "\x00", "é漢字", "true", "{message_id}", "a,a", "@", "t.me/c/abc"]
# Only the first one is tried against a port (local, nothing listens): the others are refused before connecting.
REDIS_VALUES = ["redis://127.0.0.1:1/0", "", "redis://10.0.0.1:6379/0", "http://x", "nan", "redis://x y"]


PATH_SETTINGS = {name.upper() for name, f in Settings.model_fields.items() if "Path" in str(f.annotation)}


def _path_flags() -> set[str]:
    return {o for _, cmd in _commands() for p in cmd.params if isinstance(p, click.Option)
            and isinstance(p.type, click.Path) for o in p.opts}


def _confine(value: str, sandbox: Path) -> str:
    """A path value that stays inside the sandbox (a test must never write outside its folder):
    absolute ones move under it, and climbing out of it with '..' stops at its top."""
    if os.path.isabs(value):
        value = str(sandbox) + value
    cwd = Path.cwd()
    try:
        inside = Path(os.path.normpath(cwd / value)).is_relative_to(sandbox)
    except ValueError:  # NUL: refused before any file system call
        return value
    return value if inside else str(sandbox / "climbed" / value.replace("..", "up"))


def _env_names() -> list[str]:
    return sorted(name.upper() for name in Settings.model_fields)


def _commands() -> Iterator[tuple[str, click.Command]]:
    assert isinstance(cli, click.Group)
    yield from sorted(cli.commands.items())


PREFERRED = ("download", "plan", "compare", "verify", "worker", "coordinator", "login", "demo")


def _value_options() -> list[tuple[str, str]]:
    """(command, --flag) for every option that takes a value, each flag once: on the command
    that does the most with it (the shared flags parse the same on every command)."""
    out: dict[str, str] = {}
    commands = dict(_commands())
    for name in sorted(commands, key=lambda n: PREFERRED.index(n) if n in PREFERRED else len(PREFERRED)):
        for p in commands[name].params:
            if isinstance(p, click.Option) and not p.is_flag:
                out.setdefault(p.opts[0], name)
    return sorted((cmd, flag) for flag, cmd in out.items())


def _base(command: str, tmp: Path) -> list[str]:
    """A command line that runs on the simulator (or fails before connecting anywhere)."""
    if command in ("download", "plan", "compare"):
        return [command, *SIM, "--dest", str(tmp / "dl")] if command == "download" else [command, *SIM]
    if command in ("worker", "coordinator"):
        # No Redis URL: each run stops at once after its options were read (exit 2); --redis
        # itself gets REDIS_VALUES, whose local unreachable one is retried for a few seconds.
        return [command, *SIM]
    if command == "login":
        return ["login", "someone", "--simulate", "--phone", "+15551234567"]
    if command == "demo":
        return ["demo", "--messages", "5", "--dest", str(tmp / "demo")]
    if command == "verify":
        return ["verify", str(tmp / "dl")]
    if command == "accounts":
        return ["accounts", *SIM, "--dest", str(tmp / "dl")]
    if command == "watch":
        return ["watch", *SIM, "--dest", str(tmp / "dl"), "--rounds", "1"]
    if command == "topics":
        return ["topics", *SIM, "--sim-topics", "2"]
    if command == "history":
        return ["history"]
    if command == "dashboard":
        # A state DB that is not there: refused at once (a real one would be served until Ctrl-C).
        return ["dashboard", "--state-db", str(tmp / "dl" / "missing.sqlite"), "--web", "127.0.0.1:0"]
    raise AssertionError(f"no base command line for {command}: add one here")


def _check(argv: list[str], capsys: pytest.CaptureFixture[str], what: str) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    code = exit_.value.code if isinstance(exit_.value.code, int) else 0
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, f"{what}: {err[-2000:]}"
    assert code in ALLOWED_CODES, f"{what}: exit {code}: {err[-2000:]}"
    if code != 0:
        lines = [ln for ln in err.splitlines() if ln.startswith("tgfetch: error:")]
        assert lines, f"{what}: exit {code} without a 'tgfetch: error:' line: {err[-2000:]}"
        assert len(lines[-1]) > len("tgfetch: error: ") + 10, f"{what}: {lines[-1]!r} says nothing"
    return code


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder to run in, no .env, none of the developer's settings."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    for name in [*_env_names(), "SIMULATE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TG_SESSION_DIR", str(tmp_path / "sessions"))
    return tmp_path


def test_every_command_has_a_base_line() -> None:
    for name, _ in _commands():
        _base(name, Path("/tmp/x"))


@pytest.mark.parametrize("name", _env_names())
def test_every_setting_with_hostile_values(name: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    values = REDIS_VALUES if name in NETWORK else HOSTILE
    for value in values:
        if "\x00" in value:
            continue  # an environment variable cannot hold NUL
        value = _confine(value, sandbox) if name in PATH_SETTINGS else value
        monkeypatch.setenv(name, value)
        _check(_base("download", sandbox), capsys, f"{name}={value!r}")
    monkeypatch.delenv(name)


@pytest.mark.parametrize(("command", "flag"), _value_options())
def test_every_flag_with_hostile_values(command: str, flag: str, sandbox: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    values = REDIS_VALUES if flag in NETWORK else HOSTILE
    for value in values:
        value = _confine(value, sandbox) if flag in _path_flags() else value
        _check([*_base(command, sandbox), flag, value], capsys, f"{command} {flag} {value!r}")


def test_hostile_message_links(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LINK arguments: what people paste (and worse) gives one line and exit 2, or runs."""
    links = [*HOSTILE, "t.me/tgfetch_sim/72010?comment=0", "t.me/tgfetch_sim/99999999999", "t.me/c/0/1",
             "https://t.me/tgfetch_sim/72010?single=1", "tg://resolve?domain=tgfetch_sim&post=72010"]
    for value in links:
        if "\x00" in value:
            continue  # an argument cannot hold NUL
        _check([*_base("download", sandbox), value], capsys, f"download {value!r}")


def _text() -> st.SearchStrategy[str]:
    paths = st.builds(lambda parts: "/".join(parts), st.lists(st.sampled_from(["..", ".", "x", "", "~", "dl"]),
                                                                max_size=4))
    numbers = st.one_of(st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=True).map(repr))
    return st.one_of(st.text(max_size=40), numbers, paths)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_values_for_every_setting_and_flag(data: st.DataObject, sandbox: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    value = data.draw(_text())
    if data.draw(st.booleans()):
        name = data.draw(st.sampled_from([n for n in _env_names() if n not in NETWORK | SLOW]))
        clean = value.replace("\x00", "")
        clean = _confine(clean, sandbox) if name in PATH_SETTINGS else clean
        with monkeypatch.context() as m:
            m.setenv(name, clean)
            _check(_base("download", sandbox), capsys, f"{name}={clean!r}")
    else:
        command, flag = data.draw(st.sampled_from([o for o in _value_options() if o[1] not in NETWORK | SLOW]))
        value = _confine(value, sandbox) if flag in _path_flags() else value
        _check([*_base(command, sandbox), flag, value], capsys, f"{command} {flag} {value!r}")


def test_the_check_catches_an_internal_error(sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A crash is caught by _check (so a green run means something)."""
    import tgfetch.app

    async def crash(*_args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(tgfetch.app, "run_plan", crash)
    with pytest.raises(AssertionError, match="probe"):
        _check(["plan", *SIM], capsys, "probe")
