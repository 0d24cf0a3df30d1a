"""LTI 1.3 against a real platform: the simulator in tests/lti_platform.py (its own RSA keys
and JWKS on loopback, signed id_tokens, Deep Linking, OAuth client credentials, AGS line
items and scores), talking over HTTP to the grader under waitress, on SQLite and PostgreSQL.

A launch is driven as a browser would drive it (requests follows the redirects and posts the
auto-submitting forms), and once by headless Chromium.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from click.testing import CliRunner
from lti_platform import LTI, Platform, follow_form
from markupsafe import escape
from web_support import SEED_ANSWERS, TOKEN, LiveServer, make_app, sql

from grader.cli import main as cli

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG_A = r"\hat{y}_k - y_k"   # the sign flipped: part a earns nothing


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def tool(tmp_path, pool, backend):
    """The grader on loopback, sending scores at once and retrying fast."""
    server = LiveServer(make_app(tmp_path / "grader.db", pool, LTI_SEND_INTERVAL=0.1,
                                 LTI_RETRY_BASE_SECONDS=0.05))
    yield server
    server.app.extensions["grader_lti_sender"].stop()
    server.close()


@pytest.fixture
def lms(tool):
    """A platform that knows the tool's redirect URI and JWKS, registered with the tool."""
    with Platform(redirect_uris=[tool.url + "/lti/launch"],
                  tool_jwks_url=tool.url + "/lti/jwks") as platform:
        tool.app.extensions["grader_lti"].register(platform.registration())
        yield platform


def make_assignment(tool, **changes) -> dict:
    now = datetime.now(UTC)
    body = {"id": "hw1", "problem": "backprop", "title": "Homework 1",
            "opens_at": iso(now - timedelta(days=1)), "due_at": iso(now + timedelta(days=1)),
            "timezone": "UTC", **changes}
    response = requests.post(tool.url + "/api/v1/assignments", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def launch(tool, lms, browser: requests.Session | None = None, **kwargs):
    """Run a launch as a browser: the platform's start page, the tool's login, the
    platform's authorization, the form post of the id_token. Returns (session, response to
    that post, not followed)."""
    browser = browser or requests.Session()
    start = lms.launch_url(tool.url + "/lti/login", tool.url + "/lti/launch", **kwargs)
    page = browser.get(start)
    assert page.status_code == 200, page.text
    action, fields = follow_form(page.text)
    return browser, browser.post(action, data=fields, allow_redirects=False)


def the_form(page: str, form_id: str, base_url: str | None = None):
    """(action, fields) of the form ``form_id`` of a page (the nav has forms of its own)."""
    return follow_form(page[page.index(f'id="{form_id}"') - 40:], base_url)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(tool, browser, answers: dict[str, str], assignment_id: str = "hw1"):
    page = browser.get(f"{tool.url}/assignments/{assignment_id}")
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf(page.text), "mode": "answers",
            **{f"answer-{p}": latex for p, latex in answers.items()}}
    response = browser.post(f"{tool.url}/assignments/{assignment_id}/submit", data=form)
    assert response.status_code == 200 and "/submissions/" in response.url, response.text
    return int(response.url.rsplit("/", 1)[1].split("?")[0])


def outbox(tool, status: str | None = None):
    return tool.app.extensions["grader_lti"].scores(status)


def wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ------------------------------------------------------------------ student launches
def test_a_student_launch_signs_in_and_each_graded_attempt_sends_the_counting_score(
        tool, lms):
    make_assignment(tool, max_attempts=3, counting="best")
    ann = Platform.student("ann-sub", "Ann Lee", sourcedid="s100")
    browser, response = launch(tool, lms, user=ann, custom={"assignment": "hw1"})
    assert response.status_code == 303 and response.headers["Location"] == "/assignments/hw1"
    page = browser.get(tool.url + "/assignments/hw1").text
    assert "Ann Lee (s100)" in page and 'name="student"' not in page   # no name to type

    submit(tool, browser, SEED_ANSWERS)
    first = lms.wait_for_scores(1)[0]
    assert first["userId"] == "ann-sub" and first["scoreGiven"] == first["scoreMaximum"] == 8
    assert first["activityProgress"] == "Submitted"
    assert first["gradingProgress"] == "FullyGraded"
    assert first["lineitem"] == lms.line_items()[0]["id"]

    # a worse attempt: the best still counts, and the LMS is told so again
    submit(tool, browser, {**SEED_ANSWERS, "a": WRONG_A})
    second = lms.wait_for_scores(2)[1]
    assert second["scoreGiven"] == 8
    assert lms.errors == []
    student = sql(tool.app, "SELECT id, name, email, source FROM students")
    assert student == [("s100", "Ann Lee", "ann-sub@example.edu", "lti")]
    decisions = sql(tool.app, "SELECT student_id, allowed FROM decisions "
                              "WHERE action = 'attempt' ORDER BY id")
    assert decisions == [("s100", 1), ("s100", 1)]


