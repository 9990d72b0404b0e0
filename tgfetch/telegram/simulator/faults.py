"""Fault plans: parse the fault grammar and decide, per RPC, which fault fires.

Grammar (whitespace around tokens is ignored)::

    spec    := rule ("," rule)*
    rule    := kind [":" target] (":" param)* ["@" account]
    param   := key "=" value | "hard"

Kinds and their targets/params:

``flood[:METHOD]``
    Answer ``FLOOD_WAIT_<seconds>`` (420). METHOD is a TL request class name
    (``GetFileRequest``; the ``Request`` suffix may be omitted) or ``*``
    (default). ``*`` never matches the requests of connecting and keeping
    alive (``GetConfigRequest``, the first request of every connection,
    ``GetNearestDcRequest``, ``PingRequest``): a rule fails them only when it
    names them (``drop:GetConfigRequest:rate=1:hard``: Telegram unreachable).
    Params: a trigger (below) and ``seconds=S`` (int, default 1).
``expire``
    Rotate the document's (or photo's) file reference for that account just
    before a mid-file ``upload.getFile`` (offset > 0) and answer
    ``FILE_REFERENCE_EXPIRED`` (400); re-fetching the message gives the new
    reference. Triggers: ``rate``/``at``/``every`` count mid-file getFile calls;
    ``after_bytes=N`` fires once per (account, file) after N bytes of that file
    were served to the account.
``premium``
    Answer an upload.getFile ``FLOOD_PREMIUM_WAIT_<seconds>`` (420) before
    serving it: Telegram's download speed limit for accounts without Premium
    (core.telegram.org/api/files); the client must repeat the call after that
    many seconds. Params: a trigger (counting getFile calls) and
    ``seconds=S`` (default 1).
``drop[:METHOD]``
    The request's future fails with ``ConnectionError`` (the connection broke
    mid-request); the client stays usable. With the flag ``hard`` the sender
    also disconnects, as Telethon does after its reconnects fail: every later
    request raises ``ConnectionError`` until ``await client.connect()``.
``timeout[:METHOD]``
    The request is never answered; its future stays pending until cancelled.
``revoke[:ACCOUNT]`` / ``deactivate[:ACCOUNT]``
    From a point on, every RPC of the account fails ``AUTH_KEY_UNREGISTERED``
    / ``USER_DEACTIVATED`` (401). Params (one, default ``after_rpcs=0``):
    ``after_s=T`` (seconds since the account's first RPC), ``after_rpcs=N``
    (after N RPCs), ``after_bytes=B`` (after B file bytes served).

Triggers for flood/expire/premium/drop/timeout (exactly one):
``rate=P`` (probability per matching call, 0 < P <= 1, random but
reproducible: seeded from the simulator seed, the rule index and the account),
``at=N`` (the N-th matching call of each account, 1-based) with optional
``burst=K`` (K consecutive calls from N, default 1), ``every=N`` (every N-th
matching call).

``@account`` restricts a rule to one account; it ends at the next ``:`` so it
may follow any token (``deactivate@c3:after_s=2`` or ``drop:rate=0.1@c3``).
For revoke/deactivate it may be given instead of the target.

Examples::

    flood:GetFileRequest:rate=0.05:seconds=3
    flood:*:at=10:burst=5:seconds=2@client2
    expire:rate=0.1, expire:after_bytes=1000000@client1
    drop:rate=0.01, drop:GetFile:at=3:hard
    timeout:GetMessagesRequest:at=3
    revoke:client2:after_bytes=5000000, deactivate@client3:after_s=2
    premium:every=4:seconds=2@client1
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re

KINDS = ("flood", "expire", "premium", "drop", "timeout", "revoke", "deactivate")
_METHOD_KINDS = ("flood", "drop", "timeout")
_ACCOUNT_KINDS = ("revoke", "deactivate")
_TRIGGER_KEYS = ("rate", "at", "every")
_AFTER_KEYS = ("after_s", "after_rpcs", "after_bytes")


@dataclasses.dataclass(frozen=True)
class FaultRule:
    """One fault: what fires, on which calls, for which account."""

    kind: str
    method: str = "*"
    account: str | None = None
    rate: float | None = None
    at: int | None = None
    burst: int = 1
    every: int | None = None
    seconds: int = 1
    hard: bool = False
    after_s: float | None = None
    after_rpcs: int | None = None
    after_bytes: int | None = None

    def matches(self, account: str, method: str) -> bool:
        """Tell whether this rule applies to a call of `method` by `account`."""
        if self.account is not None and self.account != account:
            return False
        return self.method == "*" or self.method == method


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    """An ordered collection of fault rules."""

    rules: tuple[FaultRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def of_kind(self, *kinds: str) -> list[tuple[int, FaultRule]]:
        """Return (index, rule) pairs of the given kinds."""
        return [(i, r) for i, r in enumerate(self.rules) if r.kind in kinds]


def parse_faults(spec: str | FaultPlan | None) -> FaultPlan:
    """Parse a fault spec (see module docstring); raise ValueError on bad input."""
    if spec is None:
        return FaultPlan()
    if isinstance(spec, FaultPlan):
        return spec
    rules = [_parse_rule(part.strip()) for part in spec.split(",") if part.strip()]
    return FaultPlan(tuple(rules))


def _bad(part: str, why: str) -> ValueError:
    return ValueError(f"bad fault rule {part!r}: {why}")


def _parse_rule(part: str) -> FaultRule:
    body, account = part, None
    if part.count("@") > 1:
        raise _bad(part, "more than one '@account'")
    found = re.search(r"@([^:]*)", part)
    if found:
        account = found.group(1).strip()
        body = part[: found.start()] + part[found.end() :]
        if not account:
            raise _bad(part, "empty account after '@'")
    tokens = [t.strip() for t in body.split(":")]
    kind = tokens[0].lower()
    if kind not in KINDS:
        raise _bad(part, f"unknown kind {tokens[0]!r} (valid: {', '.join(KINDS)})")
    fields: dict[str, object] = {"kind": kind, "account": account}
    rest = tokens[1:]
    if rest and "=" not in rest[0] and rest[0] != "hard":
        target = rest.pop(0)
        if not target:
            raise _bad(part, "empty target")
        if kind in _METHOD_KINDS:
            fields["method"] = _method_name(target)
        elif kind in _ACCOUNT_KINDS:
            if account is not None and account != target:
                raise _bad(part, "account given twice")
            fields["account"] = target
        else:
            raise _bad(part, f"{kind!r} takes no target, got {target!r}")
    for token in rest:
        _parse_param(part, kind, token, fields)
    return _validated(part, FaultRule(**fields))  # type: ignore[arg-type]


def _method_name(target: str) -> str:
    if target == "*" or target.endswith("Request"):
        return target
    return target + "Request"


_INT_KEYS = ("at", "burst", "every", "seconds", "after_rpcs", "after_bytes")


def _parse_param(part: str, kind: str, token: str, fields: dict[str, object]) -> None:
    if token == "hard":
        if kind != "drop":
            raise _bad(part, "'hard' only applies to drop")
        fields["hard"] = True
        return
    key, sep, value = token.partition("=")
    key = key.strip()
    if not sep or not value.strip():
        raise _bad(part, f"expected key=value, got {token!r}")
    if key not in _INT_KEYS + ("rate", "after_s"):
        raise _bad(part, f"unknown parameter {key!r}")
    if key in fields:
        raise _bad(part, f"parameter {key!r} given twice")
    try:
        fields[key] = int(value) if key in _INT_KEYS else float(value)
    except ValueError:
        raise _bad(part, f"{key}={value!r} is not a number") from None


def _validated(part: str, rule: FaultRule) -> FaultRule:
    triggers = [k for k in _TRIGGER_KEYS if getattr(rule, k) is not None]
    afters = [k for k in _AFTER_KEYS if getattr(rule, k) is not None]
    if rule.kind in _ACCOUNT_KINDS:
        if rule.account is None:
            raise _bad(part, f"{rule.kind} needs an account ({rule.kind}:NAME or @NAME)")
        if triggers or len(afters) > 1:
            raise _bad(part, "use exactly one of after_s, after_rpcs, after_bytes")
        return rule
    if rule.kind == "expire" and afters == ["after_bytes"] and not triggers:
        return rule
    if afters:
        raise _bad(part, f"{', '.join(afters)} only applies to revoke/deactivate (and after_bytes to expire)")
    if len(triggers) != 1:
        raise _bad(part, "give exactly one trigger: rate=P, at=N or every=N")
    if rule.rate is not None and not 0.0 < rule.rate <= 1.0:
        raise _bad(part, "rate must be in (0, 1]")
    for key in ("at", "every", "burst"):
        if getattr(rule, key) is not None and getattr(rule, key) < 1:
            raise _bad(part, f"{key} must be >= 1")
    if rule.seconds < 0:
        raise _bad(part, "seconds must be >= 0")
    return rule


class RuleCounter:
    """Per-(rule, account) state that decides whether the next matching call fires."""

    def __init__(self, seed: int, index: int, account: str, rule: FaultRule) -> None:
        digest = hashlib.sha256(f"faults|{seed}|{index}|{account}".encode()).digest()
        self._rng = random.Random(int.from_bytes(digest[:8], "big"))
        self._rule = rule
        self.calls = 0

    def fire(self) -> bool:
        """Count one matching call and tell whether the fault fires on it."""
        self.calls += 1
        rule, n = self._rule, self.calls
        if rule.rate is not None:
            return self._rng.random() < rule.rate
        if rule.at is not None:
            return rule.at <= n < rule.at + rule.burst
        if rule.every is not None:
            return n % rule.every == 0
        return False
