"""What the web surface does, without Flask: store a submission, have it graded, regrade,
override.

A thin layer over ``grader.api``: the store keeps submissions, the grader's own results and
the instructors' overrides apart, so a regrade replaces the grader's result and the
overrides still apply on top of it. Grading never runs in a request: a submission is stored,
its id goes to the ``GradingQueue``, and a request that wants the result reads the stored
status back (``wait``) for at most a short time.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import api
from ..course import Assignment, Feedback
from ..documents import (
    DOCUMENT_FORMATS,
    ExtractedAnswer,
    Submission,
    decode_text,
    format_for,
    parse_submission,
)
from ..errors import (
    AnswerError,
    AttemptRefused,
    GraderError,
    ProblemNotFound,
    SpecError,
    SubmissionError,
    SubmissionTooLarge,
)
from ..gradebook import grades_csv
from ..pool import GradingPool
from ..problem import Problem, scan_problems
from ..results import Override, SubmissionResult, apply_overrides, review_queue
from ..syntax import MAX_ANSWER_CHARS
from ..text import NAME_CONTROL, check_unicode, first_control
from .coursestore import CourseStore
from .ltistore import LtiStore
from .queue import EmbeddedGradingQueue, GradingQueue
from .storage import PENDING, Regrade, Store, StoredSubmission, matches

log = logging.getLogger(__name__)

MAX_STUDENT_CHARS = 200
_PROBLEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class RequestError(GraderError):
    """A request the service refuses, with the HTTP status to answer it with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class NotFound(RequestError):
    def __init__(self, message: str):
        super().__init__(message, 404)


def http_status(err: GraderError) -> int:
    """The HTTP status a GraderError is answered with, in the API and on the pages alike."""
    if isinstance(err, RequestError):
        return err.status
    if isinstance(err, ProblemNotFound):
        return 404
    if isinstance(err, AnswerError):
        return 422
    if isinstance(err, SubmissionTooLarge):
        return 413
    if isinstance(err, AttemptRefused):
        return 409 if err.reason == "no_attempts" else 403
    return 400


@dataclass(frozen=True)
class Created:
    id: int
    token: str


@dataclass
class ProblemList:
    """The problems that load, and the specs that do not (path, error): ``scan_problems``."""

    problems: list[Problem] = field(default_factory=list)
    broken: list[tuple[Path, SpecError]] = field(default_factory=list)


