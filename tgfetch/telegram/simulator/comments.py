"""The discussion group's requests: getDiscussionMessage, getReplies, and the group read as a channel.

Each account has its own access hash of the group (like the channel's): it learns it from the group
entity in `channels.getFullChannel(channel).chats` (next to `linked_chat_id`), or in any answer carrying
comments; another account's hash fails CHANNEL_INVALID. The group answers channels.getChannels,
getFullChannel and getMessages (<= 200 ids) and messages.getHistory like the channel does.
"""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .discussion import CommentedBuilder, DiscussionLayout, GroupBuilder, Thread
from .server import MAX_IDS_PER_CALL, Handler, Server
from .threads import newest_first


class CommentsService:
    """Answer the comment requests of the channel and the requests of its discussion group."""

    def __init__(self, layout: DiscussionLayout, channel: CommentedBuilder, group: GroupBuilder) -> None:
        self.layout = layout
        self.channel = channel
        self.group = group
        self._server: Server | None = None

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Return the request-type -> handler table: the thread requests, the group's channel requests."""
        self._server = server
        full, chans = functions.channels.GetFullChannelRequest, functions.channels.GetChannelsRequest
        return {
            functions.messages.GetDiscussionMessageRequest: self._discussion,
            functions.messages.GetRepliesRequest: self._replies,
            chans: self._channels(server.handler(chans)),
            full: self._route(self._linked(server.handler(full)), self._group_full),
            functions.channels.GetMessagesRequest: self._route(
                server.handler(functions.channels.GetMessagesRequest), self._group_messages
            ),
            functions.messages.GetHistoryRequest: self._route(
                server.handler(functions.messages.GetHistoryRequest), self._group_history
            ),
        }

    # -- routing and checks ---------------------------------------------------

    def _is_group(self, peer: Any) -> bool:
        return getattr(peer, "channel_id", None) == self.layout.group_id

    def _route(self, channel: Handler, group: Handler) -> Handler:
        """Send a request about the group to `group`, any other to `channel`."""

        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            peer = req.channel if hasattr(req, "channel") else req.peer
            return (group if self._is_group(peer) else channel)(session, dc_id, req)

        return handler

    def _check_group(self, account: Account, peer: Any) -> None:
        ok = (
            isinstance(peer, (types.InputChannel, types.InputPeerChannel))
            and self._is_group(peer)
            and peer.access_hash == self.group.access_hash(account)
        )
        if not ok:
            raise RpcFail(400, "CHANNEL_INVALID")

    def _thread(self, account: Account, peer: Any, msg_id: int) -> Thread:
        """Return the thread of (channel, post) or (group, root copy); MSG_ID_INVALID for anything else."""
        if self._is_group(peer):
            self._check_group(account, peer)
            thread = self.layout.by_root(msg_id)
        else:
            assert self._server is not None
            self._server.check_channel(account, peer)
            thread = self.layout.by_post(msg_id)
        if thread is None:
            raise RpcFail(400, "MSG_ID_INVALID")
        return thread

    def _chats(self, account: Account) -> list[Any]:
        return [self.group.entity(account), self.channel.channel(account)]

    def _answer(self, account: Account, msgs: list[Any], count: int) -> Any:
        return types.messages.ChannelMessages(
            pts=1, count=count, messages=msgs, topics=[], chats=self._chats(account),
            users=self.group.users(account, msgs),
        )

    # -- threads --------------------------------------------------------------

    def _discussion(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/messages.getDiscussionMessage: the thread's root in the discussion
        # group; core.telegram.org/constructor/messages.discussionMessage: `messages` are the messages the
        # thread starts from (several for an album), newest first; max_id is the latest reply's id.
        account = session.account
        thread = self._thread(account, req.peer, req.msg_id)
        msgs = [self.group.message(account, i) for i in reversed(thread.root_ids)]
        last = thread.comment_ids[-1] if thread.comment_ids else None
        return types.messages.DiscussionMessage(
            messages=msgs, max_id=last, read_inbox_max_id=last, read_outbox_max_id=last, unread_count=0,
            chats=self._chats(account), users=self.group.users(account, msgs),
        )

    def _replies(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/messages.getReplies: the comments of (channel, post), which are messages
        # of the discussion group, or of (group, root); paged as core.telegram.org/api/offsets says.
        account = session.account
        thread = self._thread(account, req.peer, req.msg_id)
        ids = thread.comment_ids
        page = newest_first(ids, self.layout.dates_of(ids), req)
        return self._answer(account, [self.group.message(account, i) for i in page], len(ids))

    # -- the group as a channel -----------------------------------------------

    def _channels(self, previous: Handler) -> Handler:
        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            if not any(self._is_group(c) for c in req.id):
                return previous(session, dc_id, req)
            account = session.account
            found: dict[int, Any] = {}
            for chan in req.id:
                if self._is_group(chan):
                    self._check_group(account, chan)
                    found[self.layout.group_id] = self.group.entity(account)
                else:
                    assert self._server is not None
                    self._server.check_channel(account, chan)
                    found[chan.channel_id] = self.channel.channel(account)
            return types.messages.Chats(chats=list(found.values()))

        return handler

    def _linked(self, previous: Handler) -> Handler:
        # core.telegram.org/constructor/channelFull: linked_chat_id, the discussion group (its entity in chats).
        def handler(session: SimSession, dc_id: int, req: Any) -> Any:
            answer = previous(session, dc_id, req)
            answer.full_chat.linked_chat_id = self.layout.group_id
            answer.chats.append(self.group.entity(session.account))
            return answer

        return handler

    def _group_full(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self._check_group(account, req.channel)
        last = self.layout.ids[-1] if self.layout.ids else 0
        full = types.ChannelFull(
            id=self.layout.group_id, about="Comments of the simulated channel", read_inbox_max_id=last,
            read_outbox_max_id=last, unread_count=0, chat_photo=types.PhotoEmpty(id=0),
            notify_settings=types.PeerNotifySettings(), bot_info=[], pts=1, participants_count=321,
            linked_chat_id=self.channel.channel_id,
        )
        return types.messages.ChatFull(full_chat=full, chats=self._chats(account), users=[])

    def _group_messages(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self._check_group(account, req.channel)
        if len(req.id) > MAX_IDS_PER_CALL:
            raise RpcFail(400, "LIMIT_INVALID")
        msgs = [self.group.message(account, i.id) for i in req.id if isinstance(i, types.InputMessageID)]
        return self._answer(account, msgs, len(msgs))

    def _group_history(self, session: SimSession, dc_id: int, req: Any) -> Any:
        account = session.account
        self._check_group(account, req.peer)
        page = newest_first(self.layout.ids, self.layout.dates, req)
        return self._answer(account, [self.group.message(account, i) for i in page], len(self.layout.ids))
