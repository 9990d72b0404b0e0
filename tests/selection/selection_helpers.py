"""Messages, albums and records for the selection tests (no Telegram)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tgfetch.model import MessageGroup, MessageInfo
from tgfetch.selection.record import FilterRecord

DAY = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
_MIME = {"photo": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg", "voice": "audio/ogg",
         "document": "application/pdf", "animation": "video/mp4", "sticker": "image/webp"}  # fmt: skip


def info(
    mid: int, kind: str | None = "video", size: int = 1000, name: str | None = None, album: int | None = None,
    caption: str = "", date: datetime | None = DAY, mime: str | None = None,
) -> MessageInfo:  # fmt: skip
    """Build one message (kind None: a text message without a file)."""
    if kind is None:
        return MessageInfo(mid, media_group_id=album, caption=caption, date=date)
    return MessageInfo(
        mid, media_group_id=album, file_size=size, file_name=name, mime_type=mime or _MIME.get(kind),
        media_type=kind, date=date, caption=caption,
    )  # fmt: skip


def single(m: MessageInfo) -> MessageGroup:
    """A group of one message."""
    return MessageGroup.of([m])


def album(first: int, kinds: list[str], caption: str = "an album", gid: int = 77, size: int = 1000) -> MessageGroup:
    """An album whose first member carries the caption (as on Telegram)."""
    members = [info(first + i, k, size=size * (i + 1), album=gid, caption=caption if i == 0 else "")
               for i, k in enumerate(kinds)]  # fmt: skip
    return MessageGroup.of(members)


def record(**fields: object) -> FilterRecord:
    """A record with plausible values; `fields` override them."""
    base: dict[str, object] = dict(
        id=1, date=DAY, caption="Lecture 3: Sorting", text="Lecture 3: Sorting", file_name="VID_0001.mp4",
        ext="mp4", size=60_000_000, mime_type="video/mp4", media_type="video", album_id=None, album_size=1,
        index=None, views=None, forwards=None, duration=None, width=None, height=None, topic_id=None,
        reply_to=None, is_comment=False, chat="lectures",
    )  # fmt: skip
    base.update(fields)
    return FilterRecord(**base)  # type: ignore[arg-type]


def days(n: int) -> timedelta:
    """A number of days."""
    return timedelta(days=n)
