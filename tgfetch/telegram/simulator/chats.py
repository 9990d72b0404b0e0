"""More channels in one simulated Telegram: extra plain broadcast channels next to the main chat.

`SimulatedTelegram(more_channels=[...])` takes usernames, ``(username, messages)`` pairs or
`ExtraChannel` records. Each extra channel is a public broadcast channel like the plain main one:

- its own username (core.telegram.org/method/account.updateUsername: a-z, 0-9 and underscores, 5-32
  characters, 4 for collectible ones; case-insensitive; one chat per username) and its own id, derived like
  the main channel's from the simulator seed and its username (core.telegram.org/api/bots/ids: 1 to
  997852516352), never the id of another chat of the simulator;
- its own content, ``generate_messages(seed, messages, first_id, size_scale, max_file_size)`` with the
  record's `seed` (by default one derived from the simulator seed and the username); the files' ids come
  from that seed, so two channels share a document only on purpose (the same content seed: the same file
  posted in both, as a forwarded document keeps its id); a shared id with different file fields is refused;
- its own access hash per account (core.telegram.org/api/peers: an ``InputChannel`` carries the hash the
  account received; another account's hash, or another channel's, answers CHANNEL_INVALID);
- every account is a member of it (`SimulatedTelegram.leave` concerns the main channel only), so it is in
  every account's dialogs (messages.getDialogs) and can be named by id (t.me/c/<id>, -100<id>).

The main server routes every request naming an extra channel to that channel's own `Server` (the same
handlers as the plain main channel's: contacts.resolveUsername, channels.getChannels/getFullChannel/
getMessages, messages.getHistory, updates.getChannelDifference, and CHANNEL_FORUM_MISSING / MSG_ID_INVALID for
the thread requests);
upload.getFile serves every channel's files from one `FileService` (same byte source, file references and
faults). With no extra channel nothing is routed and the main chat answers exactly as before. `ExtraChat.messages`
is the channel as built; what it holds now (after `live` posts, edits and deletions) is its server's `messages()`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import SimMessage, derive_int, generate_messages
from .server import Extension, Handler, Server
from .threads import NoThreads
from .tlbuild import Builder

MAX_CHANNEL_ID = 997_852_516_352  # core.telegram.org/api/bots/ids
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_ROUTED = (
    functions.channels.GetFullChannelRequest,
    functions.channels.GetMessagesRequest,
    functions.messages.GetHistoryRequest,
    functions.messages.GetForumTopicsRequest,
    functions.messages.GetRepliesRequest,
    functions.messages.GetDiscussionMessageRequest,
    functions.updates.GetChannelDifferenceRequest,
)


@dataclasses.dataclass(frozen=True)
class ExtraChannel:
    """One more plain broadcast channel: its username, message count, first id, content seed and id.

    `messages` None: as many as the main channel. `seed` None: derived from the simulator seed and the
    username. `channel_id` None: derived like the main channel's (from the simulator seed and the username).
    """

    username: str
    messages: int | None = None
    first_id: int = 1
    seed: int | None = None
    channel_id: int | None = None


ChannelArg = str | tuple[str, int] | ExtraChannel


def as_extra(arg: ChannelArg) -> ExtraChannel:
    """Return the `ExtraChannel` a `more_channels` item stands for (a username, or (username, messages))."""
    if isinstance(arg, ExtraChannel):
        return arg
    if isinstance(arg, str):
        return ExtraChannel(arg)
    username, messages = arg
    return ExtraChannel(username, messages)


class ExtraBuilder(Builder):
    """The TL objects of an extra channel: a plain channel's, with its own per-account access hashes."""

    def access_hash(self, account: Account) -> int:
        """Return `account`'s access hash of this channel (not the main channel's, not another account's)."""
        return derive_int("channel_hash", self.seed, account.name, self.channel_id)


@dataclasses.dataclass(frozen=True)
class ExtraChat:
    """One extra channel as built: its builder (username, id) and its messages in id order."""

    builder: ExtraBuilder
    messages: tuple[SimMessage, ...]

    @property
    def username(self) -> str:
        """The channel's username."""
        return self.builder.username

    @property
    def channel_id(self) -> int:
        """The channel's id."""
        return self.builder.channel_id

    def message(self, message_id: int) -> SimMessage:
        """Return message `message_id` of the channel; KeyError if there is none."""
        first = self.messages[0].id if self.messages else 0
        index = message_id - first
        if not 0 <= index < len(self.messages) or self.messages[index].id != message_id:
            raise KeyError(f"no message {message_id} in channel {self.channel_id}")
        return self.messages[index]


@dataclasses.dataclass(frozen=True)
class Shape:
    """What every channel of a simulator shares: the seed, the default length and the file sizes."""

    seed: int
    messages: int
    size_scale: float
    max_file_size: int | None


def build_chats(
    shape: Shape, args: Iterable[ChannelArg], names: Iterable[str], ids: Iterable[int],
    earlier: Iterable[SimMessage],
) -> list[ExtraChat]:
    """Build the extra channels; `names`, `ids` and `earlier` are the other chats' usernames, ids and messages."""
    taken_names = {n.lower() for n in names}
    taken_ids = set(ids)
    files = _files(earlier)
    out = []
    for spec in map(as_extra, args):
        _check_name(spec.username, taken_names)
        taken_names.add(spec.username.lower())
        channel_id = _channel_id(shape.seed, spec, taken_ids)
        taken_ids.add(channel_id)
        seed = spec.seed if spec.seed is not None else derive_int("channel_content", shape.seed, spec.username)
        count = shape.messages if spec.messages is None else spec.messages
        if count < 1 or spec.first_id < 1:
            raise ValueError(f"channel {spec.username}: messages and first_id must be >= 1")
        msgs = tuple(generate_messages(seed, count, spec.first_id, shape.size_scale, shape.max_file_size))
        _check_files(spec.username, msgs, files)
        title = f"Simulated channel {spec.username}"
        out.append(ExtraChat(ExtraBuilder(shape.seed, channel_id, spec.username, title), msgs))
    return out


