"""The API over real HTTP: waitress on loopback, and `grader serve` killed mid-grading."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import sqlalchemy as sa
from web_support import SEED_ANSWERS, SLOW_G, TOKEN, database_for, sql

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_api_over_http(live, seed_text):
    status, _, problems = live.request("GET", "/api/v1/problems")
    assert status == 200 and "backprop" in [p["id"] for p in problems]

    status, headers, created = live.request(
        "POST", "/api/v1/problems/backprop/submissions",
        {"student": "Net", "document": seed_text})
    assert status == 201, created
    assert created["result"]["score"] == 8.0
    status, _, seen = live.request(
        "GET", f"/api/v1/submissions/{created['id']}?token={created['token']}")
    assert status == 200 and seen["status"] == "graded" and seen["result"]["score"] == 8.0

    status, _, body = live.request("POST", "/api/v1/preview",
                                   {"problem": "backprop", "part": "c", "latex": r"\delta_k b_j"})
    assert status == 200 and "<msub>" in body["mathml"]

    status, _, body = live.request("GET", "/api/v1/problems/backprop/review")
    assert status == 401
    status, headers, text = live.request("GET", "/api/v1/problems/backprop/gradebook.csv",
                                         headers=AUTH)
    assert status == 200 and headers.get_content_type() == "text/csv"
    assert text.splitlines()[1] == "Net,1,1.5,1,1,1.5,1,1,8"


def test_oversized_request_over_http_is_413_json(live):
    raw = json.dumps({"student": "big", "document": "x" * 1_200_000}).encode()
    status, _, body = live.request("POST", "/api/v1/problems/backprop/submissions", raw=raw,
                                   headers={"Content-Type": "application/json"})
    assert status == 413 and "too large" in body["error"]


def test_concurrent_submissions_over_http(live):
    results = []

    def one(n):
        results.append(live.request("POST", "/api/v1/problems/backprop/submissions",
                                    {"student": f"s{n}", "answers": SEED_ANSWERS}))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _, _ in results] == [201] * 6
    assert {body["result"]["score"] for _, _, body in results} == {8.0}
    assert len({body["id"] for _, _, body in results}) == 6


def _pending_ids(db) -> list[int]:
    url = database_for(db)
    if "://" not in url and not db.exists():
        return []
    try:
        return [r[0] for r in sql(url if "://" in url else f"sqlite:///{url}",
                                  "SELECT id FROM submissions WHERE status='pending'")]
    except sa.exc.OperationalError:
        return []


def test_server_killed_mid_grading_grades_the_submission_after_restart(tmp_path,
                                                                      serve_process):
    db = tmp_path / "state" / "grader.db"
    server = serve_process(db)
    status, = [urllib.request.urlopen(server.url + "/", timeout=10).status]
    assert status == 200                     # the form is served by `grader serve`

    body = json.dumps({"student": "Kill", "answers": {"f": SEED_ANSWERS["f"],
                                                      "g": SLOW_G}}).encode()

    def post():   # never answered: the server dies while SymPy expands part (g)
        request = urllib.request.Request(server.url + "/api/v1/problems/backprop/submissions",
                                         data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:
            pass

    client = threading.Thread(target=post, daemon=True)
    client.start()
    deadline = time.monotonic() + 20
    while not _pending_ids(db):
        assert time.monotonic() < deadline, "the submission was never stored"
        time.sleep(0.02)
    (submission_id,) = _pending_ids(db)
    server.kill_group()                      # kill -9: server, forkserver and workers
    client.join(timeout=10)
    assert _pending_ids(db) == [submission_id]   # stored, not graded, not lost

    restarted = serve_process(db)
    deadline = time.monotonic() + 40
    while True:
        request = urllib.request.Request(f"{restarted.url}/api/v1/submissions/{submission_id}",
                                         headers=AUTH)
        seen = json.loads(urllib.request.urlopen(request, timeout=10).read())
        if seen["status"] == "graded":
            break
        assert seen["status"] == "pending" and seen["result"] is None
        assert time.monotonic() < deadline, "the pending submission was not graded"
        time.sleep(0.25)
    parts = seen["result"]["parts"]
    assert seen["student"] == "Kill"
    assert parts["f"]["verdict"] == "correct"
    # past the per-part time limit the grader sends it to a TA: a graded, final state
    assert parts["g"]["verdict"] in {"review", "incorrect"}
    assert parts["a"]["verdict"] == "missing"
