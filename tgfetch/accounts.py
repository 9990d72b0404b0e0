"""`tgfetch accounts [--check]`: one row per configured account — who it is, where it connects, how fast it was.

Each account connects on its own (one that cannot is a row saying why, not a failed command),
asks Telegram who it is (`users.getUsers([inputUserSelf])`: id, username, Premium) and, with
`--check`, resolves every CHANNEL chat with its own access hash. Speeds and per-file round
trips are the ones earlier jobs learned, read from the state DBs under DOWNLOAD_DIR (and STATE_DB).
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from telethon import TelegramClient
from telethon.tl import functions, types

from tgfetch.config import Settings
from tgfetch.download.layout import STATE_FILE
from tgfetch.errors import EXIT_AUTH, EXIT_OK, TgfetchError
from tgfetch.store import ClientSpeed, read_state
from tgfetch.telegram.account import Account
from tgfetch.telegram.clients import connect_accounts, session_path
from tgfetch.telegram.peers import parse_channel
from tgfetch.telegram.rpc import RpcProblem

__all__ = ["AccountRow", "account_rows", "learned_speeds", "print_rows"]


@dataclass
class AccountRow:
    """What `tgfetch accounts` shows of one account."""

    name: str
    state: str = "ok"  # ok, or why it cannot be used
    user_id: int | None = None
    username: str | None = None
    premium: bool | None = None
    dc: int | None = None
    session: str = ""  # the session file (or "string session", "simulated")
    mode: str = ""  # the session file's permissions, e.g. 0600
    proxy: str = ""  # kind host:port, never credentials
    speed_bps: float | None = None  # learned by earlier jobs
    file_rtt_s: float | None = None  # learned per-file overhead (round trips before the bytes flow)
    flood_wait_s: float = 0.0
    chats: dict[str, str] | None = None  # --check: chat -> "ok" or why not


def learned_speeds(settings: Settings) -> dict[str, ClientSpeed]:
    """The newest learned speed of each account over the state DBs of DOWNLOAD_DIR's chats (and STATE_DB)."""
    dbs = [*Path(settings.download_dir).glob(f"*/{STATE_FILE}"), *Path(settings.download_dir).glob(STATE_FILE)]
    if settings.state_db is not None:
        dbs.append(settings.state_db)
    out: dict[str, ClientSpeed] = {}
    for db in dbs:
        try:
            speeds = read_state(db).speeds
        except (TgfetchError, OSError):
            continue  # not a state DB of ours, or unreadable: nothing learned there
        for name, sp in speeds.items():
            if name not in out or sp.updated > out[name].updated:
                out[name] = sp
    return out


def _session_file(settings: Settings, name: str, simulated: bool) -> tuple[str, str]:
    if simulated:
        return "simulated", ""
    if name.startswith("string") and name not in settings.tg_sessions:
        return "string session (TG_SESSION_STRINGS)", ""
    path = session_path(settings, name)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return str(path), "missing"
    return str(path), f"{mode:04o}" + (" (others can read it: chmod 600)" if mode & 0o077 else "")


async def _one(name: str, client: TelegramClient, settings: Settings, check: bool) -> AccountRow:
    row = AccountRow(name)
    try:
        acc = (await connect_accounts({name: client}, settings))[name]
    except TgfetchError as exc:
        row.state = str(exc)
        return row
    row.dc = client.session.dc_id
    try:
        (me,) = await acc.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
        row.user_id, row.username, row.premium = me.id, me.username, bool(getattr(me, "premium", False))
    except RpcProblem as exc:
        row.state = f"cannot read the account: {exc}"
    if check:
        row.chats = {c: await _sees(acc, c) for c in settings.channels()}
    row.flood_wait_s = round(acc.flood_wait_left, 1)
    return row


async def _sees(acc: Account, chat: str) -> str:
    try:
        await acc.resolve(parse_channel(chat), chat=len(acc.peers))
    except (RpcProblem, TgfetchError) as exc:
        return f"cannot: {exc}"
    return "ok"


async def account_rows(clients: Mapping[str, TelegramClient], settings: Settings, *, check: bool,
                       simulated: bool = False) -> list[AccountRow]:
    """One row per account (connecting them all at once)."""
    rows = await asyncio.gather(*(_one(n, c, settings, check) for n, c in clients.items()))
    speeds = learned_speeds(settings)
    for row in rows:
        row.session, row.mode = _session_file(settings, row.name, simulated)
        spec = None if simulated else settings.proxy_for(row.name)
        row.proxy = f"{spec.kind} {spec.host}:{spec.port}" if spec is not None else ""
        if (sp := speeds.get(row.name)) is not None:
            row.speed_bps, row.file_rtt_s = round(sp.bytes_per_s, 1), round(sp.overhead_s, 4)
    return rows


def exit_code(rows: list[AccountRow], check: bool) -> int:
    """3 when --check finds a chat no account can see (or no account works), else 0."""
    if not any(r.state == "ok" for r in rows):
        return EXIT_AUTH
    if check:
        chats = {c for r in rows for c in (r.chats or {})}
        if any(all((r.chats or {}).get(c) != "ok" for r in rows) for c in chats):
            return EXIT_AUTH
    return EXIT_OK


def print_rows(rows: list[AccountRow], console: Console, *, as_json: bool) -> None:
    """The rows as a table, or as JSON."""
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return
    t = Table(title=f"{len(rows)} account(s)", title_justify="left")
    for col in ("account", "user id", "username", "premium", "DC", "session", "proxy", "speed", "per file",
                "flood wait", "state"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.name, str(r.user_id or ""), f"@{r.username}" if r.username else "",
                  {True: "yes", False: "no", None: ""}[r.premium], str(r.dc or ""), f"{r.session} {r.mode}".strip(),
                  r.proxy or "direct", _speed(r.speed_bps), f"{r.file_rtt_s:.2f}s" if r.file_rtt_s is not None else "",
                  f"{r.flood_wait_s:.0f}s" if r.flood_wait_s else "", r.state)
    console.print(t)
    for r in rows:
        for chat, seen in (r.chats or {}).items():
            console.print(f"{r.name}: {chat}: {seen}")


def _speed(bps: float | None) -> str:
    return f"{bps / 2**20:.1f} MiB/s" if bps else ""

