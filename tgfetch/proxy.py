"""Proxy URLs (`PROXY`, `TG_PROXIES`, `--proxy`): parsed and checked before anything connects.

Forms (the connection itself is python-socks, through Telethon; MTProxy is Telethon's own transport):

    socks5://[user:pass@]host:port     SOCKS5 (socks5h:// is the same: Telegram's addresses are IPs)
    socks4://[user@]host:port          SOCKS4 (a user id, no password)
    http://[user:pass@]host:port       an HTTP proxy that allows CONNECT
    mtproxy://SECRET@host:port         an MTProto proxy; SECRET is 32 hex digits, or dd + 32
    tg://proxy?server=H&port=P&secret=S, https://t.me/proxy?server=H&port=P&secret=S   the links MTProxies are shared as
    direct                             (in TG_PROXIES) this account connects without the PROXY

A password or an MTProxy secret is a secret: `ProxySpec.shown` replaces it with ***, and errors
never repeat it.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from tgfetch.errors import ConfigError

__all__ = ["DIRECT", "ProxySpec", "parse_proxies", "parse_proxy"]

DIRECT = "direct"
FORMS = ("socks5://[user:pass@]host:port, socks4://[user@]host:port, http://[user:pass@]host:port, "
         "mtproxy://SECRET@host:port or a tg://proxy / t.me/proxy link")
_SCHEMES = {"socks5": "socks5", "socks5h": "socks5", "socks4": "socks4", "socks4a": "socks4", "http": "http",
            "mtproxy": "mtproxy"}
_HEX_SECRET = re.compile(r"(dd)?[0-9a-f]{32}", re.I)


@dataclass(frozen=True)
class ProxySpec:
    """One proxy: its kind (socks5, socks4, http, mtproxy), address and credentials."""

    kind: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)  # MTProxy

    @property
    def shown(self) -> str:
        """The proxy as logs and reports show it: the password and secret as ***."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.kind == "mtproxy":
            return f"mtproxy://***@{host}:{self.port}"
        user = ""
        if self.username is not None:
            user = f"{self.username}:***@" if self.password is not None else f"{self.username}@"
        return f"{self.kind}://{user}{host}:{self.port}"

    @property
    def secrets(self) -> list[str]:
        """What logs must never show."""
        return [s for s in (self.password, self.secret) if s]


def _bad(setting: str, shown: str, why: str) -> ConfigError:
    return ConfigError(f"{setting}={shown!r} is not allowed: {why}; expected {FORMS}")


def _masked(text: str) -> str:
    """The URL as an error may show it: its scheme, host and port, never what may be a password or secret."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "…" if "@" in text or ":" in text else text[:40]
    if re.search(r"secret=", rest, re.I):
        return f"{scheme}://" + re.sub(r"(secret=)[^&]*", r"\1***", rest, flags=re.I)
    hostport = rest.rpartition("@")[2].split("/", 1)[0]
    if not re.fullmatch(r"([\w.\-]+|\[[0-9a-fA-F:.]+\])(:\d{1,6})?", hostport):
        return f"{scheme}://…"  # not clearly host:port: it may hold a password
    return f"{scheme}://{'***@' if '@' in rest else ''}{hostport}"


def parse_proxy(text: str, setting: str = "PROXY") -> ProxySpec:
    """Parse one proxy URL; raise ConfigError (one line, no secret) for anything else."""
    raw = text.strip()
    shown = _masked(raw)
    if any(c.isspace() for c in raw) or not raw.isprintable():
        raise _bad(setting, shown, "it contains spaces or control characters")
    try:
        url = urllib.parse.urlsplit(raw)
        port = url.port
    except ValueError:
        raise _bad(setting, shown, "it is not a URL of host and port (a port is 1 to 65535)") from None
    scheme = url.scheme.lower()
    if scheme == "tg" or (scheme == "https" and url.hostname in ("t.me", "telegram.me")):
        return _from_link(url, setting, shown)
    if scheme not in _SCHEMES:
        why = ("an HTTPS proxy (TLS to the proxy) is not supported" if scheme == "https"
               else f"the scheme {scheme + '://' if scheme else '(none)'} is not a proxy type")
        raise _bad(setting, shown, why)
    if not url.hostname or port is None or port == 0:
        raise _bad(setting, shown, "it needs a host and a port from 1 to 65535")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise _bad(setting, shown, "a proxy URL has no path, query or fragment")
    kind = _SCHEMES[scheme]
    user = urllib.parse.unquote(url.username) if url.username is not None else None
    password = urllib.parse.unquote(url.password) if url.password is not None else None
    if kind == "mtproxy":
        return ProxySpec(kind, url.hostname, port, secret=_check_secret(user or "", setting, shown))
    if kind == "socks4" and password is not None:
        raise _bad(setting, shown, "SOCKS4 takes a user id but no password (use socks5:// for a password)")
    return ProxySpec(kind, url.hostname, port, user, password)


def _from_link(url: urllib.parse.SplitResult, setting: str, shown: str) -> ProxySpec:
    """An MTProxy as Telegram shares it: tg://proxy?server=…&port=…&secret=… (or t.me/proxy?…)."""
    if (url.netloc if url.scheme == "tg" else url.path.strip("/")) != "proxy":
        raise _bad(setting, shown, "only tg://proxy and t.me/proxy links name a proxy")
    args = urllib.parse.parse_qs(url.query, max_num_fields=8)
    server, port, secret = (args.get(k, [""])[0] for k in ("server", "port", "secret"))
    if not server or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _bad(setting, shown, "the link needs server= and a port= from 1 to 65535")
    return ProxySpec("mtproxy", server, int(port), secret=_check_secret(secret, setting, shown))


def _check_secret(secret: str, setting: str, shown: str) -> str:
    if secret[:2].lower() == "ee":
        raise _bad(setting, shown, "fake-TLS MTProxy secrets (ee…) are not supported by Telethon; "
                                   "ask for the proxy's dd… or plain secret")
    if not _HEX_SECRET.fullmatch(secret):
        raise _bad(setting, shown, "an MTProxy secret is 32 hex digits, or dd and 32 hex digits")
    return secret.lower()


def parse_proxies(text: str) -> dict[str, ProxySpec | None]:
    """Parse TG_PROXIES (`name=url,name=url`; `name=direct` skips PROXY for that account)."""
    out: dict[str, ProxySpec | None] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, eq, url = item.strip().partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"TG_PROXIES item {_masked(item.strip())!r} is not allowed: expected "
                              "name=URL items separated by commas (name: a session name or stringN)")
        name = name.strip()
        if name in out:
            raise ConfigError(f"TG_PROXIES gives account {name!r} twice: one proxy per account")
        out[name] = None if url.strip().lower() == DIRECT else parse_proxy(url, f"TG_PROXIES item {name}")
    return out
