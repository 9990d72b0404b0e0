"""Command line: `tgfetch [download|watch|plan|compare|demo|login|accounts|topics|coordinator|worker|verify|dashboard]`.

Exit codes: 0 all done, 1 finished with failed files, 2 bad usage or
configuration, 3 Telegram authorization/access problem, 130 interrupted.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tgfetch.errors import EXIT_INTERRUPTED, EXIT_USAGE, TgfetchError
from tgfetch.model import DistributionMode, LoadBalanceMetric

if TYPE_CHECKING:
    from tgfetch.options import CommandOptions

# Only click and tgfetch.errors load at module level: `--help`, `--version` and usage
# errors must not pay for pydantic, Telethon or numpy (bench/startup.py measures it).
# Everything else is imported inside the command bodies.

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


class _Finite(click.FloatRange):
    """A float range that refuses nan and infinities (they would hang or poison a run)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        out = super().convert(value, param, ctx)
        if not math.isfinite(out):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return out


class _PathArg(click.Path):
    """A path as typed (a str: empty means the default), refusing what no file system takes."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail("a path cannot contain a NUL character", param, ctx)
        return super().convert(value, param, ctx)


def _parse_bandwidth(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[float, ...]:
    if not value:
        return ()
    try:
        out = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected MBPS[,MBPS...] (numbers, MB/s)") from None
    if any(not math.isfinite(v) or not 0.001 <= v <= 1e5 for v in out):
        raise click.BadParameter(f"{value!r}: every bandwidth must be a number from 0.001 to 100000 (MB/s)")
    return out


MAX_MESSAGE_ID = 2**31 - 1  # Telegram message ids are 32-bit
_MODES = ", ".join(DistributionMode.names())
_METRICS = ", ".join(LoadBalanceMetric.names())
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_COMMON: list[Callable[[F], F]] = [
    click.option("--env-file", type=_PathArg(), default=None,
                 help="The .env file to read (default: ./.env when it exists; a named file must exist)."),
    click.option("--log-level", type=click.Choice(_LEVELS, case_sensitive=False),
                 help="LOG_LEVEL (default INFO)."),
    click.option("--log-file", type=_PathArg(), help="LOG_FILE: also write the log to this file."),
]
_CHANNEL: list[Callable[[F], F]] = [
    click.option("--channel", multiple=True,
                 help="CHANNEL: @username, t.me/name, t.me/c/<id>, -100<id>, an id or an invite link "
                      "(repeat it for several chats; CHANNEL takes a comma list)."),
    click.option("--start", "start_message_id", type=int,
                 help="START_MESSAGE_ID: first message id (default 1)."),
    click.option("--end", "end_message_id", type=int,
                 help="END_MESSAGE_ID: last message id, inclusive (default: the newest)."),
    click.option("--sessions", "tg_sessions", help="TG_SESSIONS: comma-separated session names."),
    click.option("--proxy", help="PROXY: every account's proxy: socks5://[user:pass@]host:port, socks4://, http://, "
                                 "mtproxy://SECRET@host:port or a t.me/proxy link (TG_PROXIES: per account)."),
]
_SCAN: list[Callable[[F], F]] = [
    click.option("--batch-size", "grouping_batch_size", type=int,
                 help="GROUPING_BATCH_SIZE: message ids per getMessages call (1..200, default 200)."),
]
_SELECTION: list[Callable[[F], F]] = [
    click.option("--type", "media_types", metavar="TYPES",
                 help="MEDIA_TYPES: comma list of photo, video, audio, voice, document, animation, video_note, "
                      "sticker (default: all)."),
    click.option("--include-ext", help="INCLUDE_EXT: only these extensions (comma list, no dot)."),
    click.option("--exclude-ext", help="EXCLUDE_EXT: not these extensions (comma list, no dot)."),
    click.option("--min-size", "min_file_size", help="MIN_FILE_SIZE: bytes, or 10MB / 1.5GiB (KB/MB/GB: 1000s, "
                                                     "KiB/MiB/GiB: 1024s)."),
    click.option("--max-size", "max_file_size", help="MAX_FILE_SIZE: like --min-size."),
    click.option("--after", "date_from", help="DATE_FROM: ISO date or datetime (UTC unless it has a zone)."),
    click.option("--before", "date_to", help="DATE_TO: ISO date (the whole day counts) or datetime."),
    click.option("--filter", help='FILTER: an expression, e.g. media_type == "video" and size > 50MB (see README).'),
    click.option("--albums", type=click.Choice(("whole", "matching"), case_sensitive=False),
                 help="ALBUMS: when a filter keeps some members of an album, download the whole album "
                      "(default) or only those."),
    click.option("--topic", type=int, help="TOPIC: only this forum topic (its id; 1 = General; see 'tgfetch topics')."),
    click.option("--new-only", is_flag=True, default=None,
                 help="NEW_ONLY: only messages newer than what earlier runs of this job settled, per chat."),
    click.option("--comments", is_flag=True, default=None,
                 help="COMMENTS: also the media of the comments under each post "
                      "(in DOWNLOAD_DIR/<chat>/comments/<post>/)."),
]
# Message links name exactly what to fetch (they replace CHANNEL and the id range).
_LINKS: list[Callable[[F], F]] = [
    click.argument("links", nargs=-1, metavar="[LINK]..."),
]
_MODE: list[Callable[[F], F]] = [
    click.option("--mode", "task_distribution_mode", metavar="MODE",
                 help=f"TASK_DISTRIBUTION_MODE: {_MODES} (or a registered plugin's name)."),
]
_METRIC: list[Callable[[F], F]] = [
    click.option("--metric", "load_balance_metric", metavar="METRIC", help=f"LOAD_BALANCE_METRIC: {_METRICS}."),
]
_FILES: list[Callable[[F], F]] = [
    click.option("--dest", "download_dir", type=_PathArg(), help="DOWNLOAD_DIR (default ./downloads)."),
    click.option("--concurrency", "max_concurrent_downloads_per_client", type=int,
                 help="MAX_CONCURRENT_DOWNLOADS_PER_CLIENT: files in flight per account (1..64, default 3)."),
    click.option("--state-db", type=_PathArg(), help="STATE_DB: the job's SQLite state file."),
    click.option("--template", "file_name_template", help="FILE_NAME_TEMPLATE (see README)."),
]
_PROGRESS: list[Callable[[F], F]] = [
    click.option("--plain", "display", flag_value="plain", help="Plain line-by-line progress."),
    click.option("--quiet", "display", flag_value="quiet", help="No progress, only the summary."),
]
_QUIET: list[Callable[[F], F]] = [
    click.option("--quiet", "display", flag_value="quiet", help="No progress lines, only the summary."),
]
_REPORT: list[Callable[[F], F]] = [
    click.option("--report", type=_PathArg(), help="Write a JSON report to this path."),
]
_SIMULATION: list[Callable[[F], F]] = [
    click.option("--simulate", is_flag=True, envvar="SIMULATE",
                 help="Run on the built-in simulated Telegram channel (or SIMULATE=1)."),
    click.option("--sim-seed", type=click.IntRange(0, 2**63 - 1), default=24, show_default=True,
                 help="Simulated channel's seed."),
    click.option("--sim-messages", type=click.IntRange(1, 10_000_000), default=150, show_default=True,
                 help="Messages in the simulated channel."),
    click.option("--sim-first-id", type=click.IntRange(1, MAX_MESSAGE_ID), default=72006, show_default=True,
                 help="First message id of the simulated channel."),
    click.option("--sim-clients", type=click.IntRange(1, 64), default=3, show_default=True,
                 help="Simulated accounts."),
    click.option("--sim-bandwidth", callback=_parse_bandwidth,
                 help="Per-account bandwidth in MB/s, one value for all or one per account (e.g. 1,3,9)."),
    click.option("--sim-latency", type=_Finite(0, 60), default=0.0, show_default=True,
                 help="Seconds added to every simulated RPC (0..60)."),
    click.option("--sim-jitter", type=_Finite(0, 1, max_open=True), default=0.0, show_default=True,
                 help="Spread of each RPC's latency, a fraction of it (0.1 = +/-10 %)."),
    click.option("--sim-size-scale", type=_Finite(0, 100, min_open=True), default=0.02, show_default=True,
                 help="Scale of simulated file sizes (1.0 = realistic sizes)."),
    click.option("--sim-faults", help="Faults to inject, e.g. 'flood:*:rate=0.05:seconds=1' (see README)."),
    click.option("--sim-topics", type=click.IntRange(0, 1000), default=0, show_default=True,
                 help="Make the simulated chat a forum with this many topics (besides General)."),
    click.option("--sim-comments", is_flag=True, help="Give the simulated channel a discussion group with comments."),
    click.option("--sim-live", type=click.IntRange(0, 10_000), default=0, show_default=True,
                 help="The simulated channel keeps receiving posts: this many (singles, and albums member by "
                      "member), one every 0.3 s while the job runs."),
    click.option("--sim-channels", metavar="NAME[,NAME]",
                 help="More simulated channels, by username (for jobs of several chats)."),
    click.option("--sim-profile", metavar="NAME",
                 help="Shape the accounts' speeds over time: steady, drifting, daily, throttled or realistic "
                      "(per-DC speeds, time of day, drift, throttled spells; seeded)."),
]
# Flags that set a setting are checked by Settings (one place for the allowed values), not here.
_NOTIFY: list[Callable[[F], F]] = [
    click.option("--events", "events_file", type=_PathArg(),
                 help="EVENTS_FILE: append one JSON line per event (job_started, plan, file_done, album_done, ...)."),
    click.option("--exec", "on_file_exec", metavar="CMD",
                 help="ON_FILE_EXEC: run CMD after each file is final (values in TGFETCH_* variables, the event "
                      "as JSON on stdin; never through a shell)."),
    click.option("--exec-album", "on_album_exec", metavar="CMD", help="ON_ALBUM_EXEC: run CMD after each album."),
    click.option("--hook-concurrency", type=int, help="HOOK_CONCURRENCY: hooks running at once (default 2)."),
]
_WATCH: list[Callable[[F], F]] = [
    click.option("--interval", "watch_interval", type=float,
                 help="WATCH_INTERVAL: seconds between polls for new posts (default 30; updates wake it sooner)."),
    click.option("--settle", "watch_settle_seconds", type=float,
                 help="WATCH_SETTLE_SECONDS: an album is downloaded once no member arrived for this long (default 5)."),
]
_WEB: list[Callable[[F], F]] = [
    click.option("--web", metavar="[HOST:]PORT",
                 help="WEB: serve the dashboard and /metrics at [HOST:]PORT (host default 127.0.0.1; any other "
                      "host needs a token: WEB_TOKEN, else a random one is printed; port 0: any free one)."),
    click.option("--web-token", metavar="TOKEN",
                 help="WEB_TOKEN: the dashboard's token, 16+ letters, digits, -, _, ., ~ (better in .env: a flag "
                      "shows in the process list)."),
]
_ALL_GROUPS = (_COMMON, _CHANNEL, _SCAN, _SELECTION, _MODE, _METRIC, _FILES, _PROGRESS, _REPORT, _SIMULATION,
               _NOTIFY, _WATCH, _WEB)


def options(*groups: list[Callable[[F], F]]) -> Callable[[F], F]:
    """Attach option groups to a command, in order."""

    def attach(fn: F) -> F:
        for opt in reversed([o for g in groups for o in g]):
            fn = opt(fn)
        return fn

    return attach


def job_setting_names() -> tuple[str, ...]:
    """Return the names of the options that override a setting of that name, in option order."""
    from tgfetch.config import Settings

    # Derived from the options themselves (applied to a throw-away command), so a new
    # --flag whose parameter name is a Settings field becomes an override on its own.
    probe = options(*_ALL_GROUPS)(click.Command("probe"))
    return tuple(p.name for p in probe.params if p.name is not None and p.name in Settings.model_fields)


def build_options(kw: dict[str, Any]) -> CommandOptions:
    """Turn parsed flags into settings (flags override env and .env) and switches."""
    from tgfetch.config import load_settings
    from tgfetch.options import CommandOptions, SimOptions

    # Only the shared job options: a command's own flags (--redis, --machine) stay its arguments.
    overrides = {k: kw.pop(k, None) for k in job_setting_names()}
    if isinstance(overrides.get("channel"), tuple):  # --channel is repeatable: a comma list, as CHANNEL
        overrides["channel"] = ",".join(overrides["channel"]) or None
    env_file: str | None = kw.pop("env_file", None) or None
    settings = load_settings(env_file=env_file or ".env", require_env_file=env_file is not None, **overrides)
    # Always take the --sim-* flags out, so that only the command's own keywords remain.
    sim_kw = {k.removeprefix("sim_"): kw.pop(k) for k in list(kw) if k.startswith("sim_")}
    sim = SimOptions(**sim_kw) if kw.pop("simulate", False) else None
    display = kw.pop("display", None) or "auto"
    report = kw.pop("report", None)
    links = tuple(kw.pop("links", ()))
    return CommandOptions(settings=settings, simulate=sim, report=Path(report) if report else None, display=display,
                          links=links)


def run_command(fn: Callable[..., Coroutine[Any, Any, int]]) -> Callable[..., None]:
    """Wrap an async command: settings, logging, errors to exit codes."""

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> None:
        import asyncio

        from tgfetch.logs import setup_logging

        opts = build_options(kw)
        s = opts.settings
        secrets = s.secret_values()
        # --quiet shows only the summary: INFO lines too, unless LOG_LEVEL was asked for.
        quiet = opts.display == "quiet" and "log_level" not in s.model_fields_set
        setup_logging("WARNING" if quiet else s.log_level, secrets, s.log_file)
        code = asyncio.run(fn(opts, **kw))
        sys.exit(code)

    return wrapper


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tgfetch")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Download a Telegram channel's media with several accounts at once.

    Albums are never split between accounts, loads stay balanced, and work
    moves between accounts while the job runs. Without a subcommand, runs
    `download` with the settings from the environment and `.env`.
    """
    if ctx.invoked_subcommand is None:
        # Parsed like `tgfetch download` with no flags, so that environment variables
        # (SIMULATE=1, say) reach its options.
        with download.make_context("download", [], parent=ctx) as sub:
            download.invoke(sub)


