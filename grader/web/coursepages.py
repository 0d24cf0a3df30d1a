"""The course's pages and API: a student signs in with a personal link (or from the LMS,
``grader.web.lti``), sees their assignments and takes attempts under each assignment's rules;
instructors create and edit assignments, import the roster, hand out sign-in links and
download gradebooks keyed by student id.

The routes sit on the ``pages`` and ``api`` blueprints (so the pages share their CSRF check
and the API its JSON errors); the rules are ``grader.course``'s, stored by ``CourseStore``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ..course import Assignment, Feedback, read_roster
from ..errors import AttemptRefused, CourseError, GraderError
from ..gradebook import _csv, assignment_canvas_csv, assignment_csv
from .api import bp as api_bp
from .api import csv_response, json_body
from .auth import end_session, instructor_api, start_session
from .coursestore import CourseStore, Student
from .pages import bp, instructor_page, service
from .service import NotFound, RequestError, http_status
from .storage import PENDING, digest

STUDENT_KEY_HEADER = "X-Student-Key"


def course() -> CourseStore:
    return service().course


def current_student() -> Student | None:
    """The signed-in student: by their personal link (its key must still be theirs: a
    revoked or replaced link ends the session) or by an LMS launch."""
    student_id = session.get("student")
    if not isinstance(student_id, str):
        return None
    student = course().student(student_id)
    if student is None:
        return None
    if isinstance(session.get("lti"), dict):
        return student
    key = session.get("student_key")
    if not isinstance(key, str) or course().key_digest(student_id) != key:
        return None
    return student


@bp.app_context_processor
def _student_globals():
    return {"current_student": current_student, "tz": ZoneInfo}


def student_page(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        student = current_student()
        if student is None:
            return render_template(
                "error.html", status=401,
                message="Sign in with the personal link your instructor sent you, or open "
                        "this assignment from your course's LMS."), 401
        g.student = student
        return view(*args, **kwargs)

    return wrapper


def _now() -> datetime:
    return datetime.now(UTC)


def _assignment_or_404(assignment_id: str) -> Assignment:
    found = course().assignment(assignment_id)
    if found is None:
        raise NotFound(f"no assignment {assignment_id!r}")
    return found


def standing(assignment: Assignment, student: Student, now: datetime) -> dict:
    """A student's standing in an assignment: attempts used and left, whether they may
    submit now (and why not), and the counting score as far as they may see it."""
    used = course().attempts_used(assignment.id, student.id)
    try:
        assignment.admit(now, used)
        refused = None
    except AttemptRefused as err:
        refused = str(err)
    counted = course().counting(assignment, student.id)
    hide = assignment.feedback is Feedback.AFTER_DUE and now < assignment.due_at
    return {"used": used, "left": assignment.attempts_left(used), "refused": refused,
            "counted": None if hide else counted,
            "state": ("not open yet" if now < assignment.opens_at else
                      "closed" if now > assignment.closes_at else
                      "late" if now > assignment.due_at else "open")}


# ------------------------------------------------------------------------ sign-in
@bp.get("/signin/<key>")
def sign_in(key: str):
    student = course().student_by_key(key)
    if student is None:
        return render_template(
            "error.html", status=404,
            message="This sign-in link does not work: it may have been replaced by a newer "
                    "one or revoked. Ask your instructor for a new link."), 404
    start_session(student=student.id, student_key=digest(key))
    return redirect(url_for("pages.assignments"), code=303)


@bp.post("/signout")
def sign_out():
    end_session()
    return redirect(url_for("pages.index"), code=303)


# ---------------------------------------------------------------------- students
@bp.get("/assignments")
@student_page
def assignments():
    now = _now()
    rows = [(a, standing(a, g.student, now)) for a in course().assignments()]
    return render_template("assignments.html", student=g.student, rows=rows)


@bp.get("/assignments/<assignment_id>")
@student_page
def assignment(assignment_id: str):
    return _assignment_page(_assignment_or_404(assignment_id), {}, None, "answers")


def _assignment_page(assignment: Assignment, values: dict, error: str | None, mode: str,
                     status: int = 200):
    svc = service()
    now = _now()
    problem = svc.problem(assignment.problem)
    made = course().attempts(assignment.id, g.student.id)
    shown = []
    for attempt in made:
        result, _ = svc.student_result(attempt.submission)
        shown.append((attempt, result))
    page = render_template("assignment.html", assignment=assignment, problem=problem,
                           problems=[problem], standing=standing(assignment, g.student, now),
                           attempts=shown, values=values, error=error, mode=mode,
                           student=g.student)
    return page, status


@bp.post("/assignments/<assignment_id>/submit")
@student_page
def assignment_submit(assignment_id: str):
    svc = service()
    assignment = _assignment_or_404(assignment_id)
    problem = svc.problem(assignment.problem)
    form = request.form
    mode = form.get("mode", "answers")
    values = {key: value for key, value in form.items() if key != "csrf_token"}
    student = g.student
    try:
        upload = request.files.get("file")
        if mode == "document" and upload is not None and upload.filename:
            name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
            data = upload.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
            submission, document = svc.read_upload(problem, name, data, student.id)
            created = svc.submit_attempt(assignment, student.id, submission, "upload",
                                         document)
        elif mode == "document":
            document = form.get("document", "")
            submission = svc.read_document(problem, document, student.id,
                                           form.get("format", "md"))
            created = svc.submit_attempt(assignment, student.id, submission, "document",
                                         document)
        else:
            answers = {pid: form.get(f"answer-{pid}", "") for pid in problem.parts}
            submission = svc.read_answers(problem, answers, student.id)
            created = svc.submit_attempt(assignment, student.id, submission, "answers")
    except GraderError as err:
        return _assignment_page(assignment, values, str(err), mode, http_status(err))
    g.stored_submission = created.id
    svc.wait(created.id, current_app.config["GRADING_WAIT_SECONDS"])
    return redirect(url_for("pages.result", submission_id=created.id), code=303)


# ------------------------------------------------------------------- instructors
def _form_assignment(form, current: Assignment | None = None) -> Assignment:
    """An assignment from the instructor form's fields (``Assignment.make`` checks them)."""
    data: dict[str, object] = {}
    for key in ("id", "problem", "title", "opens_at", "due_at", "timezone", "counting",
                "feedback"):
        if form.get(key) is not None:
            data[key] = form.get(key, "").strip()
    attempts = form.get("max_attempts", "").strip()
    try:
        data["max_attempts"] = int(attempts) if attempts else None
    except ValueError:
        raise CourseError(f'"max_attempts" must be a whole number or empty for unlimited; '
                          f"got {attempts[:20]!r}") from None
    if form.get("late_policy") == "penalty":
        try:
            data["late"] = {"policy": "penalty",
                            "per_day": float(form.get("late_percent", "0")) / 100,
                            "cutoff_days": float(form.get("late_cutoff_days", "0"))}
        except ValueError:
            raise CourseError("the late penalty (percent per day) and the cut-off (days) "
                              "must be numbers") from None
    else:
        data["late"] = {"policy": "none"}
    if current is not None:
        data["id"] = current.id
    return Assignment.make(data, problems=[p.id for p in service().problems()],
                           current=current)


