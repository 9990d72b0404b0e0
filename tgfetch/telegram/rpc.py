"""Telethon errors translated into the few kinds the pipeline acts on.

    RpcProblem
    ├── FloodWait(seconds)   wait, or hand work to another account when long
    ├── SpeedLimit(seconds)  FLOOD_PREMIUM_WAIT_X / SLOWMODE_WAIT_X: wait X s and repeat; the
    │                        account's measured speed shows it (never a failure, never a hand-off)
    ├── ReferenceExpired     re-fetch the message, continue from the offset
    ├── AccountDead(reason)  revoked / banned / deactivated: hand work back
    ├── AccessDenied         this account cannot see the channel
    └── Transient            dropped connection, timeout, server error: retry
"""

from __future__ import annotations

import asyncio

from telethon import errors as tl_errors

__all__ = [
    "AccessDenied",
    "AccountDead",
    "FloodWait",
    "ReferenceExpired",
    "RpcProblem",
    "SpeedLimit",
    "Transient",
    "classify",
]


class RpcProblem(Exception):
    """A Telegram call failed in a way the pipeline knows how to handle."""


class FloodWait(RpcProblem):
    """Telegram asked this account to wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"FLOOD_WAIT {seconds:g}s")
        self.seconds = seconds


class SpeedLimit(RpcProblem):
    """Telegram slows this account down: repeat the request after `seconds`.

    FLOOD_PREMIUM_WAIT_X (core.telegram.org/api/errors, /api/files): "download speed is limited
    because the current account does not have a Premium subscription, and the query must be
    automatically repeated by the client after X seconds".  SLOWMODE_WAIT_X: a chat's slow mode.
    Both are a speed, not a fault: the account waits and its measured throughput drops.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"speed limit {seconds:g}s")
        self.seconds = seconds


class ReferenceExpired(RpcProblem):
    """The file reference expired; the message must be fetched again."""


class AccountDead(RpcProblem):
    """The account can no longer be used (revoked, banned, deactivated)."""


class AccessDenied(RpcProblem):
    """The account cannot access the channel."""


class Transient(RpcProblem):
    """A temporary failure: dropped connection, timeout, server error."""


_DEAD = (
    tl_errors.UnauthorizedError,
    tl_errors.AuthKeyError,
)
_DENIED = (
    tl_errors.ChannelPrivateError,
    tl_errors.ChannelInvalidError,
    tl_errors.ForbiddenError,
    tl_errors.UsernameNotOccupiedError,
    tl_errors.UsernameInvalidError,
)


def classify(exc: BaseException) -> RpcProblem | None:
    """Map a Telethon/network exception to an RpcProblem (None: not ours to handle)."""
    if isinstance(exc, RpcProblem):
        return exc
    if isinstance(exc, tl_errors.FloodPremiumWaitError | tl_errors.SlowModeWaitError):
        return SpeedLimit(float(max(exc.seconds, 1)))  # X = 0 is waited as 1 s, as Telethon does
    if isinstance(exc, tl_errors.FloodError):
        seconds = getattr(exc, "seconds", None)
        return FloodWait(float(seconds if seconds is not None else 5))
    if isinstance(exc, tl_errors.FileReferenceExpiredError | tl_errors.FilerefUpgradeNeededError):
        return ReferenceExpired(type(exc).__name__)
    if isinstance(exc, _DEAD):
        return AccountDead(type(exc).__name__)
    if isinstance(exc, _DENIED):
        return AccessDenied(type(exc).__name__)
    if isinstance(exc, tl_errors.ServerError | tl_errors.TimedOutError | tl_errors.RPCError):
        if isinstance(exc, tl_errors.BadRequestError):
            return None
        return Transient(type(exc).__name__)
    if isinstance(exc, ConnectionError | asyncio.TimeoutError | TimeoutError | OSError):
        return Transient(type(exc).__name__)
    return None
