"""Server-side sessions: the cookie holds only a random id; the session lives in the database.

The database keeps the SHA-256 of the id, never the id, so the file does not hold live
sessions. A session ends when it is logged out (its row is deleted: a copied cookie no longer
opens anything), when it expires, and, for an instructor session, when the instructor token
changes (``Store.end_instructor_sessions`` at start, and every request compares the token
digest the session was made with against the current one). Logging in starts a new session
id, so an id planted before the login is worth nothing after it.

The cookie is ``HttpOnly`` and ``SameSite=Lax`` (``None`` for a session an LMS launched over
HTTPS, which the LMS shows in its frame), and ``Secure`` when the app is configured
for HTTPS (``SESSION_COOKIE_SECURE``) or the request itself came over HTTPS. The JSON API and
the static files take no cookies, so they open no session.
"""

from __future__ import annotations

import re
import secrets
import time

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .storage import Store, digest

_SID = re.compile(r"^[A-Za-z0-9_-]{43}$")       # secrets.token_urlsafe(32)
_serializer = TaggedJSONSerializer()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data: dict | None = None, sid: str | None = None):
        def changed(_):
            self.modified = True

        super().__init__(data or {}, changed)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.rotate = False          # a new id at the next save (login)
        self.ended = False           # delete the row and the cookie (logout)


class _NoSession(ServerSession):
    """For requests that take no cookies: nothing is read, nothing is saved."""


class StoreSessionInterface(SessionInterface):
    def __init__(self, store: Store, lifetime: float, instructor_lifetime: float):
        self.store = store
        self.lifetime = lifetime
        self.instructor_lifetime = instructor_lifetime

    @staticmethod
    def _cookieless(request: Request) -> bool:
        return request.path.startswith(("/api/", "/static/"))

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if self._cookieless(request):
            return _NoSession()
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if _SID.match(sid):
            found = self.store.load_session(digest(sid))
            if found is not None:
                try:
                    return ServerSession(_serializer.loads(found[0]), sid)
                except ValueError:
                    pass
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, _NoSession) or not isinstance(session, ServerSession):
            return
        name, domain, path = (self.get_cookie_name(app), self.get_cookie_domain(app),
                              self.get_cookie_path(app))
        if session.sid is not None and (session.ended or session.rotate or not session):
            self.store.delete_session(digest(session.sid))
            if session.ended or not session:
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self._secure(app),
                                       httponly=self.get_cookie_httponly(app),
                                       samesite=self.get_cookie_samesite(app))
            session.sid = None if session.ended or not session else session.sid
        if session.ended or not session or not (session.modified or session.rotate):
            return
        if session.sid is None or session.rotate:
            session.sid = secrets.token_urlsafe(32)
            self.store.delete_expired_sessions()
        instructor = session.get("instructor")
        lifetime = self.instructor_lifetime if instructor else self.lifetime
        self.store.save_session(digest(session.sid), _serializer.dumps(dict(session)),
                                instructor if isinstance(instructor, str) else None,
                                time.time() + lifetime)
        secure = self._secure(app)
        # The LMS shows an LTI session in a frame of its own site: only a SameSite=None
        # (and so Secure) cookie is sent from there.
        samesite = "None" if secure and session.get("lti") else self.get_cookie_samesite(app)
        response.set_cookie(name, session.sid, domain=domain, path=path, secure=secure,
                            httponly=self.get_cookie_httponly(app), samesite=samesite)
        response.vary.add("Cookie")

    @staticmethod
    def _secure(app: Flask) -> bool:
        from flask import request

        return (bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
                or (app.config.get("PUBLIC_URL") or "").startswith("https://"))
