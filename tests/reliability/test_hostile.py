"""Hostile input: names from Telegram, corrupt .env lines, huge or bad id ranges, a random session file.

Most name properties are proven in tests/download/test_naming.py (test_property_paths_are_safe_and_unique,
test_property_files_can_really_be_created, ...) and the settings/.env fuzzing in tests/test_fuzz.py; this
adds the album path through `group_tasks` + `safe_join` and the CLI-level behaviour.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import PYTHON, cli, run_cli, subprocess_env

from tgfetch.download.layout import sidecar_path
from tgfetch.download.naming import safe_join
from tgfetch.download.tasks import group_tasks
from tgfetch.model import MessageGroup, MessageInfo

WINDOWS_BAD = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789"}

hostile_text = st.one_of(
    st.text(max_size=400),
    st.sampled_from(["..", ".", "../../etc/passwd", "/etc/passwd", "C:\\Windows\\evil.dll", "CON", "nul.txt",
                     "a\x00b", "\u202egnp.exe", " ", "...", "x" * 300, "é" * 200 + ".bin", "名前.mp4"]),
)
mimes = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["video/mp4", "image/../x", "a/b;c=../d"]))


def _valid_component(c: str) -> bool:
    return (0 < len(c.encode()) <= 255 and not (set(c) & WINDOWS_BAD) and c not in {".", ".."}
            and not c.endswith((" ", ".")) and c.split(".", 1)[0].rstrip(" ").upper() not in RESERVED)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.tuples(hostile_text, mimes, st.sampled_from(["photo", "video", "document", "audio"])),
                      min_size=2, max_size=10),
       caption=hostile_text, gid=st.integers(-(2**63), 2**63 - 1))
def test_property_album_paths_stay_inside_valid_and_distinct(tmp_path: Path, names: list[tuple[str, str | None, str]],
                                                             caption: str, gid: int) -> None:
    msgs = [MessageInfo(1000 + i, media_group_id=gid, file_size=10, file_name=n, mime_type=m, media_type=k,
                        caption=caption if i == 0 else "") for i, (n, m, k) in enumerate(names)]
    tasks = group_tasks(MessageGroup.of(msgs), "{message_id}_{file_name}")
    root = tmp_path.resolve()
    finals = [safe_join(root, t.rel) for t in tasks]
    assert len(set(finals)) == len(finals), "two album members collide"
    assert len({p.parent for p in finals}) == 1, "an album's files share one folder"
    for t, p in zip(tasks, finals, strict=True):
        assert p.is_relative_to(root) and p != root
        assert all(_valid_component(c) for c in t.rel.parts), t.rel
        for sibling in (p.with_name(p.name + ".part"), sidecar_path(p)):
            assert len(sibling.name.encode()) <= 255
        assert t.album_caption == caption.strip() or t.album_caption == caption


# -------------------------------------------------------------------- CLI input


@pytest.mark.parametrize(("lines", "bad_line"), [
    (["CHANNEL=@ok", "TG_API_HASH='0123456789abcdef0123456789abcdef", "LOG_LEVEL=INFO"], 2),
    pytest.param(["# comment", "", "this is not an assignment at all \"", "X=1"], 3),
    (["A=1", "B=2", "C=3", "export =5"], 4),
])
def test_corrupt_env_line_exit_2_names_the_line(tmp_path: Path, lines: list[str], bad_line: int) -> None:
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    res = run_cli([PYTHON, "-m", "tgfetch", "download", "--simulate", "--sim-messages", "20"], tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and f"line {bad_line}" in err[0], res.stderr
    assert "0123456789abcdef" not in res.stderr + res.stdout


@pytest.mark.parametrize("flags", [["--start", "0"], ["--start", "-5"], ["--end", "0"], ["--end", "-1"],
                                   ["--start", "10", "--end", "3"]])
def test_zero_negative_or_reversed_ids_exit_2(tmp_path: Path, flags: list[str]) -> None:
    res = run_cli(cli(tmp_path / "D", *flags, seed=1, messages=20, scale=0.01), tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def _max_rss_kib(cmd: list[str], cwd: Path) -> tuple[int, int, float]:
    """Run cmd under a tiny wrapper; return (exit code, child max RSS KiB, seconds)."""
    wrapper = ("import resource,subprocess,sys\n"
               "r=subprocess.run(sys.argv[1:])\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(r.returncode)")
    t0 = time.monotonic()
    res = run_cli([PYTHON, "-c", wrapper, *cmd], cwd)
    return res.returncode, int(res.stdout.strip().splitlines()[-1]), time.monotonic() - t0


def test_huge_range_is_clamped_and_not_allocated(tmp_path: Path) -> None:
    base = cli(tmp_path / "A", seed=5, messages=300, scale=0.005)
    rc0, rss0, _ = _max_rss_kib(base, tmp_path)
    huge = cli(tmp_path / "B", "--start", "1", "--end", "1000000000", "--report", str(tmp_path / "r.json"),
               seed=5, messages=300, scale=0.005)
    rc1, rss1, secs = _max_rss_kib(huge, tmp_path)
    assert rc0 == rc1 == 0
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["last_id"] == 72006 + 300 - 1 and report["first_id"] == 1
    assert secs < 30, secs
    assert rss1 < rss0 + 40 * 1024, (rss0, rss1)  # a billion ids would need GBs
    print(f"\nhuge range: {secs:.1f}s, max RSS {rss1 // 1024} MiB (normal range {rss0 // 1024} MiB)")
    assert resource  # imported for the wrapper's sake


def test_random_blob_session_file_exit_3(tmp_path: Path) -> None:
    sessions = tmp_path / "sess"
    sessions.mkdir()
    (sessions / "acc.session").write_bytes(os.urandom(4096))
    env = subprocess_env(TG_SESSIONS="acc", TG_SESSION_DIR=str(sessions), TG_API_ID="12345",
                         TG_API_HASH="0123456789abcdef0123456789abcdef", CHANNEL="@somechannel")
    res = run_cli([PYTHON, "-m", "tgfetch", "download", "--dest", str(tmp_path / "D")], tmp_path, env=env)
    assert res.returncode == 3, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "acc" in lines[0] and "not a Telethon session file" in lines[0], res.stderr
