"""Who may do what: the instructors' bearer token, the session login and CSRF for the pages."""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import current_app, request, session

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
    return is_instructor_token(bearer_token())


def session_is_instructor() -> bool:
    marker = session.get("instructor")
    expected = current_app.config["INSTRUCTOR_TOKEN_DIGEST"]
    return isinstance(marker, str) and hmac.compare_digest(marker, expected)


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
