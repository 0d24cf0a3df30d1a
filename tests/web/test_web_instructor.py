"""The instructor pages and the hints students see, on a real SQLite file and a real pool:
hints that are no answer, the review form, pagination, broken specs."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest
from web_support import SEED_ANSWERS, TOKEN, make_app, problems_dir

from grader import api as grader_api
from grader.problem import PROBLEMS_ENV, scan_problems
from grader.web.storage import Store

API = "/api/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def csrf(client, path="/") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client):
    response = client.post("/instructor/login", data={
        "csrf_token": csrf(client, "/instructor/login"), "token": TOKEN, "next": ""})
    assert response.status_code == 303


# -------------------------------------------------------- 8. hints are never answers
class _Hints(HTMLParser):
    """Placeholders, titles and code snippets of a page, outside the problem's own prompts."""

    def __init__(self):
        super().__init__()
        self.hints: list[str] = []
        self._prompt = 0          # depth inside <span class="prompt">
        self._code: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._prompt or "prompt" in (attrs.get("class") or "").split():
            self._prompt += 1
            return
        for key in ("placeholder", "title", "aria-label"):
            if attrs.get(key):
                self.hints.append(attrs[key])
        if tag == "code":
            self._code = []

    def handle_endtag(self, tag):
        if self._prompt:
            self._prompt -= 1
            return
        if tag == "code" and self._code is not None:
            self.hints.append("".join(self._code))
            self._code = None

    def handle_data(self, data):
        if self._code is not None and not self._prompt:
            self._code.append(data)


def _hints(page: str) -> set[str]:
    parser = _Hints()
    parser.feed(page)
    found = set()
    for hint in parser.hints:
        found.add(hint)
        if "e.g." in hint:                     # "LaTeX, e.g. X": X alone, too
            found.add(hint.split("e.g.", 1)[1].strip())
    return {h for h in found if h.strip()}


def test_no_placeholder_or_hint_is_an_answer_to_any_part(client, pool):
    problems = scan_problems().problems
    pages = [client.get(f"/?problem={p.id}").get_data(as_text=True) for p in problems]
    pages.append(client.get("/instructor/login").get_data(as_text=True))
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "s", "answers": {"c": "x"}}).get_json()
    pages.append(client.get(created["page"]).get_data(as_text=True))
    hints = set().union(*(_hints(page) for page in pages))
    placeholders = [h for page in pages for h in re.findall(r'placeholder="([^"]*)"', page)]
    assert len(placeholders) >= 7 and set(placeholders) <= hints   # every answer box has one
    graded = 0
    for problem in problems:
        for part in problem.parts.values():
            for hint in sorted(hints):
                result = grader_api.grade_answer(problem, part.id, hint, pool=pool)
                graded += 1
                assert result.score == 0 and result.verdict.value not in (
                    "correct", "partial"), (problem.id, part.id, hint, result.verdict)
    assert graded >= 7 * len(hints)


# ------------------------------------------------------------------- 9. the review form
@pytest.fixture
def review_item(client, tmp_path, monkeypatch):
    """A submission whose part (g) the grader sent to review (it ran out of time)."""
    quick = problems_dir(tmp_path / "quick", time_limit=0.001)
    monkeypatch.setenv(PROBLEMS_ENV, str(quick))
    answer = r"\sigma(z_j)(1-\sigma(z_j))\sum_k w_{jk}\delta_k\,\frac{a_1}{a_1}"
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "Rex", "answers": {"g": answer}}).get_json()
    assert created["result"]["parts"]["g"]["verdict"] == "review"
    monkeypatch.delenv(PROBLEMS_ENV)
    return created


def _override_forms(page: str) -> list[str]:
    return re.findall(r'<form class="review-item.*?</form>', page, re.S)


def test_the_review_form_preselects_nothing_and_requires_a_choice(client, review_item):
    login(client)
    page = client.get("/instructor/problems/backprop/review").get_data(as_text=True)
    (form,) = _override_forms(page)
    select = re.search(r'<select name="verdict"[^>]*>(.*?)</select>', form, re.S)
    assert "required" in select.group(0)
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?>', select.group(1))
    assert options[0] == ("", "selected")                      # "choose..." and nothing else
    assert [value for value, selected in options[1:] if selected] == []
    assert {value for value, _ in options[1:]} >= {"correct", "partial", "incorrect"}
    score = re.search(r'<input name="score"[^>]*>', form).group(0)
    assert 'value=""' in score and "required" in score

    url = f"/instructor/submissions/{review_item['id']}/parts/g/override"
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    # sent as the form stands (a browser would not send it: the choice is required)
    response = client.post(url, data={"csrf_token": token, "score": "", "verdict": "",
                                      "comment": ""})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not saved: choose a verdict" in page
    response = client.post(url, data={"csrf_token": token, "score": "", "verdict": "partial"})
    assert "Not saved: give the part a score" in client.get(
        response.headers["Location"]).get_data(as_text=True)
    queue = client.get(f"{API}/problems/backprop/review", headers=AUTH).get_json()
    assert queue[0]["override"] is None                      # nothing was set
    response = client.post(url, data={"csrf_token": token, "score": "0.5",
                                      "verdict": "partial", "comment": "Half."})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved" in page
    (form,) = _override_forms(page)
    # a decision made shows as made
    assert re.search(r'<option value="partial"\s*selected>', form)
    assert 'value="0.5"' in form


