"""Payload JSON, key names and consumer names."""

from __future__ import annotations

import json

import pytest

from tgfetch.cluster.keys import JobKeys, consumer_name, job_name, split_consumer
from tgfetch.cluster.records import ConsumerProgress, Counters, GroupPayload, Progress
from tgfetch.errors import UsageError
from tgfetch.model import MessageGroup, MessageInfo


def test_payload_round_trips_as_json():
    members = [MessageInfo(11, 99, 500, media_type="photo"), MessageInfo(10, 99, 700, media_type="video")]
    album = MessageGroup.of(members)
    p = GroupPayload.from_group("somechannel", album, "acct1")
    assert (p.group_id, p.message_ids, p.album_id, p.files, p.bytes) == ("a99", (10, 11), 99, 2, 1200)
    text = p.to_json()
    assert json.loads(text) == {
        "channel": "somechannel", "group_id": "a99", "message_ids": [10, 11], "album_id": 99,
        "planned_client": "acct1", "files": 2, "bytes": 1200,
    }
    assert GroupPayload.from_json(text) == p
    single = GroupPayload.from_group(-100123, MessageGroup.of([MessageInfo(5)]), "b")
    assert single.album_id is None and GroupPayload.from_json(single.to_json()) == single


GOOD = {"channel": 1, "group_id": "m1", "message_ids": [1], "album_id": None, "planned_client": "a"}
GOOD |= {"files": 0, "bytes": 0}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {**GOOD, "channel": True},
        {**GOOD, "group_id": "x1"},
        {**GOOD, "message_ids": []},
        {**GOOD, "message_ids": ["1"]},
        {**GOOD, "files": -1},
        {**GOOD, "album_id": "x"},
        {**GOOD, "planned_client": None},
    ],
)
def test_malformed_payloads_are_refused(bad: object):
    GroupPayload.from_json(json.dumps(GOOD))
    with pytest.raises(ValueError):
        GroupPayload.from_json(json.dumps(bad))


def test_keys_share_one_hash_tag():
    k = JobKeys("chan-abc123")
    names = [k.queue("a"), k.enqueued, k.cursor, k.backlog, k.done, k.failed, k.dead, k.progress, k.accounts, k.meta]
    assert all(n.startswith("tgfetch:{chan-abc123}:") for n in names)
    assert k.queue("alice") == "tgfetch:{chan-abc123}:q:alice" and k.account_of(k.queue("alice")) == "alice"
    with pytest.raises(UsageError):
        JobKeys("bad}{job")


def test_names():
    assert consumer_name("host-1", "acct_2") == "host-1:acct_2"
    assert split_consumer("host-1:acct_2") == ("host-1", "acct_2")
    with pytest.raises(UsageError):
        consumer_name("a:b", "c")
    name = job_name("@mychannel", 1, 5000)
    assert name.startswith("mychannel-") and name == job_name("mychannel", 1, 5000) != job_name("mychannel", 1, 5001)
    JobKeys(job_name(-1001234567, 1, 10))


def test_progress_sums():
    rows = (ConsumerProgress("m1", "a", Counters(1, 10, 1, 0)), ConsumerProgress("m2", "a", Counters(2, 20, 1, 1)))
    p = Progress(rows)
    assert p.by_account() == {"a": Counters(3, 30, 2, 1)}
    assert p.by_machine()["m2"] == Counters(2, 20, 1, 1)
    assert p.total.files == 3
