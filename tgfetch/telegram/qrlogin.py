"""QR login (core.telegram.org/api/qr-login) through Telethon's `client.qr_login()`, and the QR code as terminal text.

The client exports a login token and shows it as a `tg://login?token=<base64url>` QR code; a logged-in app
scans it (auth.acceptLoginToken) and Telegram sends updateLoginToken, on which Telethon's `QRLogin.wait`
exports again and gets the authorization (following a DC migration with importLoginToken). A token expires
(about 30 s): an unscanned one is replaced and shown again until `timeout`. An account with a 2FA password
answers SESSION_PASSWORD_NEEDED: the password is asked and checked (SRP) like the phone login, 3 attempts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import qrcode
from telethon import TelegramClient, errors
from telethon.tl import functions, types

from tgfetch.errors import SessionError, UsageError

__all__ = ["MAX_PASSWORD_ATTEMPTS", "qr_login", "render_qr"]

log = logging.getLogger(__name__)

MAX_PASSWORD_ATTEMPTS = 3  # like the phone login (Telethon's `start`)
MIN_WAIT_S = 1.0  # never spin on a token whose expiry already passed by this machine's clock
_HALF_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}

Show = Callable[[str, dt.datetime], None]


async def qr_login(client: TelegramClient, show: Show, password: Callable[[], str], *,
                   timeout: float = 300) -> types.User:
    """Log the connected, unauthorized `client` in by QR code; return the user.

    `show(url, expires)` is called with each `tg://login?token=` URL to display (again with a new one
    whenever the shown one expires unscanned); `password()` is asked for the 2FA password if the account
    has one (up to 3 times). Raises UsageError if nobody scanned within `timeout` seconds, SessionError
    after 3 wrong passwords; Telethon's errors (RPC, connection) pass through.
    """
    if timeout <= 0:
        raise UsageError("the QR login timeout must be > 0 s")
    try:
        return await _scanned(client, show, timeout)
    except errors.SessionPasswordNeededError:
        return await _two_factor(client, password)


async def _scanned(client: TelegramClient, show: Show, timeout: float) -> types.User:
    """Show tokens until one is accepted; return the user (SessionPasswordNeededError with 2FA)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    qr = await client.qr_login()
    while True:
        user = await _accepted_meanwhile(client, qr)
        if user is not None:
            return user
        show(qr.url, qr.expires)
        left = deadline - loop.time()
        until_expiry = (qr.expires - dt.datetime.now(dt.UTC)).total_seconds()
        wait_s = min(left, max(until_expiry, MIN_WAIT_S))
        if wait_s <= 0:
            raise _not_scanned(timeout)
        try:
            return await qr.wait(timeout=wait_s)
        except TimeoutError:  # asyncio.wait_for's (asyncio.TimeoutError is TimeoutError since 3.11)
            if wait_s >= left:
                raise _not_scanned(timeout) from None
        await qr.recreate()


async def _accepted_meanwhile(client: TelegramClient, qr: Any) -> types.User | None:
    """Finish the login if the latest export already answered success or a DC migration.

    That happens when the token was accepted while no `wait` listened (between an expiry and the next
    export, or the update was lost): Telegram then answers the export itself. `QRLogin` keeps that answer
    in `_resp` and its own `wait` does the same steps after the update.
    """
    answer = getattr(qr, "_resp", None)
    if isinstance(answer, types.auth.LoginToken):
        return None
    if isinstance(answer, types.auth.LoginTokenMigrateTo):
        await client._switch_dc(answer.dc_id)
        answer = await client(functions.auth.ImportLoginTokenRequest(answer.token))
    if isinstance(answer, types.auth.LoginTokenSuccess):
        user: types.User = await client._on_login(answer.authorization.user)
        return user
    raise SessionError(f"Telegram answered the QR login with {type(answer).__name__}")


async def _two_factor(client: TelegramClient, password: Callable[[], str]) -> types.User:
    """Complete a scanned login with the account's 2FA password, up to MAX_PASSWORD_ATTEMPTS tries."""
    for attempt in range(1, MAX_PASSWORD_ATTEMPTS + 1):
        answer = password()
        if answer:
            try:
                user: types.User = await client.sign_in(password=answer)
                return user
            except errors.PasswordHashInvalidError:
                pass
        log.warning("wrong 2FA password (attempt %d of %d)", attempt, MAX_PASSWORD_ATTEMPTS)
    raise SessionError(f"wrong 2FA password {MAX_PASSWORD_ATTEMPTS} times: not logged in")


def _not_scanned(timeout: float) -> UsageError:
    return UsageError(f"the QR code was not scanned within {timeout:g} s")


def qr_matrix(url: str) -> list[list[bool]]:
    """Return the QR code of `url` as rows of modules (True = dark), one quiet module around."""
    code = qrcode.QRCode(border=1)
    code.add_data(url)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


def render_qr(url: str, *, light_on_dark: bool = True) -> str:
    """Return the QR code of `url` as terminal text: two rows of modules per line (▀ ▄ █ and space).

    By default the blocks draw the light modules, so on the usual dark-background terminal the code shows
    dark on light like on paper; `light_on_dark=False` draws the dark modules (for light backgrounds). An
    odd last row is paired with a light one. No colours; lines have no trailing newline.
    """
    rows = qr_matrix(url)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[::2], rows[1::2], strict=True):
        pairs = zip(top, bottom, strict=True)
        lines.append("".join(_HALF_BLOCKS[(t != light_on_dark, b != light_on_dark)] for t, b in pairs))
    return "\n".join(lines)
