"""Running a course: assignments with deadlines and attempts, the roster, and the score that
counts. Pure rules, no storage and no web: the web service (``grader.web.course``) stores
what these functions decide and enforces it on every submission.

- An **assignment** is a problem plus when it opens and is due (in a named time zone), a
  late policy, how many attempts a student has, which attempt counts, and what a student sees
  after each attempt (``Assignment.make`` checks every field and names the bad one).
- ``Assignment.admit`` decides whether an attempt may be made now: not before it opens, after
  the due date only under the late policy, never past the attempt limit (``AttemptRefused``).
- ``counting_score`` is the score that goes to the gradebook and to the LMS: the best or the
  last graded attempt, each with its late penalty applied.
- ``Assignment.shown`` is what a student may see of a result (full feedback, verdicts only,
  the score only, or nothing until the due date).
- ``read_roster`` reads a roster CSV (student id, name, email), naming the line of any error.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import AttemptRefused, CourseError

ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_TITLE_CHARS = 200
MAX_ATTEMPTS = 1000
DAY = timedelta(days=1)


class Counting(str, Enum):
    """Which attempt's score counts."""

    BEST = "best"
    LAST = "last"


class Feedback(str, Enum):
    """What a student sees of a graded attempt."""

    FULL = "full"              # scores, verdicts and feedback for every part
    VERDICTS = "verdicts"      # each part's verdict and score, no feedback
    SCORE = "score"            # the total score only
    AFTER_DUE = "after_due"    # nothing until the due date, then everything


@dataclass(frozen=True)
class LatePolicy:
    """Late work: ``none`` (no attempt after the due date) or a penalty per day late (a
    fraction of the score, for every started day) accepted up to ``cutoff_days`` after it."""

    per_day: float | None = None       # None: no late attempts
    cutoff_days: float = 0.0

    @property
    def accepts_late(self) -> bool:
        return self.per_day is not None and self.cutoff_days > 0

    def to_json(self) -> dict:
        if not self.accepts_late:
            return {"policy": "none"}
        return {"policy": "penalty", "per_day": self.per_day, "cutoff_days": self.cutoff_days}

    @classmethod
    def make(cls, data: object) -> LatePolicy:
        if data is None or data == "none":
            return cls()
        if not isinstance(data, Mapping):
            raise CourseError('"late" must be {"policy": "none"} or {"policy": "penalty", '
                              '"per_day": 0.1, "cutoff_days": 3}')
        policy = data.get("policy", "penalty")
        if policy == "none":
            return cls()
        if policy != "penalty":
            raise CourseError(f'"late.policy" must be "none" or "penalty", not {policy!r}')
        per_day = _number(data.get("per_day"), '"late.per_day"')
        if not 0 <= per_day <= 1:
            raise CourseError(f'"late.per_day" is the fraction of the score taken per day '
                              f"late, from 0 to 1 (0.1 is 10%); got {per_day:g}")
        cutoff = _number(data.get("cutoff_days"), '"late.cutoff_days"')
        if not 0 < cutoff <= 365:
            raise CourseError(f'"late.cutoff_days" is how many days after the due date late '
                              f"work is accepted, more than 0 and at most 365; got {cutoff:g}")
        return cls(per_day, cutoff)


@dataclass(frozen=True)
class Admission:
    """An attempt allowed now: its number, and how late it is (whole days started past the
    due date) with the fraction of its score the late policy takes (to 6 decimals)."""

    number: int
    at: datetime
    late_days: int = 0
    penalty: float = 0.0


