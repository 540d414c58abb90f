"""A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, a server on a free loopback port, one
database per test. Debian's `postgresql` package provides the binaries (/usr/lib/postgresql/<version>/bin).

initdb refuses to run as root, so under root every server command runs as the `postgres` system user (through
`runuser`) in a temp dir that user owns. Without the binaries (or the driver) the tests are skipped, unless
SHOPQUERY_REQUIRE_POSTGRES=1 (as in CI), which turns the skip into a failure."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

REQUIRE_ENV = "SHOPQUERY_REQUIRE_POSTGRES"
USER = "shopquery"
START_TIMEOUT_S = 60


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail when the environment requires PostgreSQL."""
    hint = f"{reason}; install it with `apt-get install -y postgresql` (Debian) and `pip install 'psycopg[binary]'`"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {hint}", pytrace=False)
    pytest.skip(hint)


def find_bindir() -> Path | None:
    """The newest PostgreSQL server bin directory (SHOPQUERY_PG_BIN overrides), or None."""
    override = os.environ.get("SHOPQUERY_PG_BIN")
    candidates = [Path(override)] if override else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name))
    found = [p for p in candidates if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]
    return found[-1] if found else None


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One PostgreSQL server in a temp dir, trusting local connections of the `shopquery` role."""

    _names = itertools.count(1)

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="shopquery-pg-"))
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()

    def _run(self, *command: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{self.log_tail()}")
        return done

    def init(self) -> PgCluster:
        """Create the cluster (UTF-8, trust authentication for the `shopquery` superuser)."""
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-instructions")
        return self

    def start(self) -> None:
        """Start the server on 127.0.0.1:port (socket in the temp dir) and wait until it accepts connections."""
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t",
                  str(START_TIMEOUT_S), "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions; immediate: like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server process is up."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """SQLAlchemy URL of a database on this server, through psycopg 3."""
        auth = USER if password is None else f"{USER}:{password}"
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t{next(self._names)}"
        with self._connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def empty_database(self, name: str = "scratch") -> str:
        """The database `name`, created once and emptied on every call (its public schema dropped and made
        again: far cheaper than a new database per test); returns its SQLAlchemy URL."""
        with self._connect("postgres") as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
        with self._connect(name) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return self.url(name)

    def _connect(self, database: str):  # -> psycopg.Connection
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname=database, autocommit=True)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log (for failure messages)."""
        if not self.log.is_file():
            return "(no server log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def destroy(self) -> None:
        """Stop the server if it runs and remove the temp dir."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    """A started cluster, or a skip (a failure under SHOPQUERY_REQUIRE_POSTGRES=1) when PostgreSQL is missing."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    try:
        import psycopg  # noqa: F401 - only checks that the driver is installed
    except ImportError:
        unavailable("the psycopg driver is not installed")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        unavailable("running as root needs `runuser` and the postgres system user to start PostgreSQL")
    cluster = PgCluster(bindir)
    try:
        cluster.init().start()
    except Exception:
        cluster.destroy()
        raise
    return cluster
