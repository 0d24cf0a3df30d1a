"""Gradebooks: the one CSV writer of ``grader batch`` (grades.csv, canvas.csv) and of the web
service's gradebook export.

Both surfaces hand in results (the web's with the TAs' overrides already applied, see
``grader.results.apply_overrides``) and get the same text:

- **Columns.** ``student``, one column per part of the problem in the spec's order, ``total``.
- **Rows.** One per result, ordered by student name (case-insensitively, then exactly).
- **Numbers.** Scores as plain numbers (``1``, ``0.75``), rounded to 6 decimals.
- **A part the result does not have** (it was graded against an older version of the spec)
  is an empty cell: not graded, rather than a 0 nobody gave. A part with no answer is in the
  result as ``missing`` with 0 points, and shows ``0``.
- **Escaping.** The csv module's quoting, ``\\n`` line ends, and no cell a spreadsheet would
  run as a formula: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading ``'`` (OWASP's advice for CSV injection). Scores never start so.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from .problem import Problem
from .results import SubmissionResult

GRADES_FILE = "grades.csv"
CANVAS_FILE = "canvas.csv"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def points(value: float) -> str:
    """A score as the gradebooks write it: ``1``, ``0.75``, ``8``."""
    return f"{round(value, 6):g}"


def _ordered(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    return sorted(results, key=lambda r: (r.submission.casefold(), r.submission))


def _csv(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def grades_csv(problem: Problem, results: Iterable[SubmissionResult]) -> str:
    """grades.csv: ``student``, one column per part, ``total``; one row per result."""
    rows: list[list[object]] = [["student", *problem.parts, "total"]]
    for result in _ordered(results):
        rows.append([result.submission,
                     *(points(result.parts[p].score) if p in result.parts else ""
                       for p in problem.parts),
                     points(result.score)])
    return _csv(rows)


# Canvas names downloaded submissions ``<name>[_late]_<user id>_<submission id>_<file>``.
_CANVAS_DOWNLOAD = re.compile(r"^(?P<name>[^_]+)_(?:late_)?(?P<uid>\d+)_\d+(?:_|$)", re.I)

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "Section")


def canvas_identity(submission: str) -> dict[str, str]:
    """The Canvas identity columns for a submission name (see docs/batch.md).

    A name as Canvas downloads it (``smithjane_123456_7890_hw.md``) gives the Canvas user ID;
    any other name is taken as the student's SIS User ID.
    """
    match = _CANVAS_DOWNLOAD.match(submission)
    if match:
        return {"Student": match["name"], "ID": match["uid"], "SIS User ID": "", "Section": ""}
    return {"Student": submission, "ID": "", "SIS User ID": submission, "Section": ""}


def canvas_csv(problem: Problem, results: Iterable[SubmissionResult], *,
               assignment: str | None = None) -> str:
    """canvas.csv, for Canvas's Gradebook import: identity columns, then one assignment column.

    The header of the assignment column is ``assignment`` (default: the problem id). Canvas
    reads a header ``Name (12345)`` as the existing assignment with id 12345 and any other
    header as a new assignment, whose points come from the ``Points Possible`` row.
    """
    rows: list[list[object]] = [[*CANVAS_COLUMNS, assignment or problem.id],
                                ["Points Possible", "", "", "", points(problem.points)]]
    for result in _ordered(results):
        who = canvas_identity(result.submission)
        rows.append([*(who[c] for c in CANVAS_COLUMNS), points(result.score)])
    return _csv(rows)


# ------------------------------------------------------------------------ assignments
ASSIGNMENT_COLUMNS = ("student_id", "name", "email", "attempts", "counted_attempt",
                      "raw_score", "late_penalty", "score", "max_score")


def assignment_csv(rows: Iterable[tuple], max_score: float) -> str:
    """An assignment's gradebook keyed by student id: one row per student of ``rows``
    (``(student, counting AttemptScore or None, attempts used)``, as
    ``CourseStore.gradebook`` gives them), the score that counts after its late penalty; an
    empty score is nothing graded yet."""
    out: list[list[object]] = [list(ASSIGNMENT_COLUMNS)]
    for student, counted, used in sorted(rows, key=lambda r: r[0].id):
        out.append([student.id, student.name, student.email, used,
                    counted.number if counted else "",
                    points(counted.raw) if counted else "",
                    f"{counted.penalty:g}" if counted else "",
                    points(counted.score) if counted else "", points(max_score)])
    return _csv(out)


def assignment_canvas_csv(rows: Iterable[tuple], title: str, max_score: float) -> str:
    """The same scores for Canvas's Gradebook import: the student id as the SIS User ID."""
    out: list[list[object]] = [[*CANVAS_COLUMNS, title],
                               ["Points Possible", "", "", "", points(max_score)]]
    for student, counted, _ in sorted(rows, key=lambda r: r[0].id):
        out.append([student.name, "", student.id, "",
                    points(counted.score) if counted else ""])
    return _csv(out)
