"""The per-machine history: bounded, shared across jobs, shown and reset; off means off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from learning_helpers import samples

from tgfetch.learning import history as hist
from tgfetch.learning.history import History, RunOutcome, default_history_path, format_summary, load_predictor


def test_default_path_follows_xdg_data_home(tmp_path: Path) -> None:
    assert default_history_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "tgfetch" / "history.sqlite"
    assert default_history_path({}).parts[-4:] == (".local", "share", "tgfetch", "history.sqlite")


def test_samples_are_kept_bounded_newest_first_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hist, "MAX_SAMPLES", 100)
    got = samples(250, seed=1)
    with History.open(tmp_path / "h.sqlite") as h:
        for i in range(0, 250, 50):
            h.add_samples(got[i:i + 50])
        kept = h.samples()
    assert len(kept) == 100
    assert kept == got[-100:]  # the newest, oldest first, every field intact


def test_shared_across_jobs_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History.open(path) as h:
        h.add_samples(samples(10, account="a"))
        h.add_run(RunOutcome("job1", ("b", "a"), "media_group_aware", "file_size", 10.0, 9.0))
    with History.open(path) as h:
        h.add_samples(samples(5, account="b"))
        h.add_run(RunOutcome("job2", ("a", "b"), "load_balanced", "estimated_time", 20.0, 15.0))
        assert len(h.samples(["a"])) == 10 and len(h.samples(["b"])) == 5
        runs = h.runs(accounts=["a", "b"])
        assert [r.job for r in runs] == ["job1", "job2"] and runs[0].accounts == ("a", "b")
        assert h.runs(job="job1")[0].reward == pytest.approx(0.9)
        s = h.summary()
    assert s.samples == 15 and s.runs == 2 and s.jobs == 2 and set(s.accounts) == {"a", "b"}
    text = format_summary(s)
    assert str(path) in text and "15 file samples" in text and "a: 10 files" in text


def test_reset_forgets_everything(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite") as h:
        h.add_samples(samples(20))
        h.add_run(RunOutcome("j", ("a",), "s", "m", 1.0, 1.0))
        assert h.reset() == (20, 1)
        assert h.samples() == [] and h.runs() == [] and h.summary().samples == 0


def test_learning_off_records_nothing(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite", enabled=False) as h:
        assert not h.enabled
        assert h.add_samples(samples(5)) == 0
        h.add_run(RunOutcome("j", ("a",), "s", "m", 1.0, 1.0))
        assert h.samples() == [] and h.runs() == [] and h.reset() == (0, 0)
        assert "off" in format_summary(h.summary())
    assert not (tmp_path / "h.sqlite").exists()


def test_a_poisoned_history_is_cleaned_when_loaded(tmp_path: Path) -> None:
    good = samples(200, seed=2)
    bad = [dataclasses.replace(s, seconds=-5.0) for s in samples(50, seed=3)]
    with History.open(tmp_path / "h.sqlite") as h:
        h.add_samples(good + bad)
        p = load_predictor(h, ["a"])
    assert p.cleaner.rejected["bad duration"] == 50 and p.samples == 200


def test_a_job_learns_the_newest_files_of_each_account_and_refits_once_at_the_end(tmp_path: Path) -> None:
    """A long history is replayed quickly: the newest LOAD_PER_ACCOUNT files of each account (the robust
    fit's weights have long faded beyond them), refitting every LOAD_REFIT_EVERY files meanwhile; the
    predictions then match a replay that refits every few files."""
    from tgfetch.learning.predictor import Predictor

    many, few = samples(hist.LOAD_PER_ACCOUNT + 300, seed=4, account="a"), samples(80, seed=5, account="b")
    with History.open(tmp_path / "h.sqlite") as h:
        h.add_samples(many + few)
        fast = load_predictor(h, ["a", "b"])
    slow = Predictor()
    for s in [*many[-hist.LOAD_PER_ACCOUNT:], *few]:
        slow.observe(s)
    assert fast.samples == slow.samples and fast.ewma.rate("b").files > 0  # b's not crowded out by a's
    assert fast.cleaner.rejected == slow.cleaner.rejected
    for q in (many[-1].query, few[-1].query):
        assert fast.predict(q).seconds == pytest.approx(slow.predict(q).seconds, rel=0.02)
