"""CLI start-up time: `--help`, `--version`, `download --help` and a usage error.

    python bench/startup.py              # 15 runs of each command
    python bench/startup.py -n 30        # more runs
    python bench/startup.py --module     # `python -m tgfetch` instead of the console script
    python bench/startup.py --check      # exit 1 when a median misses the goal

Runs each command as a fresh subprocess through the installed console script
(`<venv>/bin/tgfetch`, the one next to this interpreter) or `python -m tgfetch`,
after one unmeasured warm-up run, and prints the median and minimum wall time
next to the goal (<= 0.15 s median), plus `python -c pass` as the interpreter's
own floor.  Then prints the five slowest imports of `tgfetch.cli` by cumulative
time from `python -X importtime`, and which heavy libraries it loads (none
should: they belong to the commands that run a job).  Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.15
COMMANDS: list[tuple[list[str], int]] = [  # arguments, expected exit code
    (["--help"], 0),
    (["--version"], 0),
    (["download", "--help"], 0),
    (["--bogus"], 2),
]
HEAVY = ("pydantic", "pydantic_settings", "telethon", "numpy", "rich", "tgfetch.config", "tgfetch.app")


def entry_point(module: bool) -> list[str]:
    """Return the command prefix that starts tgfetch: the console script, or `python -m tgfetch`."""
    script = Path(sys.executable).parent / "tgfetch"
    if module or not script.exists():
        return [sys.executable, "-m", "tgfetch"]
    return [str(script)]


def time_runs(argv: list[str], runs: int, expect: int | None = None) -> list[float]:
    """Run argv once unmeasured (checking its exit code), then `runs` times; return the wall times."""
    first = subprocess.run(argv, capture_output=True, text=True)
    if expect is not None and first.returncode != expect:
        sys.exit(f"{' '.join(argv)}: exit {first.returncode}, expected {expect}\n{first.stderr}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def import_profile() -> list[tuple[int, int, str]]:
    """Return the imports under `import tgfetch.cli` as (self us, cumulative us, name), without start-up's."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tgfetch.cli"],
                         capture_output=True, text=True, check=True)
    rows = []  # in completion order: a module's own imports come right before it, indented deeper
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|")
        depth = len(name) - len(name.lstrip()) - 1
        rows.append((int(self_us), int(cum_us), name.strip(), depth))
    # The -c statement's import is the first top-level row named tgfetch*; the top-level rows
    # before it (site, the editable-install finder) are the interpreter's own start-up.
    start = next(i for i, r in enumerate(rows) if r[3] == 0 and r[2].startswith("tgfetch"))
    begin = max((i + 1 for i, r in enumerate(rows[:start]) if r[3] == 0), default=0)
    return [r[:3] for r in rows[begin:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=15, help="measured runs per command (default 15)")
    ap.add_argument("--module", action="store_true", help="run `python -m tgfetch` instead of the console script")
    ap.add_argument("--check", action="store_true", help="exit 1 when a median misses the goal")
    args = ap.parse_args()

    prefix = entry_point(args.module)
    print(f"entry point: {' '.join(prefix)}   runs: {args.runs} per command (+1 warm-up)   goal: <= {GOAL_S} s")
    floor = time_runs([sys.executable, "-c", "pass"], args.runs)
    print(f"{'python -c pass (floor)':<28} median {statistics.median(floor):.3f} s   min {min(floor):.3f} s")
    missed = []
    for cmd, expect in COMMANDS:
        times = time_runs([*prefix, *cmd], args.runs, expect)
        med = statistics.median(times)
        verdict = "ok" if med <= GOAL_S else "MISSED"
        if med > GOAL_S:
            missed.append(" ".join(cmd))
        print(f"{'tgfetch ' + ' '.join(cmd):<28} median {med:.3f} s   min {min(times):.3f} s   "
              f"goal <= {GOAL_S:.2f} s: {verdict}")

    rows = import_profile()
    loaded = {name for _, _, name in rows}
    total = max((cum for _, cum, name in rows if name == "tgfetch.cli"), default=0)
    print(f"\npython -X importtime -c 'import tgfetch.cli': {total / 1000:.1f} ms for tgfetch.cli; "
          "top 5 by cumulative time:")
    for self_us, cum_us, name in sorted(rows, key=lambda r: r[1], reverse=True)[:5]:
        print(f"  {cum_us / 1000:7.1f} ms cumulative  {self_us / 1000:6.1f} ms self  {name}")
    heavy = sorted(m for m in HEAVY if m in loaded)
    print(f"heavy modules loaded by `import tgfetch.cli`: {', '.join(heavy) if heavy else 'none'}")
    if args.check and (missed or heavy):
        sys.exit(f"missed the goal: {', '.join(missed) or 'none'}; heavy imports: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
