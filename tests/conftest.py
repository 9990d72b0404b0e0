"""Shared fixtures: a clean environment for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tgfetch.config import ALLOWED

_OURS = {k.upper() for k in ALLOWED}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Clear every tgfetch variable and run in an empty directory (no stray .env)."""
    for key in list(os.environ):
        if key.upper() in _OURS:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    # The learned history stays with the test, outside its folder (tests check what a job left there).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path.with_name(tmp_path.name + "-xdg")))
    yield
