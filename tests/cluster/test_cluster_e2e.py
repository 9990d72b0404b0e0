"""End to end: a coordinator and worker processes on a real redis-server (issue 8).

Every test starts real processes (``python -m tgfetch coordinator|worker --simulate``)
against its own redis-server on 127.0.0.1 (free port, temp dir, AOF fsynced on
every write, stopped by pid) and checks the outcome against the simulator built
in the test with the same arguments as the command line: every media file
exactly once, byte-identical, every album downloaded by one account.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import redis

from tgfetch.cluster.keys import GROUP
from tgfetch.cluster.redis_server import RedisServer
from tgfetch.telegram.simulator import SimulatedTelegram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FIRST_ID = 72006  # --sim-first-id default (SimOptions.first_id)
CHANNEL_DIR = "tgfetch_sim"  # channel folder of the simulated channel under --dest
MACHINES = ("m1", "m2", "m3")
PROCESS_TIMEOUT_S = 60.0


# -- the simulated channel, as the processes see it ------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """The --sim-* flags of a job; every process and the test build the same channel from them."""

    seed: int = 5
    messages: int = 300
    scale: float = 0.02

    def flags(self) -> list[str]:
        return ["--simulate", "--sim-seed", str(self.seed), "--sim-messages", str(self.messages),
                "--sim-size-scale", str(self.scale), "--sim-clients", "1"]

    @property
    def sim(self) -> SimulatedTelegram:
        return _sim(self.seed, self.messages, self.scale)

    def media(self) -> dict[int, str]:
        """message id -> group id (a<grouped_id> for album members, m<id> for singles)."""
        return {m.id: f"a{m.grouped_id}" if m.grouped_id is not None else f"m{m.id}"
                for m in self.sim.media_messages()}

    def groups(self) -> set[str]:
        return set(self.media().values())


@cache
def _sim(seed: int, messages: int, scale: float) -> SimulatedTelegram:
    # app.build_simulation: SimulatedTelegram(seed, messages, first_id, latency, faults, size_scale)
    return SimulatedTelegram(seed=seed, messages=messages, first_id=FIRST_ID, size_scale=scale)


# -- processes ---------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A tgfetch child process whose stdout and stderr go to one file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout_s: float = PROCESS_TIMEOUT_S) -> int:
        """Wait for the exit code; on a timeout kill it (by pid) and fail with its output."""
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish within {timeout_s}s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Cluster:
    """Starts coordinator and worker processes of one job on one Redis; kills leftovers at the end."""

    root: Path
    server: RedisServer
    channel: Channel
    env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def dest(self, machine: str) -> Path:
        return self.root / machine

    def report_path(self, machine: str) -> Path:
        return self.root / f"{machine}.json"

    def spawn(self, name: str, args: list[str]) -> Proc:
        log = self.root / f"{name}.{len(self.procs)}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with log.open("wb") as out:
            popen = subprocess.Popen([sys.executable, "-m", "tgfetch", *args], cwd=self.root, env=env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def worker(self, machine: str, *, bandwidth: float = 3.0, lease: float = 60.0, extra: tuple[str, ...] = ()) -> Proc:
        return self.spawn(machine, [
            "worker", "--redis", self.url, "--machine", machine, *self.channel.flags(),
            "--sim-bandwidth", str(bandwidth), "--quiet", "--lease", str(lease),
            "--dest", str(self.dest(machine)), "--report", str(self.report_path(machine)), *extra,
        ])

    def coordinator(self, *, expect: int = 3, lease: float = 60.0, url: str | None = None) -> Proc:
        return self.spawn("coordinator", [
            "coordinator", "--redis", url or self.url, *self.channel.flags(), "--quiet",
            "--expect-accounts", str(expect), "--wait", "60", "--lease", str(lease),
        ])

    def workers(self, machines: Iterable[str] = MACHINES, **kw: Any) -> dict[str, Proc]:
        return {m: self.worker(m, **kw) for m in machines}

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def wait_until(self, what: str, cond: Callable[[], bool], timeout_s: float = 45.0) -> None:
        """Poll cond (Redis errors count as False); fail early when a process died with an error."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if cond():
                    return
            except (redis.RedisError, LookupError, sqlite3.Error):
                pass
            for p in self.procs:
                code = p.popen.poll()
                if code not in (None, 0, -signal.SIGKILL):
                    pytest.fail(f"{p.name} exited with {code} while waiting for {what}:\n{p.output()[-3000:]}")
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout_s}s waiting for {what}:\n" + self.outputs())

    def outputs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}, rc {p.popen.poll()}):\n{p.output()[-2000:]}" for p in self.procs)

    def finish(self, procs: Iterable[Proc]) -> None:
        """Every process exits 0 in time."""
        for p in procs:
            code = p.wait()
            assert code == 0, f"{p.name} exited with {code}:\n{self.outputs()}"

    def kill_all(self) -> None:
        for p in self.procs:
            p.kill()


