"""LTI 1.3 on the web: the LMS's OIDC login and launch, Deep Linking, the tool's JWKS and
configuration, and the instructor's page of registered platforms and the score outbox.

The protocol's checks (state, nonce, signature, deployment, message) are pylti1p3's
(``grader.web.ltitool`` feeds it our records). A launch signs the user in: a learner as the
roster student of their LMS user (``CourseStore.lti_student``), an instructor, teaching
assistant, designer or administrator as the grader's instructor. A resource link opens the
assignment named by its ``custom`` parameter ``assignment`` (Deep Linking sets it) or bound
to the link before; scores go back by ``ScoreSender``.

The login and launch come cross-site from the LMS, so they take no CSRF token (the state,
the one-time nonce and the signed id_token stand for it); everything after them does.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem

from ..errors import CourseError
from . import content_security_policy, lti_frame_ancestors
from .auth import csrf_valid, session_is_instructor, start_instructor_session, start_session
from .coursepages import _form_assignment, course
from .ltistore import FAILED, PENDING_SCORE, SENT, LtiStore
from .ltitool import StoreLaunchData, StoreToolConf, tool_jwks
from .pages import bp as pages_bp
from .pages import instructor_page, service

lti_bp = Blueprint("lti", __name__, url_prefix="/lti")
HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")   # what a frame-ancestors source may name

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
STAFF_ROLES = ("#Instructor", "#Administrator", "#ContentDeveloper", "#TeachingAssistant",
               "/Instructor#")
AGS_SCOPES = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
              "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
              "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
              "https://purl.imsglobal.org/spec/lti-ags/scope/score"]


def lti_store() -> LtiStore:
    return current_app.extensions["grader_lti"]


def _tool() -> tuple[StoreToolConf, StoreLaunchData]:
    store = lti_store()
    return StoreToolConf(store), StoreLaunchData(store)


def refused(message: str, status: int = 400):
    """A launch the tool cannot take: a page that says why (shown inside the LMS)."""
    return render_template("error.html", status=status, message=message), status


def is_staff(roles: list[str]) -> bool:
    """Instructor, teaching assistant, content developer or administrator (of the course
    or the institution): the roles that manage the course rather than take it."""
    return any(isinstance(r, str) and any(mark in r for mark in STAFF_ROLES) for r in roles)


def frame_origins(claims: dict) -> list[str]:
    """The origins that may frame the tool after this launch: the LMS's issuer and the
    pages it names (its return URL, its deep linking return), where the LMS shows us."""
    urls = [claims.get("iss"), (claims.get(LTI + "launch_presentation") or {}).get("return_url"),
            (claims.get(DL + "deep_linking_settings") or {}).get("deep_link_return_url")]
    origins = []
    for url in urls:
        if isinstance(url, str):
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and HOST.fullmatch(parts.netloc):
                origin = f"{parts.scheme}://{parts.netloc}"
                if origin not in origins:
                    origins.append(origin)
    return origins


# ----------------------------------------------------------------- the tool's endpoints
@lti_bp.get("/jwks")
def jwks():
    """The tool's public keys: the LMS checks the tool's signed messages with them."""
    return jsonify(tool_jwks(lti_store().store))


@lti_bp.get("/config.json")
def config():
    """The tool's URLs, and a Canvas developer key configuration ("Paste JSON")."""
    urls = tool_urls()
    return jsonify({
        "title": "Derivation grader",
        "description": "Grades LaTeX derivations against a live network.",
        "oidc_initiation_url": urls["login"], "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"], "scopes": AGS_SCOPES,
        "extensions": [{"platform": "canvas.instructure.com", "privacy_level": "public",
                        "settings": {"placements": [
                            {"placement": placement, "message_type": "LtiDeepLinkingRequest",
                             "target_link_uri": urls["launch"]}
                            for placement in ("assignment_selection", "link_selection")]}}],
        "custom_fields": {}, "redirect_uris": [urls["launch"]]})


