"""The web service: the student form with live preview, the JSON API and the instructor pages.

A thin Flask surface over ``grader.api`` (the core knows nothing of Flask)::

    from grader.web import create_app
    app = create_app({"DATABASE": "instance/grader.db"})

``grader serve`` runs it under waitress; ``docs/web.md`` describes the API.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from ..documents import MAX_DOCUMENT_BYTES
from ..errors import AnswerError, GraderError, SpecError
from ..syntax import MAX_ANSWER_CHARS
from ..tasks import BROKER_URL_ENV
from ..text import visible
from .ltitool import ScoreSender
from .queue import CeleryGradingQueue
from .service import GradingService, http_status
from .sessions import StoreSessionInterface
from .storage import DATABASE_URL_ENV, Store, digest

INSTRUCTOR_TOKEN_ENV = "GRADER_INSTRUCTOR_TOKEN"
SECRET_KEY_ENV = "GRADER_SECRET_KEY"
SECURE_COOKIE_ENV = "GRADER_SECURE_COOKIE"
PUBLIC_URL_ENV = "GRADER_PUBLIC_URL"
REQUEST_LIMIT = MAX_DOCUMENT_BYTES + 64 * 1024   # a whole document plus the form around it


def default_database() -> str:
    return str(Path.cwd() / "instance" / "grader.db")


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. Config keys (all optional):

    DATABASE            where the store lives: a URL, sqlite:///PATH or postgresql://...
                        (a plain path is a SQLite file; default: $GRADER_DATABASE_URL, else
                        instance/grader.db under the current directory); its schema is
                        brought up to date (Alembic) here
    BROKER_URL          a Redis URL: grading goes to the Celery workers there (``grader
                        worker``) instead of threads of this process, and the rate limits'
                        counts are kept there (default: $GRADER_BROKER_URL, else none)
    SECRET_KEY          Flask's secret key (default: $GRADER_SECRET_KEY, else generated and
                        kept in the database); sessions do not depend on it (server-side)
    INSTRUCTOR_TOKEN    the instructors' bearer token (default: $GRADER_INSTRUCTOR_TOKEN,
                        else generated at first start, stored as a digest, printed once)
    GRADER_WORKERS      grading processes (default: one per core)
    GRADING_POOL        an existing GradingPool to share instead
    GRADING_QUEUE       a GradingQueue to grade with (default: EmbeddedGradingQueue, background
                        threads in this process)
    GRADING_THREADS     the embedded queue's threads (default: the pool's size)
    GRADING_WAIT_SECONDS  how long a submission request waits for its result before it
                        answers "pending" (202 in the API; default 2)
    GRADING_WAITERS     at most this many requests wait at once (default 4); the others
                        answer "pending" at once
    AUTH_FAILURE_LIMIT  failed token attempts per client address (default "10 per minute")
    RATELIMIT_STORAGE_URI  where the counts live (default: the broker when there is one, so
                        every web process shares them; else "memory://"; Flask-Limiter's)
    SESSION_COOKIE_SECURE  mark the session cookie Secure (default: $GRADER_SECURE_COOKIE=1;
                        it is Secure anyway on a request that came over HTTPS)
    SESSION_LIFETIME    seconds a session lives (default 7 days)
    INSTRUCTOR_SESSION_LIFETIME  seconds an instructor's login lives (default 12 hours)
    PAGE_SIZE           rows per page of the instructor lists (default 50)
    MAX_CONTENT_LENGTH  request size limit in bytes (413 above it)
    MAX_ANSWER_CHARS    per-answer length limit
    GRADE_PENDING_ON_START  grade the submissions a previous run left unfinished (default True)
    """
    app = Flask(__name__)
    app.config.from_mapping(
        DATABASE=os.environ.get(DATABASE_URL_ENV) or default_database(),
        BROKER_URL=os.environ.get(BROKER_URL_ENV) or None,
        SECRET_KEY=os.environ.get(SECRET_KEY_ENV) or None,
        INSTRUCTOR_TOKEN=os.environ.get(INSTRUCTOR_TOKEN_ENV) or None,
        GRADER_WORKERS=None,
        GRADING_POOL=None,
        GRADING_QUEUE=None,
        GRADING_THREADS=None,
        GRADING_WAIT_SECONDS=2.0,
        GRADING_WAITERS=4,
        AUTH_FAILURE_LIMIT="10 per minute",
        RATELIMIT_STORAGE_URI=None,
        MAX_CONTENT_LENGTH=REQUEST_LIMIT,
        MAX_FORM_MEMORY_SIZE=REQUEST_LIMIT,
        MAX_ANSWER_CHARS=MAX_ANSWER_CHARS,
        GRADE_PENDING_ON_START=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get(SECURE_COOKIE_ENV, "").lower() in
        ("1", "true", "yes", "on"),
        SESSION_LIFETIME=7 * 24 * 3600,
        INSTRUCTOR_SESSION_LIFETIME=12 * 3600,
        PAGE_SIZE=50,
        JSON_SORT_KEYS=False,
        PUBLIC_URL=os.environ.get(PUBLIC_URL_ENV) or None,
        LTI_SEND_SCORES=True,
        LTI_SEND_INTERVAL=5.0,
        LTI_RETRY_BASE_SECONDS=30.0,
        LTI_MAX_TRIES=20,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider
    # Every {{ expression }} of every template shows control characters as visible signs.
    app.jinja_options = {**app.jinja_options, "finalize": visible}

    broker = app.config["BROKER_URL"]
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = broker or "memory://"
    store = Store(app.config["DATABASE"])
    app.extensions["grader_store"] = store
    queue = app.config["GRADING_QUEUE"]
    if queue is None and broker:
        queue = CeleryGradingQueue(broker)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"], _ = store.setting_or_create(
            "secret_key", lambda: secrets.token_hex(32))
    app.config["INSTRUCTOR_TOKEN_DIGEST"] = _instructor_digest(app, store)
    # A changed instructor token ends every session logged in with the old one.
    store.end_instructor_sessions(except_digest=app.config["INSTRUCTOR_TOKEN_DIGEST"])
    app.session_interface = StoreSessionInterface(
        store, app.config["SESSION_LIFETIME"], app.config["INSTRUCTOR_SESSION_LIFETIME"])

    service = GradingService(store, workers=app.config["GRADER_WORKERS"],
                             pool=app.config["GRADING_POOL"],
                             max_answer_chars=app.config["MAX_ANSWER_CHARS"],
                             queue=queue,
                             grading_threads=app.config["GRADING_THREADS"],
                             waiters=app.config["GRADING_WAITERS"])
    app.extensions["grader"] = service
    app.extensions["grader_course"] = service.course

    sender = ScoreSender(service.lti, interval=app.config["LTI_SEND_INTERVAL"],
                         retry_base=app.config["LTI_RETRY_BASE_SECONDS"],
                         max_tries=app.config["LTI_MAX_TRIES"])
    app.extensions["grader_lti"] = service.lti
    app.extensions["grader_lti_sender"] = sender
    if app.config["LTI_SEND_SCORES"]:
        service.on_lms_score = sender.wake

    from . import coursepages  # noqa: F401  # the course's routes, on the two blueprints
    from .api import bp as api_bp
    from .auth import make_limiter
    from .lti import lti_bp
    from .pages import bp as pages_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(lti_bp)
    app.extensions["grader_limiter"] = make_limiter(app)
    _register_errors(app)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        framers = lti_frame_ancestors()
        if framers is None:
            response.headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            # pages and answers hold tokens (a result link, a CSRF token, a session's pages)
            response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy",
                                        content_security_policy(framers=framers))
        return response

    if app.config["LTI_SEND_SCORES"] and service.lti.platforms():
        sender.start()

    if app.config["GRADE_PENDING_ON_START"]:
        service.start_grading_pending()
    return app


