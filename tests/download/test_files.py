"""Crash-safe file primitives: links, sidecars, resumable parts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tgfetch.download.files import PartFile, link_or_copy, write_json_atomic
from tgfetch.download.layout import ALIGN, tmp_dir


def test_link_over_an_existing_link_of_the_same_file_leaves_no_temporary(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"x" * 10)
    os.link(src, dst)  # rename() of two links to one file is a no-op that keeps the source name
    link_or_copy(src, dst, tmp_path)
    assert dst.read_bytes() == b"x" * 10
    assert list(tmp_dir(tmp_path).iterdir()) == []


def test_link_removes_an_earlier_runs_part(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "sub" / "b"
    src.write_bytes(b"data")
    dst.parent.mkdir()
    (dst.parent / "b.part").write_bytes(b"da")
    link_or_copy(src, dst, tmp_path)
    assert dst.read_bytes() == b"data" and not (dst.parent / "b.part").exists()


def test_sidecar_is_written_through_a_temporary_that_does_not_stay(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250 + ".json")  # its own name leaves no room for a suffix
    write_json_atomic(target, {"caption": "ü"}, tmp_path)
    assert target.read_text(encoding="utf-8").count("ü") == 1
    assert list(tmp_dir(tmp_path).iterdir()) == []


def test_part_resumes_from_its_size_aligned_to_the_request_size(tmp_path: Path) -> None:
    final = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"a" * (ALIGN + ALIGN // 3))
    part = PartFile(final)
    assert part.open() == ALIGN
    part.write(b"b" * 3)
    sha = part.finish()
    assert final.read_bytes() == b"a" * ALIGN + b"bbb"


    assert sha == hashlib.sha256(final.read_bytes()).hexdigest()
    assert not (tmp_path / "f.bin.part").exists()


def test_a_complete_part_is_kept_whole(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"c" * 755)
    part = PartFile(tmp_path / "f.bin")
    assert part.open(755) == 755  # nothing to fetch again
    part.close()
    assert PartFile(tmp_path / "f.bin").open(1000) == 0  # incomplete and under ALIGN: start over
