"""messages.getDialogs and messages.checkChatInvite: the chats an account has joined, and invite links.

Each account's dialog list holds `others` chats besides the simulated channel (users, basic
groups and supergroups, a third each, with per-account access hashes), newest first; two
thirds of them are newer than the channel's last message, so with the default 150 the channel
is the 101st dialog: finding it takes a second getDialogs page. An account that left the
channel (`SimulatedTelegram.leave`) has no dialog for it. The extra channels
(`SimulatedTelegram(more_channels=...)`, see `chats`) are dialogs of every account, dated by their own
last message; dialogs with the same top message date and id follow each other in a fixed order, and
`offset_peer` says after which of them the next page starts (core.telegram.org/api/offsets). A channel's
dialog carries its pts (core.telegram.org/constructor/dialog) and its newest message: a post (`live`) moves
the channel up the list; the other chats keep their dates.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import SimMessage, derive_int
from .tlbuild import Builder

MAX_DIALOGS = 100  # core.telegram.org/method/messages.getDialogs: at most 100 per call
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CREATED = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class _Dialog:
    """One dialog as an account sees it: its top message, the peer's entity."""

    date: dt.datetime
    top_id: int
    peer: Any
    entity: Any
    message: Any
    pts: int | None = None  # a channel's pts (core.telegram.org/constructor/dialog: flags.0, channels only)


class Chat(Protocol):
    """Another channel every account has joined (`chats.ExtraChat`): its TL builder and its messages."""

    @property
    def builder(self) -> Builder:
        """The channel's builder (its peer and entity)."""

    @property
    def messages(self) -> Sequence[SimMessage]:
        """The channel's messages in id order."""


def _top(messages: Sequence[SimMessage]) -> SimMessage | None:
    """Return a chat's newest visible message (its dialog's top message), if any."""
    visible = [m for m in messages if m.kind != "deleted"]
    return visible[-1] if visible else None


def _peer_key(peer: Any) -> tuple[str, int] | None:
    """Return (kind, id) of a Peer or an InputPeer; None for InputPeerEmpty and the like."""
    for kind in ("channel_id", "chat_id", "user_id"):
        if isinstance(getattr(peer, kind, None), int):
            return kind, getattr(peer, kind)
    return None


def _start(dialogs: Sequence[_Dialog], req: Any) -> int:
    """Return where the page of getDialogs `req` starts in `dialogs` (newest first).

    core.telegram.org/api/offsets: after the dialog whose top message is (offset_date, offset_id); when
    several dialogs share that date and id, after the one offset_peer names (none named: after them all).
    """
    if req.offset_date is None or req.offset_date <= _EPOCH:
        return 0
    key, peer = (req.offset_date, req.offset_id), _peer_key(req.offset_peer)
    for i, d in enumerate(dialogs):
        if (d.date, d.top_id) < key:
            return i
        if (d.date, d.top_id) == key and peer is not None and _peer_key(d.peer) == peer:
            return i + 1
    return len(dialogs)


def invite_hash(seed: int, generation: int) -> str:
    """Return the channel's invite hash of `generation` (URL-safe base64, 16 characters)."""
    raw = derive_int("invite", seed, generation, bits=63).to_bytes(8, "big") + b"\x01\x02\x03\x04"
    return "A" + base64.urlsafe_b64encode(raw).decode()[:15]


