"""`tgfetch verify` on a real simulated job: missing, changed, extra and partial files, JSON, a locked DB."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "download"))
from download_helpers import run_job, settings_for  # noqa: E402

from tgfetch.cli import main  # noqa: E402
from tgfetch.download.layout import STATE_FILE  # noqa: E402
from tgfetch.download.naming import DEFAULT_TEMPLATE  # noqa: E402
from tgfetch.store import DoneFile, StateStore, read_state  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402
from tgfetch.verify import SHOW_LIMIT, wants_progress  # noqa: E402

# 73 files, 2.8 MB; message 72014 reposts the document of 72008 (hard-linked); one Cyrillic file name.
SEED, MESSAGES, FIRST_ID, SCALE = 11, 80, 72006, 0.01


@dataclass
class Job:
    """A finished simulated job: its download folder, channel folder, state DB and done rows."""

    sim: SimulatedTelegram
    dest: Path
    root: Path
    db: Path
    rows: dict[int, DoneFile]

    def path(self, row: DoneFile) -> Path:
        """The file of a done row on disk."""
        return self.root / row.path

    def single(self) -> DoneFile:
        """A done row outside an album whose file is not hard-linked to another row's."""
        docs = defaultdict(list)
        for r in self.rows.values():
            docs[r.document_id].append(r)
        return next(r for r in self.rows.values() if "/" not in r.path and len(docs[r.document_id]) == 1)


