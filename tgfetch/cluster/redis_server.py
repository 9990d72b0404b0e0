"""Start and stop a real redis-server on 127.0.0.1 (tests and bench/cluster.py).

    RedisServer.start(tmp) ──► redis-server --port P --bind 127.0.0.1 --dir tmp --save "" --appendonly yes
        .url   redis://[:password@]127.0.0.1:P/0
        .stop()     SIGTERM by pid, SIGKILL after a timeout
        .kill()     SIGKILL (a crash: only what AOF already has survives)
        .restart()  stop, then start again on the same port and dir (AOF replays)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["RedisServer", "find_redis_server", "free_port"]


def find_redis_server() -> str:
    """Return the redis-server binary (/usr/bin/redis-server, else the one on PATH)."""
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError("redis-server not found (Debian: apt-get install redis-server)")
    return found


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server child process owned by this object."""

    dir: Path
    port: int
    password: str | None = None
    appendonly: bool = True
    appendfsync: str = "everysec"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        tmp_dir: Path | str,
        port: int | None = None,
        password: str | None = None,
        appendonly: bool = True,
        *,
        appendfsync: str = "everysec",
        timeout_s: float = 10.0,
    ) -> RedisServer:
        """Start a server in tmp_dir (a free port unless given) and wait until it answers PING."""
        directory = Path(tmp_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            server = cls(directory, port or free_port(), password, appendonly, appendfsync)
            try:
                server._spawn(timeout_s)
                return server
            except OSError:
                server.kill()
                if port is not None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @property
    def url(self) -> str:
        """redis:// URL of the server (with the password)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return self.proc.pid if self.proc is not None else None

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.dir / "redis.log"

    def _args(self) -> list[str]:
        args = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", self.appendfsync]
        args += ["--daemonize", "no", "--logfile", str(self.log_path)]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def _spawn(self, timeout_s: float) -> None:
        self.proc = subprocess.Popen(
            self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
                raise OSError(f"redis-server exited with {self.proc.returncode} on port {self.port}:\n{tail}")
            if self._ping():
                return
            time.sleep(0.02)
        raise OSError(f"redis-server on port {self.port} did not answer within {timeout_s}s")

    def _ping(self) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _signal(self, sig: signal.Signals, timeout_s: float) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return True
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop by pid: SIGTERM (Redis flushes AOF on the way out), then SIGKILL."""
        if not self._signal(signal.SIGTERM, timeout_s):
            self._signal(signal.SIGKILL, timeout_s)
        self.proc = None

    def kill(self) -> None:
        """Kill by pid with SIGKILL, like a crash."""
        self._signal(signal.SIGKILL, 5.0)
        self.proc = None

    def restart(self, *, crash: bool = False, timeout_s: float = 10.0) -> None:
        """Stop (or kill, with crash=True) and start again on the same port and directory."""
        if crash:
            self.kill()
        else:
            self.stop()
        self._spawn(timeout_s)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