@cli.command()
@options(_COMMON, _CHANNEL, _SCAN, _SELECTION, _MODE, _METRIC, _FILES, _NOTIFY, _WEB, _PROGRESS, _REPORT,
         _SIMULATION, _LINKS)
@run_command
async def download(opts: CommandOptions) -> int:
    """Scan, plan and download the chats' media, or just the messages of the LINKs (the default command).

    A LINK is t.me/name/123, t.me/c/<id>/123, t.me/c/<id>/<topic>/123, with ?single (that album member
    only), ?thread=N or ?comment=N (that comment); a link to an album member takes the whole album.
    """
    from tgfetch.app import run_download

    return await run_download(opts)


@cli.command()
@options(_COMMON, _CHANNEL, _SCAN, _SELECTION, _MODE, _METRIC, _FILES, _NOTIFY, _WEB, _QUIET, _SIMULATION, _WATCH)
@click.option("--rounds", type=click.IntRange(1, 1_000_000), default=None,
              help="Stop after this many rounds (default: never).")
@run_command
async def watch(opts: CommandOptions, rounds: int | None) -> int:
    """Follow the chats and download new posts as they arrive (Ctrl-C stops; the state resumes)."""
    from tgfetch.app import run_watch

    return await run_watch(opts, rounds)


@cli.command()
@options(_COMMON, _CHANNEL, _SCAN, _SELECTION, _MODE, _METRIC, _REPORT, _SIMULATION, _LINKS)
@run_command
async def plan(opts: CommandOptions) -> int:
    """Scan and plan, then print the plan report (downloads nothing)."""
    from tgfetch.app import run_plan

    return await run_plan(opts)


