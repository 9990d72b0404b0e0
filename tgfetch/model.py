"""Typed records passed between the pipeline's stages (no Telegram objects here)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "STRATEGY_ENTRY_POINTS",
    "ClientAssignment",
    "CustomMetric",
    "DistributionMetrics",
    "DistributionMode",
    "LoadBalanceMetric",
    "MessageCollection",
    "MessageGroup",
    "MessageInfo",
    "TaskDistributionResult",
    "key_chat",
    "key_id",
    "message_key",
]


#: The entry-point group of installed strategy plugins: name = mode name, value = ``module:Class``.
STRATEGY_ENTRY_POINTS = "tgfetch.strategies"


class DistributionMode(enum.StrEnum):
    """How messages are split between clients."""

    RANGE_BASED = "range_based"
    MEDIA_GROUP_AWARE = "media_group_aware"
    LOAD_BALANCED = "load_balanced"
    AUTO = "auto"
    CUSTOM = "custom"

    @classmethod
    def names(cls) -> list[str]:
        """Return the valid values, in declaration order."""
        return [m.value for m in cls]

    @classmethod
    def plugin_names(cls) -> list[str]:
        """Return the mode names installed plugins declare (STRATEGY_ENTRY_POINTS), sorted; nothing is imported."""
        from importlib.metadata import entry_points

        fixed = {cls.RANGE_BASED.value, cls.MEDIA_GROUP_AWARE.value, cls.LOAD_BALANCED.value, cls.AUTO.value}
        names = {ep.name.strip().lower() for ep in entry_points(group=STRATEGY_ENTRY_POINTS)}
        return sorted(names - fixed - {""})


class LoadBalanceMetric(enum.StrEnum):
    """What 'load' means when balancing clients."""

    MESSAGE_COUNT = "message_count"
    FILE_COUNT = "file_count"
    ESTIMATED_SIZE = "estimated_size"
    MIXED = "mixed"
    ESTIMATED_TIME = "estimated_time"

    @classmethod
    def _missing_(cls, value: object) -> LoadBalanceMetric | None:
        if isinstance(value, str):
            v = value.strip().lower()
            if v == "file_size":
                return cls.ESTIMATED_SIZE
            for m in cls:
                if m.value == v:
                    return m
        return None

    @classmethod
    def names(cls) -> list[str]:
        """Return the valid values (with the file_size alias)."""
        return [m.value for m in cls] + ["file_size"]


class CustomMetric(enum.StrEnum):
    """The metric of a plan balanced with a caller's load calculator (never a setting)."""

    CUSTOM = "custom"


#: A job's chats number their messages from 1 each: the chat number goes above the 32-bit id.
CHAT_SHIFT = 32


def message_key(chat: int, message_id: int) -> int:
    """The job-wide key of message `message_id` of the job's chat number `chat`."""
    return (chat << CHAT_SHIFT) | message_id


def key_chat(key: int) -> int:
    """The chat number of a job-wide message key."""
    return key >> CHAT_SHIFT


def key_id(key: int) -> int:
    """The message id of a job-wide message key."""
    return key & ((1 << CHAT_SHIFT) - 1)


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One channel message as the planner and downloader see it."""

    message_id: int
    media_group_id: int | None = None
    file_size: int = 0
    file_name: str | None = None
    mime_type: str | None = None
    media_type: str | None = None
    date: datetime | None = None
    caption: str = ""
    document_id: int | None = None
    dc_id: int | None = None
    views: int | None = None
    forwards: int | None = None
    duration: float | None = None  # seconds, audio and video
    width: int | None = None  # pixels, photos and videos
    height: int | None = None
    topic_id: int | None = None  # the forum topic (1 = General) of a message of a forum
    reply_to: int | None = None  # the message it answers (not a topic's creation message)
    post_id: int | None = None  # a comment: the channel post it is under
    chat: int = 0  # the job's chat (source) number; keys stay those of one chat for chat 0

    @property
    def key(self) -> int:
        """The message's key within a job of several chats (its id for the first chat)."""
        return message_key(self.chat, self.message_id)

    @property
    def has_media(self) -> bool:
        """Whether this message carries a file to download."""
        return self.media_type is not None

    @property
    def file_count(self) -> int:
        """Files this message contributes (0 or 1)."""
        return 1 if self.media_type is not None else 0


def _group_key(first: MessageInfo) -> str:
    """A group's id: `a<album id>` or `m<message id>`, after `c<chat>.` for the job's later chats."""
    own = f"a{first.media_group_id}" if first.media_group_id is not None else f"m{first.message_id}"
    return f"c{first.chat}.{own}" if first.chat else own


