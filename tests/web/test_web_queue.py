"""Grading in the background, over real HTTP (waitress on loopback, a real pool, a real SQLite
file): a slow answer never holds a page, a preview or another submission; the API answers 202
and the submission's URL when grading takes longer than its short wait; Regrade all runs in
the background with its progress on disk; unfinished work resumes after a restart."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest
from web_support import (
    SEED_ANSWERS,
    SLOW_G,
    TOKEN,
    LiveServer,
    make_app,
    problems_dir,
    wait_for,
)

from grader.pool import GradingPool
from grader.problem import PROBLEMS_ENV
from grader.web.queue import GradingQueue

API = "/api/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLOW_LIMIT = 4          # seconds: backprop's time limit in these tests (10 s when shipped)
SLOW = {"f": SEED_ANSWERS["f"], "g": SLOW_G}   # (g) runs into the limit; (f) is quick


@pytest.fixture
def slow_server(tmp_path, monkeypatch):
    """Start the app (with backprop under a short time limit) under waitress, on its own pool
    of two workers; everything is stopped at the end, the queue first."""
    folder = problems_dir(tmp_path / "problems", time_limit=SLOW_LIMIT)
    monkeypatch.setenv(PROBLEMS_ENV, str(folder))
    pool = GradingPool(workers=2)
    servers: list[LiveServer] = []

    def start(**config) -> LiveServer:
        server = LiveServer(make_app(tmp_path / "grader.db", pool, **config), threads=4)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.app.extensions["grader"].queue.close()
        server.close()
    for server in servers:
        server.app.extensions["grader"].wait_idle(3 * SLOW_LIMIT)
    pool.close()


def test_slow_answers_never_hold_pages_previews_or_other_submissions(slow_server):
    server = slow_server(GRADING_WAIT_SECONDS=2, GRADING_WAITERS=2)
    server.request("GET", "/")                      # warm: templates compiled, pool started
    slow_posts: list[tuple] = []

    def post_slow(n: int) -> None:
        slow_posts.append(server.timed("POST", f"{API}/problems/backprop/submissions",
                                       {"student": f"slow{n}", "answers": SLOW}))

    threads = [threading.Thread(target=post_slow, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)          # ten slow answers are stored and queued; two requests wait on them

    index = server.timed("GET", "/")
    preview = server.timed("POST", f"{API}/preview",
                           {"problem": "backprop", "part": "b", "latex": r"(c_k - t_k) g'(h_k)"})
    other = server.timed("POST", f"{API}/problems/backprop/submissions",
                         {"student": "quick", "answers": SEED_ANSWERS})
    for thread in threads:
        thread.join(timeout=30)
    stats = server.app.extensions["grader"].queue.stats()
    first = slow_posts[0][3]
    seen = server.timed("GET", f"{API}/submissions/{first['id']}?token={first['token']}")
    timings = {"GET /": index[0], "preview": preview[0], "another submission": other[0],
               "a slow one's status": seen[0],
               "slowest slow POST": max(t for t, *_ in slow_posts)}
    print("\ntimings while 10 slow answers are graded:",
          {k: f"{v:.3f} s" for k, v in timings.items()}, stats)

    assert index[1] == 200 and "Submit answers" in index[3]
    assert preview[1] == 200 and preview[3]["mathml"].startswith("<math")
    assert other[1] in (201, 202)
    assert other[2]["Location"] == other[3]["url"] == f"{API}/submissions/{other[3]['id']}"
    assert [status for _, status, _, _ in slow_posts] == [202] * 10
    for _, _, headers, body in slow_posts:
        assert body["status"] == "pending" and body["result"] is None
        assert headers["Location"] == body["url"]
    assert seen[1] == 200 and seen[3]["status"] == "pending"
    # the grader is still busy with them: every slow answer takes the whole time limit
    assert stats["running"] + stats["waiting"] >= 8
    assert index[0] < 1.0, timings
    assert preview[0] < 1.0, timings
    assert seen[0] < 1.0, timings
    assert other[0] < 2.0 + 1.0, timings           # at most the short wait
    assert timings["slowest slow POST"] < 2.0 + 1.5, timings


def test_api_answers_202_with_the_url_then_the_result_is_there(slow_server):
    server = slow_server(GRADING_WAIT_SECONDS=1.0)
    status, headers, created = server.request(
        "POST", f"{API}/problems/backprop/submissions", {"student": "Sam", "answers": SLOW})
    assert status == 202
    sid, token = created["id"], created["token"]
    assert headers["Location"] == created["url"] == f"{API}/submissions/{sid}"
    assert headers["Retry-After"] == "1"
    assert created["page"] == f"/submissions/{sid}?token={token}"
    assert (created["status"], created["result"]) == ("pending", None)

    # the result page says so, and has the status URL its script polls
    status, _, page = server.request("GET", created["page"])
    assert status == 200 and 'id="grading"' in page and "Grading" in page
    status_url = re.search(r'data-status-url="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert server.request("GET", status_url)[2] == {"status": "pending"}
    assert server.request("GET", f"/submissions/{sid}/status?token=wrong")[0] == 404

    def graded():
        _, _, seen = server.request("GET", f"{created['url']}?token={token}")
        return seen if seen["status"] == "graded" else None

    seen = wait_for(graded, timeout=SLOW_LIMIT + 20, pause=0.25, what="the result")
    assert seen["result"]["parts"]["f"]["verdict"] == "correct"
    assert seen["result"]["parts"]["g"]["verdict"] == "review"   # stopped at the time limit
    assert "timeout" in seen["result"]["parts"]["g"]["flags"]
    assert server.request("GET", status_url)[2] == {"status": "graded"}
    status, _, page = server.request("GET", created["page"])
    assert 'id="total-score"' in page and 'id="grading"' not in page

    # a quick one is done within the wait: 201 with its result, as before
    status, headers, quick = server.request(
        "POST", f"{API}/problems/backprop/submissions",
        {"student": "Quinn", "answers": {"c": SEED_ANSWERS["c"]}})
    assert status == 201 and quick["status"] == "graded"
    assert quick["result"]["parts"]["c"]["verdict"] == "correct"
    assert headers["Location"] == quick["url"]


def _instructor_opener(server: LiveServer):
    """A urllib opener with a cookie jar, logged in through the login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/instructor/login", timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": csrf, "token": TOKEN, "next": ""}).encode()
    page = opener.open(server.url + "/instructor/login", data=data, timeout=10).read().decode()
    # logging in starts a new session, with a CSRF token of its own
    return opener, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_regrade_all_runs_in_the_background_with_progress(slow_server):
    server = slow_server(GRADING_WAIT_SECONDS=0)
    svc = server.app.extensions["grader"]
    for n in range(4):
        server.request("POST", f"{API}/problems/backprop/submissions",
                       {"student": f"q{n}", "answers": SEED_ANSWERS})
    for n in range(2):
        server.request("POST", f"{API}/problems/backprop/submissions",
                       {"student": f"s{n}", "answers": SLOW})
    assert svc.wait_idle(4 * SLOW_LIMIT + 20)
    opener, csrf = _instructor_opener(server)

    started = time.perf_counter()
    response = opener.open(server.url + "/instructor/problems/backprop/regrade",
                           data=urllib.parse.urlencode({"csrf_token": csrf}).encode(),
                           timeout=30)
    page = response.read().decode()
    took = time.perf_counter() - started
    print(f"\nRegrade all answered in {took:.3f} s (6 submissions, 2 of them slow)")
    assert took < 1.0                                  # it does not wait for the regrade
    assert response.url.endswith("/instructor/problems/backprop")
    assert "Regrading 6 submissions in the background" in page
    assert re.search(r'<progress id="regrade-bar" max="6" value="[0-5]"', page)
    assert re.search(r"Regrading: [0-5] of 6 done", page)
    assert 'data-running="true"' in page and "instructor.js" in page

    progress_url = server.url + "/instructor/problems/backprop/regrade"
    first = json.loads(opener.open(progress_url, timeout=10).read())["regrade"]
    assert first["running"] and first["total"] == 6 and first["done"] < 6
    assert server.timed("GET", "/")[0] < 1.0          # pages stay fast meanwhile
    # a second click while it runs starts nothing new
    page = opener.open(server.url + "/instructor/problems/backprop/regrade",
                       data=urllib.parse.urlencode({"csrf_token": csrf}).encode(),
                       timeout=30).read().decode()
    assert "A regrade is already running" in page

    seen: list[int] = []

    def finished():
        regrade = json.loads(opener.open(progress_url, timeout=10).read())["regrade"]
        seen.append(regrade["done"])
        return regrade if not regrade["running"] else None

    done = wait_for(finished, timeout=3 * SLOW_LIMIT + 20, pause=0.2, what="the regrade")
    assert (done["total"], done["done"], done["failed"]) == (6, 6, 0)
    assert seen == sorted(seen)                        # progress only moves forward
    page = opener.open(server.url + "/instructor/problems/backprop", timeout=10).read().decode()
    assert re.search(r"Last regrade \([^)]*\): 6 of 6 done", page)
    assert 'data-running="false"' in page and "(regrading)" not in page

    # the API: 202 at once with the progress URL, which reports the same record
    status, headers, body = server.request("POST", f"{API}/problems/backprop/regrade",
                                           headers=AUTH)
    assert status == 202 and body["started"] is True
    assert headers["Location"] == body["progress"] == f"{API}/problems/backprop/regrade"
    assert body["regrade"]["total"] == 6 and body["regrade"]["running"] is True
    status, _, progress = server.request("GET", body["progress"], headers=AUTH)
    assert status == 200 and progress["regrade"]["id"] == body["regrade"]["id"]
    assert server.request("GET", body["progress"])[0] == 401


