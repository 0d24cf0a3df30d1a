"""pytest plugin: test problem specs like code (the ``grader`` pytest11 entry point).

Installed with the package, so it is active in any pytest run of the same environment.

The ``grade`` fixture grades one answer the way a student's is graded (``grader.api`` through a
``GradingPool``, under the problem's hard time limit)::

    def test_c(grade):
        r = grade("backprop", "c", r"b_j \\delta_k")
        assert r.verdict == "correct"          # also r.score, r.max_score, r.feedback

The problem is an id found on the problem search path (``$GRADER_PROBLEMS``, ``./problems``,
the problems installed with the grader: ``grader.problem.problem_dirs()``), a path to a spec
file, or a loaded ``Problem``. One pool serves the whole session and is closed at its end.

``pytest --grader-examples`` also collects every spec's own checks as test items, one per
answer the spec states, with ids such as ``backprop::c::accept[b_j \\delta_k]``:

- ``verify``: the reference against the live network (``grader.authoring.check_reference``);
- ``reference[...]``: the reference graded as an answer gets full credit;
- ``mistake[...]``: the mistake's answer gets its own feedback and credit;
- ``accept[...]`` / ``reject[...]``: full credit / less than full credit.

``--grader-problem ID_OR_PATH`` (repeatable) chooses the specs and implies
``--grader-examples``; without it every spec on the problem search path is collected. Select further
with ``-k``, as usual (``-k "softmax and accept"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .errors import GraderError

if TYPE_CHECKING:  # the grader (NumPy, SymPy) is imported only when a test uses it
    from .authoring import Case
    from .pool import GradingPool
    from .problem import Problem
    from .results import PartResult

_POOL = pytest.StashKey["GradingPool"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "derivation grader: problem specs")
    group.addoption("--grader-examples", action="store_true", default=False,
                    help="collect every problem spec's reference, mistakes and accept/reject "
                         "examples as test items")
    group.addoption("--grader-problem", action="append", default=[], metavar="ID_OR_PATH",
                    help="collect this spec's checks (repeatable; implies --grader-examples; "
                         "default: every spec on the problem search path)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "grader_spec: a check collected from a problem spec")


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.close()


def session_pool(config: pytest.Config) -> GradingPool:
    """The session's grading pool, started on first use and closed when pytest ends."""
    pool = config.stash.get(_POOL, None)
    if pool is None:
        from .pool import GradingPool

        pool = config.stash[_POOL] = GradingPool()
    return pool


# ------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def grader_pool(pytestconfig: pytest.Config) -> GradingPool:
    """The session's ``GradingPool`` (worker processes with hard time limits)."""
    return session_pool(pytestconfig)


@pytest.fixture
def grade(grader_pool: GradingPool):
    """Grade an answer for real: ``grade(problem, part_id, latex) -> PartResult``.

    ``problem`` is an id, a path to a spec or a ``Problem``. The result has ``.score``,
    ``.max_score``, ``.verdict`` (equal to strings such as ``"correct"``) and ``.feedback``.
    """

    from . import api

    def grade(problem: Problem | str | Path, part_id: str, latex: str) -> PartResult:
        return api.grade_answer(problem, part_id, latex, pool=grader_pool)

    return grade


# ------------------------------------------------------------------------ spec items

def _selected(config: pytest.Config) -> list[str] | None:
    refs = config.getoption("grader_problem")
    if refs:
        return list(refs)
    if config.getoption("grader_examples"):
        from .problem import scan_problems

        # every spec on the search path; a broken one becomes its collector's collection error
        scan = scan_problems()
        return sorted([p.path for p in scan.problems] + [str(path) for path, _ in scan.broken],
                      key=lambda path: Path(path).stem)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Add the specs' items (first, so that ``-k`` and ``-m`` select among them too)."""
    refs = _selected(config)
    if refs is None:
        return
    from .problem import load_problem

    for ref in refs:
        try:
            name = load_problem(ref).id
        except GraderError:  # reported as this collector's collection error
            name = Path(ref).stem if ref.endswith(".toml") else ref
        collector = SpecCollector.from_parent(session, name=name, nodeid=name, ref=ref)
        items.extend(session.genitems(collector))


class SpecCheckFailed(GraderError):
    """A spec check came out otherwise than the spec says."""


class SpecCollector(pytest.Collector):
    """One problem spec: loads it (a malformed spec is a collection error) and lists its parts."""

    def __init__(self, *, ref: str, **kwargs):
        super().__init__(**kwargs)
        self.ref = ref

    def collect(self):
        from .problem import load_problem

        problem = load_problem(self.ref)
        self.path = Path(problem.path)
        for part_id in problem.parts:
            yield PartCollector.from_parent(self, name=part_id, problem=problem)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, GraderError):
            return f"{self.ref}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"problem spec {self.ref}"


class PartCollector(pytest.Collector):
    """One part of a spec: its ``verify`` item and one item per answer the spec states."""

    def __init__(self, *, problem: Problem, **kwargs):
        super().__init__(**kwargs)
        self.problem = problem

    def collect(self):
        from .authoring import cases

        yield VerifyItem.from_parent(self, name="verify", problem=self.problem)
        for case in cases(self.problem, part_ids={self.name}):
            yield CaseItem.from_parent(self, name=case.name, problem=self.problem, case=case)


class _SpecItem(pytest.Item):
    def __init__(self, *, problem: Problem, **kwargs):
        super().__init__(**kwargs)
        self.problem = problem
        self.path = Path(problem.path)
        self.add_marker("grader_spec")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (SpecCheckFailed, GraderError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, self.nodeid


class VerifyItem(_SpecItem):
    """The part's reference against the live network, numerically and symbolically."""

    def runtest(self) -> None:
        from .authoring import check_reference

        assert self.parent is not None  # collected under its part
        part = self.problem.part(self.parent.name)
        failures = [f for f in check_reference(self.problem, part) if not f.ok]
        if failures:
            raise SpecCheckFailed("\n".join(f.line(self.problem.id) for f in failures))


class CaseItem(_SpecItem):
    """One reference, mistake or accept/reject example, graded for real and judged."""

    def __init__(self, *, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        from .authoring import grade_case

        finding = grade_case(self.problem, self.case, pool=session_pool(self.config))
        if not finding.ok:
            raise SpecCheckFailed(finding.line(self.problem.id))
