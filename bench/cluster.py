"""Multi-machine mode: 1 vs 2 vs 4 worker processes on one Redis, network-bound.

Each run starts its own redis-server (127.0.0.1, free port, temp dir), n worker
processes (`tgfetch worker --simulate --sim-clients 1`, one simulated account
each, throttled to --bandwidth MB/s so the network and not the CPU is the
bottleneck) and one coordinator, all real processes as a user would run them.
The bench polls Redis to time the job from "every group enqueued" (meta state
running) to "every group done", and reads INFO commandstats before and after.

Reported per run: throughput (downloaded MB / that window), scaling efficiency
throughput_n / (n x throughput_1) (target >= 0.8), and Redis operations per
group: every command the cluster ran (commands inside Lua scripts included, the
bench's own polling excluded) / groups; "scripts" is EVALSHA+EVAL calls alone.

    python bench/cluster.py            # 600 messages (about 52 MB: ~26 s with 1 worker)
    python bench/cluster.py --quick    # 300 messages (about 25 MB: ~12 s with 1 worker)

Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tgfetch.cluster.redis_server import RedisServer  # noqa: E402

TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Row:
    workers: int
    groups: int
    mbytes: float
    window_s: float
    wall_s: float
    ops: int
    scripts: int
    steals: int
    top: str

    @property
    def mbps(self) -> float:
        return self.mbytes / self.window_s


class Poller:
    """Reads the job's progress from Redis and counts its own commands (to leave them out)."""

    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.calls: Counter[str] = Counter()  # the bench's own commands, by name
        self.prefix: str | None = None

    def find_job(self) -> bool:
        self.calls["scan"] += 1
        metas = list(self.r.scan_iter("tgfetch:*:meta", count=1000))  # one SCAN call: few keys
        if metas:
            self.prefix = metas[0].removesuffix("meta")
        return self.prefix is not None

    def state(self) -> tuple[str | None, int, int]:
        assert self.prefix is not None
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(self.prefix + "meta", "state")
        pipe.scard(self.prefix + "enqueued")
        pipe.scard(self.prefix + "done")
        state, enqueued, done = pipe.execute()
        self.calls.update(hget=1, scard=2)
        return state, int(enqueued), int(done)

    def commandstats(self) -> dict[str, int]:
        self.calls["info"] += 1
        stats = self.r.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def _spawn(args: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "tgfetch", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def run(n: int, sim: list[str], bandwidth: float, tmp: Path) -> Row:
    """One job with n worker processes; every process is stopped by its pid before returning."""
    server = RedisServer.start(tmp / "redis")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        poll = Poller(server.url)
        before = poll.commandstats()
        started = time.monotonic()
        for i in range(n):
            m = f"w{i + 1}"
            procs.append(_spawn(["worker", "--redis", server.url, "--machine", m, *sim,
                                 "--sim-bandwidth", str(bandwidth), "--quiet", "--dest", str(tmp / m)],
                                tmp / f"{m}.log", tmp))
        coordinator = _spawn(["coordinator", "--redis", server.url, *sim, "--quiet", "--expect-accounts", str(n),
                              "--dest", str(tmp / "coordinator")], tmp / "coordinator.log", tmp)
        procs.append(coordinator)
        t_enqueued = t_done = None
        deadline = time.monotonic() + TIMEOUT_S
        while t_done is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} workers: job not done within {TIMEOUT_S}s")
            failed = [(p.pid, p.returncode) for p in procs if p.poll() not in (None, 0)]
            if failed:
                raise RuntimeError(f"processes failed {failed}; logs in {tmp}")
            if poll.prefix is not None or poll.find_job():
                state, enqueued, done = poll.state()
                now = time.monotonic()
                if t_enqueued is None and state in ("running", "done"):
                    t_enqueued = now
                if t_enqueued is not None and enqueued and done >= enqueued:
                    t_done = now
            time.sleep(0.02)
        for p in procs:
            code = p.wait(60)
            if code != 0:
                raise RuntimeError(f"process {p.pid} exited with {code}; logs in {tmp}")
        wall = time.monotonic() - started
        after = poll.commandstats()
        assert poll.prefix is not None and t_enqueued is not None
        # An INFO call is counted after it answers: "before" shows in "after", "after" does not.
        poll.calls["info"] -= 1
        delta = {k: v - before.get(k, 0) - poll.calls.get(k, 0) for k, v in after.items()}
        delta = {k: v for k, v in delta.items() if v}
        ops = sum(delta.values())
        groups = int(poll.r.scard(poll.prefix + "done"))
        progress = poll.r.hgetall(poll.prefix + "progress")
        nbytes = sum(int(v) for k, v in progress.items() if k.endswith(":bytes"))
        steals = sum(int(v) for k, v in progress.items() if k.endswith(":steals"))
        top = ", ".join(f"{k} {v / groups:.1f}" for k, v in sorted(delta.items(), key=lambda kv: -kv[1])[:5])
        scripts = delta.get("evalsha", 0) + delta.get("eval", 0)
        poll.r.close()
        return Row(n, groups, nbytes / 1e6, t_done - t_enqueued, wall, ops, scripts, steals, top)
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 messages instead of 600")
    ap.add_argument("--workers", default="1,2,4", help="worker counts to run (default 1,2,4)")
    ap.add_argument("--bandwidth", type=float, default=2.0, help="MB/s per simulated account (default 2)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--scale", type=float, default=0.02, help="--sim-size-scale (default 0.02)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, downloads)")
    args = ap.parse_args()
    messages = 300 if args.quick else 600
    sim = ["--simulate", "--sim-seed", str(args.seed), "--sim-messages", str(messages),
           "--sim-size-scale", str(args.scale), "--sim-clients", "1"]
    counts = [int(x) for x in args.workers.split(",")]
    print(f"cluster bench: {messages} messages (seed {args.seed}, scale {args.scale}), "
          f"{args.bandwidth:g} MB/s per account, 1 account per worker process, {os.cpu_count()} CPUs")
    rows: list[Row] = []
    for n in counts:
        tmp = Path(tempfile.mkdtemp(prefix=f"tgfetch-bench-cluster-{n}-"))
        try:
            rows.append(run(n, sim, args.bandwidth, tmp))
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        r = rows[-1]
        print(f"  {n} worker(s): {r.mbytes:.1f} MB in {r.window_s:.1f} s ({r.wall_s:.1f} s with start-up)", flush=True)
    base = next((r for r in rows if r.workers == 1), None)
    print()
    head = (f"{'workers':>7} {'groups':>6} {'MB':>7} {'job s':>6} {'wall s':>6} {'MB/s':>6} {'ideal':>6} "
            f"{'effic.':>6} {'ops/grp':>7} {'scr/grp':>7} {'steals':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        eff = r.mbps / (r.workers * base.mbps) if base else float("nan")
        print(f"{r.workers:>7} {r.groups:>6} {r.mbytes:>7.1f} {r.window_s:>6.1f} {r.wall_s:>6.1f} {r.mbps:>6.2f} "
              f"{r.workers * args.bandwidth:>6.1f} {eff:>6.2f} {r.ops / r.groups:>7.1f} "
              f"{r.scripts / r.groups:>7.1f} {r.steals:>6}")
    print()
    print("job s: every group enqueued -> every group done; wall s: first process start -> last exit.")
    print("ops/grp: Redis commands per group (INFO commandstats, Lua-internal calls included, bench polling excluded);")
    print("scr/grp: script calls (EVALSHA) per group. Top commands per group:")
    for r in rows:
        print(f"  {r.workers} worker(s): {r.top}")
    if base:
        worst = min(r.mbps / (r.workers * base.mbps) for r in rows)
        print(f"\nscaling efficiency (throughput_n / (n x throughput_1)): worst {worst:.2f} "
              f"({'meets' if worst >= 0.8 else 'misses'} the 0.8 target)")


if __name__ == "__main__":
    main()
