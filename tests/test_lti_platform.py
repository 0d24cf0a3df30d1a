"""Self-test of the LTI 1.3 platform simulator (tests/lti_platform.py).

The tool side is pylti1p3, the library the grader uses, driven without Flask: its OIDC login
builds the authentication request, its MessageLaunch validates the platform's id_token (state,
nonce, signature from the platform's JWKS, deployment, message), its AssignmentsGradesService
gets tokens and posts scores, and its DeepLink signs the deep linking response. What pylti1p3
accepts here, it accepts behind the grader's Flask routes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti_platform import (
    AGS_ENDPOINT,
    DL,
    LTI,
    MEMBERSHIP,
    SCOPE_LINEITEM_READONLY,
    SCOPE_SCORE,
    SCORE_TYPE,
    Platform,
    follow_form,
)
from pylti1p3.cookie import CookieService
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfDict

# --- pylti1p3 without Flask: one browser's tool session and cookies, held in dicts ---------


class DictRequest(Request):
    """A request to the tool: its parameters, plus the browser's session and cookie jar."""

    def __init__(self, params: dict[str, str], session: dict, cookies: dict[str, str]):
        super().__init__()
        self._params, self._session, self._cookies = params, session, cookies

    @property
    def session(self) -> dict:
        return self._session

    def get_param(self, key: str) -> str:
        return self._params.get(key)  # type: ignore[return-value]

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def is_secure(self) -> bool:
        return False


class DictCookies(CookieService):
    def __init__(self, jar: dict[str, str]):
        self._jar = jar

    def get_cookie(self, name: str) -> str | None:
        return self._jar.get(f"{self._cookie_prefix}-{name}")

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self._jar[f"{self._cookie_prefix}-{name}"] = str(value)


class UrlRedirect(Redirect[str]):
    def __init__(self, location: str):
        self._location = location

    def do_redirect(self) -> str:
        return self._location

    def do_js_redirect(self) -> str:
        return self._location

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


class ToolLogin(OIDCLogin):
    def get_redirect(self, url: str) -> UrlRedirect:
        return UrlRedirect(url)


class ToolLaunch(MessageLaunch):
    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)