def test_an_override_sends_the_new_score(tool, lms):
    make_assignment(tool)
    browser, _ = launch(tool, lms, custom={"assignment": "hw1"})
    submission = submit(tool, browser, {**SEED_ANSWERS, "a": WRONG_A})
    assert lms.wait_for_scores(1)[0]["scoreGiven"] < 8
    response = requests.put(f"{tool.url}/api/v1/submissions/{submission}/parts/a/override",
                            json={"score": 1, "verdict": "correct",
                                  "comment": "sign convention"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert lms.wait_for_scores(2)[1]["scoreGiven"] == 8
    assert lms.errors == []


def test_a_roster_student_launched_from_the_lms_is_the_same_student(tool, lms):
    make_assignment(tool)
    requests.post(tool.url + "/api/v1/roster", data="student id,name,email\ns7,Bo Chen,bo@u.edu\n",
                  headers={**AUTH, "Content-Type": "text/csv"}).raise_for_status()
    bo = Platform.student("bo-sub", "Bo Chen", sourcedid="s7")
    browser, _ = launch(tool, lms, user=bo, custom={"assignment": "hw1"})
    assert "Bo Chen (s7)" in browser.get(tool.url + "/assignments/hw1").text
    assert sql(tool.app, "SELECT count(*) FROM students") == [(1,)]
    # a second LMS user claiming the same sourcedid gets an id of their own
    other = Platform.student("other-sub", "Mallory", sourcedid="s7")
    browser2, _ = launch(tool, lms, user=other, custom={"assignment": "hw1"})
    page = browser2.get(tool.url + "/assignments/hw1").text
    assert "Mallory (lti1-other-sub)" in page


def test_scores_are_held_until_the_due_date_when_students_see_nothing_before(tool, lms):
    due = datetime.now(UTC) + timedelta(days=2)
    make_assignment(tool, feedback="after_due", due_at=iso(due))
    browser, _ = launch(tool, lms, custom={"assignment": "hw1"})
    submit(tool, browser, SEED_ANSWERS)
    wait_until(lambda: outbox(tool))
    [owed] = outbox(tool)
    assert owed.status == "pending"
    time.sleep(0.5)
    assert lms.scores == []            # the LMS's gradebook shows nothing either
    next_try = sql(tool.app, "SELECT next_try_at FROM lti_scores")[0][0]
    assert abs(next_try - due.replace(microsecond=0).timestamp()) < 2


def test_a_link_not_tied_to_an_assignment_says_so(tool, lms):
    make_assignment(tool)
    _, response = launch(tool, lms, resource_link_id="loose")
    assert response.status_code == 404
    assert "your instructor has not chosen its assignment" in response.text
    # an instructor launching it is sent to pick one
    _, response = launch(tool, lms, user=Platform.instructor(), resource_link_id="loose")
    assert response.status_code == 303
    assert response.headers["Location"] == "/instructor/assignments"
    # once a launch with the custom parameter binds the link, it opens without it
    launch(tool, lms, resource_link_id="bound", custom={"assignment": "hw1"})
    _, response = launch(tool, lms, user=Platform.student("zed"), resource_link_id="bound")
    assert response.headers["Location"] == "/assignments/hw1"


# ------------------------------------------------------------------------------ roles
@pytest.mark.parametrize("roles, staff", [
    (("Instructor",), True), (("TeachingAssistant",), True),
    (("ContentDeveloper",), True), (("Administrator",), True),
    (("Learner", "Student"), False), (("Mentor",), False)])
def test_roles_map_to_instructor_or_student(tool, lms, roles, staff):
    make_assignment(tool)
    user = Platform.instructor("u1", roles=roles)
    browser, response = launch(tool, lms, user=user, custom={"assignment": "hw1"})
    assert response.status_code == 303
    instructor_page = browser.get(tool.url + "/instructor/roster", allow_redirects=False)
    if staff:
        assert response.headers["Location"] == "/instructor/assignments/hw1"
        assert instructor_page.status_code == 200
    else:
        assert response.headers["Location"] == "/assignments/hw1"
        assert instructor_page.status_code == 302   # to the login form


# ------------------------------------------------------------------------ Deep Linking
def test_deep_linking_makes_an_assignment_and_its_link_sends_scores(tool, lms):
    teacher = Platform.instructor()
    browser, picker = launch(tool, lms, user=teacher, message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 200 and 'id="deep-link-form"' in picker.text
    assert "frame-ancestors " + lms.issuer in picker.headers["Content-Security-Policy"]
    action, fields = the_form(picker.text, "deep-link-form", tool.url)
    now = datetime.now(UTC)
    fields.update({"choice": "new", "id": "dl1", "problem": "backprop", "title": "Backprop",
                   "opens_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                   "due_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
                   "timezone": "UTC", "late_policy": "none", "max_attempts": "2",
                   "counting": "last", "feedback": "full"})
    back = browser.post(action, data=fields)
    assert back.status_code == 200, back.text
    assert "form-action " + lms.issuer in back.headers["Content-Security-Policy"]
    return_url, jwt_field = the_form(back.text, "deep-link-return")
    assert return_url == lms.deep_link_return_url
    done = browser.post(return_url, data=jwt_field)
    assert done.status_code == 200, lms.errors
    [item] = lms.deep_link_items
    assert item["custom"] == {"assignment": "dl1"} and item["title"] == "Backprop"
    assert item["lineItem"]["scoreMaximum"] == 8 and item["url"] == tool.url + "/lti/launch"
    made = requests.get(tool.url + "/api/v1/assignments/dl1", headers=AUTH).json()
    assert made["max_attempts"] == 2 and made["counting"] == "last"

    # a student opens the link the LMS made, and the score goes to its line item
    [link] = lms.deep_linked_resource_links()
    student, response = launch(tool, lms, resource_link_id=link["id"])
    assert response.headers["Location"] == "/assignments/dl1"
    submit(tool, student, SEED_ANSWERS, "dl1")
    [score] = lms.wait_for_scores(1)
    assert score["lineitem"] == link["lineitem"] and score["scoreGiven"] == 8
    assert lms.errors == []


def test_deep_linking_can_pick_an_existing_assignment_and_students_cannot_deep_link(
        tool, lms):
    make_assignment(tool)
    _, response = launch(tool, lms, message_type="LtiDeepLinkingRequest")
    assert response.status_code == 403 and "Only instructors" in response.text
    browser, picker = launch(tool, lms, user=Platform.instructor(),
                             message_type="LtiDeepLinkingRequest")
    action, fields = the_form(picker.text, "deep-link-form", tool.url)
    # a bad pick keeps the form and says why
    bad = browser.post(action, data={**fields, "choice": "existing", "assignment": "nope"})
    assert bad.status_code == 400 and "pick one of the assignments" in bad.text
    back = browser.post(action, data={**fields, "choice": "existing", "assignment": "hw1"})
    return_url, jwt_field = the_form(back.text, "deep-link-return")
    assert browser.post(return_url, data=jwt_field).status_code == 200, lms.errors
    assert lms.deep_link_items[0]["custom"] == {"assignment": "hw1"}
    # the answer needs the session that launched it: another browser is refused
    assert requests.post(action, data=fields).status_code == 403


# ------------------------------------------------------------------ what is refused
def test_a_replayed_or_tampered_launch_is_refused(tool, lms):
    make_assignment(tool)
    browser = requests.Session()
    start = lms.launch_url(tool.url + "/lti/login", tool.url + "/lti/launch",
                           custom={"assignment": "hw1"})
    action, fields = follow_form(browser.get(start).text)
    assert browser.post(action, data=fields, allow_redirects=False).status_code == 303
    replay = browser.post(action, data=fields, allow_redirects=False)
    assert replay.status_code == 400 and "Invalid Nonce" in replay.text

    action, fields = follow_form(browser.get(lms.launch_url(
        tool.url + "/lti/login", tool.url + "/lti/launch", custom={"assignment": "hw1"})).text)
    claims = jwt.decode(fields["id_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(fields["id_token"])
    head, _, signature = fields["id_token"].split(".")
    claims[LTI + "roles"] = [Platform.instructor().roles[0]]      # promote oneself
    forged = jwt.encode(claims, "not the platform's key, but long enough for HS256",
                        algorithm="HS256", headers={"kid": header["kid"]}).split(".")
    tampered = {**fields, "id_token": f"{head}.{forged[1]}.{signature}"}
    refused = browser.post(action, data=tampered, allow_redirects=False)
    assert refused.status_code == 400, refused.text
    assert "Can&#39;t decode id_token" in refused.text, refused.text


def test_a_launch_without_the_state_cookie_is_refused(tool, lms):
    make_assignment(tool)
    browser = requests.Session()
    start = lms.launch_url(tool.url + "/lti/login", tool.url + "/lti/launch")
    action, fields = follow_form(browser.get(start).text)
    response = requests.post(action, data=fields, allow_redirects=False)   # no cookies
    assert response.status_code == 400 and "State not found" in response.text


def test_an_unknown_platform_or_deployment_is_refused(tool, lms):
    make_assignment(tool)
    with Platform(redirect_uris=[tool.url + "/lti/launch"],
                  tool_jwks_url=tool.url + "/lti/jwks") as stranger:
        page = requests.get(stranger.launch_url(tool.url + "/lti/login",
                                                tool.url + "/lti/launch"))
        assert page.status_code == 400
        assert str(escape("The LMS's login request was refused")) in page.text
    other = Platform(redirect_uris=[tool.url + "/lti/launch"], deployment_id="deployment-9",
                     tool_jwks_url=tool.url + "/lti/jwks").start()
    try:
        registration = {**other.registration(), "deployment_id": "deployment-1"}
        tool.app.extensions["grader_lti"].register(registration)
        _, response = launch(tool, other, custom={"assignment": "hw1"})
        assert response.status_code == 400 and "Unable to find deployment" in response.text
    finally:
        other.stop()


# ------------------------------------------------------------------------- retries
def test_scores_are_retried_while_the_lms_is_down_and_failed_ones_can_be_sent_again(
        tool, lms):
    make_assignment(tool)
    browser, _ = launch(tool, lms, custom={"assignment": "hw1"})
    lms.fail_scores(2, status=503)
    submit(tool, browser, SEED_ANSWERS)
    [score] = lms.wait_for_scores(1)
    assert score["scoreGiven"] == 8 and len(lms.score_failures) == 2
    wait_until(lambda: outbox(tool, "sent"))
    assert outbox(tool, "sent")[0].tries == 2

    # the LMS is down altogether (the token endpoint too): the score waits, then goes
    lms.down = True
    submit(tool, browser, {**SEED_ANSWERS, "a": WRONG_A})
    wait_until(lambda: any(o.tries >= 2 for o in outbox(tool, "pending")))
    assert "503" in outbox(tool, "pending")[0].last_error
    lms.down = False
    lms.wait_for_scores(2)

    # a refusal that will not change fails at once, is shown, and can be sent again
    lms.fail_scores(1, status=422)
    submit(tool, browser, SEED_ANSWERS)
    wait_until(lambda: outbox(tool, "failed"))
    instructor = requests.Session()
    instructor.post(tool.url + "/instructor/login", data={
        "token": TOKEN, "csrf_token": csrf(instructor.get(tool.url + "/instructor/login").text)})
    page = instructor.get(tool.url + "/instructor/lti").text
    assert "the LMS answered 422" in page and 'id="retry-failed"' in page
    instructor.post(tool.url + "/instructor/lti/retry", data={"csrf_token": csrf(page)})
    lms.wait_for_scores(3)
    wait_until(lambda: not outbox(tool, "failed") and not outbox(tool, "pending"))
    assert lms.errors == []


@pytest.mark.parametrize("launch_kwargs, why", [
    ({"lineitem": False}, "the LMS gave this link no line item"),
    ({"ags": False}, "the LMS gave this link no line item")])
def test_a_link_without_a_grade_column_keeps_the_attempts_and_says_why_no_score_went(
        tool, lms, launch_kwargs, why):
    make_assignment(tool)
    browser, _ = launch(tool, lms, custom={"assignment": "hw1"}, **launch_kwargs)
    submit(tool, browser, SEED_ANSWERS)
    wait_until(lambda: outbox(tool, "failed"))
    assert why in outbox(tool, "failed")[0].last_error
    assert lms.scores == [] and lms.errors == []


# -------------------------------------------------------------- the tool's endpoints
def test_the_tool_publishes_its_keys_and_a_canvas_configuration(tool):
    keys = requests.get(tool.url + "/lti/jwks").json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert keys == requests.get(tool.url + "/lti/jwks").json()["keys"]     # a stable key
    config = requests.get(tool.url + "/lti/config.json").json()
    assert config["oidc_initiation_url"] == tool.url + "/lti/login"
    assert config["target_link_uri"] == tool.url + "/lti/launch"
    assert config["public_jwk_url"] == tool.url + "/lti/jwks"
    placements = config["extensions"][0]["settings"]["placements"]
    assert {p["message_type"] for p in placements} == {"LtiDeepLinkingRequest"}


def test_only_an_lti_session_may_be_framed_and_only_by_its_lms(tool, lms):
    make_assignment(tool)
    plain = requests.get(tool.url + "/")
    assert plain.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in plain.headers["Content-Security-Policy"]
    browser, _ = launch(tool, lms, custom={"assignment": "hw1"})
    framed = browser.get(tool.url + "/assignments/hw1")
    assert "X-Frame-Options" not in framed.headers
    assert f"frame-ancestors {lms.issuer};" in framed.headers["Content-Security-Policy"]


def test_behind_a_tls_proxy_the_urls_are_public_and_the_cookies_cross_site(
        tmp_path, pool, backend):
    """With GRADER_PUBLIC_URL=https://..., the LMS is given https URLs; the state cookie and
    the LTI session's cookie are Secure and SameSite=None, so the browser sends them in the
    LMS's frame (the proxy would carry them to this plain-HTTP server)."""
    public = "https://grader.example.edu"
    server = LiveServer(make_app(tmp_path / "grader.db", pool, PUBLIC_URL=public))
    try:
        make_assignment(server)
        config = requests.get(server.url + "/lti/config.json").json()
        assert config["oidc_initiation_url"] == public + "/lti/login"
        assert config["public_jwk_url"] == public + "/lti/jwks"
        with Platform(redirect_uris=[public + "/lti/launch"],
                      tool_jwks_url=server.url + "/lti/jwks") as lms:
            server.app.extensions["grader_lti"].register(lms.registration())
            start = lms.launch_url(server.url + "/lti/login", public + "/lti/launch",
                                   custom={"assignment": "hw1"})
            to_login = requests.get(start, allow_redirects=False).headers["Location"]
            login = requests.get(to_login, allow_redirects=False)
            state_cookie = login.headers["Set-Cookie"]
            assert "Secure" in state_cookie and "SameSite=None" in state_cookie
            action, fields = follow_form(requests.get(login.headers["Location"]).text)
            assert action == public + "/lti/launch"
            cookie = state_cookie.split(";", 1)[0]
            launched = requests.post(server.url + "/lti/launch", data=fields,
                                     headers={"Cookie": cookie}, allow_redirects=False)
            assert launched.status_code == 303, launched.text
            session_cookie = launched.headers["Set-Cookie"]
            assert "Secure" in session_cookie and "SameSite=None" in session_cookie
            assert lms.errors == []
    finally:
        server.close()


def test_platforms_are_registered_on_the_instructor_page(tool):
    browser = requests.Session()
    browser.post(tool.url + "/instructor/login", data={
        "token": TOKEN, "csrf_token": csrf(browser.get(tool.url + "/instructor/login").text)})
    page = browser.get(tool.url + "/instructor/lti").text
    assert tool.url + "/lti/login" in page and tool.url + "/lti/jwks" in page
    with Platform() as one, Platform(client_id="second-client") as two:
        first_issuer = one.issuer
        for platform in (one, two):
            form = {**platform.registration(), "csrf_token": csrf(page),
                    "deployment_ids": "d-1\nd-2"}
            form.pop("deployment_id")
            done = browser.post(tool.url + "/instructor/lti", data=form)
            assert done.status_code == 200 and f"Registered {platform.name}" in done.text
        bad = browser.post(tool.url + "/instructor/lti", data={
            **one.registration(), "key_set_url": "ftp://nowhere", "csrf_token": csrf(page)})
        assert bad.status_code == 400
        assert str(escape('"key_set_url" must be an https:// URL')) in bad.text
        again = browser.post(tool.url + "/instructor/lti", data={
            **one.registration(), "deployment_ids": "d-3", "csrf_token": csrf(page)})
        assert again.status_code == 400
        assert "is registered already" in again.text
    rows = sql(tool.app, "SELECT client_id, deployment_ids FROM lti_platforms ORDER BY id")
    assert rows == [("grader-tool", '["d-1", "d-2"]'), ("second-client", '["d-1", "d-2"]')]
    # without the instructor's session and its CSRF token, nothing is registered
    assert requests.post(tool.url + "/instructor/lti", data=form).status_code == 400
    assert len(sql(tool.app, "SELECT id FROM lti_platforms")) == 2

    # the LMS adds a deployment: edit the platform in place (its links stay)
    page = browser.get(tool.url + "/instructor/lti").text
    action, fields = the_form(page, "edit-platform-1", tool.url)
    assert fields["client_id"] == "grader-tool"
    saved = browser.post(action, data={**fields, "deployment_ids": "d-1\nd-2\nd-3",
                                       "name": "Canvas"})
    assert saved.status_code == 200 and "Saved Canvas." in saved.text
    assert sql(tool.app, "SELECT name, deployment_ids FROM lti_platforms WHERE id = 1") == [
        ("Canvas", '["d-1", "d-2", "d-3"]')]
    refused = browser.post(action, data={**fields, "issuer": "nowhere"})
    assert "Not saved:" in refused.text
    assert sql(tool.app, "SELECT issuer FROM lti_platforms WHERE id = 1") == [(first_issuer,)]
    removed = browser.post(action, data={"csrf_token": fields["csrf_token"],
                                         "action": "remove"})
    assert "Removed the platform" in removed.text
    assert sql(tool.app, "SELECT client_id FROM lti_platforms") == [("second-client",)]


def test_the_cli_registers_lists_and_removes_platforms(tmp_path):
    db = f"sqlite:///{tmp_path / 'grader.db'}"
    runner = CliRunner()
    add = ["lti", "add", "--db", db, "--name", "Canvas", "--issuer",
           "https://canvas.instructure.com", "--client-id", "10000000000001",
           "--auth-login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
           "--auth-token-url", "https://sso.canvaslms.com/login/oauth2/token",
           "--key-set-url", "https://sso.canvaslms.com/api/lti/security/jwks",
           "--deployment-id", "1:abc", "--deployment-id", "2:def"]
    done = runner.invoke(cli, add)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("registered platform 1: Canvas")
    assert runner.invoke(cli, add).output.endswith("is registered already\n")
    listed = runner.invoke(cli, ["lti", "list", "--db", db, "--json"])
    [platform] = json.loads(listed.output)
    assert platform["deployment_ids"] == ["1:abc", "2:def"]
    assert runner.invoke(cli, ["lti", "send", "--db", db]).output.startswith("sent 0")
    assert runner.invoke(cli, ["lti", "remove", "--db", db, "1"]).exit_code == 0
    gone = runner.invoke(cli, ["lti", "remove", "--db", db, "1"])
    assert gone.exit_code != 0 and "no platform 1" in gone.output
    bad = [("nowhere" if a.endswith("/jwks") else a) for a in add]
    refused = runner.invoke(cli, bad)
    assert refused.exit_code != 0
    assert '"key_set_url" must be an https:// URL' in refused.output


# ------------------------------------------------------------------- a real browser
def test_a_launch_in_a_real_browser(tool, lms, browser):
    make_assignment(tool)
    page = browser.new_page()
    page.goto(lms.launch_url(tool.url + "/lti/login", tool.url + "/lti/launch",
                             user=Platform.student("cy", "Cy Twombly"),
                             custom={"assignment": "hw1"}))
    page.wait_for_url(tool.url + "/assignments/hw1")
    assert "Cy Twombly" in page.inner_text("#signed-in-as")
    for pid, latex in SEED_ANSWERS.items():
        page.fill(f"#answer-{pid}", latex)
    page.click("#submit-answers")
    page.wait_for_url(re.compile(r"/submissions/\d+"))
    [score] = lms.wait_for_scores(1)
    assert score["userId"] == "cy" and score["scoreGiven"] == 8
    assert lms.errors == []
    page.close()