@pytest.fixture
def cluster(tmp_path: Path, fresh_server: RedisServer) -> Iterator[Cluster]:
    """A job's processes on a redis-server of this test; leftover processes are killed by pid."""
    c = Cluster(tmp_path / "job", fresh_server, Channel())
    c.root.mkdir()
    try:
        yield c
    finally:
        c.kill_all()


# -- reading the outcome -----------------------------------------------------------------------------


class Keys:
    """The job's Redis keys, found by scanning (the job name is derived from the channel id)."""

    def __init__(self, r: redis.Redis) -> None:
        metas = list(r.scan_iter("tgfetch:*:meta"))
        if not metas:
            raise LookupError("no job in Redis yet")
        assert len(metas) == 1, metas
        self.prefix = metas[0].removesuffix("meta")
        self.r = r

    def __getattr__(self, name: str) -> str:
        return self.prefix + name

    def streams(self) -> list[str]:
        return sorted(self.r.scan_iter(self.prefix + "q:*"))


def job_keys(c: Cluster) -> Keys:
    return Keys(c.redis())


def done_count(c: Cluster) -> int:
    r = c.redis()
    metas = list(r.scan_iter("tgfetch:*:meta"))
    return int(r.scard(metas[0].removesuffix("meta") + "done")) if metas else 0


def held_groups(k: Keys, consumer: str) -> list[dict[str, Any]]:
    """Payloads of the entries a consumer holds (its pending entries in every stream)."""
    out = []
    for stream in k.streams():
        for e in k.r.xpending_range(stream, GROUP, "-", "+", 100, consumername=consumer):
            for _, fields in k.r.xrange(stream, e["message_id"], e["message_id"]):
                out.append(json.loads(fields["p"]))
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Row:
    """One downloaded file: from a worker's --report or a killed worker's state DB."""

    machine: str
    message_id: int
    path: str
    sha256: str
    client: str


def report_rows(c: Cluster, machine: str) -> list[Row]:
    data = json.loads(c.report_path(machine).read_text())
    assert data["machine"] == machine
    return [Row(machine, f["message_id"], f["path"], f["sha256"], f["client"]) for f in data["files"]]


def state_db_rows(c: Cluster, machine: str) -> list[Row]:
    """Done rows of a dead worker's state DB (its lock died with it), opened read-only."""
    db = c.dest(machine) / CHANNEL_DIR / ".tgfetch.sqlite"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT message_id, path, sha256, client FROM done_files").fetchall()
    finally:
        con.close()
    return [Row(machine, mid, path, sha, client) for mid, path, sha, client in rows]


def check_bytes(c: Cluster, rows: Iterable[Row]) -> None:
    """Each file on disk has the simulator's sha256 (and the recorded one)."""
    sim = c.channel.sim
    for row in rows:
        path = c.dest(row.machine) / CHANNEL_DIR / row.path
        want = sim.file_sha256(row.message_id)
        assert row.sha256 == want, row
        assert sha256_file(path) == want, row


