"""The batch report: one self-contained HTML page for the TA.

``render_report`` builds the page from a batch's results: the class's total scores, for each
part a score histogram and the verdict counts (PNG plots drawn with matplotlib's Agg canvas and
embedded as ``data:`` URIs), the part's most common answers that were not correct grouped by
mathematical equivalence (``answer_groups``), where written-out derivations first go wrong,
the grades that changed since a previous run, the review queue and the files that could not
be read. Styles are inline and nothing is fetched, so the file can be mailed or archived as is.

Two halves: ``report_context`` computes everything the page shows from the results (plain
data: numbers, texts, plot URIs, in a ``ReportContext``), and the Jinja2 template
``grader/templates/report.html`` lays it out. The template is rendered with autoescaping on
and ``visible`` as every expression's ``finalize``, so student text (names, answers, readings,
feedback) is always escaped and its control characters are shown as visible signs.
"""

from __future__ import annotations

import base64
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .problem import Problem
from .results import Override, PartResult, SubmissionResult, Verdict
from .results import review_queue as queue_for_review
from .text import visible

GROUPS_SHOWN = 8          # answer groups listed per part
STUDENTS_SHOWN = 6        # student names listed per answer group
ANSWER_CHARS = 300        # longer student text is cut in the page (the JSON log has it all)

VERDICT_COLORS = {
    Verdict.CORRECT: "#2e7d32", Verdict.PARTIAL: "#f9a825", Verdict.INCORRECT: "#c62828",
    Verdict.INVALID: "#6a1b9a", Verdict.MISSING: "#9e9e9e", Verdict.REVIEW: "#1565c0",
}


@dataclass
class AnswerGroup:
    """Answers to one part that are the same mathematics (or, failing that, read the same).

    Answers share a group when their ``fingerprint`` (values on the live network) is equal;
    answers without one (unreadable, timed out) group by their reading, then by their text.
    """

    part: str
    count: int = 0
    verdicts: Counter = field(default_factory=Counter)
    readings: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)
    feedback: Counter = field(default_factory=Counter)
    scores: Counter = field(default_factory=Counter)
    students: list[str] = field(default_factory=list)

    def add(self, student: str, result: PartResult) -> None:
        self.count += 1
        self.verdicts[result.verdict] += 1
        if result.interpreted:
            self.readings[result.interpreted] += 1
        self.answers[result.answer] += 1
        self.feedback[result.feedback] += 1
        self.scores[result.score] += 1
        self.students.append(student)

    @property
    def reading(self) -> str:
        """The most common reading ("" when none of the answers could be read)."""
        return self.readings.most_common(1)[0][0] if self.readings else ""

    @property
    def example(self) -> str:
        """The most common answer as written."""
        return self.answers.most_common(1)[0][0]

    @property
    def verdict(self) -> Verdict:
        return self.verdicts.most_common(1)[0][0]


def group_key(result: PartResult) -> str:
    if result.fingerprint:
        return "value:" + result.fingerprint
    if result.interpreted:
        return "reading:" + result.interpreted
    return "text:" + result.answer


def answer_groups(results: list[SubmissionResult], part_id: str) -> list[AnswerGroup]:
    """The part's answers that were not fully correct, grouped, biggest first.

    Missing answers and the parts of files that could not be read have no text to group.
    """
    groups: dict[str, AnswerGroup] = {}
    for result in results:
        part = result.parts.get(part_id)
        if part is None or part.verdict in (Verdict.CORRECT, Verdict.MISSING) \
                or not part.answer:     # nothing written: a file that could not be read
            continue
        groups.setdefault(group_key(part), AnswerGroup(part_id)).add(result.submission, part)
    return sorted(groups.values(), key=lambda g: (-g.count, g.reading or g.example))


def review_queue(results: list[SubmissionResult]) -> list[tuple[str, PartResult]]:
    """Every part a TA must decide, as (student, part result), by student then part: the
    web's review queue too (``grader.results.review_queue``; a batch has no overrides)."""
    no_overrides: dict[str, Override] = {}
    entries = ((r.submission, r, no_overrides)
               for r in sorted(results, key=lambda r: r.submission))
    return [(item.student, item.part) for item in queue_for_review(entries)]


# --------------------------------------------------------------------------------------------
# Plots


