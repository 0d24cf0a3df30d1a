"""The JSON API, ``/api/v1``. It takes no cookies (so it needs no CSRF token): students
prove who they are with their submission's token, instructors with a bearer token.

A submission is stored, queued, and waited for a short time (``GRADING_WAIT_SECONDS``):
graded by then, the answer is ``201`` with the result; else ``202`` with the submission's URL
to poll. A regrade answers ``202`` at once with its progress URL.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from .. import api as grader_api
from ..documents import decode_text, load_json
from ..errors import AnswerError
from .auth import bearer_is_instructor, instructor_api
from .service import Created, GradingService, NotFound, RequestError
from .storage import MAX_ID, PENDING

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# A submission id in a URL: 1 to SQLite's largest integer; anything else is a 404.
ID = f"int(min=1, max={MAX_ID})"


def service() -> GradingService:
    return current_app.extensions["grader"]


def json_body() -> dict:
    """The request's JSON object, read as a JSON submission file is (``grader.documents``):
    UTF-8, no key given twice, every string valid Unicode (a 400 naming the field), nested no
    deeper than the decoder goes. The body's size is bounded by MAX_CONTENT_LENGTH (413)."""
    if not request.is_json:
        raise RequestError("send a JSON object (Content-Type: application/json)")
    data = load_json(decode_text(request.get_data(), "the request", limit=None), "the request")
    if not isinstance(data, dict):
        raise RequestError("send a JSON object (Content-Type: application/json)")
    return data


# ------------------------------------------------------------------------------ students
@bp.get("/problems")
def problems():
    return jsonify([service().public_problem(p) for p in service().problems()])


@bp.post("/problems/<problem_id>/submissions")
def submit(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    svc.check_open_submission(problem)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise RequestError('send the submission as a file in the form field "file"')
        name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        student = svc.student_name(request.form.get("student"), name.rsplit(".", 1)[0])
        data = upload.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
        submission, document = svc.read_upload(problem, name, data, student)
        created = svc.submit(problem, submission, student, "upload", document)
    else:
        body = json_body()
        student = svc.student_name(body.get("student"))
        has_answers, has_document = "answers" in body, "document" in body
        if has_answers == has_document:
            raise RequestError('send either "answers" (an object of part ids to LaTeX) or '
                               '"document" (the whole document as a string), not both')
        if has_answers:
            submission = svc.read_answers(problem, body["answers"], student)
            created = svc.submit(problem, submission, student, "answers")
        else:
            fmt = body.get("format", "md")
            if not isinstance(fmt, str):
                raise RequestError('"format" must be md, tex or txt')
            submission = svc.read_document(problem, body["document"], student, fmt)
            created = svc.submit(problem, submission, student, "document", body["document"])
    return created_response(svc, created)


def created_response(svc: GradingService, created: Created) -> Response:
    """201 with the result if grading is done within the wait, else 202: poll the URL."""
    g.stored_submission = created.id
    stored = svc.wait(created.id, current_app.config["GRADING_WAIT_SECONDS"])
    url = url_for("api.submission", submission_id=created.id)
    response = jsonify({"id": created.id, "token": created.token, "status": stored.status,
                        "result": svc.effective(stored), "url": url,
                        "page": url_for("pages.result", submission_id=created.id,
                                        token=created.token)})
    response.status_code = 202 if stored.status == PENDING else 201
    response.headers["Location"] = url
    if stored.status == PENDING:
        response.headers["Retry-After"] = "1"
    return response


@bp.get(f"/submissions/<{ID}:submission_id>")
def submission(submission_id: int):
    svc = service()
    if request.headers.get("Authorization") and bearer_is_instructor():
        stored = svc.get(submission_id)
        view = svc.view(stored)
    else:
        stored = svc.get_for_student(submission_id, request.args.get("token"))
        view = svc.student_view(stored)
    response = jsonify(view)
    if stored.status == PENDING:
        response.headers["Retry-After"] = "1"
    return response


@bp.post("/preview")
def preview():
    body = json_body()
    problem = service().problem(body.get("problem"))
    part_id, latex = body.get("part"), body.get("latex")
    if not isinstance(part_id, str):
        raise RequestError('"part" must be a part id such as "a"')
    if not isinstance(latex, str):
        raise RequestError('"latex" must be a string')
    part = problem.part(part_id)
    limit = current_app.config["MAX_ANSWER_CHARS"]
    if len(latex) > limit:
        raise AnswerError(f"the answer is too long ({len(latex):,} characters; "
                          f"the limit is {limit:,})")
    return jsonify(grader_api.preview(problem, part.id, latex))


# ---------------------------------------------------------------------------- instructors
@bp.get("/problems/<problem_id>/submissions")
@instructor_api
def list_submissions(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    return jsonify([svc.summary(s) for s in svc.store.for_problem(problem.id)])


@bp.get("/problems/<problem_id>/gradebook.csv")
@instructor_api
def gradebook(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    return csv_response(svc.gradebook_csv(problem), f"{problem.id}-grades.csv")


@bp.post("/problems/<problem_id>/regrade")
@instructor_api
def regrade(problem_id: str):
    """Start grading every submission again (in the background): 202 and the progress."""
    svc = service()
    problem = svc.problem(problem_id)
    regrade, ids, started = svc.start_regrade(problem)
    url = url_for("api.regrade_progress", problem_id=problem.id)
    progress = svc.store.regrade(regrade.id) or regrade
    response = jsonify({"problem": problem.id, "started": started, "submissions": ids,
                        "progress": url, "regrade": progress.to_json()})
    response.status_code = 202
    response.headers["Location"] = url
    return response


@bp.get("/problems/<problem_id>/regrade")
@instructor_api
def regrade_progress(problem_id: str):
    """The progress of the problem's latest regrade."""
    svc = service()
    problem = svc.problem(problem_id)
    regrade = svc.store.latest_regrade(problem.id)
    if regrade is None:
        raise NotFound(f"problem {problem.id} has not been regraded")
    return jsonify({"problem": problem.id, "regrade": regrade.to_json()})


@bp.get("/problems/<problem_id>/review")
@instructor_api
def review(problem_id: str):
    svc = service()
    problem = svc.problem(problem_id)
    include = request.args.get("all", "").lower() in ("1", "true", "yes")
    return jsonify(svc.review_queue(problem, include_resolved=include))


@bp.route(f"/submissions/<{ID}:submission_id>/parts/<part_id>/override",
          methods=["PUT", "POST"])
@instructor_api
def set_override(submission_id: int, part_id: str):
    svc = service()
    stored = svc.get(submission_id)
    body = json_body()
    svc.set_override(stored, part_id, body.get("score"), body.get("verdict"),
                     body.get("comment", ""))
    return jsonify(svc.view(svc.get(submission_id)))


@bp.delete(f"/submissions/<{ID}:submission_id>/parts/<part_id>/override")
@instructor_api
def delete_override(submission_id: int, part_id: str):
    svc = service()
    stored = svc.get(submission_id)
    if not svc.store.delete_override(stored.id, part_id):
        raise NotFound(f"submission {submission_id} has no override for part {part_id}")
    svc.score_changed(stored.id)
    return jsonify(svc.view(svc.get(submission_id)))


# --------------------------------------------------------------------------------- CSV
def csv_response(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