def public_url(endpoint: str) -> str:
    """The address the LMS uses for ``endpoint``: under ``PUBLIC_URL`` when it is set
    (behind a proxy that ends TLS), else as this request came."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint)
    return url_for(endpoint, _external=True)


def tool_urls() -> dict[str, str]:
    return {"login": public_url("lti.login"), "launch": public_url("lti.launch"),
            "jwks": public_url("lti.jwks"), "config": public_url("lti.config")}


def _request() -> FlaskRequest:
    """pylti1p3's view of the request; secure (its state cookie ``SameSite=None; Secure``)
    when the tool is served over HTTPS, even if a proxy ended the TLS."""
    base = current_app.config.get("PUBLIC_URL") or ""
    return FlaskRequest(request_is_secure=request.is_secure or base.startswith("https://"))


@lti_bp.route("/login", methods=["GET", "POST"])
def login():
    """Step 1 (OIDC third-party-initiated login): back to the LMS's authorization
    endpoint with a state (a short-lived cookie) and a one-time nonce."""
    conf, data = _tool()
    try:
        oidc = FlaskOIDCLogin(_request(), conf, launch_data_storage=data)
        return oidc.redirect(public_url("lti.launch"))
    except (OIDCException, LtiException) as err:
        return refused(f"The LMS's login request was refused: {str(err).rstrip('.')}. Check "
                       "that the LMS is registered on the grader's LTI page with this issuer "
                       "and client id.")


@lti_bp.post("/launch")
def launch():
    """Step 2: the LMS posts the signed id_token; pylti1p3 checks it, then the user is
    signed in and sent to the assignment (or, for Deep Linking, to the picker)."""
    conf, data = _tool()
    message = FlaskMessageLaunch(_request(), conf, launch_data_storage=data)
    try:
        claims = message.get_launch_data()
    except LtiException as err:
        return refused(f"The launch from the LMS was refused: {str(err).rstrip('.')}.")
    # an LMS launches here: its scores will need sending (workers may queue them, too)
    current_app.extensions["grader_lti_sender"].start()
    platform = conf.platform(claims["iss"], message.get_client_id())
    if platform is None:  # pragma: no cover - pylti1p3 found its registration just now
        return refused("The LMS is not registered with the grader.")
    roles = claims.get(LTI + "roles") or []
    staff = is_staff(roles)
    frames = {"platform": platform.id, "frame": frame_origins(claims),
              "launch_id": message.get_launch_id()}
    if message.is_deep_link_launch():
        if not staff:
            return refused("Only instructors can add the grader to a course.", 403)
        start_instructor_session(lti=frames)
        return _picker(message.get_launch_id())
    if not message.is_resource_launch():
        return refused("The grader takes resource-link and deep-linking launches only.")

    link_id = str(claims[LTI + "resource_link"]["id"])   # pylti1p3 checked it is there
    sub = str(claims["sub"])
    custom = claims.get(LTI + "custom")
    named = custom.get("assignment") if isinstance(custom, dict) else None
    store = lti_store()
    bound = store.link(platform.id, link_id)
    assignment_id = (named if isinstance(named, str) and named.strip() else None) or \
        (bound.assignment_id if bound else None)
    assignment = course().assignment(assignment_id) if assignment_id else None
    lineitem, scopes = ags_endpoint(claims)
    if assignment is not None:
        link = store.bind_link(platform.id, str(claims[LTI + "deployment_id"]), link_id,
                               assignment.id, lineitem, scopes)
    if staff:
        start_instructor_session(lti=frames)
        if assignment is None:
            flash("This LMS link is not tied to an assignment yet: edit the activity in the "
                  "LMS and pick one (Deep Linking), or give it the custom parameter "
                  "assignment=<id>.")
            return redirect(url_for("pages.instructor_assignments"), code=303)
        return redirect(url_for("pages.instructor_assignment", assignment_id=assignment.id),
                        code=303)
    if assignment is None:
        return refused("This activity is not set up yet: your instructor has not chosen its "
                       "assignment. Tell them, and try again later.", 404)
    student_id = course().lti_student(
        platform.id, sub, claims.get("name") or _name(claims),
        claims.get("email") or "", (claims.get(LTI + "lis") or {}).get("person_sourcedid"))
    store.launched(link, student_id, sub)
    start_session(student=student_id, lti=frames)
    service().queue_lms_score(assignment, student_id)  # a score made before this launch
    return redirect(url_for("pages.assignment", assignment_id=assignment.id), code=303)


def ags_endpoint(claims: dict) -> tuple[str | None, list[str]]:
    """The launch's AGS line item URL and scopes (none, when the LMS grants no AGS)."""
    ags = claims.get(AGS)
    if not isinstance(ags, dict):
        return None, []
    lineitem = ags.get("lineitem")
    scopes = ags.get("scope")
    return (lineitem if isinstance(lineitem, str) and lineitem else None,
            [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else [])


def _name(claims: dict) -> str:
    return " ".join(p for p in (claims.get("given_name"), claims.get("family_name"))
                    if isinstance(p, str))


def _picker(launch_id: str, values: dict | None = None, error: str | None = None,
            status: int = 200):
    svc = service()
    return render_template("lti_deep_link.html", launch_id=launch_id,
                           assignments=course().assignments(), problems=svc.problems(),
                           values=values or {}, error=error), status


@lti_bp.post("/deep-link")
def deep_link():
    """The instructor's pick (an assignment, or a new one for a problem) goes back to the
    LMS as a signed LtiDeepLinkingResponse: a resource link with the custom parameter
    ``assignment`` and a line item worth the problem's points."""
    launch_id = request.form.get("launch_id", "")
    lti_session = session.get("lti")
    if not csrf_valid() or not session_is_instructor() or not isinstance(lti_session, dict) \
            or lti_session.get("launch_id") != launch_id:
        abort(403)
    conf, data = _tool()
    try:
        message = FlaskMessageLaunch.from_cache(launch_id, _request(), conf,
                                                launch_data_storage=data)
        deep = message.get_deep_link()
    except LtiException as err:
        return refused(f"The LMS's deep linking request is no longer open ({err}): add the "
                       "activity again from the LMS.")
    values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "launch_id")}
    try:
        if request.form.get("choice") == "existing":
            assignment = course().assignment(request.form.get("assignment", ""))
            if assignment is None:
                raise CourseError("pick one of the assignments, or make a new one")
        else:
            assignment = course().save_assignment(_form_assignment(request.form), create=True)
    except CourseError as err:
        return _picker(launch_id, values, str(err), 400)
    problem = service().problem(assignment.problem)
    resource = (DeepLinkResource().set_url(public_url("lti.launch"))
                .set_title(assignment.title)
                .set_custom_params({"assignment": assignment.id})
                .set_lineitem(LineItem().set_label(assignment.title)
                              .set_score_maximum(problem.points)
                              .set_resource_id(assignment.id)))
    token = deep.get_response_jwt([resource])
    return_url = message.get_launch_data()[DL + "deep_linking_settings"][
        "deep_link_return_url"]
    page = render_template("lti_return.html", return_url=return_url, token=token,
                           assignment=assignment)
    response = current_app.make_response(page)
    # the page's one form posts to the LMS
    response.headers["Content-Security-Policy"] = content_security_policy(
        form_action="{0.scheme}://{0.netloc}".format(urlsplit(return_url)),
        framers=lti_frame_ancestors())
    return response


