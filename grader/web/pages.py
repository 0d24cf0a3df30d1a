"""The HTML pages: the student form and result page, and the instructor pages.

Every POST carries the session's CSRF token. The instructor pages sit behind a login form
that checks the instructor token; the session is a server-side record (``sessions.py``).
A submitted form is stored, queued and waited for a short time; a result that is not ready
yet shows "Grading..." and its page polls ``/submissions/<id>/status`` until it is.
"""

from __future__ import annotations

import functools
import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape

from .. import api as grader_api
from ..errors import AnswerError, GraderError, IndexMismatch, OverrideError, ProblemNotFound
from ..expr import to_mathml
from ..reader import read
from ..results import Verdict
from .api import ID, csv_response
from .auth import (
    csrf_token,
    csrf_valid,
    end_session,
    failed_attempt,
    is_instructor_token,
    safe_next,
    session_is_instructor,
    start_instructor_session,
)
from .service import GradingService, NotFound, RequestError, http_status

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
        svc.check_open_submission(problem)
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
        status = http_status(err)
        return render_template("form.html", problems=problems, problem=problem, values=values,
                               error=str(err), mode=mode), status
    g.stored_submission = created.id
    # a quick answer lands on its result; a slow one on "Grading...", which polls
    svc.wait(created.id, current_app.config["GRADING_WAIT_SECONDS"])
    return redirect(url_for("pages.result", submission_id=created.id, token=created.token),
                    code=303)


def _visible_submission(submission_id: int):
    """The submission if the request may see it (its token, or an instructor); else None."""
    svc = service()
    try:
        if session_is_instructor():
            return svc.get(submission_id)
        if request.args.get("token") is None:
            from .coursepages import current_student  # the signed-in student's own attempt

            student = current_student()
            found = svc.course.attempt_of(submission_id) if student else None
            if student is not None and found is not None and found[1] == student.id:
                return svc.get(submission_id)
        return svc.get_for_student(submission_id, request.args.get("token"))
    except NotFound:
        return None


def _no_such_submission():
    return render_template(
        "error.html", status=404,
        message="No submission with that id and token. Check the link you were given."
    ), 404


@bp.get(f"/submissions/<{ID}:submission_id>")
def result(submission_id: int):
    svc = service()
    token = request.args.get("token")
    stored = _visible_submission(submission_id)
    if stored is None:
        return _no_such_submission()
    problem = svc.problem(stored.problem)
    note = None
    if session_is_instructor():
        result = svc.effective(stored)
    else:
        result, note = svc.student_result(stored)
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
    status_url = url_for("pages.result_status", submission_id=stored.id, token=token)
    return render_template("result.html", stored=stored, problem=problem, result=result,
                           readings=readings, link=link, status_url=status_url, note=note)


@bp.get(f"/submissions/<{ID}:submission_id>/status")
def result_status(submission_id: int):
    """``{"status"}`` of a submission, for its result page to poll while it is graded."""
    stored = _visible_submission(submission_id)
    if stored is None:
        return jsonify({"error": "no submission with that id and token"}), 404
    return jsonify({"status": stored.status})


# ---------------------------------------------------------------------------- instructors
def instructor_page(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not session_is_instructor():
            return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


@bp.route("/instructor/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        target = safe_next(request.form.get("next")) or url_for("pages.instructor")
        if is_instructor_token(request.form.get("token", "").strip()):
            start_instructor_session()
            return redirect(target, code=303)
        failed_attempt()
        return render_template("login.html", error="That is not the instructor token.",
                               next=safe_next(request.form.get("next")) or ""), 403
    return render_template("login.html", error=None,
                           next=safe_next(request.args.get("next")) or "")


@bp.post("/instructor/logout")
def logout():
    end_session()
    return redirect(url_for("pages.index"), code=303)


@bp.get("/instructor/")
@instructor_page
def instructor():
    svc = service()
    scan = svc.scan()
    return render_template("instructor.html", problems=scan.problems, broken=scan.broken,
                           counts=svc.store.counts(), queue=svc.queue.stats())


@bp.get("/instructor/problems/<problem_id>")
@instructor_page
def instructor_problem(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    listing = svc.page(problem, request.args.get("page"), current_app.config["PAGE_SIZE"])
    queue = svc.review_queue(problem)
    return render_template("instructor_problem.html", problem=problem, listing=listing,
                           open_reviews=len(queue),
                           regrade=svc.store.latest_regrade(problem.id))


@bp.get("/instructor/problems/<problem_id>/regrade")
@instructor_page
def instructor_regrade_progress(problem_id: str):
    """The latest regrade's progress as JSON, for the problem page to poll."""
    svc = service()
    problem = svc.problem(problem_id)
    regrade = svc.store.latest_regrade(problem.id)
    return jsonify({"problem": problem.id, "regrade": regrade.to_json() if regrade else None})


@bp.get("/instructor/problems/<problem_id>/gradebook.csv")
@instructor_page
def instructor_gradebook(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    return csv_response(svc.gradebook_csv(problem), f"{problem.id}-grades.csv")


@bp.post("/instructor/problems/<problem_id>/regrade")
@instructor_page
def instructor_regrade(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    regrade, ids, started = svc.start_regrade(problem)
    if started:
        flash(f"Regrading {len(ids)} submission{'s' * (len(ids) != 1)} in the background; "
              "overrides still apply.")
    else:
        flash(f"A regrade is already running ({regrade.done} of {regrade.total} done).")
    return redirect(url_for("pages.instructor_problem", problem_id=problem.id), code=303)


@bp.get("/instructor/problems/<problem_id>/review")
@instructor_page
def instructor_review(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    queue = svc.review_queue(problem, include_resolved=True)
    queue.sort(key=lambda item: item["override"] is not None)
    per_page = current_app.config["PAGE_SIZE"]
    pages = max(1, -(-len(queue) // per_page))
    try:
        number = min(max(int(request.args.get("page", "1")), 1), pages)
    except ValueError:
        number = 1
    shown = queue[(number - 1) * per_page: number * per_page]
    return render_template("review.html", problem=problem, queue=shown,
                           open_items=sum(item["override"] is None for item in queue),
                           listing={"page": number, "pages": pages, "total": len(queue)},
                           verdicts=[v.value for v in Verdict])


@bp.post(f"/instructor/submissions/<{ID}:submission_id>/parts/<part_id>/override")
@instructor_page
def instructor_override(submission_id: int, part_id: str):
    svc = service()
    try:
        stored = svc.get(submission_id)
    except NotFound:
        abort(404)
    form = request.form
    try:
        if not form.get("verdict"):
            raise RequestError("choose a verdict for the part")
        if not form.get("score", "").strip():
            raise RequestError("give the part a score")
        svc.set_override(stored, part_id, form.get("score", ""), form.get("verdict"),
                         form.get("comment", ""))
        flash(f"Saved: submission {stored.id} ({stored.student}), part {part_id}.")
    except (RequestError, OverrideError, AnswerError, ProblemNotFound) as err:
        flash(f"Not saved: {err}", "error")
    return redirect(url_for("pages.instructor_review", problem_id=stored.problem), code=303)