def content_security_policy(form_action: str = "'self'", framers: str | None = None) -> str:
    """The pages' policy: no inline script, forms posted to ``form_action`` only, framed by
    ``framers`` only (None: by no one)."""
    ancestors = framers or "'none'"
    return ("default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:;"
            f" form-action {form_action}; frame-ancestors {ancestors}; base-uri 'none'")


def lti_frame_ancestors() -> str | None:
    """Who may frame this page: the LMS of an LTI session (it shows the tool in a frame; its
    origins are plain hosts, ``grader.web.lti.frame_origins``), anyone for the LTI endpoints'
    own pages (a refused launch says why inside the LMS); None, no one, for everything else."""
    from flask import session

    lti = session.get("lti") if request.endpoint != "static" else None
    if isinstance(lti, dict) and lti.get("frame"):
        return " ".join(lti["frame"])
    if request.path.startswith("/lti/"):
        return "*"
    return None


def _instructor_digest(app: Flask, store: Store) -> str:
    """The digest of the instructors' token; a new token is printed once, at first start."""
    if app.config["INSTRUCTOR_TOKEN"]:
        return digest(app.config["INSTRUCTOR_TOKEN"])
    made: list[str] = []

    def make() -> str:
        made.append(secrets.token_urlsafe(24))
        return digest(made[0])

    value, created = store.setting_or_create("instructor_token_sha256", make)
    if created:
        print(f"Instructor token (shown once, keep it; or set ${INSTRUCTOR_TOKEN_ENV}): "
              f"{made[0]}", file=sys.stderr, flush=True)
    return value


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _register_errors(app: Flask) -> None:
    @app.errorhandler(GraderError)
    def grader_error(err: GraderError):
        if isinstance(err, SpecError):   # the server's problem, and it may quote the spec
            app.logger.error("problem spec error: %s", err)
            return _error(500, "this problem is misconfigured; tell your instructor")
        body: dict[str, object] = {"error": str(err)}
        if isinstance(err, AnswerError):
            body["position"] = err.position
        headers = [("WWW-Authenticate", "Bearer")] if http_status(err) == 401 else None
        return _error(http_status(err), str(err), body, headers)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        message = err.description or err.name
        if isinstance(err, RateLimitExceeded):
            current = app.extensions["grader_limiter"].current_limit
            wait = max(1, int((current.reset_at if current else time.time() + 60)
                              - time.time()) + 1)
            message = (f"too many failed attempts with the instructor token from your "
                       f"address; try again in {wait} seconds")
            return _error(429, message, headers=[("Retry-After", str(wait))])
        if err.code == 413:
            message = (f"the request is too large (the limit is "
                       f"{app.config['MAX_CONTENT_LENGTH']:,} bytes)")
        return _error(err.code or 500, message, headers=err.get_headers() if wants_json()
                      else None)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        app.logger.exception("unexpected error on %s %s", request.method, request.path)
        stored = g.get("stored_submission")
        if stored is not None:
            return _error(500, f"internal error; your submission is stored (#{stored}) and "
                               "will be graded")
        return _error(500, "internal error (logged); nothing was stored")


def _error(status: int, message: str, body: dict | None = None, headers=None):
    if wants_json():
        response = jsonify(body or {"error": message})
        response.status_code = status
        if headers:
            for key, value in headers:
                if key.lower() != "content-type":
                    response.headers[key] = value
        return response
    page = render_template("error.html", status=status, message=message)
    return page, status, list(headers or [])


__all__ = ["create_app"]
