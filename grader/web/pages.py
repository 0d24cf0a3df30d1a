"""The HTML pages: the student form and result page, and the instructor pages.

Every POST carries the session's CSRF token. The instructor pages sit behind a login form
that checks the instructor token and keeps only its digest in the (signed) session.
"""

from __future__ import annotations

import functools
import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup, escape

from .. import api as grader_api
from ..errors import AnswerError, GraderError, IndexMismatch, ProblemNotFound
from ..expr import to_mathml
from ..reader import read
from .api import csv_response, gradebook_csv
from .auth import csrf_token, csrf_valid, is_instructor_token, session_is_instructor
from .service import GradingService, NotFound, RequestError

bp = Blueprint("pages", __name__)

_INLINE_MATH = re.compile(r"\$([^$]+)\$")


@bp.app_template_global()
def prompt_html(problem, part_id: str) -> Markup:
    """A part's prompt as HTML: the text escaped, each $...$ drawn as MathML when it reads.

    The MathML comes from the grader's own renderer of the parsed tree, never from the text.
    """
    part = problem.part(part_id)
    out, pos = [], 0
    for match in _INLINE_MATH.finditer(part.prompt):
        out.append(escape(part.prompt[pos:match.start()]))
        try:
            out.append(Markup(to_mathml(read(match.group(1), part.vocabulary))))
        except (AnswerError, IndexMismatch):  # e.g. a bare $g'$: shown as written
            out.append(Markup("<code>%s</code>") % match.group(1))
        pos = match.end()
    out.append(escape(part.prompt[pos:]))
    return Markup("").join(out)


def service() -> GradingService:
    return current_app.extensions["grader"]


@bp.app_context_processor
def _globals():
    return {"csrf_token": csrf_token, "is_instructor": session_is_instructor}


@bp.before_request
def _check_csrf():
    if request.method == "POST" and not csrf_valid():
        return render_template(
            "error.html", status=400,
            message="This form has expired (its security token did not match). Go back, "
                    "reload the page and submit again; your answers are kept in this browser."
        ), 400
    return None


# ------------------------------------------------------------------------------ students
@bp.get("/")
def index():
    svc = service()
    problems = svc.problems()
    if not problems:
        return render_template("error.html", status=503, message="No problems are set up."), 503
    wanted = request.args.get("problem")
    problem = svc.problem(wanted) if wanted else problems[0]
    return render_template("form.html", problems=problems, problem=problem, values={},
                           error=None, mode="answers")


@bp.post("/submit")
def submit():
    svc = service()
    form = request.form
    problems = svc.problems()
    try:
        problem = svc.problem(form.get("problem", ""))
    except ProblemNotFound as err:
        return render_template("error.html", status=404, message=str(err)), 404
    mode = form.get("mode", "answers")
    values = {key: value for key, value in form.items() if key != "csrf_token"}
    try:
        upload = request.files.get("file")
        if mode == "document" and upload is not None and upload.filename:
            name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
            student = svc.student_name(form.get("student"), name.rsplit(".", 1)[0])
            data = upload.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
            submission, document = svc.read_upload(problem, name, data, student)
            created = svc.submit(problem, submission, student, "upload", document)
        elif mode == "document":
            student = svc.student_name(form.get("student"))
            document = form.get("document", "")
            submission = svc.read_document(problem, document, student, form.get("format", "md"))
            created = svc.submit(problem, submission, student, "document", document)
        else:
            student = svc.student_name(form.get("student"))
            answers = {pid: form.get(f"answer-{pid}", "") for pid in problem.parts}
            submission = svc.read_answers(problem, answers, student)
            created = svc.submit(problem, submission, student, "answers")
    except GraderError as err:
        status = err.status if isinstance(err, RequestError) else 400
        return render_template("form.html", problems=problems, problem=problem, values=values,
                               error=str(err), mode=mode), status
    return redirect(url_for("pages.result", submission_id=created.id, token=created.token),
                    code=303)


