"""The fields a filter sees (views, forwards, duration, size in pixels, topic, reply) from real TL messages.

The simulator serves real TL objects to real Telethon clients; what `convert.to_message_info` makes of them
is compared with what the simulator holds (`content.to_message_info`, the forum's layout), and a `FILTER`
over those fields with a selection computed from the simulator's content alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
from telegram_helpers import sim_clients
from telethon.tl import types

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
from download_helpers import check_state_db, run_job, settings_for  # noqa: E402

from tgfetch.config import load_settings  # noqa: E402
from tgfetch.job import scan_channel  # noqa: E402
from tgfetch.model import MessageCollection, MessageInfo  # noqa: E402
from tgfetch.selection import Selection, compile_filter, records_for, select  # noqa: E402
from tgfetch.telegram.convert import to_location, to_message_info  # noqa: E402
from tgfetch.telegram.simulator import SimMessage, SimulatedTelegram  # noqa: E402
from tgfetch.telegram.simulator import content as sim_content  # noqa: E402
from tgfetch.telegram.simulator.forum import GENERAL_ID  # noqa: E402

TOPICS = 5
DATE = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
# Audio or video longer than 200 s, or a photo (1280 x 853; videos are 1280 x 720), among posts seen 100+ times.
PLAIN_FILTER = "views >= 100 and (duration > 200 or width >= 1000 and height > 720)"


def _plain() -> SimulatedTelegram:
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01)


def _forum() -> SimulatedTelegram:
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01, forum_topics=TOPICS)


async def _scan(sim: SimulatedTelegram) -> list[MessageInfo]:
    async with sim_clients(sim, ("a", "b")) as clients:
        res = await scan_channel(clients, sim.channel_username, None, None, load_settings(env_file=None))
    return res.messages


async def _fetched(sim: SimulatedTelegram) -> list[MessageInfo]:
    """Every message of the chat as a real client gets it (getMessages), converted; no scan-level mapping."""
    async with sim_clients(sim, ("a",)) as clients:
        client = clients["a"]
        await client.connect()
        chat = await client.get_entity(sim.channel_username)
        msgs = await client.get_messages(chat, ids=[m.id for m in sim.messages])
    return [i for i in map(to_message_info, msgs) if i is not None]


def _plain_wanted(m: SimMessage) -> bool:
    """PLAIN_FILTER computed from the simulator's content, without tgfetch's selection code."""
    duration, width, height = sim_content.media_shape(m)
    long = duration is not None and duration > 200
    photo_like = width is not None and height is not None and width >= 1000 and height > 720
    return m.is_media and sim_content.post_views(m.id) >= 100 and (long or photo_like)


# -- the channel ----------------------------------------------------------------------------------------


async def test_scanned_fields_equal_what_the_simulator_holds() -> None:
    sim = _plain()
    scanned = await _scan(sim)
    assert len(scanned) > 250
    for info in scanned:
        assert info == sim_content.to_message_info(sim.message(info.message_id)), info.message_id
    by_kind: dict[str | None, list[MessageInfo]] = {}
    for info in scanned:
        by_kind.setdefault(info.media_type, []).append(info)
    assert set(by_kind) == {None, "photo", "video", "document", "audio"}
    # What Builder (tlbuild) puts in the TL objects, spelled out once more for one message of each kind.
    for kind, shape in {"photo": (1280, 853), "video": (1280, 720), "audio": (None, None),
                        "document": (None, None), None: (None, None)}.items():  # fmt: skip
        info = by_kind[kind][0]
        m = sim.message(info.message_id)
        assert (info.width, info.height) == shape
        assert (info.views, info.forwards) == (10 + m.id % 997, m.id % 7)
        assert (info.topic_id, info.reply_to, info.post_id, info.chat) == (None, None, None, 0)
    for info in by_kind["video"]:
        assert info.duration == 5 + sim.message(info.message_id).size % 600
    for info in by_kind["audio"]:
        assert info.duration == 30 + sim.message(info.message_id).size % 300
    assert all(i.duration is None for k in ("photo", "document", None) for i in by_kind[k])
    assert all(isinstance(i.duration, float) for k in ("video", "audio") for i in by_kind[k])


async def test_a_filter_on_views_duration_width_selects_what_the_content_says() -> None:
    sim = _plain()
    scanned = await _scan(sim)
    want = {m.id for m in sim.messages if _plain_wanted(m)}
    assert 10 < len(want) < len(sim.media_messages())
    groups = MessageCollection.from_messages(scanned).groups
    result = select(groups, "chan", Selection.from_values(filter=PLAIN_FILTER, albums="matching"))
    assert {m.message_id for m in result.collection.messages} == want
    # The same filter record by record (compile_filter on records_for) agrees.
    f = compile_filter(PLAIN_FILTER)
    assert {r.id for g in groups for r in records_for(g, "chan") if r.size is not None and f.matches(r)} == want


async def test_a_filter_on_views_duration_width_downloads_those_files(tmp_path: Path) -> None:
    sim = _plain()
    want = {m.id for m in sim.messages if _plain_wanted(m)}
    settings = settings_for(tmp_path / "dl", filter=PLAIN_FILTER, albums="matching")
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert report.ok and {f.message_id for f in report.files} == want
    for f in report.files:
        assert f.sha256 == sim.file_sha256(f.message_id)
    done = check_state_db(sim, report.dest / ".tgfetch.sqlite", report.dest)
    assert set(done) == want


# -- a forum ----------------------------------------------------------------------------------------------


def _forum_expected(sim: SimulatedTelegram, m: SimMessage) -> MessageInfo | None:
    """A forum message's record from the layout: posts' fields, no views, the topic (General: None), the reply."""
    base = sim_content.to_message_info(m)
    if base is None:
        return None
    assert sim.forum is not None
    topic = {i: t.id for t in sim.topics() for i in t.message_ids}[m.id]
    return dataclasses.replace(
        base, views=None, forwards=None, topic_id=None if topic == GENERAL_ID else topic,
        reply_to=sim.forum.placement.reply_of.get(m.id),
    )  # fmt: skip


async def test_forum_messages_carry_their_topic_and_reply() -> None:
    sim = _forum()
    got = {i.message_id: i for i in await _fetched(sim)}
    want = {m.id: e for m in sim.messages if (e := _forum_expected(sim, m)) is not None}
    assert got == want
    created = {t.id for t in sim.topics()[1:]}
    assert not created & set(got)  # a topic's creation message is a service message
    topics = {i.topic_id for i in got.values()}
    assert None in topics and topics - {None} == created - {sim.topics()[-1].id}  # the last topic is empty
    replies = [i for i in got.values() if i.reply_to is not None]
    assert replies and all(i.topic_id is not None and i.reply_to != i.topic_id for i in replies)
    for i in replies:  # a reply answers a message of its own topic
        assert sim.message(i.reply_to).id in sim.topic(i.topic_id).message_ids  # type: ignore[arg-type]


async def test_a_filter_on_topic_id_selects_that_topics_files() -> None:
    sim = _forum()
    infos = await _fetched(sim)
    assert sim.forum is not None
    topic = max(sim.topics()[1:], key=lambda t: len(t.message_ids))
    reply_of = sim.forum.placement.reply_of
    want = {i for i in topic.message_ids if sim.message(i).is_media and (i in reply_of or sim.message(i).size > 2000)}
    assert want and want != {i for i in topic.message_ids if sim.message(i).is_media}
    text = f"topic_id == {topic.id} and (reply_to > 0 or size > 2000)"
    groups = MessageCollection.from_messages(infos).groups
    result = select(groups, "forum", Selection.from_values(filter=text, albums="matching"))
    assert {m.message_id for m in result.collection.messages} == want


# -- hand-built messages -----------------------------------------------------------------------------------


def _doc(*attrs: Any, mime: str = "video/mp4") -> types.MessageMediaDocument:
    doc = types.Document(id=77, access_hash=1, file_reference=b"r", date=DATE, mime_type=mime, size=4096,
                         dc_id=2, attributes=list(attrs))  # fmt: skip
    return types.MessageMediaDocument(document=doc)


def _msg(media: Any = None, reply_to: Any = None, **kw: Any) -> types.Message:
    return types.Message(id=50, peer_id=types.PeerChannel(1), date=DATE, message="", media=media,
                         reply_to=reply_to, **kw)  # fmt: skip


def test_a_round_video_is_a_video_note_with_its_shape() -> None:
    note = _doc(types.DocumentAttributeVideo(duration=12.5, w=384, h=384, round_message=True))
    info = to_message_info(_msg(note))
    assert info is not None
    assert (info.media_type, info.duration, info.width, info.height) == ("video_note", 12.5, 384, 384)
    video = to_message_info(_msg(_doc(types.DocumentAttributeVideo(duration=3, w=640, h=360),
                                      types.DocumentAttributeFilename(file_name="a.mp4"))))  # fmt: skip
    assert video is not None
    assert (video.media_type, video.duration, video.width, video.height, video.file_name) == (
        "video", 3.0, 640, 360, "a.mp4")  # fmt: skip
    assert isinstance(video.duration, float)


def test_audio_and_voice_have_a_duration_and_no_size_in_pixels() -> None:
    for voice, kind in ((True, "voice"), (None, "audio")):
        info = to_message_info(_msg(_doc(types.DocumentAttributeAudio(duration=61, voice=voice), mime="audio/ogg")))
        assert info is not None
        assert (info.media_type, info.duration, info.width, info.height) == (kind, 61.0, None, None)
    # A video whose document also carries an audio attribute keeps the video's duration.
    both = to_message_info(_msg(_doc(types.DocumentAttributeVideo(duration=9.5, w=2, h=2),
                                     types.DocumentAttributeAudio(duration=10))))  # fmt: skip
    assert both is not None and both.duration == 9.5
    plain = to_message_info(_msg(_doc(types.DocumentAttributeFilename(file_name="x.pdf"), mime="application/pdf")))
    assert plain is not None and (plain.media_type, plain.duration, plain.width) == ("document", None, None)


def test_a_photo_has_the_shape_of_the_size_downloaded() -> None:
    sizes = [types.PhotoStrippedSize(type="i", bytes=b"x"), types.PhotoSize(type="m", w=320, h=240, size=900),
             types.PhotoSizeProgressive(type="y", w=1600, h=1200, sizes=[100, 5000, 9000]),
             types.PhotoSize(type="x", w=800, h=600, size=4000)]  # fmt: skip
    photo = types.Photo(id=5, access_hash=1, file_reference=b"r", date=DATE, sizes=sizes, dc_id=4)
    msg = _msg(types.MessageMediaPhoto(photo=photo), views=321, forwards=4)
    info, loc = to_message_info(msg), to_location(msg)
    assert info is not None and loc is not None
    assert (info.width, info.height, info.file_size, info.duration) == (1600, 1200, 9000, None)
    assert loc.location.thumb_size == "y" and loc.size == info.file_size
    assert (info.views, info.forwards) == (321, 4)


@pytest.mark.parametrize(
    ("header", "topic_id", "reply_to"),
    [
        (None, None, None),  # a channel post, or General in a forum
        (types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=40), 40, None),  # in topic 40
        (types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=45, reply_to_top_id=40), 40, 45),
        (types.MessageReplyHeader(reply_to_msg_id=45), None, 45),  # a reply outside forums
        (types.MessageReplyHeader(reply_to_msg_id=45, reply_to_top_id=12), None, 45),  # a comment's answer
        (types.MessageReplyHeader(forum_topic=False, reply_to_msg_id=7), None, 7),
        (types.MessageReplyStoryHeader(peer=types.PeerUser(3), story_id=9), None, None),
    ],
)
def test_reply_headers(header: Any, topic_id: int | None, reply_to: int | None) -> None:
    info = to_message_info(_msg(reply_to=header))
    assert info is not None
    assert (info.topic_id, info.reply_to, info.media_type, info.views) == (topic_id, reply_to, None, None)


def test_service_and_empty_messages_give_no_record() -> None:
    create = types.MessageService(id=40, peer_id=types.PeerChannel(1), date=DATE,
                                  action=types.MessageActionTopicCreate(title="t", icon_color=0x6FB9F0),
                                  reply_to=types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=40))  # fmt: skip
    assert to_message_info(create) is None
    assert to_message_info(types.MessageEmpty(id=3, peer_id=types.PeerChannel(1))) is None
    assert to_message_info(None) is None


def test_the_filter_record_carries_the_fields() -> None:
    info = MessageInfo(9, file_size=10, media_type="video", views=5, forwards=1, duration=2.5, width=3, height=4,
                       topic_id=40, reply_to=45)  # fmt: skip
    rec = records_for(MessageCollection.from_messages([info]).groups[0], "c")[0]
    assert (rec.views, rec.forwards, rec.duration, rec.width, rec.height, rec.topic_id, rec.reply_to) == (
        5, 1, 2.5, 3, 4, 40, 45)  # fmt: skip
    assert rec.is_comment is False
    comment = dataclasses.replace(info, post_id=3)
    assert records_for(MessageCollection.from_messages([comment]).groups[0], "c")[0].is_comment is True
