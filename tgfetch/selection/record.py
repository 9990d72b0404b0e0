"""The record a `FILTER` expression sees: one message with its album's context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tgfetch.download.naming import guess_extension
from tgfetch.model import MessageGroup, MessageInfo

__all__ = [
    "FIELDS",
    "FIELD_KINDS",
    "MEDIA_TYPES",
    "FilterRecord",
    "album_caption",
    "extension",
    "make_record",
    "records_for",
]

#: Every media type a selection may name (`MessageInfo.media_type` values; see telegram/convert.py).
MEDIA_TYPES = ("photo", "video", "audio", "voice", "document", "animation", "video_note", "sticker")

_MAX_EXT = 15


@dataclass(frozen=True, slots=True)
class FilterRecord:
    """One message as `FILTER` sees it; a field Telegram did not give is None."""

    id: int
    date: datetime | None
    caption: str
    text: str
    file_name: str | None
    ext: str | None
    size: int | None
    mime_type: str | None
    media_type: str | None
    album_id: int | None
    album_size: int | None
    index: int | None
    views: int | None
    forwards: int | None
    duration: float | None
    width: int | None
    height: int | None
    topic_id: int | None
    reply_to: int | None
    is_comment: bool
    chat: str


#: The kind of value of every field: "num", "str", "date" or "bool" (what the expression checker compares).
FIELD_KINDS: dict[str, str] = {
    "id": "num", "date": "date", "caption": "str", "text": "str", "file_name": "str", "ext": "str",
    "size": "num", "mime_type": "str", "media_type": "str", "album_id": "num", "album_size": "num",
    "index": "num", "views": "num", "forwards": "num", "duration": "num", "width": "num", "height": "num",
    "topic_id": "num", "reply_to": "num", "is_comment": "bool", "chat": "str",
}  # fmt: skip
FIELDS = tuple(FIELD_KINDS)
assert FIELDS == tuple(FilterRecord.__slots__), "FIELD_KINDS must list FilterRecord's fields in order"


def extension(info: MessageInfo) -> str | None:
    """Return the file's extension in lower case without the dot (from its name, else its MIME type)."""
    if info.media_type is None:
        return None
    stem, dot, ext = (info.file_name or "").rpartition(".")
    if dot and stem.strip() and 0 < len(ext) <= _MAX_EXT and ext.isalnum():
        return ext.lower()
    return guess_extension(info.mime_type, info.media_type).removeprefix(".").lower() or None


def album_caption(group: MessageGroup) -> str:
    """Return the album's caption: the first member's caption that is not empty (as file tasks do)."""
    return next((m.caption for m in group.messages if m.caption), "")


def _utc(value: datetime | None) -> datetime | None:
    """Return the date as an aware UTC datetime (naive dates are UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_record(
    info: MessageInfo, group: MessageGroup, caption: str, index: int | None, chat: str, is_comment: bool = False
) -> FilterRecord:
    """Build one message's record; `caption` is the album's, `index` its 1-based place among the files.

    A message is a comment when the caller says so or when the scan found the post it is under (`post_id`).
    """
    has_file = info.media_type is not None
    return FilterRecord(
        info.message_id, _utc(info.date), caption, info.caption, info.file_name,
        extension(info), info.file_size if has_file else None, info.mime_type, info.media_type,
        info.media_group_id, group.total_files if has_file else None, index,
        info.views, info.forwards, info.duration, info.width, info.height, info.topic_id, info.reply_to,
        is_comment or info.post_id is not None, chat,
    )  # fmt: skip


def records_for(group: MessageGroup, chat: str, *, is_comment: bool = False) -> list[FilterRecord]:
    """Return the records of a group's messages, in order; every album member has the album's caption."""
    caption = album_caption(group) if group.is_media_group else ""
    out: list[FilterRecord] = []
    index = 0
    for m in group.messages:
        own = None
        if group.is_media_group and m.media_type is not None:
            index += 1
            own = index
        out.append(make_record(m, group, caption if group.is_media_group else m.caption, own, chat, is_comment))
    return out
