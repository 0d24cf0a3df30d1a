"""report.html: self-contained, plots embedded, answer groups, review queue, escaped text."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from matplotlib.image import imread

from grader.batch import GradeChange, run_batch
from grader.pool import GradingPool
from grader.problem import load_problem
from grader.report import answer_groups, render_report, review_queue
from grader.results import PartResult, SubmissionResult, Verdict

PARTS = "abcdefg"


@pytest.fixture(scope="module")
def problem():
    return load_problem("backprop")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, problem):
    """A small class graded for real: (results, report.html text)."""
    folder = tmp_path_factory.mktemp("class")
    subs, out = folder / "subs", folder / "out"
    subs.mkdir()
    answers = {
        # part c: three ways to write the same wrong sum, one other wrong answer, one right
        "s1": {"c": r"\delta_k + b_j", "d": r"2\delta_k"},
        "s2": {"c": r"b_j + \delta_k", "d": r"\delta_k \cdot 2"},
        "s3": {"c": r"b_{j}+\delta_{k}", "d": r"\delta_k"},
        "s4": {"c": r"\delta_k b_j^2", "d": "<script>alert('x')</script>"},
        "s5": {"c": r"\delta_k b_j"},
    }
    for name, parts in answers.items():
        (subs / f"{name}.json").write_text(json.dumps({"answers": parts}), encoding="utf-8")
    (subs / "s6.json").write_text('{"answers": ', encoding="utf-8")      # unreadable
    with GradingPool(workers=2) as pool:
        summary = run_batch(problem, subs, out, pool=pool)
    return summary.results, (out / "report.html").read_text(encoding="utf-8")


def test_answer_groups_join_equal_mathematics(graded):
    """Different readings with equal values on the network are one group, biggest first.

    The unreadable file (s6) is listed apart, not as an answer group of every part.
    """
    results, _ = graded
    groups = answer_groups(results, "c")
    assert [g.count for g in groups] == [3, 1]
    top = groups[0]
    assert top.verdict is Verdict.INCORRECT
    assert set(top.answers) == {r"\delta_k + b_j", r"b_j + \delta_k", r"b_{j}+\delta_{k}"}
    assert top.reading in {r"\delta_{k} + b_{j}", r"b_{j} + \delta_{k}"}
    assert top.students == ["s1", "s2", "s3"]
    assert "Not equal to the asked quantity" in top.feedback.most_common(1)[0][0]
    d = answer_groups(results, "d")
    assert [(g.count, g.verdict) for g in d] == [(2, Verdict.INCORRECT), (1, Verdict.INVALID)]
    assert "constant factor (2 times" in d[0].feedback.most_common(1)[0][0]


def test_report_is_self_contained_with_one_plot_per_part(graded):
    _, page = graded
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<(script|link|iframe)\b", page)
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == len(PARTS) + 1                 # the totals and each part
    for uri in sources:
        assert uri.startswith("data:image/png;base64,")
        image = imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")
        assert image.shape[0] > 100 and image.shape[1] > 400
    for pid in PARTS:
        assert f'id="part-{pid}"' in page


def test_report_escapes_student_text(graded):
    _, page = graded
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page     # markupsafe's &#39;


def test_report_shows_groups_with_counts_and_feedback(graded):
    _, page = graded
    part_c = page[page.index('id="part-c"'):page.index('id="part-d"')]
    assert "4 answers in 2 groups of equal mathematics" in part_c
    assert '<td class="n">3</td>' in part_c
    assert "3 ways of writing it" in part_c
    assert "Not equal to the asked quantity" in part_c
    assert "s1, s2, s3" in part_c
    part_a = page[page.index('id="part-a"'):page.index('id="part-b"')]
    assert "No answers were given for this part." in part_a          # nobody answered (a)
    part_c_right = [r.parts["c"] for r in graded[0] if r.parts["c"].verdict is Verdict.CORRECT]
    assert len(part_c_right) == 1


def test_part_where_every_answer_is_right(problem):
    results = [SubmissionResult("backprop", "ann", {
        pid: _part(pid, Verdict.CORRECT, 1.0, answer="x") for pid in PARTS})]
    assert "Every answer given was correct." in render_report(problem, results)


def _part(pid, verdict, score=0.0, **kw) -> PartResult:
    return PartResult(pid, score, 1.0, verdict, kw.pop("feedback", ""), **kw)


def test_review_queue_and_changes_are_listed(problem):
    """Every review part appears with its reason and flags; changed grades get a table."""
    late = "Grading this answer took longer than the 10 s limit and was stopped."
    results = [
        SubmissionResult("backprop", "zoe", {
            pid: _part(pid, Verdict.CORRECT, 1.0) for pid in PARTS} | {
            "g": _part("g", Verdict.REVIEW, feedback=late, answer=r"\psi_j^{60}",
                       flags=["timeout"])}),
        SubmissionResult("backprop", "amy", {
            pid: _part(pid, Verdict.MISSING) for pid in PARTS} | {
            "e": _part("e", Verdict.REVIEW, feedback="The checks disagree <b>.",
                       answer="x", interpreted="x", flags=["disagree"])}),
    ]
    assert [(s, p.part) for s, p in review_queue(results)] == [("amy", "e"), ("zoe", "g")]
    changes = [GradeChange("zoe", "c", 0.0, 1.0, "incorrect", "correct", 1.0)]
    page = render_report(problem, results, changes=changes, previous=Path("old/results.jsonl"),
                         generated=datetime(2024, 5, 1, tzinfo=UTC))
    queue = page[page.index('id="review"'):]
    assert "Review queue (2)" in queue
    assert queue.index("amy") < queue.index("zoe")
    assert late in queue and "timeout" in queue and "disagree" in queue
    assert "The checks disagree &lt;b&gt;." in queue
    section = page[page.index('id="changes"'):page.index('id="part-a"')]
    assert "Changed grades since old/results.jsonl" in section
    assert "0/1 incorrect" in section and "1/1 correct" in section
    assert "2024-05-01 00:00 UTC" in page


def test_report_without_changes_or_reviews(problem):
    results = [SubmissionResult("backprop", "ann", {
        pid: _part(pid, Verdict.CORRECT, 1.0) for pid in PARTS})]
    page = render_report(problem, results, changes=[])
    assert "No grade changed." in page
    assert "Nothing to review" in page
    assert 'id="changes"' in page
    assert 'id="changes"' not in render_report(problem, results)
