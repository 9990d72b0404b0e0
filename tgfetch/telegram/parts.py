"""The chats of a job, opened and scanned: ranges, forum topics, message links and comments.

Every chat of a job has a number (`Part.number`, the `chat` of its `MessageInfo`s): the
targets' chats first, in order, then the discussion groups whose comments the job takes.
Each account resolves each chat with its own access hash (`Account.peers`).

Scans, per chat (all of them yield a `ScanResult`, merged into one for the plan):
- an id range: `scan_accounts` (ceil(range/200) getMessages calls shared by the accounts);
- a forum topic: `messages.getReplies` of the topic, 100 per call (core.telegram.org/api/forum);
- message links: `scan_ids` (ceil(n/200) getMessages calls, then the rest of the albums);
- comments: `messages.getReplies(channel, post)` for every post in range that has comments
  (core.telegram.org/api/discussion), the posts shared by the accounts; a post without
  comments costs no call. ?comment= links: `scan_ids` on the discussion group.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tgfetch.config import Settings
from tgfetch.errors import TelegramAccessError, UsageError
from tgfetch.model import MessageCollection, MessageInfo, message_key
from tgfetch.targets import Target
from tgfetch.telegram import threads
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import resolve_chat
from tgfetch.telegram.convert import to_message_info
from tgfetch.telegram.rpc import AccountDead, FloodWait, Transient
from tgfetch.telegram.scan import ScanResult, scan_accounts, scan_ids

__all__ = ["Part", "job_range", "merge_scans", "open_parts", "scan_parts"]

log = logging.getLogger("tgfetch.scan")


@dataclass(frozen=True)
class Part:
    """One chat of an opened job: its number, the chat, what to take from it."""

    number: int
    ref: ChannelRef
    top: int
    target: Target
    post_chat: int | None = None  # comments: the number of the channel whose posts they are under
    channel: ChannelRef | None = None  # comments: that channel
    new_only: bool = False  # the range starts where earlier runs settled it (tgfetch.incremental)

    @property
    def is_comments(self) -> bool:
        """Whether this part is the comments of a channel (a discussion group)."""
        return self.post_chat is not None

    @property
    def label(self) -> str:
        """How reports name the part: the chat, or `<channel> comments`."""
        return f"{self.channel.key} comments" if self.channel is not None else self.ref.key


def job_range(first_id: int | None, last_id: int | None, top: int, ref: ChannelRef) -> tuple[int, int]:
    """The id range to scan: `first_id`..`last_id` (inclusive) within 1..`top`."""
    first = first_id or 1
    if top == 0:
        raise UsageError(f"channel {ref.key} has no messages")
    if first > top:
        raise UsageError(f"START_MESSAGE_ID={first} is past the last message of {ref.key} ({top})")
    last = top if last_id is None else last_id
    if last > top:
        log.warning("END_MESSAGE_ID=%d is past the last message of %s; scanning up to %d", last, ref.key, top)
        last = top
    if last < first:
        raise UsageError(f"empty range {first}–{last} for {ref.key}")
    return first, last


async def open_parts(accounts: Mapping[str, Account], targets: Sequence[Target], settings: Settings) -> list[Part]:
    """Resolve every target's chat with every account, then the discussion groups comments come from."""
    parts: list[Part] = []
    for number, target in enumerate(targets):
        ref, top = await resolve_chat(accounts, target.chat, settings, number)
        if any(p.ref.channel_id == ref.channel_id for p in parts):
            raise UsageError(f"{target.chat.text!r} names {ref.key} again: give each chat once")
        parts.append(Part(number, ref, top, target))
    for post in list(parts):
        if post.target.comments or post.target.comment_ids:
            group = await _discussion(accounts, post, len(parts), settings)
            if group is not None:
                parts.append(group)
    return parts