def pem(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


class Tool:
    """The tool as pylti1p3 sees it, registered with ``platform``; one browser's state."""

    def __init__(self, platform: Platform, base: str, private_pem: str, public_pem: str):
        reg = platform.registration()
        self.iss, self.client_id = reg["issuer"], reg["client_id"]
        self.conf = ToolConfDict({reg["issuer"]: [{
            "default": True, "client_id": reg["client_id"],
            "auth_login_url": reg["auth_login_url"], "auth_token_url": reg["auth_token_url"],
            "key_set_url": reg["key_set_url"], "deployment_ids": [reg["deployment_id"]]}]})
        self.conf.set_private_key(self.iss, private_pem, client_id=self.client_id)
        self.conf.set_public_key(self.iss, public_pem, client_id=self.client_id)
        self.login_url, self.launch_url = base + "/lti/login", base + "/lti/launch"
        self.session: dict[str, Any] = {}
        self.cookies: dict[str, str] = {}

    def registration(self) -> Registration:
        return self.conf.find_registration_by_params(self.iss, self.client_id)

    def login(self, params: dict[str, str]) -> str:
        """The tool's OIDC login: the URL of the authentication request it redirects to."""
        req = DictRequest(params, self.session, self.cookies)
        login = ToolLogin(req, self.conf, SessionService(req), DictCookies(self.cookies))
        return login.get_redirect_object(self.launch_url).get_redirect_url()

    def launch(self, fields: dict[str, str]) -> ToolLaunch:
        """The tool's launch URL receiving the form post: a validated pylti1p3 launch."""
        req = DictRequest(fields, self.session, self.cookies)
        launch = ToolLaunch(req, self.conf, SessionService(req), DictCookies(self.cookies))
        launch.validate()
        return launch


def browse(tool: Tool, start_url: str) -> ToolLaunch:
    """What a browser does: platform -> tool login -> platform /auth -> form post to the tool."""
    http = requests.Session()
    r = http.get(start_url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    login = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{login.scheme}://{login.netloc}{login.path}" == tool.login_url
    auth_url = tool.login(dict(urllib.parse.parse_qsl(login.query)))
    page = http.get(auth_url, timeout=10)
    assert page.status_code == 200, page.text
    action, fields = follow_form(page.text)
    assert action == tool.launch_url and set(fields) == {"id_token", "state"}
    return tool.launch(fields)


def grade(user_id: str, given: float, maximum: float = 8, when: datetime | None = None) -> Grade:
    stamp = (when or datetime.now(UTC)).isoformat(timespec="milliseconds")
    return (Grade().set_user_id(user_id).set_score_given(given).set_score_maximum(maximum)
            .set_timestamp(stamp).set_activity_progress("Completed")
            .set_grading_progress("FullyGraded"))


# --- fixtures: keys, the tool's JWKS server, the platform -----------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def tool_pems() -> tuple[str, str]:
    return pem(new_key())


@pytest.fixture(scope="module")
def other_pems() -> tuple[str, str]:
    """A key pair the platform has never seen (for forged signatures)."""
    return pem(new_key())


@pytest.fixture(scope="module")
def tool_base(tool_pems):
    """A tiny tool server on loopback: only its JWKS (``/lti/jwks``); the rest is in-process."""
    body = json.dumps({"keys": [Registration.get_jwk(tool_pems[1])]}).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/lti/jwks" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def platform(platform_key, tool_base):
    with Platform(tool_jwks_url=tool_base + "/lti/jwks", redirect_uris=[tool_base + "/lti/launch"],
                  private_key=platform_key) as lms:
        yield lms


@pytest.fixture
def tool(platform, tool_base, tool_pems) -> Tool:
    return Tool(platform, tool_base, *tool_pems)


# --- (1) login and launch ------------------------------------------------------------------


def test_resource_link_launch_is_accepted_by_pylti1p3(platform, tool):
    student = Platform.student("s-17", "Ann Lee")
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url, user=student,
                                              resource_link_id="hw1-link", title="Homework 1",
                                              custom={"assignment": "hw1"}))
    data = launch.get_launch_data()
    assert launch.is_resource_launch() and launch.check_student_access()
    assert not launch.check_teacher_access()
    assert data["sub"] == "s-17" and data["aud"] == platform.client_id
    assert (data["name"], data["given_name"], data["family_name"]) == ("Ann Lee", "Ann", "Lee")
    assert data["email"] == "s-17@example.edu"
    assert data[LTI + "roles"][0] == MEMBERSHIP + "Learner"
    assert data[LTI + "resource_link"] == {"id": "hw1-link", "title": "Homework 1"}
    assert data[LTI + "custom"] == {"assignment": "hw1"}
    assert data[LTI + "context"]["id"] == "course-1"
    assert data[LTI + "lis"]["person_sourcedid"] == "sis-s-17"
    assert data[LTI + "target_link_uri"] == tool.launch_url
    assert launch.has_ags()
    (item,) = platform.line_items()
    assert data[AGS_ENDPOINT]["lineitem"] == item["id"]
    assert item["resourceLinkId"] == "hw1-link" and item["scoreMaximum"] == 100
    assert data[AGS_ENDPOINT]["lineitems"] == platform.issuer + "/lineitems?context=course-1"
    assert platform.launches == [data] and platform.errors == []

    keys = requests.get(platform.key_set_url, timeout=10).json()["keys"]
    assert [(k["kid"], k["alg"], k["use"], k["kty"]) for k in keys] == \
        [(platform.kid, "RS256", "sig", "RSA")]


def test_instructor_launch_without_lineitem_and_login_by_post(platform, tool):
    start = platform.launch_url(tool.login_url, tool.launch_url, user=Platform.instructor(),
                                lineitem=False, login_method="POST", context="stats-2")
    page = requests.get(start, timeout=10)
    assert page.status_code == 200 and "document.forms[0].submit()" in page.text
    action, params = follow_form(page.text)
    assert action == tool.login_url
    assert set(params) == {"iss", "login_hint", "target_link_uri", "lti_message_hint",
                           "client_id", "lti_deployment_id"}
    auth = requests.get(tool.login(params), timeout=10)
    launch = tool.launch(follow_form(auth.text)[1])
    data = launch.get_launch_data()
    assert launch.check_teacher_access() and not launch.check_student_access()
    assert "lineitem" not in data[AGS_ENDPOINT]
    assert data[LTI + "context"]["id"] == "stats-2"


# --- (2) scores with pylti1p3's AssignmentsGradesService ---------------------------------