@bp.route("/instructor/assignments", methods=["GET", "POST"])
@instructor_page
def instructor_assignments():
    svc = service()
    error, values = None, {}
    if request.method == "POST":
        values = dict(request.form)
        try:
            made = course().save_assignment(_form_assignment(request.form), create=True)
            flash(f"Created the assignment {made.title}.")
            return redirect(url_for("pages.instructor_assignment", assignment_id=made.id),
                            code=303)
        except CourseError as err:
            error = str(err)
    return render_template("instructor_assignments.html", assignments=course().assignments(),
                           problems=svc.problems(), error=error, values=values), \
        400 if error else 200


@bp.route("/instructor/assignments/<assignment_id>", methods=["GET", "POST"])
@instructor_page
def instructor_assignment(assignment_id: str):
    svc = service()
    assignment = _assignment_or_404(assignment_id)
    error = None
    if request.method == "POST":
        try:
            assignment = course().save_assignment(
                _form_assignment(request.form, assignment), create=False)
            flash("Saved the assignment's settings.")
            return redirect(url_for("pages.instructor_assignment",
                                    assignment_id=assignment.id), code=303)
        except CourseError as err:
            error = str(err)
    problem = svc.problem(assignment.problem)
    return render_template("instructor_assignment.html", assignment=assignment,
                           problem=problem, problems=svc.problems(), error=error,
                           rows=course().gradebook(assignment),
                           decisions=course().decisions(assignment.id, limit=100)), \
        400 if error else 200