def check_exactly_once(c: Cluster, rows: list[Row]) -> None:
    """The rows are every media message of the channel exactly once."""
    media = c.channel.media()
    counts = Counter(r.message_id for r in rows)
    twice = sorted(m for m, n in counts.items() if n > 1)
    assert not twice, f"downloaded more than once: {twice[:20]}"
    missing = sorted(set(media) - set(counts))
    assert not missing, f"never downloaded: {missing[:20]}"
    assert set(counts) == set(media), sorted(set(counts) - set(media))[:20]


def check_albums_whole(c: Cluster, rows: list[Row]) -> None:
    """Every album was downloaded by a single account."""
    media = c.channel.media()
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(media[r.message_id], set()).add(r.client)
    split = {g: accs for g, accs in by_group.items() if len(accs) > 1}
    assert not split, f"albums split between accounts: {split}"
    assert sum(1 for g in by_group if g.startswith("a")) == sum(1 for g in c.channel.groups() if g.startswith("a"))


def check_redis_done(c: Cluster) -> Keys:
    """Redis agrees: every planned group done exactly once, none failed, nothing pending."""
    k = job_keys(c)
    r = k.r
    groups = c.channel.groups()
    assert r.smembers(k.done) == groups
    assert r.smembers(k.enqueued) == groups
    assert r.scard(k.failed) == 0
    assert not r.exists(k.dead) or r.xlen(k.dead) == 0
    assert sum(r.xlen(s) for s in k.streams()) == len(groups)  # XADDed once each
    for s in k.streams():
        assert r.xpending(s, GROUP)["pending"] == 0, s
    progress = r.hgetall(k.progress)
    assert sum(int(v) for f, v in progress.items() if f.endswith(":groups")) == len(groups)
    assert sum(int(v) for f, v in progress.items() if f.endswith(":files")) == len(c.channel.media())
    assert r.hget(k.meta, "state") == "done"
    return k


# -- 1. a coordinator and three workers ---------------------------------------------------------------


def test_three_workers_download_every_file_exactly_once(cluster: Cluster):
    workers = cluster.workers(bandwidth=3.0)
    coordinator = cluster.coordinator()
    cluster.finish([coordinator, *workers.values()])

    rows = [row for m in MACHINES for row in report_rows(cluster, m)]
    check_exactly_once(cluster, rows)
    check_bytes(cluster, rows)
    check_albums_whole(cluster, rows)
    assert {r.client for r in rows} == {f"{m}-client1" for m in MACHINES}  # everybody worked
    check_redis_done(cluster)
    out = coordinator.output()
    assert f"{len(cluster.channel.groups())}/{len(cluster.channel.groups())} groups done, 0 failed" in out


# -- 2. a worker killed mid-file -------------------------------------------------------------------------


def test_killed_worker_groups_are_reclaimed_and_the_job_completes(cluster: Cluster):
    cluster.channel = Channel(seed=5, messages=200, scale=0.03)
    # --concurrency 1: an album's files arrive one after another, so "half an album saved" lasts.
    workers = cluster.workers(bandwidth=1.0, lease=2, extra=("--concurrency", "1"))
    coordinator = cluster.coordinator(lease=2)
    victim = "m1"
    consumer = f"{victim}:{victim}-client1"

    groups = len(cluster.channel.groups())

    def victim_mid_group() -> bool:
        # Best: kill while an album is part done (some files saved, the others arriving), so that
        # the thief fetches its saved files again. Failing that by 60% of the job, any held group.
        k = job_keys(cluster)
        if int(k.r.hget(k.progress, f"{consumer}:files") or 0) < 3:
            return False
        held = held_groups(k, consumer)
        if len(held) != 1:
            return False
        if k.r.scard(k.done) >= groups * 0.6:
            return True
        ids = set(held[0]["message_ids"])
        saved = {r.message_id for r in state_db_rows(cluster, victim)} & ids
        return held[0]["album_id"] is not None and bool(saved) and saved != ids

    cluster.wait_until("the victim to hold a group after its first files", victim_mid_group)
    workers[victim].kill()  # SIGKILL by pid
    held = held_groups(job_keys(cluster), consumer)
    assert len(held) == 1, f"the victim should have died holding one group: {held}"
    lost_ids = set(held[0]["message_ids"])

    survivors = [m for m in MACHINES if m != victim]
    cluster.finish([coordinator, *(workers[m] for m in survivors)])

    kept = [row for m in survivors for row in report_rows(cluster, m)]
    dead = state_db_rows(cluster, victim)
    assert len(dead) >= 3
    # Exactly once among the survivors, and once in all but the group the victim died holding
    # (files of it that it finished before the kill were fetched again by the thief).
    assert not [m for m, n in Counter(r.message_id for r in kept).items() if n > 1]
    again = {r.message_id for r in dead} & {r.message_id for r in kept}
    assert again <= lost_ids, f"files of completed groups downloaded twice: {sorted(again - lost_ids)}"
    check_exactly_once(cluster, kept + [r for r in dead if r.message_id not in again])
    check_bytes(cluster, kept + dead)
    k = check_redis_done(cluster)
    group_of = cluster.channel.media()
    stolen_group = group_of[min(lost_ids)]
    assert stolen_group in {group_of[r.message_id] for r in kept}  # a survivor finished the lost group
    progress = k.r.hgetall(k.progress)
    assert sum(int(v) for f, v in progress.items() if f.endswith(":steals")) >= 1


