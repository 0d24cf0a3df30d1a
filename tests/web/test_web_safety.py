"""The new user's findings about safety, each against the real thing (a real SQLite file, a
real pool, and waitress on loopback where HTTP matters): ids out of range, invalid Unicode,
control characters on pages, login redirects, sessions, rate limits, caching, cookies."""

from __future__ import annotations

import http.cookiejar
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from web_support import SEED_ANSWERS, TOKEN, LiveServer, dump, make_app, sql

from grader.web.storage import Store

API = "/api/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# what must never reach a page as itself
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")


def csrf(client, path="/") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, token=TOKEN, next_path=""):
    return client.post("/instructor/login", data={
        "csrf_token": csrf(client, "/instructor/login"), "token": token, "next": next_path})


def count_submissions(app) -> int:
    ((count,),) = sql(app, "SELECT COUNT(*) FROM submissions")
    return count


# ------------------------------------------------------------------ 2. ids out of range
@pytest.mark.parametrize("sid", ["9223372036854775808", "9223372036854775807",
                                 "99999999999999999999999999", "0", "-1", "-9223372036854775809",
                                 "abc", "1e3", "1.0", "0x1", "%201", "%EF%BC%91", "1%00"])
def test_submission_ids_out_of_range_are_404_over_http(live, sid):
    status, _, body = live.request("GET", f"{API}/submissions/{sid}?token=x")
    assert status == 404, body
    assert body["error"]
    status, _, body = live.request("GET", f"{API}/submissions/{sid}", headers=AUTH)
    assert status == 404 and body["error"]
    status, _, body = live.request("PUT", f"{API}/submissions/{sid}/parts/a/override",
                                   {"score": 0, "verdict": "incorrect"}, headers=AUTH)
    assert status == 404 and body["error"]
    status, _, page = live.request("GET", f"/submissions/{sid}?token=x")
    assert status == 404 and "Traceback" not in page
    assert live.request("GET", f"/submissions/{sid}/status?token=x")[0] == 404


# -------------------------------------------------------------- 3. invalid Unicode
LONE = '"\\ud800"'          # JSON for a lone surrogate: it decodes, but is no text