@bp.get("/instructor/assignments/<assignment_id>/gradebook.csv")
@instructor_page
def instructor_assignment_gradebook(assignment_id: str):
    return _gradebook_response(_assignment_or_404(assignment_id))


def _gradebook_response(assignment: Assignment):
    problem = service().problem(assignment.problem)
    rows = course().gradebook(assignment)
    if request.args.get("format") == "canvas":
        return csv_response(assignment_canvas_csv(rows, assignment.title, problem.points),
                            f"{assignment.id}-canvas.csv")
    return csv_response(assignment_csv(rows, problem.points), f"{assignment.id}-grades.csv")


@bp.route("/instructor/roster", methods=["GET", "POST"])
@instructor_page
def instructor_roster():
    error = None
    if request.method == "POST":
        upload = request.files.get("roster")
        text = request.form.get("roster_text", "")
        try:
            if upload is not None and upload.filename:
                text = upload.read(2_000_001).decode("utf-8")
            added, updated = course().import_roster(read_roster(text))
            flash(f"Roster imported: {added} added, {updated} updated.")
            return redirect(url_for("pages.instructor_roster"), code=303)
        except UnicodeDecodeError:
            error = "the roster file is not UTF-8 text; save it as CSV UTF-8"
        except CourseError as err:
            error = str(err)
    return render_template("instructor_roster.html", students=course().students(),
                           error=error), 400 if error else 200


@bp.post("/instructor/roster/links")
@instructor_page
def instructor_roster_links():
    """New sign-in links as CSV, for the students without one (or for everyone: their old
    links stop working)."""
    everyone = request.form.get("everyone") == "1"
    keys = course().issue_keys(only_missing=not everyone)
    return csv_response(links_csv(keys), "sign-in-links.csv")


@bp.post("/instructor/roster/<student_id>/revoke")
@instructor_page
def instructor_revoke(student_id: str):
    if course().revoke_key(student_id):
        flash(f"Revoked the sign-in link of {student_id}.")
    else:
        flash(f"{student_id} had no sign-in link.", "error")
    return redirect(url_for("pages.instructor_roster"), code=303)


@bp.post("/instructor/roster/<student_id>/link")
@instructor_page
def instructor_new_link(student_id: str):
    try:
        keys = course().issue_keys([student_id])
    except CourseError as err:
        flash(str(err), "error")
        return redirect(url_for("pages.instructor_roster"), code=303)
    return csv_response(links_csv(keys), f"sign-in-link-{student_id}.csv")


def links_csv(keys: dict[str, str]) -> str:
    """student_id, name, email, link: one row per new key, to mail to each student."""
    students = {s.id: s for s in course().students()}
    rows: list[list[object]] = [["student_id", "name", "email", "link"]]
    for student_id in sorted(keys):
        student = students[student_id]
        rows.append([student.id, student.name, student.email,
                     url_for("pages.sign_in", key=keys[student_id], _external=True)])
    return _csv(rows)


# ----------------------------------------------------------------------------- API
@api_bp.get("/assignments")
@instructor_api
def api_assignments():
    return jsonify([a.to_json() for a in course().assignments()])


