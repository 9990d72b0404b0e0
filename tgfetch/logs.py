"""Logging set-up that honours LOG_LEVEL and never lets a secret through."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from tgfetch.errors import ConfigError

__all__ = ["RedactingFilter", "redact_also", "setup_logging"]

# Telethon string sessions and api hashes have recognisable shapes; redact them
# even when they were not configured (e.g. a session passed some other way).
_PATTERNS = (
    re.compile(r"\b1[A-Za-z0-9_\-+/=]{200,}"),  # StringSession: version '1' + base64
    re.compile(r"\b[0-9a-f]{32}\b"),  # api_hash
    re.compile(r"\+\d{7,15}\b"),  # phone numbers
)


class RedactingFilter(logging.Filter):
    """Replace known secrets and secret-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Redact one more secret (learned after start-up)."""
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Return text with secrets replaced by <redacted>."""
        for s in self._secrets:
            text = text.replace(s, "<redacted>")
        for p in _PATTERNS:
            text = p.sub("<redacted>", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = self.redact(msg)
        if record.exc_info and record.exc_info[1] is not None:
            clean += "\n" + self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, ()
        return True


def redact_also(secret: str) -> None:
    """Add a secret made after start-up (a random dashboard token) to the redaction of every log handler."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                f.add(secret)


def _file_handler(path: Path) -> logging.Handler:
    """A handler appending to LOG_FILE, or one ConfigError line saying why it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"LOG_FILE={str(path)!r} cannot be written ({exc.strerror or type(exc).__name__}): "
                          "expected a file path in a writable folder") from None


def setup_logging(level: str, secrets: Iterable[str] = (),
                  log_file: str | os.PathLike[str] | None = None) -> RedactingFilter:
    """Configure the 'tgfetch' and 'telethon' loggers; return the redaction filter."""
    redactor = RedactingFilter(secrets)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        handlers.append(_file_handler(Path(log_file)))
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(redactor)
        root.addHandler(h)
    root.setLevel(logging.WARNING)
    logging.getLogger("tgfetch").setLevel(level)
    # Telethon's DEBUG output contains raw TL objects: INFO at most, WARNING unless debugging.
    logging.getLogger("telethon").setLevel(logging.INFO if level == "DEBUG" else logging.WARNING)
    return redactor