# ------------------------------------------------------------------- 10. pagination
def _many(app, count: int, result: dict) -> list[int]:
    store = Store(app.config["DATABASE"])
    ids = []
    for n in range(count):
        sid = store.add_submission("backprop", f"student {n:04d}", f"t{n}", "answers",
                                   {"g": "x"})
        store.save_result(sid, result)
        ids.append(sid)
    return ids


def _rows(page: str) -> list[int]:
    table = page.split('id="submissions"')[1].split("</table>")[0]
    return [int(n) for n in re.findall(r'<tr><td><a href="/submissions/(\d+)">', table)]


def test_the_instructor_lists_page(client, app, review_item):
    result = client.get(f"{API}/submissions/{review_item['id']}",
                        headers=AUTH).get_json()["result"]
    ids = [review_item["id"], *_many(app, 129, result)]     # 130, each with a review item
    login(client)
    first = client.get("/instructor/problems/backprop").get_data(as_text=True)
    assert _rows(first) == sorted(ids, reverse=True)[:50]   # newest first
    assert "Page 1 of 3 (130 submissions)" in first
    assert 'rel="next" href="/instructor/problems/backprop?page=2"' in first
    assert 'rel="prev"' not in first
    second = client.get("/instructor/problems/backprop?page=2").get_data(as_text=True)
    assert _rows(second) == sorted(ids, reverse=True)[50:100]
    assert 'rel="prev" href="/instructor/problems/backprop?page=1"' in second
    last = client.get("/instructor/problems/backprop?page=3").get_data(as_text=True)
    assert _rows(last) == sorted(ids, reverse=True)[100:]
    assert 'rel="next"' not in last
    for wild, expected in (("99", last), ("0", first), ("-4", first), ("abc", first),
                           ("9" * 5000, first)):
        page = client.get(f"/instructor/problems/backprop?page={wild}").get_data(as_text=True)
        assert _rows(page) == _rows(expected), wild
    # the review queue pages too
    review = client.get("/instructor/problems/backprop/review").get_data(as_text=True)
    assert len(_override_forms(review)) == 50 and "Page 1 of 3 (130 items)" in review
    review = client.get("/instructor/problems/backprop/review?page=3").get_data(as_text=True)
    assert len(_override_forms(review)) == 30
    # the API still lists every submission
    listed = client.get(f"{API}/problems/backprop/submissions", headers=AUTH).get_json()
    assert len(listed) == 130


# ------------------------------------------------------------------- 14. broken specs
BROKEN = """id = "broken"
title = "Half-written"
[network]
equations = ['z = \\frac{1}{']
"""


def test_a_broken_spec_is_shown_to_instructors_and_the_others_keep_working(
        tmp_path, pool, monkeypatch):
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "broken.toml").write_text(BROKEN, encoding="utf-8")
    (folder / "softmax.toml").write_text("id = 'softmax'\nthis is not TOML\n",
                                         encoding="utf-8")   # shadows the good softmax
    monkeypatch.setenv(PROBLEMS_ENV, str(folder))
    scan = scan_problems()
    assert {p.name for p, _ in scan.broken} == {"broken.toml", "softmax.toml"}
    app = make_app(tmp_path / "grader.db", pool)
    client = app.test_client()

    listed = client.get(f"{API}/problems").get_json()
    packaged = sorted(p.stem for p in Path(str(files("grader.problems"))).glob("*.toml"))
    assert [p["id"] for p in listed] == [i for i in packaged if i != "softmax"]
    page = client.get("/").get_data(as_text=True)
    assert "Backpropagation" in page and "broken" not in page and "TOML" not in page
    created = client.post(f"{API}/problems/backprop/submissions",
                          json={"student": "Ann", "answers": SEED_ANSWERS})
    assert created.status_code == 201 and created.get_json()["result"]["score"] == 8.0
    assert client.get("/?problem=broken").status_code == 404

    login(client)
    page = client.get("/instructor/").get_data(as_text=True)
    section = page.split('id="broken-specs"')[1]
    for path, error in scan.broken:
        assert f"<code>{path.name}</code>" in section
        message = str(error).replace("'", "&#39;").replace('"', "&#34;")
        assert message in section
    assert "not valid TOML" in section
    assert 'href="/instructor/problems/backprop"' in page
    assert client.get("/instructor/problems/backprop").status_code == 200
