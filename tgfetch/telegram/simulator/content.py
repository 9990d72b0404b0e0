"""Deterministic channel content: message kinds, albums, sizes, hostile names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import random
from collections.abc import Callable, Sequence

from tgfetch.model import MessageInfo

KINDS = ("text", "service", "deleted", "photo", "video", "document", "audio")
MEDIA_KINDS = ("photo", "video", "document", "audio")

_KB, _MB, _GB = 1024, 1024 * 1024, 1024 * 1024 * 1024
_BASE_DATE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
_DENSE_IDS = 1_000_000

HOSTILE_NAMES = (
    "отчёт 2023 финал.pdf",
    "😀 party 🎉.zip",
    "file  with   spaces .txt",
    "../../x",
    "/etc/passwd",
    "CON",
    "nul.txt",
    "a\x00b",
    "é" * 150 + ".bin",  # 300 bytes of UTF-8 before the extension
    "README",
    "..",
    ".hidden",
    "C:\\Windows\\system32\\evil.dll",
    "line\nbreak\ttab.txt",
    "trailing dot.",
    "   ",
    "名前のないファイル",
    '<>:"|?*.doc',
)

_DOC_TYPES = (
    ("report", ".pdf", "application/pdf"),
    ("archive", ".zip", "application/zip"),
    ("backup", ".tar.gz", "application/gzip"),
    ("notes", ".txt", "text/plain"),
    ("book", ".epub", "application/epub+zip"),
    ("data", ".csv", "text/csv"),
)


@dataclasses.dataclass(frozen=True)
class SimMessage:
    """One message id of the simulated channel (media fields empty for non-media)."""

    id: int
    kind: str
    grouped_id: int | None
    size: int
    file_name: str | None
    mime_type: str | None
    caption: str
    date: dt.datetime
    doc_id: int | None
    dc_id: int

    @property
    def is_media(self) -> bool:
        """Tell whether the message carries a downloadable file."""
        return self.kind in MEDIA_KINDS


def derive_int(*parts: object, bits: int = 63) -> int:
    """Return a stable non-negative int derived from `parts` (no hash randomization)."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> (64 - bits)


@dataclasses.dataclass
class _Gen:
    rng: random.Random
    size_scale: float
    max_file_size: int | None
    earlier_docs: list[SimMessage] = dataclasses.field(default_factory=list)

    def size(self, kind: str) -> int:
        rng = self.rng
        if kind == "photo":
            raw = math.exp(rng.uniform(math.log(50 * _KB), math.log(3 * _MB)))
        elif kind == "video":
            raw = rng.lognormvariate(math.log(6 * _MB), 1.3)
        elif kind == "audio":
            raw = rng.uniform(1 * _MB, 15 * _MB)
        else:
            raw = 16 * _KB * rng.paretovariate(0.6)
        raw = min(raw, 2 * _GB)
        size = max(1, int(raw * self.size_scale))
        if self.max_file_size is not None:
            size = min(size, self.max_file_size)
        return size

    def dc(self) -> int:
        return 2 if self.rng.random() < 0.7 else self.rng.choice((1, 3, 4, 5))

    def name_and_mime(self, kind: str, msg_id: int) -> tuple[str | None, str]:
        rng = self.rng
        if kind == "photo":
            return None, "image/jpeg"
        if kind == "audio":
            return f"track_{msg_id:05d}.mp3", "audio/mpeg"
        if kind == "video":
            return (f"VID_{msg_id:06d}.mp4" if rng.random() < 0.6 else None), "video/mp4"
        stem, ext, mime = rng.choice(_DOC_TYPES)
        if rng.random() < 0.12:
            return rng.choice(HOSTILE_NAMES), "application/octet-stream"
        return f"{stem}_{msg_id}{ext}", mime


def generate_messages(
    seed: int, count: int, first_id: int, size_scale: float, max_file_size: int | None
) -> list[SimMessage]:
    """Build the channel's messages: same arguments, same channel, in every process."""
    gen = _Gen(random.Random(derive_int("content", seed)), size_scale, max_file_size)
    out: list[SimMessage] = []
    last_id = first_id + count - 1
    msg_id = first_id
    while msg_id <= last_id:
        left = last_id - msg_id + 1
        if left >= 2 and gen.rng.random() < 0.08:
            album = _album(gen, msg_id, min(left, _album_len(gen.rng)))
            out.extend(album)
            msg_id += len(album)
        else:
            out.append(_single(gen, msg_id))
            msg_id += 1
    return out


def _album_len(rng: random.Random) -> int:
    return min(10, 2 + int(rng.expovariate(1 / 2.2)))


def _date(msg_id: int) -> dt.datetime:
    # Seven minutes apart up to id 1,000,000 (2036), then closer, so that every 32-bit id
    # gets a date before 2038-01-19: Telegram's dates are 32-bit unix times (core.telegram.org/type/int).
    minutes = 7 * min(msg_id, _DENSE_IDS) + max(0, msg_id - _DENSE_IDS) // 4000
    return _BASE_DATE + dt.timedelta(minutes=minutes)