@pytest.mark.parametrize("raw, field", [
    ('{"student": "s", "answers": {"b": ' + LONE + "}}", "answers.b"),
    ('{"student": ' + LONE + ', "answers": {"b": "x"}}', "student"),
    ('{"student": "s", "document": "(a) $x$ \\ud800"}', "document"),
    ('{"student": "s", "answers": {' + LONE + ': "x"}}', "answers (a key)"),
    ('{"student": "s", "answers": {"b": "x"}, "format": "\\udfff"}', "format"),
])
def test_lone_surrogates_are_400_naming_the_field_and_nothing_is_stored(client, app, raw,
                                                                       field):
    response = client.post(f"{API}/problems/backprop/submissions", data=raw.encode(),
                           content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    message = response.get_json()["error"]
    assert f'"{field}"' in message and "Unicode" in message
    assert "stored" not in message
    assert count_submissions(app) == 0


def test_lone_surrogates_elsewhere_are_400(client, app, auth):
    response = client.post(f"{API}/preview", data=(
        b'{"problem": "backprop", "part": "b", "latex": "x\\ud800"}'),
        content_type="application/json")
    assert response.status_code == 400 and '"latex"' in response.get_json()["error"]
    upload = b'{"answers": {"c": "\\udc00"}}'

    response = client.post(f"{API}/problems/backprop/submissions",
                           data={"student": "s", "file": (io.BytesIO(upload), "a.json")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and '"answers.c"' in response.get_json()["error"]
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "s", "answers": {"c": "x"}}).get_json()
    response = client.put(f"{API}/submissions/{created['id']}/parts/c/override", headers=auth,
                          data=b'{"score": 1, "verdict": "correct", "comment": "\\ud800"}',
                          content_type="application/json")
    assert response.status_code == 400 and '"comment"' in response.get_json()["error"]
    assert count_submissions(app) == 1


def test_a_500_says_stored_only_when_something_was(tmp_path, pool):
    """A bug after the submission is stored says so (with its id); a bug before says not."""
    app = make_app(tmp_path / "grader.db", pool, PROPAGATE_EXCEPTIONS=False, TESTING=False)

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("a bug")

    client = app.test_client()
    response = client.get(f"{API}/boom")
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal error (logged); nothing was stored"


# ------------------------------------------------------- 4. control characters on pages
EVIL = "Ann\x07\x1b[31m\u202eevil\x85\x00"


def _all_pages(client, sid, token, problem="backprop"):
    paths = [f"/submissions/{sid}?token={token}", "/", f"/?problem={problem}\x07\x1b",
             f"/instructor/problems/{problem}", f"/instructor/problems/{problem}/review",
             "/instructor/", f"/submissions/{sid}", "/instructor/problems/x\x1b\u202e"]
    return {path: client.get(path).get_data(as_text=True) for path in paths}


def test_control_characters_never_reach_a_page(client, app, auth):
    # a name with control characters is refused, with the reason
    response = client.post(f"{API}/problems/backprop/submissions",
                           json={"student": EVIL, "answers": {"c": "x"}})
    assert response.status_code == 400 and "control character" in response.get_json()["error"]
    page = client.post("/submit", data={"csrf_token": csrf(client), "problem": "backprop",
                                         "mode": "answers", "student": "Tab\tName",
                                         "answer-c": "x"})
    assert page.status_code == 400 and "control character" in page.get_data(as_text=True)

    # answers, and a comment from an instructor, may hold them; so may a name stored before
    # names were checked
    answers = {"a": "\\sigma(x)\x07", "b": "\x1b[2J(c_k - t_k) g'(h_k)", "c": "\u202eb_j",
               "d": "\\delta_k\x85", "e": "x\x7f", "f": "\x01"}
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "Bea", "answers": answers}).get_json()
    old = Store(app.config["DATABASE"]).add_submission("backprop", EVIL, "old-token", "answers",
                                                       {"c": "b_j\x07"})
    app.extensions["grader"].grade_one(old)
    assert client.put(f"{API}/submissions/{created['id']}/parts/c/override", headers=auth,
                      json={"score": 0, "verdict": "incorrect",
                            "comment": "see \x1b[1mthis\x1b[0m \u202e"}).status_code == 200
    login(client)
    pages = _all_pages(client, created["id"], created["token"])
    pages[f"old /submissions/{old}"] = client.get(f"/submissions/{old}").get_data(as_text=True)
    for path, page in pages.items():
        found = CONTROL.search(page)
        assert found is None, (path, hex(ord(found.group())), page[found.start() - 80:
                                                                   found.start() + 80])
    result = pages[f"/submissions/{created['id']}?token={created['token']}"]
    assert "\\sigma(x)\u2407" in result                # shown as a sign: ␇
    assert "\u241b[2J" in result and "[U+202E]b_j" in result
    assert "see \u241b[1mthis" in result
    assert "Ann\u2407\u241b[31m[U+202E]evil[U+0085]\u2400" in pages[f"old /submissions/{old}"]
    listing = pages["/instructor/problems/backprop"]
    assert "Ann\u2407" in listing


# ------------------------------------------------------ 5. redirects after logging in
OFF_SITE = [
    "//evil.example", "//evil.example/instructor/", "///evil.example", "////evil.example",
    "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "\\/evil.example",
    "/\t/evil.example", "/%09/evil.example", "/\n/evil.example", "/\r/evil.example",
    "/ /evil.example", " //evil.example", "\t//evil.example", "/\x00/evil.example",
    "/\x0c/evil.example", "/\u3000/evil.example", "/\uff0f/evil.example",
    "https://evil.example", "http://evil.example/instructor/", "HTTPS://evil.example",
    "https:evil.example", "http:/evil.example", "javascript:alert(1)", "data:text/html,x",
    "evil.example", "instructor/", "", "/.//evil.example", "/./\\evil.example",
    "/instructor/../\\evil.example", "http://localhost@evil.example/",
    "/instructor/\x1b", "/static/style.css", "/api/v1/problems",
    "/no/such/page", "/instructor/login",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(client, target):
    response = login(client, next_path=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/instructor/"


@pytest.mark.parametrize("query", ["%2F%09%2Fevil.example", "%2F%2Fevil.example",
                                   "%2F%5Cevil.example", "https%3A%2F%2Fevil.example",
                                   "%2F%0A%2Fevil.example", "%09%2F%2Fevil.example"])
def test_login_form_drops_an_off_site_next_from_the_link(client, query):
    page = client.get(f"/instructor/login?next={query}").get_data(as_text=True)
    assert 'name="next" value=""' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/instructor/login", data={
        "csrf_token": token, "token": TOKEN, "next": urllib.parse.unquote(query)})
    assert response.headers["Location"] == "/instructor/"


