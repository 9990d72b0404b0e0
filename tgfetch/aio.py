"""Small asyncio helpers shared by the pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_quietly", "wait_event"]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; return whether it was set.

    Uses asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def cancel_quietly(task: asyncio.Future[Any] | None) -> None:
    """Cancel a background task (if any) and wait for it to end, whatever it raised."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