# -- 3. Redis restarted mid-job -------------------------------------------------------------------------------


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_job_completes_across_a_redis_restart(cluster: Cluster, crash: bool):
    workers = cluster.workers(bandwidth=2.0, lease=5)
    coordinator = cluster.coordinator(lease=5)
    groups = len(cluster.channel.groups())
    cluster.wait_until("a fifth of the groups done", lambda: done_count(cluster) >= groups // 5)
    before = done_count(cluster)
    pid = cluster.server.pid
    cluster.server.restart(crash=crash)  # same port and dir; AOF (appendfsync always) replays
    assert cluster.server.pid != pid
    assert done_count(cluster) >= before  # nothing acknowledged was lost
    assert done_count(cluster) < groups, "the job ended before the restart: make it longer"
    cluster.finish([coordinator, *workers.values()])

    rows = [row for m in MACHINES for row in report_rows(cluster, m)]
    check_exactly_once(cluster, rows)
    check_bytes(cluster, rows)
    check_albums_whole(cluster, rows)
    check_redis_done(cluster)


# -- 4. coordinator restarted mid-job -----------------------------------------------------------------------------


def test_restarted_coordinator_enqueues_nothing_twice(cluster: Cluster):
    workers = cluster.workers(bandwidth=2.0)
    first = cluster.coordinator()
    groups = len(cluster.channel.groups())
    cluster.wait_until("a fifth of the groups done", lambda: done_count(cluster) >= groups // 5)
    first.kill()  # SIGKILL by pid, mid-job
    assert first.popen.returncode == -signal.SIGKILL
    k = job_keys(cluster)
    assert k.r.hget(k.meta, "state") == "running"
    assert k.r.scard(k.enqueued) == groups
    assert done_count(cluster) < groups, "the job ended before the kill: make it longer"

    second = cluster.coordinator()
    cluster.finish([second, *workers.values()])
    out = second.output()
    assert "already planned (running)" in out
    assert "0 enqueued by this run" in out
    assert f"{groups}/{groups} groups done, 0 failed" in out
    rows = [row for m in MACHINES for row in report_rows(cluster, m)]
    check_exactly_once(cluster, rows)
    check_bytes(cluster, rows)
    check_albums_whole(cluster, rows)
    check_redis_done(cluster)  # enqueued == groups and sum of XLEN == groups: no group added twice


# -- 5. security --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["coordinator", "worker"])
def test_remote_redis_without_password_is_refused_before_connecting(tmp_path: Path, command: str):
    # check_redis_url runs on the URL in redis_for(), before any client or socket exists; the
    # address is in TEST-NET-1 (RFC 5737): even a connection attempt would go nowhere.
    url = "redis://192.0.2.1:6379/0"
    args = [sys.executable, "-m", "tgfetch", command, "--redis", url, *Channel(messages=20).flags(), "--quiet",
            *(["--dest", str(tmp_path / "d")] if command == "worker" else [])]
    started = time.monotonic()
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done
    assert time.monotonic() - started < 20
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--insecure" in lines[0] and "192.0.2.1" in lines[0] and "password" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "d").exists()  # refused before anything else


def test_no_pickle_anywhere_in_the_package():
    import tgfetch

    root = Path(tgfetch.__file__).parent
    banned = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "jsonpickle"}
    found = []
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in banned]
        if re.search(r"__import__\(\s*['\"](c?pickle|dill|marshal)", text) or "import_module(\"pickle" in text:
            found.append(f"{path.relative_to(root)}: dynamic import")
    assert not found