def _check_name(username: str, taken: set[str]) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"{username!r} is no channel username: a letter, then 3-31 letters, digits or underscores")
    if username.lower() in taken:
        raise ValueError(f"the username {username!r} is taken by another chat of the simulator")


def _channel_id(seed: int, spec: ExtraChannel, taken: set[int]) -> int:
    """Return the channel's id: given, or derived from the seed and the username, skipping the taken ones."""
    if spec.channel_id is not None:
        if not 1 <= spec.channel_id <= MAX_CHANNEL_ID or spec.channel_id in taken:
            raise ValueError(f"channel {spec.username}: channel_id must be in [1, {MAX_CHANNEL_ID}] and "
                             "not another chat's id")
        return spec.channel_id
    channel_id = 1_000_000_000 + derive_int("channel", seed, spec.username, bits=30)
    while channel_id in taken:
        channel_id += 1
    return channel_id


def _fields(m: SimMessage) -> tuple[Any, ...]:
    return m.kind, m.size, m.dc_id, m.mime_type


def _files(messages: Iterable[SimMessage]) -> dict[int, SimMessage]:
    out: dict[int, SimMessage] = {}
    for m in messages:
        if m.is_media and m.doc_id is not None:
            out.setdefault(m.doc_id, m)
    return out


def _check_files(username: str, messages: Sequence[SimMessage], files: dict[int, SimMessage]) -> None:
    """Refuse a document id another chat uses for another file; then count this channel's files as taken."""
    for m in messages:
        if not m.is_media or m.doc_id is None:
            continue
        known = files.setdefault(m.doc_id, m)
        if _fields(known) != _fields(m):
            raise ValueError(f"channel {username}: message {m.id} has the id of another chat's different file")


def _previous(server: Server, kind: type) -> Handler:
    """Return the main server's handler of `kind`; one answering INPUT_METHOD_INVALID if it has none."""
    try:
        return server.handler(kind)
    except KeyError:
        pass

    def unhandled(session: SimSession, dc_id: int, req: Any) -> Any:
        raise RpcFail(400, "INPUT_METHOD_INVALID")  # as `Server.handle` answers a request it does not model

    return unhandled


class MoreChannels:
    """Route the requests naming an extra channel to that channel's own server (an `Extension` of the main one)."""

    def __init__(self, chats: Sequence[ExtraChat], extensions: Sequence[Extension] = ()) -> None:
        self.chats = tuple(chats)
        self._extensions = tuple(extensions)  # more requests each channel's server answers (`live`)
        self._servers: dict[int, Server] = {}
        self._names: dict[str, int] = {c.username.lower(): c.channel_id for c in chats}

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Build each channel's server (the main one's files and faults); wrap the main server's handlers."""
        for chat in self.chats:
            self._servers[chat.channel_id] = Server(
                builder=chat.builder, messages=chat.messages, plan=server.plan, files=server.files,
                extensions=[NoThreads(), *self._extensions],
            )
        table = {kind: self._route(kind, _previous(server, kind)) for kind in _ROUTED}
        resolve, chans = functions.contacts.ResolveUsernameRequest, functions.channels.GetChannelsRequest
        table[resolve] = self._resolve(server.handler(resolve))
        table[chans] = self._channels(server.handler(chans))
        return table

    def _server_of(self, peer: Any) -> Server | None:
        return self._servers.get(getattr(peer, "channel_id", None))  # type: ignore[arg-type]

    def _route(self, kind: type, previous: Handler) -> Handler:
        """Send a request about an extra channel (by the channel id in it) to its server, any other on."""

        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            target = self._server_of(req.channel if hasattr(req, "channel") else req.peer)
            return (target.handler(kind) if target else previous)(session, dc_id, req)

        return handler

    def _resolve(self, previous: Handler) -> Handler:
        # core.telegram.org/method/contacts.resolveUsername: usernames are case-insensitive.
        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            channel_id = self._names.get(req.username.lower().lstrip("@"))
            target = self._servers.get(channel_id) if channel_id is not None else None
            return (target.handler(type(req)) if target else previous)(session, dc_id, req)

        return handler

    def _channels(self, previous: Handler) -> Handler:
        # core.telegram.org/method/channels.getChannels: the chats asked for, each once; CHANNEL_INVALID if
        # any InputChannel is not the account's view of a channel.
        kind = functions.channels.GetChannelsRequest

        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            rest = [c for c in req.id if self._server_of(c) is None]
            if len(rest) == len(req.id):
                return previous(session, dc_id, req)
            found: dict[int, Any] = {}
            for chan in req.id:
                target = self._server_of(chan)
                if target is not None:
                    found.update((c.id, c) for c in target.handler(kind)(session, dc_id, kind([chan])).chats)
            if rest:
                found.update((c.id, c) for c in previous(session, dc_id, kind(rest)).chats)
            ids = dict.fromkeys(getattr(c, "channel_id", None) for c in req.id)
            return types.messages.Chats(chats=[found[i] for i in ids if i in found])

        return handler


def find_chat(chats: Iterable[ExtraChat], chat: str | int | None) -> ExtraChat:
    """Return the extra channel named by `chat` (its id, or its username with or without @); KeyError if none."""
    name = chat.lower().lstrip("@") if isinstance(chat, str) else None
    for found in chats:
        if chat == found.channel_id or name == found.username.lower():
            return found
    raise KeyError(f"no chat {chat!r}")