class ParkedQueue(GradingQueue):
    """A backend whose workers are not running (a broker with no worker yet): it takes ids
    and grades nothing, as a server killed right after storing would."""

    def __init__(self):
        self.ids: list[int] = []

    def enqueue(self, submission_id: int) -> None:
        self.ids.append(submission_id)

    def close(self) -> None:
        pass


def test_unfinished_grading_and_regrades_resume_at_start(tmp_path, pool):
    db = tmp_path / "grader.db"
    first = make_app(db, pool).test_client()
    graded = first.post(f"{API}/problems/backprop/submissions",
                        json={"student": "Ann", "answers": SEED_ANSWERS}).get_json()
    assert graded["status"] == "graded"

    parked = ParkedQueue()
    stalled = make_app(db, pool, GRADING_QUEUE=parked, GRADING_WAIT_SECONDS=0.2).test_client()
    response = stalled.post(f"{API}/problems/backprop/submissions",
                            json={"student": "Ben", "answers": SEED_ANSWERS})
    assert response.status_code == 202
    pending = response.get_json()
    body = stalled.post(f"{API}/problems/backprop/regrade", headers=AUTH).get_json()
    assert body["regrade"]["total"] == 2 and body["regrade"]["done"] == 0
    # queued: the new submission, then both for the regrade; none of it graded
    assert parked.ids == [pending["id"], graded["id"], pending["id"]]

    # the next start grades what is left: the pending submission and the whole regrade
    restarted = make_app(db, pool, GRADE_PENDING_ON_START=True)
    assert restarted.extensions["grader"].wait_idle(60)
    client = restarted.test_client()
    seen = client.get(f"{API}/submissions/{pending['id']}?token={pending['token']}").get_json()
    assert seen["status"] == "graded" and seen["result"]["score"] == 8.0
    regrade = client.get(f"{API}/problems/backprop/regrade", headers=AUTH).get_json()["regrade"]
    assert (regrade["done"], regrade["total"], regrade["running"]) == (2, 2, False)


def test_the_form_waits_briefly_then_shows_the_result(client):
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf, "problem": "backprop", "mode": "answers", "student": "Fay",
            **{f"answer-{p}": v for p, v in SEED_ANSWERS.items()}}
    response = client.post("/submit", data=form)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="total-score">8</span>' in page     # graded within the wait: no "Grading..."
