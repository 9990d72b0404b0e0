"""Makespan of a whole download against the ideal bound, with accounts of unequal speed.

One run, side by side, on the built-in simulated channel (real Telethon path):
  (a) range_based, static (no stealing, no backups)
  (b) media_group_aware, static (no stealing, no backups)
  (c) tgfetch's default: plan + stealing + end-game backups
each divided by the ideal lower bound
    LB = max(total bytes / sum of bandwidths, largest group / fastest bandwidth).
The planner is not told the bandwidths.  A third scenario adds random flood-waits.
Also reported: extra getMessages calls that stealing cost, against the scan's calls.

    python bench/makespan.py            # full: 3 and 10 accounts, with and without flood-waits
    python bench/makespan.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgfetch.config import load_settings  # noqa: E402
from tgfetch.job import download_channel  # noqa: E402
from tgfetch.telegram.clients import close_clients  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    bandwidths: tuple[float, ...]  # bytes/s per account
    faults: str | None


@dataclass(frozen=True)
class Variant:
    name: str
    mode: str
    stealing: bool


VARIANTS = (
    Variant("(a) range_based static", "range_based", False),
    Variant("(b) media_group_aware static", "media_group_aware", False),
    Variant("(c) tgfetch default", "media_group_aware", True),
)


def lognormal_bandwidths(n: int, seed: int, base: float) -> tuple[float, ...]:
    """Account speeds a few times apart (lognormal), as real accounts are."""
    rng = random.Random(seed)
    return tuple(base * math.exp(rng.gauss(0, 0.6)) for _ in range(n))


def ideal(sim: SimulatedTelegram, bws: tuple[float, ...]) -> float:
    """max(total / sum(bw), largest group / fastest bw), counting each document once."""
    groups: dict[object, int] = {}
    seen: set[int] = set()
    for m in sim.media_messages():
        if m.doc_id in seen:
            continue
        seen.add(m.doc_id or -m.id)
        key = m.grouped_id if m.grouped_id is not None else ("m", m.id)
        groups[key] = groups.get(key, 0) + m.size
    total = sum(groups.values())
    return max(total / sum(bws), max(groups.values()) / max(bws))


async def run_one(sim_args: dict[str, object], sc: Scenario, v: Variant, dest: Path) -> tuple[float, int, int]:
    sim = SimulatedTelegram(**sim_args, faults=sc.faults)  # type: ignore[arg-type]
    clients = {f"client{i + 1}": sim.client(f"client{i + 1}", bandwidth=bw) for i, bw in enumerate(sc.bandwidths)}
    settings = load_settings(env_file=None, download_dir=dest, task_distribution_mode=v.mode,
                             log_level="ERROR", flood_wait_handoff_seconds=60)
    try:
        rep = await download_channel(clients, sim.channel_username, sim.first_id, None, dest, settings,
                                     stealing=v.stealing, backups=v.stealing)
    finally:
        await close_clients(clients)
    assert rep.ok and len(rep.files) == len(sim.media_messages()), "incomplete download"
    refetch = sum(c["steal_calls"] for c in rep.clients.values())
    return rep.stage_seconds.get("download", rep.elapsed_s), refetch, rep.scan.range_calls


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--scale", type=float, default=0.1)
    a = ap.parse_args()
    messages = 1000 if a.quick else a.messages
    sim_args: dict[str, object] = {"seed": 11, "messages": messages, "first_id": 1, "size_scale": a.scale}
    flood = "flood:GetFileRequest:rate=0.01:seconds=1"  # ~30 % of the accounts' time lost to waits
    rare = "flood:GetFileRequest:rate=0.002:seconds=1"  # ~6 %
    scenarios = [Scenario("3 accounts", lognormal_bandwidths(3, 1, 8e6), None)]
    if not a.quick:
        scenarios += [Scenario("10 accounts", lognormal_bandwidths(10, 2, 3e6), None),
                      Scenario("3 accounts + flood-waits", lognormal_bandwidths(3, 1, 8e6), flood),
                      Scenario("3 accounts + rare flood-waits", lognormal_bandwidths(3, 1, 8e6), rare)]
    probe = SimulatedTelegram(**sim_args)  # type: ignore[arg-type]
    total = sum(m.size for m in probe.media_messages())
    print(f"channel: {messages} messages, {len(probe.media_messages())} files, {total / 1e6:.1f} MB")
    print(f"{'scenario':26} {'variant':30} {'makespan s':>10} {'ideal s':>8} {'ratio':>7} "
          f"{'steal calls':>11} {'scan calls':>10}")
    for sc in scenarios:
        lb = ideal(probe, sc.bandwidths)
        bw = ", ".join(f"{b / 1e6:.1f}" for b in sc.bandwidths)
        print(f"-- {sc.name}: bandwidths MB/s [{bw}]")
        for v in VARIANTS:
            dest = Path(tempfile.mkdtemp(prefix="tgfetch-makespan-"))
            try:
                t, refetch, scan_calls = await run_one(sim_args, sc, v, dest)
            finally:
                shutil.rmtree(dest, ignore_errors=True)
            print(f"{sc.name:26} {v.name:30} {t:10.2f} {lb:8.2f} {t / lb:7.3f} {refetch:11d} {scan_calls:10d}")


if __name__ == "__main__":
    t0 = time.time()
    asyncio.run(main())
    print(f"bench time {time.time() - t0:.0f}s")
