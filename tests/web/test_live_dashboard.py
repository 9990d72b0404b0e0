"""The live dashboard of a real simulated download, over real HTTP on 127.0.0.1.

The accounts are held to a bandwidth that makes the job last a few seconds, so the API, the
metrics and the server-sent events are read while it runs (their numbers must move), and again
once it ended (they must match the job's own JSON report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import HOSTILE_CAPTION, HOSTILE_NAME_ID, JobThread, events, get, get_json, hostile_channel

from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.web.metrics import CLUSTER_METRIC_NAMES, METRIC_NAMES

pytestmark = pytest.mark.timeout(300)

SAME = ("files", "bytes", "stolen_in", "stolen_out", "backups", "handoffs", "flood_waits")


def _metrics(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    status, headers, body = get(url + "metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _final_matches_report(status: dict[str, Any], report: dict[str, Any]) -> None:
    assert status["phase"] == report["outcome"] == "done"
    assert status["files_done"] == status["files_planned"] == len(report["files"])
    assert status["failures"] == len(report["failures"]) == 0 and status["bytes_left"] == 0
    accounts = {a["name"]: a for a in status["accounts"]}
    assert set(accounts) == set(report["clients"])
    for name, c in report["clients"].items():
        for key in SAME:
            assert accounts[name][key] == c[key], (name, key)
        assert accounts[name]["state"] == c["state"]
        assert accounts[name]["api_calls"] == report["api_calls"][name]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sim, bw, hostile = hostile_channel(seconds=6.0)
    with JobThread(sim, tmp_path_factory.mktemp("live") / "dl", bandwidth=bw) as job:
        seen: dict[str, Any] = {"status": [], "metrics": [], "events": [], "hostile": hostile, "sim": sim}
        deadline = time.monotonic() + 120
        while not job.done.is_set() and time.monotonic() < deadline:
            seen["status"].append(get_json(job.url + "api/status"))
            seen["metrics"].append(_metrics(job.url))
            if not seen["events"]:
                seen["events"] = list(events(job.url, 2.0))
            time.sleep(0.3)
        seen["report"] = job.finished().to_json()
        seen["final"] = get_json(job.url + "api/status")
        seen["final_metrics"] = _metrics(job.url)
        seen["files"] = {q: get_json(job.url + f"api/files?q={q}&limit=500") for q in ("", "done", str(hostile))}
        seen["plan"] = get_json(job.url + "api/plan")
        seen["timeline"] = get_json(job.url + "api/timeline")
        seen["history"] = get_json(job.url + "api/history")
        seen["series"] = get_json(job.url + "api/series")
        yield seen


def test_numbers_change_while_it_runs(run: dict[str, Any]) -> None:
    running = [s for s in run["status"] if s["phase"] == "downloading"]
    assert len(running) >= 5, "the job must be watched while it downloads"
    done = [s["files_done"] for s in running]
    left = [s["bytes_left"] for s in running]
    assert len(set(done)) >= 3 and done == sorted(done)
    assert len(set(left)) >= 3 and left == sorted(left, reverse=True)
    assert all(len(s["accounts"]) == 3 for s in running)
    assert any(a["inflight_files"] > 0 for s in running for a in s["accounts"])
    assert any(s["eta_s"] > 0 and s["ideal_s"] > 0 for s in running)


def test_final_status_matches_the_report(run: dict[str, Any]) -> None:
    _final_matches_report(run["final"], run["report"])


def test_metrics_move_and_end_as_the_report(run: dict[str, Any]) -> None:
    first, last = run["metrics"][0], run["final_metrics"]
    names = set(last)
    for name in METRIC_NAMES:
        assert name in names or name in CLUSTER_METRIC_NAMES, f"{name} missing from /metrics"
    assert not names & set(CLUSTER_METRIC_NAMES), "a cluster metric on one machine"
    assert {n for n in names if n.startswith("tgfetch_")} <= set(METRIC_NAMES), "an undocumented metric"
    totals = [sum(m.get("tgfetch_account_files_total", {}).values()) for m in run["metrics"]]
    assert len(set(totals)) >= 3 and totals == sorted(totals)
    for name, c in run["report"]["clients"].items():
        label = (("account", name),)
        assert last["tgfetch_account_files_total"][label] == c["files"]
        assert last["tgfetch_account_bytes_total"][label] == c["bytes"]
        assert last["tgfetch_account_steals_in_total"][label] == c["stolen_in"]
        for method, n in run["report"]["api_calls"][name].items():
            assert last["tgfetch_api_calls_total"][(("account", name), ("method", method))] == n
    assert last["tgfetch_job_progress_ratio"][()] == 1.0
    assert last["tgfetch_job_files_done"][()] == len(run["report"]["files"])
    assert first != last


def test_events_push_the_status_at_most_a_second_behind(run: dict[str, Any]) -> None:
    got = run["events"]
    assert len(got) >= 3, "a status at least every 0.5 s"
    for received, status in got:
        assert received - status["now"] < 1.0
    gaps = [b[0] - a[0] for a, b in zip(got, got[1:], strict=False)]
    assert max(gaps) < 1.0
    assert len({s["files_done"] for _, s in got}) >= 2, "the events carry the job's progress"


def test_files_search_and_hostile_text_comes_back_as_text(run: dict[str, Any]) -> None:
    every, done, one = run["files"][""], run["files"]["done"], run["files"][str(run["hostile"])]
    assert every["total"] == len(run["report"]["files"]) == every["counts"]["done"]
    assert done["total"] == every["total"]
    row = next(r for r in one["rows"] if r["message_id"] == run["hostile"])
    assert row["caption"] == HOSTILE_CAPTION and row["state"] == "done"
    named = next(r for r in every["rows"] if r["message_id"] == HOSTILE_NAME_ID)
    assert named["name"] == '<>:"|?*.doc' and "<" not in named["path"]


def test_plan_keeps_albums_whole(run: dict[str, Any]) -> None:
    plan, report = run["plan"], run["report"]
    assert plan["strategy"] == report["plan"]["strategy"] and plan["albums_split"] == []
    assert {a["name"] for a in plan["accounts"]} == set(report["plan"]["clients"])
    albums = {m.grouped_id for m in run["sim"].media_messages() if m.grouped_id is not None}
    shown = {int(u["group"][1:]) for a in plan["accounts"] for u in a["units"] if u["album"]}
    assert shown == albums, "every album is one unit of one account"
    files = sum(u["files"] for a in plan["accounts"] for u in a["units"])
    assert files == sum(len(ids) for ids in report["plan"]["clients"].values()) - _no_media(run)


def _no_media(run: dict[str, Any]) -> int:
    media = {m.id for m in run["sim"].media_messages()}
    return sum(1 for ids in run["report"]["plan"]["clients"].values() for i in ids if i not in media)


def test_timeline_and_history_come_from_the_state_db(run: dict[str, Any]) -> None:
    tl, report = run["timeline"], run["report"]
    per = {r["account"]: (sum(r["files"]), sum(r["bytes"])) for r in tl["rows"]}
    for name in report["clients"]:
        mine = [f for f in report["files"] if f["client"] == name and not f["skipped"]]
        assert per.get(name, (0, 0)) == (len(mine), sum(f["size"] for f in mine))
    runs = run["history"]["runs"]
    assert len(runs) == 1 and runs[0]["files"] > 0 and runs[0]["strategy"] == report["strategy"]
    assert {s["account"] for s in run["history"]["speeds"]} == set(report["clients"])
    series = run["series"]
    assert len(series["t"]) >= 5 and set(series["bytes"]) == set(report["clients"])


def test_a_range_edge_album_is_marked_on_the_plan(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=24, messages=150, first_id=72006, size_scale=0.02)
    members: dict[int, list[int]] = {}
    for m in sim.media_messages():
        if m.grouped_id is not None:
            members.setdefault(m.grouped_id, []).append(m.id)
    album, ids = next((a, ids) for a, ids in members.items() if len(ids) >= 3 and ids[0] > 72010)
    with JobThread(sim, tmp_path / "dl", bandwidth=None, start=ids[1]) as job:  # the range cuts the album
        report = job.finished().to_json()
        plan = get_json(job.url + "api/plan")
    assert album in report["scan"]["completed_albums"] and plan["edge_albums"] == [album]
    units = [u for a in plan["accounts"] for u in a["units"] if u["group"] == f"a{album}"]
    assert len(units) == 1 and units[0]["edge"] and units[0]["files"] == len(ids)
    assert sum(u["edge"] for a in plan["accounts"] for u in a["units"]) == 1
