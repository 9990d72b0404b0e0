"""Subcommand bodies: wire settings, clients, scan, plan, download and report."""

from __future__ import annotations

from pathlib import Path

from tgfetch.cli import CommandOptions
from tgfetch.config import Settings
from tgfetch.errors import NotAvailableError


def _not_yet(name: str) -> NotAvailableError:
    return NotAvailableError(f"'{name}' is not available yet in this build")


async def run_download(opts: CommandOptions) -> int:
    """Run `download`."""
    raise _not_yet("download")


async def run_plan(opts: CommandOptions) -> int:
    """Run `plan`."""
    raise _not_yet("plan")


async def run_compare(opts: CommandOptions) -> int:
    """Run `compare`."""
    raise _not_yet("compare")


async def run_demo(dest: Path, messages: int) -> int:
    """Run `demo`."""
    raise _not_yet("demo")


async def run_login(settings: Settings, name: str, phone: str | None, simulate: bool) -> int:
    """Run `login`."""
    raise _not_yet("login")


async def run_coordinator(opts: CommandOptions, redis_url: str | None, insecure: bool) -> int:
    """Run `coordinator`."""
    raise _not_yet("coordinator")


async def run_worker(opts: CommandOptions, redis_url: str | None, machine_name: str | None) -> int:
    """Run `worker`."""
    raise _not_yet("worker")
