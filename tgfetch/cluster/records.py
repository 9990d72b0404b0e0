"""Typed records of the cluster queue: payloads, deliveries, progress figures.

Payloads travel as JSON (never pickle)::

    {"channel": -1001234 | "name", "group_id": "a123" | "m456", "message_ids": [...],
     "album_id": 123 | null, "planned_client": "acct", "files": 2, "bytes": 1048576}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tgfetch.model import MessageGroup

__all__ = [
    "AccountInfo",
    "ConsumerProgress",
    "Counters",
    "DeadLetter",
    "Delivery",
    "GroupPayload",
    "Progress",
    "Remaining",
]

_GROUP_ID = re.compile(r"^[am]-?\d{1,20}$")


def _int(data: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"payload field {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class GroupPayload:
    """One group to download: what a worker needs to re-fetch its messages."""

    channel: int | str
    group_id: str
    message_ids: tuple[int, ...]
    album_id: int | None
    planned_client: str
    files: int
    bytes: int

    @classmethod
    def from_group(cls, channel: int | str, group: MessageGroup, planned_client: str) -> GroupPayload:
        """Build the payload of a planned group."""
        album = group.messages[0].media_group_id if group.is_media_group else None
        ids = tuple(group.message_ids)
        return cls(channel, group.group_id, ids, album, planned_client, group.total_files, group.total_size)

    def to_json(self) -> str:
        """Encode as compact JSON."""
        data = {
            "channel": self.channel,
            "group_id": self.group_id,
            "message_ids": list(self.message_ids),
            "album_id": self.album_id,
            "planned_client": self.planned_client,
            "files": self.files,
            "bytes": self.bytes,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GroupPayload:
        """Decode and validate a payload (raise ValueError when malformed)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("payload must be a JSON object")
        channel = data.get("channel")
        if isinstance(channel, bool) or not isinstance(channel, int | str) or channel == "":
            raise ValueError(f"payload channel must be an id or a username, got {channel!r}")
        gid = data.get("group_id")
        if not isinstance(gid, str) or not _GROUP_ID.match(gid):
            raise ValueError(f"payload group_id must look like a123 or m456, got {gid!r}")
        ids = data.get("message_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("payload message_ids must be a non-empty list of integers")
        album = data.get("album_id")
        if album is not None and (not isinstance(album, int) or isinstance(album, bool)):
            raise ValueError(f"payload album_id must be an integer or null, got {album!r}")
        client = data.get("planned_client")
        if not isinstance(client, str):
            raise ValueError("payload planned_client must be a string")
        return cls(channel, gid, tuple(ids), album, client, _int(data, "files"), _int(data, "bytes"))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stream entry handed to a consumer: the lease on one group."""

    stream: str
    entry_id: str
    payload: GroupPayload
    delivery_count: int
    account: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A group given up after too many deliveries."""

    account: str
    entry_id: str
    group_id: str
    deliveries: int
    payload: str
    reason: str = "max_deliveries"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """A registered account: where it runs and how fast it was measured."""

    account: str
    machine: str
    speed_bps: float
    registered_at: float
    last_seen: float

    def to_json(self) -> str:
        """Encode the value stored in the accounts hash."""
        data = {
            "machine": self.machine,
            "speed_bps": self.speed_bps,
            "registered_at": self.registered_at,
            "last_seen": self.last_seen,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, account: str, text: str) -> AccountInfo:
        """Decode a value of the accounts hash."""
        d = json.loads(text)
        return cls(account, str(d["machine"]), float(d["speed_bps"]), float(d["registered_at"]), float(d["last_seen"]))


@dataclass(frozen=True, slots=True)
class Counters:
    """Files, bytes, groups and steals (groups taken from another account's stream)."""

    files: int = 0
    bytes: int = 0
    groups: int = 0
    steals: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            self.files + other.files, self.bytes + other.bytes, self.groups + other.groups, self.steals + other.steals
        )


@dataclass(frozen=True, slots=True)
class ConsumerProgress:
    """Completed work of one consumer (machine:account)."""

    machine: str
    account: str
    counters: Counters


@dataclass(frozen=True)
class Progress:
    """Completed work of every consumer of a job."""

    consumers: tuple[ConsumerProgress, ...] = ()

    def by_account(self) -> dict[str, Counters]:
        """Sum the counters per account."""
        out: dict[str, Counters] = {}
        for c in self.consumers:
            out[c.account] = out.get(c.account, Counters()) + c.counters
        return out

    def by_machine(self) -> dict[str, Counters]:
        """Sum the counters per machine."""
        out: dict[str, Counters] = {}
        for c in self.consumers:
            out[c.machine] = out.get(c.machine, Counters()) + c.counters
        return out

    @property
    def total(self) -> Counters:
        """Sum of every consumer."""
        out = Counters()
        for c in self.consumers:
            out = out + c.counters
        return out


@dataclass(frozen=True)
class Remaining:
    """What is left of a job: enqueued minus done minus failed, and where it is."""

    total: int
    done: int
    failed: int
    in_flight: int
    unstarted: dict[str, Counters] = field(default_factory=dict)

    @property
    def left(self) -> int:
        """Groups neither completed nor dead-lettered."""
        return self.total - self.done - self.failed