STRING_SESSION = re.compile(r"1[A-Za-z0-9_\-+/=]{200,}")


def _fake_string_session() -> str:
    """A StringSession-shaped secret (version 1, DC 2, 127.0.0.1:443, a random 256-byte auth key)."""
    import struct

    packed = struct.pack(">B4sH256s", 2, bytes([127, 0, 0, 1]), 443, secrets.token_bytes(256))
    return "1" + base64.urlsafe_b64encode(packed).decode()


def _redis_texts(r: redis.Redis) -> Iterator[tuple[str, str]]:
    """Every key and every stored text (strings, hash fields and values, members, stream fields)."""
    for key in r.scan_iter(count=1000):
        yield key, key
        kind = r.type(key)
        if kind == "string":
            yield key, r.get(key) or ""
        elif kind == "hash":
            for f, v in r.hgetall(key).items():
                yield key, f
                yield key, v
        elif kind in ("set", "zset"):
            members = r.smembers(key) if kind == "set" else r.zrange(key, 0, -1)
            for m in members:
                yield key, m
        elif kind == "list":
            for v in r.lrange(key, 0, -1):
                yield key, v
        elif kind == "stream":
            for entry_id, fields in r.xrange(key):
                yield key, entry_id
                for f, v in fields.items():
                    yield key, f
                    yield key, v
            for group in r.xinfo_groups(key):
                yield key, group["name"]
                for consumer in r.xinfo_consumers(key, group["name"]):
                    yield key, consumer["name"]
        else:
            raise AssertionError(f"unexpected Redis type {kind} of {key}")


@pytest.mark.usefixtures("need_redis")
def test_secrets_never_reach_redis_or_the_output(tmp_path: Path):
    password = "pw-" + secrets.token_urlsafe(24)
    server = RedisServer.start(tmp_path / "redis", password=password)
    c = Cluster(tmp_path / "job", server, Channel(messages=150))
    c.root.mkdir()
    session, api_hash = _fake_string_session(), secrets.token_hex(16)
    assert STRING_SESSION.fullmatch(session)
    # Secrets in the environment of every process: --simulate does not use them, but they are loaded
    # into Settings (and registered with the log redaction); nothing may copy them to Redis.
    c.env = {"TG_API_ID": "12345", "TG_API_HASH": api_hash, "TG_SESSION_STRINGS": session}
    try:
        workers = c.workers(bandwidth=4.0)
        coordinator = c.coordinator()
        c.finish([coordinator, *workers.values()])
        check_redis_done(c)
        sim_sessions = [c.channel.sim.client(f"{m}-client1").session.save() for m in MACHINES]
        needles = [s for s in [session, api_hash, password, *sim_sessions] if len(s) >= 16]
        assert needles[:3] == [session, api_hash, password]
        texts = list(_redis_texts(c.redis()))
        assert len(texts) > 100
        for key, text in texts:
            assert len(text) <= 2000, (key, text[:100])
            assert not STRING_SESSION.search(text), (key, text[:100])
            for secret in needles:
                assert secret not in text, key
        for p in c.procs:
            out = p.output()
            assert password not in out and session not in out and api_hash not in out, p.name
            assert "redis://:***@127.0.0.1" in out, p.name  # the URL is shown redacted
    finally:
        c.kill_all()
        server.stop()
