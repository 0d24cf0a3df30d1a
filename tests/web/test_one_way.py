"""One way to do each thing, whichever surface asks: ``grader grade``, ``grader batch``, the web
form and the JSON API share one submission path (``grader.documents.parse_submission``), one
gradebook writer (``grader.gradebook``), one "missing part" result, one review queue and one
override type (``grader.results``), and one display of control characters (``grader.text``).

Everything runs for real: the installed ``grader`` command in a subprocess, ``run_batch`` with
worker processes, the Flask app on a real SQLite file with a real grading pool.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from web_support import TOKEN, make_app

import grader
from grader import api
from grader.batch import run_batch
from grader.documents import MAX_DOCUMENT_BYTES
from grader.errors import OverrideError
from grader.gradebook import canvas_csv, grades_csv
from grader.problem import load_problem
from grader.report import _environment
from grader.report import review_queue as report_review_queue
from grader.results import (
    MISSING_FEEDBACK,
    Override,
    PartResult,
    SubmissionResult,
    Verdict,
    apply_overrides,
)
from grader.results import review_queue as core_review_queue
from grader.syntax import MAX_ANSWER_CHARS
from grader.text import visible
from grader.web.storage import Store

API = "/api/v1"
GRADER = Path(sys.executable).with_name("grader")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def problem():
    return load_problem("backprop")


# ------------------------------------------------------------------ one submission path
#
# Each bad input is sent through every surface that can carry it; every one refuses it, and
# with the same message: "<where>: <what>", where names the input as that surface knows it
# (a path, an upload's file name, "the document", "the answers", "the request").

def _json_file(answers: dict) -> bytes:
    return json.dumps({"answers": answers}).encode()


LONG = "x" * (MAX_ANSWER_CHARS + 1)
BIG = b"(a) $x$\n" + b" " * (MAX_DOCUMENT_BYTES - 7)        # 1,000,001 bytes

# name, file name, the file's bytes, what is wrong, the HTTP status
BAD_FILES = [
    ("nul-document", "nul.md", b"(a) Your answer: $x$\x00\n",
     "is not a text file (it contains NUL characters)", 400),
    ("not-utf8", "latin.md", b"(a) Your answer: $x$ \xe9t\xe9\n",
     "is not UTF-8 text (undecodable byte at offset 21)", 400),
    ("too-large", "big.md", BIG, "is too large (1,000,001 bytes; the limit is 1,000,000)", 413),
    ("duplicate-key", "dup.json", b'{"answers": {"a": "x", "a": "y"}}',
     'key "a" appears twice', 400),
    ("lone-surrogate", "sur.json", b'{"answers": {"b": "\\ud800"}}',
     '"answers.b" is not valid Unicode text: it holds a lone surrogate (U+D800) at character 1;'
     " send UTF-8 text", 400),
    ("nul-answer", "nul.json", _json_file({"b": "x\x00"}), "part b holds a NUL character", 400),
    ("long-answer", "long.json", _json_file({"b": LONG}),
     f"part b is too long ({MAX_ANSWER_CHARS + 1:,} characters; "
     f"the limit is {MAX_ANSWER_CHARS:,})", 413),
    ("unknown-part", "zz.json", _json_file({"zz": "x"}),
     'unknown part "zz" in "answers"; valid parts are a, b, c, d, e, f, g', 400),
]
FILE_IDS = [case[0] for case in BAD_FILES]


def _csrf(client, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _form_error(response) -> str:
    match = re.search(r'id="form-error">([^<]*)</p>', response.get_data(as_text=True))
    assert match, "the form shows no error"
    return unescape(match.group(1))


def _stored(app) -> int:
    return len(Store(app.config["DATABASE"]).ids())


@pytest.mark.parametrize("name, filename, data, what, status", BAD_FILES, ids=FILE_IDS)
def test_every_surface_refuses_a_bad_file_with_the_same_message(
        tmp_path, pool, problem, name, filename, data, what, status):
    folder = tmp_path / "class"
    folder.mkdir()
    path = folder / filename
    path.write_bytes(data)

    # grader grade, the installed command
    done = subprocess.run([str(GRADER), "grade", str(path), "--problem", "backprop"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.strip() == f"Error: {path}: {what}"

    # grader batch: the file is unreadable, with the same reason on every part
    summary = run_batch(problem, folder, tmp_path / "out", pool=pool, report=False)
    assert summary.unreadable == {filename: f"{path}: {what}"}
    assert {p.feedback for p in summary.results[0].parts.values()} == {f"{path}: {what}"}

    # the web: the form's upload and the API's upload
    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    response = client.post("/submit", data={
        "csrf_token": _csrf(client), "problem": "backprop", "mode": "document", "student": "s",
        "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")
    assert (response.status_code, _form_error(response)) == (status, f"{filename}: {what}")
    response = client.post(f"{API}/problems/backprop/submissions",
                           data={"student": "s", "file": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")
    assert (response.status_code, response.get_json()["error"]) == (status, f"{filename}: {what}")
    assert _stored(app) == 0


DOCUMENTS = [
    ("nul", "(a) Your answer: $x$\x00", "is not a text file (it contains NUL characters)", 400),
    ("too-large", BIG.decode(), "is too large (1,000,001 bytes; the limit is 1,000,000)", 413),
]


@pytest.mark.parametrize("name, text, what, status", DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_a_pasted_document_is_refused_as_the_same_file_is(tmp_path, pool, name, text, what,
                                                          status):
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([str(GRADER), "grade", str(path), "--problem", "backprop"],
                          capture_output=True, text=True, timeout=120)
    assert done.stderr.strip() == f"Error: {path}: {what}"

    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    response = client.post("/submit", data={
        "csrf_token": _csrf(client), "problem": "backprop", "mode": "document", "student": "s",
        "document": text})
    assert (response.status_code, _form_error(response)) == (status, f"the document: {what}")
    response = client.post(f"{API}/problems/backprop/submissions",
                           json={"student": "s", "document": text})
    assert (response.status_code, response.get_json()["error"]) == (status,
                                                                    f"the document: {what}")
    assert _stored(app) == 0


ANSWERS = [
    ("nul", {"b": "x\x00"}, "part b holds a NUL character", 400),
    ("long", {"b": LONG}, f"part b is too long ({MAX_ANSWER_CHARS + 1:,} characters; "
                          f"the limit is {MAX_ANSWER_CHARS:,})", 413),
]


@pytest.mark.parametrize("name, answers, what, status", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_typed_answers_are_refused_as_the_same_json_file_is(tmp_path, pool, name, answers,
                                                            what, status):
    path = tmp_path / "typed.json"
    path.write_bytes(_json_file(answers))
    done = subprocess.run([str(GRADER), "grade", str(path), "--problem", "backprop"],
                          capture_output=True, text=True, timeout=120)
    assert done.stderr.strip() == f"Error: {path}: {what}"

    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    form = {"csrf_token": _csrf(client), "problem": "backprop", "mode": "answers",
            "student": "s", **{f"answer-{pid}": latex for pid, latex in answers.items()}}
    response = client.post("/submit", data=form)
    assert (response.status_code, _form_error(response)) == (status, f"the answers: {what}")
    response = client.post(f"{API}/problems/backprop/submissions",
                           json={"student": "s", "answers": answers})
    assert (response.status_code, response.get_json()["error"]) == (status,
                                                                    f"the answers: {what}")
    assert _stored(app) == 0


@pytest.mark.parametrize("raw, what", [
    (b'{"student": "s", "student": "t", "answers": {"a": "x"}}', 'key "student" appears twice'),
    (b'{"student": "s", "answers": {"b": "\\ud800"}}',
     '"answers.b" is not valid Unicode text: it holds a lone surrogate (U+D800) at character 1;'
     " send UTF-8 text"),
    (b'{"student": "s", "answers": {"a": "x"}', "is not valid JSON (Expecting ',' delimiter at "
                                                "line 1, column 39)"),
], ids=["duplicate-key", "lone-surrogate", "invalid"])
def test_the_api_body_is_read_as_a_json_file_is(tmp_path, pool, raw, what):
    """A JSON body gets the checks of a JSON file: no key twice, valid Unicode, valid JSON."""
    app = make_app(tmp_path / "grader.db", pool)
    response = app.test_client().post(f"{API}/problems/backprop/submissions", data=raw,
                                      content_type="application/json")
    assert (response.status_code, response.get_json()["error"]) == (400,
                                                                    f"the request: {what}")
    assert _stored(app) == 0


def test_blank_answers_are_missing_everywhere(tmp_path, pool, problem):
    """An answer of only whitespace is no answer: the part is missing, with the one result."""
    answers = {"a": "  ", "c": r"\delta_k b_j"}
    path = tmp_path / "class" / "ann.json"
    path.parent.mkdir()
    path.write_bytes(_json_file(answers))
    by_file = api.grade_file(problem, path, pool=pool)
    by_batch = run_batch(problem, path.parent, tmp_path / "out", pool=pool,
                         report=False).results[0]
    app = make_app(tmp_path / "grader.db", pool)
    by_web = app.test_client().post(f"{API}/problems/backprop/submissions",
                                    json={"student": "ann", "answers": answers}).get_json()
    missing = PartResult.missing("a", 1.0).to_json()
    assert by_file.parts["a"].to_json() == by_batch.parts["a"].to_json() == missing
    assert by_web["result"]["parts"]["a"] == missing
    assert missing["verdict"] == "missing" and missing["feedback"] == MISSING_FEEDBACK


# ------------------------------------------------------------------ one missing part

def test_every_missing_part_is_the_one_constructor(problem, pool):
    """A part with no answer, graded one by one, as part of a submission or in a batch."""
    blank = api.grade_answer(problem, "b", " ", pool=pool)
    assert (blank.verdict, blank.score, blank.feedback) == (Verdict.MISSING, 0.0,
                                                             MISSING_FEEDBACK)
    result = api.grade_submission(problem, {"a": r"\sigma(x)(1-\sigma(x))"}, pool=pool)
    for pid, part in problem.parts.items():
        if pid != "a":
            assert result.parts[pid] == PartResult.missing(pid, part.points)


def test_no_module_builds_a_missing_part_but_results():
    """Only ``PartResult.missing`` puts ``Verdict.MISSING`` into a result."""
    found = []
    for path in Path(grader.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                    "PartResult", "_result") and "Verdict.MISSING" in ast.unparse(node):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


# ------------------------------------------------------------------ one gradebook

SUBMISSIONS = {
    "ann": {"a": r"\sigma(x)(1-\sigma(x))", "b": r"(c_k - t_k) g'(h_k)", "c": r"\delta_k b_j"},
    "Bob": {"a": r"-\sigma(x)(1-\sigma(x))", "c": r"\delta_k b_k"},
    "=HYPERLINK(x)": {"d": r"\delta_k"},
    "-1+2": {"b": r"(t_k - c_k) g'(h_k)"},
    "@sum": {"g": r"\psi_j"},
    "cy, \"the\" 2nd": {"e": r"g'(z_j) \sum_k \delta_k w_{jk}"},
}


def test_batch_and_web_write_the_same_gradebook(tmp_path, pool, problem):
    """The same answers graded by ``grader batch`` and submitted to the web give the same CSV,
    byte for byte: columns, order, numbers, quoting, and no cell a spreadsheet would run."""
    folder = tmp_path / "class"
    folder.mkdir()
    for student, answers in SUBMISSIONS.items():
        (folder / f"{student}.json").write_bytes(_json_file(answers))
    run_batch(problem, folder, tmp_path / "out", pool=pool, report=False)
    batch_csv = (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8")

    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    for student, answers in SUBMISSIONS.items():
        created = client.post(f"{API}/problems/backprop/submissions",
                              json={"student": student, "answers": answers})
        assert created.status_code == 201, created.get_json()
    web_csv = client.get(f"{API}/problems/backprop/gradebook.csv", headers=AUTH)
    assert web_csv.get_data(as_text=True) == batch_csv

    rows = list(csv.reader(io.StringIO(batch_csv)))
    assert rows[0] == ["student", *"abcdefg", "total"]
    assert [r[0] for r in rows[1:]] == ["'-1+2", "'=HYPERLINK(x)", "'@sum", "ann", "Bob",
                                        'cy, "the" 2nd']
    assert rows[4] == ["ann", "1", "1.5", "1", "0", "0", "0", "0", "3.5"]
    assert '"cy, ""the"" 2nd"' in batch_csv     # quoted as CSV quotes


def test_the_web_gradebook_has_the_overrides_the_core_applies(tmp_path, pool, problem):
    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "ann", "answers": SUBMISSIONS["ann"]}).get_json()
    response = client.put(f"{API}/submissions/{created['id']}/parts/d/override", headers=AUTH,
                          json={"score": 0.5, "verdict": "partial", "comment": "Half."})
    assert response.status_code == 200
    graded = SubmissionResult.from_json(created["result"])
    expected = grades_csv(problem, [apply_overrides(
        graded, {"d": Override("d", 0.5, Verdict.PARTIAL, "Half.")})])
    web_csv = client.get(f"{API}/problems/backprop/gradebook.csv", headers=AUTH)
    assert web_csv.get_data(as_text=True) == expected
    assert expected.splitlines()[1] == "ann,1,1.5,1,0.5,0,0,0,4"


def test_a_part_the_result_does_not_have_is_blank_not_zero(problem):
    """A result graded under an older spec without part g: its g cell is empty."""
    old = SubmissionResult("backprop", "ann", {
        pid: PartResult.missing(pid, part.points) for pid, part in problem.parts.items()
        if pid != "g"})
    assert grades_csv(problem, [old]).splitlines()[1] == "ann,0,0,0,0,0,0,,0"
    lines = canvas_csv(problem, [SubmissionResult("backprop", "=cmd", {})]).splitlines()
    assert lines[2] == "'=cmd,,'=cmd,,0"


# ------------------------------------------------------------------ one review queue

def _review_result(student: str, score: float = 0.0) -> SubmissionResult:
    parts = {"a": PartResult("a", 1.0, 1.0, Verdict.CORRECT, "Correct."),
             "e": PartResult("e", score, 1.5, Verdict.REVIEW, "The checks disagree.",
                             answer="x_e", flags=["disagree"]),
             "g": PartResult("g", 0.0, 1.0, Verdict.REVIEW, "Too slow.", answer="x_g",
                             flags=["timeout"])}
    return SubmissionResult("backprop", student, parts)


def test_the_report_and_the_web_share_the_review_queue(tmp_path, pool, problem):
    results = [_review_result("zoe"), _review_result("amy")]
    batch_items = [(s, p.part) for s, p in report_review_queue(results)]
    assert batch_items == [("amy", "e"), ("amy", "g"), ("zoe", "e"), ("zoe", "g")]

    app = make_app(tmp_path / "grader.db", pool)
    store = Store(app.config["DATABASE"])
    ids = {}
    for result in sorted(results, key=lambda r: r.submission):    # stored in the same order
        ids[result.submission] = store.add_submission("backprop", result.submission, "t",
                                                      "answers", {"e": "x_e", "g": "x_g"})
        store.save_result(ids[result.submission], result.to_json())
    client = app.test_client()
    web = client.get(f"{API}/problems/backprop/review", headers=AUTH).get_json()
    assert [(item["student"], item["part"]) for item in web] == batch_items
    assert web[0] == {"submission": ids["amy"], "student": "amy", "part": "e", "answer": "x_e",
                      "interpreted": "", "feedback": "The checks disagree.", "score": 0.0,
                      "max_score": 1.5, "verdict": "review", "override": None}

    # a TA decides amy's (g): it leaves the open queue and stays in the full one
    assert client.put(f"{API}/submissions/{ids['amy']}/parts/g/override", headers=AUTH,
                      json={"score": 1, "verdict": "correct"}).status_code == 200
    web = client.get(f"{API}/problems/backprop/review", headers=AUTH).get_json()
    assert [(i["student"], i["part"]) for i in web] == [("amy", "e"), ("zoe", "e"), ("zoe", "g")]
    full = client.get(f"{API}/problems/backprop/review?all=1", headers=AUTH).get_json()
    assert [(i["student"], i["part"], i["override"] and i["override"]["verdict"])
            for i in full] == [("amy", "e", None), ("amy", "g", "correct"), ("zoe", "e", None),
                               ("zoe", "g", None)]

    core = core_review_queue([(ids["amy"], results[1], store.get(ids["amy"]).overrides)])
    assert [(i.key, i.part.part) for i in core] == [(ids["amy"], "e")]


# ------------------------------------------------------------------ overrides, typed

@pytest.mark.parametrize("score, verdict, comment, message", [
    (1.5, "correct", "", "score must be between 0 and 1 for part g"),
    (-1, "correct", "", "score must be between 0 and 1 for part g"),
    ("x", "correct", "", "score must be a number, not 'x'"),
    (None, "correct", "", "score must be a number"),
    (float("nan"), "correct", "", "score must be a number"),
    (True, "correct", "", "score must be a number"),
    (1, "great", "", "verdict must be one of correct, partial, incorrect, invalid, missing, "
                     "review"),
    (1, "correct", 5, "comment must be a string"),
    (1, "correct", "x" * 5001, "comment is too long (the limit is 5000)"),
])
def test_an_override_is_checked_when_it_is_made(score, verdict, comment, message):
    with pytest.raises(OverrideError) as error:
        Override.make("g", 1.0, score, verdict, comment)
    assert str(error.value) == message


def test_an_override_reads_a_form_and_round_trips_through_json():
    override = Override.make("g", 1.0, " 0.5 ", "partial", "  Say why.  ", "2026-01-01")
    assert override == Override("g", 0.5, Verdict.PARTIAL, "Say why.", "2026-01-01")
    assert override.to_json() == {"part": "g", "score": 0.5, "verdict": "partial",
                                  "comment": "Say why.", "updated_at": "2026-01-01"}
    assert Override.from_json(override.to_json()) == override
    with pytest.raises(OverrideError):
        Override("g", 0.5, "great")      # type: ignore[arg-type]  # checked as it is made
    part = PartResult("g", 0.0, 1.0, Verdict.REVIEW, "Too slow.", flags=["timeout"])
    shown = override.apply(part)
    assert (shown.score, shown.verdict, shown.feedback, shown.flags) == (
        0.5, Verdict.PARTIAL, "Say why.", ["timeout", "override"])
    assert part.flags == ["timeout"]                        # the grader's result is untouched
    kept = Override("g", 1.0, Verdict.CORRECT).apply(part)
    assert kept.feedback == "Too slow."                     # no comment: the grader's feedback


def test_the_web_stores_overrides_as_the_core_type(tmp_path, pool):
    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "ann", "answers": {"c": r"\delta_k b_j"}}).get_json()
    response = client.put(f"{API}/submissions/{created['id']}/parts/c/override", headers=AUTH,
                          json={"score": 0.25, "verdict": "partial", "comment": "Why?"})
    assert response.status_code == 200
    stored = Store(app.config["DATABASE"]).get(created["id"]).overrides["c"]
    assert isinstance(stored, Override) and stored.verdict is Verdict.PARTIAL
    assert (stored.score, stored.comment) == (0.25, "Why?") and stored.updated_at
    response = client.put(f"{API}/submissions/{created['id']}/parts/c/override", headers=AUTH,
                          json={"score": 2, "verdict": "partial"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "score must be between 0 and 1 for part c"


# ------------------------------------------------------------------ one display of controls

def test_the_report_and_the_pages_show_control_characters_the_same_way(tmp_path, pool):
    app = make_app(tmp_path / "grader.db", pool)
    assert app.jinja_env.finalize is visible
    assert _environment().finalize is visible
    assert visible("a\x07\u202eb\x7f") == "a\u2407[U+202E]b\u2421"