def _png(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (drawn on an Agg canvas)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _part_figure(part_id: str, max_score: float, scores: list[float],
                 verdicts: Counter) -> str:
    fig = Figure(figsize=(8.4, 2.5), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    counts = Counter(round(s, 6) for s in scores)
    values = sorted(counts | {0.0: 0, round(max_score, 6): 0})
    width = max(max_score, 1e-9) / max(len(values) * 1.6, 4)
    left.bar(values, [counts[v] for v in values], width=width, color="#455a64")
    left.set_xticks(values, [f"{v:g}" for v in values])
    left.set_xlabel(f"score on part ({part_id}), out of {max_score:g}")
    left.set_ylabel("submissions")
    left.set_title("Score histogram", fontsize=10)
    order = [v for v in Verdict if verdicts[v]]
    right.barh([v.value for v in order], [verdicts[v] for v in order],
               color=[VERDICT_COLORS[v] for v in order])
    right.invert_yaxis()
    right.set_xlabel("answers")
    right.set_title("Verdicts", fontsize=10)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _total_figure(max_score: float, totals: list[float]) -> str:
    fig = Figure(figsize=(8.4, 2.6), layout="constrained")
    ax = fig.subplots()
    step = 0.5 if max_score <= 20 else max_score / 40
    edges = [i * step for i in range(int(max_score / step) + 2)]
    ax.hist(totals, bins=edges, color="#37474f", edgecolor="white", align="left")
    ax.set_xlabel(f"total score, out of {max_score:g}")
    ax.set_ylabel("submissions")
    ax.set_title("Total scores", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# --------------------------------------------------------------------------------------------
# The context: what the page shows, computed from the results (templates/report.html lays it out)

DERIVATIONS_SHOWN = 20    # first invalid steps listed per part


@dataclass(frozen=True)
class OverviewRow:
    """One part in the class overview: its points, mean score and verdict counts."""

    part: str
    points: float
    mean: float
    counts: list[int]                 # one per verdict, in ``Verdict`` order


@dataclass(frozen=True)
class ChangeRow:
    student: str
    part: str
    old: str                          # "0/1 incorrect", "not graded before"
    new: str


@dataclass(frozen=True)
class Changes:
    since: str                        # the previous results file, "" when not known
    rows: list[ChangeRow]


@dataclass(frozen=True)
class GroupRow:
    """One answer group as the page shows it (texts already cut to ``ANSWER_CHARS``)."""

    count: int
    verdict: str
    score: float                      # the most common score in the group
    reading: str                      # "" when none of the answers could be read
    example: str                      # the most common way of writing it
    variants: int                     # distinct ways of writing it
    feedback: str                     # the most common feedback
    students: list[str]               # the first ``STUDENTS_SHOWN``
    more_students: int


@dataclass(frozen=True)
class BrokenStep:
    student: str
    latex: str                        # the first invalid step, cut to ``ANSWER_CHARS``
    message: str


@dataclass(frozen=True)
class Derivations:
    """The part's written-out derivations: step statuses and where the broken ones go wrong."""

    written: int
    steps: list[tuple[str, int]]      # (status, count) for the statuses that occur
    broken: int                       # derivations with an invalid step
    first_invalid: list[BrokenStep]   # the first ``DERIVATIONS_SHOWN`` of them
    more: int


@dataclass(frozen=True)
class PartSection:
    part: str
    points: float
    plot: str                         # data: URI of the histogram and verdicts, "" if no answers
    verdicts: list[tuple[str, int]]   # (verdict, count) for the verdicts that occur
    derivations: Derivations | None
    given: int                        # answers written (not missing)
    groups: list[GroupRow]            # the first ``GROUPS_SHOWN``
    grouped_answers: int              # answers that were not fully correct, in all groups
    group_count: int
    more_groups: int
    more_answers: int                 # answers in the groups not shown


@dataclass(frozen=True)
class ReviewRow:
    student: str
    part: str
    answer: str                       # cut to ``ANSWER_CHARS``
    reading: str
    feedback: str
    flags: list[str]


@dataclass(frozen=True)
class ReportContext:
    """Everything ``templates/report.html`` shows; student text is plain (the template escapes).

    Numbers stay numbers (the template formats them); plots are ``data:`` URIs.
    """

    title: str
    problem: str
    points: float
    submissions: int
    mean: float | None                # None when there are no submissions
    median: float | None
    full_marks: int
    to_review: int
    generated: datetime
    verdicts: list[str]               # every verdict, in ``Verdict`` order
    colors: dict[str, str]            # verdict -> badge colour
    overview: list[OverviewRow]
    totals_plot: str                  # "" when there are no submissions
    changes: Changes | None           # None when no previous run was compared
    parts: list[PartSection]
    review: list[ReviewRow]
    unreadable: list[tuple[str, str]]  # (file, reason), by file


def _cut(text: str) -> str:
    """Student text as the page shows it: at most ``ANSWER_CHARS`` characters."""
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + " …"


def report_context(problem: Problem, results: list[SubmissionResult], *,
                   changes=None, unreadable: dict[str, str] | None = None,
                   previous: Path | None = None, generated: datetime) -> ReportContext:
    """What the report shows, from the results alone (options as for ``render_report``)."""
    totals = [r.score for r in results]
    review = [ReviewRow(student, part.part, _cut(part.answer), _cut(part.interpreted or ""),
                        part.feedback, list(part.flags))
              for student, part in review_queue(results)]
    return ReportContext(
        title=problem.title, problem=problem.id, points=problem.points,
        submissions=len(results),
        mean=statistics.fmean(totals) if totals else None,
        median=statistics.median(totals) if totals else None,
        full_marks=sum(t >= problem.points - 1e-9 for t in totals),
        to_review=len(review),
        generated=generated,
        verdicts=[v.value for v in Verdict],
        colors={v.value: color for v, color in VERDICT_COLORS.items()},
        overview=_overview(problem, results),
        totals_plot=_total_figure(problem.points, totals) if totals else "",
        changes=None if changes is None else Changes(
            str(previous) if previous else "",
            [ChangeRow(c.student, c.part, c.old, c.new) for c in changes]),
        parts=[_part_section(part.id, part.points, results) for part in problem.parts.values()],
        review=review,
        unreadable=sorted((unreadable or {}).items()),
    )


def _overview(problem: Problem, results: list[SubmissionResult]) -> list[OverviewRow]:
    rows = []
    for pid, part in problem.parts.items():
        got = [r.parts[pid] for r in results if pid in r.parts]
        counts = Counter(p.verdict for p in got)
        mean = statistics.fmean(p.score for p in got) if got else 0.0
        rows.append(OverviewRow(pid, part.points, mean, [counts[v] for v in Verdict]))
    return rows


def _part_section(pid: str, points: float, results: list[SubmissionResult]) -> PartSection:
    got = [r.parts[pid] for r in results if pid in r.parts]
    verdicts = Counter(p.verdict for p in got)
    groups = answer_groups(results, pid)
    rest = groups[GROUPS_SHOWN:]
    return PartSection(
        part=pid, points=points,
        plot=_part_figure(pid, points, [p.score for p in got], verdicts) if got else "",
        verdicts=[(v.value, verdicts[v]) for v in Verdict if verdicts[v]],
        derivations=_derivations(pid, results),
        given=sum(bool(p.answer) and p.verdict is not Verdict.MISSING for p in got),
        groups=[_group_row(g) for g in groups[:GROUPS_SHOWN]],
        grouped_answers=sum(g.count for g in groups),
        group_count=len(groups),
        more_groups=len(rest),
        more_answers=sum(g.count for g in rest),
    )


def _group_row(group: AnswerGroup) -> GroupRow:
    return GroupRow(
        count=group.count, verdict=Verdict(group.verdict).value,
        score=group.scores.most_common(1)[0][0],
        reading=_cut(group.reading), example=_cut(group.example),
        variants=len(group.answers),
        feedback=group.feedback.most_common(1)[0][0],
        students=group.students[:STUDENTS_SHOWN],
        more_students=max(len(group.students) - STUDENTS_SHOWN, 0),
    )


def _derivations(pid: str, results: list[SubmissionResult]) -> Derivations | None:
    """Step statuses of the part's derivations, and where each broken one first goes wrong."""
    with_steps = [(r.submission, r.parts[pid]) for r in results
                  if pid in r.parts and r.parts[pid].steps]
    if not with_steps:
        return None
    counts = Counter(step.status for _, part in with_steps for step in part.steps[1:])
    broken = [(student, next(s for s in part.steps if s.status == "invalid"))
              for student, part in with_steps if any(s.status == "invalid" for s in part.steps)]
    return Derivations(
        written=len(with_steps),
        steps=[(s, counts[s]) for s in ("valid", "invalid", "unverified") if counts[s]],
        broken=len(broken),
        first_invalid=[BrokenStep(student, _cut(step.latex), step.message)
                       for student, step in broken[:DERIVATIONS_SHOWN]],
        more=max(len(broken) - DERIVATIONS_SHOWN, 0),
    )


# --------------------------------------------------------------------------------------------
# The page

@cache
def _environment() -> Environment:
    """The report's Jinja environment: the package's templates, every expression escaped."""
    return Environment(loader=PackageLoader("grader", "templates"), autoescape=True,
                       finalize=visible, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_report(problem: Problem, results: list[SubmissionResult], *,
                  changes=None, unreadable: dict[str, str] | None = None,
                  previous: Path | None = None, generated: datetime | None = None) -> str:
    """The report as one HTML page (see the module docstring).

    ``changes``: the ``GradeChange`` list of a comparison with ``previous`` (None: no section);
    ``unreadable``: file name -> reason; ``generated``: the time shown (default: now).
    """
    context = report_context(problem, results, changes=changes, unreadable=unreadable,
                             previous=previous, generated=generated or datetime.now(UTC))
    return _environment().get_template("report.html").render(report=context)


def write_report(problem: Problem, results: list[SubmissionResult], path: Path,
                 **options) -> Path:
    """Write ``render_report``'s page to ``path`` (atomically); options as there."""
    from .batch import _replace

    return _replace(path, render_report(problem, results, **options))
