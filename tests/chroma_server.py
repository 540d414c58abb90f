"""A real Chroma server for tests: the chromadb package's own `chroma run` CLI as a subprocess on a free loopback
port, persisting into a directory; stopped and started again on the same directory and port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pg_cluster import free_port

START_TIMEOUT_S = 60
OFFLINE_ENV = {"ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY": "False", "NO_COLOR": "1"}


def chroma_cli() -> Path:
    """The `chroma` command installed with chromadb in this interpreter's environment."""
    return Path(sys.executable).parent / "chroma"


class ChromaServer:
    """`chroma run --path PATH --host 127.0.0.1 --port PORT` in its own process group."""

    def __init__(self, path: Path, log: Path):
        self.path = path
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL, as SHOPQUERY_CHROMA_URL takes it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until its heartbeat answers."""
        cli = chroma_cli()
        if not cli.is_file():
            raise RuntimeError(f"no chroma CLI at {cli}: reinstall chromadb==1.5.9")
        argv = [str(cli), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, **OFFLINE_ENV})
        started = time.monotonic()
        while not self.alive():
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() - started > START_TIMEOUT_S:
                self.stop()
                raise RuntimeError(f"chroma not ready in {START_TIMEOUT_S} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def alive(self) -> bool:
        """Whether the heartbeat endpoint answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 30 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])