# ------------------------------------------------------------------ instructor pages
@pages_bp.route("/instructor/lti", methods=["GET", "POST"])
@instructor_page
def instructor_lti():
    """The registered platforms (add one here), the tool's URLs and the score outbox."""
    store = lti_store()
    error, values = None, {}
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            made = store.register(platform_form(request.form))
            current_app.extensions["grader_lti_sender"].start()
            flash(f"Registered {made.name}.")
            return redirect(url_for("pages.instructor_lti"), code=303)
        except CourseError as err:
            error = str(err)
    return render_template("instructor_lti.html", platforms=store.platforms(),
                           urls=tool_urls(), values=values, error=error,
                           outbox=store.scores(), states=(PENDING_SCORE, SENT, FAILED)), \
        400 if error else 200


def platform_form(form) -> dict:
    data = {name: form.get(name, "") for name in ("name", "issuer", "client_id",
                                                  "auth_login_url", "auth_token_url",
                                                  "key_set_url")}
    data["deployment_ids"] = form.get("deployment_ids", "")
    return data


@pages_bp.post("/instructor/lti/<int:platform_id>")
@instructor_page
def instructor_lti_platform(platform_id: int):
    store = lti_store()
    if request.form.get("action") == "remove":
        if not store.remove(platform_id):
            abort(404)
        flash("Removed the platform, its links and its unsent scores.")
        return redirect(url_for("pages.instructor_lti"), code=303)
    try:
        made = store.register(platform_form(request.form), platform_id)
        flash(f"Saved {made.name}.")
    except CourseError as err:
        flash(f"Not saved: {err}", "error")
    return redirect(url_for("pages.instructor_lti"), code=303)


@pages_bp.post("/instructor/lti/retry")
@instructor_page
def instructor_lti_retry():
    count = lti_store().retry_failed()
    current_app.extensions["grader_lti_sender"].wake()
    flash(f"{count} failed score(s) will be sent again.")
    return redirect(url_for("pages.instructor_lti"), code=303)
