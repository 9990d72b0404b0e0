"""The commands as users run them: `download --web`, `watch --web`, `tgfetch dashboard --state-db`."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import events, get, get_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
from download_helpers import subprocess_env  # noqa: E402

pytestmark = pytest.mark.timeout(300)

TGFETCH = [sys.executable, "-m", "tgfetch"]
SIM = ["--simulate", "--sim-messages", "150", "--sim-seed", "9"]
DB = Path("dl") / "tgfetch_sim" / ".tgfetch.sqlite"


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*TGFETCH, *args], cwd=cwd, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        if m := re.match(r"dashboard: (http://127\.0\.0\.1:\d+/)", line):
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"no dashboard line: {proc.communicate()}")


def _wait(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_web_serves_while_it_runs_and_stops_with_the_job(tmp_path: Path) -> None:
    proc, url = _start(["download", *SIM, "--sim-bandwidth", "0.7", "--web", "127.0.0.1:0", "--quiet",
                        "--dest", "dl", "--report", "r.json"], tmp_path)
    seen = []
    while proc.poll() is None:
        try:
            seen.append(get_json(url + "api/status"))
        except OSError:  # the job ended: its server with it
            break
        time.sleep(0.3)
    assert proc.wait(60) == 0, proc.communicate()[1]
    report = json.loads((tmp_path / "r.json").read_text())
    moving = [s["files_done"] for s in seen if s["phase"] == "downloading"]
    assert len(set(moving)) >= 3 and len(report["files"]) >= max(moving)
    with pytest.raises(OSError):  # the server ended with the job
        get(url + "api/status")


def test_dashboard_of_a_finished_job_matches_its_report(tmp_path: Path) -> None:
    subprocess.run([*TGFETCH, "download", *SIM, "--quiet", "--dest", "dl", "--report", "r.json"], cwd=tmp_path,
                   env=subprocess_env(), check=True, capture_output=True, timeout=120)
    report = json.loads((tmp_path / "r.json").read_text())
    before = _sha(tmp_path / DB)
    proc, url = _start(["dashboard", "--state-db", str(DB), "--web", "127.0.0.1:0"], tmp_path)
    try:
        status = get_json(url + "api/status")
        files = get_json(url + "api/files?limit=500")
        failed = get_json(url + "api/files?q=failed")
        timeline = get_json(url + "api/timeline")
        history = get_json(url + "api/history")
        plan = get_json(url + "api/plan")
        metrics = get(url + "metrics")[2].decode()
        pushed = next(events(url, 3.0))[1]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert status["source"] == "state-db" and status["job"] == "@tgfetch_sim" and pushed["files_done"] > 0
    assert status["files_done"] == len(report["files"]) == files["total"] and failed["total"] == 0
    accounts = {a["name"]: a for a in status["accounts"]}
    for name, c in report["clients"].items():
        assert (accounts[name]["files"], accounts[name]["bytes"]) == (c["files"], c["bytes"])
        assert f'tgfetch_account_files_total{{account="{name}"}} {float(c["files"])}' in metrics
    by_id = {f["message_id"]: f for f in report["files"]}
    for row in files["rows"]:
        want = by_id[row["message_id"]]
        assert (row["path"], row["size"], row["account"], row["state"]) == (want["path"], want["size"],
                                                                           want["client"], "done")
    assert sum(sum(r["files"]) for r in timeline["rows"]) == len(report["files"])
    assert len(history["runs"]) == 1 and history["runs"][0]["outcome"] == "done"
    assert plan is None
    assert _sha(tmp_path / DB) == before, "the dashboard never writes the state DB"


def test_dashboard_beside_a_running_job(tmp_path: Path) -> None:
    job = subprocess.Popen([*TGFETCH, "download", *SIM, "--sim-bandwidth", "0.5", "--quiet", "--dest", "dl"],
                           cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    _wait(lambda: (tmp_path / DB).exists(), "the job's state DB")
    proc, url = _start(["dashboard", "--state-db", str(DB), "--web", "127.0.0.1:0"], tmp_path)
    try:
        seen = []
        while job.poll() is None:
            seen.append(get_json(url + "api/status")["files_done"])
            time.sleep(0.3)
        last = get_json(url + "api/status")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert job.returncode == 0, job.communicate()[1]
    assert len(set(seen)) >= 3 and seen == sorted(seen), "the read-only view follows the job"
    assert last["phase"] == "active" and last["files_done"] > max(seen[:1] or [0])


@pytest.mark.parametrize(("content", "says"), [
    (None, "does not exist"),
    (b"not a database at all", "is not a tgfetch state database"),
])
def test_dashboard_refuses_what_is_not_a_state_db(content: bytes | None, says: str, tmp_path: Path) -> None:
    if content is not None:
        (tmp_path / "x.sqlite").write_bytes(content)
    res = subprocess.run([*TGFETCH, "dashboard", "--state-db", "x.sqlite", "--web", "127.0.0.1:0"], cwd=tmp_path,
                         env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tgfetch: error: ") and says in lines[0], res.stderr
    no_db = subprocess.run([*TGFETCH, "dashboard"], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                           text=True, timeout=60)
    assert no_db.returncode == 2 and "--state-db" in no_db.stderr


def test_watch_web_lives_through_every_round(tmp_path: Path) -> None:
    proc, url = _start(["watch", "--simulate", "--sim-messages", "40", "--sim-live", "8", "--interval", "0.3",
                        "--settle", "0.6", "--web", "127.0.0.1:0", "--quiet", "--dest", "dl"], tmp_path)
    try:
        rounds: list[int] = []
        _wait(lambda: rounds.append(get_json(url + "api/status")["round"]) or rounds[-1] >= 3, "three rounds", 90)
        status = get_json(url + "api/status")
        files = get_json(url + "api/files?limit=500")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert status["phase"] in ("downloading", "waiting") and status["files_downloaded"] >= status["files_done"]
    downloaded = sum(a["files"] for a in status["accounts"])
    assert downloaded == status["files_downloaded"] and files["counts"].get("done", 0) >= downloaded