class GradingService:
    """Submissions in, results out; shared by the JSON API and the pages (thread-safe)."""

    def __init__(self, store: Store, *, workers: int | None = None,
                 pool: GradingPool | None = None, max_answer_chars: int = MAX_ANSWER_CHARS,
                 queue: GradingQueue | None = None, grading_threads: int | None = None,
                 waiters: int = 4):
        self.store = store
        self.course = CourseStore(store)
        self.lti = LtiStore(store)
        self.on_lms_score: Callable[[], None] | None = None   # the score sender's wake-up
        self.max_answer_chars = max_answer_chars
        self._workers = workers
        self._pool = pool
        self._own_pool = pool is None
        self._pool_lock = threading.Lock()
        self.queue = queue or EmbeddedGradingQueue(
            self.grade_one, grading_threads or (pool.size if pool is not None else workers)
            or os.cpu_count() or 2)
        # At most this many request threads wait for a result at once; the others answer
        # "pending" at once, so waiting never holds every thread of the server.
        self._waiters = threading.BoundedSemaphore(max(1, waiters))

    # ----------------------------------------------------------------- the pool
    @property
    def pool(self) -> GradingPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = GradingPool(workers=self._workers)
                atexit.register(self._pool.close)
            return self._pool

    def close(self) -> None:
        self.queue.close()
        with self._pool_lock:
            if self._own_pool and self._pool is not None:
                self._pool.close()
                self._pool = None

    # ------------------------------------------------------------------ problems
    @staticmethod
    def scan() -> ProblemList:
        """Every spec on the problem search path: a broken one is listed with its error and
        the others keep working."""
        found = scan_problems()
        return ProblemList(list(found.problems), list(found.broken))

    def problems(self) -> list[Problem]:
        return self.scan().problems

    def problem(self, problem_id: str) -> Problem:
        """A problem by id, among the problems on the search path (``scan``); never a path."""
        if isinstance(problem_id, str) and _PROBLEM_ID.match(problem_id):
            for problem in self.problems():
                if problem.id == problem_id:
                    return problem
        known = ", ".join(p.id for p in self.problems()) or "none"
        raise ProblemNotFound(f"unknown problem '{_short(str(problem_id))}' (problems: {known})")

    @staticmethod
    def public_problem(problem: Problem) -> dict:
        """What anyone may see of a problem: never a reference answer or a mistake."""
        return {
            "id": problem.id,
            "title": problem.title,
            "points": problem.points,
            "parts": [{"id": p.id, "prompt": p.prompt, "points": p.points}
                      for p in problem.parts.values()],
        }

    # ------------------------------------------------------------------- reading
    # Answers, documents and uploads all go through ``grader.documents.parse_submission``, the
    # path ``grader grade`` and ``grader batch`` take too: the same checks, the same messages.
    def student_name(self, student: object, fallback: str = "") -> str:
        if student is None or (isinstance(student, str) and not student.strip()):
            student = fallback
        if not isinstance(student, str) or not student.strip():
            raise RequestError('"student" is required: the name to file this submission under')
        check_unicode(student, "student")
        control = first_control(student, NAME_CONTROL)
        if control:
            raise RequestError(f'"student" holds a control character ({control}); '
                               "write the name as plain text")
        student = " ".join(student.split())
        if len(student) > MAX_STUDENT_CHARS:
            raise RequestError(f'"student" is too long ({len(student)} characters; '
                               f"the limit is {MAX_STUDENT_CHARS})")
        return student

    def _parse(self, problem: Problem, content: object, fmt: str, student: str,
               where: str) -> Submission:
        prompts = {pid: part.prompt for pid, part in problem.parts.items()}
        return parse_submission(content, list(problem.parts), prompts, fmt=fmt, name=student,
                                where=where, max_answer_chars=self.max_answer_chars)

    def read_answers(self, problem: Problem, answers: object, student: str) -> Submission:
        """Answers by part (the form's boxes, the API's ``"answers"``); blank ones are left
        out, and at least one must be given."""
        submission = self._parse(problem, {"answers": answers}, "json", student, "the answers")
        if not submission.answers:
            raise RequestError("there is no answer to grade: write at least one part")
        return submission

    def read_document(self, problem: Problem, text: object, student: str,
                      fmt: str = "md") -> Submission:
        """A whole document sent as text (pasted in the form, the API's ``"document"``)."""
        if not isinstance(text, str):
            raise RequestError('"document" must be a string holding the whole document')
        if not text.strip():
            raise RequestError("the document is empty")
        fmt = (fmt or "md").lower().lstrip(".")
        if fmt not in DOCUMENT_FORMATS.values():   # a document is text; JSON is "answers"
            raise SubmissionError(f"the document: unknown document format '{_short(fmt)}'; "
                                  "use md, tex or txt")
        return self._parse(problem, text, fmt, student, "the document")

    def read_upload(self, problem: Problem, filename: str, data: bytes,
                    student: str) -> tuple[Submission, str | None]:
        """An uploaded file, read as ``grader grade`` reads the same file: (submission,
        document text or None for JSON)."""
        where = _short(filename or "upload")
        fmt = format_for(filename or "upload", where)
        text = decode_text(data, where)
        submission = self._parse(problem, text, fmt, student, where)
        return submission, None if fmt == "json" else text

    # ------------------------------------------------------------------- grading
    def submit(self, problem: Problem, submission: Submission, student: str, source: str,
               document: str | None = None) -> Created:
        """Store the submission (committed, pending) and queue it for grading; at once."""
        token = secrets.token_urlsafe(24)
        answers = {pid: a.latex for pid, a in submission.answers.items()}
        submission_id = self.store.add_submission(problem.id, student, token, source, answers,
                                                  document)
        self.enqueue(submission_id)
        return Created(submission_id, token)

    def submit_attempt(self, assignment: Assignment, student_id: str, submission: Submission,
                       source: str, document: str | None = None) -> Created:
        """An attempt at ``assignment`` by a signed-in student: stored and queued if the
        assignment's rules allow it now (``AttemptRefused`` otherwise, the answers kept in
        the record of decisions)."""
        token = secrets.token_urlsafe(24)
        answers = {pid: a.latex for pid, a in submission.answers.items()}
        submission_id, _ = self.course.take_attempt(assignment, student_id, token, source,
                                                    answers, document)
        self.enqueue(submission_id)
        return Created(submission_id, token)

    def assignment_of_problem(self, problem: Problem) -> Assignment | None:
        """The first assignment that sets ``problem``: while there is one, the problem takes
        attempts from signed-in students only, under that assignment's rules."""
        for assignment in self.course.assignments():
            if assignment.problem == problem.id:
                return assignment
        return None

    def check_open_submission(self, problem: Problem) -> None:
        """Anonymous submissions (a typed name) are for problems no assignment sets."""
        assignment = self.assignment_of_problem(problem)
        if assignment is not None:
            raise RequestError(f"{problem.title} is set as the assignment "
                               f"\"{assignment.title}\": sign in with your personal link (or "
                               "from your course's LMS) and submit it there", 403)

    def score_changed(self, submission_id: int) -> None:
        """After an attempt is graded or overridden: the counting score is owed to the LMS
        on every link the student launched (``LtiStore.queue_score``)."""
        found = self.course.attempt_of(submission_id)
        if found is None:
            return
        assignment = self.course.assignment(found[0])
        if assignment is not None:
            self.queue_lms_score(assignment, found[1])

    def queue_lms_score(self, assignment: Assignment, student_id: str) -> None:
        """Owe the LMS the student's counting score. When students see nothing until the due
        date, neither does the LMS's gradebook: the score waits until then."""
        try:
            counting = self.course.counting(assignment, student_id)
            if counting is None:
                return
            not_before = (assignment.due_at.timestamp()
                          if assignment.feedback is Feedback.AFTER_DUE else 0.0)
            if self.lti.queue_score(assignment.id, student_id, counting.score,
                                    counting.max_score, not_before) and self.on_lms_score:
                self.on_lms_score()
        except Exception:  # the score is owed again at the next grading or override
            log.exception("could not queue the LMS score of %s on %s", student_id,
                          assignment.id)

    def enqueue(self, submission_id: int) -> None:
        try:
            self.queue.enqueue(submission_id)
        except Exception:  # the submission is safe on disk; a restart or regrade grades it
            log.exception("could not queue submission %s; it stays pending", submission_id)

    def grade_one(self, submission_id: int) -> bool:
        """Load a stored submission, grade it through the pool, save the result (what a
        queue's worker does). A submission not owed a result (graded, and no regrade asks
        for it again: a grading delivered twice) is left as it is. True if a result was
        saved now."""
        stored = self.store.get(submission_id)
        if stored is None or (stored.status != PENDING and stored.regrade_id is None):
            return False
        try:
            problem = self.problem(stored.problem)
            # the answers as stored: they passed parse_submission's checks when they came in
            submission = Submission(stored.student, {
                pid: ExtractedAnswer(pid, latex) for pid, latex in stored.answers.items()})
            result = api.grade_submission(problem, submission, pool=self.pool)
        except Exception as err:
            log.exception("grading submission %s failed", submission_id)
            self.store.grading_failed(submission_id, f"{type(err).__name__}: {err}")
            return False
        saved = self.store.save_result(submission_id, result.to_json())
        if saved:
            self.score_changed(submission_id)
        return saved

    def wait(self, submission_id: int, timeout: float) -> StoredSubmission:
        """The submission once graded, or as it is after ``timeout`` seconds (read back from
        the store; only a few request threads wait at a time, the rest do not wait)."""
        if timeout > 0 and self._waiters.acquire(blocking=False):
            try:
                deadline = time.monotonic() + timeout
                pause = 0.01
                while self._still_grading(submission_id):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    time.sleep(min(pause, left))
                    pause = min(pause * 1.5, 0.1)
            finally:
                self._waiters.release()
        return self.get(submission_id)

    def _still_grading(self, submission_id: int) -> bool:
        found = self.store.status(submission_id)
        return found is not None and found[0] == PENDING and found[1] is None

    def start_regrade(self, problem: Problem) -> tuple[Regrade, list[int], bool]:
        """Queue every submission to ``problem`` for grading again (pending ones too), unless
        a regrade of it is running: (the regrade, its submissions, whether it started now)."""
        regrade, ids, started = self.store.start_regrade(problem.id)
        if started:
            for submission_id in ids:
                self.enqueue(submission_id)
        return regrade, ids, started

    def grade_pending(self) -> int:
        """Queue what a previous run left unfinished (never graded, or owed a regrade)."""
        ids = self.store.to_grade()
        for submission_id in ids:
            self.enqueue(submission_id)
        return len(ids)

    def start_grading_pending(self) -> int:
        return self.grade_pending()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the embedded queue has nothing waiting or running (tests, shutdown)."""
        waiter = getattr(self.queue, "wait_idle", None)
        return waiter(timeout) if waiter else True

    # ------------------------------------------------------------------- reading
    def get(self, submission_id: int) -> StoredSubmission:
        stored = self.store.get(submission_id)
        if stored is None:
            raise NotFound(f"no submission {submission_id}")
        return stored

    def get_for_student(self, submission_id: int, token: str | None) -> StoredSubmission:
        """The submission if ``token`` is its token; the same 404 otherwise (no probing)."""
        stored = self.store.get(submission_id)
        if stored is None or not matches(token, stored.token_hash):
            raise NotFound("no submission with that id and token")
        return stored

    @staticmethod
    def effective_result(stored: StoredSubmission) -> SubmissionResult | None:
        """The result a student sees: the grader's, with the instructors' overrides on top
        (``grader.results.apply_overrides``); None while it is not graded."""
        if stored.result is None:
            return None
        return apply_overrides(SubmissionResult.from_json(stored.result), stored.overrides)

    @classmethod
    def effective(cls, stored: StoredSubmission) -> dict | None:
        """``effective_result`` as the result contract (JSON)."""
        result = cls.effective_result(stored)
        return result.to_json() if result is not None else None

    def student_result(self, stored: StoredSubmission) -> tuple[dict | None, str | None]:
        """What a student may see of their submission: the effective result filtered by
        its assignment's feedback setting (``Assignment.shown``), and a note saying what is
        held back. A submission that is no attempt is shown whole."""
        result = self.effective(stored)
        found = self.course.attempt_of(stored.id)
        assignment = self.course.assignment(found[0]) if found else None
        if assignment is None:
            return result, None
        now = datetime.now(UTC)
        return assignment.shown(result, now), assignment.result_note(now)

    def student_view(self, stored: StoredSubmission) -> dict:
        result, note = self.student_result(stored)
        view = {"id": stored.id, "student": stored.student, "status": stored.status,
                "result": result}
        if note:
            view["note"] = note
        return view

    def view(self, stored: StoredSubmission) -> dict:
        return {"id": stored.id, "student": stored.student, "status": stored.status,
                "result": self.effective(stored)}

    def summary(self, stored: StoredSubmission) -> dict:
        result = self.effective(stored)
        return {"id": stored.id, "student": stored.student, "status": stored.status,
                "score": result["score"] if result else None,
                "max_score": result["max_score"] if result else None,
                "created_at": stored.created_at, "graded_at": stored.graded_at,
                "overrides": len(stored.overrides),
                "regrading": stored.regrade_id is not None, "error": stored.grade_error}

    def page(self, problem: Problem, page: object, per_page: int) -> dict:
        """One page of a problem's submissions, newest first: ``{"submissions", "page",
        "pages", "total", "per_page"}``; a page number out of range gives the nearest page."""
        total = self.store.count(problem.id)
        pages = max(1, -(-total // per_page))
        try:
            number = int(str(page)) if page is not None else 1
        except ValueError:
            number = 1
        number = min(max(number, 1), pages)
        rows = self.store.page(problem.id, per_page, (number - 1) * per_page)
        return {"submissions": [self.summary(s) for s in rows], "page": number,
                "pages": pages, "total": total, "per_page": per_page}

    def gradebook(self, problem: Problem) -> list[SubmissionResult]:
        """One result per student: their latest graded submission, with overrides, filed
        under the student's name."""
        latest: dict[str, StoredSubmission] = {}
        for stored in self.store.for_problem(problem.id):
            if stored.result is not None:
                latest[stored.student] = stored
        results = []
        for student, stored in latest.items():
            result = self.effective_result(stored)
            assert result is not None  # only graded submissions are kept above
            result.submission = student
            results.append(result)
        return results

    def gradebook_csv(self, problem: Problem) -> str:
        """The gradebook CSV: ``grader.gradebook.grades_csv``, as ``grader batch`` writes
        grades.csv (the same columns, order, numbers and escaping)."""
        return grades_csv(problem, self.gradebook(problem))

    def review_queue(self, problem: Problem, include_resolved: bool = False) -> list[dict]:
        """Parts the grader sent to review (verdict ``review``), oldest submission first:
        ``grader.results.review_queue`` over the stored results and their overrides."""
        entries = ((stored.id, SubmissionResult.from_json(stored.result), stored.overrides)
                   for stored in self.store.for_problem(problem.id)
                   if stored.result is not None)
        return [{"submission": item.key, "student": item.student, "part": item.part.part,
                 "answer": item.part.answer, "interpreted": item.part.interpreted,
                 "feedback": item.part.feedback, "score": item.part.score,
                 "max_score": item.part.max_score, "verdict": item.part.verdict.value,
                 "override": item.override.to_json() if item.override else None}
                for item in review_queue(entries, include_resolved=include_resolved)]

    def set_override(self, stored: StoredSubmission, part_id: str, score: object,
                     verdict: object, comment: object) -> Override:
        """Validate and store a TA's decision on a part (``Override.make``: an
        ``OverrideError``, a 400, says what is wrong)."""
        part = self.problem(stored.problem).part(part_id)
        override = Override.make(part.id, part.points, score, verdict, comment)
        self.store.set_override(stored.id, override)
        self.score_changed(stored.id)
        return override


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