@cli.command()
@options(_COMMON, _CHANNEL, _SCAN, _SELECTION, _METRIC, _REPORT, _SIMULATION, _LINKS)
@run_command
async def compare(opts: CommandOptions) -> int:
    """Scan, then plan with every strategy and print a comparison table."""
    from tgfetch.app import run_compare

    return await run_compare(opts)


@cli.command()
@click.option("--dest", type=_PathArg(path_type=Path), default=Path("downloads-demo"), show_default=True)
@click.option("--messages", type=click.IntRange(1, 100_000), default=300, show_default=True)
def demo(dest: Path, messages: int) -> None:
    """Run a whole job on the built-in simulated channel with 3 accounts."""
    import asyncio

    from tgfetch.app import run_demo
    from tgfetch.logs import setup_logging

    setup_logging("WARNING")
    sys.exit(asyncio.run(run_demo(dest, messages)))


@cli.command()
@click.argument("name")
@click.option("--phone", help="Phone number in international format (asked for when missing; never logged).")
@click.option("--session-dir", type=_PathArg(), help="TG_SESSION_DIR (default ./sessions).")
@click.option("--simulate", is_flag=True, help="Log in to the built-in simulated Telegram.")
@click.option("--qr", is_flag=True, help="Log in by scanning a QR code with a phone already logged in "
                                         "(Settings > Devices > Link Desktop Device); no phone number needed.")