def test_put_grade_is_recorded_and_read_back(platform, tool):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url))
    sub = launch.get_launch_data()["sub"]
    ags = launch.get_ags()
    ags.put_grade(grade(sub, 7).set_comment("part (b) is wrong"))
    (score,) = platform.wait_for_scores(1, timeout=5)
    lineitem_url = launch.get_launch_data()[AGS_ENDPOINT]["lineitem"]
    assert score["lineitem"] == lineitem_url and score["lineitem_id"] == "1"
    assert (score["userId"], score["scoreGiven"], score["scoreMaximum"]) == (sub, 7, 8)
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert score["comment"] == "part (b) is wrong"

    (result,) = ags.get_grades()
    assert (result["userId"], result["resultScore"], result["resultMaximum"]) == (sub, 7, 8)
    assert ags.get_lineitem()._id == lineitem_url

    # A second line item, made by the tool (find by tag, else POST to the container).
    made = ags.find_or_create_lineitem(
        LineItem().set_tag("hw2").set_label("Homework 2").set_score_maximum(10))
    assert made.get_id() == platform.issuer + "/lineitems/2"
    assert ags.find_or_create_lineitem(LineItem().set_tag("hw2")).get_id() == made.get_id()
    ags.put_grade(grade(sub, 9, 10), made)
    assert [s["lineitem_id"] for s in platform.wait_for_scores(2)] == ["1", "2"]
    assert {i.get("tag") for i in ags.get_lineitems()} == {None, "hw2"}
    assert platform.errors == []


# --- (3) outages -------------------------------------------------------------------------


def test_failing_score_post_then_success_and_platform_down(platform, tool):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url))
    sub = launch.get_launch_data()["sub"]
    ags = launch.get_ags()
    platform.fail_scores(1, status=503, retry_after=2)
    with pytest.raises(LtiServiceException) as failed:
        ags.put_grade(grade(sub, 5))
    assert failed.value.response.status_code == 503
    assert failed.value.response.headers["Retry-After"] == "2"
    assert len(platform.score_failures) == 1 and platform.scores == []
    assert platform.score_failures[0]["score"]["scoreGiven"] == 5

    ags.put_grade(grade(sub, 5))  # the retry
    assert [s["scoreGiven"] for s in platform.wait_for_scores(1)] == [5]

    platform.down = True
    with pytest.raises(LtiServiceException) as down:
        launch.get_ags().put_grade(grade(sub, 6))  # a new connector: it asks /token first
    assert down.value.response.status_code == 503
    assert platform.requests[-1] == ("POST", "/token", 503)
    platform.down = False
    launch.get_ags().put_grade(grade(sub, 6))
    assert [s["scoreGiven"] for s in platform.wait_for_scores(2)] == [5, 6]
    assert platform.errors == []


def test_wait_for_scores_with_concurrent_posts(platform, tool):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url))
    students = [f"s{i}" for i in range(6)]
    for sub in students:
        platform.enroll(sub)
    threads = [threading.Thread(target=launch.get_ags().put_grade, args=(grade(sub, i),))
               for i, sub in enumerate(students)]
    for t in threads:
        t.start()
    assert len(platform.wait_for_scores(6, timeout=10)) == 6
    for t in threads:
        t.join()
    began = time.monotonic()
    with pytest.raises(TimeoutError, match="6 of 7 scores"):
        platform.wait_for_scores(7, timeout=0.2)
    assert time.monotonic() - began < 2
    assert sorted(s["userId"] for s in platform.scores) == students
    assert platform.errors == []


def test_scores_are_checked(platform, tool):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url))
    sub = launch.get_launch_data()["sub"]
    url = launch.get_launch_data()[AGS_ENDPOINT]["lineitem"] + "/scores"
    token = ServiceConnector(tool.registration()).get_access_token([SCOPE_SCORE])
    now = datetime.now(UTC)

    def post(body: dict, content_type: str = SCORE_TYPE, bearer: str = token) -> requests.Response:
        return requests.post(url, data=json.dumps(body), timeout=10, headers={
            "Authorization": "Bearer " + bearer, "Content-Type": content_type})

    good = json.loads(grade(sub, 3, when=now).get_value())
    assert post(good).status_code == 200
    assert post({**good, "userId": ""}).status_code == 400
    assert post({**good, "activityProgress": "Done"}).status_code == 400
    assert post({**good, "timestamp": "2026-01-01T10:00:00"}).status_code == 400  # no offset
    assert post(good, content_type="application/json").status_code == 415
    assert post({**good, "userId": "stranger"}).status_code == 422
    older = (now - timedelta(minutes=1)).isoformat()
    assert post({**good, "timestamp": older}).status_code == 409
    assert post(good, bearer="forged").status_code == 401
    read_only = ServiceConnector(tool.registration()).get_access_token([SCOPE_LINEITEM_READONLY])
    assert post(good, bearer=read_only).status_code == 403
    assert len(platform.scores) == 1 and len(platform.errors) == 8


