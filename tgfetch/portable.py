"""What differs between Linux, macOS and Windows: signals and directory fsync.

Everything platform-specific in tgfetch goes through this module, so that a
test can force the non-POSIX branches (set `POSIX = False` or
`LOOP_SIGNALS = False`) and run a whole job through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["LOOP_SIGNALS", "POSIX", "fsync_dir", "on_signals"]

POSIX = os.name == "posix"
# asyncio's loop.add_signal_handler exists on Unix event loops only (not on Windows' Proactor loop).
LOOP_SIGNALS = POSIX


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable where the platform can (POSIX); elsewhere do nothing.

    Windows cannot open a directory for fsync; its NTFS journal makes the rename durable.
    """
    if not POSIX:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network, FUSE) refuse a directory fsync: the rename still happened
    finally:
        os.close(fd)


def _wanted(names: tuple[str, ...]) -> list[signal.Signals]:
    return [s for n in names if isinstance(s := getattr(signal, n, None), signal.Signals)]


@contextlib.contextmanager
def on_signals(callback: Callable[[], object], names: tuple[str, ...] = ("SIGTERM",)) -> Iterator[None]:
    """Call `callback` in the running event loop when one of the named signals arrives.

    Uses `loop.add_signal_handler` where the loop supports it; elsewhere (Windows) a
    plain `signal.signal` handler that hands the call to the loop thread-safely.
    Signals the platform lacks (SIGTERM semantics differ on Windows, SIGHUP is absent)
    are skipped.  On exit the fallback restores the previous handlers; the loop branch
    removes its handler, which returns the signal to its default action (asyncio's rule).
    Not meant to be nested for the same signal.
    """
    loop = asyncio.get_running_loop()
    install = _loop_handlers if LOOP_SIGNALS else _plain_handlers
    with install(loop, _wanted(names), callback):
        yield


@contextlib.contextmanager
def _loop_handlers(
    loop: asyncio.AbstractEventLoop, sigs: list[signal.Signals], callback: Callable[[], object]
) -> Iterator[None]:
    installed: list[signal.Signals] = []
    for sig in sigs:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _plain_handlers(
    loop: asyncio.AbstractEventLoop, sigs: list[signal.Signals], callback: Callable[[], object]
) -> Iterator[None]:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nothing left to call back into
            loop.call_soon_threadsafe(callback)

    previous: dict[signal.Signals, Any] = {}
    for sig in sigs:
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError):
                # None: the old handler was not set from Python and cannot be put back; use the default.
                signal.signal(sig, signal.SIG_DFL if old is None else old)