async def _discussion(accounts: Mapping[str, Account], post: Part, number: int, settings: Settings) -> Part | None:
    """The discussion group of `post`'s channel as chat `number` (None: the channel has none)."""
    groups = {}
    for acc in accounts.values():
        try:
            found = await acc.retrying(functools.partial(threads.discussion_group, acc, acc.peers[post.number]),
                                       settings.grouping_max_retries)
        except (AccountDead, FloodWait, Transient) as exc:
            raise TelegramAccessError(
                f"account {acc.name}: cannot read the comments of {post.ref.key} ({exc})") from None
        if found is None:
            log.warning("%s has no discussion group: it has no comments to download", post.ref.key)
            return None
        acc.peers[number], groups[acc.name] = found, found.channel_id
    first = next(iter(accounts.values()))
    top = await first.retrying(lambda: first.top_message_id(number), settings.grouping_max_retries)
    ref = ChannelRef(next(iter(groups.values())), f"{post.ref.title} comments", None, post.ref.spec)
    return Part(number, ref, top, post.target, post_chat=post.number, channel=post.ref)


async def scan_parts(accounts: Mapping[str, Account], parts: Sequence[Part], settings: Settings) -> ScanResult:
    """Scan every part (channels first: comments need their posts) and merge the scans."""
    scans: dict[int, ScanResult] = {}
    for part in parts:
        if part.is_comments:
            continue
        scans[part.number] = await _scan_chat(accounts, part, settings)
    for part in parts:
        if part.post_chat is not None and part.channel is not None:
            scan = await _scan_comments(accounts, part, scans[part.post_chat], settings)
            scans[part.number] = dataclasses.replace(scan, name=part.channel.key, is_comments=True)
    ordered = [scans[p.number] for p in parts]
    return ordered[0] if len(ordered) == 1 else merge_scans(ordered)


async def _scan_chat(accounts: Mapping[str, Account], part: Part, settings: Settings) -> ScanResult:
    t, n = part.target, part.number
    if t.ids is not None:
        return await scan_ids(accounts, part.ref, t.ids, settings, part.top, n, t.single)
    if part.new_only and (t.first_id or 1) > min(part.top, t.last_id or part.top):
        return _scan_of(part, part.top + 1, part.top, [], {}, 0, accounts)  # nothing new
    first, last = job_range(t.first_id, t.last_id, part.top, part.ref)
    if t.topic is not None:
        return await _scan_topic(accounts, part, first, last, settings)
    # A new-only range starts at an album's first member or after a settled message: no album to complete below.
    return await scan_accounts(accounts, part.ref, first, last, settings, part.top, n, low_edge=not part.new_only)


async def _scan_topic(accounts: Mapping[str, Account], part: Part, first: int, last: int,
                      settings: Settings) -> ScanResult:
    """The topic's messages in first..last, read by one account (getReplies pages of 100)."""
    topic = part.target.topic or 1
    acc = next(a for a in accounts.values() if a.dead is None)
    before = acc.calls["GetRepliesRequest"]
    msgs = await acc.retrying(
        lambda: threads.topic_messages(acc, acc.peers[part.number], topic, min_id=first, max_id=last),
        settings.grouping_max_retries)
    acc.remember(msgs, part.number)
    infos = [dataclasses.replace(i, chat=part.number, topic_id=topic) for i in map(to_message_info, msgs)
             if i is not None]
    return _scan_of(part, first, last, infos, dict.fromkeys((i.message_id for i in infos), acc.name),
                    acc.calls["GetRepliesRequest"] - before, accounts)


def _scan_of(part: Part, first: int, last: int, infos: Sequence[MessageInfo], by: Mapping[int, str], calls: int,
             accounts: Mapping[str, Account]) -> ScanResult:
    return ScanResult(
        channel=part.ref, first_id=first, last_id=last, collection=MessageCollection.from_messages(infos),
        scanned_by={message_key(part.number, mid): name for mid, name in by.items()}, completed_albums=(),
        partial_albums=(), range_calls=calls, edge_calls=0,
        rpc_calls={n: a.rpc_counts() for n, a in accounts.items()}, chat=part.number, method="getReplies")


