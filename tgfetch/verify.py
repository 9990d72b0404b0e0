"""`tgfetch verify`: re-hash the files a job recorded; find missing, changed, extra and partial files.

The state DB is `--state-db`/STATE_DB, else `DIR/.tgfetch.sqlite` (a job from before
per-channel DBs, or DIR is a channel folder), else the one `DIR/<channel>/.tgfetch.sqlite`.
It is read read-only and without the job lock (`store.read_state`), so a verify
runs beside a running job without blocking or changing it. The channel folder is
listed before the done rows are read: a file the job finishes in between is then
recorded, not extra. Files the job writes while verify hashes may show as partial.

A done row is *missing* (no regular file at its path), *changed* (size or
sha256 differ, or it cannot be read) or ok; files linked from one document are
hashed once. A regular file under the channel folder that no done row names is
*extra*, except the sidecar (`<file>.json`) of a recorded or partial file,
`.part` files (*partial*: a rerun resumes them), tgfetch's own folders
(`.tgfetch-backup`, `.tgfetch-tmp`) and state DB files (`.tgfetch.sqlite`, its
`-wal`, `-shm`, `.lock`). Exit code 0 when nothing is missing, changed or extra, else 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from tgfetch.context import channel_dir
from tgfetch.download.files import hash_file
from tgfetch.download.layout import BACKUP_DIR, PART_SUFFIX, SIDECAR_SUFFIX, STATE_FILE, TMP_DIR
from tgfetch.download.naming import safe_join
from tgfetch.errors import EXIT_FAILED_FILES, EXIT_OK, StorageError, UsageError
from tgfetch.store import DoneFile, StateSnapshot, read_state
from tgfetch.telegram.account import ChannelRef

__all__ = ["Finding", "Verification", "find_state_db", "locate", "print_text", "run_verify", "verify", "wants_progress"]

HASH_WORKERS = 3  # files hashed at once: a disk gains little from more readers
PROGRESS_MIN_FILES = 200  # a progress bar only for more files than this ...
PROGRESS_MIN_BYTES = 1_000_000_000  # ... or more bytes than this
SHOW_LIMIT = 20  # problem files listed without --all
MISSING, CHANGED, EXTRA, PARTIAL = "missing", "changed", "extra", "partial"
KINDS = (MISSING, CHANGED, EXTRA, PARTIAL)
_STYLES = {MISSING: "red", CHANGED: "red", EXTRA: "yellow", PARTIAL: "cyan"}
_DB_SUFFIXES = ("", ".lock", "-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class Finding:
    """One file that is not as the job recorded it (path relative to the channel folder, posix)."""

    kind: str
    path: str
    detail: str = ""
    message_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the finding as a JSON object."""
        return {"path": self.path, "message_id": self.message_id, "detail": self.detail}


