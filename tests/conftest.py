"""Shared fixtures: the seed problem, one grading pool per session, the golden-file switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.pool import GradingPool
from grader.problem import Problem, load_problem

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.json from the grader's current results")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def backprop() -> Problem:
    """The seed homework's problem, loaded from problems/backprop.toml."""
    return load_problem("backprop")


@pytest.fixture(scope="session")
def pool():
    """One pool of two grading processes for every test that needs the hard time limit."""
    with GradingPool(workers=2) as shared:
        yield shared
