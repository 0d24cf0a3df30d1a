"""The course's records in the service's store: the roster and sign-in keys, assignments,
attempts and the record of decisions. The rules themselves are ``grader.course``'s; this
module stores what they decide, in the same database as the submissions (SQLite or
PostgreSQL, through the ``Store``'s connections and locks).

An attempt is taken in one transaction: the student's attempts are counted under a lock, the
assignment's rules decide (``Assignment.admit``), and the submission, its attempt row and the
decision are written together, so two requests at once cannot both take the last attempt (the
unique attempt number backs the lock). A refused attempt is recorded with the student's
answers, so nothing they wrote is lost.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from ..course import (
    Admission,
    Assignment,
    AttemptScore,
    Counting,
    Feedback,
    LatePolicy,
    RosterEntry,
    counting_score,
    iso,
    parse_iso,
)
from ..errors import AttemptRefused, CourseError
from ..results import SubmissionResult, apply_overrides
from .schema import assignments, attempts, decisions, lti_users, students, submissions
from .storage import PENDING, Store, StoredSubmission, _text, digest

SIGN_IN_KEY_BYTES = 24


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str
    has_key: bool
    key_issued_at: str | None
    source: str

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "email": self.email,
                "sign_in_link": "issued" if self.has_key else "none",
                "key_issued_at": self.key_issued_at, "source": self.source}


@dataclass(frozen=True)
class Attempt:
    """An attempt with its submission: the grader's result (overrides applied) if graded."""

    number: int
    submission: StoredSubmission
    submitted_at: str
    late_days: int
    penalty: float

    @property
    def result(self) -> SubmissionResult | None:
        if self.submission.result is None:
            return None
        return apply_overrides(SubmissionResult.from_json(self.submission.result),
                               self.submission.overrides)

    def score(self) -> AttemptScore | None:
        result = self.result
        if result is None:
            return None
        return AttemptScore(self.submission.id, self.number, result.score, result.max_score,
                            self.penalty, self.submitted_at)


