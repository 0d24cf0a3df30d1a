"""Fixtures for the web service tests: real databases (SQLite files and a PostgreSQL server
started here), a real grading pool, a real waitress server on loopback and real headless
Chromium (Debian's, driven by Playwright).

Every test that grades (it takes the ``pool`` fixture, directly or through ``app``,
``client`` or ``live``) runs on both backends, SQLite and PostgreSQL: ``[sqlite]`` and
``[postgresql]`` in its id. The browser tests drive the pages, which do not depend on the
store, and run on SQLite only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import web_support
from web_support import (
    BACKENDS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SEED,
    TOKEN,
    LiveServer,
    ServeProcess,
    free_port,
    make_app,
)

from grader.pool import GradingPool


def pytest_generate_tests(metafunc):
    if "pool" in metafunc.fixturenames and "backend" not in metafunc.fixturenames \
            and not metafunc.module.__name__.endswith("test_web_browser"):
        metafunc.fixturenames.append("backend")
    if "backend" in metafunc.fixturenames:
        browser = metafunc.module.__name__.endswith("test_web_browser")
        metafunc.parametrize("backend", ["sqlite"] if browser else list(BACKENDS),
                             indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend(request):
    """The store's engine for this test: its databases are made there (``database_for``)."""
    web_support.current["backend"] = request.param
    yield request.param
    web_support.current["backend"] = "sqlite"


@pytest.fixture(scope="session", autouse=True)
def _stop_postgres():
    yield
    web_support.stop_postgres()


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a free loopback port, for the broker and the shared limits."""
    from services import Redis

    server = Redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pool():
    with GradingPool(workers=2) as shared:
        yield shared


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def app(tmp_path, pool, backend):
    return make_app(tmp_path / "grader.db", pool)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory, pool, backend):
    server = LiveServer(make_app(tmp_path_factory.mktemp("live") / "grader.db", pool))
    yield server
    server.close()


@pytest.fixture
def serve_process(tmp_path, backend):
    started: list[ServeProcess] = []

    def start(db: Path, port: int | None = None) -> ServeProcess:
        proc = ServeProcess(db, port or free_port(), tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium. If it cannot start, the test fails (CI installs it)."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: install it with `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()
