"""What the web surface does, without Flask: store a submission, grade it, regrade, override.

A thin layer over ``grader.api``: the store keeps submissions, the grader's own results and
the instructors' overrides apart, so a regrade replaces the grader's result and the
overrides still apply on top of it.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .. import api
from ..documents import DOCUMENT_FORMATS, Submission, parse_answers_json, parse_document
from ..errors import GraderError, ProblemNotFound, SubmissionError
from ..pool import GradingPool
from ..problem import Problem, list_problems
from ..results import Verdict
from ..syntax import MAX_ANSWER_CHARS
from .storage import PENDING, Store, StoredSubmission, matches

log = logging.getLogger(__name__)

MAX_STUDENT_CHARS = 200
MAX_COMMENT_CHARS = 5000
_PROBLEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class RequestError(GraderError):
    """A request the service refuses, with the HTTP status to answer it with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class NotFound(RequestError):
    def __init__(self, message: str):
        super().__init__(message, 404)


@dataclass(frozen=True)
class Created:
    id: int
    token: str
    status: str
    result: dict | None


class GradingService:
    """Submissions in, results out; shared by the JSON API and the pages (thread-safe)."""

    def __init__(self, store: Store, *, workers: int | None = None,
                 pool: GradingPool | None = None, max_answer_chars: int = MAX_ANSWER_CHARS):
        self.store = store
        self.max_answer_chars = max_answer_chars
        self._workers = workers
        self._pool = pool
        self._own_pool = pool is None
        self._pool_lock = threading.Lock()

    # ----------------------------------------------------------------- the pool
    @property
    def pool(self) -> GradingPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = GradingPool(workers=self._workers)
                atexit.register(self._pool.close)
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._own_pool and self._pool is not None:
                self._pool.close()
                self._pool = None

    # ------------------------------------------------------------------ problems
    def problems(self) -> list[Problem]:
        return list_problems()

    def problem(self, problem_id: str) -> Problem:
        """A problem by id; only the problems under problems/, never a path."""
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
    def student_name(self, student: object, fallback: str = "") -> str:
        if student is None or (isinstance(student, str) and not student.strip()):
            student = fallback
        if not isinstance(student, str) or not student.strip():
            raise RequestError('"student" is required: the name to file this submission under')
        student = " ".join(student.split())
        if len(student) > MAX_STUDENT_CHARS:
            raise RequestError(f'"student" is too long ({len(student)} characters; '
                               f"the limit is {MAX_STUDENT_CHARS})")
        return student

    def read_answers(self, problem: Problem, answers: object, student: str) -> Submission:
        if isinstance(answers, dict):
            answers = {k: v for k, v in answers.items()
                       if not (isinstance(v, str) and not v.strip())}
        submission = parse_answers_json({"answers": answers}, list(problem.parts))
        if not submission.answers:
            raise RequestError("there is no answer to grade: write at least one part")
        self.check_lengths(submission)
        return submission

    def read_document(self, problem: Problem, text: object, student: str,
                      fmt: str = "md") -> Submission:
        if not isinstance(text, str):
            raise RequestError('"document" must be a string holding the whole document')
        if not text.strip():
            raise RequestError("the document is empty")
        fmt = (fmt or "md").lower().lstrip(".")
        if fmt not in DOCUMENT_FORMATS.values():
            raise RequestError(f"unknown document format '{_short(fmt)}'; use md, tex or txt")
        prompts = {pid: part.prompt for pid, part in problem.parts.items()}
        return parse_document(text, list(problem.parts), prompts, name="the document", fmt=fmt)

    def read_upload(self, problem: Problem, filename: str, data: bytes,
                    student: str) -> tuple[Submission, str | None]:
        """An uploaded file: (submission, document text or None for JSON)."""
        name = filename or "upload"
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix != ".json" and suffix not in DOCUMENT_FORMATS:
            raise SubmissionError(f"{_short(name)}: unsupported file type; "
                                  "use .json, .md, .tex or .txt")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SubmissionError(f"{_short(name)}: is not UTF-8 text") from None
        if suffix == ".json":
            try:
                decoded = json.loads(text)
            except (ValueError, RecursionError) as err:
                raise SubmissionError(f"{_short(name)}: is not valid JSON ({err})") from None
            if not isinstance(decoded, dict) or "answers" not in decoded:
                raise SubmissionError(f'{_short(name)}: must be a JSON object like '
                                      '{"answers": {"a": "<latex>"}}')
            return self.read_answers(problem, decoded["answers"], student), None
        return self.read_document(problem, text, student, DOCUMENT_FORMATS[suffix]), text

    def check_lengths(self, submission: Submission) -> None:
        for pid, answer in submission.answers.items():
            if len(answer.latex) > self.max_answer_chars:
                raise RequestError(
                    f"the answer to part {pid} is too long ({len(answer.latex):,} characters;"
                    f" the limit is {self.max_answer_chars:,})", 413)

    # ------------------------------------------------------------------- grading
    def submit(self, problem: Problem, submission: Submission, student: str, source: str,
               document: str | None = None) -> Created:
        """Store the submission (committed), then grade it; it stays pending if grading dies."""
        token = secrets.token_urlsafe(24)
        answers = {pid: a.latex for pid, a in submission.answers.items()}
        submission_id = self.store.add_submission(problem.id, student, token, source, answers,
                                                  document)
        try:
            self._grade(problem, submission_id, answers, student)
        except Exception:  # the submission is safe on disk; a restart or regrade grades it
            log.exception("grading submission %s failed; it stays pending", submission_id)
        stored = self.store.get(submission_id)
        return Created(submission_id, token, stored.status, self.effective(stored))

    def _grade(self, problem: Problem, submission_id: int, answers: Mapping[str, str],
               student: str) -> dict:
        result = api.grade_submission(problem, dict(answers), name=student, pool=self.pool)
        data = result.to_json()
        self.store.save_result(submission_id, data)
        return data

    def grade_stored(self, stored: StoredSubmission) -> None:
        self._grade(self.problem(stored.problem), stored.id, stored.answers, stored.student)

    def regrade(self, problem: Problem) -> list[int]:
        """Grade every submission to ``problem`` again (pending ones too); their ids."""
        done = []
        for stored in self.store.for_problem(problem.id):
            self._grade(problem, stored.id, stored.answers, stored.student)
            done.append(stored.id)
        return done

    def grade_pending(self) -> int:
        """Grade the submissions a previous run stored but did not finish; how many."""
        count = 0
        for submission_id in self.store.ids(status=PENDING):
            stored = self.store.get(submission_id)
            if stored is None or stored.status != PENDING:
                continue
            try:
                self.grade_stored(stored)
                count += 1
            except Exception:
                log.exception("grading pending submission %s failed", submission_id)
        return count

    def start_grading_pending(self) -> threading.Thread:
        thread = threading.Thread(target=self.grade_pending, name="grade-pending", daemon=True)
        thread.start()
        return thread

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
    def effective(stored: StoredSubmission) -> dict | None:
        """The result a student sees: the grader's, with the instructors' overrides on top."""
        if stored.result is None:
            return None
        result = copy.deepcopy(stored.result)
        for pid, override in stored.overrides.items():
            part = result["parts"].get(pid)
            if part is None:
                continue
            part["score"] = override.score
            part["verdict"] = override.verdict
            if override.comment:
                part["feedback"] = override.comment
            part["flags"] = [*part.get("flags", []), "override"]
        result["score"] = round(sum(p["score"] for p in result["parts"].values()), 6)
        return result

    def view(self, stored: StoredSubmission) -> dict:
        return {"id": stored.id, "student": stored.student, "status": stored.status,
                "result": self.effective(stored)}

    def summary(self, stored: StoredSubmission) -> dict:
        result = self.effective(stored)
        return {"id": stored.id, "student": stored.student, "status": stored.status,
                "score": result["score"] if result else None,
                "max_score": result["max_score"] if result else None,
                "created_at": stored.created_at, "graded_at": stored.graded_at,
                "overrides": len(stored.overrides)}

    def gradebook(self, problem: Problem) -> list[dict]:
        """One row per student: their latest graded submission (with overrides)."""
        latest: dict[str, StoredSubmission] = {}
        for stored in self.store.for_problem(problem.id):
            if stored.result is not None:
                latest[stored.student] = stored
        rows = []
        for student in sorted(latest, key=str.casefold):
            stored = latest[student]
            result = self.effective(stored)
            rows.append({"student": student, "submission": stored.id,
                         "parts": {pid: result["parts"][pid]["score"]
                                   for pid in problem.parts if pid in result["parts"]},
                         "total": result["score"]})
        return rows

    def review_queue(self, problem: Problem, include_resolved: bool = False) -> list[dict]:
        """Parts the grader sent to review (verdict ``review``), oldest first."""
        queue = []
        for stored in self.store.for_problem(problem.id):
            if stored.result is None:
                continue
            for pid, part in stored.result["parts"].items():
                if part["verdict"] != Verdict.REVIEW.value:
                    continue
                override = stored.overrides.get(pid)
                if override is not None and not include_resolved:
                    continue
                queue.append({
                    "submission": stored.id, "student": stored.student, "part": pid,
                    "answer": part.get("answer", ""), "interpreted": part.get("interpreted", ""),
                    "feedback": part.get("feedback", ""), "score": part["score"],
                    "max_score": part["max_score"], "verdict": part["verdict"],
                    "override": override.to_json() if override else None,
                })
        return queue

    def set_override(self, stored: StoredSubmission, part_id: str, score: object,
                     verdict: object, comment: object) -> None:
        problem = self.problem(stored.problem)
        part = problem.part(part_id)
        if isinstance(score, str):
            try:
                score = float(score.strip())
            except ValueError:
                raise RequestError(f"score must be a number, not '{_short(score)}'") from None
        if isinstance(score, bool) or not isinstance(score, int | float) or score != score:
            raise RequestError("score must be a number")
        if not 0 <= score <= part.points:
            raise RequestError(f"score must be between 0 and {part.points:g} for part {part_id}")
        verdicts = [v.value for v in Verdict]
        if verdict not in verdicts:
            raise RequestError(f"verdict must be one of {', '.join(verdicts)}")
        comment = "" if comment is None else comment
        if not isinstance(comment, str):
            raise RequestError("comment must be a string")
        if len(comment) > MAX_COMMENT_CHARS:
            raise RequestError(f"comment is too long (the limit is {MAX_COMMENT_CHARS})")
        self.store.set_override(stored.id, part_id, float(score), verdict, comment.strip())


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
