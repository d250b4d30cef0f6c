"""A throwaway PostgreSQL server for the tests, from the system's binaries, in a temporary directory.

`PostgresCluster` runs `initdb` (trust auth, no fsync) and `pg_ctl start` listening on 127.0.0.1 on a
free port and on a unix socket in its directory, and `stop` removes it all. PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` system user (Debian's package creates it) and
its directory belongs to that user. Every wait is bounded.

Where no binaries are found, `find_binaries` returns None: the fixture skips, except under CI
(`CI=true`), where the tests must run and it fails instead. `.ci/run` installs the server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60
COMMAND_TIMEOUT_SECONDS = 120


def find_binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""

    def version(path: Path) -> tuple[int, ...]:
        parts = path.parent.name.split(".")
        return tuple(int(part) for part in parts if part.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: version(p.parent))
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "pg_ctl").exists():
        return Path(initdb).parent
    return None


def run_as_user() -> str | None:
    """The user the server runs as: None for the current one, `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root and there is no {SUPERUSER!r} user to run it as"
        ) from None
    return SUPERUSER


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """One PostgreSQL server in its own temporary directory; `start` it, `stop` it (and it is removed)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.user = run_as_user()
        self.root = Path(tempfile.mkdtemp(prefix="runway-mcp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._command(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )

    @property
    def url(self) -> str:
        """The server's `postgres` database over TCP."""
        return self.database_url("postgres")

    def database_url(self, database: str, *, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def start(self, *, port: int | None = None) -> None:
        """Start the server (again, on the same port, when it ran before); waits until it accepts connections."""
        for _ in range(3):
            self.port = port or self.port or free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._command(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t",
                    str(START_TIMEOUT_SECONDS), "start",
                )  # fmt: skip
                return
            except RuntimeError:
                if port is not None or "could not bind" not in self.log_tail():
                    raise
                self.port = 0  # someone took the free port between our check and the start: pick another
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed); it can be started again."""
        if (self.data / "postmaster.pid").exists():
            self._command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, then delete its directory."""
        try:
            self.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin(self, sql: str, params: dict[str, Any] | None = None, *, database: str = "postgres") -> list[Any]:
        """Run one statement outside a transaction as the superuser; returns its rows."""
        import psycopg

        with psycopg.connect(self.database_url(database), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]  # test SQL
            return cursor.fetchall() if cursor.description is not None else []

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _command(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}\n"
                f"{self.log_tail()}"
            )

    def _kill(self) -> None:
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 9)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
