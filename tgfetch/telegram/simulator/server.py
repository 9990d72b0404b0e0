"""The simulated Telegram server: answers TL requests with TL objects or RPC errors."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from telethon.tl import functions, types

from .accounts import Account
from .base import DropConnection, RpcFail, SimSession
from .content import SimMessage
from .dialogs import DialogService
from .faults import FaultPlan
from .files import FileService
from .login import LoginService
from .tlbuild import Builder

log = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 200
PUBLIC_USER = "tgfetch_sim_user"  # a user (not a channel) with a public username
MAX_HISTORY = 100

_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
)
# Answered even for revoked/unauthorized accounts (needed by connect()).
_ALWAYS_ALLOWED = ("GetConfigRequest", "GetNearestDcRequest", "PingRequest")
_LOGIN_METHODS = ("SendCodeRequest", "SignInRequest", "GetPasswordRequest", "CheckPasswordRequest", "LogOutRequest",
                  "ExportLoginTokenRequest", "ImportLoginTokenRequest")

Handler = Callable[[SimSession, int, Any], Any]


class Extension(Protocol):
    """More requests a chat answers (forum topics, comments); may wrap the server's own handlers."""

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Return the request-type -> handler table to add (after `server.handler` lookups)."""


def unwrap(request: Any) -> Any:
    """Strip invokeWithLayer/initConnection/invokeWithoutUpdates wrappers."""
    while isinstance(request, _WRAPPERS):
        request = request.query
    return request


class Server:
    """Dispatch one TL request of one session to its handler."""

    def __init__(
        self,
        *,
        builder: Builder,
        messages: Sequence[SimMessage],
        plan: FaultPlan,
        files: FileService,
        login: LoginService | None = None,
        dialogs: DialogService | None = None,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.builder = builder
        self.plan = plan
        self.files = files
        self.login = login
        self._load(messages)
        self._handlers: dict[type, Handler] = {
            functions.help.GetConfigRequest: self._config,
            functions.help.GetAppConfigRequest: lambda s, d, r: make_app_config(r.hash),
            functions.help.GetNearestDcRequest: self._nearest_dc,
            functions.PingRequest: lambda s, d, r: types.Pong(msg_id=0, ping_id=r.ping_id),
            functions.users.GetUsersRequest: self._users,
            functions.updates.GetStateRequest: self._state,
            functions.updates.GetDifferenceRequest: lambda s, d, r: types.updates.DifferenceEmpty(date=_now(), seq=1),
            functions.updates.GetChannelDifferenceRequest: lambda s, d, r: types.updates.ChannelDifferenceEmpty(
                pts=1, final=True, timeout=30
            ),
            functions.contacts.ResolveUsernameRequest: self._resolve,
            functions.channels.GetChannelsRequest: self._channels,
            functions.channels.GetFullChannelRequest: self._full_channel,
            functions.channels.GetMessagesRequest: self._channel_messages,
            functions.messages.GetHistoryRequest: self._history,
            functions.upload.GetFileRequest: self.files.get_file,
        }
        if login is not None:  # an extra channel's server answers only the channel's requests (`chats`)
            self._handlers.update(login.handlers())
        if dialogs is not None:
            self._handlers.update(dialogs.handlers())
        for extension in extensions:
            self._handlers.update(extension.handlers(self))

    def _load(self, messages: Sequence[SimMessage]) -> None:
        self._by_id = {m.id: m for m in messages}
        self._visible = [m.id for m in messages if m.kind != "deleted"]  # ascending
        self._snapshot: tuple[SimMessage, ...] | None = tuple(messages)
        # The channel's pts (core.telegram.org/api/updates): `live` adds each event's pts_count.
        self.pts = 1
        self.edit_dates: dict[int, dt.datetime] = {}  # edited messages (`live`): their edit_date

    def messages(self) -> tuple[SimMessage, ...]:
        """Every message id of the channel as it is now, in id order (deleted ones included)."""
        if self._snapshot is None:
            self._snapshot = tuple(self._by_id.values())
        return self._snapshot

    def put(self, msg: SimMessage) -> None:
        """Add a message after the last id, or replace one (an edit, a deletion): every answer reads it (`live`)."""
        old = self._by_id.get(msg.id)
        if old is None and self._by_id and msg.id <= next(reversed(self._by_id)):
            raise ValueError(f"message {msg.id} is neither known nor after the last id")
        self._by_id[msg.id] = msg
        self._snapshot = None
        was, now = old is not None and old.kind != "deleted", msg.kind != "deleted"
        at = bisect.bisect_left(self._visible, msg.id)
        if was and not now:
            del self._visible[at]
        elif now and not was:
            self._visible.insert(at, msg.id)

    def handler(self, request_type: type) -> Handler:
        """Return the handler of `request_type` (KeyError if none), e.g. for an extension to wrap."""
        return self._handlers[request_type]

    async def handle(self, session: SimSession, dc_id: int, request: Any) -> Any:
        """Answer `request` (already unwrapped or not) for `session` on `dc_id`."""
        request = unwrap(request)
        method = type(request).__name__
        account = session.account
        account.record_rpc(method)
        if account.latency > 0:
            await asyncio.sleep(account.round_trip())
        if method not in _ALWAYS_ALLOWED:
            self._check_authorized(session, method)
        await self._inject(account, method)
        handler = self._handlers.get(type(request))
        if handler is None:
            log.warning("simulator has no handler for %s", method)
            raise RpcFail(400, "INPUT_METHOD_INVALID")
        result = handler(session, dc_id, request)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def _check_authorized(self, session: SimSession, method: str) -> None:
        account = session.account
        if account.deactivated:
            raise RpcFail(401, "USER_DEACTIVATED")
        if account.revoked:
            raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
        if not session.authorized and method not in _LOGIN_METHODS:
            raise RpcFail(401, "AUTH_KEY_UNREGISTERED")

    async def _inject(self, account: Account, method: str) -> None:
        for index, rule in self.plan.of_kind("flood", "drop", "timeout"):
            if not rule.matches(account.name, method):
                continue
            if method in _ALWAYS_ALLOWED and rule.method == "*":
                continue  # connecting and keep-alive pings fail only when a rule names them
            if not account.counter(index).fire():
                continue
            if rule.kind == "flood":
                raise RpcFail(420, f"FLOOD_WAIT_{rule.seconds}")
            if rule.kind == "drop":
                raise DropConnection(rule.hard)
            await asyncio.Event().wait()  # timeout: never answer

    # -- channel --------------------------------------------------------------

    def check_channel(self, account: Account, channel: Any) -> None:
        """Raise CHANNEL_INVALID unless `channel` is this account's view of the channel."""
        ok = (
            isinstance(channel, (types.InputChannel, types.InputPeerChannel))
            and channel.channel_id == self.builder.channel_id
            and channel.access_hash == self.builder.access_hash(account)
        )
        if not ok:
            raise RpcFail(400, "CHANNEL_INVALID")

    def _resolve(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/contacts.resolveUsername: contacts.resolvedPeer (the peer, with its
        # chat or user); usernames are case-insensitive; unknown -> USERNAME_NOT_OCCUPIED.
        name = req.username.lower().lstrip("@")
        if name == PUBLIC_USER.lower():
            user = self.builder.public_user(session.account, PUBLIC_USER)
            return types.contacts.ResolvedPeer(peer=types.PeerUser(user.id), chats=[], users=[user])
        if name != self.builder.username.lower():
            raise RpcFail(400, "USERNAME_NOT_OCCUPIED")
        return types.contacts.ResolvedPeer(
            peer=self.builder.peer, chats=[self.builder.channel(session.account)], users=[]
        )

    def _channels(self, session: SimSession, dc_id: int, req: Any) -> Any:
        for channel in req.id:
            self.check_channel(session.account, channel)
        return types.messages.Chats(chats=[self.builder.channel(session.account)] * min(1, len(req.id)))

    def _full_channel(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self.check_channel(account, req.channel)
        last = self._visible[-1] if self._visible else 0
        full = types.ChannelFull(
            id=self.builder.channel_id,
            about="Simulated channel (tgfetch)",
            read_inbox_max_id=last,
            read_outbox_max_id=last,
            unread_count=0,
            chat_photo=types.PhotoEmpty(id=0),
            notify_settings=types.PeerNotifySettings(),
            bot_info=[],
            pts=self.pts,
            participants_count=1234,
        )
        return types.messages.ChatFull(full_chat=full, chats=[self.builder.channel(account)], users=[])

    def message(self, account: Account, msg_id: int) -> Any:
        """Return the TL message `msg_id` as `account` sees it (with its edit_date once edited)."""
        message = self.builder.message(self._by_id.get(msg_id), msg_id, account)
        if msg_id in self.edit_dates and isinstance(message, types.Message):
            message.edit_date = self.edit_dates[msg_id]
        return message

    def find(self, msg_id: int) -> SimMessage | None:
        """Return the SimMessage with this id, if any."""
        return self._by_id.get(msg_id)

    def _channel_messages(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self.check_channel(account, req.channel)
        if len(req.id) > MAX_IDS_PER_CALL:
            raise RpcFail(400, "LIMIT_INVALID")
        out = []
        for item in req.id:
            if isinstance(item, types.InputMessageID):
                out.append(self.message(account, item.id))
        return self._channel_messages_result(account, out, len(out))

    def _channel_messages_result(self, account: Account, msgs: list[Any], count: int) -> Any:
        return types.messages.ChannelMessages(
            pts=self.pts, count=count, messages=msgs, topics=[], chats=[self.builder.channel(account)],
            users=self.builder.related_users(account, msgs),
        )

    def _history(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self.check_channel(account, req.peer)
        newest_first = self._visible[::-1]
        start = 0
        if req.offset_id:
            # first index (newest-first) whose id < offset_id
            start = len(self._visible) - bisect.bisect_left(self._visible, req.offset_id)
        start = max(0, start + req.add_offset)
        limit = max(0, min(req.limit, MAX_HISTORY))
        window = newest_first[start : start + limit]
        window = [i for i in window if (not req.max_id or i < req.max_id) and (not req.min_id or i > req.min_id)]
        msgs = [self.message(account, i) for i in window]
        return self._channel_messages_result(account, msgs, len(self._visible))

    # -- misc -----------------------------------------------------------------

    def _config(self, session: SimSession, dc_id: int, req: Any) -> Any:
        return make_config(dc_id)

    def _nearest_dc(self, session: SimSession, dc_id: int, req: Any) -> Any:
        return types.NearestDc(country="ZZ", this_dc=dc_id, nearest_dc=2)

    def _users(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        out: list[Any] = []
        for user in req.id:
            mine = isinstance(user, types.InputUserSelf) or (
                isinstance(user, types.InputUser) and user.user_id == account.user_id
            )
            out.append(self.builder.user(account) if mine else types.UserEmpty(id=getattr(user, "user_id", 0)))
        return out

    def _state(self, session: SimSession, dc_id: int, req: Any) -> Any:
        return types.updates.State(pts=1, qts=0, date=_now(), seq=1, unread_count=0)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# help.getAppConfig (core.telegram.org/api/config#client-configuration): the keys tgfetch reads, with
# the values Telegram sends.  The queue limits are the files to download at once from one DC, for
# files smaller / bigger than 20 MB (core.telegram.org/api/files).
APP_CONFIG = {
    "small_queue_max_active_operations_count": 5,
    "large_queue_max_active_operations_count": 2,
    "upload_max_fileparts_default": 4000,
    "upload_max_fileparts_premium": 8000,
}
APP_CONFIG_HASH = 0x7467_6665  # changes when APP_CONFIG does


def make_app_config(known_hash: int) -> Any:
    """Return a help.getAppConfig answer (appConfigNotModified when the client has this one)."""
    if known_hash == APP_CONFIG_HASH:
        return types.help.AppConfigNotModified()
    values = [types.JsonObjectValue(k, types.JsonNumber(float(v))) for k, v in APP_CONFIG.items()]
    return types.help.AppConfig(hash=APP_CONFIG_HASH, config=types.JsonObject(values))


def make_config(this_dc: int) -> Any:
    """Return a help.getConfig answer listing DCs 1-5 (addresses are never dialled)."""
    options = [types.DcOption(id=i, ip_address=f"10.0.0.{i}", port=443) for i in range(1, 6)]
    now = _now()
    return types.Config(
        date=now,
        expires=now + dt.timedelta(hours=1),
        test_mode=False,
        this_dc=this_dc,
        dc_options=options,
        dc_txt_domain_name="sim.invalid",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=4,
    )
