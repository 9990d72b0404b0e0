"""tgfetch.portable: both signal branches with real signals, and directory fsync."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tgfetch import portable
from tgfetch.errors import InterruptedJob

posix_only = pytest.mark.skipif(os.name != "posix", reason="sends itself a real SIGTERM")

# A safety net against a hang, not a timing assertion: the callback is due within one loop turn.
WAIT_S = 30.0


@pytest.fixture(params=[True, False], ids=["loop-handler", "signal-fallback"])
def loop_signals(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the test through each branch of on_signals."""
    flag: bool = request.param
    monkeypatch.setattr(portable, "LOOP_SIGNALS", flag)
    return flag


@pytest.fixture
def sigterm_guard() -> Any:
    """Put SIGTERM's handler back even when a test fails half-way."""
    before = signal.getsignal(signal.SIGTERM)
    yield before
    signal.signal(signal.SIGTERM, before)


def _recorder() -> tuple[list[int], asyncio.Event, Callable[[], None]]:
    threads: list[int] = []
    called = asyncio.Event()

    def callback() -> None:
        asyncio.get_running_loop()  # raises outside a running loop
        threads.append(threading.get_ident())
        called.set()

    return threads, called, callback


@posix_only
async def test_sigterm_calls_back_in_the_loop(loop_signals: bool, sigterm_guard: Any) -> None:
    threads, called, callback = _recorder()
    with portable.on_signals(callback, ("SIGTERM",)):
        assert signal.getsignal(signal.SIGTERM) is not sigterm_guard
        os.kill(os.getpid(), signal.SIGTERM)
        # The signal only schedules the callback: it runs once the loop gets control back.
        assert threads == []
        await asyncio.wait_for(called.wait(), WAIT_S)
    assert threads == [threading.get_ident()]


@posix_only
async def test_every_named_signal_calls_back(loop_signals: bool, sigterm_guard: Any) -> None:
    before_usr1 = signal.getsignal(signal.SIGUSR1)
    try:
        threads, called, callback = _recorder()
        with portable.on_signals(callback, ("SIGTERM", "SIGUSR1")):
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(called.wait(), WAIT_S)
            called.clear()
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(called.wait(), WAIT_S)
        assert len(threads) == 2
    finally:
        signal.signal(signal.SIGUSR1, before_usr1)


async def test_fallback_restores_the_previous_handler(monkeypatch: pytest.MonkeyPatch, sigterm_guard: Any) -> None:
    monkeypatch.setattr(portable, "LOOP_SIGNALS", False)

    def mine(_sig: int, _frame: object) -> None:
        """Stand in for a handler installed before on_signals."""

    signal.signal(signal.SIGTERM, mine)
    with portable.on_signals(lambda: None, ("SIGTERM",)):
        assert signal.getsignal(signal.SIGTERM) is not mine
    assert signal.getsignal(signal.SIGTERM) is mine


@posix_only
async def test_loop_branch_removes_its_handler(monkeypatch: pytest.MonkeyPatch, sigterm_guard: Any) -> None:
    monkeypatch.setattr(portable, "LOOP_SIGNALS", True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with portable.on_signals(lambda: None, ("SIGTERM",)):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_signals_the_platform_lacks_are_skipped(loop_signals: bool, sigterm_guard: Any) -> None:
    with portable.on_signals(lambda: None, ("SIGNOPE", "SIG_DFL")):
        assert signal.getsignal(signal.SIGTERM) is sigterm_guard
    assert signal.getsignal(signal.SIGTERM) is sigterm_guard


def test_on_signals_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError), portable.on_signals(lambda: None):
        pass


@posix_only
async def test_sigterm_interrupts_a_job_step(loop_signals: bool, sigterm_guard: Any) -> None:
    """app._interruptible turns SIGTERM into InterruptedJob (exit 130) through either branch."""
    from tgfetch.app import _interruptible  # the whole pipeline: only this test needs it

    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Event().wait()  # never set: only the signal ends this

    async def send_when_started() -> None:
        await started.wait()
        os.kill(os.getpid(), signal.SIGTERM)

    sender = asyncio.create_task(send_when_started())
    with pytest.raises(InterruptedJob) as info:
        await asyncio.wait_for(_interruptible(step()), WAIT_S)
    await sender
    assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGTERM) in (sigterm_guard, signal.SIG_DFL)


class _Recorder:
    """Record os.open/os.fsync/os.close calls made by fsync_dir, delegating to the real ones."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fsync_error: OSError | None = None) -> None:
        self.opened: list[int] = []
        self.synced: list[int] = []
        self.closed: list[int] = []
        real_open, real_fsync, real_close = os.open, os.fsync, os.close

        def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, *args, **kwargs)
            self.opened.append(fd)
            return fd

        def fake_fsync(fd: int) -> None:
            self.synced.append(fd)
            if fsync_error is not None:
                raise fsync_error
            real_fsync(fd)

        def fake_close(fd: int) -> None:
            self.closed.append(fd)
            real_close(fd)

        monkeypatch.setattr(portable.os, "open", fake_open)
        monkeypatch.setattr(portable.os, "fsync", fake_fsync)
        monkeypatch.setattr(portable.os, "close", fake_close)


def test_fsync_dir_is_a_no_op_off_posix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rec = _Recorder(monkeypatch)
    monkeypatch.setattr(portable, "POSIX", False)
    portable.fsync_dir(tmp_path)
    portable.fsync_dir(tmp_path / "missing")
    assert rec.opened == rec.synced == rec.closed == []


@pytest.mark.skipif(os.name != "posix", reason="only POSIX can open a directory for fsync")
def test_fsync_dir_syncs_and_closes_on_posix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rec = _Recorder(monkeypatch)
    monkeypatch.setattr(portable, "POSIX", True)
    (tmp_path / "a.tmp").write_bytes(b"x")
    (tmp_path / "a.tmp").rename(tmp_path / "a")
    portable.fsync_dir(tmp_path)
    assert len(rec.opened) == 1
    assert rec.synced == rec.closed == rec.opened


@pytest.mark.skipif(os.name != "posix", reason="only POSIX can open a directory for fsync")
def test_fsync_dir_tolerates_missing_dirs_and_refusing_file_systems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rec = _Recorder(monkeypatch, fsync_error=OSError(22, "Invalid argument"))
    monkeypatch.setattr(portable, "POSIX", True)
    portable.fsync_dir(tmp_path / "missing")  # cannot be opened: nothing to do
    assert rec.opened == []
    portable.fsync_dir(tmp_path)  # fsync refused: still closed, no error
    assert len(rec.opened) == 1
    assert rec.synced == rec.closed == rec.opened
