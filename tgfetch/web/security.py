"""The dashboard's guard (ASGI middleware): read-only, a token when it must have one, strict headers.

- Only GET and HEAD: anything else is 405 (no request changes the job).
- With a token (WEB_TOKEN, or a random one when bound beyond loopback), every request must carry it:
  `Authorization: Bearer TOKEN`, or `?token=TOKEN` once (a page then redirects to itself without it,
  leaving an HttpOnly, SameSite=Strict cookie that carries the proof), compared in constant time.
- Without a token (loopback only), the Host header must name this machine (localhost, 127.x, ::1):
  a web page elsewhere cannot read the dashboard by pointing a host name of its own at 127.0.0.1.
- Every answer has a strict Content-Security-Policy (scripts and styles only from the dashboard's own
  files, nothing inline), nosniff, no referrer, no framing, no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["COOKIE", "CSP", "Guard", "cookie_proof"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "tgfetch_dashboard"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_MACHINE = {"localhost", "localhost."}
PAGES = ("/", "/accounts", "/plan", "/timeline", "/files", "/history")


def cookie_proof(token: str) -> bytes:
    """What the cookie holds: a MAC of the token (never the token itself)."""
    return hmac.new(token.encode(), b"tgfetch dashboard cookie", hashlib.sha256).hexdigest().encode()


def _header(scope: Scope, name: bytes) -> bytes:
    return next((v for k, v in scope.get("headers", []) if k == name), b"")


def _cookie(scope: Scope) -> bytes:
    for part in _header(scope, b"cookie").split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == COOKIE.encode():
            return value
    return b""


def _names_this_machine(host_header: bytes) -> bool:
    host = host_header.decode("latin-1").strip()
    host = host[1:host.find("]")] if host.startswith("[") else host.rpartition(":")[0] if host.count(":") == 1 else host
    if host.lower() in _MACHINE:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """Wraps the dashboard's ASGI app (see the module docstring)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.proof = cookie_proof(token) if token else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets, no lifespan: nothing else is served
        send = _with_headers(send)
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, "the dashboard is read-only: GET and HEAD only", [(b"allow", b"GET, HEAD")])
            return
        if self.token is None:
            if not _names_this_machine(_header(scope, b"host")):
                await _plain(send, 403, "the dashboard answers only to localhost, 127.0.0.1 or [::1] "
                                        "(set WEB_TOKEN to serve it under other names)")
                return
            await self.app(scope, receive, send)
            return
        await self._checked(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.token is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        auth = _header(scope, b"authorization")
        bearer = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
        ok = (hmac.compare_digest(bearer, self.token) if bearer else
              hmac.compare_digest(given.encode(), self.token) if given is not None else
              hmac.compare_digest(_cookie(scope), self.proof))
        if not ok:
            await _plain(send, 401, "a token is needed: open the URL printed at start (…/?token=…), or send "
                                    "Authorization: Bearer TOKEN", [(b"www-authenticate", b'Bearer realm="tgfetch"')])
            return
        if given is None:
            await self.app(scope, receive, send)
            return
        cookie = self._cookie_header(scope)
        if scope["path"] in PAGES:  # a page: the same page without the token in its address
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            where = scope["path"] + (f"?{rest}" if rest else "")
            await _plain(send, 303, "see " + where, [(b"location", where.encode("latin-1")), cookie])
            return
        await self.app(scope, receive, _with_headers(send, [cookie]))

    def _cookie_header(self, scope: Scope) -> tuple[bytes, bytes]:
        secure = b"; Secure" if scope.get("scheme") == "https" else b""
        return (b"set-cookie", COOKIE.encode() + b"=" + self.proof + b"; Path=/; HttpOnly; SameSite=Strict" + secure)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]] | None = None) -> Send:
    """`send` with the security headers (and `extra`) added to the response's start."""
    add = HEADERS if extra is None else extra

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in add}
            message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names] + add
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = f"{status}: {text}\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
