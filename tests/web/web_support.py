"""Helpers for the web service tests: real databases (SQLite files, and a real PostgreSQL
server the tests start themselves), a real grading pool, a real waitress server on loopback
and real headless Chromium (Debian's, driven by Playwright).

Every test that opens a store runs once per backend (``BACKENDS``; the ``backend`` fixture
of conftest.py picks one). A test names its database as a SQLite path (``tmp_path /
"grader.db"``); ``database_for`` turns that path into the database of the backend in force:
the file itself on SQLite, a fresh PostgreSQL database (one per path, so a test that reopens
"the same file" reopens the same database) on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from grader.pool import GradingPool
from grader.web import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from services import Postgres  # noqa: E402  (tests/services.py)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "submissions" / "seed.md"
# The browser test saves its screenshots here; `make screenshots` points it at docs/images so
# an ordinary test run never rewrites tracked files.
IMAGES = Path(os.environ.get("GRADER_SCREENSHOT_DIR") or
              Path(os.environ.get("TMPDIR", "/tmp")) / "grader-screenshots")
TOKEN = "instructor-test-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

# The seed's final answers, as a student would type them into the form.
SEED_ANSWERS = {
    "a": r"\sigma(x)(1 - \sigma(x))",
    "b": r"(c_k - t_k) g'(h_k)",
    "c": r"\delta_k b_j",
    "d": r"\delta_k",
    "e": r"g'(z_j) \sum_k \delta_k w_{jk}",
    "f": r"\psi_j a_i",
    "g": r"\psi_j",
}
# Grading this makes SymPy expand for far longer than the part's time limit.
# Right in value, but its proof expands two 60th powers of sums: SymPy takes minutes.
SLOW_G = (r"\psi_j + ((\sum_i a_i + e_j) + (\sum_k t_k + \sum_k f_k))^{60} - ((\sum_i a_i + e_j)^2"
          r" + 2(\sum_i a_i + e_j)(\sum_k t_k + \sum_k f_k) + (\sum_k t_k + \sum_k f_k)^2)^{30}")


BACKENDS = ("sqlite", "postgresql")
current = {"backend": "sqlite"}
_postgres: list[Postgres] = []
_databases: dict[tuple[str, str], str] = {}


def postgres() -> Postgres:
    """The tests' PostgreSQL server, started on first use (stopped by conftest.py)."""
    if not _postgres:
        server = Postgres()
        from grader.web.storage import Store

        template = server.url("grader_template")     # migrated once, copied per database
        Store(template).close()
        _postgres.append(server)
    return _postgres[0]


def stop_postgres() -> None:
    while _postgres:
        _postgres.pop().stop()


def database_for(db: Path | str) -> str:
    """The database a test's SQLite path stands for under the backend in force."""
    text = str(db)
    if "://" in text or current["backend"] == "sqlite":
        return text
    key = (current["backend"], text)
    if key not in _databases:
        _databases[key] = postgres().url(template="grader_template")
    return _databases[key]


def sql(app_or_url, query: str, **params) -> list[tuple]:
    """Rows of a raw SQL query on an app's database (or a URL's), either backend."""
    from grader.web.storage import make_engine

    url = app_or_url if isinstance(app_or_url, str) else \
        app_or_url.extensions["grader_store"].url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query), params)]
    finally:
        engine.dispose()


def dump(app_or_url) -> str:
    """Every row of every table, as text: for checking that a secret is not stored."""
    from grader.web.schema import metadata

    return "\n".join(repr(row) for table in metadata.sorted_tables
                     for row in sql(app_or_url, f"SELECT * FROM {table.name}"))


def make_app(db: Path | str, pool: GradingPool, **extra):
    """The app on a real database (``database_for``) and a real pool. Requests wait up to
    30 s for a result here (2 s by default), so a test that does not test the wait sees the
    result at once; the tests of the wait set it short."""
    config = {"TESTING": True, "DATABASE": database_for(db), "INSTRUCTOR_TOKEN": TOKEN,
              "SECRET_KEY": "test-secret", "GRADING_POOL": pool,
              "GRADE_PENDING_ON_START": False, "GRADING_WAIT_SECONDS": 30}
    config.update(extra)
    return create_app(config)