@dataclass
class Verification:
    """What verify found: the recorded files checked and every finding, sorted by kind and path."""

    db: Path
    root: Path
    files: int
    bytes: int
    findings: list[Finding] = field(default_factory=list)

    def of(self, kind: str) -> list[Finding]:
        """Return the findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    @property
    def ok(self) -> int:
        """Recorded files found whole."""
        return self.files - len(self.of(MISSING)) - len(self.of(CHANGED))

    @property
    def clean(self) -> bool:
        """True when nothing is missing, changed or extra (partial files are fine)."""
        return not any(f.kind != PARTIAL for f in self.findings)

    def summary(self) -> str:
        """Return the one-line summary."""
        n = {k: len(self.of(k)) for k in KINDS}
        return (f"verified {self.files} files ({_size(self.bytes)}): {self.ok} ok, {n[MISSING]} missing, "
                f"{n[CHANGED]} changed, {n[EXTRA]} extra")

    def to_json(self) -> dict[str, Any]:
        """Return the whole result as a JSON object (every finding, no limit)."""
        counts = {"ok": self.ok, **{k: len(self.of(k)) for k in KINDS}}
        out: dict[str, Any] = {"ok": self.clean, "state_db": str(self.db), "channel_folder": str(self.root),
                               "files": self.files, "bytes": self.bytes, "counts": counts}
        return out | {k: [f.to_json() for f in self.of(k)] for k in KINDS}


@dataclass
class _Target:
    """One file on disk to hash, and the done rows it must match (several when hard-linked)."""

    path: Path
    size: int
    rows: list[DoneFile]


# ----------------------------------------------------------------- entry


def run_verify(dest: Path | None = None, *, state_db: Path | None = None, env_file: Path | None = Path(".env"),
               show_all: bool = False, as_json: bool = False, quiet: bool = False) -> int:
    """Verify a download folder against its state DB, print the result and return the exit code."""
    folder, db = locate(dest, state_db, env_file)
    result = verify(folder, db, progress=not quiet)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        print_text(result, show_all=show_all)
    return EXIT_OK if result.clean else EXIT_FAILED_FILES


def locate(dest: Path | None, state_db: Path | None, env_file: Path | None) -> tuple[Path, Path]:
    """Return the download folder and its state DB: the flags, else DOWNLOAD_DIR and STATE_DB, else the one found."""
    from tgfetch.config import load_settings

    settings = load_settings(env_file=env_file, download_dir=dest, state_db=state_db)
    folder = settings.download_dir
    return folder, settings.state_db if settings.state_db is not None else find_state_db(folder)


def find_state_db(folder: Path) -> Path:
    """Return the state DB of the one job in `folder`: its own `.tgfetch.sqlite`, else one in a channel folder."""
    own = folder / STATE_FILE  # a job's DB from before per-channel DBs, or `folder` is a channel folder
    if own.is_file():
        return own
    found = sorted(p for p in folder.glob(f"*/{STATE_FILE}") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"no state DB in {folder}: nothing was downloaded there (or pass --state-db)")
    names = ", ".join(_printable(p.parent.name) for p in found)
    raise UsageError(f"{folder} holds {len(found)} jobs ({names}): pass a channel folder as DIR, or --state-db")


def verify(dest: Path, db: Path, *, progress: bool = False) -> Verification:
    """Check every file the state DB `db` recorded under `dest` and list the files it did not record."""
    if not db.is_file():
        raise UsageError(f"no state DB at {db}")
    root = _channel_root(dest, _read(db))
    listing = _list_files(root, _db_files(db, root))
    state = _read(db)  # after the listing: files a running job finished meanwhile are recorded, not extra
    rows = list(state.done.values())
    found = _unrecorded(listing, {r.path for r in rows})
    bad, targets = _stat_rows(root, rows)
    show = progress and wants_progress(len(rows), sum(t.size for t in targets), sys.stderr)
    with _progress_bar(sum(t.size for t in targets), show) as advance:
        found += bad + _hash_targets(targets, advance)
    found.sort(key=lambda f: (KINDS.index(f.kind), f.path))
    return Verification(db.resolve(), root, len(rows), sum(r.size for r in rows), found)


def _read(db: Path) -> StateSnapshot:
    """Read the state DB; a DB that cannot be read is a usage problem (exit 1 means files differ)."""
    try:
        return read_state(db)
    except StorageError as exc:
        raise UsageError(str(exc)) from None


def _channel_root(dest: Path, state: StateSnapshot) -> Path:
    """Return the job's channel folder under `dest` (`context.channel_dir`), or `dest` when it is that folder."""
    key = state.meta.get("channel_key", "")
    username = key[1:] if key.startswith("@") else None
    ref = ChannelRef(int(state.meta["channel_id"]), title="", username=username, spec=key)
    dest = dest.resolve()
    root = channel_dir(dest, ref)
    if not root.is_dir() and channel_dir(dest.parent, ref) == dest:
        return dest  # `tgfetch verify DOWNLOAD_DIR/<channel>`
    return root


def _db_files(db: Path, root: Path) -> set[str]:
    """Return the files of this state DB and of the channel folder's default one (DB, lock, WAL...), absolute."""
    bases = (db.resolve(), root / STATE_FILE)
    return {os.path.normcase(str(b.with_name(b.name + s))) for b in bases for s in _DB_SUFFIXES}


# ---------------------------------------------------------- the folder


def _list_files(root: Path, skip: set[str]) -> set[str]:
    """Return every regular file under root (posix, relative) outside tgfetch's own folders and files."""
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in (BACKUP_DIR, TMP_DIR)]
        for name in filenames:
            path = here / name
            if os.path.normcase(str(path)) not in skip and _is_regular(path):
                out.add(path.relative_to(root).as_posix())
    return out