@dataclass(frozen=True, slots=True)
class MessageGroup:
    """An album (same media_group_id) or a single message; never split by planners."""

    group_id: str
    messages: tuple[MessageInfo, ...]
    is_media_group: bool
    total_files: int
    total_size: int

    @classmethod
    def of(cls, messages: Sequence[MessageInfo]) -> MessageGroup:
        """Build a group from its messages (sorted by id)."""
        if not messages:
            raise ValueError("a message group needs at least one message")
        msgs = tuple(sorted(messages, key=lambda m: m.message_id))
        gid = msgs[0].media_group_id
        is_album = gid is not None
        key = _group_key(msgs[0])
        files = sum(m.file_count for m in msgs)
        size = sum(m.file_size for m in msgs if m.media_type is not None)
        return cls(key, msgs, is_album, files, size)

    @property
    def first_id(self) -> int:
        """Smallest message id of the group."""
        return self.messages[0].message_id

    @property
    def message_ids(self) -> list[int]:
        """The group's message ids in order."""
        return [m.message_id for m in self.messages]

    @property
    def total_messages(self) -> int:
        """Number of messages in the group."""
        return len(self.messages)


@dataclass(frozen=True)
class MessageCollection:
    """All scanned messages, grouped into albums and singles (ordered by first id)."""

    groups: tuple[MessageGroup, ...]
    total_messages: int
    total_files: int
    total_size: int

    @classmethod
    def from_messages(cls, messages: Iterable[MessageInfo]) -> MessageCollection:
        """Group messages by media_group_id; others become groups of one."""
        albums: dict[tuple[int, int], list[MessageInfo]] = {}
        singles: list[MessageGroup] = []
        seen: set[int] = set()
        for m in messages:
            if m.key in seen:
                raise ValueError(f"message {m.message_id} appears twice in the collection")
            seen.add(m.key)
            if m.media_group_id is None:
                files = 1 if m.media_type is not None else 0
                size = m.file_size if files else 0
                singles.append(MessageGroup(_group_key(m), (m,), False, files, size))
            else:
                albums.setdefault((m.chat, m.media_group_id), []).append(m)
        groups = singles + [MessageGroup.of(v) for v in albums.values()]
        groups.sort(key=lambda g: g.messages[0].key)
        return cls.of_groups(groups)

    @classmethod
    def of_groups(cls, groups: Iterable[MessageGroup]) -> MessageCollection:
        """Build a collection from ready groups."""
        gs = tuple(groups)
        return cls(
            gs,
            sum(len(g.messages) for g in gs),
            sum(g.total_files for g in gs),
            sum(g.total_size for g in gs),
        )

    def __iter__(self) -> Iterator[MessageGroup]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def messages(self) -> list[MessageInfo]:
        """Every message, ordered by chat, then id."""
        out = [m for g in self.groups for m in g.messages]
        out.sort(key=lambda m: m.key)
        return out

    @property
    def media_groups(self) -> list[MessageGroup]:
        """Only the albums."""
        return [g for g in self.groups if g.is_media_group]


@dataclass
class ClientAssignment:
    """The groups one client must download; totals are recomputed from the groups."""

    client_name: str
    message_groups: list[MessageGroup] = field(default_factory=list)

    @property
    def message_ids(self) -> list[int]:
        """Every assigned message id, ascending."""
        return sorted(m.message_id for g in self.message_groups for m in g.messages)

    @property
    def total_messages(self) -> int:
        """Number of assigned messages (media or not)."""
        return sum(len(g.messages) for g in self.message_groups)

    @property
    def total_files(self) -> int:
        """Number of assigned files."""
        return sum(g.total_files for g in self.message_groups)

    @property
    def estimated_size(self) -> int:
        """Assigned bytes."""
        return sum(g.total_size for g in self.message_groups)


@dataclass
class DistributionMetrics:
    """How good a plan is: makespan against a lower bound, balance, validation."""

    makespan: float
    lower_bound: float
    gap: float
    balance_ratio: float
    imbalance: float
    loads: dict[str, float] = field(default_factory=dict)
    albums_split: list[str] = field(default_factory=list)
    validation_errors: list[str] = field(default_factory=list)
    planning_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class TaskDistributionResult:
    """A plan: per-client assignments plus the figures that judge it."""

    client_assignments: list[ClientAssignment]
    strategy: str
    metric: LoadBalanceMetric | CustomMetric
    metrics: DistributionMetrics
    info: dict[str, Any] = field(default_factory=dict)

    def assignment(self, client_name: str) -> ClientAssignment:
        """Return the assignment of one client."""
        for a in self.client_assignments:
            if a.client_name == client_name:
                return a
        raise KeyError(client_name)
