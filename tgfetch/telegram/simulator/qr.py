"""QR code login (core.telegram.org/api/qr-login): auth.exportLoginToken, acceptLoginToken, importLoginToken.

The client that wants to log in calls auth.exportLoginToken(api_id, api_hash, except_ids): auth.loginToken
(expires, token), valid `ttl` seconds (whole seconds, like every TL date); each export issues a new token and
supersedes the session's previous one, so an expired QR code is replaced by exporting again. An authorized
device accepts it with auth.acceptLoginToken(token) (`SimulatedTelegram.scan_login_token`, or a client's
own request): a token that is unknown or a migration token -> AUTH_TOKEN_INVALID, accepted before ->
AUTH_TOKEN_ALREADY_ACCEPTED, expired or superseded -> AUTH_TOKEN_EXPIRED; else it answers the new session's
`authorization` and the server pushes updateShort(updateLoginToken) to the exporting client's connection
(`SimSession.updates`, set by its home FakeSender). The client's next export answers auth.loginTokenSuccess
(authorization): the session now belongs to the accepting account. If that account lives on another DC than
the export's, the export answers auth.loginTokenMigrateTo(dc_id, token) instead and auth.importLoginToken(token)
on that DC finishes. With a 2FA password the finishing export or import fails 401 SESSION_PASSWORD_NEEDED and
account.getPassword + auth.checkPassword (SRP, `login`) complete the login.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import derive_int

URL_PREFIX = "tg://login?token="

Handle = Callable[[SimSession, int, Any], Awaitable[Any]]


@dataclasses.dataclass
class LoginToken:
    """One exported (or migration) token and where it stands."""

    token: bytes
    session: SimSession  # the client that exported it and waits
    expires: int  # unix seconds
    api_id: int
    dc_id: int  # exported on; for a migration token, the DC that imports it
    migrated: bool = False
    superseded: bool = False
    accepted_by: Account | None = None
    accepted_dc: int = 0
    used: bool = False


def token_bytes(token: bytes | str) -> bytes:
    """Return the token of a tg://login?token=<base64url> URL (or of the bare base64url text); bytes unchanged."""
    if isinstance(token, bytes):
        return token
    text = token.removeprefix(URL_PREFIX)
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise ValueError(f"not a login token or tg://login URL: {token!r}")
    return raw


class QrLoginService:
    """Issue, accept and redeem login tokens."""

    def __init__(
        self,
        seed: int,
        ttl: float,
        *,
        password_needed: Callable[[], bool],
        authorize: Callable[[SimSession], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("login_token_ttl must be > 0")
        self.seed = seed
        self.ttl = ttl
        self._password_needed = password_needed
        self._authorize = authorize
        self._clock = clock
        self._tokens: dict[bytes, LoginToken] = {}
        self._silent: set[bytes] = set()  # accepted without notifying the client (a lost update)
        self._serial = 0

    def handlers(self) -> dict[type, Callable[[SimSession, int, Any], Any]]:
        """Return the request-type -> handler table of this service."""
        return {
            functions.auth.ExportLoginTokenRequest: self._export,
            functions.auth.AcceptLoginTokenRequest: self._accept,
            functions.auth.ImportLoginTokenRequest: self._import,
        }

    async def scan(self, handle: Handle, session: SimSession, token: bytes | str, *, dc_id: int,
                   notify: bool = True) -> Any:
        """Accept `token` from `session` (another, authorized device) on `dc_id`, through the server's `handle`.

        Returns the new session's `Authorization`; an RPC error raises as Telethon's error class (e.g.
        `AuthTokenExpiredError`). `notify=False` loses the updateLoginToken: the waiting client learns of the
        acceptance only from its next exportLoginToken.
        """
        raw = token_bytes(token)
        if not notify:
            self._silent.add(raw)
        request = functions.auth.AcceptLoginTokenRequest(token=raw)
        try:
            return await handle(session, dc_id, request)
        except RpcFail as exc:
            rpc = types.RpcError(error_code=exc.code, error_message=exc.message)
            raise errors.rpc_message_to_error(rpc, request) from None

    # -- handlers ---------------------------------------------------------------

    def _export(self, session: SimSession, dc_id: int, req: Any) -> Any:
        accepted = next((t for t in self._tokens.values()
                         if t.session is session and t.accepted_by is not None and not t.used), None)
        if accepted is None:
            fresh = self._issue(session, dc_id, req.api_id)
            return types.auth.LoginToken(expires=_date(fresh.expires), token=fresh.token)
        if accepted.accepted_dc != dc_id:
            accepted.used = True
            moved = self._issue(session, accepted.accepted_dc, accepted.api_id, migrated=True)
            moved.accepted_by, moved.accepted_dc = accepted.accepted_by, accepted.accepted_dc
            return types.auth.LoginTokenMigrateTo(dc_id=moved.dc_id, token=moved.token)
        return self._finish(session, accepted)

    def _import(self, session: SimSession, dc_id: int, req: Any) -> Any:
        found = self._tokens.get(req.token)
        if found is None or not found.migrated or found.session is not session or found.dc_id != dc_id:
            raise RpcFail(400, "AUTH_TOKEN_INVALID")
        if found.used:
            raise RpcFail(400, "AUTH_TOKEN_ALREADY_ACCEPTED")
        if self._clock() >= found.expires:
            raise RpcFail(400, "AUTH_TOKEN_EXPIRED")
        return self._finish(session, found)

    def _accept(self, session: SimSession, dc_id: int, req: Any) -> Any:
        found = self._tokens.get(req.token)
        if found is None or found.migrated:
            raise RpcFail(400, "AUTH_TOKEN_INVALID")
        if found.accepted_by is not None:
            raise RpcFail(400, "AUTH_TOKEN_ALREADY_ACCEPTED")
        if found.superseded or self._clock() >= found.expires:
            raise RpcFail(400, "AUTH_TOKEN_EXPIRED")
        found.accepted_by, found.accepted_dc = session.account, dc_id
        push = found.session.updates
        if push is not None and found.token not in self._silent:
            push(types.UpdateShort(update=types.UpdateLoginToken(), date=_date(int(self._clock()))))
        return self._authorization(found)

    # -- internals --------------------------------------------------------------

    def _issue(self, session: SimSession, dc_id: int, api_id: int, *, migrated: bool = False) -> LoginToken:
        if not migrated:
            for old in self._tokens.values():
                if old.session is session and not old.migrated:
                    old.superseded = True
        self._serial += 1
        raw = hashlib.sha256(f"login_token|{self.seed}|{self._serial}".encode()).digest()
        issued = LoginToken(raw, session, math.ceil(self._clock() + self.ttl), api_id, dc_id, migrated=migrated)
        self._tokens[raw] = issued
        return issued

    def _finish(self, session: SimSession, token: LoginToken) -> Any:
        assert token.accepted_by is not None
        token.used = True
        session.account = token.accepted_by
        if self._password_needed():
            session.password_needed = True
            raise RpcFail(401, "SESSION_PASSWORD_NEEDED")
        return types.auth.LoginTokenSuccess(authorization=self._authorize(session))

    def _authorization(self, token: LoginToken) -> Any:
        now = _date(int(self._clock()))
        return types.Authorization(
            hash=derive_int("authorization", self.seed, token.token.hex()),
            device_model="tgfetch (simulated)", platform="simulator", system_version="1",
            api_id=token.api_id, app_name="tgfetch", app_version="1", date_created=now, date_active=now,
            ip="127.0.0.1", country="ZZ", region="ZZ", password_pending=self._password_needed(),
        )


def _date(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)
