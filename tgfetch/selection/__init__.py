"""Choose what to download: size and date literals, the `FILTER` language, and `select` over scanned groups.

Imported by the pipeline before any plan; nothing here talks to Telegram.
"""

from tgfetch.selection.expr import Filter, compile_filter
from tgfetch.selection.literals import parse_date_from, parse_date_to, parse_size
from tgfetch.selection.record import FIELDS, MEDIA_TYPES, FilterRecord, records_for
from tgfetch.selection.select import ALBUM_MODES, REASONS, Dropped, Selection, SelectionResult, select

__all__ = [
    "ALBUM_MODES",
    "FIELDS",
    "MEDIA_TYPES",
    "REASONS",
    "Dropped",
    "Filter",
    "FilterRecord",
    "Selection",
    "SelectionResult",
    "compile_filter",
    "parse_date_from",
    "parse_date_to",
    "parse_size",
    "records_for",
    "select",
]