@dataclass(frozen=True)
class Assignment:
    """A problem set for a course, with its rules (times are aware datetimes in UTC)."""

    id: str
    problem: str
    title: str
    opens_at: datetime
    due_at: datetime
    timezone: str = "UTC"
    late: LatePolicy = LatePolicy()
    max_attempts: int | None = None          # None: unlimited
    counting: Counting = Counting.BEST
    feedback: Feedback = Feedback.FULL

    # ------------------------------------------------------------------ reading
    @classmethod
    def make(cls, data: Mapping, *, problems: Iterable[str] | None = None,
             current: Assignment | None = None) -> Assignment:
        """An assignment from JSON-like ``data`` (the API's body, the instructor form), each
        field checked with a message that names it. With ``current``, fields not in ``data``
        keep their current values (an edit). ``problems``: the problem ids that exist."""
        if not isinstance(data, Mapping):
            raise CourseError("send the assignment as a JSON object")
        known = {"id", "problem", "title", "opens_at", "due_at", "timezone", "late",
                 "max_attempts", "counting", "feedback"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CourseError(f"unknown assignment field {unknown[0]!r} (fields: "
                              f"{', '.join(sorted(known))})")
        base = current.to_json() if current is not None else {}
        merged = {**base, **data}
        ident = merged.get("id")
        if current is not None and ident != current.id:
            raise CourseError(f'"id" cannot change (it is {current.id!r})')
        if not isinstance(ident, str) or not ASSIGNMENT_ID.match(ident):
            raise CourseError('"id" must be 1 to 64 letters, digits, "-" or "_", starting with '
                              "a letter or digit (it is in the assignment's URL)")
        problem = merged.get("problem")
        if not isinstance(problem, str) or not problem:
            raise CourseError('"problem" is required: the id of the problem to assign')
        if problems is not None and problem not in set(problems):
            raise CourseError(f'"problem": there is no problem {problem!r} (problems: '
                              f"{', '.join(sorted(problems)) or 'none'})")
        title = merged.get("title") or problem
        if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS or not title.strip():
            raise CourseError(f'"title" must be text of at most {MAX_TITLE_CHARS} characters')
        zone = merged.get("timezone") or "UTC"
        tz = time_zone(zone)
        opens = read_time(merged.get("opens_at"), tz, '"opens_at"')
        due = read_time(merged.get("due_at"), tz, '"due_at"')
        if due <= opens:
            raise CourseError(f'"due_at" ({local(due, zone)}) must be after "opens_at" '
                              f"({local(opens, zone)})")
        late = LatePolicy.make(merged.get("late"))
        attempts = merged.get("max_attempts")
        if attempts in (None, "", "unlimited", 0):
            attempts = None
        elif isinstance(attempts, bool) or not isinstance(attempts, int) \
                or not 1 <= attempts <= MAX_ATTEMPTS:
            raise CourseError(f'"max_attempts" must be a whole number from 1 to {MAX_ATTEMPTS},'
                              f' or null for unlimited; got {attempts!r}')
        counting = _choice(Counting, merged.get("counting", "best"), '"counting"')
        feedback = _choice(Feedback, merged.get("feedback", "full"), '"feedback"')
        return cls(ident, problem, " ".join(title.split()), opens, due, zone, late, attempts,
                   counting, feedback)

    def to_json(self) -> dict:
        return {"id": self.id, "problem": self.problem, "title": self.title,
                "opens_at": iso(self.opens_at), "due_at": iso(self.due_at),
                "timezone": self.timezone, "late": self.late.to_json(),
                "max_attempts": self.max_attempts, "counting": self.counting.value,
                "feedback": self.feedback.value}

    # ------------------------------------------------------------------- times
    @property
    def closes_at(self) -> datetime:
        """The last moment an attempt is accepted: the due date, or the end of the late
        period."""
        if self.late.accepts_late:
            return self.due_at + self.late.cutoff_days * DAY
        return self.due_at

    def local(self, when: datetime) -> str:
        """``when`` in the assignment's time zone, as the pages show it."""
        return local(when, self.timezone)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now <= self.closes_at

    # ----------------------------------------------------------------- the rules
    def admit(self, now: datetime, attempts_used: int) -> Admission:
        """The attempt a student who has made ``attempts_used`` may make at ``now``, or
        ``AttemptRefused`` saying why not."""
        if now < self.opens_at:
            raise AttemptRefused(f"{self.title} opens {self.local(self.opens_at)}; no attempt "
                                 "is accepted before then", "not_open")
        if now > self.closes_at:
            if self.late.accepts_late:
                why = (f"it was due {self.local(self.due_at)} and late work was accepted until "
                       f"{self.local(self.closes_at)}")
            else:
                why = f"it was due {self.local(self.due_at)} and late work is not accepted"
            raise AttemptRefused(f"{self.title} is closed: {why}", "closed")
        if self.max_attempts is not None and attempts_used >= self.max_attempts:
            raise AttemptRefused(
                f"you have used all {self.max_attempts} attempt"
                f"{'s' * (self.max_attempts != 1)} at {self.title}", "no_attempts")
        late_days = 0
        penalty = 0.0
        if now > self.due_at:
            late_days = math.ceil((now - self.due_at) / DAY)
            penalty = min(1.0, late_days * (self.late.per_day or 0.0))
        return Admission(attempts_used + 1, now, late_days, round(penalty, 6))

    def attempts_left(self, attempts_used: int) -> int | None:
        if self.max_attempts is None:
            return None
        return max(0, self.max_attempts - attempts_used)

    def shown(self, result: dict | None, now: datetime) -> dict | None:
        """What a student may see of ``result`` (the result contract) at ``now``: the whole
        result, verdicts and scores without feedback, the total only, or nothing before the
        due date. None: nothing may be shown yet (or there is no result)."""
        if result is None:
            return None
        if self.feedback is Feedback.FULL or (self.feedback is Feedback.AFTER_DUE
                                              and now >= self.due_at):
            return result
        if self.feedback is Feedback.AFTER_DUE:
            return None
        hidden: tuple[str, ...] = ("feedback", "steps", "flags", "fingerprint", "elapsed_ms")
        if self.feedback is Feedback.SCORE:
            hidden += ("score", "max_score", "verdict", "interpreted")
        parts = {pid: {k: v for k, v in part.items() if k not in hidden}
                 for pid, part in result["parts"].items()}
        return {**result, "parts": parts}

    def result_note(self, now: datetime) -> str | None:
        """What the student is told about the feedback they do not see, if any."""
        if self.feedback is Feedback.AFTER_DUE and now < self.due_at:
            return f"Results are shown after the due date, {self.local(self.due_at)}."
        if self.feedback is Feedback.VERDICTS:
            return "This assignment shows each part's verdict and score, not its feedback."
        if self.feedback is Feedback.SCORE:
            return "This assignment shows the total score only."
        return None


# ------------------------------------------------------------------------- counting
@dataclass(frozen=True)
class AttemptScore:
    """One graded attempt: its raw score (overrides included) and its late penalty."""

    submission_id: int
    number: int
    raw: float
    max_score: float
    penalty: float = 0.0
    submitted_at: str = ""

    @property
    def score(self) -> float:
        """The score after the late penalty."""
        return round(self.raw * (1.0 - self.penalty), 6)


def counting_score(attempts: Iterable[AttemptScore], counting: Counting) -> AttemptScore | None:
    """The attempt that counts: the best (the first of equal ones) or the last graded one;
    None before any attempt is graded."""
    graded = sorted(attempts, key=lambda a: a.number)
    if not graded:
        return None
    if counting is Counting.LAST:
        return graded[-1]
    return max(graded, key=lambda a: (a.score, -a.number))


# --------------------------------------------------------------------------- roster
@dataclass(frozen=True)
class RosterEntry:
    student_id: str
    name: str
    email: str


MAX_ROSTER_ROWS = 20_000
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:+-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_HEADERS = {"student_id": ("student id", "student_id", "studentid", "id", "sis user id",
                           "sis id", "sis_user_id"),
            "name": ("name", "student name", "full name", "student"),
            "email": ("email", "e-mail", "email address", "mail")}


def check_student_id(value: object, where: str = '"student_id"') -> str:
    if not isinstance(value, str) or not _STUDENT_ID.match(value.strip()):
        raise CourseError(f"{where}: a student id is 1 to 100 letters, digits or . _ : + - @, "
                          f"starting with a letter or digit; got {str(value)[:40]!r}")
    return value.strip()


def read_roster(text: str) -> list[RosterEntry]:
    """The students of a roster CSV: a header row naming the columns ``student id``,
    ``name`` and ``email`` (in any order; Canvas's ``SIS User ID`` is read as the id), then
    one row per student. Every error names its line; the same id twice is an error."""
    if text.startswith("\ufeff"):
        text = text[1:]                      # Excel's UTF-8 byte-order mark
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)
            if any(cell.strip() for cell in row)]
    if not rows:
        raise CourseError("the roster is empty: send a CSV with a header row "
                          "(student id, name, email) and one row per student")
    first, header = rows[0]
    names = [h.strip().casefold() for h in header]
    columns: dict[str, int] = {}
    for key, spellings in _HEADERS.items():
        for i, name in enumerate(names):
            if name in spellings and key not in columns:
                columns[key] = i
    missing = [k.replace("_", " ") for k in _HEADERS if k not in columns]
    if missing:
        raise CourseError(f"roster line {first}: the header has no {' or '.join(missing)} "
                          f"column (found: {', '.join(h.strip() for h in header) or 'nothing'})")
    if len(rows) - 1 > MAX_ROSTER_ROWS:
        raise CourseError(f"the roster has {len(rows) - 1:,} students; the limit is "
                          f"{MAX_ROSTER_ROWS:,}")
    seen: dict[str, int] = {}
    entries = []
    for line, row in rows[1:]:
        cells = [c.strip() for c in row] + [""] * len(header)
        sid = check_student_id(cells[columns["student_id"]], f"roster line {line}")
        name = " ".join(cells[columns["name"]].split())
        email = cells[columns["email"]]
        if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
            raise CourseError(f"roster line {line}: student {sid} needs a name (plain text, "
                              "at most 200 characters)")
        if email and not _EMAIL.match(email):
            raise CourseError(f"roster line {line}: {email[:60]!r} is not an email address")
        if sid in seen:
            raise CourseError(f"roster line {line}: student id {sid} is already on line "
                              f"{seen[sid]}")
        seen[sid] = line
        entries.append(RosterEntry(sid, name, email))
    return entries


