"""Issue 14: what a job takes from which chat (CHANNEL lists, links, TOPIC, COMMENTS), checked before connecting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgfetch.cli import main
from tgfetch.config import load_settings
from tgfetch.errors import ConfigError, UsageError
from tgfetch.targets import job_targets, parse_links
from tgfetch.telegram.simulator import SimulatedTelegram

SIM = ["--simulate", "--sim-messages", "40", "--sim-clients", "2", "--sim-size-scale", "0.002"]


@pytest.fixture(autouse=True)
def _sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LOG_FILE", "STATE_DB", "TG_SESSIONS", "TG_API_ID", "TG_API_HASH", "CHANNEL", "SIMULATE",
                 "DOWNLOAD_DIR", "LOG_LEVEL", "REDIS_URL", "TOPIC", "COMMENTS"):
        monkeypatch.delenv(name, raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out = capsys.readouterr()
    return (exit_.value.code if isinstance(exit_.value.code, int) else 0), out.out, out.err


def one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("tgfetch: error:")]
    assert len(lines) == 1 and "internal error" not in err, err
    return lines[0]


def test_channel_is_a_comma_list_of_chats() -> None:
    s = load_settings(env_file=None, channel=" @first_chat, t.me/second_chat ,-1001234567890", start_message_id=5,
                      comments=True)
    targets = job_targets(s)
    assert [t.chat.text for t in targets] == ["@first_chat", "t.me/second_chat", "-1001234567890"]
    assert all(t.first_id == 5 and t.last_id is None and t.comments and t.ids is None for t in targets)


@pytest.mark.parametrize(("value", "words"), [
    ("@first_chat,,@second_chat", "empty item"),
    ("@first_chat,@FIRST_CHAT", "twice"),
    ("@first_chat,two words", "whitespace"),
])
def test_a_bad_channel_list_is_one_line(value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as err:
        load_settings(env_file=None, channel=value)
    assert "\n" not in str(err.value) and "CHANNEL" in str(err.value)


def test_a_topic_needs_one_chat() -> None:
    with pytest.raises(UsageError, match="TOPIC=3 names a topic of one forum"):
        job_targets(load_settings(env_file=None, channel="@alpha,@bravo", topic=3))


def test_links_make_one_target_per_chat() -> None:
    links = parse_links(["t.me/alpha/10", "https://t.me/ALPHA/11?single", "t.me/c/1234/7", "t.me/alpha/12?comment=99",
                         "t.me/c/1234/5/8", "t.me/alpha/11"])
    targets = job_targets(load_settings(env_file=None, channel="@ignored_chat"), links)
    assert len(targets) == 2
    a, c = targets
    assert a.ids == (10, 11) and a.single == frozenset() and a.comment_ids == {99: 12}  # 11 also without ?single
    assert c.ids == (7, 8) and c.chat.channel_id == 1234


@pytest.mark.parametrize(("link", "words"), [
    ("t.me/name", "names no message"),
    ("t.me/name/0", "out of the message id range"),
    ("t.me/name/12?foo=1", "unknown part ?foo="),
    ("t.me/+AbCdEf12345/5", "invite link"),
])
def test_a_bad_link_stops_before_connecting(link: str, words: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["download", *SIM, "--dest", str(tmp_path / "dl"), link], capsys)
    assert code == 2 and words in one_error(err) and link in err
    assert not (tmp_path / "dl").exists()


def test_links_on_the_command_line_download_those_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = SimulatedTelegram(seed=24, messages=40, first_id=72006)
    single = next(m for m in sim.messages if m.is_media and m.grouped_id is None)
    report = tmp_path / "r.json"
    code, _, _ = run(["download", *SIM, "--quiet", "--dest", str(tmp_path / "dl"), "--report", str(report),
                      f"https://t.me/{sim.channel_username}/{single.id}"], capsys)
    files = json.loads(report.read_text())["files"]
    assert code == 0 and [f["message_id"] for f in files] == [single.id]


@pytest.mark.parametrize("flag", [["--comments"], ["--topic", "3"], ["--channel", "@alpha", "--channel", "@bravo"]])
def test_the_cluster_refuses_what_it_cannot_do(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["coordinator", *SIM, "--redis", "redis://127.0.0.1:9", *flag], capsys)
    assert code == 2 and "for `tgfetch download`" in one_error(err)


def test_topics_lists_the_forum(capsys: pytest.CaptureFixture[str]) -> None:
    sim = SimulatedTelegram(seed=24, messages=40, first_id=72006, forum_topics=3)
    code, out, _ = run(["topics", *SIM, "--sim-topics", "3", "--json"], capsys)
    got = json.loads(out)
    assert code == 0
    assert [(t["id"], t["title"], t["messages"]) for t in got] == [
        (t.id, t.title, len(t.message_ids)) for t in sim.topics()]


def test_topics_of_a_channel_that_is_not_a_forum(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["topics", *SIM], capsys)
    assert code == 2 and "is not a forum" in one_error(err)
