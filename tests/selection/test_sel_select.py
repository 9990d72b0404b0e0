"""select(): albums whole or matching, counts by reason, and dropped files weigh nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selection_helpers import DAY, album, days, info, single

from tgfetch.errors import ConfigError
from tgfetch.model import MessageCollection, MessageGroup
from tgfetch.selection import MEDIA_TYPES, REASONS, Dropped, Selection, select
from tgfetch.telegram.simulator.content import generate_messages, to_message_info


def _ids(groups: tuple[MessageGroup, ...] | list[MessageGroup]) -> list[list[int]]:
    return [g.message_ids for g in groups]


def test_an_empty_selection_keeps_everything_and_counts_nothing() -> None:
    groups = [single(info(1)), single(info(2, None)), album(3, ["photo", "video"])]
    sel = Selection.from_values(media_types="", include_ext=None, min_size="", filter="  ")
    assert sel.is_empty
    result = select(groups, "c", sel)
    assert list(result.groups) == groups
    assert result.dropped_total == Dropped() and set(result.dropped) == set(REASONS)


def test_album_whole_keeps_every_member_when_one_matches() -> None:
    groups = [album(10, ["photo", "video", "photo"]), single(info(20, "photo"))]
    result = select(groups, "c", Selection.from_values(media_types="video", albums="whole"))
    assert _ids(result.groups) == [[10, 11, 12]]
    assert result.groups[0] is groups[0]
    assert result.dropped["type"] == Dropped(1, 1, 1000)


def test_album_matching_keeps_only_the_matching_members_in_one_group() -> None:
    groups = [album(10, ["photo", "video", "photo", "video"]), single(info(20, "photo"))]
    result = select(groups, "c", Selection.from_values(media_types="video", albums="matching"))
    assert _ids(result.groups) == [[11, 13]]
    kept = result.groups[0]
    assert kept.is_media_group and kept.group_id == "a77" and kept.total_files == 2
    assert kept.total_size == 2000 + 4000
    assert result.dropped["type"] == Dropped(3, 3, 1000 + 3000 + 1000)


def test_an_album_none_of_whose_members_match_is_dropped_member_by_member() -> None:
    groups = [album(10, ["photo", "photo"])]
    for mode in ("whole", "matching"):
        result = select(groups, "c", Selection.from_values(media_types="video", albums=mode))
        assert result.groups == () and result.dropped["type"] == Dropped(2, 2, 3000)


def test_the_filter_sees_the_album_caption_on_every_member() -> None:
    groups = [album(10, ["photo", "video", "video"], caption="Lecture 1"), album(20, ["video"], caption="Ad", gid=9)]
    sel = Selection.from_values(filter='media_type == "video" and re(caption, "Lecture")', albums="matching")
    result = select(groups, "c", sel)
    assert _ids(result.groups) == [[11, 12]]
    assert result.dropped["filter"] == Dropped(2, 2, 1000 + 1000)


def test_dropped_messages_are_counted_under_the_first_reason() -> None:
    early = DAY - days(40)
    groups = [
        single(info(1, None, caption="text only")),  # no_file
        single(info(2, "photo")),  # type
        single(info(3, "video", name="clip.avi", size=5_000_000)),  # extension
        single(info(4, "video", name="clip.mp4", size=10)),  # size
        single(info(5, "video", name="clip.mp4", size=5_000_000, date=early)),  # date
        single(info(6, "video", name="clip.mp4", size=5_000_000, caption="trailer")),  # filter
        single(info(7, "video", name="clip.mp4", size=6_000_000, caption="lecture")),  # kept
        single(info(8, "video", name="clip.mp4", size=6_000_000, date=None)),  # date: no date never matches
    ]
    sel = Selection.from_values(
        media_types="video,document", include_ext="mp4", min_size="1MB", date_from="2024-01-01",
        date_to="2024-12-31", filter='not contains(caption, "trailer")',
    )  # fmt: skip
    result = select(groups, "c", sel)
    assert _ids(result.groups) == [[7]]
    assert dict(result.dropped) == {
        "no_file": Dropped(1, 0, 0), "type": Dropped(1, 1, 1000), "extension": Dropped(1, 1, 5_000_000),
        "size": Dropped(1, 1, 10), "date": Dropped(2, 2, 11_000_000), "filter": Dropped(1, 1, 5_000_000),
    }  # fmt: skip
    assert result.dropped_total == Dropped(7, 6, 21_001_010)


def test_filtered_out_files_weigh_nothing_in_the_kept_collection() -> None:
    msgs = [m for m in map(to_message_info, generate_messages(7, 3000, 1, 1.0, None)) if m is not None]
    whole = MessageCollection.from_messages(msgs)
    for mode in ("whole", "matching"):
        sel = Selection.from_values(media_types="photo,video", max_size="5MB", albums=mode)
        result = select(whole.groups, "chan", sel)
        kept = result.collection
        kept_ids = {m.message_id for m in kept.messages}
        assert kept.total_size == sum(m.file_size for m in kept.messages if m.media_type is not None)
        assert kept.total_files == sum(1 for m in kept.messages if m.media_type is not None)
        if mode == "matching":  # only the chosen files remain, and every byte is either kept or dropped
            assert all(m.media_type in ("photo", "video") and m.file_size <= 5_000_000 for m in kept.messages)
            assert kept.total_size + result.dropped_total.bytes == whole.total_size
            assert kept.total_files + result.dropped_total.files == whole.total_files
        expected_albums = {g.group_id for g in whole.groups if g.is_media_group and any(
            m.media_type in ("photo", "video") and m.file_size <= 5_000_000 for m in g.messages)}  # fmt: skip
        assert {g.group_id for g in kept.groups if g.is_media_group} == expected_albums
        expected_singles = {m.message_id for m in msgs if m.media_group_id is None
                            and m.media_type in ("photo", "video") and m.file_size <= 5_000_000}  # fmt: skip
        singles = {m.message_id for m in msgs if m.media_group_id is None}
        assert kept_ids & singles == expected_singles


def test_inclusive_end_date_and_utc() -> None:
    groups = [single(info(i, date=datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC) + days(i))) for i in range(-1, 2)]
    result = select(groups, "c", Selection.from_values(date_from="2024-01-30", date_to="2024-01-31"))
    assert _ids(result.groups) == [[-1], [0]]


def test_extensions_are_case_insensitive_and_double_extensions_match() -> None:
    groups = [single(info(1, "document", name="backup.TAR.GZ")), single(info(2, "document", name="x.gz")),
              single(info(3, "video", name=None, mime="video/mp4"))]  # fmt: skip
    assert _ids(select(groups, "c", Selection.from_values(include_ext="tar.gz")).groups) == [[1]]
    assert _ids(select(groups, "c", Selection.from_values(include_ext="GZ")).groups) == [[1], [2]]
    assert _ids(select(groups, "c", Selection.from_values(include_ext=[".MP4"])).groups) == [[3]]
    assert _ids(select(groups, "c", Selection.from_values(exclude_ext="gz")).groups) == [[3]]


def test_every_media_type_is_accepted() -> None:
    sel = Selection.from_values(media_types=",".join(t.upper() for t in MEDIA_TYPES))
    assert sel.media_types == frozenset(MEDIA_TYPES)
    groups = [single(info(i, t)) for i, t in enumerate(MEDIA_TYPES)]
    assert len(select(groups, "c", Selection.from_values(media_types=["voice", "sticker"])).groups) == 2


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"media_types": "video,movie"}, "MEDIA_TYPES='video,movie' is not allowed: unknown media type 'movie'"),
        ({"include_ext": "mp4,m p4"}, "INCLUDE_EXT='mp4,m p4' is not allowed: 'm p4' is not an extension"),
        ({"exclude_ext": "*"}, "EXCLUDE_EXT='*' is not allowed"),
        ({"min_size": "-1MB"}, "MIN_FILE_SIZE='-1MB' is not allowed: a size is never negative"),
        ({"max_size": "5XB"}, "MAX_FILE_SIZE='5XB' is not allowed: unknown size unit 'XB'"),
        ({"min_size": "2MB", "max_size": "1MB"}, "MIN_FILE_SIZE='2000000' is not allowed: larger than MAX_FILE_SIZE"),
        ({"date_from": "2024-13-01"}, "DATE_FROM='2024-13-01' is not allowed"),
        ({"date_from": "2024-02-01", "date_to": "2024-01-31"}, "DATE_FROM='2024-02-01T00:00:00+00:00' is not allowed"),
        ({"include_ext": "mp4", "exclude_ext": "MP4"}, "EXCLUDE_EXT='mp4' is not allowed: 'mp4' is also in INCLUDE"),
        ({"filter": "size > 5XB"}, "FILTER='size > 5XB' is not allowed: unknown size unit 'XB' at column 8"),
        ({"albums": "some"}, "ALBUMS='some' is not allowed: expected whole or matching"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(values: dict[str, str], start: str) -> None:
    with pytest.raises(ConfigError) as err:
        Selection.from_values(**values)  # type: ignore[arg-type]
    msg = str(err.value)
    assert msg.startswith(start) and "\n" not in msg and "expected" in msg