# ---------------------------------------------------------------------------- times
def time_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise CourseError('"timezone" must be a time zone name such as "America/New_York"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CourseError(f'"timezone": unknown time zone {name[:60]!r} (use a name such as '
                          '"America/New_York", "Europe/Paris" or "UTC")') from None


def read_time(value: object, tz: ZoneInfo, field: str) -> datetime:
    """An ISO 8601 time (``2026-12-10T23:59``, ``2026-12-10 23:59:00-05:00``); one without an
    offset is read in the assignment's time zone. Returned in UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise CourseError(f"{field}: {value[:40]!r} is not a date and time; write it as "
                              "2026-12-10T23:59 (in the assignment's time zone) or with an "
                              "offset, 2026-12-10T23:59-05:00") from None
    else:
        raise CourseError(f"{field} is required: a date and time such as 2026-12-10T23:59")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """A UTC time as the contract writes it: ``2026-12-10T23:59:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def local(moment: datetime, zone: str) -> str:
    """``moment`` as a reader in ``zone`` sees it: ``Thu 10 Dec 2026, 23:59 EST``."""
    shown = moment.astimezone(ZoneInfo(zone))
    return shown.strftime("%a %d %b %Y, %H:%M ") + (shown.tzname() or zone)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise CourseError(f"{field} must be a number")
    return float(value)


def _choice(kind, value: object, field: str):
    try:
        return kind(value)
    except ValueError:
        raise CourseError(f"{field} must be one of {', '.join(v.value for v in kind)}; "
                          f"got {str(value)[:40]!r}") from None


__all__ = ["Admission", "Assignment", "AttemptScore", "Counting", "Feedback", "LatePolicy",
           "RosterEntry", "counting_score", "iso", "local", "parse_iso", "read_roster",
           "read_time"]
