"""Build, connect, authorize and close the accounts' TelegramClient objects."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from telethon import TelegramClient, connection
from telethon.sessions import StringSession

from tgfetch.config import Settings
from tgfetch.errors import ConfigError, NetworkError, SessionError, TelegramAccessError, UsageError
from tgfetch.proxy import ProxySpec
from tgfetch.retry import RPC_RETRY
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.peers import ChannelSpec, parse_channel
from tgfetch.telegram.rpc import AccessDenied, AccountDead, FloodWait, RpcProblem, Transient, classify

__all__ = ["build_clients", "close_clients", "connect_accounts", "open_accounts", "resolve_chat", "session_path",
           "telethon_proxy"]

log = logging.getLogger("tgfetch.telegram")


def session_path(settings: Settings, name: str) -> Path:
    """The session file of account `name`."""
    return settings.tg_session_dir / f"{name}.session"


def _api(settings: Settings) -> tuple[int, str]:
    if settings.tg_api_id is None or settings.tg_api_hash is None:
        raise ConfigError("TG_API_ID and TG_API_HASH are required for real accounts: get them at my.telegram.org")
    return settings.tg_api_id, settings.tg_api_hash.get_secret_value()


def _check_session_file(path: Path, name: str) -> None:
    if not path.is_file():
        raise SessionError(f"account {name}: no session file {path}; create it with `tgfetch login {name}`")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError:
        tables = set()
    if "sessions" not in tables:
        raise SessionError(f"account {name}: {path} is not a Telethon session file")


def build_clients(settings: Settings) -> dict[str, TelegramClient]:
    """One TelegramClient per configured session file or string session."""
    if not settings.tg_sessions and not settings.tg_session_strings:
        raise ConfigError("no accounts configured: set TG_SESSIONS (session files) or TG_SESSION_STRINGS")
    api_id, api_hash = _api(settings)
    names = [*settings.tg_sessions, *(f"string{i}" for i in range(1, len(settings.tg_session_strings) + 1))]
    unknown = sorted(set(settings.proxies()[1]) - set(names))
    if unknown:
        raise ConfigError(f"TG_PROXIES names account {unknown[0]!r}, which is not configured: expected one of "
                          f"{', '.join(names)} (session names, and stringN for the Nth TG_SESSION_STRINGS item)")
    clients: dict[str, TelegramClient] = {}
    for name in settings.tg_sessions:
        path = session_path(settings, name)
        _check_session_file(path, name)
        clients[name] = TelegramClient(str(path.with_suffix("")), api_id, api_hash,
                                       **telethon_proxy(settings.proxy_for(name)))
    for i, secret in enumerate(settings.tg_session_strings, start=1):
        try:
            session = StringSession(secret.get_secret_value())
        except Exception:  # noqa: BLE001 - the library raises several types; the secret must not leak
            raise SessionError(f"TG_SESSION_STRINGS item {i} is not a valid Telethon string session") from None
        clients[f"string{i}"] = TelegramClient(session, api_id, api_hash,
                                               **telethon_proxy(settings.proxy_for(f"string{i}")))
    return clients


def telethon_proxy(spec: ProxySpec | None) -> dict[str, Any]:
    """TelegramClient's keywords for a proxy: python-socks for SOCKS and HTTP, Telethon's MTProxy transport."""
    if spec is None:
        return {}
    if spec.kind == "mtproxy":
        return {"connection": connection.ConnectionTcpMTProxyRandomizedIntermediate,
                "proxy": (spec.host, spec.port, spec.secret)}
    return {"proxy": {"proxy_type": spec.kind, "addr": spec.host, "port": spec.port, "rdns": True,
                      "username": spec.username, "password": spec.password}}


async def _connect_one(name: str, client: TelegramClient, retries: int, timeout: float) -> None:
    try:
        authorized = await RPC_RETRY.with_retries(retries).run(
            functools.partial(_connect_once, name, client, timeout), retry_on=(Transient,))
    except Transient as exc:
        raise NetworkError(f"account {name}: cannot reach Telegram{_where(client)}: {exc} ({_attempts(retries)})"
                           ) from None
    except RpcProblem as exc:
        raise TelegramAccessError(f"account {name}: cannot connect to Telegram now ({exc})") from None
    if not authorized:
        raise SessionError(f"account {name}: session is not logged in or was revoked; run `tgfetch login {name}`")


async def _connect_once(name: str, client: TelegramClient, timeout: float) -> bool:
    """Connect and ask whether the session is logged in, within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            if not client.is_connected():
                await client.connect()
            return bool(await client.is_user_authorized())
    except Exception as exc:  # noqa: BLE001 - every failure to connect becomes one clear line
        # Telethon gives up on repeated FLOOD_WAITs with a plain ValueError("Request was unsuccessful ...").
        if isinstance(exc, ValueError) and "unsuccessful" in str(exc):
            raise TelegramAccessError(f"account {name}: cannot connect to Telegram now ({exc})") from None
        problem = _network_problem(exc, timeout) or classify(exc)
        if problem is None:
            raise
        if isinstance(problem, Transient):
            await _forget_connection(client)  # the next attempt connects from scratch
        raise problem from None


def _network_problem(exc: BaseException, timeout: float) -> Transient | None:
    """Describe a timeout or a failed/dropped connection in words; None for anything else."""
    if isinstance(exc, TimeoutError):
        return Transient(f"no answer within {timeout:g}s")
    if isinstance(exc, ConnectionError | OSError):
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Transient(f"connection failed ({detail})")
    return None