@pytest.mark.parametrize("target", ["/instructor/problems/backprop",
                                    "/instructor/problems/backprop?page=2",
                                    "/instructor/problems/backprop/review", "/instructor/",
                                    "/submissions/3", "/"])
def test_login_still_goes_back_to_a_page_of_this_site(client, target):
    assert login(client, next_path=target).headers["Location"] == target


def test_login_redirects_stay_on_site_over_http(live):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    page = opener.open(live.url + "/instructor/login?next=%2F%09%2Fevil.example",
                       timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "token": TOKEN,
                                   "next": "/\t/evil.example"}).encode()
    try:
        opener.open(live.url + "/instructor/login", data=data, timeout=10)
        raise AssertionError("the login did not redirect")
    except urllib.error.HTTPError as err:
        assert err.code == 303
        location = err.headers["Location"]
    assert location == "/instructor/"
    assert urllib.parse.urlsplit(urllib.parse.urljoin(live.url + "/", location)).netloc == \
        urllib.parse.urlsplit(live.url).netloc


# ------------------------------------------------------------------------- 6. sessions
def _cookie_opener():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _login_over_http(server: LiveServer):
    opener, jar = _cookie_opener()
    page = opener.open(server.url + "/instructor/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    before = {c.name: c.value for c in jar}
    data = urllib.parse.urlencode({"csrf_token": token, "token": TOKEN, "next": ""}).encode()
    page = opener.open(server.url + "/instructor/login", data=data, timeout=10).read().decode()
    assert "Log out" in page
    after = {c.name: c.value for c in jar}
    return opener, before["session"], after["session"], page


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _with_cookie(server: LiveServer, path: str, sid: str) -> tuple[int, str]:
    """GET ``path`` with only the cookie ``session=sid``, without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(server.url + path, headers={"Cookie": f"session={sid}"})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", "")


def test_a_copied_session_cookie_dies_at_logout(tmp_path, pool):
    server = LiveServer(make_app(tmp_path / "grader.db", pool))
    try:
        opener, before, sid, page = _login_over_http(server)
        assert sid != before                       # a new id at login: no fixation
        assert _with_cookie(server, "/instructor/", before)[0] == 302
        assert _with_cookie(server, "/instructor/", sid)[0] == 200   # the copy works ...
        # the database keeps a digest of the id, not the id
        assert sid not in dump(server.app)
        csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        opener.open(server.url + "/instructor/logout",
                    data=urllib.parse.urlencode({"csrf_token": csrf_token}).encode(),
                    timeout=10).read()
        # ... until the logout: then it opens nothing
        status, location = _with_cookie(server, "/instructor/", sid)
        assert status == 302 and location.startswith("/instructor/login")
        assert _with_cookie(server, "/instructor/problems/backprop/gradebook.csv", sid)[0] == 302
        # a made-up or tampered id is no session either
        for fake in ("x", sid[:-1] + ("A" if sid[-1] != "A" else "B"), "a" * 43, sid + "x"):
            assert _with_cookie(server, "/instructor/", fake)[0] == 302
    finally:
        server.close()


def test_sessions_end_when_the_instructor_token_changes(tmp_path, pool):
    db = tmp_path / "grader.db"
    first = LiveServer(make_app(db, pool))
    try:
        _, _, sid, _ = _login_over_http(first)
        assert _with_cookie(first, "/instructor/", sid)[0] == 200
    finally:
        first.close()
    changed = LiveServer(make_app(db, pool, INSTRUCTOR_TOKEN="a-new-token"))
    try:
        assert _with_cookie(changed, "/instructor/", sid)[0] == 302
        left = sql(changed.app, "SELECT COUNT(*) FROM sessions WHERE instructor IS NOT NULL")
        assert left == [(0,)]                   # the old logins are gone from the database
    finally:
        changed.close()
    # and while a server runs, a session made with another token is not an instructor's
    app = make_app(db, pool)
    client = app.test_client()
    login(client)
    app.config["INSTRUCTOR_TOKEN_DIGEST"] = "0" * 64
    assert client.get("/instructor/").status_code == 302


def test_session_cookie_flags(tmp_path, pool):
    plain = make_app(tmp_path / "a.db", pool).test_client()
    cookie = plain.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert re.match(r"session=[A-Za-z0-9_-]{43};", cookie)

    # served over HTTPS (a TLS proxy that says so): Secure without any setting
    https = plain.get("/", base_url="https://grader.example").headers["Set-Cookie"]
    assert "Secure" in https and "HttpOnly" in https and "SameSite=Lax" in https

    # the setting: Secure even when the proxy's request reaches us as plain HTTP
    secure = make_app(tmp_path / "b.db", pool, SESSION_COOKIE_SECURE=True).test_client()
    cookie = secure.get("/").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # logging out clears the cookie with the same flags
    token = csrf(secure)
    cleared = secure.post("/instructor/logout", data={"csrf_token": token})
    assert "Secure" in cleared.headers["Set-Cookie"]


def test_secure_cookie_from_the_environment(tmp_path, pool, monkeypatch):
    monkeypatch.setenv("GRADER_SECURE_COOKIE", "1")
    client = make_app(tmp_path / "grader.db", pool).test_client()
    assert "Secure" in client.get("/").headers["Set-Cookie"]


def test_the_api_takes_no_cookies(client):
    assert "Set-Cookie" not in client.get(f"{API}/problems").headers
    response = client.post(f"{API}/problems/backprop/submissions",
                           json={"student": "s", "answers": {"c": "x"}})
    assert "Set-Cookie" not in response.headers


# ---------------------------------------------------------------------- 7. rate limits
def test_failed_logins_are_limited_with_a_clear_429(client):
    for _ in range(10):
        assert login(client, "wrong").status_code == 403
    response = login(client, "wrong")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "too many failed attempts" in page and "try again in" in page
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    # the right token waits too: a guess that happens to be right learns nothing
    assert login(client).status_code == 429
    # looking at the form is no attempt
    assert client.get("/instructor/login").status_code == 200
    # another address is not held back by this one
    other = client.application.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert login(other).status_code == 303


def test_bearer_guesses_are_limited_with_a_clear_429(live):
    """Over HTTP, on the shared server: its own budget, spent only by wrong tokens."""
    app = live.app
    # Right tokens and requests with no token are not attempts that fail: never limited.
    for _ in range(15):
        assert live.request("GET", f"{API}/problems/backprop/submissions",
                            headers=AUTH)[0] == 200
        assert live.request("GET", f"{API}/problems/backprop/review")[0] == 401
    statuses = [live.request("GET", f"{API}/problems/backprop/submissions",
                             headers={"Authorization": f"Bearer guess{n}"})[0]
                for n in range(10)]
    assert statuses == [401] * 10
    status, headers, body = live.request("GET", f"{API}/problems/backprop/submissions",
                                         headers={"Authorization": "Bearer guess10"})
    assert status == 429
    assert "too many failed attempts" in body["error"] and "try again in" in body["error"]
    assert int(headers["Retry-After"]) >= 1
    # a wrong bearer on a student's result counts too, and the right token now waits
    assert live.request("GET", f"{API}/submissions/1",
                        headers={"Authorization": "Bearer guess11"})[0] == 429
    assert live.request("GET", f"{API}/problems/backprop/review", headers=AUTH)[0] == 429
    # pages and students are untouched
    assert live.request("GET", "/")[0] == 200
    assert live.request("GET", f"{API}/problems")[0] == 200
    app.extensions["grader_limiter"].reset()      # leave the shared server as it was


# -------------------------------------------------------------------- 12. Cache-Control
def test_pages_and_answers_holding_tokens_are_not_stored(client, auth):
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "s", "answers": SEED_ANSWERS})
    body = created.get_json()
    responses = {
        "created": created,
        "api result": client.get(f"{API}/submissions/{body['id']}?token={body['token']}"),
        "result page": client.get(f"/submissions/{body['id']}?token={body['token']}"),
        "status": client.get(f"/submissions/{body['id']}/status?token={body['token']}"),
        "form": client.get("/"),
        "login": client.get("/instructor/login"),
        "bearer list": client.get(f"{API}/problems/backprop/submissions", headers=auth),
        "404 page": client.get(f"/submissions/{body['id']}?token=wrong"),
    }
    login(client)
    responses["instructor"] = client.get("/instructor/problems/backprop")
    responses["gradebook"] = client.get("/instructor/problems/backprop/gradebook.csv")
    for name, response in responses.items():
        assert response.headers.get("Cache-Control") == "no-store", name
    # the static files may be cached
    assert client.get("/static/style.css").headers.get("Cache-Control") != "no-store"
    assert json.loads(created.get_data())["token"] == body["token"]
