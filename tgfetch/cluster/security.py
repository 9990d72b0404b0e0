"""Redis URL checks: TLS or loopback or a password, and passwords never printed.

    redis://[:password@]host[:port][/db]     plain TCP
    rediss://[:password@]host[:port][/db]    TLS
    unix:///path/to/socket                   local socket (always local)
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from tgfetch.errors import UsageError

__all__ = ["check_redis_url", "connect", "is_loopback", "redact_url"]

log = logging.getLogger(__name__)

_SCHEMES = ("redis", "rediss", "unix")


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _pw = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{userinfo}@{hostport}"
        if not sep and parts.scheme in _SCHEMES:
            # redis-py reads a lone userinfo as the password (redis://secret@host).
            netloc = f"***@{hostport}"
    query = parts.query
    if query:
        pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redis_url(url: str, *, insecure: bool = False, password: str | None = None) -> str:
    """Return the URL if it is safe to use; refuse a non-loopback Redis without a password (UsageError)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"invalid Redis URL {shown}: {exc}") from None
    if parts.scheme not in _SCHEMES:
        raise UsageError(f"invalid Redis URL {shown}: use redis:// or rediss:// (TLS)")
    if parts.scheme == "unix":
        return url
    host = parts.hostname
    if not host:
        raise UsageError(f"invalid Redis URL {shown}: no host")
    has_password = bool(parts.password or parts.username or password)
    has_password |= any(k.lower() == "password" and v for k, v in parse_qsl(parts.query))
    if is_loopback(host):
        return url
    if not has_password and insecure:
        log.warning("Redis at %s has no password (allowed by --insecure)", shown)
        return url
    if not has_password:
        raise UsageError(
            f"refusing Redis at {shown} without a password: set one (redis://:PASSWORD@host) or pass --insecure"
        )
    if parts.scheme == "redis":
        log.warning("Redis at %s is reached without TLS; its password crosses the network in clear", shown)
    return url


def connect(url: str, *, insecure: bool = False, password: str | None = None) -> Redis:
    """Check the URL and return a client with decode_responses=True (as ClusterQueue needs) that retries."""
    check_redis_url(url, insecure=insecure, password=password)
    # from_url gives connections no retries; reconnect through a Redis restart (about 10 s of attempts).
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), 10)
    if password:
        return Redis.from_url(url, password=password, decode_responses=True, health_check_interval=30, retry=retry)
    return Redis.from_url(url, decode_responses=True, health_check_interval=30, retry=retry)
