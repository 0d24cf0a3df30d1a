"""The public operations every surface (CLI, web app, pytest plugin) calls.

Grading always goes through a ``GradingPool`` so every part runs under the problem's hard
time limit in a process that can be killed. Pass your own pool to share workers (the web app
and ``grader batch`` do); otherwise one shared pool is started on first use.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from pathlib import Path

from .documents import ExtractedAnswer, Submission, parse_answers_json, read_submission
from .errors import AnswerError, IndexMismatch
from .expr import to_latex, to_mathml
from .pool import GradingPool, Job
from .problem import Problem, load_problem
from .reader import read
from .results import PartResult, SubmissionResult

_shared: GradingPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> GradingPool:
    """The process-wide pool used when a caller passes none."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GradingPool()
            atexit.register(_shared.close)
        return _shared


def _problem(problem: Problem | str | Path) -> Problem:
    return problem if isinstance(problem, Problem) else load_problem(problem)


def job_for(problem: Problem, part_id: str, latex: str) -> Job:
    part = problem.part(part_id)
    return Job(problem.path, part_id, latex, part.points, problem.time_limit)


def grade_answer(problem: Problem | str | Path, part_id: str, latex: str, *,
                 pool: GradingPool | None = None) -> PartResult:
    """Grade one answer to one part, under the problem's time limit."""
    problem = _problem(problem)
    return (pool or shared_pool()).run(job_for(problem, part_id, latex))


def grade_submission(problem: Problem | str | Path,
                     submission: Submission | Mapping[str, str], *, name: str = "",
                     pool: GradingPool | None = None) -> SubmissionResult:
    """Grade every part of a submission; parts it does not answer are ``missing``."""
    problem = _problem(problem)
    if not isinstance(submission, Submission):
        submission = parse_answers_json({"answers": dict(submission)}, list(problem.parts), name)
    pool = pool or shared_pool()
    found = {pid: a for pid, a in submission.answers.items() if pid in problem.parts}
    jobs = [job_for(problem, pid, answer.latex) for pid, answer in found.items()]
    return assemble_result(problem, name or submission.name, dict(zip(found, pool.map(jobs))))


def assemble_result(problem: Problem, name: str,
                    graded: Mapping[str, PartResult]) -> SubmissionResult:
    """A submission's result: every part of ``problem`` in the spec's order, the graded ones
    from ``graded`` and the others ``missing`` (``PartResult.missing``)."""
    return SubmissionResult(problem.id, name, {
        pid: graded[pid] if pid in graded else PartResult.missing(pid, part.points)
        for pid, part in problem.parts.items()})


def read_submission_for(problem: Problem, path: str | Path) -> Submission:
    """Read a submission file (json, md, tex, txt) for ``problem``'s parts."""
    prompts = {pid: part.prompt for pid, part in problem.parts.items()}
    return read_submission(path, list(problem.parts), prompts)


def grade_file(problem: Problem | str | Path, path: str | Path, *,
               pool: GradingPool | None = None) -> SubmissionResult:
    """Read and grade one submission file."""
    problem = _problem(problem)
    return grade_submission(problem, read_submission_for(problem, path), pool=pool)


def preview(problem: Problem | str | Path, part_id: str, latex: str) -> dict:
    """How the grader reads ``latex`` for a part: {"interpreted", "mathml"}.

    Raises ``AnswerError`` (with ``position``) when it cannot be read. Reading is linear in the
    (length-limited) text, so it runs in the caller's thread; grading never does.
    """
    problem = _problem(problem)
    part = problem.part(part_id)
    try:
        chain = read(latex, part.vocabulary)
    except IndexMismatch as err:
        raise AnswerError(str(err)) from None
    return {
        "interpreted": " = ".join(to_latex(e) for e in chain),
        "mathml": to_mathml(chain),
    }


__all__ = ["ExtractedAnswer", "GradingPool", "Submission", "assemble_result", "grade_answer",
           "grade_file", "grade_submission", "preview", "read_submission_for", "shared_pool"]
