"""Tests for grader.pool: the hard per-part time limit, from any thread, and a shared pool."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.api import job_for
from grader.errors import GraderError
from grader.pool import GradingPool, Job
from grader.problem import load_problem
from grader.results import Verdict

ROOT = Path(__file__).resolve().parent.parent
# Right in value, but its proof expands two 60th powers of sums: SymPy takes minutes.
HANG = (r"\psi_j + ((\sum_i a_i + e_j) + (\sum_k t_k + \sum_k f_k))^{60} - ((\sum_i a_i + e_j)^2"
        r" + 2(\sum_i a_i + e_j)(\sum_k t_k + \sum_k f_k) + (\sum_k t_k + \sum_k f_k)^2)^{30}")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The backprop problem with a one-second limit per part."""
    text = (ROOT / "problems" / "backprop.toml").read_text(encoding="utf-8")
    assert "time_limit = 10" in text
    path = tmp_path_factory.mktemp("spec") / "quick.toml"
    path.write_text(text.replace("time_limit = 10", "time_limit = 1", 1), encoding="utf-8")
    problem = load_problem(path)
    assert problem.time_limit == 1
    return problem


def test_hung_part_is_killed_from_a_thread(quick, pool) -> None:
    """SymPy expanding a 60th power for minutes is stopped at 1 s, from a non-main thread."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(
        result=pool.run(job_for(quick, "g", HANG))))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    result = box["result"]
    assert result.verdict is Verdict.REVIEW and result.score == 0
    assert "timeout" in result.flags
    assert "1 s limit" in result.feedback and "TA will review" in result.feedback
    assert 900 <= result.elapsed_ms < 10_000
    # the pool keeps working afterwards
    again = pool.run(job_for(quick, "g", r"\psi_j"))
    assert again.verdict is Verdict.CORRECT


def test_many_threads_share_one_pool(backprop, pool) -> None:
    answers = [("c", r"\delta_k b_j", Verdict.CORRECT),
               ("c", r"\delta_k w_{jk}", Verdict.INCORRECT),
               ("b", "(t_k - c_k) g'(h_k)", Verdict.PARTIAL), ("d", r"\foo", Verdict.INVALID),
               ("g", r"\psi_j", Verdict.CORRECT), ("e", r"\psi_j", Verdict.INCORRECT)] * 4

    def grade(row):
        part, latex, verdict = row
        return pool.run(job_for(backprop, part, latex)).verdict is verdict

    with ThreadPoolExecutor(max_workers=8) as threads:
        assert all(threads.map(grade, answers))


def test_map_keeps_the_order(backprop, pool) -> None:
    jobs = [job_for(backprop, p, r"\psi_j") for p in "efg"]
    assert [r.part for r in pool.map(jobs)] == list("efg")
    assert [r.verdict for r in pool.map(jobs)] == [Verdict.INCORRECT, Verdict.INCORRECT,
                                                   Verdict.CORRECT]


def test_internal_error_is_review_not_a_crash(pool) -> None:
    result = pool.run(Job("/nonexistent/spec.toml", "a", "x", 1.0, 5))
    assert result.verdict is Verdict.REVIEW and "could not finish" in result.feedback


def test_closed_pool_refuses() -> None:
    closed = GradingPool(workers=1)
    closed.close()
    with pytest.raises(GraderError, match="closed"):
        closed.run(Job("x", "a", "x", 1.0, 1))