def problems_dir(folder: Path, time_limit: float | None = None,
                 extra: dict[str, str] | None = None) -> Path:
    """A folder of problem specs for $GRADER_PROBLEMS: copies of the shipped ones (with
    ``time_limit`` set, if given), plus ``extra`` files {name: text}."""
    from grader.problem import scan_problems

    folder.mkdir(parents=True, exist_ok=True)
    for problem in scan_problems().problems:
        text = Path(problem.path).read_text(encoding="utf-8")
        if time_limit is not None:
            text, n = re.subn(r"(?m)^time_limit\s*=.*$", f"time_limit = {time_limit}", text)
            if not n:
                text = f"time_limit = {time_limit}\n" + text
        (folder / Path(problem.path).name).write_text(text, encoding="utf-8")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def wait_for(predicate, timeout: float = 60, pause: float = 0.05, what: str = "it"):
    """Poll ``predicate`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app under waitress in a thread, on a free loopback port."""

    def __init__(self, app, threads: int = 4):
        from waitress import create_server

        self.app = app
        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:         # the socket closed under select() at close(): expected
            if not self._closing:
                raise

    def request(self, method: str, path: str, body: object = None, headers: dict | None = None,
                raw: bytes | None = None, timeout: float = 60):
        """(status, headers, decoded JSON or text) of one HTTP request."""
        headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, head, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, head, payload = err.code, err.headers, err.read()
        text = payload.decode("utf-8")
        if head.get_content_type() == "application/json":
            return status, head, json.loads(text)
        return status, head, text

    def timed(self, method: str, path: str, body: object = None, **kwargs):
        """(seconds, status, headers, body) of one request."""
        started = time.perf_counter()
        status, headers, payload = self.request(method, path, body, **kwargs)
        return time.perf_counter() - started, status, headers, payload

    def close(self) -> None:
        self._closing = True
        self.server.close()
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(timeout=5)



class ServeProcess:
    """``grader serve`` as a subprocess in its own process group (so it can be killed whole)."""

    def __init__(self, db: Path | str, port: int, cwd: Path, extra: list[str] | None = None,
                 env: dict[str, str] | None = None):
        env = dict(os.environ, GRADER_INSTRUCTOR_TOKEN=TOKEN, PYTHONUNBUFFERED="1") \
            if env is None else dict(env, PYTHONUNBUFFERED="1")
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{port}-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("grader")), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--db", database_for(db), "--workers", "1", *(extra or [])],
            cwd=cwd, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"grader serve exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/problems", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"grader serve did not start:\n{self.log.read_text()}")

    def kill_group(self) -> None:
        """SIGKILL the server and every process it started (forkserver, grading workers)."""
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_group()
        else:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass




class WorkerProcess:
    """``grader worker`` as a subprocess in its own process group, ready once Celery says so."""

    def __init__(self, broker: str, db: str | None, cwd: Path, name: str,
                 concurrency: int = 1, env: dict[str, str] | None = None,
                 visibility: float = 4.0):
        env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1",
                   GRADER_VISIBILITY_TIMEOUT=str(visibility))
        self.name = name
        self.log = cwd / f"worker-{name}-{time.monotonic_ns()}.log"
        argv = [str(Path(sys.executable).with_name("grader")), "worker", "--broker", broker,
                "--concurrency", str(concurrency), "--hostname", f"{name}@127.0.0.1",
                "--loglevel", "INFO"]
        if db:
            argv += ["--db", db]
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log.open("wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"grader worker exited:\n{self.text()}")
            if " ready." in self.text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"grader worker did not start:\n{self.text()}")

    def kill_group(self) -> None:
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill_group()
        else:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


ServeProcess.request = LiveServer.request    # type: ignore[attr-defined]  # (status, headers, body)