@dataclass(frozen=True)
class Decision:
    id: int
    at: str
    action: str
    allowed: bool
    assignment_id: str | None
    student_id: str | None
    submission_id: int | None
    reason: str
    detail: dict | None

    def to_json(self) -> dict:
        return {"id": self.id, "at": self.at, "action": self.action, "allowed": self.allowed,
                "assignment": self.assignment_id, "student": self.student_id,
                "submission": self.submission_id, "reason": self.reason,
                "detail": self.detail}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class CourseStore:
    """Reads and writes of the course tables, over a ``Store``'s database."""

    def __init__(self, store: Store):
        self.store = store

    # ------------------------------------------------------------------ decisions
    def _record(self, db, action: str, allowed: bool, *, assignment: str | None = None,
                student: str | None = None, submission: int | None = None, reason: str = "",
                detail: dict | None = None, at: datetime | None = None) -> None:
        db.execute(decisions.insert().values(
            at=iso(at or now_utc()), action=action, allowed=int(allowed),
            assignment_id=assignment, student_id=student, submission_id=submission,
            reason=_text(reason) or "",
            detail=json.dumps(detail, ensure_ascii=False) if detail is not None else None))

    def record(self, action: str, allowed: bool, **fields) -> None:
        """Record a decision taken elsewhere (a score sent to the LMS, an override)."""
        with self.store._transaction() as db:
            self._record(db, action, allowed, **fields)

    def decisions(self, assignment_id: str | None = None, student_id: str | None = None,
                  limit: int = 200) -> list[Decision]:
        """The latest decisions, newest first."""
        query = sa.select(decisions).order_by(decisions.c.id.desc()).limit(limit)
        if assignment_id is not None:
            query = query.where(decisions.c.assignment_id == assignment_id)
        if student_id is not None:
            query = query.where(decisions.c.student_id == student_id)
        with self.store._connect() as db:
            return [Decision(r.id, r.at, r.action, bool(r.allowed), r.assignment_id,
                             r.student_id, r.submission_id, r.reason,
                             json.loads(r.detail) if r.detail else None)
                    for r in db.execute(query)]

    # ---------------------------------------------------------------- the roster
    def import_roster(self, entries: list[RosterEntry]) -> tuple[int, int]:
        """Add the roster's students and update the names and emails of those already on it
        (their sign-in keys stay): (added, updated)."""
        added = updated = 0
        stamp = iso(now_utc())
        with self.store._transaction() as db:
            self.store._lock(db, "roster")
            have = {r.id: (r.name, r.email) for r in db.execute(
                sa.select(students.c.id, students.c.name, students.c.email))}
            for entry in entries:
                if entry.student_id not in have:
                    db.execute(students.insert().values(
                        id=entry.student_id, name=entry.name, email=entry.email,
                        source="roster", created_at=stamp, updated_at=stamp))
                    added += 1
                elif have[entry.student_id] != (entry.name, entry.email):
                    db.execute(students.update().where(students.c.id == entry.student_id)
                               .values(name=entry.name, email=entry.email, updated_at=stamp))
                    updated += 1
            self._record(db, "roster_import", True, reason=f"{added} added, {updated} updated",
                         detail={"students": len(entries)})
        return added, updated

    def students(self) -> list[Student]:
        with self.store._connect() as db:
            rows = db.execute(sa.select(students).order_by(students.c.id)).all()
        return [_student(r) for r in rows]

    def student(self, student_id: str) -> Student | None:
        with self.store._connect() as db:
            row = db.execute(sa.select(students).where(students.c.id == student_id)).first()
        return _student(row) if row is not None else None

    def issue_keys(self, student_ids: list[str] | None = None,
                   only_missing: bool = False) -> dict[str, str]:
        """New personal sign-in keys (a student's old key stops working): for ``student_ids``
        (default: everyone on the roster), or only for those without a key. The keys are
        returned once; the store keeps their digests."""
        out: dict[str, str] = {}
        stamp = iso(now_utc())
        with self.store._transaction() as db:
            query = sa.select(students.c.id, students.c.key_hash)
            if student_ids is not None:
                query = query.where(students.c.id.in_(student_ids))
            rows = db.execute(query).all()
            unknown = sorted(set(student_ids or []) - {r.id for r in rows})
            if unknown:
                raise CourseError(f"no student {unknown[0]!r} on the roster")
            for row in rows:
                if only_missing and row.key_hash is not None:
                    continue
                key = secrets.token_urlsafe(SIGN_IN_KEY_BYTES)
                db.execute(students.update().where(students.c.id == row.id).values(
                    key_hash=digest(key), key_issued_at=stamp, updated_at=stamp))
                out[row.id] = key
            self._record(db, "keys_issued", True, reason=f"{len(out)} sign-in links",
                         detail={"students": sorted(out)})
        return out

    def revoke_key(self, student_id: str) -> bool:
        """The student's sign-in link stops working (a session it opened ends too, since the
        session holds the key's digest). False if they had none."""
        with self.store._transaction() as db:
            done = db.execute(students.update().where(
                (students.c.id == student_id) & students.c.key_hash.is_not(None))
                .values(key_hash=None, updated_at=iso(now_utc()))).rowcount > 0
            if done:
                self._record(db, "key_revoked", True, student=student_id)
        return done

    def student_by_key(self, key: str | None) -> Student | None:
        if not key or len(key) > 100:
            return None
        with self.store._connect() as db:
            row = db.execute(sa.select(students).where(students.c.key_hash == digest(key))
                             ).first()
        return _student(row) if row is not None else None

    def key_digest(self, student_id: str) -> str | None:
        with self.store._connect() as db:
            return db.execute(sa.select(students.c.key_hash)
                              .where(students.c.id == student_id)).scalar_one_or_none()

    def lti_student(self, platform_id: int, sub: str, name: str, email: str,
                    sourcedid: str | None = None) -> str:
        """The student id of an LTI user (the platform's ``sub``), made at the first launch:
        the LMS's ``person_sourcedid`` when it is a free id or a roster student no other LTI
        user has, so a roster student launched from the LMS is the same student; else an id
        made from the platform and ``sub``. Name and email follow the LMS."""
        stamp = iso(now_utc())
        name = " ".join((name or "").split())[:200] or sub[:200]
        with self.store._transaction() as db:
            self.store._lock(db, "roster")
            found = db.execute(sa.select(lti_users.c.student_id).where(
                (lti_users.c.platform_id == platform_id) & (lti_users.c.sub == sub))
            ).scalar_one_or_none()
            new_user = found is None
            if found is None:
                found = _lti_id(platform_id, sub)
                if sourcedid and re.match(r"^[A-Za-z0-9][A-Za-z0-9@._:+-]{0,99}$", sourcedid):
                    taken = db.execute(sa.select(lti_users.c.sub).where(
                        lti_users.c.student_id == sourcedid)).first()
                    if taken is None:
                        found = sourcedid
            exists = db.execute(sa.select(students.c.id).where(students.c.id == found)).first()
            if exists is None:
                db.execute(students.insert().values(id=found, name=_text(name),
                                                    email=email or "", source="lti",
                                                    created_at=stamp, updated_at=stamp))
            else:
                db.execute(students.update().where(students.c.id == found).values(
                    name=_text(name), email=email or "", updated_at=stamp))
            if new_user:
                db.execute(lti_users.insert().values(platform_id=platform_id, sub=sub,
                                                     student_id=found))
        return found

    # --------------------------------------------------------------- assignments
    def save_assignment(self, assignment: Assignment, *, create: bool) -> Assignment:
        """Create (``create``) or replace an assignment; a clash is a ``CourseError``."""
        stamp = iso(now_utc())
        values = _assignment_values(assignment)
        with self.store._transaction() as db:
            exists = db.execute(sa.select(assignments.c.id).where(
                assignments.c.id == assignment.id)).first() is not None
            if create and exists:
                raise CourseError(f"there is already an assignment {assignment.id!r}")
            if not create and not exists:
                raise CourseError(f"there is no assignment {assignment.id!r}")
            if create:
                db.execute(assignments.insert().values(**values, created_at=stamp,
                                                       updated_at=stamp))
            else:
                db.execute(assignments.update().where(assignments.c.id == assignment.id)
                           .values(**values, updated_at=stamp))
            self._record(db, "assignment_created" if create else "assignment_changed", True,
                         assignment=assignment.id, detail=assignment.to_json())
        return assignment

    def assignments(self) -> list[Assignment]:
        with self.store._connect() as db:
            rows = db.execute(sa.select(assignments).order_by(assignments.c.due_at,
                                                              assignments.c.id)).all()
        return [_assignment(r) for r in rows]

    def assignment(self, assignment_id: str) -> Assignment | None:
        with self.store._connect() as db:
            row = db.execute(sa.select(assignments).where(
                assignments.c.id == assignment_id)).first()
        return _assignment(row) if row is not None else None

    # ------------------------------------------------------------------ attempts
    def take_attempt(self, assignment: Assignment, student_id: str, token: str, source: str,
                     answers: dict[str, str], document: str | None = None,
                     now: datetime | None = None) -> tuple[int, Admission]:
        """Store a student's attempt if the rules allow it now: (submission id, admission),
        committed as pending. Refused: the decision is recorded with the answers, and
        ``AttemptRefused`` says why."""
        now = now or now_utc()
        refused: AttemptRefused | None = None
        with self.store._transaction() as db:
            self.store._lock(db, f"attempt:{assignment.id}:{student_id}")
            used = db.execute(sa.select(sa.func.count()).select_from(attempts).where(
                (attempts.c.assignment_id == assignment.id)
                & (attempts.c.student_id == student_id))).scalar_one()
            try:
                admission = assignment.admit(now, used)
            except AttemptRefused as err:
                refused = err
            else:
                submission_id = db.execute(submissions.insert().values(
                    problem=assignment.problem, student=student_id, token_hash=digest(token),
                    source=source, document=_text(document),
                    answers=json.dumps(answers, ensure_ascii=False), status=PENDING,
                    created_at=iso(now)).returning(submissions.c.id)).scalar_one()
                db.execute(attempts.insert().values(
                    submission_id=submission_id, assignment_id=assignment.id,
                    student_id=student_id, number=admission.number, submitted_at=iso(now),
                    late_days=admission.late_days, penalty=admission.penalty))
                self._record(db, "attempt", True, assignment=assignment.id,
                             student=student_id, submission=submission_id, at=now,
                             reason=(f"attempt {admission.number}"
                                     + (f", {admission.late_days} day"
                                        f"{'s' * (admission.late_days != 1)} late, "
                                        f"penalty {admission.penalty:.0%}"
                                        if admission.late_days else "")))
                return submission_id, admission
        assert refused is not None
        self.record("attempt", False, assignment=assignment.id, student=student_id, at=now,
                    reason=str(refused), detail={"reason": refused.reason, "source": source,
                                                 "answers": answers, "document": document})
        raise refused

    def attempts(self, assignment_id: str, student_id: str | None = None) -> list[Attempt]:
        """Attempts at an assignment (of one student), oldest first, with their submissions."""
        query = (sa.select(attempts).where(attempts.c.assignment_id == assignment_id)
                 .order_by(attempts.c.student_id, attempts.c.number))
        if student_id is not None:
            query = query.where(attempts.c.student_id == student_id)
        with self.store._connect() as db:
            rows = db.execute(query).all()
            subs = {s.id: s for s in self.store._load(db, db.execute(
                sa.select(submissions).where(submissions.c.id.in_(
                    [r.submission_id for r in rows]))).all())} if rows else {}
        return [Attempt(r.number, subs[r.submission_id], r.submitted_at, r.late_days,
                        r.penalty) for r in rows if r.submission_id in subs]

    def attempt_of(self, submission_id: int) -> tuple[str, str] | None:
        """(assignment id, student id) of the attempt a submission is, if it is one."""
        with self.store._connect() as db:
            row = db.execute(sa.select(attempts.c.assignment_id, attempts.c.student_id)
                             .where(attempts.c.submission_id == submission_id)).first()
        return (row.assignment_id, row.student_id) if row is not None else None

    def attempts_used(self, assignment_id: str, student_id: str) -> int:
        with self.store._connect() as db:
            return db.execute(sa.select(sa.func.count()).select_from(attempts).where(
                (attempts.c.assignment_id == assignment_id)
                & (attempts.c.student_id == student_id))).scalar_one()

    def counting(self, assignment: Assignment, student_id: str) -> AttemptScore | None:
        """The score that counts for a student, by the assignment's policy."""
        scores = [s for a in self.attempts(assignment.id, student_id)
                  if (s := a.score()) is not None]
        return counting_score(scores, assignment.counting)

    def gradebook(self, assignment: Assignment) -> list[tuple[Student, AttemptScore | None,
                                                              int]]:
        """Every student on the roster (and every student who made an attempt), with the
        score that counts (None: nothing graded) and the attempts they used, by id."""
        by_student: dict[str, list[Attempt]] = {}
        for attempt in self.attempts(assignment.id):
            by_student.setdefault(attempt.submission.student, []).append(attempt)
        rows = []
        for student in self.students():
            made = by_student.get(student.id, [])
            if student.source != "roster" and not made:
                continue
            scores = [s for a in made if (s := a.score()) is not None]
            rows.append((student, counting_score(scores, assignment.counting), len(made)))
        return rows