@api_bp.post("/assignments")
@instructor_api
def api_create_assignment():
    made = course().save_assignment(
        Assignment.make(json_body(), problems=[p.id for p in service().problems()]),
        create=True)
    response = jsonify(made.to_json())
    response.status_code = 201
    response.headers["Location"] = url_for("api.api_assignment", assignment_id=made.id)
    return response


@api_bp.route("/assignments/<assignment_id>", methods=["GET", "PUT", "PATCH"])
@instructor_api
def api_assignment(assignment_id: str):
    current = _assignment_or_404(assignment_id)
    if request.method == "GET":
        return jsonify(current.to_json())
    body = json_body()
    body.setdefault("id", current.id)
    changed = Assignment.make(body, problems=[p.id for p in service().problems()],
                              current=current if request.method == "PATCH" else None)
    if changed.id != current.id:
        raise RequestError(f'"id" cannot change (it is {current.id!r})')
    return jsonify(course().save_assignment(changed, create=False).to_json())


@api_bp.get("/assignments/<assignment_id>/gradebook.csv")
@instructor_api
def api_assignment_gradebook(assignment_id: str):
    return _gradebook_response(_assignment_or_404(assignment_id))


@api_bp.get("/assignments/<assignment_id>/decisions")
@instructor_api
def api_decisions(assignment_id: str):
    assignment = _assignment_or_404(assignment_id)
    return jsonify([d.to_json() for d in course().decisions(assignment.id, limit=1000)])


@api_bp.route("/roster", methods=["GET", "POST"])
@instructor_api
def api_roster():
    if request.method == "POST":
        text = request.get_data().decode("utf-8", errors="strict") \
            if request.mimetype == "text/csv" else None
        if text is None:
            raise RequestError("send the roster as CSV (Content-Type: text/csv) with the "
                               "columns student id, name, email")
        added, updated = course().import_roster(read_roster(text))
        return jsonify({"added": added, "updated": updated,
                        "students": len(course().students())})
    return jsonify([s.to_json() for s in course().students()])


@api_bp.post("/roster/links")
@instructor_api
def api_roster_links():
    """New sign-in links (CSV) for students without one; ``?everyone=1`` for everyone."""
    everyone = request.args.get("everyone", "").lower() in ("1", "true", "yes")
    return csv_response(links_csv(course().issue_keys(only_missing=not everyone)),
                        "sign-in-links.csv")


@api_bp.post("/assignments/<assignment_id>/submissions")
def api_attempt(assignment_id: str):
    """A student's attempt through the API, signed in by the key of their personal link
    (header ``X-Student-Key``); the same rules as the form."""
    svc = service()
    student = course().student_by_key(request.headers.get(STUDENT_KEY_HEADER))
    if student is None:
        raise RequestError(f"this needs your personal sign-in key (header "
                           f"{STUDENT_KEY_HEADER}: the last part of your sign-in link)", 401)
    assignment = _assignment_or_404(assignment_id)
    problem = svc.problem(assignment.problem)
    body = json_body()
    if ("answers" in body) == ("document" in body):
        raise RequestError('send either "answers" (an object of part ids to LaTeX) or '
                           '"document" (the whole document as a string), not both')
    if "answers" in body:
        submission = svc.read_answers(problem, body["answers"], student.id)
        created = svc.submit_attempt(assignment, student.id, submission, "answers")
    else:
        fmt = body.get("format", "md")
        submission = svc.read_document(problem, body["document"], student.id,
                                       fmt if isinstance(fmt, str) else "")
        created = svc.submit_attempt(assignment, student.id, submission, "document",
                                     body["document"])
    g.stored_submission = created.id
    stored = svc.wait(created.id, current_app.config["GRADING_WAIT_SECONDS"])
    result, note = svc.student_result(stored)
    url = url_for("api.submission", submission_id=created.id)
    response = jsonify({"id": created.id, "token": created.token, "status": stored.status,
                        "result": result, "note": note, "url": url,
                        "attempts_left": assignment.attempts_left(
                            course().attempts_used(assignment.id, student.id))})
    response.status_code = 202 if stored.status == PENDING else 201
    response.headers["Location"] = url
    return response
