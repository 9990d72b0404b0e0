"""QR login end to end: real Telethon clients against the simulator's auth.exportLoginToken / acceptLoginToken."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import qrcode
from telethon import TelegramClient, errors, events
from telethon.tl import functions, types

from tgfetch.errors import SessionError, UsageError
from tgfetch.telegram.qrlogin import MAX_PASSWORD_ATTEMPTS, qr_login, qr_matrix, render_qr
from tgfetch.telegram.simulator import SimulatedTelegram

PREFIX = "tg://login?token="
STEP_S = 10.0  # no single step of a test may take longer (never hang)


def small_sim(**kwargs: Any) -> SimulatedTelegram:
    return SimulatedTelegram(seed=3, messages=20, size_scale=0.01, other_dialogs=2, **kwargs)


def token_of(url: str) -> bytes:
    text = url.removeprefix(PREFIX)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def no_password() -> str:
    raise AssertionError("no 2FA password should be asked")


class Login:
    """qr_login running in a task; the URLs it showed arrive on a queue."""

    def __init__(self, client: TelegramClient, password: Callable[[], str] = no_password,
                 timeout: float = 30) -> None:
        self.client = client
        self.shown: list[tuple[str, dt.datetime]] = []
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self.task = asyncio.create_task(qr_login(client, self._show, password, timeout=timeout))

    def _show(self, url: str, expires: dt.datetime) -> None:
        self.shown.append((url, expires))
        self._queue.put_nowait(url)

    async def next_url(self) -> str:
        return await asyncio.wait_for(self._queue.get(), STEP_S)

    async def result(self) -> Any:
        return await asyncio.wait_for(self.task, STEP_S)


@asynccontextmanager
async def waiting(sim: SimulatedTelegram, name: str = "newcomer", **kwargs: Any) -> AsyncIterator[Login]:
    """An unauthorized client of `sim`, connected, running qr_login; cleaned up afterwards."""
    client = sim.unauthorized_client(name)
    await client.connect()
    login = Login(client, **kwargs)
    try:
        yield login
    finally:
        login.task.cancel()
        await asyncio.gather(login.task, return_exceptions=True)
        await client.disconnect()


def answers(values: Iterable[str]) -> tuple[Callable[[], str], list[str]]:
    """A password callback giving `values` in turn, and the list of what it gave."""
    pending = list(values)
    given: list[str] = []

    def ask() -> str:
        given.append(pending.pop(0))
        return given[-1]

    return ask, given


# -- the whole flow -----------------------------------------------------------------------------


async def test_scan_logs_the_waiting_client_in() -> None:
    sim = small_sim()
    async with waiting(sim) as login:
        seen: list[Any] = []

        async def on_update(update: Any) -> None:
            seen.append(update)

        login.client.add_event_handler(on_update, events.Raw(types.UpdateLoginToken))
        url = await login.next_url()
        assert url.startswith(PREFIX) and "=" not in url.removeprefix(PREFIX)  # base64url, unpadded
        assert len(token_of(url)) == 32
        expires = login.shown[0][1]
        assert 29 <= (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 31  # the 30 s default
        authorization = await sim.scan_login_token(url, by="alice")
        assert isinstance(authorization, types.Authorization) and authorization.api_id == 1
        user = await login.result()
        assert user.first_name == "alice"  # the session belongs to whoever scanned it
        assert await login.client.is_user_authorized()
        me = await login.client.get_me()
        assert me is not None and me.id == user.id
        channel = await login.client.get_entity(sim.channel_username)
        assert channel.id == sim.channel_id
        assert len(login.shown) == 1
        assert len(seen) == 1  # the server pushed updateLoginToken through the client's update loop
    assert sim.rpc_counts("alice")["AcceptLoginTokenRequest"] == 1
    assert sim.rpc_counts("newcomer")["ExportLoginTokenRequest"] == 2  # the token, then the success


async def test_expired_token_is_replaced_and_the_new_one_works() -> None:
    sim = small_sim(login_token_ttl=1)
    async with waiting(sim) as login:
        first = await login.next_url()
        second = await login.next_url()  # the first expired unscanned: a new QR code
        assert token_of(first) != token_of(second)
        assert login.shown[1][1] > login.shown[0][1]
        with pytest.raises(errors.AuthTokenExpiredError):
            await sim.scan_login_token(first, by="bob")
        await sim.scan_login_token(second, by="bob")
        user = await login.result()
        assert user.first_name == "bob"
        assert len(login.shown) == 2
        assert (await login.client.get_me()).id == user.id


async def test_two_factor_asks_the_password_until_right() -> None:
    sim = small_sim(password="hunter2")
    ask, given = answers(["wrong", "hunter2"])
    async with waiting(sim, password=ask) as login:
        await sim.scan_login_token(await login.next_url(), by="carol")
        user = await login.result()
        assert user.first_name == "carol"
        assert given == ["wrong", "hunter2"]
        assert (await login.client.get_me()).id == user.id
    assert sim.rpc_counts("carol")["CheckPasswordRequest"] == 2


async def test_three_wrong_passwords_give_one_line() -> None:
    sim = small_sim(password="hunter2")
    ask, given = answers(["no", "", "nope", "hunter2"])
    async with waiting(sim, password=ask) as login:
        await sim.scan_login_token(await login.next_url(), by="carol")
        with pytest.raises(SessionError) as caught:
            await login.result()
        assert str(caught.value) == f"wrong 2FA password {MAX_PASSWORD_ATTEMPTS} times: not logged in"
        assert given == ["no", "", "nope"]
        assert not await login.client.is_user_authorized()


async def test_nobody_scans_within_the_timeout() -> None:
    sim = small_sim()
    async with waiting(sim, timeout=0.3) as login:
        with pytest.raises(UsageError) as caught:
            await login.result()
        assert str(caught.value) == "the QR code was not scanned within 0.3 s"
        assert len(login.shown) == 1
        assert not await login.client.is_user_authorized()


async def test_timeout_spans_several_tokens() -> None:
    sim = small_sim(login_token_ttl=1)
    async with waiting(sim, timeout=2.5) as login:
        with pytest.raises(UsageError, match="not scanned within 2.5 s"):
            await login.result()
        tokens = {token_of(url) for url, _ in login.shown}
        assert len(tokens) == len(login.shown) >= 2


async def test_bad_timeout_is_a_usage_error() -> None:
    client = small_sim().unauthorized_client("x")
    with pytest.raises(UsageError, match="timeout must be > 0"):
        await qr_login(client, lambda url, expires: None, no_password, timeout=0)


# -- the rarer paths ----------------------------------------------------------------------------


async def test_account_on_another_dc_migrates_then_imports() -> None:
    sim = small_sim()
    async with waiting(sim) as login:
        await sim.scan_login_token(await login.next_url(), by="dave", dc_id=4)
        user = await login.result()
        assert user.first_name == "dave"
        assert login.client.session.dc_id == 4  # loginTokenMigrateTo -> _switch_dc -> importLoginToken
        assert (await login.client.get_me()).id == user.id
    counts = sim.rpc_counts("newcomer")  # the waiting client asked, before it became dave's
    assert counts["ImportLoginTokenRequest"] == 1


async def test_migration_with_two_factor() -> None:
    sim = small_sim(password="pw")
    ask, given = answers(["pw"])
    async with waiting(sim, password=ask) as login:
        await sim.scan_login_token(await login.next_url(), by="erin", dc_id=1)
        user = await login.result()
        assert user.first_name == "erin" and given == ["pw"]
        assert login.client.session.dc_id == 1


async def test_lost_update_is_found_at_the_next_export() -> None:
    sim = small_sim(login_token_ttl=1)
    async with waiting(sim) as login:
        await sim.scan_login_token(await login.next_url(), by="frank", notify=False)
        user = await login.result()  # at expiry the export answers loginTokenSuccess itself
        assert user.first_name == "frank"
        assert len(login.shown) == 1
        assert await login.client.is_user_authorized()


async def test_accept_errors_over_the_wire() -> None:
    sim = small_sim()
    scanner = sim.client("grace")
    waiter = sim.unauthorized_client("henry")
    await scanner.connect()
    await waiter.connect()
    try:
        with pytest.raises(errors.AuthTokenInvalidError):
            await scanner(functions.auth.AcceptLoginTokenRequest(token=b"\x00" * 32))
        qr = await waiter.qr_login()
        with pytest.raises(errors.AuthKeyUnregisteredError):  # only a logged-in app accepts
            await waiter(functions.auth.AcceptLoginTokenRequest(token=qr.token))
        accepted = await scanner(functions.auth.AcceptLoginTokenRequest(token=qr.token))
        assert isinstance(accepted, types.Authorization)
        with pytest.raises(errors.AuthTokenAlreadyAcceptedError):
            await scanner(functions.auth.AcceptLoginTokenRequest(token=qr.token))
        with pytest.raises(errors.AuthTokenInvalidError):  # importLoginToken is for migration tokens only
            await waiter(functions.auth.ImportLoginTokenRequest(token=qr.token))
        done = await waiter(functions.auth.ExportLoginTokenRequest(api_id=1, api_hash="sim", except_ids=[]))
        assert isinstance(done, types.auth.LoginTokenSuccess)
        assert done.authorization.user.first_name == "grace"
    finally:
        await scanner.disconnect()
        await waiter.disconnect()


async def test_a_new_export_supersedes_the_shown_token() -> None:
    sim = small_sim()
    waiter = sim.unauthorized_client("ivan")
    await waiter.connect()
    try:
        qr = await waiter.qr_login()
        old = qr.token
        await qr.recreate()
        assert qr.token != old
        with pytest.raises(errors.AuthTokenExpiredError):
            await sim.scan_login_token(old, by="ivan")
        with pytest.raises(ValueError, match="not a login token"):
            await sim.scan_login_token("tg://login?token=***", by="ivan")
    finally:
        await waiter.disconnect()


# -- the QR code as text ------------------------------------------------------------------------

URL = PREFIX + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
HALVES = {" ": (False, False), "\u2580": (True, False), "\u2584": (False, True), "\u2588": (True, True)}


def decode(text: str, light_on_dark: bool) -> list[list[bool]]:
    """Turn half-block text back into module rows (True = dark)."""
    rows: list[list[bool]] = []
    for line in text.split("\n"):
        pairs = [HALVES[ch] for ch in line]
        rows.append([top != light_on_dark for top, _ in pairs])
        rows.append([bottom != light_on_dark for _, bottom in pairs])
    return rows


def reference(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=1)
    code.add_data(url)
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.get_matrix()]


@pytest.mark.parametrize("light_on_dark", [True, False])
def test_render_reproduces_the_qrcode_matrix(light_on_dark: bool) -> None:
    matrix = reference(URL)
    text = render_qr(URL, light_on_dark=light_on_dark)
    rows = decode(text, light_on_dark)
    assert rows[: len(matrix)] == matrix
    assert rows[len(matrix):] == [[False] * len(matrix)] * (len(rows) - len(matrix))  # the pad row is light
    assert qr_matrix(URL) == matrix


def test_render_shape_and_characters() -> None:
    text = render_qr(URL)
    size = len(reference(URL))
    lines = text.split("\n")
    assert size == 4 * 4 + 17 + 2  # version 4 for a 32-byte token URL, one quiet module each side
    assert len(lines) == (size + 1) // 2
    assert {len(line) for line in lines} == {size}
    assert set(text) <= {" ", "\u2580", "\u2584", "\u2588", "\n"}
    assert not text.endswith("\n")
    assert set(lines[0]) == {"\u2580", "\u2588"}  # the quiet row is light: drawn in every column
    assert lines[0][0] == lines[0][-1] == "\u2588"  # so is the quiet column on each side
    assert render_qr(URL) == text  # deterministic
    assert render_qr(URL + "x") != text
    inverse = render_qr(URL, light_on_dark=False)
    swap = {" ": "\u2588", "\u2588": " ", "\u2580": "\u2584", "\u2584": "\u2580", "\n": "\n"}
    assert "".join(swap[ch] for ch in inverse[: -size - 1]) == text[: -size - 1]  # same code, other ink
