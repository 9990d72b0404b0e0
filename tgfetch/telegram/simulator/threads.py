"""Message threads, shared by forum topics and comments: offset paging, members, a chat without threads."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import SimMessage, derive_int

if TYPE_CHECKING:
    from .server import Handler, Server

MAX_PAGE = 100  # core.telegram.org/api/offsets: limit is "typically between 1 and 100"
MEMBERS = 12  # users who write in the forum's topics and in the comments
_MEMBER_BASE = 7_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def date_set(value: dt.datetime | None) -> bool:
    """Tell whether a TL date parameter was given (Telethon sends None as 0, read back as the epoch)."""
    return value is not None and value > _EPOCH


def newest_first(ids: Sequence[int], dates: Sequence[dt.datetime], req: Any) -> list[int]:
    """Return one page of `ids` (ascending, dated `dates`) newest first, with the request's offsets.

    core.telegram.org/api/offsets: the page starts at offsetFromID(offset_id) + add_offset, where
    offsetFromID counts the results from the newest up to offset_id inclusive (offset_id wins over
    offset_date, which skips the results dated at or after it); then `limit` results; max_id and min_id
    are applied after that (so a low max_id on the first page gives nothing, as Telethon observes).
    A negative start is cut, not shifted: "newer than the newest" is an empty page.
    """
    n = len(ids)
    if req.offset_id:
        start = n - bisect.bisect_left(ids, req.offset_id)
    elif date_set(req.offset_date):
        start = n - bisect.bisect_left(dates, req.offset_date)
    else:
        start = 0
    start += req.add_offset
    lo, hi = max(0, start), min(n, start + max(0, min(req.limit, MAX_PAGE)))
    window = [ids[n - 1 - i] for i in range(lo, hi)]
    return [i for i in window if (not req.max_id or i < req.max_id) and (not req.min_id or i > req.min_id)]


def album_units(messages: Sequence[SimMessage]) -> list[list[SimMessage]]:
    """Group messages (in id order) into units: an album's members together, any other message alone."""
    units: list[list[SimMessage]] = []
    for msg in messages:
        if units and msg.grouped_id is not None and units[-1][-1].grouped_id == msg.grouped_id:
            units[-1].append(msg)
        else:
            units.append([msg])
    return units


def member_id(index: int) -> int:
    """Return the user id of member `index` (0 <= index < MEMBERS)."""
    return _MEMBER_BASE + index


def member_users(seed: int, account: Account, user_ids: Iterable[int]) -> list[types.User]:
    """Return the members among `user_ids` (each once, in id order), with `account`'s access hashes."""
    return [
        types.User(
            id=uid,
            access_hash=derive_int("member_hash", seed, account.name, uid),
            first_name=f"Member {uid - _MEMBER_BASE + 1}",
        )
        for uid in sorted(set(user_ids))
        if _MEMBER_BASE <= uid < _MEMBER_BASE + MEMBERS
    ]


def senders(messages: Iterable[Any]) -> list[int]:
    """Return the user ids that sent `messages` (TL messages; channels and empties have none)."""
    return [m.from_id.user_id for m in messages if isinstance(getattr(m, "from_id", None), types.PeerUser)]


class NoThreads:
    """The thread requests of a plain broadcast channel: no topics, no comments."""

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Return the request-type -> handler table of this extension."""

        def forum_missing(session: SimSession, dc_id: int, req: Any) -> Any:
            # core.telegram.org/method/messages.getForumTopics: CHANNEL_FORUM_MISSING, "not a forum".
            server.check_channel(session.account, req.peer)
            raise RpcFail(400, "CHANNEL_FORUM_MISSING")

        def no_thread(session: SimSession, dc_id: int, req: Any) -> Any:
            # core.telegram.org/method/messages.getReplies and messages.getDiscussionMessage: MSG_ID_INVALID.
            server.check_channel(session.account, req.peer)
            raise RpcFail(400, "MSG_ID_INVALID")

        return {
            functions.messages.GetForumTopicsRequest: forum_missing,
            functions.messages.GetRepliesRequest: no_thread,
            functions.messages.GetDiscussionMessageRequest: no_thread,
        }