class DialogService:
    """Answer getDialogs and checkChatInvite for the simulated channel and each account's other chats."""

    def __init__(
        self, seed: int, builder: Builder, messages: Sequence[SimMessage], others: int,
        more: Sequence[Chat] = (),
    ) -> None:
        self.seed = seed
        self.builder = builder
        self.others = others
        self._top = _top(messages)
        self._others_date = self._top.date if self._top is not None else _CREATED  # the other chats stay put
        self._more = [(c.builder, _top(c.messages)) for c in more]  # extra channels: every account is a member
        self._pts: dict[int, int] = {}  # a channel's pts once it changed (`live`); 1 before
        self._generation = 0
        self._cache: dict[str, list[_Dialog]] = {}

    # -- invite links ---------------------------------------------------------

    @property
    def invite_hash(self) -> str:
        """The channel's current invite hash (t.me/+HASH)."""
        return invite_hash(self.seed, self._generation)

    def revoke_invite(self) -> str:
        """Revoke the current invite link (it answers INVITE_HASH_EXPIRED from now on); return the new hash."""
        self._generation += 1
        return self.invite_hash

    def handlers(self) -> dict[type, Callable[[SimSession, int, Any], Any]]:
        """Return the request-type -> handler table of this service."""
        return {
            functions.messages.GetDialogsRequest: self._dialogs,
            functions.messages.CheckChatInviteRequest: self._check_invite,
        }

    def _check_invite(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/messages.checkChatInvite: INVITE_HASH_EMPTY, INVITE_HASH_EXPIRED
        # (400 in the current schema) and INVITE_HASH_INVALID; chatInviteAlready for a member,
        # chatInvite (title, counts, flags) for anyone else.
        account = session.account
        if not req.hash:
            raise RpcFail(400, "INVITE_HASH_EMPTY")
        if req.hash != self.invite_hash:
            old = {invite_hash(self.seed, g) for g in range(self._generation)}
            raise RpcFail(400, "INVITE_HASH_EXPIRED" if req.hash in old else "INVITE_HASH_INVALID")
        if account.member:
            return types.ChatInviteAlready(chat=self.builder.channel(account))
        return types.ChatInvite(
            title=self.builder.title, photo=types.PhotoEmpty(id=0), participants_count=1234, color=0,
            channel=True, broadcast=not self.builder.megagroup, megagroup=self.builder.megagroup, public=True,
        )

    # -- dialogs --------------------------------------------------------------

    def _dialogs(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/api/offsets: the next page starts after the dialog whose top message
        # has offset_date/offset_id (Telethon sends date 0 and InputPeerEmpty for the first page);
        # messages.dialogs when the answer is the whole list, messages.dialogsSlice with the count otherwise.
        # core.telegram.org/api/folders: folder 1 is the archive; no chat of the simulator is archived.
        everything = [] if req.folder_id else self._list(session.account)
        start = _start(everything, req)
        page = everything[start:start + max(0, min(req.limit, MAX_DIALOGS))]
        tl = [types.Dialog(peer=d.peer, top_message=d.top_id, read_inbox_max_id=d.top_id,
                           read_outbox_max_id=0, unread_count=0, unread_mentions_count=0,
                           unread_reactions_count=0, unread_poll_votes_count=0,
                           notify_settings=types.PeerNotifySettings(), pts=d.pts) for d in page]
        messages = [d.message for d in page]
        chats = [d.entity for d in page if not isinstance(d.entity, types.User)]
        users = [d.entity for d in page if isinstance(d.entity, types.User)]
        if start == 0 and len(page) == len(everything):
            return types.messages.Dialogs(dialogs=tl, messages=messages, chats=chats, users=users)
        return types.messages.DialogsSlice(count=len(everything), dialogs=tl, messages=messages, chats=chats,
                                           users=users)

    def _list(self, account: Account) -> list[_Dialog]:
        """Return every dialog of `account`, newest top message first."""
        key = f"{account.name}|{account.member}"
        if key not in self._cache:
            top_date = self._others_date
            ahead = self.others * 2 // 3  # this many chats had a message after the channel's last one
            out = [self._other(account, i, top_date + dt.timedelta(minutes=ahead - i - (i >= ahead)))
                   for i in range(self.others)]
            if account.member:
                out.append(self._channel(self.builder, self._top, account))
            out += [self._channel(b, top, account) for b, top in self._more]
            self._cache[key] = sorted(out, key=lambda d: (d.date, d.top_id), reverse=True)
        return self._cache[key]

    def update_channel(self, channel_id: int, top: SimMessage | None, pts: int) -> None:
        """A channel changed (`live`: a post, an edit, a deletion): its dialog's top message and pts."""
        if channel_id == self.builder.channel_id:
            self._top = top
        self._more = [(b, top if b.channel_id == channel_id else t) for b, t in self._more]
        self._pts[channel_id] = pts
        self._cache.clear()

    def _channel(self, builder: Builder, top: SimMessage | None, account: Account) -> _Dialog:
        peer = builder.peer
        top_id, date = (top.id, top.date) if top is not None else (0, _CREATED)
        message = types.Message(id=top_id, peer_id=peer, date=date, message="", post=True)
        pts = self._pts.get(builder.channel_id, 1)
        return _Dialog(date, top_id, peer, builder.channel(account), message, pts)

    def _other(self, account: Account, i: int, date: dt.datetime) -> _Dialog:
        kind = i % 3
        ident = 5_000_000 + i
        access_hash = derive_int("other_chat", self.seed, account.name, i)
        entity: Any
        if kind == 0:
            peer: Any = types.PeerUser(ident)
            entity = types.User(id=ident, access_hash=access_hash, first_name=f"Contact {i}")
        elif kind == 1:
            peer = types.PeerChat(ident)
            entity = types.Chat(id=ident, title=f"Group {i}", photo=types.ChatPhotoEmpty(), participants_count=5,
                                date=date, version=1)
        else:
            peer = types.PeerChannel(ident)
            entity = types.Channel(id=ident, title=f"Supergroup {i}", photo=types.ChatPhotoEmpty(), date=date,
                                   access_hash=access_hash, megagroup=True)
        top_id = 1 + i
        message = types.Message(id=top_id, peer_id=peer, date=date, message=f"hello from chat {i}")
        return _Dialog(date, top_id, peer, entity, message)