# --- (4) deep linking --------------------------------------------------------------------


def test_deep_linking_response_is_recorded_and_the_link_launches(platform, tool):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url,
                                              user=Platform.instructor(),
                                              message_type="LtiDeepLinkingRequest"))
    assert launch.is_deep_link_launch()
    settings = launch.get_launch_data()[DL + "deep_linking_settings"]
    assert settings["deep_link_return_url"] == platform.issuer + "/deep_link_return"
    assert settings["accept_types"] == ["ltiResourceLink"] and settings["data"]
    assert LTI + "resource_link" not in launch.get_launch_data()
    resource = (DeepLinkResource().set_url(tool.launch_url + "?assignment=hw1")
                .set_title("Homework 1").set_custom_params({"assignment": "hw1"})
                .set_lineitem(LineItem().set_label("Homework 1").set_score_maximum(8)
                              .set_tag("hw1")))
    form = launch.get_deep_link().output_response_form([resource])
    action, fields = follow_form(form)
    assert action == settings["deep_link_return_url"]
    r = requests.post(action, data=fields, timeout=10)
    assert r.status_code == 200, r.text
    assert platform.deep_link_items == [resource.to_dict()]
    assert platform.deep_link_responses[0][DL + "data"] == settings["data"]
    (link,) = platform.deep_linked_resource_links()
    assert f'data-resource-link-id="{link["id"]}"' in r.text
    (item,) = platform.line_items()
    assert (item["id"], item["scoreMaximum"], item["tag"], item["resourceLinkId"]) == \
        (link["lineitem"], 8, "hw1", link["id"])

    # Posting again: the deep linking request is closed.
    assert requests.post(action, data=fields, timeout=10).status_code == 400

    # A student opens the new link: its URL, custom parameters and line item come along.
    tool.session.clear()
    student = browse(tool, platform.launch_url(tool.login_url, resource_link_id=link["id"]))
    data = student.get_launch_data()
    assert data[LTI + "target_link_uri"] == tool.launch_url + "?assignment=hw1"
    assert data[LTI + "custom"] == {"assignment": "hw1"}
    assert data[LTI + "resource_link"] == {"id": link["id"], "title": "Homework 1"}
    assert data[AGS_ENDPOINT]["lineitem"] == link["lineitem"]
    assert len(platform.errors) == 1


# --- (5) forged signatures ---------------------------------------------------------------


