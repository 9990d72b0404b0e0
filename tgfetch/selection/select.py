"""Choose what to download: a `Selection` of settings, applied to scanned groups before any plan.

A message is kept when it has a file and passes every criterion, checked in the order of
`REASONS` (the first one it fails is the reason it is counted under). An album is kept whole
when any member is kept and `albums` is `whole`; with `matching` only its kept members stay,
still as one group (so still on one account). An empty selection keeps everything as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tgfetch.model import MessageCollection, MessageGroup, MessageInfo
from tgfetch.selection.expr import Filter, compile_filter
from tgfetch.selection.literals import parse_date_from, parse_date_to, parse_size, refuse
from tgfetch.selection.record import MEDIA_TYPES, album_caption, extension, make_record

__all__ = ["ALBUM_MODES", "REASONS", "Dropped", "Selection", "SelectionResult", "select"]

#: `ALBUMS` values: keep a whole album when a member is selected, or only its selected members.
ALBUM_MODES = ("whole", "matching")
#: Why a message is dropped, in the order the criteria are checked.
REASONS = ("no_file", "type", "extension", "size", "date", "filter")
_EXT_RE = re.compile(r"[a-z0-9]{1,16}(?:\.[a-z0-9]{1,16})?", re.ASCII)
_EXT_HELP = "a comma list of extensions without the dot, letters and digits (e.g. mp4,mkv or tar.gz)"

ListValue = str | Iterable[str] | None
SizeValue = str | int | None
DateValue = str | date | None


def _items(value: ListValue) -> list[str]:
    """Split a comma list (or take a list) into lower-case, stripped, non-empty items."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [p.strip().lower() for p in parts if p.strip()]


def _media_types(value: ListValue, setting: str = "MEDIA_TYPES") -> frozenset[str] | None:
    """Parse the media types (None: every type)."""
    items = _items(value)
    for item in items:
        if item not in MEDIA_TYPES:
            refuse(setting, value if isinstance(value, str) else ",".join(_items(value)),
                   f"unknown media type {item!r}", "a comma list of " + ", ".join(MEDIA_TYPES))  # fmt: skip
    return frozenset(items) or None


def _extensions(value: ListValue, setting: str) -> frozenset[str]:
    """Parse a list of extensions (a leading dot is dropped)."""
    out = set()
    for item in _items(value):
        ext = item.removeprefix(".")
        if not _EXT_RE.fullmatch(ext):
            shown = value if isinstance(value, str) else ",".join(_items(value))
            refuse(setting, shown, f"{item!r} is not an extension", _EXT_HELP)
        out.add(ext)
    return frozenset(out)


def _check_ranges(sel: Selection) -> None:
    """Refuse an empty size or date range, or an extension both included and excluded."""
    if sel.min_size is not None and sel.max_size is not None and sel.min_size > sel.max_size:
        refuse("MIN_FILE_SIZE", sel.min_size, f"larger than MAX_FILE_SIZE ({sel.max_size} bytes)",
               "a minimum at most the maximum")  # fmt: skip
    if sel.date_from is not None and sel.date_to is not None and sel.date_from > sel.date_to:
        refuse("DATE_FROM", sel.date_from.isoformat(), f"after DATE_TO ({sel.date_to.isoformat()})",
               "a start at or before the end")  # fmt: skip
    both = sel.include_ext & sel.exclude_ext
    if both:
        refuse("EXCLUDE_EXT", ",".join(sorted(sel.exclude_ext)), f"{sorted(both)[0]!r} is also in INCLUDE_EXT",
               "extensions not listed in INCLUDE_EXT")  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """What to download; build it from settings' values with `Selection.from_values`."""

    media_types: frozenset[str] | None = None
    include_ext: frozenset[str] = frozenset()
    exclude_ext: frozenset[str] = frozenset()
    min_size: int | None = None
    max_size: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    filter: Filter | None = None
    albums: str = "whole"

    def __post_init__(self) -> None:
        if self.albums not in ALBUM_MODES:
            refuse("ALBUMS", self.albums, "", " or ".join(ALBUM_MODES))
        _check_ranges(self)

    @classmethod
    def from_values(
        cls, *, media_types: ListValue = None, include_ext: ListValue = None, exclude_ext: ListValue = None,
        min_size: SizeValue = None, max_size: SizeValue = None, date_from: DateValue = None,
        date_to: DateValue = None, filter: str | None = None, albums: str | None = "whole",
    ) -> Selection:  # fmt: skip
        """Parse settings' values (None or '' means not set); a bad one raises ConfigError naming it."""
        return cls(
            media_types=_media_types(media_types),
            include_ext=_extensions(include_ext, "INCLUDE_EXT"),
            exclude_ext=_extensions(exclude_ext, "EXCLUDE_EXT"),
            min_size=None if min_size is None or min_size == "" else parse_size(min_size, "MIN_FILE_SIZE"),
            max_size=None if max_size is None or max_size == "" else parse_size(max_size, "MAX_FILE_SIZE"),
            date_from=None if date_from is None or date_from == "" else parse_date_from(date_from, "DATE_FROM"),
            date_to=None if date_to is None or date_to == "" else parse_date_to(date_to, "DATE_TO"),
            filter=compile_filter(filter, "FILTER") if filter is not None and filter.strip() else None,
            albums=(albums or "whole").strip().lower(),
        )

    @property
    def is_empty(self) -> bool:
        """Tell whether nothing is chosen (every message is kept, nothing counted)."""
        return (self.media_types is None and not self.include_ext and not self.exclude_ext
                and self.min_size is None and self.max_size is None and self.date_from is None
                and self.date_to is None and self.filter is None)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dropped:
    """Messages, files and bytes one reason dropped."""

    messages: int = 0
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class SelectionResult:
    """The kept groups (albums whole or trimmed to their kept members) and the dropped counts by reason."""

    groups: tuple[MessageGroup, ...]
    dropped: Mapping[str, Dropped] = field(default_factory=lambda: {r: Dropped() for r in REASONS})

    @property
    def collection(self) -> MessageCollection:
        """Return the kept groups as a collection: what the plan weighs."""
        return MessageCollection.of_groups(self.groups)

    @classmethod
    def combine(cls, results: Sequence[SelectionResult]) -> SelectionResult:
        """One result of several chats' selections: their groups in order, the drops added up by reason."""
        groups = tuple(g for r in results for g in r.groups)
        dropped = {
            why: Dropped(*(sum(getattr(r.dropped[why], f) for r in results) for f in ("messages", "files", "bytes")))
            for why in REASONS
        }
        return cls(groups, dropped)

    @property
    def dropped_total(self) -> Dropped:
        """Return everything dropped, all reasons together."""
        d = self.dropped.values()
        return Dropped(sum(x.messages for x in d), sum(x.files for x in d), sum(x.bytes for x in d))


