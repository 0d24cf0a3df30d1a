"""Running a course on the web service, on a real store (SQLite file and PostgreSQL): the
roster and sign-in links, assignments by the API and the instructor pages, every rule
enforced on the server with its message, the student's text kept when refused, what a
student sees of a result, gradebooks keyed by student id, and the record of decisions."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from web_support import SEED_ANSWERS, sql

from grader.course import Assignment

ROSTER = "student id,name,email\ns1,Ann Lee,ann@u.edu\ns2,Bo Chen,bo@u.edu\n"
RIGHT_A = SEED_ANSWERS["a"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assignment(client, auth, **changes) -> dict:
    now = datetime.now(UTC)
    body = {"id": "hw1", "problem": "backprop", "title": "Homework 1",
            "opens_at": iso(now - timedelta(days=1)), "due_at": iso(now + timedelta(days=1)),
            "timezone": "America/New_York", **changes}
    response = client.post("/api/v1/assignments", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def roster_links(client, auth) -> dict[str, str]:
    assert client.post("/api/v1/roster", data=ROSTER, headers={
        **auth, "Content-Type": "text/csv"}).get_json() == {"added": 2, "updated": 0,
                                                           "students": 2}
    response = client.post("/api/v1/roster/links", headers=auth)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    return {row["student_id"]: row["link"].rsplit("/", 1)[1] for row in rows}


def signed_in(app, key: str):
    client = app.test_client()
    response = client.get(f"/signin/{key}")
    assert response.status_code == 303 and response.headers["Location"] == "/assignments"
    return client


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(client, answers: dict[str, str], assignment_id: str = "hw1"):
    token = csrf(client, f"/assignments/{assignment_id}")
    form = {"csrf_token": token, "mode": "answers",
            **{f"answer-{p}": latex for p, latex in answers.items()}}
    return client.post(f"/assignments/{assignment_id}/submit", data=form)


# ----------------------------------------------------------------- roster, sign-in
def test_a_sign_in_link_opens_the_students_assignments_and_a_revoked_one_does_not(
        app, client, auth):
    assignment(client, auth)
    keys = roster_links(client, auth)
    # the store keeps digests only: no key is in the database
    assert not any(key in str(sql(app, "SELECT * FROM students")) for key in keys.values())
    ann = signed_in(app, keys["s1"])
    page = ann.get("/assignments").get_data(as_text=True)
    assert "Homework 1" in page and "Ann Lee (s1)" in page
    form = ann.get("/assignments/hw1").get_data(as_text=True)
    assert 'id="answers-form"' in form and 'name="student"' not in form   # no name asked
    # revoking the link ends the session it opened and the link itself
    assert client.post("/api/v1/roster/links?everyone=1", headers=auth).status_code == 200
    assert ann.get("/assignments").status_code == 401
    assert app.test_client().get(f"/signin/{keys['s1']}").status_code == 404
    assert app.test_client().get("/signin/not-a-key").status_code == 404


def test_links_are_issued_only_to_students_without_one_unless_asked(client, auth):
    keys = roster_links(client, auth)
    assert set(keys) == {"s1", "s2"}
    again = client.post("/api/v1/roster/links", headers=auth).get_data(as_text=True)
    assert again.strip() == "student_id,name,email,link"        # everyone has one already
    # a new import updates names and keeps the links
    response = client.post("/api/v1/roster", data=ROSTER.replace("Bo Chen", "Bo Chén"),
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.get_json() == {"added": 0, "updated": 1, "students": 2}
    listing = client.get("/api/v1/roster", headers=auth).get_json()
    assert [(s["id"], s["name"], s["sign_in_link"]) for s in listing] == [
        ("s1", "Ann Lee", "issued"), ("s2", "Bo Chén", "issued")]


def test_a_bad_roster_is_refused_with_its_line(client, auth):
    response = client.post("/api/v1/roster", data="student id,name,email\ns1,Ann,bad\n",
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "roster line 2: 'bad' is not an email address"
    assert client.get("/api/v1/roster", headers=auth).get_json() == []
    assert client.post("/api/v1/roster", data=ROSTER).status_code == 401


# ------------------------------------------------------------------------ the rules
def test_an_assigned_problem_takes_no_anonymous_submission(client, auth):
    assignment(client, auth)
    response = client.post("/api/v1/problems/backprop/submissions",
                           json={"student": "anyone", "answers": {"a": RIGHT_A}})
    assert response.status_code == 403
    assert "sign in with your personal link" in response.get_json()["error"]
    # a problem no assignment sets stays open
    assert client.post("/api/v1/problems/softmax/submissions",
                       json={"student": "anyone", "answers": {"a": "p_k"}}).status_code \
        in (201, 202)


def test_no_attempt_before_it_opens_and_the_text_is_kept(app, client, auth):
    now = datetime.now(UTC)
    assignment(client, auth, opens_at=iso(now + timedelta(days=1)),
               due_at=iso(now + timedelta(days=2)))
    ann = signed_in(app, roster_links(client, auth)["s1"])
    page = ann.get("/assignments/hw1").get_data(as_text=True)
    assert "no attempt is accepted before then" in page and 'id="answers-form"' not in page
    response = ann.post("/api/v1/assignments/hw1/submissions", json={"answers": {"a": RIGHT_A}},
                        headers={"X-Student-Key": roster_links_key(app, "s1", client, auth)})
    assert response.status_code == 403
    assert "opens" in response.get_json()["error"]
    refused = client.get("/api/v1/assignments/hw1/decisions", headers=auth).get_json()[0]
    assert (refused["action"], refused["allowed"], refused["detail"]["reason"]) == (
        "attempt", False, "not_open")
    assert refused["detail"]["answers"] == {"a": RIGHT_A}          # nothing is lost
    assert sql(app, "SELECT COUNT(*) FROM submissions") == [(0,)]


def roster_links_key(app, student_id, client, auth) -> str:
    """A fresh key for one student (the link CSV of one student)."""
    token = None
    with app.test_request_context():
        token = app.extensions["grader_course"].issue_keys([student_id])[student_id]
    return token


def test_after_the_due_date_only_under_the_late_policy(app, client, auth):
    now = datetime.now(UTC)
    assignment(client, auth, opens_at=iso(now - timedelta(days=5)),
               due_at=iso(now - timedelta(hours=30)),
               late={"policy": "penalty", "per_day": 0.25, "cutoff_days": 3})
    assignment(client, auth, id="hw0", opens_at=iso(now - timedelta(days=5)),
               due_at=iso(now - timedelta(hours=1)))
    ann = signed_in(app, roster_links(client, auth)["s1"])
    response = submit(ann, SEED_ANSWERS)
    assert response.status_code == 303
    row = sql(app, "SELECT number, late_days, penalty FROM attempts")
    assert row == [(1, 2, 0.5)]                                    # 30 h late: 2 days started
    response = submit(ann, {"a": RIGHT_A}, "hw0")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "late work is not accepted" in page
    assert str(escape(RIGHT_A)) in page                             # the form is refilled
    gradebook = client.get("/api/v1/assignments/hw1/gradebook.csv", headers=auth)
    rows = list(csv.DictReader(io.StringIO(gradebook.get_data(as_text=True))))
    ann_row = next(r for r in rows if r["student_id"] == "s1")
    assert ann_row["late_penalty"] == "0.5"
    assert float(ann_row["score"]) == pytest.approx(float(ann_row["raw_score"]) * 0.5)


def test_never_past_the_attempt_limit_and_the_best_counts(app, client, auth):
    assignment(client, auth, max_attempts=2, counting="best")
    key = roster_links(client, auth)["s1"]
    api = app.test_client()
    headers = {"X-Student-Key": key}
    first = api.post("/api/v1/assignments/hw1/submissions", headers=headers,
                     json={"answers": SEED_ANSWERS})
    assert first.status_code == 201 and first.get_json()["attempts_left"] == 1
    second = api.post("/api/v1/assignments/hw1/submissions", headers=headers,
                      json={"answers": {"a": "0"}})
    assert second.status_code == 201 and second.get_json()["attempts_left"] == 0
    third = api.post("/api/v1/assignments/hw1/submissions", headers=headers,
                     json={"answers": SEED_ANSWERS})
    assert third.status_code == 409
    assert third.get_json()["error"] == "you have used all 2 attempts at Homework 1"
    best = first.get_json()["result"]["score"]
    rows = list(csv.DictReader(io.StringIO(client.get(
        "/api/v1/assignments/hw1/gradebook.csv", headers=auth).get_data(as_text=True))))
    assert rows[0]["student_id"] == "s1" and rows[0]["counted_attempt"] == "1"
    assert float(rows[0]["score"]) == best and rows[0]["attempts"] == "2"
    assert rows[1]["student_id"] == "s2" and rows[1]["score"] == ""    # no attempt yet
    canvas = client.get("/api/v1/assignments/hw1/gradebook.csv?format=canvas",
                        headers=auth).get_data(as_text=True).splitlines()
    assert canvas[0] == "Student,ID,SIS User ID,Section,Homework 1"
    assert canvas[2].startswith("Ann Lee,,s1,,")
    # switching to "last" changes which counts
    client.patch("/api/v1/assignments/hw1", json={"counting": "last"}, headers=auth)
    rows = list(csv.DictReader(io.StringIO(client.get(
        "/api/v1/assignments/hw1/gradebook.csv", headers=auth).get_data(as_text=True))))
    assert rows[0]["counted_attempt"] == "2"
    actions = [(d["action"], d["allowed"]) for d in client.get(
        "/api/v1/assignments/hw1/decisions", headers=auth).get_json()]
    assert actions[:4] == [("assignment_changed", True), ("attempt", False),
                           ("attempt", True), ("attempt", True)]


def test_two_requests_at_once_cannot_both_take_the_last_attempt(app, client, auth):
    made = Assignment.make(assignment(client, auth, max_attempts=1))
    roster_links(client, auth)
    course = app.extensions["grader_course"]
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            course.take_attempt(made, "s1", f"t{n}", "answers", {"a": RIGHT_A})
            outcomes.append("taken")
        except Exception as err:  # AttemptRefused for all but one
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["AttemptRefused"] * 5 + ["taken"]
    assert sql(app, "SELECT COUNT(*) FROM attempts") == [(1,)]


# ------------------------------------------------------------------ what is shown
@pytest.mark.parametrize("feedback, sees_feedback, sees_parts_score", [
    ("full", True, True), ("verdicts", False, True), ("score", False, False)])
def test_a_student_sees_what_the_assignment_shows(app, client, auth, feedback, sees_feedback,
                                                  sees_parts_score):
    assignment(client, auth, feedback=feedback)
    ann = signed_in(app, roster_links(client, auth)["s1"])
    response = submit(ann, {"a": "0"})
    result_url = response.headers["Location"]
    page = ann.get(result_url).get_data(as_text=True)
    assert ('class="feedback"' in page) == sees_feedback
    assert ('<span class="badge' in page) == sees_parts_score
    assert 'id="total-score"' in page
    # the instructor sees everything; another student sees nothing
    bo = signed_in(app, roster_links_key(app, "s2", client, auth))
    assert bo.get(result_url).status_code == 404


def test_nothing_until_the_due_date(app, client, auth):
    assignment(client, auth, feedback="after_due")
    key = roster_links(client, auth)["s1"]
    response = app.test_client().post("/api/v1/assignments/hw1/submissions",
                                      headers={"X-Student-Key": key},
                                      json={"answers": SEED_ANSWERS})
    body = response.get_json()
    assert body["result"] is None and "after the due date" in body["note"]
    polled = app.test_client().get(f"/api/v1/submissions/{body['id']}?token={body['token']}")
    assert polled.get_json()["result"] is None
    assert client.get(f"/api/v1/submissions/{body['id']}", headers=auth).get_json()[
        "result"]["score"] > 0


# -------------------------------------------------------------- instructor pages
def login(client, token: str) -> None:
    form = {"csrf_token": csrf(client, "/instructor/login"), "token": token}
    assert client.post("/instructor/login", data=form).status_code == 303


def test_instructors_create_and_edit_assignments_and_import_a_roster_on_the_pages(
        app, client):
    from web_support import TOKEN

    login(client, TOKEN)
    token = csrf(client, "/instructor/assignments")
    form = {"csrf_token": token, "id": "hw2", "problem": "softmax", "title": "Softmax",
            "opens_at": "2026-01-01T09:00", "due_at": "2026-01-01T08:00",
            "timezone": "Europe/Paris", "late_policy": "none", "max_attempts": "",
            "counting": "best", "feedback": "full"}
    refused = client.post("/instructor/assignments", data=form)
    assert refused.status_code == 400 and "must be after" in refused.get_data(as_text=True)
    form["due_at"] = "2036-01-01T08:00"
    form.update(late_policy="penalty", late_percent="10", late_cutoff_days="2",
                max_attempts="3")
    made = client.post("/instructor/assignments", data=form)
    assert made.status_code == 303
    stored = app.extensions["grader_course"].assignment("hw2")
    assert stored.due_at == datetime(2036, 1, 1, 7, 0, tzinfo=UTC)     # 08:00 CET
    assert (stored.late.per_day, stored.late.cutoff_days, stored.max_attempts) == (0.1, 2, 3)
    edit = {**form, "csrf_token": csrf(client, "/instructor/assignments/hw2"),
            "feedback": "score"}
    assert client.post("/instructor/assignments/hw2", data=edit).status_code == 303
    assert app.extensions["grader_course"].assignment("hw2").feedback.value == "score"
    page = client.get("/instructor/assignments/hw2").get_data(as_text=True)
    assert "assignment_changed" in page and "assignment_created" in page
    roster = {"csrf_token": csrf(client, "/instructor/roster"), "roster_text": ROSTER}
    assert client.post("/instructor/roster", data=roster).status_code == 303
    links = client.post("/instructor/roster/links",
                        data={"csrf_token": csrf(client, "/instructor/roster")})
    assert links.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(links.get_data(as_text=True))))
    assert [r["student_id"] for r in rows] == ["s1", "s2"]
    assert all("/signin/" in r["link"] for r in rows)
    revoke = client.post("/instructor/roster/s1/revoke",
                         data={"csrf_token": csrf(client, "/instructor/roster")})
    assert revoke.status_code == 303
    assert app.test_client().get("/signin/" + rows[0]["link"].rsplit("/", 1)[1]
                                 ).status_code == 404
    # the pages are the instructor's only
    assert app.test_client().get("/instructor/roster").status_code == 302