def _media(gen: _Gen, msg_id: int, kind: str, grouped_id: int | None, caption: str) -> SimMessage:
    name, mime = gen.name_and_mime(kind, msg_id)
    return SimMessage(
        id=msg_id,
        kind=kind,
        grouped_id=grouped_id,
        size=gen.size(kind),
        file_name=name,
        mime_type=mime,
        caption=caption,
        date=_date(msg_id),
        doc_id=(1 << 61) | gen.rng.getrandbits(60),
        dc_id=gen.dc(),
    )


def _album(gen: _Gen, first: int, length: int) -> list[SimMessage]:
    rng = gen.rng
    grouped_id = (1 << 62) | rng.getrandbits(61)
    documents = rng.random() < 0.25
    caption = f"Album {grouped_id % 100000} ({length} items)"
    members = []
    for i in range(length):
        if documents:
            kind = "document"
        else:
            kind = "photo" if rng.random() < 0.65 else "video"
        members.append(_media(gen, first + i, kind, grouped_id, caption if i == 0 else ""))
    gen.earlier_docs.extend(m for m in members if m.kind != "photo")
    return members


def _plain(msg_id: int, kind: str, caption: str) -> SimMessage:
    return SimMessage(
        id=msg_id,
        kind=kind,
        grouped_id=None,
        size=0,
        file_name=None,
        mime_type=None,
        caption=caption,
        date=_date(msg_id),
        doc_id=None,
        dc_id=2,
    )


def _single(gen: _Gen, msg_id: int) -> SimMessage:
    rng = gen.rng
    roll = rng.random()
    if roll < 0.03:
        return _plain(msg_id, "deleted", "")
    if roll < 0.05:
        return _plain(msg_id, "service", "")
    if roll < 0.21:
        return _plain(msg_id, "text", f"Text post #{msg_id}: {rng.getrandbits(32):08x}")
    if roll < 0.22 and gen.earlier_docs:
        return _repost(gen, msg_id)
    kind = rng.choices(MEDIA_KINDS, weights=(40, 25, 25, 10))[0]
    caption = f"Post {msg_id}" if rng.random() < 0.5 else ""
    msg = _media(gen, msg_id, kind, None, caption)
    if kind != "photo":
        gen.earlier_docs.append(msg)
    return msg


def _repost(gen: _Gen, msg_id: int) -> SimMessage:
    orig = gen.rng.choice(gen.earlier_docs)
    return dataclasses.replace(orig, id=msg_id, grouped_id=None, caption=f"Repost of {orig.id}", date=_date(msg_id))


class MediaFactory:
    """Make media messages like the channel's (kinds, sizes, names, DCs) for other chats' content."""

    def __init__(self, rng: random.Random, size_scale: float, max_file_size: int | None) -> None:
        self.rng = rng
        self._gen = _Gen(rng, size_scale, max_file_size)

    def media(self, msg_id: int, kind: str, grouped_id: int | None, caption: str, date: dt.datetime) -> SimMessage:
        """Return a media message of `kind` (one of MEDIA_KINDS) dated `date`."""
        return dataclasses.replace(_media(self._gen, msg_id, kind, grouped_id, caption), date=date)

    @staticmethod
    def text(msg_id: int, caption: str, date: dt.datetime) -> SimMessage:
        """Return a text-only message dated `date`."""
        return dataclasses.replace(_plain(msg_id, "text", caption), date=date)


# -- what a channel post's TL objects say beyond the SimMessage (tlbuild.Builder puts the same values there) --

#: A photo's sizes as (type, w, h), smallest first: two thumbnails, then the size that holds the file.
PHOTO_SIZES = (("s", 90, 60), ("m", 320, 213), ("y", 1280, 853))
VIDEO_W, VIDEO_H = 1280, 720


def post_views(msg_id: int) -> int:
    """The views of a channel post (core.telegram.org/constructor/message: `views`, channel posts only)."""
    return 10 + msg_id % 997


def post_forwards(msg_id: int) -> int:
    """The forwards of a channel post (core.telegram.org/constructor/message: `forwards`, channel posts only)."""
    return msg_id % 7


def media_shape(m: SimMessage) -> tuple[float | None, int | None, int | None]:
    """A file's (duration in seconds, width, height) as its TL attributes give them; None where there is none.

    Videos: core.telegram.org/constructor/documentAttributeVideo (`duration` a double, `w`, `h`; no
    `round_message`: the channel holds no video notes). Audio: core.telegram.org/constructor/documentAttributeAudio
    (`duration` an int). Photos: core.telegram.org/constructor/photoSize and photoSizeProgressive (`w`, `h` of
    the largest size; a 1-byte photo's thumbnails are as large as its file, and the first size then wins).
    Documents: none.
    """
    if m.kind == "video":
        return float(5 + m.size % 600), VIDEO_W, VIDEO_H
    if m.kind == "audio":
        return float(30 + m.size % 300), None, None
    if m.kind == "photo":
        _, w, h = PHOTO_SIZES[0] if m.size <= 1 else PHOTO_SIZES[-1]
        return None, w, h
    return None, None, None


