"""The cluster's dashboard (issue 17): `--web` on a coordinator and its workers, `tgfetch dashboard --redis`.

Real processes (`python -m tgfetch coordinator|worker|dashboard --simulate`) on a real redis-server
(`RedisServer`, as the cluster tests' fixtures start it: a free port on 127.0.0.1, its own folder,
stopped by pid). A coordinator and two workers of two simulated accounts each serve the job's
dashboard while it runs; `tgfetch dashboard --redis` then shows the finished job read-only (Redis
is the same before and after, key by key); dead letters (written with `ClusterQueue`'s own methods,
in-process) show with their reasons; two jobs in one Redis without `--job` are one line, exit 2;
and the Cluster panel in Chromium shows the machines (a screenshot under the test's folder).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from browser_helpers import MISSING, account_cells, chromium, severe_console, wait_for
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import get, get_json

from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import GroupPayload
from tgfetch.cluster.redis_server import RedisServer, find_redis_server
from tgfetch.cluster.security import connect
from tgfetch.errors import UsageError
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.web.cluster import ClusterSource
from tgfetch.web.metrics import CLUSTER_METRIC_NAMES, METRIC_NAMES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
from download_helpers import subprocess_env  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED, MESSAGES, SCALE, FIRST_ID = 11, 150, 0.02, 72006  # about 9 MB, no file above 1 MB
SIM = ["--simulate", "--sim-seed", str(SEED), "--sim-messages", str(MESSAGES), "--sim-size-scale", str(SCALE),
       "--sim-clients", "2", "--sim-bandwidth", "0.6"]  # 4 accounts of 0.6 MB/s: a few seconds
MACHINES = ("m1", "m2")
ACCOUNTS = {f"{m}-client{i}": m for m in MACHINES for i in (1, 2)}
PASSWORD = "Sekret-Redis-Pass-0451"


def _need_redis() -> None:
    try:
        find_redis_server()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@dataclass
class Proc:
    """A tgfetch child process whose output goes to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def url(self, timeout: float = 60.0) -> str:
        """The dashboard URL it printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", self.output()):
                return m.group(1)
            assert self.popen.poll() is None, f"{self.name} exited with {self.popen.returncode}:\n{self.output()}"
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no dashboard line:\n{self.output()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (a dashboard's Ctrl-C) unless it ended already; its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 120.0) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
            raise AssertionError(f"{self.name} did not end within {timeout}s:\n{self.output()[-3000:]}") from None


def spawn(root: Path, name: str, args: list[str]) -> Proc:
    log = root / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "tgfetch", *args], cwd=root, env=subprocess_env(),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


def run(root: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgfetch", *args], cwd=root, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)


def metrics(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    status, _, body = get(url + "metrics")
    assert status == 200
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def redis_dump(url: str) -> dict[str, Any]:
    """Every key with its type and size, the hashes whole, and each stream's consumer groups (DBSIZE too)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        out: dict[str, Any] = {"dbsize": r.dbsize()}
        for key in sorted(r.scan_iter(count=1000)):
            kind = r.type(key)
            size = {"hash": r.hlen, "set": r.scard, "stream": r.xlen, "string": r.strlen}[kind](key)
            out[key] = (kind, size, r.hgetall(key) if kind == "hash" else None,
                        r.xinfo_groups(key) if kind == "stream" else None)
        return out
    finally:
        r.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    _need_redis()
    srv = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def job(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A coordinator and two workers, each with --web; what their dashboards said while the job ran."""
    root = tmp_path_factory.mktemp("cluster")
    flags = [*SIM, "--redis", server.url, "--quiet", "--web", "127.0.0.1:0"]
    procs = {m: spawn(root, m, ["worker", "--machine", m, "--dest", m, "--report", f"{m}.json", *flags])
             for m in MACHINES}
    procs["coordinator"] = spawn(root, "coordinator", ["coordinator", "--expect-accounts", str(len(ACCOUNTS)),
                                                       *flags])
    try:
        urls = {n: p.url() for n, p in procs.items()}
        seen, of_worker, scrapes = _watch(urls)
        codes = {n: p.wait() for n, p in procs.items()}
        assert codes == dict.fromkeys(procs, 0), {n: procs[n].output()[-2000:] for n in procs}
        summary = re.search(r"job (\S+): (\d+)/(\d+) groups done, (\d+) failed", procs["coordinator"].output())
        assert summary, procs["coordinator"].output()
        yield {"root": root, "seen": seen, "worker": of_worker, "metrics": scrapes, "job": summary.group(1),
               "done": int(summary.group(2)), "total": int(summary.group(3)), "failed": int(summary.group(4))}
    finally:
        for p in procs.values():
            if p.popen.poll() is None:
                os.kill(p.popen.pid, signal.SIGKILL)
                p.popen.wait(10)


def _watch(urls: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """The coordinator's /api/status every 0.2 s until it ends; a worker's status and /metrics midway."""
    seen: list[dict[str, Any]] = []
    of_worker: list[dict[str, Any]] = []
    scrapes: list[Any] = []
    while True:
        try:
            status = get_json(urls["coordinator"] + "api/status")
            seen.append(status)
            if status["phase"] == "running" and len(scrapes) < 3:
                scrapes.append(metrics(urls["coordinator"]))
                of_worker.append(get_json(urls["m1"] + "api/status"))
        except OSError:  # the job ended: its servers with it
            return seen, of_worker, scrapes
        time.sleep(0.2)


def test_the_live_dashboards_show_every_machine_and_account(job: dict[str, Any]) -> None:
    seen = job["seen"]
    assert all(s["source"] == "cluster" for s in seen)
    assert seen[0]["phase"] in ("starting", "planning", "running")
    running = [s for s in seen if s["phase"] == "running"]
    assert running, [s["phase"] for s in seen]
    for s in running:
        assert {a["name"]: a["machine"] for a in s["accounts"]} == ACCOUNTS
        assert {m["name"] for m in s["cluster"]["machines"]} == set(MACHINES)
        assert s["cluster"]["machine"] == ""  # the coordinator serves it
    done = [s["cluster"]["groups_done"] for s in running]
    files = [s["files_done"] for s in running]
    assert len(set(files)) >= 3 and files == sorted(files), files
    assert len(set(done)) >= 3 and done == sorted(done) and done[-1] <= job["done"], done
    assert any(s["cluster"]["groups_inflight"] > 0 and any(a["state"] == "downloading" for a in s["accounts"])
               for s in running)
    assert all(s["cluster"]["groups_total"] == job["total"] for s in running)
    for w in job["worker"]:  # a worker serves the same job, and says which machine it is
        assert w["source"] == "cluster" and w["cluster"]["machine"] == "m1"
        assert {m["name"] for m in w["cluster"]["machines"]} == set(MACHINES)
    for scrape in job["metrics"]:
        assert set(CLUSTER_METRIC_NAMES) <= set(scrape)
        assert {n for n in scrape if n.startswith("tgfetch_")} <= set(METRIC_NAMES)
        assert set(scrape["tgfetch_machine_groups_inflight"]) == {(("machine", m),) for m in MACHINES}


def test_dashboard_redis_shows_the_done_job_and_never_writes(job: dict[str, Any], server: RedisServer) -> None:
    root = job["root"]
    before = redis_dump(server.url)
    dash = spawn(root, "dashboard", ["dashboard", "--redis", server.url, "--web", "127.0.0.1:0"])
    try:
        url = dash.url()
        status = get_json(url + "api/status")
        page = get_json(url + "api/files?limit=500")
        failed = get_json(url + "api/files?q=failed")
        scrape = metrics(url)
        empty = (get_json(url + "api/plan"), get_json(url + "api/timeline"), get_json(url + "api/history"))
    finally:
        assert dash.stop() == 0, dash.output()
    assert redis_dump(server.url) == before, "the dashboard wrote to Redis"
    assert f"serving cluster job {job['job']} from Redis, read-only" in dash.output()

    c = status["cluster"]
    assert status["phase"] == "done" and status["outcome"] == "done" and status["source"] == "cluster"
    assert (c["job"], c["groups_done"], c["groups_total"], c["groups_dead"]) == (
        job["job"], job["done"], job["total"], job["failed"])
    assert c["groups_inflight"] == c["groups_queued"] == 0 and c["dead_letters"] == []
    reports = {m: _report(root / f"{m}.json") for m in MACHINES}
    assert status["files_done"] == status["files_planned"] == sum(len(r["files"]) for r in reports.values())
    for m in c["machines"]:
        assert m["files"] == len(reports[m["name"]]["files"]) and m["state"] == "done"
        assert sorted(m["accounts"]) == sorted(a for a, mm in ACCOUNTS.items() if mm == m["name"])
    assert {a["name"]: (a["machine"], a["state"]) for a in status["accounts"]} == {
        a: (m, "done") for a, m in ACCOUNTS.items()}
    media = {m.id for m in SimulatedTelegram(seed=SEED, messages=MESSAGES, first_id=FIRST_ID,
                                             size_scale=SCALE).media_messages()}
    assert page["counts"] == {"done": len(media)} and page["total"] == len(media)
    assert {r["message_id"] for r in page["rows"]} <= media and failed["total"] == 0
    assert scrape["tgfetch_cluster_groups_done"][()] == job["done"]
    assert sum(scrape["tgfetch_machine_groups_done_total"].values()) == job["done"]
    assert empty[0] is None and empty[1]["rows"] == [] and empty[2] == {"runs": [], "speeds": []}


def _report(path: Path) -> dict[str, Any]:
    import json

    return dict(json.loads(path.read_text()))


async def _jobs_with_dead_letters(url: str) -> None:
    """Two jobs in one Redis; the first with two dead letters: one given up after its deliveries, one
    whose payload is not a payload (written as the queue itself writes them)."""
    client = connect(url)
    try:
        q = ClusterQueue(client, "deadjob", lease_s=0.2, max_deliveries=1, on_dead=lambda _: None)
        await q.set_meta({"channel": "@dead_channel", "state": "planning", "created_at": time.time(),
                          "lease_s": "0.2"})
        await q.register_account("zz1", "m9", 1000.0)
        plan = {"zz1": [GroupPayload(-1001, f"m{i}", (i,), None, "zz1", 1, 100 * i) for i in (5, 6, 7)]}
        await q.enqueue_plan(plan)
        (d,) = await q.read_own("zz1", "m9:zz1", 1)
        await asyncio.sleep(0.3)
        assert [x.group_id for x in await q.sweep()] == [d.payload.group_id]
        await q.redis.xadd(q.keys.queue("zz1"), {"g": "m77", "p": '{"pickle": true}', "f": "1", "b": "1"})
        await q.redis.sadd(q.keys.enqueued, "m77")
        got = await q.read_own("zz1", "m9:zz1", 5)
        assert [x.payload.group_id for x in got] == ["m6", "m7"]
        assert await q.complete(got[0], "m9:zz1", 1, 600)  # one done, one in flight
        other = ClusterQueue(client, "otherjob")
        await other.set_meta({"channel": "@other", "state": "running"})
    finally:
        await client.aclose()


@pytest.fixture
def locked_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test with a password."""
    _need_redis()
    srv = RedisServer.start(tmp_path / "redis", password=PASSWORD)
    try:
        yield srv
    finally:
        srv.stop()


def test_dead_letters_with_reasons_two_jobs_and_no_password_shown(locked_server: RedisServer,
                                                                   tmp_path: Path) -> None:
    url = locked_server.url
    asyncio.run(_jobs_with_dead_letters(url))
    several = run(tmp_path, ["dashboard", "--redis", url, "--web", "127.0.0.1:0"])
    lines = several.stderr.strip().splitlines()
    assert several.returncode == 2 and len(lines) == 1, several.stderr
    assert "2 cluster jobs" in lines[0] and "deadjob" in lines[0] and "otherjob" in lines[0] and "--job" in lines[0]
    assert PASSWORD not in several.stderr + several.stdout
    both = run(tmp_path, ["dashboard", "--redis", url, "--state-db", "x.sqlite", "--web", "127.0.0.1:0"])
    neither = run(tmp_path, ["dashboard", "--web", "127.0.0.1:0"])
    for res in (both, neither):
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "--state-db" in res.stderr and "--redis" in res.stderr
    dash = spawn(tmp_path, "dashboard", ["dashboard", "--redis", url, "--job", "deadjob", "--web", "127.0.0.1:0"])
    try:
        base = dash.url()
        bodies = [get(base + p)[2] for p in ("api/status", "api/files?q=failed", "metrics", "accounts", "files")]
        status, failed = get_json(base + "api/status"), get_json(base + "api/files?q=failed")
    finally:
        assert dash.stop() == 0, dash.output()
    assert all(PASSWORD.encode() not in b for b in bodies) and PASSWORD not in dash.output()
    c = status["cluster"]
    assert (status["job"], c["job"], c["groups_dead"], c["groups_done"], c["groups_inflight"]) == (
        "@dead_channel", "deadjob", 2, 1, 1)
    reasons = {d["group"]: (d["reason"], d["account"], d["failed"]) for d in c["dead_letters"]}
    assert reasons["m5"] == ("max_deliveries", "zz1", True)
    assert reasons["m77"][0].startswith("bad_payload") and reasons["m77"][2]
    assert [(m["name"], m["groups_dead"], m["groups_inflight"]) for m in c["machines"]] == [("m9", 2, 1)]
    assert status["failures"] == 2
    rows = {r["message_id"]: (r["state"], r["error"]) for r in failed["rows"]}
    assert rows == {5: ("failed", "max_deliveries")}  # m77 has no payload: no message to list


async def test_a_source_starts_before_its_job_is_known(locked_server: RedisServer) -> None:
    """In-process: `starting` until the process attaches its queue; no job in Redis: one UsageError line."""
    client = connect(locked_server.url)
    try:
        waiting = ClusterSource(machine="m1", label="@chan")
        s = await waiting.status()
        assert (s.source, s.phase, s.job, s.cluster, s.accounts) == ("cluster", "starting", "@chan", None, ())
        assert (await waiting.files("", 10, 0)).total == 0
        with pytest.raises(UsageError, match=r"^no cluster job in this Redis yet"):
            await ClusterSource(client).resolve()
        queue = ClusterQueue(client, "fresh-job")
        waiting.attach(queue)
        assert (await waiting.status()).phase == "starting"  # attached, not planned yet
        await queue.set_meta({"channel": "@chan", "state": "planning"})
        await queue.register_account("acc1", "m1", 5000.0)
        s = await waiting.status()
        assert s.phase == "planning" and s.cluster is not None and s.cluster.machine == "m1"
        assert [(a.name, a.machine, a.state, a.speed_bps) for a in s.accounts] == [("acc1", "m1", "idle", 5000.0)]
        with pytest.raises(UsageError, match=r"--job 'nope': no such cluster job in this Redis; its jobs: fresh-job"):
            await ClusterSource(client, "nope").resolve()
    finally:
        await client.aclose()


@pytest.mark.skipif(bool(MISSING), reason=MISSING)
def test_the_cluster_panel_in_chromium(job: dict[str, Any], server: RedisServer, tmp_path: Path) -> None:
    dash = spawn(tmp_path, "dashboard", ["dashboard", "--redis", server.url, "--job", job["job"],
                                         "--web", "127.0.0.1:0"])
    driver = chromium()
    try:
        url = dash.url()
        driver.get(url + "accounts")
        wait_for(lambda: driver.find_element("id", "cluster").is_displayed(), "the Cluster panel")
        machines = wait_for(lambda: driver.execute_script(
            "return [...document.querySelectorAll('#machines tbody tr[data-machine]')].map(tr => tr.dataset.machine)"),
            "the machines")
        assert machines == list(MACHINES)
        cells = wait_for(lambda: account_cells(driver) if len(account_cells(driver)) == len(ACCOUNTS) else None,
                         "every account")
        assert {n: c["machine"] for n, c in cells.items()} == ACCOUNTS
        assert driver.find_element("css selector", "#accounts th.machine").is_displayed()
        assert driver.find_element("id", "s-source").text == "cluster, from Redis"
        assert driver.find_element("id", "c-groups").text == f"{job['done']} / {job['total']}"
        time.sleep(0.5)
        assert driver.save_screenshot(str(tmp_path / "cluster.png"))
        driver.get(url + "timeline")
        wait_for(lambda: "each worker's own state DB" in driver.find_element("id", "timeline-meta").text,
                 "the timeline's cluster note")
        assert severe_console(driver) == []
    finally:
        driver.quit()
        assert dash.stop() == 0, dash.output()
    assert (tmp_path / "cluster.png").stat().st_size > 10_000
