"""What a job takes from each of its chats: an id range, a topic, message links, comments.

`job_targets` turns the settings (CHANNEL, START/END_MESSAGE_ID, TOPIC, COMMENTS) and the
message links of the command line into one `Target` per chat, before anything connects:

- without links, one target per CHANNEL item, each with the id range, TOPIC and COMMENTS;
- with links, one target per chat the links name (CHANNEL and the id range are not used):
  the linked messages (an album member stands for its album unless the link says ?single),
  and the comments named by ?comment= links.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tgfetch.config import Settings
from tgfetch.errors import UsageError
from tgfetch.telegram.links import MessageLink, parse_message_link
from tgfetch.telegram.peers import ChannelSpec, parse_channel

__all__ = ["Target", "job_targets", "parse_links"]

log = logging.getLogger("tgfetch")


@dataclass(frozen=True)
class Target:
    """One chat of a job and what to take from it."""

    chat: ChannelSpec
    first_id: int | None = None  # the id range (without links); None: from the first / up to the newest
    last_id: int | None = None
    ids: tuple[int, ...] | None = None  # message links: just these messages (None: the id range)
    single: frozenset[int] = frozenset()  # ?single: only this member of its album
    topic: int | None = None  # only this forum topic
    comments: bool = False  # also the comments under the posts scanned
    comment_ids: dict[int, int] = field(default_factory=dict)  # ?comment= links: comment id -> its post

    @property
    def is_links(self) -> bool:
        """Whether the target is message links rather than an id range."""
        return self.ids is not None


def parse_links(texts: Sequence[str]) -> list[MessageLink]:
    """Parse the command line's message links; the first bad one stops with one line (exit 2)."""
    return [parse_message_link(t) for t in texts]


def _chat_key(spec: ChannelSpec) -> str:
    """Two spellings of one chat that are recognisable without Telegram share a key."""
    if spec.kind == "username":
        return f"u:{spec.username.lower()}"
    if spec.kind == "id":
        return f"i:{spec.channel_id}"
    return f"{spec.kind}:{spec.text}"


def job_targets(settings: Settings, links: Sequence[MessageLink] = ()) -> list[Target]:
    """The job's chats and what to take from each (one line and exit 2 for a combination that cannot be)."""
    if links:
        if settings.channel:
            log.info("message links given: CHANNEL and the id range are not used")
        return _link_targets(links, settings)
    chats = [parse_channel(c) for c in settings.channels()]
    if settings.topic is not None and len(chats) > 1:
        raise UsageError(f"TOPIC={settings.topic} names a topic of one forum, but CHANNEL has {len(chats)} chats: "
                         "give one chat with TOPIC")
    return [Target(c, settings.start_message_id, settings.end_message_id, topic=settings.topic,
                   comments=settings.comments) for c in chats]


def _link_targets(links: Sequence[MessageLink], settings: Settings) -> list[Target]:
    by_chat: dict[str, list[MessageLink]] = {}
    for link in links:
        by_chat.setdefault(_chat_key(link.chat), []).append(link)
    out = []
    for group in by_chat.values():
        posts = [lk for lk in group if lk.comment_id is None]
        ids = tuple(sorted({lk.message_id for lk in posts}))
        # A link to one member with ?single and another to the same message without it: the album wins.
        whole = {lk.message_id for lk in posts if not lk.single}
        single = frozenset(lk.message_id for lk in posts if lk.single) - whole
        comments = {lk.comment_id: lk.message_id for lk in group if lk.comment_id is not None}
        out.append(Target(group[0].chat, ids=ids, single=single, comment_ids=comments,
                          comments=False, topic=None))
    if settings.topic is not None:
        log.info("message links given: TOPIC is not used (a link names its message)")
    return out
