"""The batch report: one self-contained HTML page for the TA.

``render_report`` builds the page from a batch's results: the class's total scores, for each
part a score histogram and the verdict counts (PNG plots drawn with matplotlib's Agg canvas and
embedded as ``data:`` URIs), the part's most common answers that were not correct grouped by
mathematical equivalence (``answer_groups``), the grades that changed since a previous run, and
the review queue. Styles are inline and nothing is fetched, so the file can be mailed or
archived as is. Every piece of student text is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .problem import Problem
from .results import PartResult, SubmissionResult, Verdict

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
    """Every part a TA must decide, as (student, part result), by student then part."""
    return [(r.submission, p) for r in sorted(results, key=lambda r: r.submission)
            for p in r.parts.values() if p.verdict is Verdict.REVIEW]


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
# The page

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;
  margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid
  #ddd;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#616161;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border-bottom:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
code{font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f6f8fa;padding:1px 3px;
  border-radius:3px;word-break:break-word}
.v{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.none{color:#757575;font-style:italic}.who{color:#616161;font-size:12px}
img{max-width:100%;height:auto}nav a{margin-right:12px}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _code(text: str) -> str:
    if not text:
        return '<span class="none">(empty)</span>'
    cut = text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + " …"
    return f"<code>{_e(cut)}</code>"


def _badge(verdict: Verdict | str) -> str:
    verdict = Verdict(verdict)
    return (f'<span class="v" style="background:{VERDICT_COLORS[verdict]}">'
            f"{_e(verdict.value)}</span>")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def render_report(problem: Problem, results: list[SubmissionResult], *,
                  changes=None, unreadable: dict[str, str] | None = None,
                  previous: Path | None = None, generated: datetime | None = None) -> str:
    """The report as one HTML page (see the module docstring)."""
    generated = generated or datetime.now(UTC)
    totals = [r.score for r in results]
    parts = list(problem.parts.values())
    queue = review_queue(results)
    html = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            f"<title>Batch report: {_e(problem.title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{_e(problem.title)} <span class='meta'>({_e(problem.id)})</span></h1>"]
    summary = f"{len(results)} submissions, graded out of {problem.points:g} points"
    if totals:
        full = sum(t >= problem.points - 1e-9 for t in totals)
        summary += (f"; mean {statistics.fmean(totals):.2f}, median "
                    f"{statistics.median(totals):g}, full marks {full}")
    reviews = f"{len(queue)} answer{'s' * (len(queue) != 1)} to review"
    html.append(f'<p class="meta">{_e(summary)}. {reviews}. Generated '
                f"{_e(generated.strftime('%Y-%m-%d %H:%M UTC'))}.</p>")
    links = [f'<a href="#part-{_e(p.id)}">part ({_e(p.id)})</a>' for p in parts]
    links += ['<a href="#review">review queue</a>']
    if changes is not None:
        links.insert(0, '<a href="#changes">changed grades</a>')
    html.append("<nav>" + "".join(links) + "</nav>")

    html.append(_overview(problem, results))
    if totals:
        html.append(_img(_total_figure(problem.points, totals), "histogram of total scores"))
    if changes is not None:
        html.append(_changes(changes, previous))
    for part in parts:
        html.append(_part_section(part.id, part.points, results))
    html.append(_review(queue))
    if unreadable:
        html.append("<h2>Files that could not be read</h2><table><tr><th>file</th>"
                    "<th>reason</th></tr>")
        html.extend(f"<tr><td>{_e(name)}</td><td>{_e(reason)}</td></tr>"
                    for name, reason in sorted(unreadable.items()))
        html.append("</table>")
    html.append("</body></html>")
    return "\n".join(html)


def _overview(problem: Problem, results: list[SubmissionResult]) -> str:
    rows = ['<table><tr><th>part</th><th class="n">points</th><th class="n">mean</th>'
            + "".join(f'<th class="n">{_badge(v)}</th>' for v in Verdict) + "</tr>"]
    for pid, part in problem.parts.items():
        got = [r.parts[pid] for r in results if pid in r.parts]
        counts = Counter(p.verdict for p in got)
        mean = statistics.fmean(p.score for p in got) if got else 0.0
        rows.append(f'<tr><td><a href="#part-{_e(pid)}">({_e(pid)})</a></td>'
                    f'<td class="n">{part.points:g}</td><td class="n">{mean:.2f}</td>'
                    + "".join(f'<td class="n">{counts[v]}</td>' for v in Verdict) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _part_section(pid: str, points: float, results: list[SubmissionResult]) -> str:
    got = [r.parts[pid] for r in results if pid in r.parts]
    verdicts = Counter(p.verdict for p in got)
    out = [f'<h2 id="part-{_e(pid)}">Part ({_e(pid)}) <span class="meta">{points:g} '
           f"point{'s' * (points != 1)}</span></h2>"]
    if got:
        out.append(_img(_part_figure(pid, points, [p.score for p in got], verdicts),
                        f"part {pid}: score histogram and verdict counts"))
    out.append("<p>" + ", ".join(f"{_badge(v)} {verdicts[v]}" for v in Verdict if verdicts[v])
               + "</p>")
    out.append(_derivations(pid, results))
    groups = answer_groups(results, pid)
    if not groups:
        given = sum(bool(p.answer) and p.verdict is not Verdict.MISSING for p in got)
        out.append('<p class="none">' + ("Every answer given was correct." if given else
                                         "No answers were given for this part.") + "</p>")
        return "\n".join(out)
    shown = groups[:GROUPS_SHOWN]
    answers = sum(g.count for g in groups)
    out.append(f"<h3>Most common answers that were not correct ({answers} answers in "
               f"{len(groups)} groups of equal mathematics)</h3>")
    out.append('<table><tr><th class="n">count</th><th>verdict</th><th>read as</th>'
               "<th>example as written</th><th>feedback given</th></tr>")
    for group in shown:
        who = ", ".join(group.students[:STUDENTS_SHOWN])
        if len(group.students) > STUDENTS_SHOWN:
            who += f", and {len(group.students) - STUDENTS_SHOWN} more"
        variants = len(group.answers)
        written = _code(group.example) + (f'<div class="who">{variants} ways of writing it'
                                          "</div>" if variants > 1 else "")
        score = group.scores.most_common(1)[0][0]
        out.append(
            f'<tr><td class="n">{group.count}</td>'
            f"<td>{_badge(group.verdict)} <span class='who'>{score:g}/{points:g}</span></td>"
            f"<td>{_code(group.reading) if group.reading else '<span class=none>not read</span>'}"
            f"</td><td>{written}</td><td>{_e(group.feedback.most_common(1)[0][0])}"
            f'<div class="who">{_e(who)}</div></td></tr>')
    out.append("</table>")
    rest = groups[GROUPS_SHOWN:]
    if rest:
        out.append(f'<p class="meta">and {len(rest)} more groups with '
                   f"{sum(g.count for g in rest)} answers (all in results.jsonl).</p>")
    return "\n".join(out)


DERIVATIONS_SHOWN = 20


def _derivations(pid: str, results: list[SubmissionResult]) -> str:
    """Step statuses of the part's derivations, and where each broken one first goes wrong."""
    with_steps = [(r.submission, r.parts[pid]) for r in results
                  if pid in r.parts and r.parts[pid].steps]
    if not with_steps:
        return ""
    counts = Counter(step.status for _, part in with_steps for step in part.steps[1:])
    broken = [(student, next(s for s in part.steps if s.status == "invalid"))
              for student, part in with_steps if any(s.status == "invalid" for s in part.steps)]
    out = [f"<h3>Derivations ({len(with_steps)} written out)</h3>",
           "<p>Steps: " + ", ".join(f"{counts[s]} {s}" for s in ("valid", "invalid", "unverified")
                                    if counts[s]) + "</p>"]
    if broken:
        out.append(f"<p>{len(broken)} derivation{'s' * (len(broken) != 1)} with an invalid "
                   "step; the first invalid step of each:</p>")
        out.append("<table><tr><th>student</th><th>first invalid step</th><th>why</th></tr>")
        for student, step in broken[:DERIVATIONS_SHOWN]:
            out.append(f"<tr><td>{_e(student)}</td><td>{_code(step.latex)}</td>"
                       f"<td>{_e(step.message)}</td></tr>")
        out.append("</table>")
        if len(broken) > DERIVATIONS_SHOWN:
            out.append(f'<p class="meta">and {len(broken) - DERIVATIONS_SHOWN} more '
                       "(all in results.jsonl).</p>")
    return "\n".join(out)