def to_message_info(m: SimMessage) -> MessageInfo | None:
    """The record the scan makes of a simulated channel post (None for deleted and service ones), without Telegram.

    As the plain channel serves it: a forum's or a discussion group's messages have no views or forwards,
    and their topic and reply come from the forum's or the group's layout, not from the SimMessage.
    """
    if not m.is_media and m.kind != "text":
        return None  # deleted, service, a forum topic's creation
    views, forwards = post_views(m.id), post_forwards(m.id)
    if not m.is_media:
        return MessageInfo(m.id, date=m.date, caption=m.caption, views=views, forwards=forwards)
    duration, width, height = media_shape(m)
    return MessageInfo(
        m.id, media_group_id=m.grouped_id, file_size=m.size, file_name=m.file_name, mime_type=m.mime_type,
        media_type=m.kind, date=m.date, caption=m.caption, document_id=m.doc_id, dc_id=m.dc_id,
        views=views, forwards=forwards, duration=duration, width=width, height=height,
    )


# -- live posts (`live`): messages a running channel receives, by the same rules as the generated ones --------------

#: The kinds a new post may have, weighted like `_single` draws them (a post is never born deleted).
POST_KINDS = {"text": 16.0, "service": 2.0, "photo": 31.2, "video": 19.5, "document": 19.5, "audio": 7.8}
REPOST_SHARE = 0.01  # as in `_single`: about 1% of posts repost an earlier document of the channel
MAX_ALBUM = 10  # core.telegram.org/method/messages.sendMultiMedia: an album holds 2 to 10 media


def post_date(msg_id: int) -> dt.datetime:
    """The date the generated content gives message `msg_id` (a live post is never dated before it)."""
    return _date(msg_id)


def check_kinds(kinds: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Return the kinds a post may be drawn from (None: any, by the channel's weights); ValueError if unknown."""
    if kinds is None:
        return None
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in POST_KINDS]
    if not chosen or unknown:
        raise ValueError(f"post kinds must be some of {', '.join(POST_KINDS)}; got {list(chosen)!r}")
    return chosen


def live_rng(seed: int, chat_id: int, msg_id: int, *salt: object) -> random.Random:
    """The random source of a live message: derived from (seed, chat, id), never from what was posted before."""
    return random.Random(derive_int("live", seed, chat_id, msg_id, *salt))


def live_post(
    rng: random.Random, msg_id: int, date: dt.datetime, kinds: tuple[str, ...] | None,
    scale: tuple[float, int | None], reposts: Callable[[], Sequence[SimMessage]],
) -> SimMessage:
    """A new single post dated `date`: text, service or media like `_single`, or a repost when `kinds` is None."""
    if kinds is None and rng.random() < REPOST_SHARE:
        earlier = reposts()
        if earlier:
            orig = rng.choice(earlier)
            return dataclasses.replace(orig, id=msg_id, grouped_id=None, caption=f"Repost of {orig.id}", date=date)
    pool = kinds or tuple(POST_KINDS)
    kind = rng.choices(pool, weights=[POST_KINDS[k] for k in pool])[0]
    if kind == "text":
        return dataclasses.replace(_plain(msg_id, "text", f"Text post #{msg_id}: {rng.getrandbits(32):08x}"), date=date)
    if kind == "service":
        return dataclasses.replace(_plain(msg_id, "service", ""), date=date)
    caption = f"Post {msg_id}" if rng.random() < 0.5 else ""
    return dataclasses.replace(_media(_Gen(rng, *scale), msg_id, kind, None, caption), date=date)


def live_album(rng: random.Random, size: int) -> tuple[int, bool, str]:
    """An album's (grouped_id, documents only, caption of its first member), drawn like `_album` draws them."""
    grouped_id = (1 << 62) | rng.getrandbits(61)
    return grouped_id, rng.random() < 0.25, f"Album {grouped_id % 100000} ({size} items)"


def live_member(
    rng: random.Random, msg_id: int, date: dt.datetime, album: tuple[int, bool, str], first: bool,
    scale: tuple[float, int | None],
) -> SimMessage:
    """One member of a live album (`live_album`): a document, or a photo or video; the first carries the caption."""
    grouped_id, documents, caption = album
    kind = "document" if documents else ("photo" if rng.random() < 0.65 else "video")
    return dataclasses.replace(_media(_Gen(rng, *scale), msg_id, kind, grouped_id, caption if first else ""),
                               date=date)


def replaced_media(rng: random.Random, old: SimMessage, caption: str, scale: tuple[float, int | None]) -> SimMessage:
    """Message `old` with a new file of its kind (new id, size, name, DC, bytes): an edit that replaced the media."""
    new = _media(_Gen(rng, *scale), old.id, old.kind, old.grouped_id, caption)
    return dataclasses.replace(new, date=old.date)


def deleted_message(old: SimMessage) -> SimMessage:
    """What is left of a deleted message: its id, kind ``deleted``, nothing else (answered as messageEmpty)."""
    return dataclasses.replace(_plain(old.id, "deleted", ""), date=old.date)
