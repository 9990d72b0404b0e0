"""The FILTER language: operators, functions, literals, missing values, records, errors with columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selection_helpers import DAY, album, info, record, single

from tgfetch.errors import ConfigError
from tgfetch.selection.expr import MAX_EXPRESSION, compile_filter
from tgfetch.selection.functions import MAX_PATTERN
from tgfetch.selection.record import FilterRecord, records_for

REC = record()


def ok(text: str, rec: FilterRecord = REC) -> bool:
    """Compile `text` and evaluate it on `rec`."""
    return compile_filter(text).matches(rec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('media_type == "video"', True),
        ("media_type == 'photo'", False),
        ('media_type != "photo"', True),
        ("size > 50MB", True),
        ("size >= 60MB", True),
        ("size > 60MB", False),
        ("size < 1GiB", True),
        ("size <= 60000000", True),
        ("size < 60000000", False),
        ("50MB < size < 70MB", True),
        ('ext in ["mp4", "mkv"]', True),
        ('ext not in ["mp4", "mkv"]', False),
        ('"Sorting" in caption', True),
        ('"Sorting" in"Sorting"', True),
        ('  "Sorting"in caption', True),
        ('\t\n ext=="mp4"and size>5MB', True),
        ('"sorting" in caption', False),
        ('"x" not in caption', True),
        ('media_type == "video" and size > 50MB', True),
        ('media_type == "photo" and size > 50MB', False),
        ('media_type == "photo" or size > 50MB', True),
        ('not media_type == "photo"', True),
        ('media_type == "photo" and (size > 1MB or ext == "mp4")', False),
        ('(media_type == "photo" and size > 1MB) or ext == "mp4"', True),
        ("size / 1MB > 59.9", True),
        ("size - 10MB == 50MB", True),
        ("size * 2 == 120MB", True),
        ("size + -10MB == 50MB", True),
        ("is_comment == False", True),
        ("not is_comment", True),
        ("id == 1", True),
        ('chat == "lectures"', True),
        ('caption', True),
        ('file_name == "VID_0001.mp4"', True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert ok(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('re(caption, "(?i)lecture")', True),
        ('re(caption, "^Sorting")', False),
        (r're(caption, "\d+")', True),
        (r're(caption, "Lecture \d: ")', True),
        (r're(caption, "\\d")', True),
        ('re(caption, "it\'s")', False),
        ('lower(caption) == "lecture 3: sorting"', True),
        ('upper(ext) == "MP4"', True),
        ('contains(caption, "3:")', True),
        ('contains(lower(caption), "SORT")', False),
        ('startswith(file_name, "VID_")', True),
        ('endswith(file_name, ".mkv")', False),
        ("len(caption) == 18", True),
        ("len(ext) > 3", False),
    ],
)
def test_functions(text: str, expected: bool) -> None:
    assert ok(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date >= 2024-01-31", True),
        ("date <= 2024-01-31", True),  # a bare date is the whole UTC day
        ("date == 2024-01-31", True),
        ("date < 2024-01-31", False),
        ("date > 2024-01-31", False),
        ("date > 2024-01-30", True),
        ("date < 2024-02-01", True),
        ("date >= 2024-01-31T12:00", True),
        ("date > 2024-01-31T12:00", False),
        ("date == 2024-01-31T12:00:00Z", True),
        ("date == 2024-01-31T14:00+02:00", True),
        ("date < 2024-01-31T13:00+02:00", False),
        ('date >= "2024-01-31"', True),
        ('date < "2024-01-31"', False),
        ("date in [2024-01-30, 2024-01-31]", True),
        ('date in ["2024-01-30", "2024-02-01"]', False),
    ],
)
def test_dates(text: str, expected: bool) -> None:
    assert ok(text) is expected


def test_a_date_near_midnight_belongs_to_its_utc_day() -> None:
    late = record(date=datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC))
    assert ok("date <= 2024-01-31", late) and not ok("date >= 2024-02-01", late)


@pytest.mark.parametrize(
    "text",
    [
        "views > 0",
        "views == 0",
        "views != 0",
        "views < 0",
        "views in [0, 1]",
        "views not in [0, 1]",
        "duration >= 0",
        "views + 1 > 0",
        "-views < 0",
        'lower(mime_type) == "video/mp4"',
        're(file_name, ".")',
        'contains(file_name, "")',
        'startswith(file_name, "")',
        'endswith(file_name, "")',
        "len(file_name) >= 0",
        'file_name == "x" or file_name != "x"',
        "date > 2000-01-01 or date < 2000-01-01",
    ],
)
def test_a_missing_value_compares_false_with_anything(text: str) -> None:
    missing = record(file_name=None, mime_type=None, date=None)
    assert ok(text, missing) is False


def test_not_of_a_false_comparison_is_true() -> None:
    assert ok("not views > 0") is True
    assert ok("not file_name", record(file_name=None)) is True


def test_division_by_zero_is_a_missing_value() -> None:
    assert ok("size / 0 > 1") is False
    assert ok("size / (size - size) == 1") is False


def test_the_filter_is_compiled_once_and_reused() -> None:
    f = compile_filter('media_type == "video" and size > 50MB and re(caption, "(?i)lecture")')
    assert f.fields == {"media_type", "size", "caption"}
    assert [f.matches(record(size=s)) for s in (1, 60_000_000, 2, 70_000_000)] == [False, True, False, True]
    assert f == compile_filter(f.text) and hash(f) == hash(compile_filter(f.text))


def test_every_album_member_has_the_album_caption() -> None:
    group = album(10, ["photo", "video", "photo"], caption="Lecture 7")
    recs = records_for(group, "chan")
    assert [r.caption for r in recs] == ["Lecture 7"] * 3
    assert [r.text for r in recs] == ["Lecture 7", "", ""]
    assert [r.index for r in recs] == [1, 2, 3]
    assert {r.album_size for r in recs} == {3} and {r.album_id for r in recs} == {77}
    f = compile_filter('re(caption, "Lecture") and media_type == "video"')
    assert [f.matches(r) for r in recs] == [False, True, False]


def test_records_of_a_single_message_and_a_text_message() -> None:
    rec = records_for(single(info(5, "document", 12, name="Report.Final.PDF", caption="hi")), "c")[0]
    assert (rec.id, rec.ext, rec.size, rec.caption, rec.text, rec.index, rec.album_size) == (
        5, "pdf", 12, "hi", "hi", None, 1)  # fmt: skip
    assert rec.chat == "c" and rec.is_comment is False and rec.views is None and rec.date == DAY
    text = records_for(single(info(6, None, caption="just text")), "c")[0]
    assert (text.ext, text.size, text.media_type, text.album_size) == (None, None, None, None)


@pytest.mark.parametrize(
    ("name", "mime", "kind", "ext"),
    [
        ("a.MP4", "video/mp4", "video", "mp4"),
        ("backup.tar.gz", "application/gzip", "document", "gz"),
        (None, "video/mp4", "video", "mp4"),
        (None, "image/jpeg", "photo", "jpg"),
        ("README", "application/pdf", "document", "pdf"),
        ("trailing dot.", "text/plain", "document", "txt"),
        (".hidden", "application/zip", "document", "zip"),
    ],
)
def test_ext_is_lower_case_without_the_dot(name: str | None, mime: str, kind: str, ext: str) -> None:
    assert records_for(single(info(1, kind, name=name, mime=mime)), "c")[0].ext == ext


def test_naive_message_dates_are_utc() -> None:
    rec = records_for(single(info(1, date=datetime(2024, 1, 31, 12))), "c")[0]
    assert rec.date == DAY and rec.date is not None and rec.date.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "column", "detail"),
    [
        ("size > 5XB", 8, "unknown size unit 'XB'"),
        ("size > 50 MB", 11, "unknown name 'MB'"),
        ("sise > 5MB", 1, "unknown name 'sise'"),
        ('media_type == "vidoe"', 15, "unknown media type 'vidoe'"),
        ('size > "big"', 8, "a number compared with a text"),
        ('ext == "MP4"', 8, "extension 'MP4' never matches"),
        ("caption.upper", 8, "'.' is not allowed"),
        ("size >", 7, "ends too early"),
        ("(size > 1", 1, "'(' is never closed"),
        ("size > 1)", 9, "')' does not close anything"),
        ("size = 1", 6, "'=' is not allowed"),
        ("size > 1 && ext", 10, "'&&' is not allowed"),
        ("size > 1 AND ext", 10, "unknown name 'AND'"),
        ('re(caption, "(")', 13, "bad regular expression"),
        ("re(caption, caption)", 13, "not a quoted string"),
        ("lower(size)", 7, "lower() given a number"),
        ("lower(caption, 1)", 1, "takes 1 argument"),
        ("len", 1, "function 'len' is not called"),
        ("caption[0]", 1, "indexing is not allowed"),
        ("size ** 2", 1, "Pow is not allowed"),
        ("size // 2 > 1", 1, "FloorDiv is not allowed"),
        ("(1, 2)", 1, "a tuple"),
        ("ext in [1, \"a\"]", 8, "mixes kinds"),
        ("[1] == size", 1, "a list only goes after in"),
        ("size in 5", 9, "never matches"),
        ("date > 2024-02-30", 8, "not a valid date"),
        ('date > "soon"', 8, "'soon' is not a date"),
        ('caption == "unterminated', 12, "never closed"),
        ('"ü" == caption and sise', 20, "unknown name 'sise'"),
        ("size > 1 and lambda", 14, "'lambda' is not allowed"),
        ("None == file_name", 1, "None is not allowed"),
        ("x" * 3, 1, "unknown name 'xxx'"),
        ("size > 1 $", 10, "character '$' is not allowed"),
        ("size > 1 if True else False", 10, "'if' is not allowed"),
        ("   size > 5XB", 11, "unknown size unit 'XB'"),
        ('"a""b"', 4, "cannot be read"),
    ],
)
def test_errors_name_the_setting_the_value_and_the_column(text: str, column: int, detail: str) -> None:
    with pytest.raises(ConfigError) as err:
        compile_filter(text)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"FILTER={text!r} is not allowed: ")
    assert detail in msg
    assert f" at column {column}; expected " in msg


def test_the_error_names_the_setting_it_came_from() -> None:
    with pytest.raises(ConfigError, match=r"^--filter='size > 5XB' is not allowed: unknown size unit 'XB' at column 8"):
        compile_filter("size > 5XB", "--filter")


def test_limits() -> None:
    with pytest.raises(ConfigError, match=f"at most {MAX_EXPRESSION}"):
        compile_filter("size > 1 or " * 200 + "size > 1")
    with pytest.raises(ConfigError, match=f"at most {MAX_PATTERN}"):
        compile_filter(f're(caption, "{"a" * (MAX_PATTERN + 1)}")')
    with pytest.raises(ConfigError, match="nested deeper than 20 levels"):
        compile_filter("(" * 21 + "size" + ")" * 21)
    with pytest.raises(ConfigError, match="nested deeper than 32 levels"):
        compile_filter("not " * 40 + "is_comment")
    with pytest.raises(ConfigError, match="empty"):
        compile_filter("   ")
    with pytest.raises(ConfigError, match="expand past 10000 items at column 13"):
        compile_filter('re(caption, "((a{100}){100}){100}")')
    with pytest.raises(ConfigError, match=r"bad regular expression: bad escape \\p"):
        compile_filter(r're(caption, "\p{L}")')


def test_a_regular_expression_that_runs_too_long_stops_with_a_config_error() -> None:
    f = compile_filter('re(caption, "(x+x+)+y")')
    with pytest.raises(ConfigError, match=r"^FILTER=.* ran longer than .* on message 9; expected "):
        f.matches(record(id=9, caption="x" * 3000))
