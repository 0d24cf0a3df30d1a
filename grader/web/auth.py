"""Who may do what: the instructors' bearer token, the session login, CSRF for the pages, the
limit on failed attempts, and where a login may send the browser next.

Failed attempts (a wrong token at the login form, a wrong ``Authorization: Bearer`` token on
any API call) are counted per client address with Flask-Limiter; past ``AUTH_FAILURE_LIMIT``
every attempt from that address, right or wrong, is answered 429 until the window passes, so
the token cannot be guessed at speed. A request that presents no credential is not an
attempt and is never limited.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from urllib.parse import urlsplit

from flask import current_app, g, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from .service import RequestError
from .storage import matches


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_instructor_token(token: str | None) -> bool:
    return matches(token, current_app.config["INSTRUCTOR_TOKEN_DIGEST"])


def bearer_is_instructor() -> bool:
    """Whether the request's bearer token is the instructor's; a wrong one (any
    ``Authorization`` header that is not it) counts as a failed attempt."""
    ok = is_instructor_token(bearer_token())
    if not ok and request.headers.get("Authorization"):
        failed_attempt()
    return ok


def session_is_instructor() -> bool:
    marker = session.get("instructor")
    expected = current_app.config["INSTRUCTOR_TOKEN_DIGEST"]
    return isinstance(marker, str) and hmac.compare_digest(marker, expected)


def start_session(**values: object) -> None:
    """Sign in (an instructor, a student by link or from an LMS): a fresh session id, so an id
    planted before the sign-in is worthless, holding only ``values``."""
    session.clear()
    session.rotate = True  # type: ignore[attr-defined]  # a ServerSession (grader.web.sessions)
    session.update(values)


def start_instructor_session(**values: object) -> None:
    """Log in as the instructor (``values``: more to keep in the session)."""
    start_session(instructor=current_app.config["INSTRUCTOR_TOKEN_DIGEST"], **values)


def end_session() -> None:
    """Log out: the session's row is deleted, so a copy of the cookie opens nothing."""
    session.clear()
    session.ended = True  # type: ignore[attr-defined]  # a ServerSession (grader.web.sessions)


def instructor_api(view):
    """The JSON API's instructor endpoints: ``Authorization: Bearer <token>`` only."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not bearer_is_instructor():
            raise Unauthorized()
        return view(*args, **kwargs)

    return wrapper


class Unauthorized(RequestError):
    def __init__(self):
        super().__init__("this needs the instructor token (Authorization: Bearer <token>)", 401)


# ------------------------------------------------------------------- failed attempts
def failed_attempt() -> None:
    g.auth_failed = True


def presents_credential() -> bool:
    """A login form sent, or an ``Authorization`` header: an attempt that can fail."""
    if request.headers.get("Authorization"):
        return True
    return request.endpoint == "pages.login" and request.method == "POST"


def make_limiter(app) -> Limiter:
    """Flask-Limiter on ``app``: one shared budget of failed attempts per client address,
    spent by the login form and every API endpoint that reads a bearer token."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    limit = limiter.shared_limit(
        lambda: current_app.config["AUTH_FAILURE_LIMIT"], scope="instructor-token",
        exempt_when=lambda: not presents_credential(),
        deduct_when=lambda response: bool(g.get("auth_failed")))
    for endpoint in AUTH_ENDPOINTS:
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    return limiter


# Every endpoint that checks the instructor token (the login form, the bearer).
AUTH_ENDPOINTS = ("pages.login", "api.submission", "api.list_submissions", "api.gradebook",
                  "api.regrade", "api.regrade_progress", "api.review", "api.set_override",
                  "api.delete_override", "api.api_assignments", "api.api_create_assignment",
                  "api.api_assignment", "api.api_assignment_gradebook", "api.api_decisions",
                  "api.api_roster", "api.api_roster_links")


# ------------------------------------------------------------------------------ CSRF
def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid() -> bool:
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    return isinstance(expected, str) and bool(sent) and hmac.compare_digest(sent, expected)


# ------------------------------------------------------------------ after the login
# What a same-site path may hold: no whitespace or control characters (browsers drop tabs and
# newlines from a URL, so "/\t/evil" becomes "//evil"), no backslash (read as a slash).
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$")


def safe_next(target: object) -> str | None:
    """``target`` if it is a path of this site's own pages to go to after logging in (a GET
    route that exists, not a scheme-relative ``//host``), else None."""
    if not isinstance(target, str) or not _SAFE_PATH.match(target) or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(parts.path, method="GET")
    except (NotFound, MethodNotAllowed, RequestRedirect):
        return None
    if endpoint in ("static", "pages.login") or endpoint.startswith("api."):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
