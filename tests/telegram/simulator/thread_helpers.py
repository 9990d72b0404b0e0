"""Requests the forum and comment tests send."""

from __future__ import annotations

from typing import Any

from telethon import functions


def replies_request(peer: Any, msg_id: int, **kwargs: Any) -> Any:
    """A messages.getReplies request with the given paging fields (the rest neutral)."""
    args = {"offset_id": 0, "offset_date": None, "add_offset": 0, "limit": 100, "max_id": 0, "min_id": 0, "hash": 0}
    return functions.messages.GetRepliesRequest(peer=peer, msg_id=msg_id, **(args | kwargs))