class _Judge:
    """The selection's criteria, read once, applied to one message at a time."""

    def __init__(self, sel: Selection, chat: str) -> None:
        self.sel = sel
        self.chat = chat
        self.exts = bool(sel.include_ext or sel.exclude_ext)
        self.low = -1 if sel.min_size is None else sel.min_size
        self.high = sel.max_size
        self.dates = sel.date_from is not None or sel.date_to is not None

    def reason(self, m: MessageInfo, group: MessageGroup, caption: str, index: int | None) -> str | None:
        """Return why the message is dropped, or None when it is kept."""
        sel = self.sel
        if m.media_type is None:
            return "no_file"
        if sel.media_types is not None and m.media_type not in sel.media_types:
            return "type"
        if self.exts and not self.ext_ok(m):
            return "extension"
        if m.file_size < self.low or (self.high is not None and m.file_size > self.high):
            return "size"
        if self.dates and not self.date_ok(m.date):
            return "date"
        if sel.filter is not None and not sel.filter.matches(make_record(m, group, caption, index, self.chat)):
            return "filter"
        return None

    def ext_ok(self, m: MessageInfo) -> bool:
        """Tell whether the extension (or double extension such as tar.gz) passes INCLUDE/EXCLUDE_EXT."""
        ext = extension(m)
        names = {ext} if ext else set()
        parts = (m.file_name or "").lower().rsplit(".", 2)
        if ext and len(parts) == 3 and parts[0] and parts[1].isalnum() and parts[2] == ext:
            names.add(f"{parts[1]}.{ext}")
        if self.sel.include_ext and not names & self.sel.include_ext:
            return False
        return not names & self.sel.exclude_ext

    def date_ok(self, d: datetime | None) -> bool:
        """Tell whether the date lies in DATE_FROM..DATE_TO (both inclusive); no date never does."""
        if d is None:
            return False
        if d.tzinfo is None:
            d = d.replace(tzinfo=UTC)
        sel = self.sel
        return (sel.date_from is None or d >= sel.date_from) and (sel.date_to is None or d <= sel.date_to)

    def verdicts(self, group: MessageGroup, stop_at_first: bool) -> list[str | None]:
        """Return each message's reason (None: kept); stop after the first kept one if asked."""
        album = group.is_media_group
        caption = album_caption(group) if album else ""
        out: list[str | None] = []
        index = 0
        for m in group.messages:
            own = None
            if album and m.media_type is not None:
                index += 1
                own = index
            why = self.reason(m, group, caption if album else m.caption, own)
            out.append(why)
            if why is None and stop_at_first:
                break
        return out


def _count(counts: dict[str, list[int]], m: MessageInfo, why: str) -> None:
    """Count one dropped message under its reason."""
    c = counts[why]
    c[0] += 1
    if m.media_type is not None:
        c[1] += 1
        c[2] += m.file_size


def select(groups: Sequence[MessageGroup], chat: str, selection: Selection) -> SelectionResult:
    """Keep the groups (or album members) the selection chooses; count what it drops by reason."""
    if selection.is_empty:
        return SelectionResult(tuple(groups))
    judge = _Judge(selection, chat)
    whole = selection.albums == "whole"
    counts = {r: [0, 0, 0] for r in REASONS}
    kept: list[MessageGroup] = []
    for g in groups:
        verdicts = judge.verdicts(g, stop_at_first=whole or not g.is_media_group)
        if verdicts[-1] is None and (whole or not g.is_media_group):
            kept.append(g)
            continue
        members = []
        for m, why in zip(g.messages, verdicts, strict=True):
            if why is None:
                members.append(m)
            else:
                _count(counts, m, why)
        if members:
            kept.append(g if len(members) == len(g.messages) else MessageGroup.of(members))
    return SelectionResult(tuple(kept), {r: Dropped(*c) for r, c in counts.items()})
