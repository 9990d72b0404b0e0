"""Download throughput of the whole pipeline against a plain write of the same bytes.

Runs `download_channel` (real Telethon client, the simulator's AES-IGE payload
encryption through cryptg on both sides, SHA-256, `.part` + fsync + rename,
SQLite state) on an unthrottled simulated channel with 1 and 3 clients, and
compares its MB/s with a dd-style write of the same file sizes to the same disk
(1 MiB blocks, fsync per file).  Then downloads one ~2 GB file and checks that
peak RSS does not depend on the file size.

    python bench/throughput.py            # ~1-2 minutes
    python bench/throughput.py --quick    # a few seconds

Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tgfetch.config import load_settings
from tgfetch.job import JobReport, download_channel
from tgfetch.telegram.simulator import SimulatedTelegram

MiB = 1 << 20
RSS_BUDGET = 64 * MiB
TARGET_RATIO = 0.5


@dataclass
class Row:
    """One measured line of the table."""

    name: str
    files: int
    nbytes: int
    seconds: float
    cpu: float

    @property
    def mbps(self) -> float:
        return self.nbytes / MiB / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.nbytes / (1 << 30)) if self.nbytes else 0.0


def peak_rss() -> int:
    """Peak resident set size of this process so far (VmHWM), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def run_download(sim: SimulatedTelegram, names: list[str], dest: Path,
                       first: int | None = None, last: int | None = None) -> JobReport:
    """One whole download job with fresh clients."""
    settings = load_settings(env_file=None, download_dir=dest, log_level="WARNING")
    clients = {n: sim.client(n) for n in names}
    try:
        return await download_channel(clients, sim.channel_username, first or sim.first_id, last, dest, settings)
    finally:
        for c in clients.values():
            await c.disconnect()


def timed_download(sim: SimulatedTelegram, names: list[str], dest: Path, label: str,
                   first: int | None = None, last: int | None = None) -> tuple[Row, JobReport]:
    """Run a download job and measure wall and CPU time."""
    shutil.rmtree(dest, ignore_errors=True)
    c0, t0 = time.process_time(), time.perf_counter()
    report = asyncio.run(run_download(sim, names, dest, first, last))
    t1, c1 = time.perf_counter(), time.process_time()
    if not report.ok:
        raise SystemExit(f"{label}: {len(report.failures)} files failed")
    nbytes = sum(f.size for f in report.downloaded if f.linked_from is None)
    return Row(label, len(report.downloaded), nbytes, t1 - t0, c1 - c0), report


def raw_write(sizes: list[int], dest: Path) -> Row:
    """dd-style: write the same file sizes in 1 MiB blocks, fsync each file."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    block = os.urandom(MiB)
    c0, t0 = time.process_time(), time.perf_counter()
    for i, size in enumerate(sizes):
        with open(dest / f"{i}.bin", "wb") as f:
            left = size
            while left > 0:
                n = min(left, MiB)
                f.write(block[:n] if n < MiB else block)
                left -= n
            f.flush()
            os.fsync(f.fileno())
    t1, c1 = time.perf_counter(), time.process_time()
    shutil.rmtree(dest, ignore_errors=True)
    return Row("raw write (1 MiB blocks, fsync/file)", len(sizes), sum(sizes), t1 - t0, c1 - c0)


def print_table(rows: list[Row], raw: Row | None) -> None:
    print(f"{'run':<40} {'files':>6} {'MiB':>9} {'s':>7} {'MiB/s':>8} {'CPU s/GiB':>10} {'vs raw':>7}")
    for r in [*rows, *([raw] if raw else [])]:
        ratio = r.mbps / raw.mbps if raw and raw.mbps else float("nan")
        print(f"{r.name:<40} {r.files:>6} {r.nbytes / MiB:>9.1f} {r.seconds:>7.2f} {r.mbps:>8.1f} "
              f"{r.cpu_per_gb:>10.2f} {ratio:>7.2f}")


def big_file(work: Path, quick: bool) -> None:
    """Download one ~2 GB file (or 256 MiB with --quick); report the peak RSS increase."""
    # seed 24, 200 messages: message 41 is a 2 GiB document (the simulator's size cap).
    cap = 256 * MiB if quick else None
    sim = SimulatedTelegram(seed=24, messages=200, first_id=1, size_scale=1.0, max_file_size=cap)
    msg = max(sim.media_messages(), key=lambda m: m.size)
    dest = work / "big"
    # Warm up every code path on a small file first so that imports and caches are not counted.
    small = min((m for m in sim.media_messages() if m.size > MiB), key=lambda m: m.size)
    timed_download(sim, ["client1"], work / "warm", "warm-up", small.id, small.id)
    shutil.rmtree(work / "warm", ignore_errors=True)
    exact = reset_peak_rss()
    before = peak_rss()
    row, report = timed_download(sim, ["client1"], dest, f"one file of {msg.size / MiB:.0f} MiB, 1 client",
                                 msg.id, msg.id)
    after = peak_rss()
    rec = report.downloaded[0]
    ok = rec.sha256 == sim.file_sha256(msg.id)
    shutil.rmtree(dest, ignore_errors=True)
    grow = after - before
    print()
    print_table([row], None)
    note = "" if exact else " (VmHWM could not be reset: growth is measured against the earlier peak)"
    verdict = "OK" if grow <= RSS_BUDGET else "OVER BUDGET"
    print(f"peak RSS before {before / MiB:.1f} MiB, after {after / MiB:.1f} MiB: +{grow / MiB:.1f} MiB "
          f"(budget {RSS_BUDGET / MiB:.0f} MiB) -> {verdict}{note}; sha256 {'matches' if ok else 'DIFFERS'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir on /tmp)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("telethon").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="tgfetch-bench-", dir=args.dir))
    try:
        scale = 0.02 if args.quick else 0.12
        sim = SimulatedTelegram(seed=5, messages=600, first_id=1, size_scale=scale)
        print(f"channel: {len(sim.media_messages())} files, {sim.total_media_bytes() / MiB:.0f} MiB distinct, "
              f"simulator encrypt={sim.encrypt} (AES-IGE via cryptg both ways), unthrottled; disk: {work}")
        rows = []
        for names in (["client1"], ["client1", "client2", "client3"]):
            row, report = timed_download(sim, names, work / "dl", f"download_channel, {len(names)} client(s)")
            rows.append(row)
            shutil.rmtree(work / "dl", ignore_errors=True)
        sizes = sorted({m.doc_id: m.size for m in sim.media_messages()}.values())
        raw = raw_write(sizes, work / "raw")
        print_table(rows, raw)
        best = max(r.mbps for r in rows) / raw.mbps
        print(f"best pipeline / raw write = {best:.2f} (target >= {TARGET_RATIO})")
        big_file(work, args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="tgfetch-bench-")  # a history of its own, never the user's
    sys.exit(main())
