"""SimulatedTelegram: one offline Telegram (a channel, maybe more channels, accounts, faults) and its clients."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

from telethon import TelegramClient, functions
from telethon.sessions import StringSession
from telethon.tl.alltlobjects import LAYER

from .accounts import Account
from .base import SimSession
from .chats import ChannelArg, ExtraChat, MoreChannels, Shape, build_chats
from .comments import CommentsService
from .content import SimMessage, derive_int, generate_messages
from .dialogs import DialogService
from .discussion import CommentedBuilder, DiscussionLayout, GroupBuilder, Thread, layout_discussion
from .faults import FaultPlan, parse_faults
from .filebytes import ByteSource
from .files import FileService
from .forum import ForumBuilder, ForumLayout, ForumService, Topic, layout_forum
from .live import Live, LiveChannels
from .login import LoginService
from .sender import FakeSender
from .server import PUBLIC_USER, Extension, Server
from .threads import NoThreads
from .tlbuild import Builder

HOME_DC = 2
MAX_CHANNEL_ID = 997_852_516_352
_HOME_ADDRESS = ("149.154.167.51", 443)
_UNSET: Any = object()


class SimClient(TelegramClient):  # type: ignore[misc]
    """A real TelegramClient whose senders talk to a SimulatedTelegram.

    Its own `_config` keeps Telethon's class-level config cache apart from
    real clients; exported senders (other DCs) are FakeSenders of the same
    account.
    """

    _config = None
    _sim_sender_factory: Callable[[int], FakeSender]

    async def _create_exported_sender(self, dc_id: int) -> FakeSender:
        sender = self._sim_sender_factory(dc_id)
        await sender.connect(None)
        auth = await self(functions.auth.ExportAuthorizationRequest(dc_id))
        self._init_request.query = functions.auth.ImportAuthorizationRequest(id=auth.id, bytes=auth.bytes)
        await sender.send(functions.InvokeWithLayerRequest(LAYER, self._init_request))
        return sender


def _check_shape(messages: int, first_id: int, jitter: float, size_scale: float) -> None:
    if messages < 1 or first_id < 1:
        raise ValueError("messages and first_id must be >= 1")
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be in [0, 1)")
    if size_scale <= 0:
        raise ValueError("size_scale must be > 0")


def _check_peers(channel_id: int | None, other_dialogs: int) -> None:
    # core.telegram.org/api/bots/ids: channel ids are 1 to 997852516352.
    if channel_id is not None and not 1 <= channel_id <= MAX_CHANNEL_ID:
        raise ValueError(f"channel_id must be in [1, {MAX_CHANNEL_ID}]")
    if other_dialogs < 0:
        raise ValueError("other_dialogs must be >= 0")


def _check_threads(forum_topics: int, comments: bool) -> None:
    if forum_topics < 0:
        raise ValueError("forum_topics must be >= 0")
    if forum_topics and comments:
        # core.telegram.org/api/forum: a forum is a supergroup; comments (core.telegram.org/api/discussion)
        # hang under the posts of a broadcast channel: one chat is never both.
        raise ValueError("forum_topics and comments exclude each other: a forum is a supergroup, not a channel")


def _fixed(builder: Builder) -> str | None:
    """Why the main chat takes no live post (a forum, a channel with comments); None for a plain channel."""
    return "a forum" if isinstance(builder, ForumBuilder) else (
        "a channel with comments" if isinstance(builder, CommentedBuilder) else None)


def _group_id(seed: int, channel_id: int) -> int:
    """Return the id of the channel's discussion group (never the channel's own)."""
    group_id = 1_000_000_000 + derive_int("discussion", seed, channel_id, bits=30)
    return group_id + 1 if group_id == channel_id else group_id


class SimulatedTelegram(LiveChannels):
    """An offline Telegram: one channel (or forum), more plain channels, any number of accounts, injectable faults.

    Its plain channels are live (`live`): ``post``, ``post_album``, ``delete`` and ``edit`` change them while
    clients run, and ``self.live`` (a `live.Live`) reads their pts and events.
    """

    public_user = PUBLIC_USER  # the username of a user, not a channel: resolving it gives a user
    forum: ForumLayout | None = None  # the topics, with forum_topics
    discussion: DiscussionLayout | None = None  # the linked group's messages and threads, with comments

    def __init__(
        self,
        seed: int = 0,
        messages: int = 1000,
        first_id: int = 1,
        channel: str = "tgfetch_sim",
        bandwidth: float | None = None,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: str | FaultPlan | None = None,
        encrypt: bool = True,
        size_scale: float = 1.0,
        max_file_size: int | None = None,
        login_code: str = "12345",
        password: str | None = None,
        channel_id: int | None = None,
        other_dialogs: int = 150,
        forum_topics: int = 0,
        comments: bool = False,
        more_channels: Sequence[ChannelArg] = (),
        login_token_ttl: float = 30.0,
    ) -> None:
        _check_shape(messages, first_id, jitter, size_scale)
        _check_peers(channel_id, other_dialogs)
        _check_threads(forum_topics, comments)
        self.seed = seed
        self.channel_username = channel
        self.channel_id = channel_id or 1_000_000_000 + derive_int("channel", seed, channel, bits=30)
        self.first_id = first_id  # `last_id`: the last id now
        self.fault_plan, self.encrypt = parse_faults(faults), encrypt
        self._bandwidth, self._latency, self._jitter = bandwidth, latency, jitter
        self._messages = tuple(generate_messages(seed, messages, first_id, size_scale, max_file_size))
        builder, threads = self._chat(forum_topics, comments, size_scale, max_file_size)
        self._more = self._extra_chats(Shape(seed, messages, size_scale, max_file_size), more_channels)
        self._bytes = ByteSource(seed)
        self._accounts: dict[str, Account] = {}
        self._dialogs = DialogService(seed, builder, self._messages, other_dialogs, self._more)
        self.live = Live(seed, self.channel_id, self._dialogs, (size_scale, max_file_size), _fixed(builder))
        self._login = LoginService(seed, builder, login_code, password, token_ttl=login_token_ttl)
        self._server = self._make_server(builder, self._login, threads)

    def _chat(
        self, forum_topics: int, comments: bool, size_scale: float, max_file_size: int | None
    ) -> tuple[Builder, Extension]:
        """Return the chat's builder and thread requests: a plain channel, a forum, or a channel with comments."""
        name = self.channel_username
        if forum_topics:
            self.forum = layout_forum(self.seed, self._messages, forum_topics)
            self._messages = self.forum.messages
            forum = ForumBuilder(self.seed, self.channel_id, name, f"Simulated forum {name}", self.forum)
            return forum, ForumService(self.forum, forum)
        title = f"Simulated channel {name}"
        if not comments:
            return Builder(self.seed, self.channel_id, name, title), NoThreads()
        group_id = _group_id(self.seed, self.channel_id)
        self.discussion = layout_discussion(self.seed, group_id, self._messages, size_scale, max_file_size)
        builder = CommentedBuilder(self.seed, self.channel_id, name, title, self.discussion)
        group = GroupBuilder(self.seed, self.discussion, self.channel_id, title)
        return builder, CommentsService(self.discussion, builder, group)

    def _extra_chats(self, shape: Shape, args: Sequence[ChannelArg]) -> list[ExtraChat]:
        """Build the `more_channels`: other usernames and ids than the main chat's and its discussion group's."""
        ids = (self.channel_id, _group_id(self.seed, self.channel_id))
        return build_chats(shape, args, (self.channel_username, PUBLIC_USER), ids,
                           (*self._messages, *self.discussion_messages))

    def _make_server(self, builder: Builder, login: LoginService, threads: Extension) -> Server:
        files = [*self._messages, *self.discussion_messages, *(m for c in self._more for m in c.messages)]
        return Server(
            builder=builder,
            messages=self._messages,
            plan=self.fault_plan,
            files=FileService(self.seed, files, self._bytes, self.fault_plan),
            login=login,
            dialogs=self._dialogs,
            extensions=[threads, self.live, *([MoreChannels(self._more, [self.live])] if self._more else [])],
        )

    # -- content --------------------------------------------------------------

    @property
    def messages(self) -> Sequence[SimMessage]:
        """Every message id of the channel as it is now, in id order (deleted ones included)."""
        return self._server.messages()

    @property
    def channels(self) -> list[tuple[str, int]]:
        """(username, id) of every channel: the main chat first, then `more_channels` in their order."""
        return [(self.channel_username, self.channel_id), *((c.username, c.channel_id) for c in self._more)]

    def chat_messages(self, chat: str | int) -> Sequence[SimMessage]:
        """Every message id of a chat (by username or id: the main chat, an extra channel, the discussion group)."""
        name = chat.lower().lstrip("@") if isinstance(chat, str) else None
        if chat == self.channel_id or name == self.channel_username.lower():
            return self._server.messages()
        if self.discussion and chat == self.discussion.group_id:
            return self.discussion.messages
        return self.live.server(chat).messages()

    def message(self, message_id: int, chat_id: int | None = None) -> SimMessage:
        """Return one message of the channel (or of the chat `chat_id`) as it is now; KeyError if there is none."""
        if not self.discussion or chat_id != self.discussion.group_id:
            return self.live.message(message_id, chat_id)
        entry = self.discussion.entry(message_id)
        if entry is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return entry.sim

    def media_messages(self, chat_id: int | None = None) -> list[SimMessage]:
        """Return the messages that carry a file, in id order (of the main chat, or of the chat `chat_id`)."""
        return [m for m in self.chat_messages(self.channel_id if chat_id is None else chat_id) if m.is_media]

    def _media(self, message_id: int, chat_id: int | None) -> SimMessage:
        try:
            msg: SimMessage | None = self.message(message_id, chat_id)
        except KeyError:
            msg = None
        if msg is None or not msg.is_media or msg.doc_id is None:
            raise KeyError(f"message {message_id} has no media")
        return msg

    def read_file(self, message_id: int, offset: int, limit: int, chat_id: int | None = None) -> bytes:
        """Return bytes [offset, offset+limit) of a message's file (largest photo size); chat_id: any chat's."""
        msg = self._media(message_id, chat_id)
        assert msg.doc_id is not None
        return self._bytes.read(msg.doc_id, msg.size, offset, limit)

    def file_sha256(self, message_id: int, chat_id: int | None = None) -> str:
        """Return the hex sha256 of a message's file (cached); chat_id: the main chat's, any other chat's."""
        msg = self._media(message_id, chat_id)
        assert msg.doc_id is not None
        return self._bytes.sha256(msg.doc_id, msg.size)

    # -- forum topics and comments ----------------------------------------------

    def topics(self) -> list[Topic]:
        """Return the forum's topics, General (id 1) first, then by id; none unless `forum_topics`."""
        return list(self.forum.topics) if self.forum else []

    def topic(self, topic_id: int) -> Topic:
        """Return one topic of the forum; KeyError if there is no such topic."""
        found = self.forum.topic(topic_id) if self.forum else None
        if found is None:
            raise KeyError(f"no topic {topic_id}")
        return found

    @property
    def discussion_id(self) -> int | None:
        """The id of the channel's discussion group (`comments=True`), else None."""
        return self.discussion.group_id if self.discussion else None

    @property
    def discussion_messages(self) -> Sequence[SimMessage]:
        """Every message of the discussion group (posts' copies and comments), in id order."""
        return self.discussion.messages if self.discussion else ()

    def threads(self) -> list[Thread]:
        """Return the comment threads of the channel's posts, in post order; none unless `comments`."""
        return list(self.discussion.threads) if self.discussion else []

    def thread(self, post_id: int) -> Thread:
        """Return the thread a post (any member of an album post) opens; KeyError if none."""
        found = self.discussion.by_post(post_id) if self.discussion else None
        if found is None:
            raise KeyError(f"post {post_id} has no comment thread")
        return found

    def total_media_bytes(self) -> int:
        """Return the bytes of all distinct files (a reposted file counts once)."""
        return sum({m.doc_id: m.size for m in self.media_messages()}.values())

    def total_media_bytes_per_message(self) -> int:
        """Return the bytes of every media message (reposts count again)."""
        return sum(m.size for m in self.media_messages())

    # -- accounts and clients -------------------------------------------------

    def account(self, name: str) -> Account:
        """Return (creating on first use) the server-side state of account `name`."""
        found = self._accounts.get(name)
        if found is None:
            found = Account(
                name=name, seed=self.seed, plan=self.fault_plan, bandwidth=self._bandwidth, latency=self._latency,
                jitter=self._jitter,
            )
            self._accounts[name] = found
        return found

    def client(
        self,
        name: str,
        *,
        bandwidth: float | None = _UNSET,
        latency: float | None = _UNSET,
        api_id: int = 1,
        api_hash: str = "sim",
        **client_kwargs: Any,
    ) -> TelegramClient:
        """Return a real TelegramClient logged in as account `name` (caller connects)."""
        account = self.account(name)
        if bandwidth is not _UNSET:
            self.set_bandwidth(name, bandwidth)
        if latency is not _UNSET:
            account.latency = latency or 0.0
        return self._make_client(SimSession(account, authorized=True), api_id, api_hash, client_kwargs)

    def unauthorized_client(
        self, name: str, *, api_id: int = 1, api_hash: str = "sim", **client_kwargs: Any
    ) -> TelegramClient:
        """Return a client of account `name` that must sign in (code, then password)."""
        session = SimSession(self.account(name), authorized=False)
        return self._make_client(session, api_id, api_hash, client_kwargs)

    def _make_client(self, session: SimSession, api_id: int, api_hash: str, kwargs: dict[str, Any]) -> TelegramClient:
        self.live.track(session)  # its home connection gets the channels' updates
        string_session = StringSession()
        string_session.set_dc(HOME_DC, *_HOME_ADDRESS)
        client = SimClient(string_session, api_id, api_hash, **kwargs)

        def factory(dc_id: int) -> FakeSender:
            return FakeSender(self._server, session, dc_id, encrypt=self.encrypt)

        client._sim_sender_factory = factory
        client._sender = FakeSender(self._server, session, HOME_DC, encrypt=self.encrypt,
                                    updates=client._updates_queue)  # the home connection gets updates
        return client

    async def scan_login_token(
        self, token: str | bytes, by: str, *, dc_id: int = HOME_DC, notify: bool = True
    ) -> Any:
        """Scan a QR login token (the tg://login URL or the token) with account `by`'s other device; see `qr`.

        `by` (on `dc_id`) accepts it (auth.acceptLoginToken; its `Authorization` returned); the waiting
        client gets updateLoginToken unless `notify` is False, and logs in as `by`.
        """
        return await self._login.qr.scan(self._server.handle, SimSession(self.account(by), authorized=True), token,
                                   dc_id=dc_id, notify=notify)

    def set_bandwidth(self, name: str, bytes_per_s: float | None) -> None:
        """Set account `name`'s download bandwidth (None = unthrottled)."""
        if bytes_per_s is not None and bytes_per_s <= 0:
            raise ValueError("bandwidth must be > 0 or None")
        self.account(name).pacer.bandwidth = bytes_per_s

    @property
    def invite_hash(self) -> str:
        """The channel's current invite hash: t.me/+<invite_hash> and t.me/joinchat/<invite_hash> lead to it."""
        return self._dialogs.invite_hash

    def revoke_invite(self) -> str:
        """Revoke the invite link (the old hash answers INVITE_HASH_EXPIRED); return the new hash."""
        return self._dialogs.revoke_invite()

    def leave(self, name: str) -> None:
        """Make account `name` leave the channel: gone from its dialogs, invite links only preview it."""
        self.account(name).member = False

    def join(self, name: str) -> None:
        """Make account `name` a member of the channel again."""
        self.account(name).member = True

    def revoke(self, name: str) -> None:
        """Make every later RPC of account `name` fail AUTH_KEY_UNREGISTERED."""
        self.account(name).revoked = True

    def deactivate(self, name: str) -> None:
        """Make every later RPC of account `name` fail USER_DEACTIVATED."""
        self.account(name).deactivated = True

    def rpc_counts(self, name: str) -> collections.Counter[str]:
        """Return a copy of the per-method RPC counts of account `name`."""
        return collections.Counter(self.account(name).counts)

    def bytes_served(self, name: str) -> int:
        """Return the file bytes served to account `name` (upload.File payloads)."""
        return self.account(name).bytes_served

    def accounts(self) -> list[str]:
        """Return the names of the accounts used so far."""
        return list(self._accounts)
