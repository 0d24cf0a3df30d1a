"""Grades LaTeX derivation homework against a live network, numerically and symbolically.

The public API::

    import grader
    problem = grader.load_problem("backprop")
    result = grader.grade_answer(problem, "c", r"\\delta_k b_j")      # a PartResult
    result = grader.grade_file(problem, "submissions/seed.md")       # a SubmissionResult
    result = grader.grade_submission(problem, {"a": r"\\sigma(x)(1-\\sigma(x))"}, name="ann")
    grader.preview(problem, "b", r"(c_k - t_k) g'(h_k)")             # how it is read

Results serialise to the JSON contract with ``.to_json()``. Every part is graded in a worker
process under the problem's hard time limit (see ``grader.pool``).
"""

from importlib import import_module

# name -> module that defines it. Imported on first use (PEP 562), so ``import grader.errors``
# (the pytest plugin does it in every test run) does not load NumPy and SymPy.
_EXPORTS = {
    "grade_answer": "api", "grade_file": "api", "grade_submission": "api", "preview": "api",
    "read_submission_for": "api",
    "ExtractedAnswer": "documents", "Submission": "documents", "parse_document": "documents",
    "read_submission": "documents",
    "AnswerError": "errors", "GraderError": "errors", "IndexMismatch": "errors",
    "ProblemNotFound": "errors", "SpecError": "errors", "SubmissionError": "errors",
    "GradingPool": "pool",
    "Part": "problem", "Problem": "problem", "list_problems": "problem", "load_problem": "problem",
    "PartResult": "results", "Step": "results", "SubmissionResult": "results",
    "Verdict": "results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grader' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