def _is_regular(path: Path) -> bool:
    """True for a regular file (not a link, socket or device)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _unrecorded(listing: set[str], recorded: set[str]) -> list[Finding]:
    """Return the listed files no done row names: partial `.part`s and extras (sidecars of known files aside)."""
    found = []
    for rel in listing - recorded:
        if rel.endswith(PART_SUFFIX):
            found.append(Finding(PARTIAL, rel, "a rerun resumes it"))
            continue
        base = rel.removesuffix(SIDECAR_SUFFIX)
        if base != rel and (base in recorded or base + PART_SUFFIX in listing):
            continue  # the sidecar of a recorded file, or of one still downloading
        found.append(Finding(EXTRA, rel, "not recorded by the job"))
    return found


# ------------------------------------------------------------ the rows


def _stat_rows(root: Path, rows: Iterable[DoneFile]) -> tuple[list[Finding], list[_Target]]:
    """Find missing and resized files without reading them; group the rest by file (inode) to hash once."""
    found: list[Finding] = []
    targets: dict[Hashable, _Target] = {}
    for row in rows:
        try:
            path = safe_join(root, PurePosixPath(row.path))
        except ValueError:
            found.append(Finding(CHANGED, row.path, "leads outside the channel folder", row.message_id))
            continue
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            found.append(Finding(MISSING, row.path, "no file at this path", row.message_id))
        elif st.st_size != row.size:
            found.append(Finding(CHANGED, row.path, f"size {st.st_size:,}, recorded {row.size:,}", row.message_id))
        else:
            key: Hashable = (st.st_dev, st.st_ino) if st.st_ino else str(path)  # st_ino 0: no inode numbers
            targets.setdefault(key, _Target(path, st.st_size, [])).rows.append(row)
    return found, list(targets.values())


def _hash_targets(targets: list[_Target], advance: Callable[[int], None]) -> list[Finding]:
    """Hash the files in a small thread pool and compare each with its rows' sha256."""
    found: list[Finding] = []
    pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="tgfetch-verify")
    try:
        futures = {pool.submit(hash_file, t.path): t for t in targets}
        for fut in as_completed(futures):
            target = futures[fut]
            found += _compare(target, fut)
            advance(target.size)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: finish the files being read, start no more
    return found


def _compare(target: _Target, fut: Future[tuple[Any, int]]) -> list[Finding]:
    """Return the findings of one hashed file for each row it must match."""
    try:
        digest, n = fut.result()
    except FileNotFoundError:
        return [Finding(MISSING, r.path, "removed while verifying", r.message_id) for r in target.rows]
    except OSError as exc:
        why = f"cannot be read: {exc.strerror or exc}"
        return [Finding(CHANGED, r.path, why, r.message_id) for r in target.rows]
    sha = digest.hexdigest()
    if n != target.size:
        return [Finding(CHANGED, r.path, "changed while verifying", r.message_id) for r in target.rows]
    return [Finding(CHANGED, r.path, "sha256 differs", r.message_id) for r in target.rows if r.sha256 != sha]


# -------------------------------------------------------------- output


def wants_progress(files: int, nbytes: int, stream: TextIO) -> bool:
    """True when a progress bar is worth it: many files or bytes, and `stream` is a terminal."""
    if files <= PROGRESS_MIN_FILES and nbytes <= PROGRESS_MIN_BYTES:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextlib.contextmanager
def _progress_bar(total_bytes: int, show: bool) -> Iterator[Callable[[int], None]]:
    """Yield a function advancing a rich progress bar on stderr by n bytes (a no-op when not shown)."""
    if not show:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("verifying"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verify", total=total_bytes)
        yield lambda n: bar.advance(task, n)


def print_text(result: Verification, *, show_all: bool = False, limit: int = SHOW_LIMIT) -> None:
    """Print the summary, then the problem files (the first `limit` unless show_all), then partial files."""
    console = Console(highlight=False, soft_wrap=True)
    console.print(escape(result.summary()))
    if not result.root.is_dir() and result.files:
        console.print(f"(no channel folder at {_shown(str(result.root))})")
    _print_findings(console, [f for f in result.findings if f.kind != PARTIAL], show_all, limit)
    partial = result.of(PARTIAL)
    if partial:
        console.print(f"{len(partial)} partial (.part) file{'s' * (len(partial) != 1)}, a rerun resumes them:")
        _print_findings(console, partial, show_all, limit)


def _print_findings(console: Console, findings: list[Finding], show_all: bool, limit: int) -> None:
    """Print one line per finding, up to `limit` unless show_all."""
    shown = findings if show_all else findings[:limit]
    for f in shown:
        detail = f" ({_shown(f.detail)})" if f.detail and f.kind != PARTIAL else ""
        console.print(f"  [{_STYLES[f.kind]}]{f.kind:<8}[/] {_shown(f.path)}{detail}")
    if len(shown) < len(findings):
        console.print(f"  ... and {len(findings) - len(shown)} more (--all lists them all)")


def _shown(text: str) -> str:
    """Return a hostile name safe to print with rich: `_printable`, markup escaped."""
    return escape(_printable(text))


def _printable(text: str) -> str:
    """Return text with control, format (bidi) and undecodable characters written as escapes."""
    return "".join(ascii(c)[1:-1] if unicodedata.category(c)[0] == "C" else c for c in text)


def _size(n: int) -> str:
    """Return a byte count in decimal units: '2.8 MB', '12.4 GB'."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 10**6:.1f} MB"
