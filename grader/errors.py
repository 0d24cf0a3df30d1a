"""One error hierarchy for the whole grader.

Every error the grader raises on purpose is a ``GraderError``: it carries a message written
for the person who caused it (a student, a TA or an instructor) and an exit code for the CLI.
Surfaces catch ``GraderError`` once and show ``str(error)``; anything else is a bug.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpecError(GraderError):
    """A problem spec is malformed: names the file and the key (and the line when known)."""

    exit_code = 2

    def __init__(self, file: str, key: str, problem: str, line: int | None = None):
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: key '{key}': {problem}")
        self.file, self.key, self.problem, self.line = file, key, problem, line


class ProblemNotFound(GraderError):
    """No problem spec with that id or path."""

    exit_code = 2


class SubmissionError(GraderError):
    """A submission file cannot be read (missing, too large, not text, unknown format)."""

    exit_code = 3


class SubmissionTooLarge(SubmissionError):
    """A submission over a size limit: a file or document over 1 MB, an answer longer than an
    answer box holds (the web answers it with 413)."""


class OverrideError(GraderError):
    """A TA's override that cannot stand: a score outside the part's points, a verdict that is
    not one of the contract's, a comment that is not text or is too long."""


class CourseError(GraderError):
    """Course data that cannot stand: an assignment with a bad field, a roster CSV with a bad
    line, an LTI platform registration that is incomplete. The message names the field or
    the line."""


class AttemptRefused(GraderError):
    """A student's attempt that the assignment's rules do not allow: it is not open yet, it
    is past its due date (and any late period), or no attempt is left. ``reason`` is one of
    ``not_open``, ``closed``, ``no_attempts``, ``not_enrolled``. The student's text is kept
    by whoever raised it."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class AnswerError(GraderError):
    """A student's answer cannot be read as mathematics; the verdict is ``invalid``.

    ``position`` is the 0-based character offset in the answer where the problem is,
    or None when the problem is the answer as a whole.
    """

    def __init__(self, message: str, position: int | None = None, text: str = ""):
        self.position = position
        self.text = text
        super().__init__(message)

    @property
    def snippet(self) -> str:
        """The answer text around the position, with a caret line under it."""
        if self.position is None or not self.text:
            return ""
        start = max(0, self.position - 20)
        line = self.text[start : self.position + 20].replace("\n", " ")
        return f"{line}\n{' ' * (self.position - start)}^"

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} (at character {self.position + 1})"


class IndexMismatch(GraderError):
    """An answer reads fine but uses an index where the quantity has another (``a_j``, ``w_{kj}``).

    Graded ``incorrect`` with this message, not ``invalid``: the student wrote real mathematics,
    only with the wrong index.
    """


class EvaluationError(GraderError):
    """An expression cannot be evaluated on the network: a construction the evaluator does not
    support, a unit that does not exist, a number too large to recompute exactly. Graded
    ``review`` (a TA decides), never a crash."""


class ShapeMismatch(IndexMismatch, EvaluationError):
    """A vector-matrix expression whose shapes do not fit: a product of sizes that do not
    match, a sum of a column and a row. An answer of the wrong shape is graded ``incorrect``
    with the shapes named, like an index mismatch (the student wrote real mathematics, of the
    wrong shape); where a side remark is evaluated, it cannot be, like any EvaluationError."""
