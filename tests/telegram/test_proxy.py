"""Issue 15: proxies (PROXY, TG_PROXIES, --proxy) with real sockets.

Local stub servers on 127.0.0.1 (a SOCKS5 server, an HTTP CONNECT server, a bare TCP listener
for MTProxy) record what a real `TelegramClient`, configured by tgfetch from the settings, asks
of them, and close without forwarding anything. The sessions point at a loopback address too:
nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tgfetch.cli import main
from tgfetch.config import Settings, load_settings
from tgfetch.errors import ConfigError, NetworkError
from tgfetch.proxy import parse_proxy
from tgfetch.telegram.clients import build_clients, close_clients, connect_accounts
from tgfetch.telegram.simulator import SimulatedTelegram

DC_PORT = 9  # the sessions' data center: 127.0.0.1:9 (nothing listens; the stubs never forward)
SECRET = "0123456789abcdef0123456789abcdef"


@dataclass
class Stub:
    """A local server that records each connection's request and closes it."""

    port: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)


async def _socks5(stub: Stub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _, n = await reader.readexactly(2)
    methods = await reader.readexactly(n)
    rec: dict[str, Any] = {"methods": set(methods)}
    if 2 in methods:  # username/password (RFC 1929)
        writer.write(b"\x05\x02")
        _, ulen = await reader.readexactly(2)
        rec["user"] = (await reader.readexactly(ulen)).decode()
        plen = (await reader.readexactly(1))[0]
        rec["password"] = (await reader.readexactly(plen)).decode()
        writer.write(b"\x01\x00")
    else:
        writer.write(b"\x05\x00")
    _, cmd, _, atyp = await reader.readexactly(4)
    if atyp == 1:
        rec["host"] = ".".join(str(b) for b in await reader.readexactly(4))
    else:
        rec["host"] = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
    rec["port"] = int.from_bytes(await reader.readexactly(2), "big")
    rec["cmd"] = cmd
    stub.seen.append(rec)
    writer.write(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")  # "connection not allowed by ruleset"
    await writer.drain()
    writer.close()


async def _http(stub: Stub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    line, *headers = head.strip().split("\r\n")
    auth = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization")), "")
    stub.seen.append({"line": line, "auth": auth})
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


async def _raw(stub: Stub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        first = await asyncio.wait_for(reader.readexactly(64), 5)
    except (asyncio.IncompleteReadError, TimeoutError):
        first = b""
    stub.seen.append({"first": first})
    writer.close()


@pytest.fixture
async def stubs() -> AsyncIterator[dict[str, Stub]]:
    out = {"socks5": Stub(), "http": Stub(), "mtproxy": Stub()}
    servers = []
    for kind, handler in (("socks5", _socks5), ("http", _http), ("mtproxy", _raw)):
        stub = out[kind]
        server = await asyncio.start_server(lambda r, w, s=stub, h=handler: h(s, r, w), "127.0.0.1", 0)
        stub.port = server.sockets[0].getsockname()[1]
        servers.append(server)
    yield out
    for server in servers:
        server.close()


def _session() -> str:
    """A string session whose data center is on this machine (127.0.0.1:DC_PORT)."""
    s = StringSession()
    s.set_dc(2, "127.0.0.1", DC_PORT)
    s.auth_key = AuthKey(os.urandom(256))
    return str(s.save())


def _settings(**kw: Any) -> Settings:
    return load_settings(env_file=None, tg_api_id=1, tg_api_hash="0" * 32,
                         tg_session_strings=",".join(_session() for _ in range(kw.pop("accounts", 2))),
                         grouping_max_retries=0, rpc_timeout=3, **kw)


async def _connect(settings: Settings) -> NetworkError:
    clients = build_clients(settings)
    try:
        with pytest.raises(NetworkError) as err:
            await connect_accounts(clients, settings)
        return err.value
    finally:
        await close_clients(clients)


async def test_each_account_connects_through_its_own_proxy(stubs: dict[str, Stub]) -> None:
    s5, http = stubs["socks5"].port, stubs["http"].port
    settings = _settings(tg_proxies=f"string1=socks5://alice:s3cret@127.0.0.1:{s5},"
                                    f"string2=http://bob:pa55@127.0.0.1:{http}")
    err = await _connect(settings)
    # Telethon tries a few times: every attempt of each account went through its own proxy.
    want = {"methods": {0, 2}, "user": "alice", "password": "s3cret", "host": "127.0.0.1", "port": DC_PORT, "cmd": 1}
    assert stubs["socks5"].seen and all(got == want for got in stubs["socks5"].seen)
    assert stubs["http"].seen
    for got in stubs["http"].seen:
        assert got["line"] == f"CONNECT 127.0.0.1:{DC_PORT} HTTP/1.1"
        assert base64.b64decode(got["auth"].split()[1]) == b"bob:pa55"
    assert "s3cret" not in str(err) and "pa55" not in str(err) and "proxy 127.0.0.1" in str(err)


async def test_proxy_for_all_and_direct_for_one(stubs: dict[str, Stub]) -> None:
    settings = _settings(accounts=3, proxy=f"socks5://127.0.0.1:{stubs['socks5'].port}", tg_proxies="string2=direct")
    clients = build_clients(settings)
    proxies = {name: getattr(c, "_proxy", None) for name, c in clients.items()}
    await close_clients(clients)
    assert proxies["string2"] is None and proxies["string1"] == proxies["string3"] is not None
    await _connect(settings)
    assert stubs["socks5"].seen and all(got["methods"] == {0} for got in stubs["socks5"].seen)


async def test_mtproxy_uses_telegrams_obfuscated_transport(stubs: dict[str, Stub]) -> None:
    settings = _settings(accounts=1, proxy=f"mtproxy://dd{SECRET}@127.0.0.1:{stubs['mtproxy'].port}")
    err = await _connect(settings)
    # The obfuscated2 handshake of 64 bytes (core.telegram.org/mtproto/mtproto-transports), on every attempt.
    assert stubs["mtproxy"].seen and all(len(got["first"]) == 64 for got in stubs["mtproxy"].seen)
    assert SECRET not in str(err) and "MTProxy 127.0.0.1" in str(err)


async def test_an_unreachable_proxy_leaves_one_account_out(stubs: dict[str, Stub],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    sim = SimulatedTelegram(seed=1, messages=20)
    settings = _settings(accounts=1, proxy=f"socks5://carol:hunter2@127.0.0.1:{stubs['socks5'].port}")
    clients = {**build_clients(settings), "sim1": sim.client("sim1")}
    try:
        with caplog.at_level(logging.WARNING, logger="tgfetch"):
            accounts = await connect_accounts(clients, settings)
    finally:
        await close_clients(clients)
    assert list(accounts) == ["sim1"]
    warning = next(r.getMessage() for r in caplog.records if "string1" in r.getMessage())
    assert "goes on with the other accounts" in warning and "hunter2" not in warning


@pytest.mark.parametrize("url", ["socks5://user:topsecret", "socks5://u:topsecret@host", "ftp://u:topsecret@h:1",
                                 "socks4://u:topsecret@h:1", f"mtproxy://ee{SECRET}@h:1",
                                 "tg://proxy?server=h&port=0&secret=topsecret"])
def test_a_bad_proxy_url_is_one_line_without_the_secret(url: str, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        parse_proxy(url)
    assert "topsecret" not in str(err.value) and SECRET not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--simulate", "--sim-messages", "5", "--proxy", url])
    out = capsys.readouterr()
    assert exit_.value.code == 2 and "topsecret" not in out.err + out.out and "PROXY=" in out.err


def test_tg_proxies_must_name_configured_accounts() -> None:
    with pytest.raises(ConfigError, match="TG_PROXIES names account 'nobody'"):
        build_clients(_settings(tg_proxies="nobody=socks5://127.0.0.1:1080"))


def test_proxy_links_as_telegram_shares_them() -> None:
    for link in (f"tg://proxy?server=10.0.0.1&port=443&secret={SECRET}",
                 f"https://t.me/proxy?server=10.0.0.1&port=443&secret=dd{SECRET}"):
        spec = parse_proxy(link)
        assert (spec.kind, spec.host, spec.port) == ("mtproxy", "10.0.0.1", 443) and SECRET in (spec.secret or "")
        assert SECRET not in spec.shown