@click.option("--proxy", help="PROXY to log in through (see `tgfetch download --help`).")
@options(_COMMON)
def login(name: str, phone: str | None, session_dir: str | None, simulate: bool, qr: bool, proxy: str | None,
          env_file: str | None, log_level: str | None, log_file: str | None) -> None:
    """Create the session file NAME interactively (phone, code, 2FA password; or --qr)."""
    import asyncio

    from tgfetch.app import run_login
    from tgfetch.config import load_settings
    from tgfetch.logs import setup_logging

    if qr and phone:
        raise click.UsageError("give --phone or --qr, not both")
    settings = load_settings(env_file=env_file or ".env", require_env_file=bool(env_file),
                             tg_session_dir=session_dir or None, log_level=log_level, log_file=log_file or None,
                             proxy=proxy or None)
    setup_logging(settings.log_level, settings.secret_values(), log_file=settings.log_file)
    sys.exit(asyncio.run(run_login(settings, name, phone, simulate, qr=qr)))


@cli.command()
@options(_COMMON, _CHANNEL, _SCAN, _SELECTION, _MODE, _METRIC, _QUIET, _SIMULATION, _WATCH, _WEB)
@click.option("--watch", "follow", is_flag=True,
              help="Then follow the channel: enqueue new posts as they arrive, until Ctrl-C (exit 130).")
