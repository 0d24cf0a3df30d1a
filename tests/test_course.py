"""The course rules (grader.course): reading an assignment, when an attempt is allowed and how
late it is, which score counts, what a student sees, and reading a roster."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.course import (
    Assignment,
    AttemptScore,
    Counting,
    Feedback,
    counting_score,
    read_roster,
)
from grader.errors import AttemptRefused, CourseError

BASE = {"id": "hw1", "problem": "backprop", "title": "Homework 1",
        "opens_at": "2026-12-01T09:00", "due_at": "2026-12-10T23:59",
        "timezone": "America/New_York"}
DUE = datetime(2026, 12, 11, 4, 59, tzinfo=UTC)        # 23:59 EST is 04:59 UTC next day


def make(**changes) -> Assignment:
    return Assignment.make({**BASE, **changes}, problems=["backprop", "softmax"])


# ------------------------------------------------------------------------ reading
def test_times_without_an_offset_are_read_in_the_assignments_time_zone():
    a = make()
    assert a.due_at == DUE
    assert a.opens_at == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert a.to_json()["due_at"] == "2026-12-11T04:59:00Z"
    assert a.local(a.due_at) == "Thu 10 Dec 2026, 23:59 EST"
    # an offset given is kept; "Z" is UTC
    assert make(due_at="2026-12-10T23:59-08:00").due_at == datetime(2026, 12, 11, 7, 59,
                                                                   tzinfo=UTC)
    assert make(due_at="2026-12-10T23:59Z").due_at == datetime(2026, 12, 10, 23, 59,
                                                              tzinfo=UTC)


def test_daylight_saving_time_is_that_of_the_date():
    summer = make(opens_at="2026-06-01T09:00", due_at="2026-07-01T12:00")
    assert summer.due_at == datetime(2026, 7, 1, 16, 0, tzinfo=UTC)     # EDT, UTC-4
    assert summer.local(summer.due_at).endswith("12:00 EDT")


def test_an_assignment_round_trips_through_its_json():
    a = make(late={"policy": "penalty", "per_day": 0.1, "cutoff_days": 3}, max_attempts=3,
             counting="last", feedback="verdicts")
    assert Assignment.make(a.to_json(), problems=["backprop"]) == a


def test_an_edit_keeps_the_fields_it_does_not_name():
    a = make(max_attempts=3)
    edited = Assignment.make({"max_attempts": 5}, current=a)
    assert edited.max_attempts == 5 and edited.due_at == a.due_at and edited.title == a.title
    with pytest.raises(CourseError, match='"id" cannot change'):
        Assignment.make({"id": "hw2"}, current=a)


@pytest.mark.parametrize("changes, message", [
    ({"id": "bad id"}, '"id" must be'),
    ({"id": ""}, '"id" must be'),
    ({"problem": "nope"}, "there is no problem 'nope'"),
    ({"problem": None}, '"problem" is required'),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"due_at": "next friday"}, '"due_at": \'next friday\' is not a date'),
    ({"opens_at": None}, '"opens_at" is required'),
    ({"due_at": "2026-11-30T00:00"}, '"due_at" .* must be after "opens_at"'),
    ({"max_attempts": 0.5}, '"max_attempts" must be a whole number'),
    ({"max_attempts": -1}, '"max_attempts" must be a whole number'),
    ({"max_attempts": True}, '"max_attempts" must be a whole number'),
    ({"counting": "first"}, '"counting" must be one of best, last'),
    ({"feedback": "some"}, '"feedback" must be one of full, verdicts, score, after_due'),
    ({"late": {"policy": "penalty", "per_day": 10, "cutoff_days": 2}}, '"late.per_day"'),
    ({"late": {"policy": "penalty", "per_day": 0.1, "cutoff_days": 0}},
     '"late.cutoff_days"'),
    ({"late": {"policy": "penalty", "per_day": "ten", "cutoff_days": 2}},
     '"late.per_day" must be a number'),
    ({"late": {"policy": "sometimes"}}, '"late.policy" must be "none" or "penalty"'),
    ({"late": 3}, '"late" must be'),
    ({"color": "red"}, "unknown assignment field 'color'"),
    ({"title": "x" * 201}, '"title" must be text of at most 200'),
])
def test_a_bad_field_is_refused_by_name(changes, message):
    with pytest.raises(CourseError, match=message):
        make(**changes)


# ------------------------------------------------------------------------ the rules
def test_no_attempt_before_it_opens_and_one_at_the_minute_it_opens():
    a = make()
    with pytest.raises(AttemptRefused, match="opens Tue 01 Dec 2026, 09:00 EST") as err:
        a.admit(a.opens_at - timedelta(seconds=1), 0)
    assert err.value.reason == "not_open"
    assert a.admit(a.opens_at, 0).number == 1


def test_without_a_late_policy_the_due_time_is_the_last_moment():
    a = make()
    assert a.admit(DUE, 0).late_days == 0
    with pytest.raises(AttemptRefused, match="late work is not accepted") as err:
        a.admit(DUE + timedelta(seconds=1), 0)
    assert err.value.reason == "closed"


def test_late_attempts_pay_for_every_day_started_up_to_the_cutoff():
    a = make(late={"policy": "penalty", "per_day": 0.1, "cutoff_days": 3})
    one = a.admit(DUE + timedelta(minutes=1), 0)
    assert (one.late_days, one.penalty) == (1, 0.1)
    assert a.admit(DUE + timedelta(days=1), 0).late_days == 1
    two = a.admit(DUE + timedelta(days=1, seconds=1), 0)
    assert (two.late_days, two.penalty) == (2, 0.2)
    assert a.admit(DUE + timedelta(days=3), 0).penalty == pytest.approx(0.3)
    with pytest.raises(AttemptRefused, match="late work was accepted until"):
        a.admit(DUE + timedelta(days=3, seconds=1), 0)


def test_never_past_the_attempt_limit():
    a = make(max_attempts=2)
    assert a.admit(DUE, 1).number == 2
    with pytest.raises(AttemptRefused, match="used all 2 attempts") as err:
        a.admit(DUE, 2)
    assert err.value.reason == "no_attempts"
    assert a.attempts_left(1) == 1 and make().attempts_left(50) is None


@settings(max_examples=300, deadline=None)
@given(per_day=st.floats(0, 1), cutoff=st.floats(0.01, 30), used=st.integers(0, 6),
       limit=st.one_of(st.none(), st.integers(1, 5)),
       offset=st.integers(-20 * 86400, 40 * 86400))
def test_admission_follows_the_rules_at_any_time(per_day, cutoff, used, limit, offset):
    a = make(late={"policy": "penalty", "per_day": per_day, "cutoff_days": cutoff},
             max_attempts=limit)
    now = DUE + timedelta(seconds=offset)
    allowed = (a.opens_at <= now <= DUE + timedelta(days=cutoff)
               and (limit is None or used < limit))
    try:
        admission = a.admit(now, used)
    except AttemptRefused:
        assert not allowed
        return
    assert allowed
    assert admission.number == used + 1
    days = max(0, math.ceil(offset / 86400))
    assert admission.late_days == days
    assert admission.penalty == pytest.approx(min(1.0, days * per_day), abs=1e-6)  # 6 places


# ------------------------------------------------------------------------- counting
def scores(*raws, penalties=None) -> list[AttemptScore]:
    penalties = penalties or [0.0] * len(raws)
    return [AttemptScore(100 + n, n, raw, 10.0, p)
            for n, (raw, p) in enumerate(zip(raws, penalties, strict=True), 1)]


def test_best_and_last_with_their_late_penalties():
    made = scores(6, 9, 7, penalties=[0, 0.5, 0])
    assert counting_score(made, Counting.BEST).number == 3         # 9 late is 4.5 < 7
    assert counting_score(made, Counting.LAST).number == 3
    assert counting_score(made, Counting.BEST).score == 7
    assert counting_score(scores(8, 8), Counting.BEST).number == 1  # the first of equals
    assert counting_score([], Counting.BEST) is None


@given(st.lists(st.tuples(st.floats(0, 10), st.sampled_from([0, 0.1, 0.5, 1])),
                min_size=1, max_size=8))
def test_best_is_the_highest_after_penalty_and_last_the_latest(made):
    attempts = scores(*[m[0] for m in made], penalties=[m[1] for m in made])
    best = counting_score(attempts, Counting.BEST)
    assert all(best.score >= a.score for a in attempts)
    assert counting_score(list(reversed(attempts)), Counting.LAST).number == len(attempts)


# -------------------------------------------------------------------- what is shown
RESULT = {"problem": "backprop", "submission": "s1", "score": 3.0, "max_score": 8.0,
          "parts": {"a": {"score": 1, "max_score": 1, "verdict": "correct", "feedback": "ok",
                          "answer": "x", "interpreted": "x", "steps": [{"latex": "x"}],
                          "elapsed_ms": 1.0, "flags": [], "fingerprint": "f"}}}


def test_what_a_student_sees_of_a_result():
    now = DUE - timedelta(days=1)
    assert make(feedback="full").shown(RESULT, now) == RESULT
    verdicts = make(feedback="verdicts").shown(RESULT, now)["parts"]["a"]
    assert verdicts["verdict"] == "correct" and verdicts["score"] == 1
    assert "feedback" not in verdicts and "steps" not in verdicts
    score = make(feedback="score").shown(RESULT, now)
    assert score["score"] == 3.0 and set(score["parts"]["a"]) == {"answer"}
    later = make(feedback="after_due")
    assert later.shown(RESULT, now) is None
    assert "after the due date" in later.result_note(now)
    assert later.shown(RESULT, DUE) == RESULT and later.result_note(DUE) is None
    assert Feedback("after_due") is Feedback.AFTER_DUE


# --------------------------------------------------------------------------- roster
def test_a_roster_in_any_column_order_with_canvas_headers_and_a_bom():
    text = "\ufeffEmail,Name,SIS User ID\nann@u.edu,Ann  Lee,s1\n,Bo Chen,s2\n\n"
    entries = read_roster(text)
    assert [(e.student_id, e.name, e.email) for e in entries] == [
        ("s1", "Ann Lee", "ann@u.edu"), ("s2", "Bo Chen", "")]


@pytest.mark.parametrize("text, message", [
    ("", "the roster is empty"),
    ("name,email\nAnn,a@u.edu\n", "roster line 1: the header has no student id column"),
    ("student id,name,email\ns1,Ann,a@u.edu\ns1,Bob,b@u.edu\n",
     "roster line 3: student id s1 is already on line 2"),
    ("student id,name,email\ns 1,Ann,a@u.edu\n", "roster line 2: a student id is"),
    ("student id,name,email\ns1,,a@u.edu\n", "roster line 2: student s1 needs a name"),
    ("student id,name,email\ns1,Ann,not-an-email\n",
     "roster line 2: 'not-an-email' is not an email address"),
])
def test_a_bad_roster_names_its_line(text, message):
    with pytest.raises(CourseError, match=message):
        read_roster(text)


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
names = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1,
                max_size=30).map(lambda s: " ".join(s.split())).filter(bool)


@given(st.lists(st.tuples(ids, names), min_size=1, max_size=20, unique_by=lambda r: r[0]))
def test_any_roster_written_as_csv_reads_back(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student id", "name", "email"])
    for sid, name in rows:
        writer.writerow([sid, name, f"{sid}@school.edu"])
    entries = read_roster(buffer.getvalue())
    assert [(e.student_id, e.name, e.email) for e in entries] == [
        (sid, name, f"{sid}@school.edu") for sid, name in rows]
