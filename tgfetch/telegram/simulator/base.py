"""Shared server-side pieces: RPC outcomes and the per-client session."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .accounts import Account


class RpcFail(Exception):
    """Answer the request with an RPC error (code, message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class DropConnection(Exception):
    """Break the connection while the request is in flight."""

    def __init__(self, hard: bool) -> None:
        super().__init__("simulated dropped connection")
        self.hard = hard


@dataclasses.dataclass
class SimSession:
    """Server-side state of one client (its senders on every DC share it)."""

    account: Account
    authorized: bool
    phone_code_hash: str | None = None
    password_needed: bool = False
    challenge: Any = None
    serial: int = 0
    updates: Callable[[Any], None] | None = None  # push an Updates object to the client (its home connection)