def test_forged_signatures_are_refused(platform, tool, other_pems):
    launch = browse(tool, platform.launch_url(tool.login_url, tool.launch_url,
                                              user=Platform.instructor(),
                                              message_type="LtiDeepLinkingRequest"))
    forged = tool.registration().set_tool_private_key(other_pems[0])  # the tool's kid, wrong key
    with pytest.raises(LtiServiceException) as refused:
        ServiceConnector(forged).get_access_token([SCOPE_SCORE])
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["error"] == "invalid_client"
    assert "InvalidSignatureError" in platform.errors[-1]

    settings = launch.get_launch_data()[DL + "deep_linking_settings"]
    resource = DeepLinkResource().set_url(tool.launch_url).set_title("Forged")
    forged_jwt = DeepLink(forged, platform.deployment_id, settings).get_response_jwt([resource])
    r = requests.post(settings["deep_link_return_url"], data={"JWT": forged_jwt}, timeout=10)
    assert r.status_code == 400 and "InvalidSignatureError" in r.text
    assert platform.deep_link_items == []

    # A key the tool's JWKS does not have, and a wrong audience.
    now = int(time.time())
    claims = {"iss": platform.client_id, "sub": platform.client_id, "iat": now,
              "exp": now + 60, "jti": "j-1", "aud": platform.auth_token_url}
    unknown = jwt.encode(claims, other_pems[0], algorithm="RS256", headers={"kid": "nope"})
    wrong_aud = jwt.encode({**claims, "aud": "https://elsewhere.example"},
                           tool.registration().get_tool_private_key(), algorithm="RS256",
                           headers={"kid": tool.registration().get_kid()})
    for assertion, reason in ((unknown, "no key with kid 'nope'"),
                              (wrong_aud, "InvalidAudienceError")):
        r = requests.post(platform.auth_token_url, timeout=10, data={
            "grant_type": "client_credentials", "scope": SCOPE_SCORE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        assert r.status_code == 401 and reason in r.json()["error_description"]

    # The genuine key still works, for both.
    assert ServiceConnector(tool.registration()).get_access_token([SCOPE_SCORE])
    ok = launch.get_deep_link().get_response_jwt([resource])
    assert requests.post(settings["deep_link_return_url"], data={"JWT": ok},
                         timeout=10).status_code == 200
    assert len(platform.deep_link_items) == 1


def test_token_requests_are_checked(platform, tool):
    reg = tool.registration()
    connector = ServiceConnector(reg)
    now = int(time.time())
    assertion = connector.encode_jwt(
        {"iss": reg.get_client_id(), "sub": reg.get_client_id(), "aud": platform.auth_token_url,
         "iat": now, "exp": now + 60, "jti": "once"}, reg.get_tool_private_key(),
        {"kid": reg.get_kid()})

    def ask(scope: str = SCOPE_SCORE, **changes: str) -> requests.Response:
        form = {"grant_type": "client_credentials", "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion, **changes}
        return requests.post(platform.auth_token_url, data=form, timeout=10)

    assert ask(scope="https://example.com/scope/everything").json()["error"] == "invalid_scope"
    assert ask(grant_type="password").json()["error"] == "unsupported_grant_type"
    granted = ask()
    assert granted.status_code == 200
    assert granted.json()["token_type"] == "Bearer" and granted.json()["expires_in"] == 3600
    assert granted.json()["scope"] == SCOPE_SCORE
    replay = ask()
    assert replay.status_code == 401 and "jti" in replay.json()["error_description"]
    no_token = requests.get(platform.lineitems_url(), timeout=10)
    assert no_token.status_code == 401 and "WWW-Authenticate" in no_token.headers


# --- (6) the OIDC authentication request -------------------------------------------------


def test_auth_request_errors_are_refused(platform, tool):
    r = requests.get(platform.launch_url(tool.login_url, tool.launch_url),
                     allow_redirects=False, timeout=10)
    login = urllib.parse.urlsplit(r.headers["Location"])
    auth = urllib.parse.urlsplit(tool.login(dict(urllib.parse.parse_qsl(login.query))))
    params = dict(urllib.parse.parse_qsl(auth.query))

    def ask(**changes: str) -> requests.Response:
        query = urllib.parse.urlencode({**params, **changes})
        return requests.get(platform.auth_login_url + "?" + query, timeout=10)

    for changes, reason in (({"redirect_uri": "http://evil.example/lti/launch"}, "redirect_uri"),
                            ({"client_id": "someone-else"}, "client_id"),
                            ({"lti_message_hint": "made-up"}, "lti_message_hint"),
                            ({"login_hint": "made-up"}, "login_hint"),
                            ({"response_mode": "query"}, "response_mode"),
                            ({"nonce": ""}, "nonce")):
        refused = ask(**changes)
        assert refused.status_code == 400 and reason in refused.text, changes
    assert len(platform.errors) == 6
    # The same request, unchanged, by POST: accepted.
    accepted = requests.post(platform.auth_login_url, data=params, timeout=10)
    assert accepted.status_code == 200 and follow_form(accepted.text)[0] == tool.launch_url


def test_redirect_uri_defaults_to_the_target_link_origin(platform_key, tool_base, tool_pems):
    with Platform(tool_jwks_url=tool_base + "/lti/jwks", private_key=platform_key) as lms:
        tool = Tool(lms, tool_base, *tool_pems)
        tool.launch_url = tool_base + "/another/launch"  # same origin: accepted
        assert browse(tool, lms.launch_url(tool.login_url, tool_base + "/lti/launch"))
        tool.launch_url = "http://127.0.0.2:1/lti/launch"
        r = requests.get(lms.launch_url(tool.login_url, tool_base + "/lti/launch"),
                         allow_redirects=False, timeout=10)
        query = urllib.parse.urlsplit(r.headers["Location"]).query
        page = requests.get(tool.login(dict(urllib.parse.parse_qsl(query))), timeout=10)
        assert page.status_code == 400 and "redirect_uri" in page.text