async def _scan_comments(accounts: Mapping[str, Account], part: Part, posts: ScanResult,
                         settings: Settings) -> ScanResult:
    """The comments under the scanned posts that have some (one thread per album), or the ?comment= links."""
    channel = part.post_chat if part.post_chat is not None else 0
    if part.target.comment_ids:
        links = part.target.comment_ids
        scan = await scan_ids(accounts, part.ref, sorted(links), settings, part.top, part.number)
        return _under_posts(scan, links)
    todo = [_thread_post(g.messages, posts.commented) for g in posts.collection.groups]
    queue = [p for p in todo if p is not None]
    found: dict[int, tuple[MessageInfo, str]] = {}
    calls = {"n": 0}

    async def worker(acc: Account) -> None:
        while queue and acc.dead is None:
            post = queue.pop()
            before = acc.calls["GetRepliesRequest"]
            try:
                msgs = await acc.retrying(
                    functools.partial(threads.post_comments, acc, acc.peers[channel], post),
                    settings.grouping_max_retries)
            except (AccountDead, FloodWait) as exc:
                log.warning("%s: %s; its comment threads go to the other accounts", acc.name, exc)
                queue.append(post)
                return
            finally:
                calls["n"] += acc.calls["GetRepliesRequest"] - before
            acc.remember(msgs, part.number)
            for info in map(to_message_info, msgs):
                if info is not None:
                    found[info.message_id] = (dataclasses.replace(info, chat=part.number, post_id=post), acc.name)

    await asyncio.gather(*(worker(a) for a in accounts.values()))
    if queue:
        raise TelegramAccessError(f"no account could read the comments of {len(queue)} posts of {posts.channel.key}")
    infos = [i for i, _ in found.values()]
    return _scan_of(part, posts.first_id, posts.last_id, infos, {m: n for m, (_, n) in found.items()},
                    calls["n"], accounts)


def _thread_post(messages: Sequence[MessageInfo], commented: Mapping[int, int]) -> int | None:
    """The post whose thread holds a group's comments (every member of an album post opens the same thread)."""
    return next((m.message_id for m in messages if commented.get(m.message_id)), None)


def _under_posts(scan: ScanResult, links: Mapping[int, int]) -> ScanResult:
    """Give each linked comment (and the rest of its album) the post it is under."""
    post_of_album = {}
    for g in scan.collection.groups:
        post = next((links[m.message_id] for m in g.messages if m.message_id in links), None)
        post_of_album[g.group_id] = post
    groups = [
        dataclasses.replace(g, messages=tuple(dataclasses.replace(m, post_id=post_of_album[g.group_id])
                                              for m in g.messages))
        for g in scan.collection.groups
    ]
    return dataclasses.replace(scan, collection=MessageCollection.of_groups(groups))


def merge_scans(scans: Sequence[ScanResult]) -> ScanResult:
    """One scan of a job of several chats (the first chat's range and name; `parts` keeps each)."""
    first = scans[0]
    groups = [g for s in scans for g in s.collection.groups]
    scanned_by: dict[int, str] = {}
    for s in scans:
        scanned_by.update(s.scanned_by)
    calls: dict[str, dict[str, int]] = scans[-1].rpc_calls  # per account, counted over the whole job
    return ScanResult(
        channel=first.channel, first_id=first.first_id, last_id=first.last_id,
        collection=MessageCollection.of_groups(groups), scanned_by=scanned_by,
        completed_albums=tuple(a for s in scans for a in s.completed_albums),
        partial_albums=tuple(a for s in scans for a in s.partial_albums),
        range_calls=sum(s.range_calls for s in scans), edge_calls=sum(s.edge_calls for s in scans),
        rpc_calls=calls, dead_clients=tuple(sorted({d for s in scans for d in s.dead_clients})),
        parts=tuple(scans))
