"""Real services for the tests and the benchmark: Debian's PostgreSQL and redis-server, each
started in a fresh temporary folder on a free loopback port, and stopped at the end.

PostgreSQL refuses to run as root, so as root the cluster is made and run as ``nobody`` in a
folder that user owns. ``make test`` installs both packages when they are missing; a test
that needs one fails (never skips) when it is not there.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is missing: `make services` installs it "
                           "(apt-get install postgresql)")
    return found[-1]


def _wait_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    detail = log.read_text(errors="replace") if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start on port {port}\n{detail}")


class Postgres:
    """A throwaway PostgreSQL cluster: ``url(name)`` makes a new database and its URL."""

    USER = "grader"

    def __init__(self):
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="grader-pg-", dir="/tmp"))
        os.chmod(self.folder, 0o755)
        if self.as_root:
            shutil.chown(self.folder, "nobody", "nogroup")
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self._names = itertools.count(1)
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", self.USER, "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale", "C"])
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                   "-w", "-t", "60", "start"])
        _wait_port(self.port, 30, "PostgreSQL", self.log)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              cwd=self.folder, user="nobody" if self.as_root else None,
                              env={**os.environ, "HOME": str(self.folder)})
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")

    @property
    def server_url(self) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/postgres"

    def url(self, name: str | None = None, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); its URL."""
        import psycopg

        name = name or f"t{os.getpid()}_{next(self._names)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.USER} "
                             "dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                       "stop"])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """A throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: `make services` installs it "
                               "(apt-get install redis-server)")
        self.folder = Path(tempfile.mkdtemp(prefix="grader-redis-"))
        self.port = free_port()
        self.log = self.folder / "redis.log"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, 30, "redis-server", self.log)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url()).flushall()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
