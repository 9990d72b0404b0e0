"""Builders of small collections for the distribution tests."""

from __future__ import annotations

import random
from typing import Any

from tgfetch.config import Settings
from tgfetch.distribution import TaskDistributionStrategy, TaskDistributor
from tgfetch.model import ClientAssignment, MessageCollection, MessageInfo


class RoundRobin(TaskDistributionStrategy):
    """Whole groups dealt to the clients in turn."""

    async def distribute_tasks(self, message_collection: Any, client_names: Any) -> Any:
        out = [ClientAssignment(c) for c in client_names]
        for i, group in enumerate(message_collection.groups):
            out[i % len(out)].message_groups.append(group)
        return out

    def get_strategy_info(self) -> dict[str, Any]:
        return {"name": "RoundRobin", "description": "whole groups dealt in turn"}


def settings(**overrides: object) -> Settings:
    """Return settings that ignore .env files."""
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def distributor(**overrides: object) -> TaskDistributor:
    """Return a distributor with test settings."""
    return TaskDistributor(settings(**overrides))


def photo(mid: int, size: int = 1000, album: int | None = None) -> MessageInfo:
    """Return a photo message."""
    return MessageInfo(mid, media_group_id=album, file_size=size, media_type="photo")


def text(mid: int) -> MessageInfo:
    """Return a text-only message."""
    return MessageInfo(mid)


def channel(groups: list[tuple[int, int]]) -> MessageCollection:
    """Build a collection from (files, size_each) per group; files > 1 make an album."""
    msgs: list[MessageInfo] = []
    mid = 1
    for files, size in groups:
        album = mid if files > 1 else None
        if files == 0:
            msgs.append(text(mid))
            mid += 1
        for _ in range(files):
            msgs.append(photo(mid, size, album))
            mid += 1
    return MessageCollection.from_messages(msgs)


def random_channel(seed: int, n_groups: int) -> MessageCollection:
    """Return a random channel: 70% singles, albums of 2-10, some text messages."""
    rng = random.Random(seed)
    spec = []
    for _ in range(n_groups):
        r = rng.random()
        files = rng.randint(2, 10) if r < 0.3 else (0 if r > 0.93 else 1)
        spec.append((files, int(rng.lognormvariate(12, 1.5)) + 1))
    return channel(spec)


def message_ids(result: object) -> list[int]:
    """Return every assigned message id, with repeats, sorted."""
    ids = [m.message_id for a in result.client_assignments for g in a.message_groups for m in g.messages]  # type: ignore[attr-defined]
    return sorted(ids)