def _changes(changes, previous: Path | None) -> str:
    source = f" since {_e(previous)}" if previous else ""
    out = [f'<h2 id="changes">Changed grades{source}</h2>']
    if not changes:
        out.append('<p class="none">No grade changed.</p>')
        return "\n".join(out)
    out.append(f"<p>{len(changes)} grade{'s' * (len(changes) != 1)} changed.</p>")
    out.append("<table><tr><th>student</th><th>part</th><th>before</th><th>now</th></tr>")
    out.extend(f"<tr><td>{_e(c.student)}</td><td>{_e(c.part)}</td><td>{_e(c.old)}</td>"
               f"<td>{_e(c.new)}</td></tr>" for c in changes)
    out.append("</table>")
    return "\n".join(out)


def _review(queue: list[tuple[str, PartResult]]) -> str:
    out = [f'<h2 id="review">Review queue ({len(queue)})</h2>']
    if not queue:
        out.append('<p class="none">Nothing to review: every answer got a verdict.</p>')
        return "\n".join(out)
    out.append("<table><tr><th>student</th><th>part</th><th>answer as written</th>"
               "<th>read as</th><th>why</th></tr>")
    for student, part in queue:
        flags = f'<div class="who">{_e(", ".join(part.flags))}</div>' if part.flags else ""
        reading = _code(part.interpreted) if part.interpreted else ""
        out.append(f"<tr><td>{_e(student)}</td><td>({_e(part.part)})</td>"
                   f"<td>{_code(part.answer)}</td><td>{reading}</td>"
                   f"<td>{_e(part.feedback)}{flags}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def write_report(problem: Problem, results: list[SubmissionResult], path: Path,
                 **options) -> Path:
    """Write ``render_report``'s page to ``path`` (atomically); options as there."""
    from .batch import _replace

    return _replace(path, render_report(problem, results, **options))
