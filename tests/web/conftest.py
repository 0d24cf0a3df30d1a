"""Fixtures for the web service tests: real SQLite files, a real grading pool, a real waitress
server on loopback and real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from web_support import (
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


@pytest.fixture(scope="session")
def pool():
    with GradingPool(workers=2) as shared:
        yield shared


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def app(tmp_path, pool):
    return make_app(tmp_path / "grader.db", pool)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory, pool):
    server = LiveServer(make_app(tmp_path_factory.mktemp("live") / "grader.db", pool))
    yield server
    server.close()


@pytest.fixture
def serve_process(tmp_path):
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