@click.option("--redis", "redis_url", help="Redis URL (redis:// or rediss://), or REDIS_URL.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback Redis without a password.")
@click.option("--expect-accounts", type=click.IntRange(0), default=0, show_default=True,
              help="Plan once this many worker accounts registered (0: when no new one joined for 2 s).")
@click.option("--wait", "wait_s", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds to wait for workers to register.")
@click.option("--lease", "lease_s", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Seconds a group stays leased to a silent worker before others reclaim it.")
@run_command
async def coordinator(opts: CommandOptions, follow: bool, redis_url: str | None, insecure: bool, expect_accounts: int,
                      wait_s: float, lease_s: float) -> int:
    """Multi-machine mode: scan, plan and enqueue the job on Redis; show progress (--watch: and new posts).

    --web serves the whole cluster job's dashboard (every machine and account, from Redis) while it runs.
    """
    from tgfetch.app import run_coordinator

    return await run_coordinator(opts, redis_url, insecure, expect_accounts, wait_s, lease_s, watch=follow)


@cli.command()
@options(_COMMON, _CHANNEL, _FILES, _NOTIFY, _QUIET, _REPORT, _SIMULATION, _WEB)
@click.option("--redis", "redis_url", help="Redis URL (redis:// or rediss://), or REDIS_URL.")
@click.option("--machine", "machine_name", help="This machine's name (default: host name).")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback Redis without a password.")
@click.option("--lease", "lease_s", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Lease seconds (must match the coordinator's).")
@run_command
async def worker(opts: CommandOptions, redis_url: str | None, machine_name: str | None, insecure: bool,
                 lease_s: float) -> int:
    """Multi-machine mode: download groups from the Redis queue with this machine's accounts.

    --web serves the whole cluster job's dashboard (every machine and account, from Redis) while it runs.
    """
    from tgfetch.app import run_worker

    return await run_worker(opts, redis_url, machine_name, insecure, lease_s)


@cli.command()
@click.argument("chat", required=False)
@click.option("--sessions", "tg_sessions", help="TG_SESSIONS: the first account lists the topics.")
@click.option("--json", "as_json", is_flag=True, help="Print the topics as JSON.")
@options(_COMMON, _SIMULATION)
@run_command
async def topics(opts: CommandOptions, chat: str | None, as_json: bool) -> int:
    """List the forum topics of CHAT (default: CHANNEL): id, title, messages, newest message id."""
    from tgfetch.app import run_topics

    return await run_topics(opts, chat, as_json)


@cli.command()
@options(_COMMON, _CHANNEL, _SIMULATION)
@click.option("--dest", "download_dir", type=_PathArg(), help="DOWNLOAD_DIR: where earlier jobs' learned speeds are.")
@click.option("--check", is_flag=True, help="Also resolve CHANNEL with each account; exit 3 if no account sees a chat.")
@click.option("--json", "as_json", is_flag=True, help="Print the accounts as JSON.")
@run_command
async def accounts(opts: CommandOptions, check: bool, as_json: bool) -> int:
    """One row per account: user id, username, Premium, DC, session file, proxy, learned speed, flood wait."""
    from tgfetch.app import run_accounts

    return await run_accounts(opts, check, as_json)


@cli.command()
@click.option("--reset", is_flag=True, help="Forget everything learned (the files' samples and the runs).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def history(reset: bool, as_json: bool) -> None:
    """What tgfetch learned on this machine (LEARNING): files timed per account, runs, where it is kept."""
    from tgfetch.app import run_history

    sys.exit(run_history(reset, as_json))


@cli.command()
@options(_COMMON)
@click.option("--state-db", type=_PathArg(),
              help="STATE_DB: the job's state DB (DOWNLOAD_DIR/<channel>/.tgfetch.sqlite).")
@click.option("--redis", "redis_url",
              help="A cluster's Redis URL (or REDIS_URL): serve its job instead of a state DB.")
@click.option("--job", "job_name", help="With --redis: the cluster job to show (default: the only one there).")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback Redis without a password.")
@options(_WEB)
@run_command
async def dashboard(opts: CommandOptions, redis_url: str | None, job_name: str | None, insecure: bool) -> int:
    """Serve a job's dashboard read-only at WEB (default 127.0.0.1:8080): from its state DB (running or finished),
    or a cluster job from its Redis (--redis; every machine and account, groups, dead letters).

    Files, failures, the timeline and the run history with learned speeds; Ctrl-C stops it.
    """
    from click.core import ParameterSource

    from tgfetch.app import run_dashboard

    given = click.get_current_context().get_parameter_source("state_db") is ParameterSource.COMMANDLINE
    return await run_dashboard(opts, redis_url, job_name, insecure, state_db_given=given)


def _one_line(exc: click.ClickException) -> str:
    """A click error as one line, with where to look for what is allowed."""
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


@cli.command()
@click.argument("directory", metavar="[DIR]", required=False, type=_PathArg(path_type=Path))
@click.option("--dest", type=_PathArg(path_type=Path), help="DOWNLOAD_DIR (the same as DIR).")
@click.option("--state-db", type=_PathArg(path_type=Path),
              help="The state DB (default: STATE_DB, else DIR's or its one channel folder's .tgfetch.sqlite).")
@click.option("--all", "show_all", is_flag=True, help="List every problem file (default: the first 20).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--env-file", type=_PathArg(path_type=Path), default=Path(".env"), show_default=True,
              help="The .env file to read.")
def verify(directory: Path | None, dest: Path | None, state_db: Path | None, show_all: bool, as_json: bool,
           quiet: bool, env_file: Path) -> None:
    """Re-hash the downloaded files; report missing, changed and extra files (exit 1 if any)."""
    from tgfetch.verify import run_verify

    if directory is not None and dest is not None and directory != dest:
        raise click.UsageError("give the download folder once: DIR or --dest")
    sys.exit(run_verify(directory or dest, state_db=state_db, env_file=env_file, show_all=show_all,
                        as_json=as_json, quiet=quiet))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn tgfetch errors into one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="tgfetch", standalone_mode=False)
    except TgfetchError as exc:
        click.echo(f"tgfetch: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("tgfetch: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        click.echo(f"tgfetch: error: {_one_line(exc)}", err=True)
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("tgfetch: interrupted; state kept, rerun to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, the traceback only at DEBUG
        import logging

        logging.getLogger("tgfetch").debug("internal error", exc_info=True)
        click.echo(f"tgfetch: internal error: {type(exc).__name__}: {exc} (LOG_LEVEL=DEBUG shows where)", err=True)
        sys.exit(1)

