"""Crash-safe file writing: `.part` → fsync → `os.replace`, resumable from its size."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tgfetch.download.layout import part_path, resume_offset, tmp_dir
from tgfetch.errors import StorageError
from tgfetch.portable import fsync_dir

__all__ = ["PartFile", "copy_prefix", "hash_file", "link_or_copy", "write_json_atomic"]

_HASH_BLOCK = 1 << 20
_TMP = itertools.count()


def storage_error(exc: OSError, path: Path) -> StorageError:
    """Translate an OSError into a one-line StorageError."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return StorageError(f"disk full while writing {path}: free some space and rerun (progress is kept)")
    if exc.errno == errno.EFBIG:
        return StorageError(f"file size limit reached while writing {path}: raise the limit and rerun")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"cannot write {path}: permission denied or read-only file system")
    return StorageError(f"cannot write {path}: {exc.strerror or type(exc).__name__}")


def hash_file(path: str | os.PathLike[str], limit: int | None = None) -> tuple[Any, int]:
    """Return a sha256 object over the first `limit` bytes of `path` and the count read."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while limit is None or n < limit:
            want = _HASH_BLOCK if limit is None else min(_HASH_BLOCK, limit - n)
            block = f.read(want)
            if not block:
                break
            h.update(block)
            n += len(block)
    return h, n


class PartFile:
    """A file being downloaded into `<final>.part` (or a backup copy's own part)."""

    def __init__(self, final: Path, part: Path | None = None) -> None:
        self.final = final
        self.part = part if part is not None else part_path(final)
        self._f: Any = None
        self.sha = hashlib.sha256()
        self.offset = 0

    def open(self, complete_size: int | None = None) -> int:
        """Open for writing; resume where `layout.resume_offset` says; return the offset.

        A part that already holds all `complete_size` bytes is kept whole.
        """
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            size = self.part.stat().st_size if self.part.exists() else 0
            keep = resume_offset(size, complete_size)
            self._f = open(self.part, "r+b" if size else "wb")  # noqa: SIM115 - closed in finish/close
            if keep:
                self.sha, got = hash_file(self.part, keep)
                keep = got
            self._f.truncate(keep)
            self._f.seek(keep)
        except OSError as exc:
            self.close()
            raise storage_error(exc, self.part) from None
        self.offset = keep
        return keep

    def write(self, data: bytes) -> None:
        """Append bytes to the part file."""
        try:
            self._f.write(data)
        except OSError as exc:
            raise storage_error(exc, self.part) from None
        self.sha.update(data)
        self.offset += len(data)

    def finish(self) -> str:
        """fsync, rename to the final name, fsync the folder where the platform can; return the sha256 hex.

        Without the folder fsync (Windows), a power cut may lose the rename: the rerun then
        finds the done file missing from disk and downloads it again.
        """
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None
            os.replace(self.part, self.final)
        except OSError as exc:
            self.close()
            raise storage_error(exc, self.final) from None
        fsync_dir(self.final.parent)
        return str(self.sha.hexdigest())

    def close(self) -> None:
        """Close without renaming (the part stays for a later resume)."""
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None

    def discard(self) -> None:
        """Close and delete the part file."""
        self.close()
        try:
            self.part.unlink()
        except FileNotFoundError:
            pass


def _tmp_name(root: Path, suffix: str) -> Path:
    d = tmp_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{os.getpid()}-{next(_TMP)}{suffix}"


def write_json_atomic(path: Path, data: dict[str, Any], root: Path) -> None:
    """Write JSON next to a media file, atomically (through a temporary file under `root`)."""
    tmp: Path | None = None
    try:
        tmp = _tmp_name(root, ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise storage_error(exc, path) from None


def link_or_copy(src: Path, dst: Path, root: Path) -> None:
    """Hard-link `src` to `dst` (copy when links are not possible), atomically."""
    tmp: Path | None = None
    try:
        tmp = _tmp_name(root, ".link")  # a name of its own: two copies may link the same file at once
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        # rename() of two hard links to one file succeeds without removing the source name.
        tmp.unlink(missing_ok=True)
        part_path(dst).unlink(missing_ok=True)  # an earlier run's own attempt
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise storage_error(exc, dst) from None


def copy_prefix(src: Path, dst: Path, nbytes: int) -> None:
    """Start `dst` with the first `nbytes` of `src` (a backup copy reusing a resumed .part).

    Best effort: when `src` is gone or shorter, `dst` simply starts with less.
    """
    try:
        if dst.exists() and dst.stat().st_size >= nbytes:
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            left = nbytes
            while left > 0 and (block := fi.read(min(_HASH_BLOCK, left))):
                fo.write(block)
                left -= len(block)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise storage_error(exc, dst) from None