async def _forget_connection(client: TelegramClient) -> None:
    """Disconnect a client whose connection failed, so that the next attempt starts afresh."""
    try:
        await client.disconnect()  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - the connection is broken already
        log.debug("disconnect after a failed connect: %s", type(exc).__name__)


def _where(client: TelegramClient) -> str:
    """Return where the session connects, as ' (DC 2 at 149.154.167.51:443 through socks5 10.0.0.1:1080)'."""
    session = client.session
    try:
        where = f"DC {session.dc_id} at {session.server_address}:{session.port}"
    except Exception:  # noqa: BLE001 - a custom session without these fields: say nothing
        return ""
    proxy = getattr(client, "_proxy", None)
    if isinstance(proxy, dict):
        where += f" through {proxy.get('proxy_type')} proxy {proxy.get('addr')}:{proxy.get('port')}"
    elif isinstance(proxy, tuple | list) and len(proxy) >= 2:
        where += f" through MTProxy {proxy[0]}:{proxy[1]}"
    return f" ({where})"


def _attempts(retries: int) -> str:
    """Return how many attempts were made, and what to check."""
    return f"{retries + 1} attempt{'s' if retries else ''}; check the network, a proxy or a firewall"


def _unreachable(acc: Account, what: str, exc: Transient, retries: int) -> NetworkError:
    """Return the one-line exit-4 error for an RPC that timed out or dropped on every attempt."""
    reason = {"TimeoutError": f"no answer within {acc.rpc_timeout:g}s",
              "ConnectionError": "the connection dropped"}.get(str(exc), str(exc))
    return NetworkError(f"account {acc.name}: cannot {what}: {reason} ({_attempts(retries)})")


async def _resolve_one(acc: Account, spec: ChannelSpec, retries: int, chat: int) -> ChannelRef:
    try:
        return await acc.retrying(lambda: acc.resolve(spec, chat), retries)
    except AccessDenied as exc:
        raise TelegramAccessError(f"account {acc.name} cannot access channel {spec.text!r} ({exc})") from None
    except AccountDead as exc:
        raise SessionError(f"account {acc.name}: session revoked or account deactivated ({exc})") from None
    except FloodWait as exc:
        raise TelegramAccessError(f"account {acc.name}: cannot resolve channel {spec.text!r} now ({exc})") from None
    except Transient as exc:
        raise _unreachable(acc, f"resolve channel {spec.text!r}", exc, retries) from None


async def connect_accounts(clients: Mapping[str, TelegramClient], settings: Settings) -> dict[str, Account]:
    """Connect every client and check its authorization.

    An account that cannot reach Telegram (its network or proxy) is left out with a warning and the
    others go on; when none can, the first account's error stops the job.
    """
    if not clients:
        raise UsageError("no accounts given")
    retries = settings.grouping_max_retries
    results = await asyncio.gather(*(_connect_one(n, c, retries, settings.rpc_timeout) for n, c in clients.items()),
                                   return_exceptions=True)
    for res in results:
        if isinstance(res, BaseException) and not isinstance(res, NetworkError):
            raise res
    reached = [n for n, res in zip(clients, results, strict=True) if res is None]
    if not reached:
        raise next(r for r in results if isinstance(r, BaseException))
    for res in results:
        if isinstance(res, NetworkError):
            log.warning("%s; the job goes on with the other accounts", res)
    return {
        n: Account(n, clients[n], handoff_seconds=settings.flood_wait_handoff_seconds, rpc_timeout=settings.rpc_timeout)
        for n in reached
    }


async def resolve_chat(accounts: Mapping[str, Account], spec: ChannelSpec, settings: Settings,
                       chat: int = 0) -> tuple[ChannelRef, int]:
    """Resolve the job's chat number `chat` with every account; return it and its newest message id."""
    retries = settings.grouping_max_retries
    refs = await asyncio.gather(*(_resolve_one(a, spec, retries, chat) for a in accounts.values()))
    if len({r.channel_id for r in refs}) != 1:
        raise TelegramAccessError(f"the accounts resolve {spec.text!r} to different channels")
    first = next(iter(accounts.values()))
    try:
        top = await first.retrying(lambda: first.top_message_id(chat), retries)
    except Transient as exc:
        raise _unreachable(first, f"read {refs[0].key}", exc, retries) from None
    except (AccountDead, AccessDenied, FloodWait) as exc:
        raise TelegramAccessError(f"account {first.name}: cannot read {refs[0].key} ({exc})") from None
    return refs[0], top


async def open_accounts(
    clients: Mapping[str, TelegramClient], channel: str, settings: Settings
) -> tuple[dict[str, Account], ChannelRef, int]:
    """Connect every client, check authorization, resolve the channel per account; return the newest id."""
    if not clients:
        raise UsageError("no accounts given")
    spec = parse_channel(channel)  # a malformed CHANNEL stops before any connection
    accounts = await connect_accounts(clients, settings)
    ref, top = await resolve_chat(accounts, spec, settings)
    return accounts, ref, top


async def close_clients(clients: Mapping[str, TelegramClient]) -> None:
    """Disconnect every client, ignoring errors of already-dead connections."""
    async def close(c: TelegramClient) -> None:
        try:
            await c.disconnect()  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - closing must not hide the job's outcome
            log.debug("disconnect failed: %s", type(exc).__name__)

    await asyncio.gather(*(close(c) for c in clients.values()))
