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

from .api import grade_answer, grade_file, grade_submission, preview, read_submission_for
from .documents import ExtractedAnswer, Submission, parse_document, read_submission
from .errors import (
                     AnswerError,
                     GraderError,
                     IndexMismatch,
                     ProblemNotFound,
                     SpecError,
                     SubmissionError,
)
from .pool import GradingPool
from .problem import Part, Problem, list_problems, load_problem
from .results import PartResult, Step, SubmissionResult, Verdict

__all__ = [
    "AnswerError", "ExtractedAnswer", "GraderError", "GradingPool",
    "IndexMismatch", "Part", "PartResult", "Problem", "ProblemNotFound", "SpecError", "Step",
    "Submission", "SubmissionError", "SubmissionResult", "Verdict", "grade_answer", "grade_file",
    "grade_submission", "list_problems", "load_problem", "parse_document", "preview",
    "read_submission", "read_submission_for",
]
