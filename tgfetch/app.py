"""Subcommand bodies: wire settings, clients, scan, plan, download and report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from telethon import TelegramClient

from tgfetch.config import MAX_INT32, Settings, check_phone, is_session_name, load_settings
from tgfetch.errors import EXIT_FAILED_FILES, EXIT_OK, InterruptedJob, StorageError, TgfetchError, UsageError
from tgfetch.job import JobReport, RunOptions, choose, download_channel, download_job, plan_scan
from tgfetch.model import MessageCollection
from tgfetch.options import CommandOptions, SimOptions
from tgfetch.outcome import plan_json, scan_json
from tgfetch.portable import on_signals
from tgfetch.predictions import plan_learning
from tgfetch.report import human_bytes, live_monitor, print_plan, print_selection, print_summary, write_json
from tgfetch.targets import Target, job_targets, parse_links
from tgfetch.telegram.clients import build_clients, close_clients, session_path, telethon_proxy

__all__ = ["build_simulation", "job_clients", "run_compare", "run_demo", "run_download", "run_login", "run_plan"]

log = logging.getLogger("tgfetch")
T = TypeVar("T")


def build_simulation(sim: SimOptions, prefix: str = "") -> tuple[Any, dict[str, TelegramClient]]:
    """The built-in simulated channel and one client per simulated account (`<prefix>client<i>`)."""
    from tgfetch.telegram.simulator import ExtraChannel, SimulatedTelegram

    if sim.first_id + sim.messages - 1 > MAX_INT32:
        raise UsageError(f"--sim-first-id {sim.first_id} with --sim-messages {sim.messages} goes past message id "
                         f"{MAX_INT32}: message ids are 32-bit")
    more = [ExtraChannel(n.strip().removeprefix("@"), sim.messages, sim.first_id)
            for n in (sim.channels or "").split(",") if n.strip()]
    try:
        tg = SimulatedTelegram(seed=sim.seed, messages=sim.messages, first_id=sim.first_id,
                               latency=sim.latency, jitter=sim.jitter, faults=sim.faults, size_scale=sim.size_scale,
                               forum_topics=sim.topics, comments=sim.comments, more_channels=more)
    except ValueError as exc:
        what = ("--sim-channels" if more and "username" in str(exc) else
                "--sim-topics and --sim-comments" if sim.topics and sim.comments else "--sim-faults")
        raise UsageError(f"{what}: {exc}") from None
    bw = list(sim.bandwidth) or [0.0]
    if len(bw) not in (1, sim.clients):
        raise UsageError(f"--sim-bandwidth has {len(bw)} values for {sim.clients} clients: give 1 or {sim.clients}")
    clients = {}
    for i in range(sim.clients):
        mbps = bw[i % len(bw)]
        name = f"{prefix}client{i + 1}"
        clients[name] = tg.client(name, bandwidth=mbps * 1e6 if mbps else None)
    if sim.profile:
        from tgfetch.telegram.simulator.profiles import apply_profile

        try:
            apply_profile(tg, sim.profile, list(clients))
        except ValueError as exc:
            raise UsageError(f"--sim-profile: {exc}") from None
    return tg, clients


def run_history(reset: bool, as_json: bool) -> int:
    """`tgfetch history`: the per-machine history of learned predictions; --reset forgets it."""
    import dataclasses
    import sqlite3

    from tgfetch.learning.history import History, default_history_path, format_summary

    path = default_history_path()
    if not path.exists():
        print(json.dumps({"path": str(path), "samples": 0, "runs": 0}) if as_json
              else f"nothing learned yet on this machine ({path})")
        return EXIT_OK
    try:
        with History.open(path) as h:
            if reset:
                samples, runs = h.reset()
                print(f"forgot {samples} file samples and {runs} runs ({path})")
                return EXIT_OK
            summary = h.summary()
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot read the learned history {path}: {exc} (tgfetch history --reset, or delete "
                           "the file, starts it anew)") from None
    print(json.dumps(dataclasses.asdict(summary), default=str) if as_json else format_summary(summary))
    return EXIT_OK


def check_strategy(settings: Settings) -> None:
    """Refuse a mode whose strategy cannot be loaded (a plugin, CUSTOM_STRATEGY) before connecting."""
    from tgfetch.distribution import TaskDistributor

    if settings.mode != "auto":
        TaskDistributor(settings).strategy_class(settings.mode)


def job_clients(opts: CommandOptions) -> tuple[dict[str, TelegramClient], list[Target]]:
    """The clients and chats of a job (simulated or from settings and the command line's links)."""
    clients, targets, _ = job_setup(opts)
    return clients, targets


def job_setup(opts: CommandOptions) -> tuple[dict[str, TelegramClient], list[Target], Any]:
    """The clients and chats of a job, and the simulated Telegram (None with real accounts)."""
    from tgfetch.telegram.peers import parse_channel

    s = opts.settings
    check_strategy(s)
    targets = job_targets(s, parse_links(opts.links))  # bad links and chats stop before connecting
    if opts.simulate is not None:
        tg, clients = build_simulation(opts.simulate)
        if not targets:
            targets = [Target(parse_channel(tg.channel_username), s.start_message_id, s.end_message_id,
                              topic=s.topic, comments=s.comments)]
        # The simulated chats' ids start at --sim-first-id: no need to scan the ids before it.
        return clients, [t if t.is_links or t.first_id else dataclasses.replace(t, first_id=tg.first_id)
                         for t in targets], tg
    if not targets:
        raise UsageError("CHANNEL is not set: give --channel @name (or set CHANNEL) or message links, "
                         "or try the simulated channel: tgfetch download --simulate")
    return build_clients(s), targets, None


async def _interruptible(coro: Awaitable[T]) -> T:
    """Run coro; SIGTERM cancels it like Ctrl-C; both become InterruptedJob (exit 130)."""
    task = asyncio.ensure_future(coro)
    with on_signals(task.cancel, ("SIGTERM",)):
        try:
            return await task
        except asyncio.CancelledError:
            raise InterruptedJob("interrupted; state kept, rerun the same command to resume") from None


@contextlib.asynccontextmanager
async def _connected(clients: Mapping[str, TelegramClient]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await close_clients(clients)


@contextlib.asynccontextmanager
async def _dashboard(settings: Settings, job: str, console: Console) -> AsyncIterator[Any]:
    """The live dashboard (WEB, --web) around a job: yields the source the job feeds (None without WEB)."""
    if not settings.web:
        yield None
        return
    from tgfetch.web.commands import live_dashboard  # the web stack loads only when asked for

    async with live_dashboard(settings, job, _say(console)) as source:
        yield source


def _say(console: Console) -> Callable[[str], None]:
    """Print one line as it is: never wrapped (it may hold a URL), never read as rich markup ([::1])."""
    return lambda line: console.print(line, soft_wrap=True, markup=False, highlight=False)


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def check_report_path(path: Path | None) -> None:
    """Refuse a --report path that cannot be written, before any work starts."""
    if path is None:
        return
    try:
        if path.is_dir():
            raise UsageError(f"--report {str(path)!r} is a directory: expected a file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(path.parent, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.W_OK))
        too_long = len(path.name.encode()) > 255
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--report {str(path)!r} cannot be used ({why}): expected a writable file path") from None
    if not writable or too_long:
        raise UsageError(f"--report {str(path)!r} is not writable: expected a file path in a writable folder")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        write_json(path, data)
    except OSError as exc:
        raise StorageError(f"--report {str(path)!r} cannot be written: {exc.strerror}") from None


async def run_download(opts: CommandOptions) -> int:
    """Run `download`: scan, plan, download with live progress, print the summary."""
    check_report_path(opts.report)
    clients, targets = job_clients(opts)
    channel = ", ".join(t.chat.text for t in targets)
    console = _console()
    aborted: list[JobReport] = []

    def monitor(sched: Any, stats: Any) -> Any:
        return live_monitor(sched, stats, opts.display, console)

    def show_plan(plan: Any, scan: Any) -> None:
        if opts.display != "quiet":
            print_plan(console, plan, scan)

    try:
        async with _dashboard(opts.settings, channel, console) as web, _connected(clients):
            report = await _interruptible(download_job(
                clients, targets, opts.settings.download_dir, opts.settings, monitor=monitor,
                on_plan=show_plan, on_abort=aborted.append, on_start=web.round_started if web else None))
            if web is not None:
                web.round_done(report)
                web.finished(report.result)
    except TgfetchError as exc:
        _report_abort(opts.report, channel, exc, aborted)
        raise
    return finish(report, console, opts)


def _report_abort(path: Path | None, channel: str, exc: TgfetchError, aborted: list[JobReport]) -> None:
    """Write the report of a run that stopped: what was done so far, how and why it ended."""
    if path is None:
        return
    outcome = "interrupted" if isinstance(exc, InterruptedJob) else "error"
    data: dict[str, Any] = aborted[0].to_json() if aborted else {"channel": channel, "files": [], "failures": {}}
    data.update(outcome=outcome, error=str(exc), exit_code=exc.exit_code)
    _write_json(path, data)


def finish(report: JobReport, console: Console, opts: CommandOptions) -> int:
    """Print the summary, write the JSON report, choose the exit code."""
    print_summary(console, report)
    code = EXIT_OK if report.ok else EXIT_FAILED_FILES
    if opts.report is not None:
        _write_json(opts.report, {**report.to_json(), "exit_code": code})
    return code


async def _scan_for_plan(opts: CommandOptions) -> tuple[Any, list[str]]:
    from tgfetch.job import scan_job

    clients, targets = job_clients(opts)
    async with _connected(clients):
        scan = await _interruptible(scan_job(clients, targets, opts.settings))
    names = [n for n in clients if n not in scan.dead_clients]
    return scan, names


def _chats(scan: Any) -> str:
    """The chats of a scan as reports name them."""
    return ", ".join(p.label for p in scan.parts or (scan,))


async def run_plan(opts: CommandOptions) -> int:
    """Run `plan`: scan and distribute, print the plan report."""
    check_report_path(opts.report)
    scan, names = await _scan_for_plan(opts)
    chosen = choose(scan, opts.settings)
    learned = plan_learning(opts.settings, names, _chats(scan))
    plan = await plan_scan(scan, names, opts.settings, collection=chosen.collection, learned=learned)
    console = _console()
    print_selection(console, scan.collection, chosen)
    print_plan(console, plan, scan)
    if opts.report is not None:
        _write_json(opts.report, {"channel": _chats(scan), "first_id": scan.first_id, "last_id": scan.last_id,
                                  "plan": plan_json(plan), "scan": scan_json(scan), "exit_code": EXIT_OK})
    if opts.settings.enable_strategy_comparison:
        await _print_comparison(console, chosen.collection, names, opts.settings, plan.info.get("comparison"))
    return EXIT_OK


async def _print_comparison(console: Console, collection: MessageCollection, names: list[str], settings: Settings,
                            rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Print the strategy comparison: the plan's own rows when it has them, else plan with every strategy."""
    from tgfetch.distribution import TaskDistributor, comparison_rows, rows_table

    if rows is None:
        rows = comparison_rows(await TaskDistributor(settings).compare(collection, names))
    console.print(rows_table(rows))
    return rows


async def run_compare(opts: CommandOptions) -> int:
    """Run `compare`: scan, then a table of every strategy's plan."""
    check_report_path(opts.report)
    scan, names = await _scan_for_plan(opts)
    console = _console()
    chosen = choose(scan, opts.settings)
    print_selection(console, scan.collection, chosen)
    rows = await _print_comparison(console, chosen.collection, names, opts.settings)
    if opts.report is not None:
        _write_json(opts.report, {"channel": _chats(scan), "first_id": scan.first_id, "last_id": scan.last_id,
                                  "comparison": rows, "scan": scan_json(scan), "exit_code": EXIT_OK})
    return EXIT_OK


async def run_demo(dest: Path, messages: int) -> int:
    """Run `demo`: a whole job on the built-in channel with 3 accounts, explained."""
    console = _console()
    console.print(
        "[bold]tgfetch demo[/bold]: a simulated Telegram channel (real Telethon client code, offline), "
        f"{messages} messages with albums, 3 accounts of different speeds.\n"
        "tgfetch scans the channel (the id range split across the accounts), plans with the "
        "media_group_aware strategy (albums never split), downloads with work stealing, then verifies.\n")
    settings = load_settings(env_file=None, download_dir=dest, log_level="WARNING")
    sim = SimOptions(seed=7, messages=messages, clients=3, bandwidth=(6.0, 3.0, 1.5), size_scale=0.03)
    opts = CommandOptions(settings=settings, simulate=sim, display="auto")
    tg, clients = build_simulation(sim)
    async with _connected(clients):
        report = await _interruptible(download_channel(
            clients, tg.channel_username, tg.first_id, None, dest, settings,
            monitor=lambda s, st: live_monitor(s, st, "auto", console),
            on_plan=lambda plan, scan: print_plan(console, plan, scan)))
    code = finish(report, console, opts)
    bad = [f for f in report.files if tg.file_sha256(f.message_id) != f.sha256]
    console.print(f"verified: {len(report.files) - len(bad)} of {len(report.files)} files byte-identical "
                  "to the simulator's (sha256)")
    console.print("run `make demo` again: the rerun finds every file done and downloads nothing.")
    return code if not bad else EXIT_FAILED_FILES


async def run_watch(opts: CommandOptions, rounds: int | None) -> int:
    """Run `watch`: follow the chats, a new-only round at every poll or update, until Ctrl-C."""
    from tgfetch.watch import watch_job

    clients, targets, sim = job_setup(opts)
    if any(t.is_links for t in targets):
        raise UsageError("watch follows chats: give CHANNEL (or --channel), not message links")
    console = _console()
    seen: dict[str, Any] = {"rounds": 0, "web": None}  # the live dashboard's source (--web), once it serves

    def on_round(report: JobReport, held: set[tuple[int, int]]) -> None:
        seen["rounds"] += 1
        if seen["web"] is not None:
            seen["web"].round_done(report)
        if (line := _round_line(seen["rounds"], report, held)) is not None:
            console.print(line)

    console.print(f"watching {', '.join(t.chat.text for t in targets)}: a poll every "
                  f"{opts.settings.watch_interval:g}s (sooner on updates); Ctrl-C stops, the state resumes")
    async with _sim_feed(opts, sim), _dashboard(opts.settings, ", ".join(t.chat.text for t in targets), console) \
            as web, _connected(clients):
        seen["web"] = web
        run = RunOptions(on_start=web.round_started if web else None)
        await _interruptible(watch_job(clients, targets, opts.settings.download_dir, opts.settings,
                                       run, on_round=on_round, rounds=rounds))
        if web is not None:
            web.finished("done")
    return EXIT_OK


def _round_line(n: int, report: JobReport, held: set[tuple[int, int]]) -> str | None:
    """What a watch round did, in one line (None: a poll that found nothing)."""
    new = report.downloaded
    if not new and not report.failures and not held:
        return None
    line = f"round {n}: {len(new)} new file(s), {human_bytes(sum(f.size for f in new))}, {len(report.failures)} failed"
    return line + (f"; {len(held)} album(s) still arriving, held back" if held else "")


async def run_dashboard(opts: CommandOptions, redis_url: str | None = None, job: str | None = None,
                        insecure: bool = False, state_db_given: bool = False) -> int:
    """Run `dashboard`: serve a job's state DB, or a cluster job from its Redis, read-only (WEB, default
    127.0.0.1:8080) until Ctrl-C."""
    from tgfetch.web.commands import cluster_dashboard, state_dashboard

    s = opts.settings
    if _dashboard_of_redis(s, redis_url, job, state_db_given):
        from tgfetch.cluster.run import check_redis, redis_for

        redis = redis_for(s, redis_url, insecure)
        try:
            await check_redis(redis)
            return await cluster_dashboard(s, redis, job, _say(_console()), _redis_secrets(redis))
        finally:
            await redis.aclose()
    assert s.state_db is not None
    return await state_dashboard(s, s.state_db, _say(_console()))


def _dashboard_of_redis(s: Settings, redis_url: str | None, job: str | None, state_db_given: bool) -> bool:
    """Whether `dashboard` reads a cluster's Redis (else a state DB): the flags first, then STATE_DB, REDIS_URL."""
    if redis_url and state_db_given:
        raise UsageError("give --state-db PATH (a job's state DB) or --redis URL (a cluster's Redis), not both")
    redis = bool(redis_url) or (not state_db_given and s.state_db is None and s.redis_url is not None)
    if not redis and s.state_db is None:
        raise UsageError("give the job's state DB (tgfetch dashboard --state-db PATH, or STATE_DB) or a cluster's "
                         "Redis (--redis URL, or REDIS_URL)")
    if not redis and job is not None:
        raise UsageError("--job names a cluster job: it goes with --redis URL, not with a state DB")
    return redis


async def run_accounts(opts: CommandOptions, check: bool, as_json: bool) -> int:
    """Run `accounts`: one row per account; with --check, which accounts see CHANNEL."""
    from tgfetch.accounts import account_rows, exit_code, print_rows

    if opts.simulate is not None:
        tg, clients = build_simulation(opts.simulate)
        settings = opts.settings if opts.settings.channel else opts.settings.model_copy(
            update={"channel": tg.channel_username})
    else:
        clients, settings = build_clients(opts.settings), opts.settings
    if check and not settings.channel:
        raise UsageError("--check resolves CHANNEL with each account: set CHANNEL or give --channel")
    async with _connected(clients):
        rows = await _interruptible(account_rows(clients, settings, check=check,
                                                 simulated=opts.simulate is not None))
    print_rows(rows, _console(), as_json=as_json)
    return exit_code(rows, check)


async def run_topics(opts: CommandOptions, chat: str | None, as_json: bool) -> int:
    """Run `topics`: list a forum's topics with the first account."""
    from rich.table import Table

    from tgfetch.telegram.clients import connect_accounts, resolve_chat
    from tgfetch.telegram.peers import parse_channel
    from tgfetch.telegram.threads import list_topics

    if opts.simulate is not None:
        tg, clients = build_simulation(opts.simulate)
        chat = chat or opts.settings.channel or tg.channel_username
    else:
        chat = chat or opts.settings.channel
        if not chat:
            raise UsageError("give the forum: tgfetch topics @name (or set CHANNEL)")
        clients = build_clients(opts.settings)
    if "," in chat:
        raise UsageError(f"topics lists the topics of one forum, not {chat!r}: give one chat")
    spec = parse_channel(chat)
    first = dict(list(clients.items())[:1])
    async with _connected(clients):
        accounts = await _interruptible(connect_accounts(first, opts.settings))
        ref, _ = await _interruptible(resolve_chat(accounts, spec, opts.settings))
        acc = next(iter(accounts.values()))
        try:
            found = await _interruptible(list_topics(acc, acc.peers[0]))
        except UsageError:
            raise UsageError(f"{ref.key} ({chat}) is not a forum: it has no topics") from None
    if as_json:
        print(json.dumps([dataclasses.asdict(t) for t in found], indent=1))
        return EXIT_OK
    table = Table(title=f"{ref.key}: {len(found)} topics", title_justify="left")
    for col in ("id", "title", "messages", "newest id", "state"):
        table.add_column(col, justify="right" if col in ("id", "messages", "newest id") else "left")
    for t in found:
        state = ", ".join(w for w, on in (("closed", t.closed), ("hidden", t.hidden)) if on) or "open"
        table.add_row(str(t.id), t.title, str(t.messages), str(t.top_message), state)
    _console().print(table)
    _console().print(f"download one: tgfetch download --channel {chat} --topic ID")
    return EXIT_OK


def _ask(prompt: str, *, secret: bool = False) -> str:
    """Read one answer from the terminal; without one (no stdin), a usage error instead of a crash."""
    try:
        return (getpass.getpass(prompt) if secret else input(prompt)).strip()
    except (EOFError, OSError):
        raise UsageError("`tgfetch login` needs a terminal to type the phone number, login code and "
                         "2FA password (or give --phone)") from None


def _session_file(settings: Settings, name: str) -> Path:
    """The session file of `name`, always inside TG_SESSION_DIR."""
    if not is_session_name(name):
        raise UsageError(f"session name {name!r} is not allowed: expected 1 to 64 letters, digits, _ and - "
                         "(the name TG_SESSIONS will list)")
    path = session_path(settings, name)
    if not path.resolve().is_relative_to(settings.tg_session_dir.resolve()):
        raise UsageError(f"session name {name!r} would leave TG_SESSION_DIR")
    return path


async def run_login(settings: Settings, name: str, phone: str | None, simulate: bool, *, qr: bool = False) -> int:
    """Run `login`: create a session file interactively (phone and code, or a QR code); mode 0600."""
    path = _session_file(settings, name)
    if not qr:
        phone = check_phone(phone if phone is not None else _ask("phone number (international format): "))
    sim: Any = None
    if simulate:
        from tgfetch.telegram.simulator import SimulatedTelegram

        sim = SimulatedTelegram()
        client = sim.unauthorized_client(name)
    else:
        if settings.tg_api_id is None or settings.tg_api_hash is None:
            raise UsageError("TG_API_ID and TG_API_HASH are required for `login`: get them at my.telegram.org")
        path.parent.mkdir(parents=True, exist_ok=True)
        client = TelegramClient(str(path.with_suffix("")), settings.tg_api_id, settings.tg_api_hash.get_secret_value(),
                                **telethon_proxy(settings.proxy_for(name)))
    try:
        if qr:
            await _login_by_qr(client, name, sim)
        else:
            await client.start(phone=phone, code_callback=lambda: _ask("login code: "),  # type: ignore[misc]
                               password=lambda: _ask("2FA password: ", secret=True))
        if simulate:
            _save_simulated_session(client, path)
    finally:
        await client.disconnect()  # type: ignore[misc]
    os.chmod(path, 0o600)
    print(f"session {name} saved to {path} (mode 0600)")
    return EXIT_OK


async def _login_by_qr(client: TelegramClient, name: str, sim: Any) -> None:
    """Show QR codes until one is scanned (2FA asked for); with the simulator, its phone scans the first."""
    from tgfetch.telegram.qrlogin import qr_login, render_qr

    scans: list[asyncio.Task[Any]] = []

    def show(url: str, expires: Any) -> None:
        print(render_qr(url))
        print(f"scan it in Telegram on a phone logged in: Settings > Devices > Link Desktop Device "
              f"(this code expires at {expires.astimezone():%H:%M:%S}; a new one follows)", flush=True)
        if sim is not None and not scans:  # the simulated account's phone scans it
            scans.append(asyncio.ensure_future(sim.scan_login_token(url, by=name)))

    await client.connect()
    user = await qr_login(client, show, lambda: _ask("2FA password: ", secret=True))
    for task in scans:
        await task
    print(f"logged in as {user.first_name or ''} (id {user.id})")


def _save_simulated_session(client: TelegramClient, path: Path) -> None:
    """Write a simulated client's login to a session file, as Telethon writes a real one."""
    from telethon.sessions import SQLiteSession

    path.parent.mkdir(parents=True, exist_ok=True)
    disk = SQLiteSession(str(path.with_suffix("")))
    disk.set_dc(client.session.dc_id, client.session.server_address, client.session.port)
    disk.auth_key = client.session.auth_key
    disk.save()
    disk.close()


def _cluster_clients(opts: CommandOptions, prefix: str) -> tuple[dict[str, TelegramClient], str, Any]:
    """Clients for a cluster process (simulated accounts get names unique to this process), its channel and
    the simulator (None on Telegram)."""
    s = opts.settings
    if len(s.channels()) > 1 or s.topic is not None or s.comments or opts.links:
        raise UsageError("the cluster downloads one channel's id range: several chats, TOPIC, COMMENTS and message "
                         "links are for `tgfetch download`")
    if opts.simulate is not None:
        tg, clients = build_simulation(opts.simulate, f"{prefix}-")
        return clients, s.channel or tg.channel_username, tg
    clients, targets = job_clients(opts)
    return clients, targets[0].chat.text, None


async def run_coordinator(opts: CommandOptions, redis_url: str | None, insecure: bool,
                          expect_accounts: int = 0, wait_s: float = 60.0, lease_s: float = 60.0, *,
                          watch: bool = False) -> int:
    """Run `coordinator`: scan, plan over the workers' accounts, enqueue on Redis, show progress
    (`watch`: then enqueue new posts as they arrive, until stopped; WEB: the job's dashboard meanwhile)."""
    from tgfetch.cluster.run import coordinate, redis_for

    check_strategy(opts.settings)
    redis = redis_for(opts.settings, redis_url, insecure)
    clients, channel, sim = _cluster_clients(opts, "coordinator")
    console = _console()
    try:
        async with _cluster_dashboard(opts.settings, redis, console) as on_queue, _connected(clients), \
                _sim_feed(opts, sim):
            return await coordinate(clients, channel, opts.settings, redis, expect_accounts=expect_accounts,
                                    wait_s=wait_s, lease_s=lease_s, console=console, watch=watch, on_queue=on_queue)
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def _cluster_dashboard(settings: Settings, redis: Any, console: Console,
                             machine: str = "") -> AsyncIterator[Callable[[Any], None] | None]:
    """A cluster process's dashboard (WEB, --web): yields what attaches the job's queue (None without WEB)."""
    if not settings.web:
        yield None
        return
    from tgfetch.web.commands import cluster_live_dashboard  # the web stack loads only when asked for

    async with cluster_live_dashboard(settings, _say(console), machine=machine,
                                      secrets=_redis_secrets(redis)) as source:
        yield source.attach


def _redis_secrets(redis: Any) -> list[str]:
    """The Redis client's password (however the URL gave it), for the dashboard's redaction."""
    password = redis.connection_pool.connection_kwargs.get("password")
    return [str(password)] if password else []


@contextlib.asynccontextmanager
async def _sim_feed(opts: CommandOptions, sim: Any) -> AsyncIterator[None]:
    """--sim-live N: the simulated channel receives N posts over time while the block runs (the same
    posts in every process built from the same flags)."""
    from tgfetch.telegram.simulator.feed import feed

    live = opts.simulate.live if opts.simulate is not None else 0
    posts = asyncio.ensure_future(feed(sim, live)) if sim is not None and live else None
    try:
        yield
    finally:
        if posts is not None:
            posts.cancel()


async def run_worker(opts: CommandOptions, redis_url: str | None, machine_name: str | None,
                     insecure: bool = False, lease_s: float = 60.0) -> int:
    """Run `worker`: download queued groups with this machine's accounts until the job is done."""
    import socket

    from tgfetch.cluster.run import redis_for, work

    check_report_path(opts.report)
    redis = redis_for(opts.settings, redis_url, insecure)
    machine = machine_name or opts.settings.machine_name or socket.gethostname().split(".")[0]
    clients, channel, sim = _cluster_clients(opts, machine)
    console = _console()
    try:
        async with _cluster_dashboard(opts.settings, redis, console, machine) as on_queue, _connected(clients), \
                _sim_feed(opts, sim):
            code, records, info = await work(clients, channel, opts.settings, redis, machine=machine,
                                             lease_s=lease_s, console=console, on_queue=on_queue)
    finally:
        await redis.aclose()
    if opts.report is not None:
        _write_json(opts.report, {"machine": machine, "accounts": info, "files": [r.__dict__ for r in records],
                                  "exit_code": code})
    return code
