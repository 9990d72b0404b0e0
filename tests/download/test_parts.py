"""Issue 14: message links, forum topics and comments, downloaded against the simulator.

Each test computes what must be on disk from the simulator's own content (its messages,
topics and threads), independently of tgfetch's scan and selection code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from download_helpers import NAMES, settings_for

from tgfetch.config import Settings
from tgfetch.job import JobReport, download_job, scan_job
from tgfetch.targets import Target, job_targets, parse_links
from tgfetch.telegram.peers import parse_channel
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.content import SimMessage


async def _download(sim: SimulatedTelegram, targets: Sequence[Target], dest: Path,
                    settings: Settings | None = None) -> JobReport:
    clients = {n: sim.client(n) for n in NAMES}
    try:
        return await download_job(clients, targets, dest, settings or settings_for(dest))
    finally:
        for c in clients.values():
            await c.disconnect()


def _media(messages: Sequence[SimMessage]) -> dict[int, SimMessage]:
    return {m.id: m for m in messages if m.is_media}


def _whole(ids: set[int], media: Mapping[int, SimMessage]) -> set[int]:
    """The ids with the rest of their albums."""
    albums = {media[i].grouped_id for i in ids if i in media and media[i].grouped_id is not None}
    return {i for i in ids if i in media} | {m.id for m in media.values() if m.grouped_id in albums}


def _same_account_per_album(report: JobReport, media: Mapping[int, SimMessage], chat: int = 0) -> None:
    by_album: dict[int, set[str]] = {}
    for f in report.files:
        album = media[f.message_id].grouped_id if f.chat == chat else None
        if album is not None:
            by_album.setdefault(album, set()).add(f.client)
    assert by_album and all(len(c) == 1 for c in by_album.values())


async def test_links_fetch_exactly_those_messages_and_their_albums(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=5, messages=900, first_id=1, size_scale=0.01)
    media = _media(sim.messages)
    album_members = sorted(i for i, m in media.items() if m.grouped_id is not None)
    singles = sorted(i for i, m in media.items() if m.grouped_id is None)
    linked = set(singles[:200:2]) | set(album_members[:60:7]) | {3, 5}  # 3 and 5 may be deleted or text
    linked_albums = {media[j].grouped_id for j in linked if j in media}
    lone = next(i for i in album_members[200:] if media[i].grouped_id not in linked_albums)
    name = sim.channel_username
    texts = [f"t.me/{name}/{i}" for i in sorted(linked)] + [f"t.me/{name}/{lone}?single"]
    settings = settings_for(tmp_path / "dl")
    targets = job_targets(settings, parse_links(texts))
    assert len(targets) == 1 and targets[0].single == {lone}

    clients = {n: sim.client(n) for n in NAMES}
    try:
        scan = await scan_job(clients, targets, settings)
    finally:
        for c in clients.values():
            await c.disconnect()
    assert scan.range_calls == math.ceil((len(linked) + 1) / 200)  # the links, 200 ids per call
    calls = sum(sim.rpc_counts(n)["GetMessagesRequest"] for n in NAMES)
    assert calls == scan.range_calls + scan.edge_calls  # plus the albums' neighbours, nothing else

    report = await _download(sim, targets, tmp_path / "dl", settings)
    want = _whole(linked, media) | {lone}
    assert report.ok and {f.message_id for f in report.files} == want
    assert all(f.sha256 == sim.file_sha256(f.message_id) for f in report.files)
    _same_account_per_album(report, media)


async def test_a_topic_downloads_that_topic_only(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=8, messages=400, first_id=1, size_scale=0.01, forum_topics=4)
    media = _media(sim.messages)
    for topic in sim.topics()[:2]:  # General and the first created topic
        dest = tmp_path / f"t{topic.id}"
        settings = settings_for(dest, channel=sim.channel_username, topic=topic.id)
        report = await _download(sim, job_targets(settings), dest, settings)
        want = {i for i in topic.message_ids if i in media}
        assert want and report.ok and {f.message_id for f in report.files} == want
        assert all(f.sha256 == sim.file_sha256(f.message_id) for f in report.files)


def _thread_media(sim: SimulatedTelegram, posts: set[int]) -> dict[int, int]:
    """Comment id -> its post, for the media comments under `posts`."""
    group = _media(sim.discussion_messages)
    return {c: t.post_id for t in sim.threads() if t.post_id in posts for c in t.comment_ids if c in group}


async def test_comments_go_under_their_posts_and_a_rerun_resumes(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=300, first_id=1, size_scale=0.01, comments=True)
    dest = tmp_path / "dl"
    target = Target(parse_channel(sim.channel_username), 1, 120, comments=True)
    report = await _download(sim, [target], dest)
    assert report.ok
    posts = {i for i in range(1, 121)}
    channel_media = _whole({i for i in _media(sim.messages) if i <= 120}, _media(sim.messages))
    comments = _thread_media(sim, posts)
    assert comments, "the seed must have media comments in range"
    got = {(f.chat, f.message_id) for f in report.files}
    assert got == {(0, i) for i in channel_media} | {(1, c) for c in comments}
    folder = dest / sim.channel_username / "comments"
    for f in report.files:
        if f.chat == 1:
            assert f.path.split("/")[0] == str(comments[f.message_id])
            assert f.sha256 == sim.file_sha256(f.message_id, chat_id=sim.discussion_id)
            assert (folder / f.path).is_file()
    _same_account_per_album(report, _media(sim.discussion_messages), chat=1)
    chats = report.to_json()["chats"]
    assert [c["chat"] for c in chats] == [f"@{sim.channel_username}", f"@{sim.channel_username} comments"]
    assert chats[1]["files"] == len(comments) and (folder / ".tgfetch.sqlite").is_file()

    before = {n: sim.rpc_counts(n)["GetFileRequest"] for n in NAMES}
    again = await _download(sim, [target], dest)
    assert again.ok and not again.downloaded and len(again.files) == len(report.files)
    assert {n: sim.rpc_counts(n)["GetFileRequest"] for n in NAMES} == before


async def test_a_comment_link_fetches_that_comment(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=300, first_id=1, size_scale=0.01, comments=True)
    group = _media(sim.discussion_messages)
    comments = _thread_media(sim, {t.post_id for t in sim.threads()})
    alone = next(c for c in comments if group[c].grouped_id is None)
    in_album = next(c for c in comments if group[c].grouped_id is not None)
    links = [f"https://t.me/{sim.channel_username}/{comments[c]}?comment={c}" for c in (alone, in_album)]
    settings = settings_for(tmp_path / "dl")
    report = await _download(sim, job_targets(settings, parse_links(links)), tmp_path / "dl", settings)
    want = _whole({alone, in_album}, group)
    assert report.ok and {(f.chat, f.message_id) for f in report.files} == {(1, c) for c in want}
    assert all(f.path.startswith(f"{comments[alone] if f.message_id == alone else comments[in_album]}/")
               for f in report.files)


def _two_chats() -> SimulatedTelegram:
    return SimulatedTelegram(seed=11, messages=300, first_id=1, size_scale=0.01, more_channels=[("second_chat", 200)])


async def test_several_chats_make_one_plan_with_a_folder_and_state_each(tmp_path: Path) -> None:
    sim = _two_chats()
    (_, main_id), (_, second_id) = sim.channels
    media = {0: _media(sim.chat_messages(main_id)), 1: _media(sim.chat_messages(second_id))}
    dest = tmp_path / "dl"
    # The second chat alone first: its state DB is in its folder, and the joint job resumes it.
    alone = await _download(sim, job_targets(settings_for(dest, channel="@second_chat")), dest)
    assert alone.ok and {f.message_id for f in alone.files} == set(media[1])

    settings = settings_for(dest, channel=f"{sim.channel_username},second_chat")
    plans = []
    clients = {n: sim.client(n) for n in NAMES}
    try:
        report = await download_job(clients, job_targets(settings), dest, settings,
                                    on_plan=lambda plan, scan: plans.append(plan))
    finally:
        for c in clients.values():
            await c.disconnect()
    assert report.ok and len(plans) == 1
    assert {(f.chat, f.message_id) for f in report.files} == {(c, i) for c, m in media.items() for i in m}
    assert {f.message_id for f in report.files if f.chat == 1 and not f.skipped} == set()  # resumed
    assert all(f.sha256 == sim.file_sha256(f.message_id, chat_id=main_id if f.chat == 0 else second_id)
               for f in report.files)
    # One plan over the first chat's groups (the second's were done): balanced, albums whole.
    assert plans[0].metrics.balance_ratio > 0.9 and not plans[0].metrics.albums_split
    _same_account_per_album(report, media[0], chat=0)
    chats = report.to_json()["chats"]
    assert [(c["chat"], c["files"]) for c in chats] == [(f"@{sim.channel_username}", len(media[0])),
                                                        ("@second_chat", len(media[1]))]
    for c in chats:
        assert (Path(c["folder"]) / ".tgfetch.sqlite").is_file() and Path(c["folder"]).parent == dest.resolve()


async def test_links_to_two_chats_are_one_job_and_one_plan(tmp_path: Path) -> None:
    sim = _two_chats()
    (_, main_id), (_, second_id) = sim.channels
    first = sorted(_media(sim.chat_messages(main_id)))[:40]
    second = sorted(_media(sim.chat_messages(second_id)))[:40]
    links = [f"t.me/{sim.channel_username}/{i}" for i in first] + [f"t.me/c/{second_id}/{i}" for i in second]
    settings = settings_for(tmp_path / "dl")
    plans = []
    clients = {n: sim.client(n) for n in NAMES}
    try:
        report = await download_job(clients, job_targets(settings, parse_links(links)), tmp_path / "dl", settings,
                                    on_plan=lambda plan, scan: plans.append(plan))
    finally:
        for c in clients.values():
            await c.disconnect()
    assert report.ok and len(plans) == 1
    chats_in_plan = {g.messages[0].chat for a in plans[0].client_assignments for g in a.message_groups}
    assert chats_in_plan == {0, 1}
    want = {(0, i) for i in _whole(set(first), _media(sim.chat_messages(main_id)))}
    want |= {(1, i) for i in _whole(set(second), _media(sim.chat_messages(second_id)))}
    assert {(f.chat, f.message_id) for f in report.files} == want
    _same_account_per_album(report, _media(sim.chat_messages(second_id)), chat=1)
