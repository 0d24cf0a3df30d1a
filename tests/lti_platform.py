"""A real LTI 1.3 platform (an LMS) on loopback, for testing the grader as an LTI tool.

``Platform`` runs a stdlib HTTP server that speaks the IMS protocols to a tool, over real HTTP:

- LTI 1.3 core (https://www.imsglobal.org/spec/lti/v1p3/): third-party-initiated login
  (``/launch/start`` sends the browser to the tool's OIDC login URL), the OIDC authentication
  request (``/auth``, IMS Security Framework 5.1.1), and a signed ``id_token`` carrying the LTI
  claims, posted to the tool by an auto-submitting form (OIDC ``response_mode=form_post``);
- the platform's public keys at ``/jwks`` (Security Framework 6.3);
- Deep Linking 2.0 (https://www.imsglobal.org/spec/lti-dl/v2p0/): the deep linking settings
  claim, and ``/deep_link_return`` that verifies the tool's ``LtiDeepLinkingResponse``;
- OAuth 2 client credentials with a JWT client assertion (Security Framework 4.1, RFC 7523)
  at ``/token``, giving bearer tokens for the AGS scopes;
- Assignment and Grade Services 2.0 (https://www.imsglobal.org/spec/lti-ags/v2p0/): the line
  item service (``/lineitems``, ``/lineitems/<id>``), the score publish service
  (``/lineitems/<id>/scores``) and the result service (``/lineitems/<id>/results``).

Everything the tool sends is checked as a strict platform would check it; each refusal gets a
4xx answer whose text says what was wrong, and is recorded in ``Platform.errors`` (a test can
end with ``assert platform.errors == []``). Scores, deep-linked content items and issued
launches are recorded for the test to assert on. ``fail_scores`` and ``down`` simulate outages.

Typical use, with a real browser or ``requests`` driving the launch::

    with Platform(redirect_uris=[tool + "/lti/launch"]) as lms:
        ...  # give lms.registration() to the tool; set lms.tool_jwks_url = tool + "/lti/jwks"
        start = lms.launch_url(tool + "/lti/login", tool + "/lti/launch", user=Platform.student())
        page = session.get(start)            # -> tool login -> /auth: an auto-submitting form
        action, fields = follow_form(page.text)
        session.post(action, data=fields)    # the launch, as the browser would post it
        lms.wait_for_scores(1)

The tool's JWKS is fetched from inside a request handler of this server, so the tool's server
must answer it while it waits for ``/token`` (any threaded server, waitress included, does).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

# --- claim names and vocabularies --------------------------------------------------------

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_SCOPES = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
# Short names a test may use for roles; anything with "://" is taken as a full role URI.
ROLES = {
    "Learner": MEMBERSHIP + "Learner",
    "Instructor": MEMBERSHIP + "Instructor",
    "ContentDeveloper": MEMBERSHIP + "ContentDeveloper",
    "Mentor": MEMBERSHIP + "Mentor",
    "Administrator": MEMBERSHIP + "Administrator",
    "TeachingAssistant": "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
    "Student": INSTITUTION + "Student",
    "Faculty": INSTITUTION + "Faculty",
}

DEFAULT_CONTEXT = {"id": "course-1", "label": "ML101", "title": "Machine Learning 101"}
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"


def role_uri(role: str) -> str:
    """The full IMS role URI for a short name (``"Learner"``) or a URI given as is."""
    if "://" in role:
        return role
    try:
        return ROLES[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: use a full role URI or one of "
                         f"{', '.join(ROLES)}") from None


@dataclass(frozen=True)
class User:
    """A platform user; ``sub`` is the LTI user id the tool sees (and sends back as ``userId``)."""

    sub: str
    name: str
    email: str
    given_name: str
    family_name: str
    roles: tuple[str, ...] = ()
    sourcedid: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(role_uri(r) for r in self.roles))


def _person(sub: str, name: str, email: str | None, sourcedid: str | None,
            roles: tuple[str, ...] | list[str]) -> User:
    given, _, family = name.partition(" ")
    return User(sub=sub, name=name, email=email or f"{sub}@example.edu", given_name=given,
                family_name=family, roles=tuple(roles),
                sourcedid=sourcedid if sourcedid is not None else f"sis-{sub}")


# --- HTML helpers --------------------------------------------------------------------------

def _autosubmit_page(title: str, action: str, fields: dict[str, str], method: str = "post") -> str:
    """An HTML page whose form submits itself in a browser and has a button for plain clients."""
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items())
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f'</title></head><body>\n<form method="{method}" action="{html.escape(action)}">\n'
            f'{inputs}\n<button type="submit">Continue</button>\n</form>\n'
            f"<script>document.forms[0].submit();</script>\n</body></html>\n")


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[dict[str, str | None], dict[str, str]]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append((a, {}))
            self._in_form = True
        elif tag == "input" and self._in_form and a.get("name"):
            if a.get("type", "text") not in ("submit", "button", "image", "reset"):
                self.forms[-1][1][a["name"] or ""] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def follow_form(page: str, base_url: str | None = None) -> tuple[str, dict[str, str]]:
    """The first form of an HTML page: ``(action, fields)``, as a browser would submit it.

    Use it on the platform's auto-submitting pages (and on a tool's): post ``fields`` to
    ``action``. A relative action is resolved against ``base_url`` when one is given.
    """
    parser = _FormParser()
    parser.feed(page)
    if not parser.forms:
        raise ValueError(f"no form in the page: {page[:300]!r}")
    attrs, fields = parser.forms[0]
    action = attrs.get("action") or ""
    if base_url:
        action = urllib.parse.urljoin(base_url, action)
    return action, fields


# --- request and response plumbing ---------------------------------------------------------

@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    @property
    def media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def form(self) -> dict[str, str]:
        """The urlencoded form body (the first value of each field)."""
        if self.media_type != "application/x-www-form-urlencoded":
            return {}
        parsed = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"),
                                       keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    @property
    def params(self) -> dict[str, str]:
        """Query parameters on GET, form fields on POST (as OIDC allows both)."""
        return self.form if self.method == "POST" else self.query

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise _Refused(400, f"the body is not JSON: {e}") from None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: Any, content_type: str = "application/json",
          headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(obj).encode(), content_type, headers or {})


def _html(status: int, text: str) -> _Response:
    return _Response(status, text.encode(), "text/html; charset=utf-8")


class _Refused(Exception):
    """A request the platform refuses: its status, the reason, and an OAuth error code."""

    def __init__(self, status: int, message: str, error: str = "invalid_request",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.error = status, message, error
        self.headers = headers or {}


@dataclass
class _Launch:
    """One launch the platform has started, found again at ``/auth`` by its message hint."""

    id: str
    login_hint: str
    message_hint: str
    tool_login_url: str
    target_link_uri: str
    user: User
    roles: tuple[str, ...]
    message_type: str
    context: dict[str, Any]
    custom: dict[str, str]
    resource_link: dict[str, str] | None
    lineitem_url: str | None
    ags: bool
    login_method: str
    dl_data: str | None = None


@dataclass
class _Grant:
    scopes: tuple[str, ...]
    expires: float


# --- the platform --------------------------------------------------------------------------

class Platform:
    """An LTI 1.3 platform on ``http://127.0.0.1:<free port>``; see the module docstring.

    Recorded (append-only lists, safe to read from the test while the server runs):

    - ``launches``: the claims of every ``id_token`` issued;
    - ``scores``: every accepted score, the posted JSON plus ``lineitem`` (the line item URL),
      ``lineitem_id`` and ``context``;
    - ``score_failures``: score posts failed on purpose by ``fail_scores``;
    - ``deep_link_items``: content items of every accepted deep linking response
      (``deep_link_responses`` has the whole verified JWT claims);
    - ``errors``: one line per refused request, ``"POST /token 401: <reason>"``;
    - ``requests``: ``(method, path, status)`` of every request served.
    """

    def __init__(self, tool_jwks_url: str | None = None, *,
                 redirect_uris: list[str] | None = None,
                 client_id: str = "grader-tool", deployment_id: str = "deployment-1",
                 name: str = "Test LMS", private_key: rsa.RSAPrivateKey | None = None,
                 tool_jwks: dict[str, Any] | None = None,
                 token_lifetime: int = 3600, id_token_lifetime: int = 600) -> None:
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.name = name
        self.redirect_uris = list(redirect_uris) if redirect_uris else None
        self.token_lifetime = token_lifetime
        self.id_token_lifetime = id_token_lifetime
        self.down = False  # True: every AGS and token request answers 503

        self._key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = JWK.from_pyca(self._key.public_key())
        self.kid = jwk.thumbprint()
        self._public_jwk = {**jwk.export_public(as_dict=True), "kid": self.kid,
                            "alg": "RS256", "use": "sig"}

        self._lock = threading.RLock()
        self._tool_jwks_url = tool_jwks_url
        self._tool_jwks = tool_jwks
        self._tool_keys: dict[str, Any] = {}
        self._launch_by_id: dict[str, _Launch] = {}
        self._launch_by_hint: dict[str, _Launch] = {}
        self._dl_sessions: dict[str, _Launch] = {}   # deep linking `data` -> its launch
        self._seen_dl_nonces: set[str] = set()
        self._seen_jtis: set[str] = set()
        self._grants: dict[str, _Grant] = {}
        self._lineitems: dict[str, dict[str, Any]] = {}  # id -> {"context": ..., "item": ...}
        self._next_lineitem = 1
        self._next_link = 0
        self._members: dict[str, set[str]] = {}          # context id -> subs
        self._last_timestamp: dict[tuple[str, str], datetime] = {}
        self._pending_failures: list[tuple[int, int | None]] = []
        self.resource_links: dict[str, dict[str, Any]] = {}

        self.launches: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.score_failures: list[dict[str, Any]] = []
        self.deep_link_items: list[dict[str, Any]] = []
        self.deep_link_responses: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.requests: list[tuple[str, str, int]] = []

        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --

    def start(self) -> Platform:
        """Bind a free loopback port and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        handler = type("PlatformHandler", (_Handler,), {"platform": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"lti-platform-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and registration --

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the platform is not started: call start() or use `with`")
        return self._server.server_address[1]

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_login_url(self) -> str:
        return self.issuer + "/auth"

    @property
    def auth_token_url(self) -> str:
        return self.issuer + "/token"

    @property
    def key_set_url(self) -> str:
        return self.issuer + "/jwks"

    @property
    def deep_link_return_url(self) -> str:
        return self.issuer + "/deep_link_return"

    def lineitems_url(self, context_id: str = DEFAULT_CONTEXT["id"]) -> str:
        return self.issuer + "/lineitems?" + urllib.parse.urlencode({"context": context_id})

    def registration(self) -> dict[str, str]:
        """What an administrator types into the tool when registering this platform."""
        return {"name": self.name, "issuer": self.issuer, "client_id": self.client_id,
                "deployment_id": self.deployment_id, "auth_login_url": self.auth_login_url,
                "auth_token_url": self.auth_token_url, "key_set_url": self.key_set_url}

    @property
    def tool_jwks_url(self) -> str | None:
        return self._tool_jwks_url

    @tool_jwks_url.setter
    def tool_jwks_url(self, url: str | None) -> None:
        with self._lock:
            self._tool_jwks_url = url
            self._tool_keys = {}

    # -- users --

    @staticmethod
    def student(sub: str = "student-1", name: str = "Ann Lee", email: str | None = None,
                sourcedid: str | None = None,
                roles: tuple[str, ...] | list[str] = ("Learner", "Student")) -> User:
        """A learner (context role Learner, institution role Student)."""
        return _person(sub, name, email, sourcedid, roles)

    @staticmethod
    def instructor(sub: str = "instructor-1", name: str = "Grace Hopper",
                   email: str | None = None, sourcedid: str | None = None,
                   roles: tuple[str, ...] | list[str] = ("Instructor", "Faculty")) -> User:
        """An instructor (context role Instructor, institution role Faculty)."""
        return _person(sub, name, email, sourcedid, roles)

    def enroll(self, user: User | str, context_id: str = DEFAULT_CONTEXT["id"]) -> None:
        """Make a user a member of a course without a launch (launching also enrolls)."""
        with self._lock:
            self._members.setdefault(context_id, set()).add(
                user.sub if isinstance(user, User) else user)

    # -- launches --

    def launch_url(self, tool_login_url: str, target_link_uri: str | None = None, *,
                   user: User | None = None, roles: list[str] | tuple[str, ...] | None = None,
                   message_type: str = "LtiResourceLinkRequest",
                   resource_link_id: str | None = None, title: str | None = None,
                   custom: dict[str, str] | None = None,
                   lineitem: bool | str | dict[str, Any] = True,
                   context: str | dict[str, Any] | None = None, ags: bool = True,
                   login_method: str = "GET") -> str:
        """Start a launch; returns the URL of the platform page that begins it.

        Fetching that URL answers a 302 to ``tool_login_url`` with the third-party-initiated
        login parameters (or, with ``login_method="POST"``, a form posting them). ``user``
        defaults to ``Platform.student()``; ``roles`` (short names or URIs) replace its roles.
        For ``LtiResourceLinkRequest`` the resource link is ``resource_link_id`` (default: one
        per target link URI); a link created by deep linking brings its URL, title, custom
        parameters and line item. ``lineitem``: ``True`` gives the link a line item (created
        with ``scoreMaximum`` 100, or found again) and puts its URL in the AGS claim; a dict
        gives the properties of the line item to create; a string names an existing line item
        (id or URL); ``False`` leaves ``lineitem`` out. ``ags=False`` leaves the AGS claim
        out. ``context`` is a course id or a dict ``{id, label, title}``.
        """
        if message_type not in ("LtiResourceLinkRequest", "LtiDeepLinkingRequest"):
            raise ValueError(f"unsupported message_type {message_type!r}")
        if login_method not in ("GET", "POST"):
            raise ValueError("login_method must be 'GET' or 'POST'")
        user = user or self.student()
        ctx = self._context(context)
        link_info = self.resource_links.get(resource_link_id) if resource_link_id else None
        if target_link_uri is None:
            if not link_info or not link_info.get("url"):
                raise ValueError("target_link_uri is needed (no deep-linked URL to launch)")
            target_link_uri = link_info["url"]
        assert target_link_uri is not None
        resource_link = None
        lineitem_url = None
        link_custom = dict(link_info.get("custom") or {}) if link_info else {}
        if message_type == "LtiResourceLinkRequest":
            rl_id = resource_link_id or "link-" + _slug(target_link_uri)
            rl_title = title or (link_info or {}).get("title") or "Assignment"
            resource_link = {"id": rl_id, "title": rl_title}
            with self._lock:
                self.resource_links.setdefault(rl_id, {
                    "id": rl_id, "title": rl_title, "url": target_link_uri, "custom": {},
                    "context_id": ctx["id"], "lineitem": None, "source": "launch"})
            if ags and lineitem is not False:
                lineitem_url = self._lineitem_for_launch(rl_id, rl_title, ctx["id"], lineitem)
        launch = _Launch(
            id=secrets.token_urlsafe(12), login_hint=secrets.token_urlsafe(12),
            message_hint=secrets.token_urlsafe(12), tool_login_url=tool_login_url,
            target_link_uri=target_link_uri, user=user,
            roles=tuple(role_uri(r) for r in roles) if roles is not None else user.roles,
            message_type=message_type, context=ctx, custom={**link_custom, **(custom or {})},
            resource_link=resource_link, lineitem_url=lineitem_url, ags=ags,
            login_method=login_method)
        if message_type == "LtiDeepLinkingRequest":
            launch.dl_data = "dl-" + secrets.token_urlsafe(12)
        with self._lock:
            self._launch_by_id[launch.id] = launch
            self._launch_by_hint[launch.message_hint] = launch
            if launch.dl_data:
                self._dl_sessions[launch.dl_data] = launch
            self._members.setdefault(ctx["id"], set()).add(user.sub)
        return self.issuer + "/launch/start?" + urllib.parse.urlencode({"launch": launch.id})

    @staticmethod
    def _context(context: str | dict[str, Any] | None) -> dict[str, Any]:
        if context is None:
            ctx: dict[str, Any] = dict(DEFAULT_CONTEXT)
        elif isinstance(context, str):
            ctx = {"id": context, "label": context, "title": context}
        else:
            if not context.get("id"):
                raise ValueError("a context needs an id")
            ctx = {"label": context["id"], "title": context["id"], **context}
        ctx.setdefault("type", [COURSE_OFFERING])
        return ctx

    def _lineitem_for_launch(self, rl_id: str, title: str, context_id: str,
                             lineitem: bool | str | dict[str, Any]) -> str:
        with self._lock:
            if isinstance(lineitem, str):
                lid = lineitem.rstrip("/").rsplit("/", 1)[-1]
                if lid not in self._lineitems:
                    raise ValueError(f"no line item {lineitem!r}")
                return self._lineitems[lid]["item"]["id"]
            bound = self.resource_links.get(rl_id, {}).get("lineitem")
            if bound:
                return bound
            for entry in self._lineitems.values():
                if entry["context"] == context_id and entry["item"].get("resourceLinkId") == rl_id:
                    return entry["item"]["id"]
            props = {"label": title, "scoreMaximum": 100, "resourceLinkId": rl_id,
                     **(lineitem if isinstance(lineitem, dict) else {})}
            item = self._create_lineitem(context_id, props)
            self.resource_links[rl_id]["lineitem"] = item["id"]
            return item["id"]

    def _create_lineitem(self, context_id: str, props: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            lid = str(self._next_lineitem)
            self._next_lineitem += 1
            item = {"id": f"{self.issuer}/lineitems/{lid}",
                    **{k: v for k, v in props.items() if k != "id" and v is not None}}
            self._lineitems[lid] = {"context": context_id, "item": item}
            return dict(item)

    def line_items(self, context_id: str | None = None) -> list[dict[str, Any]]:
        """The line items (as the AGS line item service shows them), of one course or all."""
        with self._lock:
            return [dict(e["item"]) for e in self._lineitems.values()
                    if context_id is None or e["context"] == context_id]

    def deep_linked_resource_links(self) -> list[dict[str, Any]]:
        """The resource links created from deep linking responses, oldest first."""
        with self._lock:
            return [dict(v) for v in self.resource_links.values() if v["source"] == "deep_link"]

    # -- outages and waiting --

    def fail_scores(self, n: int, status: int = 503, retry_after: int | None = None) -> None:
        """Make the next ``n`` score posts fail with ``status`` (and a Retry-After header)."""
        with self._lock:
            self._pending_failures.extend([(status, retry_after)] * n)

    def wait_for_scores(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll until at least ``n`` scores are recorded; returns them (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.scores) >= n:
                    return list(self.scores)
            if time.monotonic() >= deadline:
                with self._lock:
                    raise TimeoutError(
                        f"{len(self.scores)} of {n} scores after {timeout}s; "
                        f"failures: {len(self.score_failures)}; errors: {self.errors}")
            time.sleep(0.02)

    def clear_records(self) -> None:
        """Empty the recorded lists (launches, scores, failures, items, errors, requests)."""
        with self._lock:
            for lst in (self.launches, self.scores, self.score_failures, self.deep_link_items,
                        self.deep_link_responses, self.errors, self.requests):
                lst.clear()
            self._pending_failures.clear()

    # -- dispatch --

    def _handle(self, req: _Request) -> _Response:
        try:
            resp = self._route(req)
        except _Refused as e:
            with self._lock:
                self.errors.append(f"{req.method} {req.path} {e.status}: {e.message}")
            if req.path == "/token" or req.path.startswith("/lineitems"):
                resp = _json(e.status, {"error": e.error, "error_description": e.message},
                             headers=e.headers)
            else:
                resp = _html(e.status, f"<!DOCTYPE html><title>Error</title><h1>{e.status}</h1>"
                                       f"<p>{html.escape(e.message)}</p>\n")
                resp.headers.update(e.headers)
        except Exception:  # a bug here: answer 500 and let the test see it in errors
            with self._lock:
                self.errors.append(f"{req.method} {req.path} 500: {traceback.format_exc()}")
            resp = _Response(500, b"internal error in the LTI platform simulator")
        with self._lock:
            self.requests.append((req.method, req.path, resp.status))
        return resp

    def _route(self, req: _Request) -> _Response:
        path, method = req.path, req.method
        if path == "/jwks":
            self._allow(req, "GET")
            return _json(200, {"keys": [self._public_jwk]})
        if path == "/launch/start":
            self._allow(req, "GET", "POST")
            return self._launch_start(req)
        if path == "/auth":
            self._allow(req, "GET", "POST")
            return self._auth(req)
        if path == "/deep_link_return":
            self._allow(req, "POST")
            return self._deep_link_return(req)
        if path == "/token":
            self._allow(req, "POST")
            return self._outage() or self._token(req)
        m = re.fullmatch(r"/lineitems(?:/([^/]+)(?:/(scores|results))?)?/?", path)
        if m:
            outage = self._outage()
            if outage:
                return outage
            lid, sub = m.groups()
            if lid is None:
                self._allow(req, "GET", "POST")
                return self._lineitems_get(req) if method == "GET" else self._lineitems_post(req)
            if sub is None:
                self._allow(req, "GET", "PUT", "DELETE")
                return self._lineitem(req, lid)
            if sub == "scores":
                self._allow(req, "POST")
                return self._scores_post(req, lid)
            self._allow(req, "GET")
            return self._results_get(req, lid)
        raise _Refused(404, f"no such page: {path}", "not_found")

    @staticmethod
    def _allow(req: _Request, *methods: str) -> None:
        if req.method not in methods:
            raise _Refused(405, f"{req.method} is not allowed on {req.path}",
                           headers={"Allow": ", ".join(methods)})

    def _outage(self) -> _Response | None:
        if self.down:
            return _json(503, {"error": "temporarily_unavailable",
                               "error_description": "the platform is down (simulated)"})
        return None

    # -- LTI 1.3 core: third-party-initiated login and the OIDC authentication request --

    def _launch_start(self, req: _Request) -> _Response:
        """Third-party initiated login (LTI 1.3 core 4.1; Security Framework 5.1.1.1).

        Sends the browser to the tool's login URL with ``iss``, ``login_hint``,
        ``target_link_uri``, ``lti_message_hint``, ``client_id`` and ``lti_deployment_id``.
        """
        with self._lock:
            launch = self._launch_by_id.get(req.query.get("launch", ""))
        if launch is None:
            raise _Refused(404, "no such launch (make one with Platform.launch_url)")
        params = {"iss": self.issuer, "login_hint": launch.login_hint,
                  "target_link_uri": launch.target_link_uri,
                  "lti_message_hint": launch.message_hint, "client_id": self.client_id,
                  "lti_deployment_id": self.deployment_id}
        if launch.login_method == "POST":
            return _html(200, _autosubmit_page("Launching", launch.tool_login_url, params))
        sep = "&" if "?" in launch.tool_login_url else "?"
        location = launch.tool_login_url + sep + urllib.parse.urlencode(params)
        return _Response(302, b"", headers={"Location": location})

    def _auth(self, req: _Request) -> _Response:
        """The OIDC authentication request (Security Framework 5.1.1.2, LTI 1.3 core 5.1).

        Checks the request against the launch its ``lti_message_hint`` names, then answers
        the authentication response (5.1.1.3): a page that posts ``id_token`` and ``state``
        to the ``redirect_uri`` (``response_mode=form_post``).
        """
        p = req.params
        if p.get("client_id") != self.client_id:
            raise _Refused(400, f"unknown client_id {p.get('client_id')!r} "
                                f"(the tool is registered as {self.client_id!r})")
        with self._lock:
            launch = self._launch_by_hint.get(p.get("lti_message_hint") or "")
        if launch is None:
            raise _Refused(400, "lti_message_hint does not name a launch this platform started")
        if p.get("login_hint") != launch.login_hint:
            raise _Refused(400, "login_hint does not match the one sent to the tool's login")
        redirect_uri = p.get("redirect_uri") or ""
        if not self._redirect_allowed(redirect_uri, launch):
            allowed = self.redirect_uris or ["<same origin as " + launch.target_link_uri + ">"]
            raise _Refused(400, f"redirect_uri {redirect_uri!r} is not registered for the "
                                f"tool: {allowed}")
        scopes = (p.get("scope") or "").split()
        if "openid" not in scopes:
            raise _Refused(400, "scope must include 'openid'")
        for name, want in (("response_type", "id_token"), ("response_mode", "form_post"),
                           ("prompt", "none")):
            if p.get(name) != want:
                raise _Refused(400, f"{name} must be {want!r}, not {p.get(name)!r}")
        nonce = p.get("nonce")
        if not nonce:
            raise _Refused(400, "nonce is missing")
        state = p.get("state")
        if not state:
            raise _Refused(400, "state is missing")
        claims = self._id_token_claims(launch, nonce)
        id_token = self._sign(claims)
        with self._lock:
            self.launches.append(claims)
        return _html(200, _autosubmit_page("Launching", redirect_uri,
                                           {"id_token": id_token, "state": state}))

    def _redirect_allowed(self, redirect_uri: str, launch: _Launch) -> bool:
        if self.redirect_uris is not None:
            return redirect_uri in self.redirect_uris
        want = urllib.parse.urlsplit(launch.target_link_uri)
        got = urllib.parse.urlsplit(redirect_uri)
        return bool(got.scheme) and (got.scheme, got.netloc) == (want.scheme, want.netloc)

    def _id_token_claims(self, launch: _Launch, nonce: str) -> dict[str, Any]:
        """The LTI message (LTI 1.3 core 5.3-5.4; DL 2.0 4.4; AGS 2.0 3.1)."""
        now = int(time.time())
        user = launch.user
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "sub": user.sub,
            "iat": now, "exp": now + self.id_token_lifetime, "nonce": nonce,
            "name": user.name, "given_name": user.given_name, "family_name": user.family_name,
            "email": user.email,
            LTI + "deployment_id": self.deployment_id,
            LTI + "message_type": launch.message_type,
            LTI + "version": "1.3.0",
            LTI + "roles": list(launch.roles),
            LTI + "target_link_uri": launch.target_link_uri,
            LTI + "context": launch.context,
            LTI + "custom": launch.custom,
            LTI + "tool_platform": {"guid": f"{self.client_id}-platform", "name": self.name,
                                    "product_family_code": "lti-platform-simulator",
                                    "version": "1.0"},
            LTI + "launch_presentation": {"document_target": "iframe", "locale": "en-US"},
        }
        lis = {"course_offering_sourcedid": launch.context["id"]}
        if user.sourcedid:
            lis["person_sourcedid"] = user.sourcedid
        claims[LTI + "lis"] = lis
        if launch.resource_link is not None:
            claims[LTI + "resource_link"] = launch.resource_link
        if launch.ags:
            endpoint = {"scope": list(AGS_SCOPES),
                        "lineitems": self.lineitems_url(launch.context["id"])}
            if launch.lineitem_url:
                endpoint["lineitem"] = launch.lineitem_url
            claims[AGS_ENDPOINT] = endpoint
        if launch.message_type == "LtiDeepLinkingRequest":
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.deep_link_return_url,
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False, "auto_create": True, "data": launch.dl_data}
        return claims

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    # -- the tool's keys --

    def _verify_tool_jwt(self, token: str, audience: list[str], required: list[str],
                         status: int, error: str, what: str) -> dict[str, Any]:
        """Verify a JWT the tool signed (RS256, ``kid`` in the tool's JWKS; Security
        Framework 5.4, 6.3): signature, ``aud`` (one of ``audience``), ``exp`` and ``iat``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise _Refused(status, f"{what} is not a JWT: {e}", error) from None
        if header.get("alg") != "RS256":
            raise _Refused(status, f"{what} must be signed RS256, not {header.get('alg')!r}",
                           error)
        kid = header.get("kid")
        if not kid:
            raise _Refused(status, f"{what} has no kid in its header (the tool's key must "
                                   "be named, as in its JWKS)", error)
        key = self._tool_key(kid, status, error)
        try:
            return jwt.decode(token, key, algorithms=["RS256"], audience=audience,
                              options={"require": required}, leeway=10)
        except jwt.InvalidTokenError as e:
            raise _Refused(status, f"{what} is refused: {type(e).__name__}: {e}", error) from None

    def _tool_key(self, kid: str, status: int, error: str) -> Any:
        with self._lock:
            key = self._tool_keys.get(kid)
        if key is None:  # not known yet, or the tool rotated its keys: fetch the set again
            keys = self._fetch_tool_keys(status, error)
            with self._lock:
                self._tool_keys = keys
            key = keys.get(kid)
        if key is None:
            raise _Refused(status, f"no key with kid {kid!r} in the tool's JWKS", error)
        return key

    def _fetch_tool_keys(self, status: int, error: str) -> dict[str, Any]:
        jwks = self._tool_jwks
        if jwks is None:
            url = self._tool_jwks_url
            if not url:
                raise _Refused(status, "the platform does not know the tool's JWKS URL "
                                       "(set platform.tool_jwks_url)", error)
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    jwks = json.loads(r.read().decode("utf-8"))
            except (OSError, ValueError) as e:
                raise _Refused(status, f"cannot fetch the tool's JWKS from {url}: {e}",
                               error) from None
        keys = {}
        for k in (jwks or {}).get("keys", []):
            if k.get("kty") == "RSA" and k.get("kid") and k.get("alg", "RS256") == "RS256" \
                    and k.get("use", "sig") == "sig":
                keys[k["kid"]] = jwt.PyJWK(k, algorithm="RS256").key
        return keys

    # -- Deep Linking 2.0 --

    def _deep_link_return(self, req: _Request) -> _Response:
        """The deep linking response (DL 2.0 4.2, 4.5): a form post of ``JWT``, verified
        against the tool's JWKS; its content items are recorded and, as ``auto_create`` says,
        each ``ltiResourceLink`` becomes a resource link (with its line item, if it has one).
        """
        token = req.form.get("JWT")
        if not token:
            raise _Refused(400, "the deep linking response has no JWT form field")
        claims = self._verify_tool_jwt(token, [self.issuer],
                                       ["iss", "aud", "exp", "iat", "nonce"], 400,
                                       "invalid_request", "the deep linking response JWT")
        if claims["iss"] != self.client_id:
            raise _Refused(400, f"iss must be the client_id {self.client_id!r}, "
                                f"not {claims['iss']!r}")
        for name, want in (("deployment_id", self.deployment_id),
                           ("message_type", "LtiDeepLinkingResponse"), ("version", "1.3.0")):
            if claims.get(LTI + name) != want:
                raise _Refused(400, f"claim {LTI + name} must be {want!r}, "
                                    f"not {claims.get(LTI + name)!r}")
        data = claims.get(DL + "data")
        items = claims.get(DL + "content_items", [])
        with self._lock:
            launch = self._dl_sessions.get(data) if isinstance(data, str) else None
            if launch is None:
                raise _Refused(400, f"claim {DL}data {data!r} does not echo the data of an "
                                    "open deep linking request")
            if claims["nonce"] in self._seen_dl_nonces:
                raise _Refused(400, "the deep linking response's nonce was already used")
            if not isinstance(items, list):
                raise _Refused(400, "content_items must be a list")
            if len(items) > 1:
                raise _Refused(400, f"{len(items)} content items, but accept_multiple is false")
            for item in items:
                self._check_content_item(item)
            self._seen_dl_nonces.add(claims["nonce"])
            del self._dl_sessions[data]
            self.deep_link_responses.append(claims)
            self.deep_link_items.extend(items)
            created = [self._create_deep_linked(item, launch) for item in items]
        rows = "".join(f'<li data-resource-link-id="{html.escape(c["id"])}">'
                       f'{html.escape(c["title"] or c["id"])}</li>' for c in created)
        message = html.escape(str(claims.get(DL + "msg") or ""))
        return _html(200, f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Content '
                          f'added</title></head><body><h1>Content added</h1><p>{message}</p>'
                          f'<ul id="items">{rows}</ul></body></html>\n')

    @staticmethod
    def _check_content_item(item: Any) -> None:
        if not isinstance(item, dict):
            raise _Refused(400, f"a content item must be an object, not {item!r}")
        if item.get("type") != "ltiResourceLink":
            raise _Refused(400, f"content item type {item.get('type')!r} is not in "
                                "accept_types ['ltiResourceLink']")
        custom = item.get("custom", {})
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            raise _Refused(400, f"custom must map names to strings: {custom!r}")
        line = item.get("lineItem")
        if line is not None:
            if not isinstance(line, dict) or not _positive(line.get("scoreMaximum")):
                raise _Refused(400, f"lineItem needs a scoreMaximum > 0: {line!r}")

    def _create_deep_linked(self, item: dict[str, Any], launch: _Launch) -> dict[str, Any]:
        self._next_link += 1
        rl_id = f"dl-link-{self._next_link}"
        link = {"id": rl_id, "title": item.get("title"),
                "url": item.get("url") or launch.target_link_uri,
                "custom": dict(item.get("custom") or {}), "context_id": launch.context["id"],
                "lineitem": None, "source": "deep_link", "item": item}
        self.resource_links[rl_id] = link
        line = item.get("lineItem")
        if line is not None:
            props = {"label": line.get("label") or item.get("title") or rl_id,
                     **{k: v for k, v in line.items() if k != "id"}, "resourceLinkId": rl_id}
            link["lineitem"] = self._create_lineitem(launch.context["id"], props)["id"]
        return link

    # -- Security Framework 4.1: client credentials with a JWT assertion --

    def _token(self, req: _Request) -> _Response:
        """The OAuth 2 token endpoint (Security Framework 4.1; RFC 6749 4.4, RFC 7523 2.2).

        The client assertion must be signed by the tool's key, ``iss`` = ``sub`` = client_id,
        ``aud`` the token URL (or the issuer), with ``exp``, ``iat`` and an unused ``jti``;
        ``scope`` must be AGS scopes.
        """
        if req.media_type != "application/x-www-form-urlencoded":
            raise _Refused(400, "the token request must be application/x-www-form-urlencoded")
        form = req.form
        if form.get("grant_type") != "client_credentials":
            raise _Refused(400, f"grant_type must be 'client_credentials', not "
                                f"{form.get('grant_type')!r}", "unsupported_grant_type")
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _Refused(400, f"client_assertion_type must be {JWT_BEARER!r}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise _Refused(400, "client_assertion is missing")
        claims = self._verify_tool_jwt(assertion, [self.auth_token_url, self.issuer],
                                       ["iss", "sub", "aud", "exp", "iat", "jti"], 401,
                                       "invalid_client", "the client assertion")
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            raise _Refused(401, f"client assertion iss and sub must be the client_id "
                                f"{self.client_id!r}", "invalid_client")
        scopes = tuple((form.get("scope") or "").split())
        unknown = [s for s in scopes if s not in AGS_SCOPES]
        if not scopes or unknown:
            raise _Refused(400, f"scope must be one or more AGS scopes; refused: "
                                f"{unknown or 'none asked'}", "invalid_scope")
        with self._lock:
            if claims["jti"] in self._seen_jtis:
                raise _Refused(401, "the client assertion's jti was already used",
                               "invalid_client")
            self._seen_jtis.add(claims["jti"])
            token = secrets.token_urlsafe(32)
            self._grants[token] = _Grant(scopes, time.time() + self.token_lifetime)
        return _json(200, {"access_token": token, "token_type": "Bearer",
                           "expires_in": self.token_lifetime, "scope": " ".join(scopes)},
                     headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authorize(self, req: _Request, *scopes: str) -> None:
        """A bearer token from ``/token`` granting one of ``scopes`` (RFC 6750)."""
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(401, "Authorization: Bearer <access token> is required",
                           "invalid_token", {"WWW-Authenticate": 'Bearer realm="lti"'})
        with self._lock:
            grant = self._grants.get(token.strip())
        if grant is None or grant.expires < time.time():
            raise _Refused(401, "the access token is unknown or expired", "invalid_token",
                           {"WWW-Authenticate": 'Bearer realm="lti", error="invalid_token"'})
        if not any(s in grant.scopes for s in scopes):
            raise _Refused(403, f"the access token lacks the scope {' or '.join(scopes)}",
                           "insufficient_scope")

    # -- AGS 2.0: line items, scores, results --

    def _lineitems_get(self, req: _Request) -> _Response:
        """GET the line item container (AGS 2.0 3.2), with the filters ``resource_link_id``,
        ``resource_id``, ``tag`` and paging by ``limit`` (a ``Link: rel="next"`` header)."""
        self._authorize(req, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        context_id = self._context_param(req)
        filters = {"resourceLinkId": req.query.get("resource_link_id"),
                   "resourceId": req.query.get("resource_id"), "tag": req.query.get("tag")}
        items = [i for i in self.line_items(context_id)
                 if all(v is None or i.get(k) == v for k, v in filters.items())]
        return self._page(req, items, LINEITEM_CONTAINER_TYPE)

    def _lineitems_post(self, req: _Request) -> _Response:
        """POST a new line item to the container (AGS 2.0 3.2.4): 201 with its ``id``."""
        self._authorize(req, SCOPE_LINEITEM)
        context_id = self._context_param(req)
        if req.media_type != LINEITEM_TYPE:
            raise _Refused(415, f"Content-Type must be {LINEITEM_TYPE}, not {req.media_type!r}")
        props = self._lineitem_props(req.json(), context_id)
        item = self._create_lineitem(context_id, props)
        rl_id = item.get("resourceLinkId")
        if rl_id:
            with self._lock:
                link = self.resource_links[rl_id]
                link["lineitem"] = link["lineitem"] or item["id"]
        return _json(201, item, LINEITEM_TYPE, {"Location": item["id"]})

    def _lineitem(self, req: _Request, lid: str) -> _Response:
        """GET, PUT or DELETE one line item (AGS 2.0 3.2.5-3.2.7)."""
        entry = self._find_lineitem(lid)
        if req.method == "GET":
            self._authorize(req, SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
            return _json(200, dict(entry["item"]), LINEITEM_TYPE)
        self._authorize(req, SCOPE_LINEITEM)
        if req.method == "DELETE":
            with self._lock:
                self._lineitems.pop(lid, None)
                for link in self.resource_links.values():
                    if link["lineitem"] == entry["item"]["id"]:
                        link["lineitem"] = None
            return _Response(204)
        if req.media_type != LINEITEM_TYPE:
            raise _Refused(415, f"Content-Type must be {LINEITEM_TYPE}, not {req.media_type!r}")
        body = req.json()
        if isinstance(body, dict) and body.get("id") not in (None, entry["item"]["id"]):
            raise _Refused(400, "a line item's id cannot change")
        props = self._lineitem_props(body, entry["context"])
        old_link = entry["item"].get("resourceLinkId")
        if old_link and props.get("resourceLinkId", old_link) != old_link:
            raise _Refused(400, "a line item's resourceLinkId cannot change")
        with self._lock:
            entry["item"] = {"id": entry["item"]["id"], **props}
            return _json(200, dict(entry["item"]), LINEITEM_TYPE)

    def _lineitem_props(self, body: Any, context_id: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Refused(400, "a line item must be a JSON object")
        if not isinstance(body.get("label"), str) or not body["label"].strip():
            raise _Refused(400, "a line item needs a label")
        if not _positive(body.get("scoreMaximum")):
            raise _Refused(400, f"scoreMaximum must be a number > 0, not "
                                f"{body.get('scoreMaximum')!r}")
        for name in ("startDateTime", "endDateTime"):
            if body.get(name) is not None:
                _timestamp(body[name], name)
        rl_id = body.get("resourceLinkId")
        if rl_id is not None:
            with self._lock:
                link = self.resource_links.get(rl_id)
            if link is None or link["context_id"] != context_id:
                raise _Refused(400, f"resourceLinkId {rl_id!r} is no resource link of "
                                    f"context {context_id!r}")
        return {k: v for k, v in body.items() if k != "id" and v is not None}

    def _scores_post(self, req: _Request, lid: str) -> _Response:
        """POST a score (AGS 2.0 3.4): checked, recorded in ``scores``, answered 200.

        ``scoreGiven`` is optional as the spec says, but needs ``scoreMaximum``; a score older
        than the last one for the same user and line item is refused with 409.
        """
        with self._lock:
            failure = self._pending_failures.pop(0) if self._pending_failures else None
        if failure is not None:
            status, retry_after = failure
            try:
                posted = json.loads(req.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                posted = req.body.decode("utf-8", "replace")
            with self._lock:
                self.score_failures.append({"lineitem_id": lid, "status": status,
                                            "score": posted, "at": time.time()})
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _json(status, {"error": "temporarily_unavailable",
                                  "error_description": "simulated score failure"},
                         headers=headers)
        self._authorize(req, SCOPE_SCORE)
        entry = self._find_lineitem(lid)
        if req.media_type != SCORE_TYPE:
            raise _Refused(415, f"Content-Type must be {SCORE_TYPE}, not {req.media_type!r}")
        score = req.json()
        if not isinstance(score, dict):
            raise _Refused(400, "a score must be a JSON object")
        user_id = score.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise _Refused(400, "userId (the LTI sub of the user) is required")
        given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
        if given is not None:
            if not _number(given) or given < 0:
                raise _Refused(400, f"scoreGiven must be a number >= 0, not {given!r}")
            if not _positive(maximum):
                raise _Refused(400, f"scoreMaximum must be a number > 0 with scoreGiven, "
                                    f"not {maximum!r}")
        elif maximum is not None and not _positive(maximum):
            raise _Refused(400, f"scoreMaximum must be a number > 0, not {maximum!r}")
        if score.get("activityProgress") not in ACTIVITY_PROGRESS:
            raise _Refused(400, f"activityProgress must be one of {ACTIVITY_PROGRESS}, "
                                f"not {score.get('activityProgress')!r}")
        if score.get("gradingProgress") not in GRADING_PROGRESS:
            raise _Refused(400, f"gradingProgress must be one of {GRADING_PROGRESS}, "
                                f"not {score.get('gradingProgress')!r}")
        stamp = _timestamp(score.get("timestamp"), "timestamp")
        with self._lock:
            if user_id not in self._members.get(entry["context"], set()):
                raise _Refused(422, f"userId {user_id!r} is not a member of context "
                                    f"{entry['context']!r} (launch or enroll the user first)")
            last = self._last_timestamp.get((lid, user_id))
            if last is not None and stamp < last:
                raise _Refused(409, f"timestamp {score['timestamp']} is older than the last "
                                    f"score's ({last.isoformat()}) for this user")
            self._last_timestamp[(lid, user_id)] = stamp
            self.scores.append({**score, "lineitem_id": lid, "lineitem": entry["item"]["id"],
                                "context": entry["context"]})
        return _json(200, {"resultUrl": f"{entry['item']['id']}/results?"
                                        + urllib.parse.urlencode({"user_id": user_id})})

    def _results_get(self, req: _Request, lid: str) -> _Response:
        """GET the result container of a line item (AGS 2.0 3.3): the latest score of each
        user (filter ``user_id``, paging by ``limit``)."""
        self._authorize(req, SCOPE_RESULT_READONLY)
        entry = self._find_lineitem(lid)
        url = entry["item"]["id"]
        latest: dict[str, dict[str, Any]] = {}
        with self._lock:
            for s in self.scores:
                if s["lineitem_id"] == lid:
                    latest[s["userId"]] = s
        results = []
        for user_id, s in latest.items():
            if req.query.get("user_id") not in (None, user_id):
                continue
            result: dict[str, Any] = {
                "id": f"{url}/results?" + urllib.parse.urlencode({"user_id": user_id}),
                "scoreOf": url, "userId": user_id}
            if s.get("scoreGiven") is not None:
                result["resultScore"] = s["scoreGiven"]
                result["resultMaximum"] = s.get("scoreMaximum",
                                                entry["item"].get("scoreMaximum"))
            if s.get("comment"):
                result["comment"] = s["comment"]
            results.append(result)
        return self._page(req, results, RESULT_CONTAINER_TYPE)

    def _page(self, req: _Request, items: list[dict[str, Any]], content_type: str) -> _Response:
        limit = req.query.get("limit")
        if limit is None:
            return _json(200, items, content_type)
        try:
            size, page = int(limit), int(req.query.get("page", "1"))
            if size < 1 or page < 1:
                raise ValueError
        except ValueError:
            raise _Refused(400, "limit and page must be whole numbers >= 1") from None
        chunk = items[(page - 1) * size:page * size]
        headers = {}
        if page * size < len(items):
            query = {**req.query, "page": str(page + 1)}
            headers["Link"] = (f'<{self.issuer}{req.path}?{urllib.parse.urlencode(query)}>; '
                               f'rel="next"')
        return _json(200, chunk, content_type, headers)

    def _context_param(self, req: _Request) -> str:
        context_id = req.query.get("context")
        if not context_id:
            raise _Refused(400, "the line item container URL needs ?context=<course id>, "
                                "as the AGS claim gives it")
        return context_id

    def _find_lineitem(self, lid: str) -> dict[str, Any]:
        with self._lock:
            entry = self._lineitems.get(lid)
        if entry is None:
            raise _Refused(404, f"no line item {lid!r}", "not_found")
        return entry


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a ``_Request`` for ``Platform._handle``."""

    platform: Platform
    server_version = "LTIPlatformSimulator/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in
                 urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        resp = self.platform._handle(_Request(self.command, url.path, query, self.headers, body))
        self.send_response(resp.status)
        if resp.status != 204:
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if resp.status != 204:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the platform's own `requests` list is the log


def _slug(url: str) -> str:
    """A short stable id for a URL (the default resource link id of a target link URI)."""
    return hashlib.sha256(url.encode()).hexdigest()[:10]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _timestamp(value: Any, name: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset (AGS 2.0 3.4.5)."""
    if not isinstance(value, str):
        raise _Refused(400, f"{name} must be an ISO 8601 string, not {value!r}")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(400, f"{name} {value!r} is not ISO 8601") from None
    if stamp.tzinfo is None:
        raise _Refused(400, f"{name} {value!r} has no UTC offset")
    return stamp
