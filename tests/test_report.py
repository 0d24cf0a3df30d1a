"""report.html: self-contained, plots embedded, answer groups, review queue, escaped text."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.image import imread

from grader.batch import GradeChange, run_batch
from grader.pool import GradingPool
from grader.problem import load_problem
from grader.report import answer_groups, render_report, report_context, review_queue
from grader.results import PartResult, Step, SubmissionResult, Verdict
from grader.text import CONTROL

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
    """s4's answer to (d) is on the page as text, not as a tag."""
    _, page = graded
    assert "<script>" not in page
    assert "<script>alert('x')</script>" in _check_html(page).text


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


# --------------------------------------------------------------------------------------------
# The page is valid HTML, and no student text becomes markup

VOID = {"meta", "img", "br", "hr", "link", "input", "wbr", "col", "source"}
# Every element the report is made of: anything else came from student text.
ELEMENTS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span",
            "nav", "a", "table", "tr", "th", "td", "img", "code", "div"}


class StrictHTML(HTMLParser):
    """html.parser reports no errors of its own, so this one collects them: a tag the report
    does not use, an end tag that does not close the open element, an element left open, an
    attribute given twice, an id used twice, a control character (a parse error in HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.errors: list[str] = []
        self.open: list[str] = []
        self.ids: set[str] = set()
        self.doctype = False
        self.chunks: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html" and not self.open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ELEMENTS:
            self.errors.append(f"unexpected element <{tag}>")
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.errors.append(f"<{tag}> repeats an attribute: {names}")
        if any(name.startswith("on") for name in names):
            self.errors.append(f"<{tag}> has an event handler: {names}")
        for name, value in attrs:
            if name == "id":
                if value in self.ids:
                    self.errors.append(f"id {value!r} used twice")
                self.ids.add(value or "")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> does not close the open element ({self.open[-1:]})")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _check_html(page: str) -> StrictHTML:
    """Parse the page with html.parser; fail on any error StrictHTML collects."""
    parser = StrictHTML()
    parser.feed(page)
    parser.close()
    assert parser.doctype, "the page does not start with <!DOCTYPE html>"
    assert not parser.open, f"elements left open: {parser.open}"
    assert not parser.errors, parser.errors
    bad = CONTROL.search(page)
    assert bad is None, f"control character U+{ord(bad.group()):04X} on the page"
    return parser


def test_report_is_valid_html(graded):
    _check_html(graded[1])


HOSTILE = "<script>alert(1)</script>\x00\x07\x1b[31m\u202e"


def test_student_text_with_markup_and_control_characters_is_harmless(problem):
    """A name and an answer holding <script> and control characters, in every section that
    shows student text: answer groups, derivations, the review queue, changed grades, the
    files that could not be read. The page stays valid, has no element but the report's own,
    and shows the text, with each control character as a visible sign."""
    name = "<b>eve</b>\x07<script>x()</script>\u202e"
    steps = [Step(HOSTILE, "given"), Step(HOSTILE + "2", "invalid", HOSTILE)]
    results = [SubmissionResult("backprop", name, {
        "a": _part("a", Verdict.INCORRECT, answer=HOSTILE, interpreted=HOSTILE,
                   feedback=HOSTILE, fingerprint="f", steps=steps),
        "b": _part("b", Verdict.REVIEW, answer=HOSTILE, interpreted=HOSTILE, feedback=HOSTILE,
                   flags=[HOSTILE]),
        "c": _part("c", Verdict.INVALID, answer=HOSTILE, feedback=HOSTILE)})]
    changes = [GradeChange(name, "c", 0.0, 1.0, "incorrect", "correct", 1.0)]
    page = render_report(problem, results, changes=changes, unreadable={name: HOSTILE},
                         previous=Path(HOSTILE))
    parsed = _check_html(page)
    assert "<script" not in page and "<b>" not in page
    shown = "<script>alert(1)</script>\u2400\u2407\u241b[31m[U+202E]"
    # groups of (a), (b), (c): 3 + 3 + 2 (no reading of c); the step and its message: 2;
    # the review row: answer, reading, feedback, flag: 4; "since" and the unreadable reason: 2
    assert parsed.text.count(shown) == 16
    # the three groups, the derivation, the review row, the changed grade, the unreadable file
    assert parsed.text.count("<b>eve</b>\u2407<script>x()</script>[U+202E]") == 7


def test_hostile_file_name_and_answer_through_the_batch(tmp_path, problem):
    """The same end to end: a submission file whose name holds markup and control characters
    (its stem is the student's name), with such an answer, graded by ``grader batch``."""
    subs = tmp_path / "subs"
    subs.mkdir()
    stem = "<img src=x onerror=alert(1)>\x07\x1b"
    # no NUL: a submission holding one is refused before grading (tests/web/test_one_way.py)
    (subs / f"{stem}.json").write_text(json.dumps({"answers": {"c": HOSTILE.replace("\x00", "")}}),
                                       encoding="utf-8")
    with GradingPool(workers=1) as pool:
        summary = run_batch(problem, subs, tmp_path / "out", pool=pool)
    assert summary.results[0].submission == stem
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    parsed = _check_html(page)
    assert "<img src=x" not in page and "<script" not in page
    assert "<img src=x onerror=alert(1)>\u2407\u241b" in parsed.text
    assert "<script>alert(1)</script>\u2407\u241b[31m[U+202E]" in parsed.text


def test_the_context_is_data_and_the_template_lays_it_out(problem):
    """report_context is a pure function of the results: numbers stay numbers, long text is
    cut once, and the same context renders the same page."""
    long = "x" * 1000
    results = [SubmissionResult("backprop", "ann", {
        "a": _part("a", Verdict.INCORRECT, answer=long, fingerprint="f"),
        "b": _part("b", Verdict.CORRECT, 1.5)})]
    when = datetime(2024, 5, 1, tzinfo=UTC)
    context = report_context(problem, results, generated=when)
    assert context == report_context(problem, results, generated=when)
    assert (context.submissions, context.mean, context.full_marks) == (1, 1.5, 0)
    part_a = context.parts[0]
    assert part_a.part == "a" and part_a.group_count == 1
    assert len(part_a.groups[0].example) < len(long) and part_a.groups[0].example.endswith("…")
    assert context.changes is None and context.review == []
    assert render_report(problem, results, generated=when) == \
        render_report(problem, results, generated=when)
