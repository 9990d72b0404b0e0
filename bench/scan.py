"""Scan throughput with 1, 3 and 10 accounts against the simulator at 50 ms per RPC.

    python bench/scan.py            # 20,000-message channel
    python bench/scan.py --quick    # 5,000 messages

Real Telethon clients, real TL serialization and encryption; only the network is
simulated (`SimulatedTelegram(latency=0.05, jitter=0.1)`: 50 ms per RPC, each round
trip drawn uniformly from 45-55 ms). Prints messages scanned per second and RPCs
per 1,000 messages for each account count, then the speed-up ratios (target:
3 accounts >= 2.5x one account). Not part of the test run.

Why the jitter: the simulator runs on the client's event loop, and Telethon
parses each answer there (as its receive loop does on a real connection).  With
round trips identical to the microsecond, the accounts' answers land in the same
loop iteration every time and stay in lock-step, each waiting for the others'
parsing (`--jitter 0` shows it: 2.2-2.5x).  Real networks never answer that
evenly; 10 % is a quiet connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tgfetch.config import load_settings  # noqa: E402
from tgfetch.telegram.clients import close_clients, open_accounts  # noqa: E402
from tgfetch.telegram.scan import scan_accounts  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402

GM = "GetMessagesRequest"


@dataclass
class Row:
    clients: int
    messages: int
    seconds: float
    cpu: float
    scan_calls: int
    scan_rpcs: int
    open_rpcs: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def per_1000(self, n: int) -> float:
        return n * 1000 / self.messages


async def run(clients_n: int, messages: int, latency: float, batch: int, jitter: float = 0.1) -> Row:
    """Open `clients_n` accounts, then time one scan of the whole channel."""
    sim = SimulatedTelegram(seed=1, messages=messages, latency=latency, jitter=jitter, size_scale=0.001)
    settings = load_settings(env_file=None, grouping_batch_size=batch, log_level="WARNING")
    names = [f"c{i + 1}" for i in range(clients_n)]
    clients = {n: sim.client(n) for n in names}
    try:
        accounts, ref, top = await open_accounts(clients, sim.channel_username, settings)
        opened = sum(sum(sim.rpc_counts(n).values()) for n in names)
        t0, c0 = time.perf_counter(), time.process_time()
        res = await scan_accounts(accounts, ref, 1, top, settings, top)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await close_clients(clients)
    total = sum(sum(sim.rpc_counts(n).values()) for n in names)
    wire_gm = sum(sim.rpc_counts(n)[GM] for n in names)
    assert wire_gm == res.range_calls + res.edge_calls, "scan counters disagree with the server"
    assert len({m.message_id for m in res.messages}) == len(res.messages)
    return Row(clients_n, top, elapsed, cpu, wire_gm, total - opened, opened)


def bound(r: Row, latency: float) -> float:
    """Shortest possible scan time for this row on one event loop."""
    per_call_cpu = r.cpu / r.scan_calls
    per_client = -(-r.scan_calls // r.clients)
    return max(per_client * (latency + per_call_cpu), r.cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5,000 messages instead of 20,000")
    ap.add_argument("--messages", type=int, help="channel size (overrides --quick)")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per simulated RPC (default 0.05)")
    ap.add_argument("--jitter", type=float, default=0.1,
                    help="round-trip spread, a fraction of the latency (default 0.1)")
    ap.add_argument("--batch", type=int, default=200, help="GROUPING_BATCH_SIZE (default 200)")
    ap.add_argument("--clients", default="1,3,10", help="account counts to compare (default 1,3,10)")
    args = ap.parse_args()
    messages = args.messages or (5_000 if args.quick else 20_000)
    counts = [int(x) for x in args.clients.split(",")]

    print(f"scan benchmark: {messages:,} messages, {args.latency * 1000:.0f} ms per RPC "
          f"(±{args.jitter * 100:.0f} %), "
          f"batch {args.batch}, real Telethon against the simulator")
    rows = [asyncio.run(run(n, messages, args.latency, args.batch, args.jitter)) for n in counts]

    head = f"{'clients':>7}  {'seconds':>8}  {'cpu s':>6}  {'msgs/s':>9}  {'getMessages':>11}  " \
           f"{'scan RPC/1k msgs':>16}  {'open RPCs':>9}  {'speed-up':>8}  {'bound':>6}"
    print(head)
    print("-" * len(head))
    base = rows[0]
    for r in rows:
        print(f"{r.clients:>7}  {r.seconds:>8.2f}  {r.cpu:>6.2f}  {r.rate:>9,.0f}  {r.scan_calls:>11}  "
              f"{r.per_1000(r.scan_rpcs):>16.2f}  {r.open_rpcs:>9}  {r.rate / base.rate:>7.2f}x  "
              f"{base.seconds / bound(r, args.latency):>5.2f}x")
    by_n = {r.clients: r for r in rows}
    if 1 in by_n:
        one = by_n[1].rate
        for n, target in ((3, 2.5), (10, None)):
            if n in by_n:
                ratio = by_n[n].rate / one
                verdict = "" if target is None else ("  (target >= 2.5x: " + ("met" if ratio >= target
                                                                             else "NOT met") + ")")
                print(f"ratio {n} clients / 1 client: {ratio:.2f}x{verdict}")
    print("bound: the best speed-up one process can reach, given the measured CPU per call (simulator")
    print("server + Telethon parsing + tgfetch run on one event loop): max(calls per client x (latency + cpu")
    print("per call), total cpu). Real Telegram does the server half elsewhere.")
    print(f"load average while running: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    same = len({r.scan_calls for r in rows}) == 1
    print(f"getMessages calls independent of the number of clients: {'yes' if same else 'NO'} "
          f"({', '.join(str(r.scan_calls) for r in rows)})")


if __name__ == "__main__":
    main()
