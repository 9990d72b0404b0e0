"""The dashboard's bind address, `[HOST:]PORT`: parsed, checked, and whether it is loopback.

Standard library only, so that `tgfetch.config` can check WEB without importing the web stack.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["ALLOWED_BIND", "DEFAULT_HOST", "WebBind", "parse_bind"]

DEFAULT_HOST = "127.0.0.1"
ALLOWED_BIND = ("[HOST:]PORT: a port from 0 to 65535 (0: any free one), after an optional host: an IPv4 address, "
                "[an IPv6 address], localhost or a host name (default host 127.0.0.1)")
_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


@dataclass(frozen=True)
class WebBind:
    """Where the dashboard listens."""

    host: str  # an address or host name, IPv6 without brackets
    port: int  # 0: any free port

    @property
    def loopback(self) -> bool:
        """True when only this machine can connect (127.0.0.0/8, ::1, localhost)."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def url(self, port: int | None = None) -> str:
        """The base URL a browser opens (`port`: the one actually bound)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(text: str) -> WebBind:
    """`8080`, `0.0.0.0:8080`, `[::1]:8080`, `localhost:8080` → WebBind; ValueError saying what is wrong
    (the caller adds what is allowed: ALLOWED_BIND)."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ip(host, 6):
            raise ValueError(f"{host!r} is not an IPv6 address")
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets, e.g. [::1]:8080")
    elif not (_is_ip(host, 4) or (_HOST_NAME.fullmatch(host) and not re.fullmatch(r"[0-9.]+", host))):
        raise ValueError(f"{host!r} is not a host")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        raise ValueError(f"{port!r} is not a port")
    return WebBind(host, int(port))


def _is_ip(host: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(host).version == version
    except ValueError:
        return False
