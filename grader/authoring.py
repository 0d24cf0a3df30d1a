"""Check a problem spec like code, before students see it: ``grader check`` and the pytest plugin.

``check_problem(id_or_path)`` loads the spec (a malformed spec raises ``SpecError``, which names
the file, the key and the line) and then, part by part:

1. **Reference against the live network.** The reference must have a finite value on every
   numeric instance, must not restate the asked quantity (circular), and must equal the asked
   quantity itself: ``asks`` is evaluated directly (a derivative or a signal by backprop through
   the network's equations, ``g'(x)`` by the activation's derivative) and compared with the
   reference both numerically (``PartChecker.numeric``) and symbolically (``.symbolic``). This
   is the strongest check that a reference is right: it does not trust the author's algebra.
2. **Each mistake is distinct and reachable.** A mistake must differ from the reference, and
   grading its answer must give its own feedback and credit (not another mistake's, not the
   circular or sigmoid-only rule that comes first).
3. **Examples grade as the spec says.** The reference itself and every ``accept`` example must
   get full credit (``correct``); every ``reject`` example must get less, and neither may come
   out ``review`` (undecided).

Examples, mistakes and the reference are graded through ``grader.api`` with a ``GradingPool``,
exactly the path a student's answer takes, rather than by calling ``grading.grade_answer``
in-process. The reasons: (a) it is the real grading path, JSON round trip and hard time limit
included, so an example that grades slower than the spec's ``time_limit`` comes out ``review``
here just as it would for a student, and is reported; (b) a spec that makes a check hang or
eat memory cannot hang ``grader check`` or a CI run, since the worker is killed at the limit;
(c) the examples of all parts are graded in parallel on every worker. The cost is a worker
start (a fork from a warm forkserver, well under a second). The reference checks of step 1 run
in this process: they call the checker directly, not the grading ladder.

The core is pure: no CLI or pytest here. ``grader.cli`` renders a ``SpecReport``;
``grader.pytest_plugin`` turns each ``Case`` into a test item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import api
from .check import Agreement, NumericOutcome, PartChecker, restates_question
from .errors import EvaluationError
from .expr import free_indices
from .grading import checker_for
from .pool import GradingPool
from .problem import Part, Problem, load_problem
from .results import PartResult, Verdict


@dataclass(frozen=True)
class Finding:
    """The outcome of one check of one part: ``ok`` or a message that says what is wrong."""

    part: str            # the part's id
    check: str           # reference | asks | mistake | accept | reject
    ok: bool
    message: str

    def line(self, problem_id: str = "") -> str:
        """One line naming the problem and the part, for logs and test failures."""
        where = f"{problem_id} part {self.part}" if problem_id else f"part {self.part}"
        return f"{where}: {self.check}: {self.message}"


@dataclass(frozen=True)
class Case:
    """One answer written in the spec, and how grading must treat it.

    ``kind`` is ``reference`` (the part's reference: full credit, in the asked form),
    ``mistake`` (its own feedback and credit), ``accept`` (full credit) or ``reject`` (less
    than full credit). ``index`` is the position in its list (0 for the reference).
    """

    part: str
    kind: str
    latex: str
    index: int = 0

    @property
    def name(self) -> str:
        """A readable test id: ``accept[b_j \\delta_k]``."""
        return f"{self.kind}[{self.latex}]"

    def judge(self, problem: Problem, result: PartResult) -> Finding:
        """Whether ``result`` (this case's answer graded for real) is what the spec says."""
        part = problem.part(self.part)
        got = _got(result)
        if result.verdict is Verdict.REVIEW:
            return self._finding(False, f"{self._what()} could not be decided: {got}")
        if self.kind in ("reference", "accept"):
            full = result.verdict is Verdict.CORRECT and result.score >= result.max_score - 1e-9
            if not full:
                return self._finding(False, f"{self._what()} should get full credit, {got}")
            if self.kind == "reference" and "form" in result.flags:
                return self._finding(False, f"{self._what()} is not in the asked form: it uses "
                                            "names outside 'in_terms_of'; " + got)
            return self._finding(True, f"{self._what()} gets full credit")
        if self.kind == "reject":
            if result.score >= result.max_score - 1e-9:
                return self._finding(False, f"{self._what()} should not get full credit, {got}")
            return self._finding(True, f"{self._what()} is {result.verdict.value}")
        mistake = part.mistakes[self.index]
        credit = round(part.points * mistake.credit, 6)
        if "known-mistake" not in result.flags or result.feedback != mistake.feedback:
            return self._finding(False, f"{self._what()} never shows its feedback: the answer "
                                        f"{got}")
        if abs(result.score - credit) > 1e-6:
            return self._finding(False, f"{self._what()} should score {credit:g}, {got}")
        return self._finding(True, f"{self._what()} gets its feedback")

    def _what(self) -> str:
        if self.kind == "reference":
            return f"the reference `{self.latex}`"
        if self.kind == "mistake":
            return f"mistake {self.index + 1} (`{self.latex}`)"
        return f"{self.kind} example `{self.latex}`"

    def _finding(self, ok: bool, message: str) -> Finding:
        return Finding(self.part, self.kind, ok, message)


def cases(problem: Problem, part_ids=None) -> list[Case]:
    """Every answer the spec states, part by part: reference, mistakes, accept, reject."""
    out = []
    for part in problem.parts.values():
        if part_ids is not None and part.id not in part_ids:
            continue
        out.append(Case(part.id, "reference", part.reference))
        out.extend(Case(part.id, "mistake", m.answer, n) for n, m in enumerate(part.mistakes))
        out.extend(Case(part.id, "accept", latex, n) for n, latex in enumerate(part.accept))
        out.extend(Case(part.id, "reject", latex, n) for n, latex in enumerate(part.reject))
    return out


def grade_case(problem: Problem, case: Case, pool: GradingPool | None = None) -> Finding:
    """Grade one case through ``grader.api`` (under the time limit) and judge the result."""
    return case.judge(problem, api.grade_answer(problem, case.part, case.latex, pool=pool))


# ------------------------------------------------------------------------ reference checks

def check_reference(problem: Problem, part: Part) -> list[Finding]:
    """The reference on the live network: finite, not circular, equal to ``asks`` both ways."""
    checker = checker_for(problem, part)
    findings = [_finite(checker, part), _not_circular(problem, part), _equals_asks(checker, part)]
    findings.extend(_mistakes_differ(checker, part))
    return findings


def _finite(checker: PartChecker, part: Part) -> Finding:
    try:
        values = checker.values(part.reference_expr)
    except EvaluationError as err:
        return Finding(part.id, "reference", False,
                       f"the reference `{part.reference}` cannot be evaluated on the network "
                       f"({err})")
    bad = [n for n, v in enumerate(values)
           if not np.all(np.isfinite(np.asarray(v.array, dtype=float)))]
    if bad:
        where = ", ".join(checker.activations[n] for n in bad)
        return Finding(part.id, "reference", False,
                       f"the reference `{part.reference}` has no finite value on some networks "
                       f"(g = {where})")
    return Finding(part.id, "reference", True,
                   f"finite on all {len(values)} networks")


def _not_circular(problem: Problem, part: Part) -> Finding:
    if restates_question(part.reference_expr, problem, part):
        return Finding(part.id, "reference", False,
                       f"the reference `{part.reference}` is circular: it contains the asked "
                       f"quantity `{part.asks}`")
    return Finding(part.id, "reference", True, "not circular")


def _equals_asks(checker: PartChecker, part: Part) -> Finding:
    """Compare the reference with the value of ``asks`` itself (backprop through the network)."""
    asks, reference = part.asks_expr, part.reference_expr
    try:
        numeric = checker.numeric(reference, asks)
        symbolic = checker.symbolic(reference, asks,
                                    expect_equal=numeric.agreement is Agreement.EQUAL)
    except EvaluationError as err:
        return Finding(part.id, "asks", False,
                       f"cannot compare the reference with `{part.asks}` on the network ({err})")
    if numeric.agreement is Agreement.EQUAL and symbolic:
        return Finding(part.id, "asks", True,
                       f"the reference equals `{part.asks}` numerically and symbolically")
    if numeric.agreement is Agreement.EQUAL:
        return Finding(part.id, "asks", False,
                       f"the reference equals `{part.asks}` numerically, but SymPy cannot prove "
                       "it: right answers would be sent to review (write the reference more "
                       "simply)")
    if symbolic:
        return Finding(part.id, "asks", False,
                       f"the numeric and symbolic checks disagree on whether the reference equals "
                       f"`{part.asks}` ({numeric.agreement.value} numerically)")
    return Finding(part.id, "asks", False,
                   f"the reference `{part.reference}` is not `{part.asks}`: "
                   f"{_difference(numeric)} on the live network")


def _difference(numeric: NumericOutcome) -> str:
    if numeric.agreement is Agreement.NOT_FINITE:
        return "it has no finite value somewhere"
    if numeric.agreement is Agreement.SIGMOID_ONLY:
        return "it is equal only when g is the sigmoid"
    if numeric.ratio is not None and abs(numeric.ratio + 1) < 1e-6:
        return "it has the opposite sign"
    if numeric.ratio is not None and abs(numeric.ratio) > 1e-9:
        return f"it is {numeric.ratio:.4g} times the true value"
    return "it gives other values"


def _mistakes_differ(checker: PartChecker, part: Part) -> list[Finding]:
    """A mistake equal to the reference would never be reached (and would be a wrong spec)."""
    out = []
    wanted = free_indices(part.reference_expr)
    for n, mistake in enumerate(part.mistakes):
        if free_indices(mistake.expr) != wanted:
            continue
        try:
            same = checker.numeric(mistake.expr, part.reference_expr).agreement is Agreement.EQUAL
        except EvaluationError as err:
            out.append(Finding(part.id, "mistake", False,
                               f"mistake {n + 1} (`{mistake.answer}`) cannot be evaluated "
                               f"({err})"))
            continue
        if same:
            out.append(Finding(part.id, "mistake", False,
                               f"mistake {n + 1} (`{mistake.answer}`) equals the reference on "
                               "the live network: it is not a mistake"))
    return out


# ------------------------------------------------------------------------ the whole spec

@dataclass
class PartReport:
    part: str
    points: float
    asks: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def count(self, check: str) -> tuple[int, int]:
        """(passed, total) of one kind of check."""
        found = [f for f in self.findings if f.check == check]
        return sum(f.ok for f in found), len(found)


@dataclass
class SpecReport:
    problem: str
    title: str
    path: str
    points: float
    parts: list[PartReport]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.parts)

    @property
    def failures(self) -> list[Finding]:
        return [f for p in self.parts for f in p.failures]

    def render(self, verbose: bool = False) -> str:
        """A readable per-part report; every failure on its own line, naming the part."""
        lines = [f"{self.problem}: {self.title} ({_short(self.path)}), "
                 f"{self.points:g} points in {len(self.parts)} parts"]
        for part in self.parts:
            mark = "ok  " if part.ok else "FAIL"
            lines.append(f"  {mark} part {part.part} ({part.points:g} pt) asks {part.asks}: "
                         + ", ".join(self._summary(part)))
            for finding in part.findings if verbose else part.failures:
                lines.append(f"         {'ok' if finding.ok else 'X '} {finding.check}: "
                             f"{finding.message}")
        examples = sum(p.count(k)[1] for p in self.parts for k in ("accept", "reject"))
        if self.ok:
            lines.append(f"{self.problem}: OK ({len(self.parts)} parts, {examples} examples "
                         f"checked in {self.seconds:.1f} s)")
        else:
            failed = [p.part for p in self.parts if not p.ok]
            lines.append(f"{self.problem}: FAILED: {len(self.failures)} "
                         f"problem{'s' * (len(self.failures) != 1)} in part"
                         f"{'s' * (len(failed) != 1)} {', '.join(failed)}")
        return "\n".join(lines)

    @staticmethod
    def _summary(part: PartReport) -> list[str]:
        out = []
        reference_ok = all(f.ok for f in part.findings if f.check in ("reference", "asks"))
        out.append("reference verified" if reference_ok else "reference FAILED")
        for kind, label in (("mistake", "mistakes"), ("accept", "accept"),
                            ("reject", "reject")):
            passed, total = part.count(kind)
            if total:
                out.append(f"{label} {passed}/{total}")
        return out


def check_problem(problem: Problem | str | Path, *,
                  pool: GradingPool | None = None) -> SpecReport:
    """Load and verify a spec: references on the live network, every example graded for real.

    Raises ``SpecError`` (file, key, line) or ``ProblemNotFound`` when the spec does not load.
    Grading goes through ``pool`` (default: ``grader.api``'s shared pool).
    """
    started = time.perf_counter()
    problem = problem if isinstance(problem, Problem) else load_problem(problem)
    reports = {pid: PartReport(pid, part.points, part.asks)
               for pid, part in problem.parts.items()}
    for part in problem.parts.values():
        reports[part.id].findings.extend(check_reference(problem, part))
    todo = cases(problem)
    pool = pool or api.shared_pool()
    results = pool.map([api.job_for(problem, c.part, c.latex) for c in todo])
    for case, result in zip(todo, results):
        reports[case.part].findings.append(case.judge(problem, result))
    return SpecReport(problem.id, problem.title, problem.path, problem.points,
                      list(reports.values()), time.perf_counter() - started)


def _got(result: PartResult) -> str:
    text = f"got {result.verdict.value} ({result.score:g}/{result.max_score:g})"
    if result.interpreted:
        text += f", read as {result.interpreted}"
    if result.feedback:
        text += f": {result.feedback}"
    return text


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


__all__ = ["Case", "Finding", "PartReport", "SpecReport", "cases", "check_problem",
           "check_reference", "grade_case"]
