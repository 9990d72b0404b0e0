"""What choosing costs: `select` with a FILTER over a 200,000-message channel, next to grouping and planning.

    python bench/selection.py            # 200,000 messages
    python bench/selection.py --quick    # 20,000 messages

The channel is the simulator's content (`generate_messages`, the same kinds, sizes, albums and
captions the offline Telegram serves), turned into `MessageInfo`s as the scan does, without
Telegram. Timed with `time.process_time` (CPU), best of `--repeat` runs:

- grouping: `MessageCollection.from_messages` (what the scan does after fetching);
- select: `select(groups, chat, selection)` with a 3-clause FILTER that keeps about 1 % of the messages;
- filter only: `Filter.matches` on records built beforehand, and building those records;
- plan: the default strategy planning the kept collection over 3 accounts, and the whole one.

Goals (issue 14): the filter's CPU under 20 µs per message; selection adding at most 10 % to
the time to get to a plan. Prints what it measures; not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tgfetch.config import Settings  # noqa: E402
from tgfetch.distribution import TaskDistributor  # noqa: E402
from tgfetch.model import MessageCollection  # noqa: E402
from tgfetch.selection import Selection, SelectionResult, compile_filter, records_for, select  # noqa: E402
from tgfetch.telegram.simulator.content import generate_messages, to_message_info  # noqa: E402

FILTER = 'media_type == "video" and size > 25MB and re(caption, "(?i)^post")'
# The same three kinds of clause, none short-circuiting on a message with a file: the worst case per record.
FILTER_FULL = 'media_type != "sticker" and size > 0 and re(caption, "(?i)^post")'
RPC_SECONDS = 0.05  # bench/scan.py's simulated round trip
ACCOUNTS = ["a1", "a2", "a3"]


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the smallest CPU time of `repeat` runs and the last result."""
    times = []
    out = None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return min(times), out


def plan_seconds(coll: MessageCollection, repeat: int) -> float:
    """CPU seconds of the default strategy planning `coll` over the accounts."""
    settings = Settings(_env_file=None, auto_strategy_recommendation=False)  # type: ignore[call-arg]
    dist = TaskDistributor(settings)
    seconds, _ = best(lambda: asyncio.run(dist.distribute(coll, ACCOUNTS)), repeat)
    return seconds


@dataclass
class Figures:
    """What one run measured (CPU seconds)."""

    ids: int
    coll: MessageCollection
    result: SelectionResult
    hits: int
    files: int
    t: dict[str, float] = field(default_factory=dict)


def measure(n: int, repeat: int) -> Figures:
    """Build the channel; time grouping, select, records, the filter alone and the plans."""
    msgs = [i for i in map(to_message_info, generate_messages(1, n, 1, 1.0, None)) if i is not None]
    t: dict[str, float] = {}
    t["group"], coll = best(lambda: MessageCollection.from_messages(msgs), repeat)
    selection = Selection.from_values(filter=FILTER)
    t["select"], result = best(lambda: select(coll.groups, "bench", selection), repeat)
    t["records"], records = best(lambda: [r for g in coll.groups for r in records_for(g, "bench")], repeat)
    flt, full = compile_filter(FILTER), compile_filter(FILTER_FULL)
    t["filter"], hits = best(lambda: sum(map(flt.matches, records)), repeat)
    files = [r for r in records if r.media_type is not None]
    t["full"], _ = best(lambda: sum(map(full.matches, files)), repeat)
    t["plan_kept"] = plan_seconds(result.collection, repeat)
    t["plan_all"] = plan_seconds(coll, 1)
    return Figures(n, coll, result, hits, len(files), t)


def report(f: Figures) -> None:
    """Print the figures."""
    coll, kept, t = f.coll, f.result.collection, f.t
    count = coll.total_messages
    us = 1e6 / count
    print(f"channel: {count:,} messages ({f.ids:,} ids), {coll.total_files:,} files, {len(coll):,} groups")
    print(f"FILTER: {FILTER}")
    print(f"kept: {kept.total_messages:,} messages ({kept.total_messages / count:.2%}), {kept.total_files:,} files, "
          f"{kept.total_size / 1e9:.2f} GB of {coll.total_size / 1e9:.2f} GB; matching: {f.hits:,}")  # fmt: skip
    print("dropped: " + ", ".join(f"{r} {d.messages:,}" for r, d in f.result.dropped.items() if d.messages))
    print(f"\n{'step':<36}{'CPU s':>10}{'µs/message':>14}")
    rows = [
        ("grouping (from_messages)", t["group"], us),
        ("select (criteria + FILTER)", t["select"], us),
        ("  records only (records_for)", t["records"], us),
        ("  FILTER only (Filter.matches)", t["filter"], us),
        ("  FILTER, every clause run (files)", t["full"], 1e6 / f.files),
        ("plan of the kept set (3 accounts)", t["plan_kept"], us),
        ("plan of the whole channel", t["plan_all"], us),
    ]
    for name, sec, per in rows:
        print(f"{name:<36}{sec:>10.3f}{sec * per:>14.2f}")
    base = t["group"] + t["plan_kept"]
    scan = f.ids / 200 * RPC_SECONDS / len(ACCOUNTS)
    print(f"\nFILTER per message: {t['filter'] * us:.2f} µs as written, {t['full'] * 1e6 / f.files:.2f} µs with every "
          f"clause run (goal < 20); select per message: {t['select'] * us:.2f} µs")  # fmt: skip
    print(f"select / grouping alone: {t['select'] / t['group']:.2f}x; select adds {t['select'] / base:.0%} "
          f"to grouping + plan of the kept set ({base:.3f} s)")  # fmt: skip
    print(f"to a plan, CPU: without selection (group + plan all) {t['group'] + t['plan_all']:.3f} s; "
          f"with selection (group + select + plan kept) {base + t['select']:.3f} s")  # fmt: skip
    print(f"the scan needs >= {f.ids // 200:,} getMessages calls: >= {scan:.1f} s at {RPC_SECONDS * 1000:.0f} ms "
          f"per call over {len(ACCOUNTS)} accounts (estimate); select is {t['select'] / scan:.1%} of that")  # fmt: skip


def main() -> None:
    """Parse the arguments, measure, print."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 messages")
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    report(measure(20_000 if args.quick else args.messages, args.repeat))


if __name__ == "__main__":
    main()
