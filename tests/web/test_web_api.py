"""The JSON API through Flask's test client, on a real SQLite file and a real grading pool."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import sqlalchemy as sa
from web_support import SEED_ANSWERS, TOKEN, dump, make_app, problems_dir, sql, wait_for

from grader.expr import to_latex
from grader.pool import GradingPool
from grader.problem import PROBLEMS_ENV, load_problem
from grader.syntax import MAX_ANSWER_CHARS

HEAD = "0003"   # the newest migration (grader/web/migrations/versions)

API = "/api/v1"
TOO_LONG = "x" * (MAX_ANSWER_CHARS + 1)


def submit(client, body, problem="backprop"):
    return client.post(f"{API}/problems/{problem}/submissions", json=body)


# --------------------------------------------------------------------------- problems
def test_problems_lists_public_fields_only(client):
    response = client.get(f"{API}/problems")
    assert response.status_code == 200
    problems = response.get_json()
    backprop = next(p for p in problems if p["id"] == "backprop")
    assert set(backprop) == {"id", "title", "points", "parts"}
    assert backprop["points"] == 8
    assert [p["id"] for p in backprop["parts"]] == list("abcdefg")
    for part in backprop["parts"]:
        assert set(part) == {"id", "prompt", "points"}
    assert sum(p["points"] for p in backprop["parts"]) == 8
    text = response.get_data(as_text=True)
    assert "reference" not in text and "mistake" not in text
    spec = load_problem("backprop")
    for part in spec.parts.values():
        for mistake in part.mistakes:
            assert mistake.feedback not in text


# ------------------------------------------------------------------------- submitting
def test_submit_answers_grades_and_returns_contract(client):
    response = submit(client, {"student": "Ada", "answers": SEED_ANSWERS})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"id", "token", "result"}
    assert body["status"] == "graded"
    assert response.headers["Location"] == f"{API}/submissions/{body['id']}"
    assert body["url"] == response.headers["Location"]
    assert body["page"] == f"/submissions/{body['id']}?token={body['token']}"
    result = body["result"]
    assert result["problem"] == "backprop" and result["submission"] == "Ada"
    assert result["score"] == 8.0 and result["max_score"] == 8.0
    for pid, part in result["parts"].items():
        assert part["verdict"] == "correct", (pid, part)
        assert {"score", "max_score", "verdict", "feedback", "answer", "interpreted",
                "steps"} <= set(part)
    assert result["parts"]["b"]["answer"] == SEED_ANSWERS["b"]


def test_seed_document_scores_8_of_8(client, seed_text):
    response = submit(client, {"student": "seed", "document": seed_text})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["result"]["score"] == 8.0


def test_upload_markdown_and_json_files(client, seed_text):
    response = client.post(f"{API}/problems/backprop/submissions", data={
        "student": "Bo", "file": (io.BytesIO(seed_text.encode()), "seed.md")},
        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["result"]["score"] == 8.0
    assert response.get_json()["result"]["submission"] == "Bo"

    payload = json.dumps({"answers": {"c": r"\delta_k b_j", "d": "-\\delta_k"}}).encode()
    response = client.post(f"{API}/problems/backprop/submissions", data={
        "file": (io.BytesIO(payload), "carl.json")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    result = response.get_json()["result"]
    assert result["submission"] == "carl"          # the file name when no student is given
    assert result["parts"]["c"]["verdict"] == "correct"
    assert result["parts"]["d"]["verdict"] != "correct"
    assert result["parts"]["a"]["verdict"] == "missing"
    assert result["score"] == 1.0


def test_partial_submission_marks_other_parts_missing(client):
    body = submit(client, {"student": "Dee", "answers": {"f": r"\psi_j a_i", "a": "   "}})
    result = body.get_json()["result"]
    assert result["parts"]["f"]["verdict"] == "correct"
    assert result["parts"]["a"]["verdict"] == "missing"   # blank counts as no answer


# ---------------------------------------------------------------------- reading results
def test_student_reads_own_result_with_token_only(client, auth):
    created = submit(client, {"student": "Eve", "answers": {"d": r"\delta_k"}}).get_json()
    sid, token = created["id"], created["token"]
    ok = client.get(f"{API}/submissions/{sid}?token={token}")
    assert ok.status_code == 200
    assert ok.get_json() == {"id": sid, "student": "Eve", "status": "graded",
                             "result": created["result"]}
    for bad in ("", "?token=", f"?token={token[:-1]}x", "?token=" + "a" * 5000):
        response = client.get(f"{API}/submissions/{sid}{bad}")
        assert response.status_code == 404
        assert "error" in response.get_json()
    other = submit(client, {"student": "Mal", "answers": {"d": "x"}}).get_json()
    assert client.get(f"{API}/submissions/{sid}?token={other['token']}").status_code == 404
    assert client.get(f"{API}/submissions/999999?token={token}").status_code == 404
    # the instructor reads any submission with the bearer token
    assert client.get(f"{API}/submissions/{sid}", headers=auth).get_json()["student"] == "Eve"
    assert client.get(f"{API}/submissions/{sid}",
                      headers={"Authorization": "Bearer wrong"}).status_code == 404


# ---------------------------------------------------------------------------- preview
def test_preview_reads_and_renders_mathml(client):
    response = client.post(f"{API}/preview", json={"problem": "backprop", "part": "b",
                                                   "latex": r"(c_k - t_k) g'(h_k)"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"interpreted", "mathml"}
    assert body["interpreted"] == r"\left(c_{k} - t_{k}\right) \cdot g'\left(h_{k}\right)"
    assert body["mathml"].startswith("<math") and "<mi>g</mi>" in body["mathml"]


@pytest.mark.parametrize("latex, position", [
    (r"(c_k - t_k g'(h_k)", 18),     # the end: the ( never closes
    (r"\delta_k <script>", 9),
    (r"\input{/etc/passwd}", 0),
])
def test_preview_error_has_message_and_position(client, latex, position):
    response = client.post(f"{API}/preview",
                           json={"problem": "backprop", "part": "b", "latex": latex})
    assert response.status_code == 422
    body = response.get_json()
    assert body["position"] == position
    assert body["error"]
    assert "Traceback" not in body["error"]


def test_preview_bad_requests(client):
    cases = [
        ({"problem": "nope", "part": "a", "latex": "x"}, 404),
        ({"problem": "backprop", "part": "z", "latex": "x"}, 404),
        ({"problem": "backprop", "part": "a"}, 400),
        ({"problem": "backprop", "part": "a", "latex": 5}, 400),
        ({"problem": "backprop", "part": "a", "latex": ""}, 422),
        ({"problem": "backprop", "part": "a", "latex": TOO_LONG}, 422),
        ({"problem": ["backprop"], "part": "a", "latex": "x"}, 404),
    ]
    for body, status in cases:
        response = client.post(f"{API}/preview", json=body)
        assert response.status_code == status, (body, response.get_json())
        assert response.get_json()["error"]


# ------------------------------------------------------------------------- bad input
BAD_SUBMISSIONS = [
    ("not json at all", "text/plain", 400),
    ("{broken", "application/json", 400),
    ("[]", "application/json", 400),
    ('"just a string"', "application/json", 400),
    (json.dumps({"answers": {"a": "x"}}), "application/json", 400),            # no student
    (json.dumps({"student": "", "answers": {"a": "x"}}), "application/json", 400),
    (json.dumps({"student": 7, "answers": {"a": "x"}}), "application/json", 400),
    (json.dumps({"student": "s" * 500, "answers": {"a": "x"}}), "application/json", 400),
    (json.dumps({"student": "s"}), "application/json", 400),                    # nothing
    (json.dumps({"student": "s", "answers": {}}), "application/json", 400),
    (json.dumps({"student": "s", "answers": {"a": "x"}, "document": "(a) x"}),
     "application/json", 400),
    (json.dumps({"student": "s", "answers": ["x"]}), "application/json", 400),
    (json.dumps({"student": "s", "answers": {"zz": "x"}}), "application/json", 400),
    (json.dumps({"student": "s", "answers": {"a": 1}}), "application/json", 400),
    (json.dumps({"student": "s", "answers": {"a": None}}), "application/json", 400),
    (json.dumps({"student": "s", "answers": {"a": TOO_LONG}}), "application/json", 413),
    (json.dumps({"student": "s", "document": 5}), "application/json", 400),
    (json.dumps({"student": "s", "document": ""}), "application/json", 400),
    (json.dumps({"student": "s", "document": "(a) \x00"}), "application/json", 400),
    (json.dumps({"student": "s", "document": "(a) x", "format": "pdf"}),
     "application/json", 400),
    (json.dumps({"student": "s", "document": "(a) x", "format": 3}), "application/json", 400),
    ("[" * 100_000 + "]" * 100_000, "application/json", 400),                 # deep nesting
]


@pytest.mark.parametrize("raw, content_type, status", BAD_SUBMISSIONS)
def test_bad_submissions_get_4xx_json(client, raw, content_type, status):
    response = client.post(f"{API}/problems/backprop/submissions", data=raw,
                           content_type=content_type)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]


@pytest.mark.parametrize("name, data, status", [
    ("junk.md", bytes(range(256)) * 10, 400),
    ("bad.json", b'{"answers": ', 400),
    ("bad.json", b'{"answers": {"a": 3}}', 400),
    ("list.json", b'[1, 2]', 400),
    ("essay.pdf", b"%PDF-1.4", 400),
    ("noext", b"(a) x", 400),
])
def test_bad_uploads_get_4xx_json(client, name, data, status):
    response = client.post(f"{API}/problems/backprop/submissions",
                           data={"student": "s", "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    assert response.status_code == status
    assert response.get_json()["error"]


def test_multipart_without_file_is_400(client):
    response = client.post(f"{API}/problems/backprop/submissions", data={"student": "s"},
                           content_type="multipart/form-data")
    assert response.status_code == 400


def test_request_size_limit_is_413_json(client, app):
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = client.post(f"{API}/problems/backprop/submissions",
                           json={"student": "s", "document": huge})
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"]


def test_unknown_problem_and_path_ids_are_404(client):
    for pid in ("nope", "..%2F..%2Fetc%2Fpasswd", "backprop.toml", "%2Fwork%2Fproblems"):
        response = client.post(f"{API}/problems/{pid}/submissions",
                               json={"student": "s", "answers": {"a": "x"}})
        assert response.status_code == 404, pid
        assert response.get_json()["error"]


def test_unknown_routes_and_methods_are_json(client):
    assert client.get(f"{API}/nothing").get_json()["error"]
    response = client.delete(f"{API}/problems")
    assert response.status_code == 405 and response.get_json()["error"]


def test_hostile_answers_are_graded_not_crashed(client):
    answers = {"a": r"10^{10^{10}}", "b": r"(10^{10})!", "c": r"\input{/etc/passwd}",
               "d": "{" * 1500 + "}" * 400, "e": "\u202e\ufeff\U0001f600", "f": "$$",
               "g": r"__import__('os').system('true')"}
    response = submit(client, {"student": "<b>x</b>", "answers": answers})
    assert response.status_code == 201
    result = response.get_json()["result"]
    assert result["score"] == 0
    for part in result["parts"].values():
        assert part["verdict"] in {"invalid", "incorrect", "review"}
        assert part["feedback"]


# -------------------------------------------------------------- no reference answers leak
def _reference_strings():
    problem = load_problem("backprop")
    out = set()
    for part in problem.parts.values():
        for text in (part.reference, to_latex(part.reference_expr)):
            # a reference that the prompt itself shows (e.g. "Use \delta_k") is no secret
            # (d) and (g) are single symbols the prompt itself shows ("Use \delta_k"), and
            # (c) and (f) are products of two given symbols: the nontrivial ones are secret
            if len(text) >= 20:
                out.add(text)
    return out


def test_no_reference_answer_in_any_response(client, auth):
    secrets = _reference_strings()
    assert len(secrets) >= 5
    wrong = {"a": r"\sigma(x)", "b": r"(c_k - t_k)", "c": r"\delta_k", "d": r"b_j",
             "e": r"\sum_k \delta_k w_{jk}", "f": r"a_i", "g": r"2 \psi_j"}
    texts = [client.get(f"{API}/problems").get_data(as_text=True)]
    created = submit(client, {"student": "x", "answers": wrong})
    texts.append(created.get_data(as_text=True))
    body = created.get_json()
    texts.append(client.get(f"{API}/submissions/{body['id']}?token={body['token']}")
                 .get_data(as_text=True))
    texts.append(client.get(f"/submissions/{body['id']}?token={body['token']}")
                 .get_data(as_text=True))
    texts.append(client.get("/").get_data(as_text=True))
    for pid, latex in wrong.items():
        texts.append(client.post(f"{API}/preview", json={"problem": "backprop", "part": pid,
                                                         "latex": latex + "+"}
                                 ).get_data(as_text=True))
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined
        assert json.dumps(secret)[1:-1] not in joined


# ------------------------------------------------------------------------ instructors
INSTRUCTOR_ROUTES = [
    ("GET", f"{API}/problems/backprop/submissions"),
    ("GET", f"{API}/problems/backprop/gradebook.csv"),
    ("POST", f"{API}/problems/backprop/regrade"),
    ("GET", f"{API}/problems/backprop/review"),
    ("PUT", f"{API}/submissions/1/parts/a/override"),
    ("DELETE", f"{API}/submissions/1/parts/a/override"),
]


@pytest.mark.parametrize("method, path", INSTRUCTOR_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic " + TOKEN, TOKEN,
                                    "Bearer " + TOKEN[:-1]])
def test_instructor_endpoints_need_the_token(client, method, path, header):
    submit(client, {"student": "s", "answers": {"a": "x"}})
    headers = {"Authorization": header} if header else {}
    response = client.open(path, method=method, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "instructor token" in response.get_json()["error"]


def test_instructor_lists_submissions_and_gradebook(client, auth):
    submit(client, {"student": "Zed", "answers": SEED_ANSWERS})
    submit(client, {"student": "=HYPERLINK(\"x\")", "answers": {"a": SEED_ANSWERS["a"]}})
    submit(client, {"student": "Zed", "answers": {"c": SEED_ANSWERS["c"]}})   # later, lower
    listed = client.get(f"{API}/problems/backprop/submissions", headers=auth).get_json()
    assert [s["student"] for s in listed] == ["Zed", '=HYPERLINK("x")', "Zed"]
    assert listed[0]["status"] == "graded" and listed[0]["score"] == 8.0
    response = client.get(f"{API}/problems/backprop/gradebook.csv", headers=auth)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["student", *"abcdefg", "total"]
    by_student = {r[0]: r for r in rows[1:]}
    assert by_student["Zed"][-1] == "1"                    # the latest submission counts
    assert "'=HYPERLINK(\"x\")" in by_student              # no formula injection
    assert by_student["'=HYPERLINK(\"x\")"][1:] == ["1", "0", "0", "0", "0", "0", "0", "1"]


def _regrade_and_wait(client, auth, problem="backprop", timeout=60):
    response = client.post(f"{API}/problems/{problem}/regrade", headers=auth)
    assert response.status_code == 202
    started = response.get_json()
    assert response.headers["Location"] == started["progress"]

    def finished():
        seen = client.get(started["progress"], headers=auth).get_json()["regrade"]
        return seen if not seen["running"] else None

    return started, wait_for(finished, timeout, what="the regrade")


def test_review_override_survives_regrade(client, auth, app, pool, tmp_path, monkeypatch):
    # Grade once under a spec whose time limit is a millisecond, so the grader sends the part
    # to review; then regrade under the real spec.
    # Right only for the sigmoid: proving that takes SymPy a tenth of a second or more (the
    # workers cache answers they finished, so no other test grades it)
    answer = r"\sigma(z_j)\left(1-\sigma(z_j)\right)\sum_k w_{jk}\delta_k\,\frac{e_j}{e_j}"
    quick = problems_dir(tmp_path / "quick", time_limit=0.001)
    monkeypatch.setenv(PROBLEMS_ENV, str(quick))
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "Rex", "answers": {"g": answer}}).get_json()
    assert created["result"]["parts"]["g"]["verdict"] == "review"
    assert "timeout" in created["result"]["parts"]["g"]["flags"]
    monkeypatch.delenv(PROBLEMS_ENV)

    queue = client.get(f"{API}/problems/backprop/review", headers=auth).get_json()
    assert [(q["submission"], q["part"]) for q in queue] == [(created["id"], "g")]
    assert queue[0]["override"] is None and queue[0]["answer"] == answer

    url = f"{API}/submissions/{created['id']}/parts/g/override"
    for bad in ({"score": 1.5, "verdict": "correct"}, {"score": -1, "verdict": "correct"},
                {"score": "x", "verdict": "correct"}, {"score": 1, "verdict": "great"},
                {"score": 1, "verdict": "correct", "comment": 5}, {"verdict": "correct"}):
        response = client.put(url, json=bad, headers=auth)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]
    assert client.put(f"{API}/submissions/{created['id']}/parts/zz/override", headers=auth,
                      json={"score": 1, "verdict": "correct"}).status_code == 404
    response = client.put(url, headers=auth, json={"score": 0.25, "verdict": "partial",
                                                   "comment": "Right, but say why."})
    assert response.status_code == 200
    part = response.get_json()["result"]["parts"]["g"]
    assert (part["score"], part["verdict"], part["feedback"]) == (0.25, "partial",
                                                                  "Right, but say why.")
    assert "override" in part["flags"]
    assert response.get_json()["result"]["score"] == 0.25
    assert client.get(f"{API}/problems/backprop/review", headers=auth).get_json() == []
    resolved = client.get(f"{API}/problems/backprop/review?all=1", headers=auth).get_json()
    assert resolved[0]["override"]["verdict"] == "partial"

    # regrade everything with the real limit (in the background): the grader's own result
    # changes ...
    started, finished = _regrade_and_wait(client, auth)
    assert started["submissions"] == [created["id"]] and started["started"] is True
    assert (finished["total"], finished["done"], finished["failed"]) == (1, 1, 0)
    ((raw,),) = sql(app, "SELECT result FROM submissions WHERE id = :id", id=created["id"])
    assert json.loads(raw)["parts"]["g"]["verdict"] == "partial"  # right only for the sigmoid
    # ... and the instructor's decision still stands on top of it
    seen = client.get(f"{API}/submissions/{created['id']}?token={created['token']}").get_json()
    assert seen["result"]["parts"]["g"]["score"] == 0.25
    assert seen["result"]["parts"]["g"]["verdict"] == "partial"
    assert seen["result"]["parts"]["f"]["verdict"] == "missing"
    # removing the override restores the grader's result
    response = client.delete(url, headers=auth)
    assert response.get_json()["result"]["parts"]["g"]["verdict"] == "partial"
    assert client.delete(url, headers=auth).status_code == 404


# --------------------------------------------------------------------------- storage
def test_database_is_made_and_migrated_on_first_start(tmp_path, pool, backend):
    db = tmp_path / "sub" / "dir" / "grader.db"
    app = make_app(db, pool)
    store = app.extensions["grader_store"]
    if backend == "sqlite":
        assert db.exists()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"submissions", "overrides", "settings", "regrades", "sessions",
            "alembic_version"} <= tables
    assert sql(app, "SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_tokens_are_stored_as_digests(client, app):
    created = submit(client, {"student": "s", "answers": {"a": "x"}}).get_json()
    everything = dump(app)
    assert created["id"] and "Bearer" not in everything
    assert created["token"] not in everything
    assert TOKEN not in everything


def test_generated_instructor_token_printed_once(tmp_path, pool, capfd, monkeypatch):
    monkeypatch.delenv("GRADER_INSTRUCTOR_TOKEN", raising=False)
    db = tmp_path / "grader.db"
    first = make_app(db, pool, INSTRUCTOR_TOKEN=None)
    out = capfd.readouterr().err
    assert "Instructor token" in out
    token = out.strip().rsplit(" ", 1)[-1]
    make_app(db, pool, INSTRUCTOR_TOKEN=None)
    assert "Instructor token" not in capfd.readouterr().err
    client = first.test_client()
    assert client.get(f"{API}/problems/backprop/submissions",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(f"{API}/problems/backprop/submissions",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401


def test_submission_stays_pending_when_grading_dies_and_is_graded_later(tmp_path, pool, auth):
    db = tmp_path / "grader.db"
    dead = GradingPool(workers=1)
    dead.close()                      # every grading attempt now fails
    broken = make_app(db, dead)
    response = broken.test_client().post(f"{API}/problems/backprop/submissions",
                                         json={"student": "Pat", "answers": SEED_ANSWERS})
    assert response.status_code == 202          # not graded (the grader is down), but kept
    body = response.get_json()
    assert body["status"] == "pending" and body["result"] is None
    assert response.headers["Location"] == body["url"] == f"{API}/submissions/{body['id']}"
    seen = broken.test_client().get(f"{API}/submissions/{body['id']}?token={body['token']}")
    assert seen.get_json() == {"id": body["id"], "student": "Pat", "status": "pending",
                               "result": None}

    restarted = make_app(db, pool, GRADE_PENDING_ON_START=False)
    assert restarted.extensions["grader"].grade_pending() == 1
    assert restarted.extensions["grader"].wait_idle(60)
    seen = restarted.test_client().get(f"{API}/submissions/{body['id']}?token={body['token']}")
    assert seen.get_json()["status"] == "graded"
    assert seen.get_json()["result"]["score"] == 8.0