@pytest.fixture
def job(tmp_path: Path) -> Job:
    sim = SimulatedTelegram(seed=SEED, messages=MESSAGES, first_id=FIRST_ID, size_scale=SCALE)
    dest = tmp_path / "dl"
    report = asyncio.run(run_job(sim, dest))
    assert report.ok
    root = dest / sim.channel_username
    db = next(p for p in (root / STATE_FILE, dest / STATE_FILE) if p.is_file())  # the channel's own, or shared
    rows = read_state(db).done
    assert len(rows) == len(sim.media_messages())
    return Job(sim, dest, root, db, rows)


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `tgfetch verify ARGS` in-process; return the exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["verify", *args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def verify_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run `tgfetch verify --json ARGS`; return the exit code and the parsed result."""
    code, out, _ = verify(capsys, "--json", *args)
    return code, dict(json.loads(out))


def line_of(out: str, path: str) -> str:
    """The output line that names a path."""
    return next(line for line in out.splitlines() if line.rstrip().split(" (")[0].endswith(path))


# ---------------------------------------------------------------- the rows


def test_a_whole_job_verifies_ok(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(capsys, str(job.dest))
    n = len(job.rows)
    assert code == 0, out + err
    assert out.splitlines()[0].startswith(f"verified {n} files (")
    assert out.splitlines()[0].endswith(f"{n} ok, 0 missing, 0 changed, 0 extra")
    assert len(out.splitlines()) == 1 and err == ""


def test_a_deleted_file_is_missing(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    row = job.single()
    job.path(row).unlink()
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 1
    assert f"{len(job.rows) - 1} ok, 1 missing, 0 changed, 0 extra" in out.splitlines()[0]
    assert line_of(out, row.path).split()[0] == "missing"


def test_a_flipped_byte_is_changed(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    row = job.single()
    with open(job.path(row), "r+b") as f:
        f.seek(row.size // 2)
        b = f.read(1)
        f.seek(row.size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    assert job.path(row).stat().st_size == row.size
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 1 and "0 missing, 1 changed, 0 extra" in out
    assert line_of(out, row.path).split()[0] == "changed" and "sha256" in line_of(out, row.path)


def test_a_truncated_file_is_changed(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    row = job.single()
    os.truncate(job.path(row), row.size // 3)
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 1 and "0 missing, 1 changed, 0 extra" in out
    assert f"size {row.size // 3:,}, recorded {row.size:,}" in line_of(out, row.path)


def test_hard_linked_duplicates_are_ok_and_checked_both(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    by_doc = defaultdict(list)
    for r in job.rows.values():
        by_doc[r.document_id].append(r)
    first, second = next(rs for rs in by_doc.values() if len(rs) == 2)
    assert first.path != second.path and os.path.samefile(job.path(first), job.path(second))
    assert verify(capsys, str(job.dest))[0] == 0
    with open(job.path(first), "r+b") as f:  # one inode, hashed once: both rows see the change
        f.write(b"\0" if f.read(1) != b"\0" else b"\1")
    code, result = verify_json(capsys, str(job.dest))
    assert code == 1 and sorted(c["path"] for c in result["changed"]) == sorted([first.path, second.path])
    assert result["counts"]["ok"] == len(job.rows) - 2


# ---------------------------------------------------------- the folder


def test_an_unrecorded_file_is_extra(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    album = next(r for r in job.rows.values() if "/" in r.path).path.split("/")[0]
    (job.root / "stray.bin").write_bytes(b"x")
    (job.root / album / "notes.txt").write_bytes(b"y")
    assert any(p.suffix == ".json" for p in job.root.rglob("*")), "the job wrote sidecars: they are not extra"
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 1 and f"{len(job.rows)} ok, 0 missing, 0 changed, 2 extra" in out
    assert line_of(out, "stray.bin").split()[0] == "extra"
    assert line_of(out, f"{album}/notes.txt").split()[0] == "extra"


def test_a_part_file_is_partial_not_extra(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    (job.root / "99999_new.bin.part").write_bytes(b"half")
    (job.root / "99999_new.bin.json").write_text("{}")  # the sidecar of a file still downloading
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 0 and "0 extra" in out.splitlines()[0]
    assert "1 partial (.part) file, a rerun resumes them:" in out
    assert line_of(out, "99999_new.bin.part").split()[0] == "partial"
    code, result = verify_json(capsys, str(job.dest))
    assert result["ok"] and [p["path"] for p in result["partial"]] == ["99999_new.bin.part"]


def test_tgfetchs_own_folders_and_db_are_not_extra(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    (job.root / ".tgfetch-backup" / "client1").mkdir(parents=True)
    (job.root / ".tgfetch-backup" / "client1" / "72006.part").write_bytes(b"b")
    (job.root / ".tgfetch-tmp").mkdir(exist_ok=True)  # the job leaves it (emptied at every start)
    (job.root / ".tgfetch-tmp" / "tmp123.json").write_bytes(b"t")
    inside = job.root / "state.sqlite"  # a STATE_DB inside the channel folder
    job.db.rename(inside)
    code, out, _ = verify(capsys, str(job.dest), "--state-db", str(inside))
    assert code == 0 and "0 extra" in out.splitlines()[0], out
    assert (job.root / "state.sqlite-shm").exists()  # the read-only visit's files, not extra either


def test_hostile_names_print_escaped(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    name = "[bold red]boom \x1b[2J\u202eevil[i].txt"
    (job.root / name).write_bytes(b"x")
    code, out, _ = verify(capsys, str(job.dest))
    assert code == 1 and "\x1b" not in out and "\u202e" not in out
    assert "[bold red]boom \\x1b[2J\\u202eevil[i].txt" in out
    code, result = verify_json(capsys, str(job.dest))
    assert [e["path"] for e in result["extra"]] == [name]


def test_the_list_is_cut_unless_all(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(SHOW_LIMIT + 5):
        (job.root / f"extra_{i:02d}.bin").write_bytes(b"x")
    _, out, _ = verify(capsys, str(job.dest))
    assert sum(line.split()[0] == "extra" for line in out.splitlines()[1:]) == SHOW_LIMIT
    assert "... and 5 more (--all lists them all)" in out
    _, out, _ = verify(capsys, str(job.dest), "--all")
    assert sum(line.split()[0] == "extra" for line in out.splitlines()[1:]) == SHOW_LIMIT + 5


# ------------------------------------------------------------ json, dirs


def test_json_agrees_with_the_text(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    gone = job.single()
    job.path(gone).unlink()
    (job.root / "stray.bin").write_bytes(b"x")
    code, out, _ = verify(capsys, str(job.dest))
    jcode, result = verify_json(capsys, str(job.dest))
    assert code == jcode == 1 and result["ok"] is False
    c = result["counts"]
    assert f"verified {result['files']} files" in out
    assert f"{c['ok']} ok, {c['missing']} missing, {c['changed']} changed, {c['extra']} extra" in out
    assert (c["ok"], c["missing"], c["changed"], c["extra"]) == (len(job.rows) - 1, 1, 0, 1)
    assert result["missing"] == [{"path": gone.path, "message_id": gone.message_id, "detail": "no file at this path"}]
    assert result["bytes"] == sum(r.size for r in job.rows.values())
    assert Path(result["channel_folder"]) == job.root.resolve() and Path(result["state_db"]) == job.db.resolve()


def test_the_folder_comes_from_the_settings(job: Job, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOWNLOAD_DIR", str(job.dest))
    assert verify(capsys)[0] == 0
    assert verify(capsys, "--dest", str(job.dest))[0] == 0
    code, _, err = verify(capsys, str(job.dest), "--dest", str(job.dest / "other"))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_dir_may_be_the_channel_folder(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    (job.root / "stray.bin").write_bytes(b"x")
    code, result = verify_json(capsys, str(job.root), "--state-db", str(job.db))
    assert code == 1 and [e["path"] for e in result["extra"]] == ["stray.bin"]
    if job.db.parent == job.root:  # the channel's own state DB is found from its folder
        assert verify_json(capsys, str(job.root))[1] == result


async def test_two_channels_in_one_folder_need_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dl"
    for name in ("channel_one", "channel_two"):
        sim = SimulatedTelegram(seed=4, messages=40, first_id=1000, size_scale=0.002, channel=name)
        db = dest / name / STATE_FILE
        assert (await run_job(sim, dest, settings=settings_for(dest, state_db=db))).ok
    code, out, err = verify(capsys, str(dest))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "2 jobs" in err and "channel_one" in err and "channel_two" in err
    code, result = verify_json(capsys, str(dest / "channel_two"))
    assert code == 0 and Path(result["channel_folder"]) == (dest / "channel_two").resolve()
    code, result = verify_json(capsys, str(dest), "--state-db", str(dest / "channel_one" / STATE_FILE))
    assert code == 0 and result["extra"] == [] and Path(result["channel_folder"]).name == "channel_one"


def test_a_moved_state_db_is_found_with_state_db(job: Job, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "job.sqlite"
    moved.parent.mkdir()
    job.db.rename(moved)
    assert verify(capsys, str(job.dest))[0] == 2
    assert verify(capsys, str(job.dest), "--state-db", str(moved))[0] == 0


# ------------------------------------------------------------- the DB


def test_a_missing_db_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(capsys, str(tmp_path / "nothing-here"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no state DB" in err


@pytest.mark.parametrize("kind", ["text", "empty", "foreign", "newer"])
def test_a_db_that_is_not_tgfetchs_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    db = tmp_path / "x.sqlite"
    if kind == "text":
        db.write_text("not a database\n")
    elif kind == "empty":
        db.touch()
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE notes(x)" if kind == "foreign" else "PRAGMA user_version = 99")
        conn.commit()
        conn.close()
    before = db.read_bytes()
    code, out, err = verify(capsys, str(tmp_path), "--state-db", str(db))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert ("newer tgfetch" if kind == "newer" else "not a tgfetch state database") in err
    assert db.read_bytes() == before


def test_verify_reads_a_db_locked_by_a_running_job(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    key = f"@{job.sim.channel_username}"
    with StateStore.open(job.db, channel_id=job.sim.channel_id, channel_key=key, template=DEFAULT_TEMPLATE) as store:
        extra = job.root / "99999_late.bin"
        extra.write_bytes(b"late")
        code, out, _ = verify(capsys, str(job.dest))  # the job lock is held: verify neither waits nor fails
        assert code == 1 and "1 extra" in out
        # the job records the file: it was not blocked, and a second verify sees the new row
        store.mark_done(DoneFile(99999, extra.name, 4, _sha(extra), "client1", None, 0.0))
        assert verify(capsys, str(job.dest))[0] == 0
        assert store.integrity_ok() and len(store.done_files()) == len(job.rows) + 1
    with StateStore.open(job.db, channel_id=job.sim.channel_id, channel_key=key, template=DEFAULT_TEMPLATE) as store:
        assert len(store.done_files()) == len(job.rows) + 1  # the DB is fine after the read-only visits


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------ progress


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("files", "nbytes", "tty", "shown"),
    [(10, 10**6, True, False), (201, 10**6, True, True), (10, 2 * 10**9, True, True), (5000, 10**10, False, False)],
)
def test_a_progress_bar_only_for_large_folders_on_a_terminal(files: int, nbytes: int, tty: bool, shown: bool) -> None:
    assert wants_progress(files, nbytes, _Stream(tty)) is shown  # type: ignore[arg-type]
