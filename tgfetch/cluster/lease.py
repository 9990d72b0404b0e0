"""LeaseKeeper: renew one delivery every lease/3 seconds while its group downloads.

    download ──────────────────────────────────────────► complete
    keeper     renew ── renew ── renew (False) ──► lost.set(): stop the download
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from redis.exceptions import RedisError

from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import Delivery

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """An asyncio task (as an async context manager) that keeps a delivery's lease alive."""

    def __init__(self, queue: ClusterQueue, delivery: Delivery, consumer: str, lease_s: float | None = None) -> None:
        self.queue = queue
        self.delivery = delivery
        self.consumer = consumer
        self.interval = (queue.lease_s if lease_s is None else lease_s) / 3
        self.lost = asyncio.Event()
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.delivery.entry_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        """Renew until cancelled; set ``lost`` when the entry was taken by someone else."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                ok = await self.queue.renew(self.delivery, self.consumer)
            except RedisError as exc:
                # Transient: the lease only expires if Redis itself lets the idle time pass.
                log.warning("lease renewal of %s failed: %s", self.delivery.payload.group_id, exc)
                continue
            if not ok:
                log.warning("lease of group %s lost to another worker", self.delivery.payload.group_id)
                self.lost.set()
                return
            self.renewals += 1
