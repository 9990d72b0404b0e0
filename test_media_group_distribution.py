"""The seed document's test script: `python test_media_group_distribution.py`.

Scans the built-in simulated channel (the seed's example range 72006–72155) with
three accounts through the real Telethon client, plans it with every strategy,
prints the comparison, and checks the seed's promises: media_group_aware and
load_balanced keep every album on one client and assign every message exactly
once, and planning costs no extra API call.  Exit code 0 when every check holds.
"""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console

from tgfetch import TaskDistributor, comparison_table, load_settings, scan_channel
from tgfetch.telegram.clients import close_clients
from tgfetch.telegram.simulator import SimulatedTelegram


async def main() -> int:
    console = Console()
    sim = SimulatedTelegram(seed=24, messages=150, first_id=72006)
    clients = {f"client{i}": sim.client(f"client{i}") for i in (1, 2, 3)}
    settings = load_settings(env_file=None, log_level="WARNING")
    try:
        scan = await scan_channel(clients, sim.channel_username, sim.first_id, sim.last_id, settings)
    finally:
        await close_clients(clients)
    calls = sum(sim.rpc_counts(n)["GetMessagesRequest"] for n in clients)
    results = await TaskDistributor(settings).compare(scan.collection, list(clients))
    console.print(comparison_table(results))
    failures = []
    for r in results:
        ids = sorted(i for a in r.client_assignments for i in a.message_ids)
        if ids != sorted(m.message_id for m in scan.collection.messages):
            failures.append(f"{r.strategy}: messages not assigned exactly once")
        if r.strategy != "range_based" and r.metrics.albums_split:
            failures.append(f"{r.strategy}: split albums {r.metrics.albums_split}")
    after = sum(sim.rpc_counts(n)["GetMessagesRequest"] for n in clients)
    if after != calls:
        failures.append(f"planning made {after - calls} extra getMessages calls")
    albums = len(scan.collection.media_groups)
    console.print(f"{scan.collection.total_messages} messages, {albums} albums, {calls} getMessages calls "
                  f"for ids {scan.first_id}–{scan.last_id}")
    for f in failures:
        console.print(f"[red]FAIL[/red] {f}")
    if not failures:
        console.print("[green]OK[/green]: albums kept whole by media_group_aware and load_balanced, "
                      "every message assigned once, zero extra API calls")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
