"""One exception tree for tgfetch; every error carries the process exit code.

    TgfetchError (exit 1)
    ├── UsageError (exit 2)              bad flags, bad settings, bad input
    │   ├── ConfigError (exit 2)         a setting's value is not allowed
    │   └── StateMismatchError (exit 2)  state DB belongs to another job / settings changed
    ├── DistributionError (exit 2)       a strategy produced an invalid plan
    ├── TelegramAccessError (exit 3)     authorization / access to a channel
    │   └── SessionError (exit 3)        a session file or string that is not usable
    ├── NetworkError (exit 4)            Telegram, a proxy or Redis unreachable after the retries
    ├── StorageError (exit 1)            destination not writable, disk full
    ├── JobLockedError (exit 2)          another tgfetch process runs this job
    ├── FilesFailedError (exit 1)        the job finished but some files failed
    └── InterruptedJob (exit 130)        SIGINT/SIGTERM: state kept, rerun resumes
"""

from __future__ import annotations

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED_FILES",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigError",
    "DistributionError",
    "FilesFailedError",
    "InterruptedJob",
    "JobLockedError",
    "NetworkError",
    "SessionError",
    "StateMismatchError",
    "StorageError",
    "TelegramAccessError",
    "TgfetchError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NETWORK = 4
EXIT_INTERRUPTED = 130


class TgfetchError(Exception):
    """Base of every error tgfetch raises on purpose."""

    exit_code = EXIT_FAILED_FILES


class UsageError(TgfetchError):
    """Bad command-line usage or input."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A setting has a value that is not allowed."""


class StateMismatchError(UsageError):
    """The state DB belongs to another job, or settings changed file names."""


class DistributionError(TgfetchError):
    """A distribution strategy produced an invalid plan."""

    exit_code = EXIT_USAGE


class TelegramAccessError(TgfetchError):
    """Telegram refused authorization or access."""

    exit_code = EXIT_AUTH


class SessionError(TelegramAccessError):
    """A session file or string cannot be used."""


class NetworkError(TgfetchError):
    """Telegram, a proxy or Redis could not be reached (after the documented retries)."""

    exit_code = EXIT_NETWORK


class StorageError(TgfetchError):
    """The destination cannot be written (permissions, disk full, removed)."""

    exit_code = EXIT_FAILED_FILES


class JobLockedError(TgfetchError):
    """Another tgfetch process holds this job's state DB."""

    exit_code = EXIT_USAGE


class FilesFailedError(TgfetchError):
    """The job ended but some files could not be downloaded."""

    exit_code = EXIT_FAILED_FILES


class InterruptedJob(TgfetchError):
    """The job was interrupted; its state is kept and a rerun resumes."""

    exit_code = EXIT_INTERRUPTED
