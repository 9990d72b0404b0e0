"""Every code block of README.md runs as written: Python blocks as scripts, shell blocks on the simulator.

Shell blocks run under bash with `SIMULATE=1` (the `--simulate` flag's variable), in a fresh
folder, after the few substitutions below that turn the README's placeholders for a real
channel and a Redis host into the simulated channel and a local redis-server.  A block is left
out only when the line before its fence says why: `<!-- not run: reason -->`.  Blocks without a
language (sample output) are not code.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>.+?)\s*-->\s*$")
RUN = {"sh", "bash", "python"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    line: int
    lang: str
    code: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group("lang") not in RUN:
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        why = NOT_RUN.search(before)
        line = text.count("\n", 0, m.start()) + 1
        out.append(Block(line, m.group("lang"), textwrap.dedent(m.group("body")), why.group("why") if why else None))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _placeholders(code: str, port: int) -> str:
    """The README's stand-ins for a real channel and a Redis host, pointed at the simulator and 127.0.0.1."""
    for old, new in (("@somechannel", "@tgfetch_sim"), ("t.me/somechannel/", "t.me/tgfetch_sim/"),
                     ("redis-host:6379", f"127.0.0.1:{port}"),
                     ("--bind 0.0.0.0", "--bind 127.0.0.1"), ("127.0.0.1:6390", f"127.0.0.1:{port}"),
                     ("--port 6390", f"--port {port}"), ("/srv/media", "srv/media")):
        code = code.replace(old, new)
    return code


def _env(tmp: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    drop = {k for k in os.environ if k.isupper() and k not in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PATH=f"{venv_bin}:{env.get('PATH', '')}", SIMULATE="1", REDIS_PASSWORD=secrets.token_hex(8),
               PYTHONPATH=str(tmp), PYTHONUNBUFFERED="1", XDG_DATA_HOME=str(tmp / "xdg-data"))
    return env


def _run(block: Block, tmp: Path) -> subprocess.CompletedProcess[str]:
    port = _free_port()
    code = _placeholders(block.code, port)
    shutil.copy(README.parents[0] / "main.py", tmp / "main.py")
    if block.lang == "python":
        script = tmp / "block.py"
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    else:
        # Background jobs the block started (a redis-server, workers) are ended with it.
        cmd = ["bash", "-euo", "pipefail", "-c", code + "\nwait_rc=$?; kill $(jobs -p) 2>/dev/null || true; "
               "exit $wait_rc"]
    return subprocess.run(cmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=540,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("block", blocks(), ids=lambda b: b.id)
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(f"README says: {block.skip}")
    if "redis-server" in block.code and shutil.which("redis-server") is None:
        pytest.skip("redis-server not found (Debian: apt-get install redis-server)")
    res = _run(block, tmp_path)
    assert res.returncode == 0, f"{block.id} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    assert "internal error" not in res.stderr


def test_the_readme_has_runnable_blocks_and_few_exceptions() -> None:
    found = blocks()
    assert sum(1 for b in found if b.lang == "python") >= 2
    assert sum(1 for b in found if b.lang in ("sh", "bash")) >= 4
    assert sum(1 for b in found if b.skip) <= 3, [b.id for b in found if b.skip]


def test_a_broken_block_would_fail(tmp_path: Path) -> None:
    """The runner reports a failing command (so a green README test means the blocks ran)."""
    res = _run(Block(1, "sh", "tgfetch plan --no-such-flag\n", None), tmp_path)
    assert res.returncode == 2 and "no-such-flag" in res.stderr