@bp.get("/submissions/<int:submission_id>")
def result(submission_id: int):
    svc = service()
    token = request.args.get("token")
    try:
        if session_is_instructor():
            stored = svc.get(submission_id)
        else:
            stored = svc.get_for_student(submission_id, token)
    except NotFound:
        return render_template(
            "error.html", status=404,
            message="No submission with that id and token. Check the link you were given."
        ), 404
    problem = svc.problem(stored.problem)
    result = svc.effective(stored)
    readings = {}
    if result is not None:
        for pid, part in result["parts"].items():
            if part.get("answer") and pid in problem.parts:
                try:
                    readings[pid] = grader_api.preview(problem, pid, part["answer"])["mathml"]
                except GraderError:
                    readings[pid] = None
    link = url_for("pages.result", submission_id=stored.id, token=token, _external=True) \
        if token else None
    return render_template("result.html", stored=stored, problem=problem, result=result,
                           readings=readings, link=link)


# ---------------------------------------------------------------------------- instructors
def instructor_page(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not session_is_instructor():
            return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def _local(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.instructor")


@bp.route("/instructor/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        if is_instructor_token(request.form.get("token", "").strip()):
            session.clear()
            session["instructor"] = current_app.config["INSTRUCTOR_TOKEN_DIGEST"]
            return redirect(_local(request.form.get("next")), code=303)
        return render_template("login.html", error="That is not the instructor token.",
                               next=request.form.get("next", "")), 403
    return render_template("login.html", error=None, next=request.args.get("next", ""))


@bp.post("/instructor/logout")
def logout():
    session.pop("instructor", None)
    return redirect(url_for("pages.index"), code=303)


@bp.get("/instructor/")
@instructor_page
def instructor():
    svc = service()
    return render_template("instructor.html", problems=svc.problems(),
                           counts=svc.store.counts())


@bp.get("/instructor/problems/<problem_id>")
@instructor_page
def instructor_problem(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    submissions = [svc.summary(s) for s in svc.store.for_problem(problem.id)]
    queue = svc.review_queue(problem)
    return render_template("instructor_problem.html", problem=problem, submissions=submissions,
                           open_reviews=len(queue))


@bp.get("/instructor/problems/<problem_id>/gradebook.csv")
@instructor_page
def instructor_gradebook(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    return csv_response(gradebook_csv(svc, problem), f"{problem.id}-grades.csv")


@bp.post("/instructor/problems/<problem_id>/regrade")
@instructor_page
def instructor_regrade(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    ids = svc.regrade(problem)
    flash(f"Regraded {len(ids)} submission{'s' * (len(ids) != 1)}; overrides still apply.")
    return redirect(url_for("pages.instructor_problem", problem_id=problem.id), code=303)


@bp.get("/instructor/problems/<problem_id>/review")
@instructor_page
def instructor_review(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    queue = svc.review_queue(problem, include_resolved=True)
    queue.sort(key=lambda item: item["override"] is not None)
    return render_template("review.html", problem=problem, queue=queue,
                           verdicts=["correct", "partial", "incorrect", "invalid", "missing",
                                     "review"])


@bp.post("/instructor/submissions/<int:submission_id>/parts/<part_id>/override")
@instructor_page
def instructor_override(submission_id: int, part_id: str):
    svc = service()
    try:
        stored = svc.get(submission_id)
    except NotFound:
        abort(404)
    form = request.form
    try:
        svc.set_override(stored, part_id, form.get("score", ""), form.get("verdict"),
                         form.get("comment", ""))
        flash(f"Saved: submission {stored.id} ({stored.student}), part {part_id}.")
    except (RequestError, AnswerError, ProblemNotFound) as err:
        flash(f"Not saved: {err}", "error")
    return redirect(url_for("pages.instructor_review", problem_id=stored.problem), code=303)