# ---------------------------------------------------------------------------- rows
def _student(row) -> Student:
    return Student(row.id, row.name, row.email, row.key_hash is not None, row.key_issued_at,
                   row.source)


def _assignment_values(a: Assignment) -> dict:
    return {"id": a.id, "problem": a.problem, "title": _text(a.title),
            "opens_at": iso(a.opens_at), "due_at": iso(a.due_at), "timezone": a.timezone,
            "late_per_day": a.late.per_day if a.late.accepts_late else None,
            "late_cutoff_days": a.late.cutoff_days if a.late.accepts_late else 0.0,
            "max_attempts": a.max_attempts, "counting": a.counting.value,
            "feedback": a.feedback.value}


def _assignment(row) -> Assignment:
    late = LatePolicy(row.late_per_day, row.late_cutoff_days) \
        if row.late_per_day is not None else LatePolicy()
    return Assignment(row.id, row.problem, row.title, parse_iso(row.opens_at),
                      parse_iso(row.due_at), row.timezone, late, row.max_attempts,
                      Counting(row.counting), Feedback(row.feedback))


def _lti_id(platform_id: int, sub: str) -> str:
    """A student id for an LTI user the LMS gives no usable id for."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "", sub)
    if clean == sub and 0 < len(sub) <= 60:
        return f"lti{platform_id}-{sub}"
    return f"lti{platform_id}-" + hashlib.sha256(sub.encode("utf-8")).hexdigest()[:24]
