"""Grade one answer to one part: read it, check it both ways, decide the verdict and feedback.

The ladder, in order:
1. empty -> ``missing``; unreadable -> ``invalid`` with the position and what is wrong.
2. From a chain ``lhs = ... = rhs`` the last right-hand side is the answer (a left-hand side
   such as ``\\delta_k =`` is understood, not graded); the lines before it are checked step
   by step (``grader.steps``), which leaves the score alone unless the spec sets
   ``step_deduction``.
3. An answer that contains the asked derivative itself is circular: no credit; one that leaves
   another derivative unevaluated (the chain rule written out, not worked out) gets none
   either. A named signal written as its derivative (``\\frac{\\partial E}{\\partial h_k}``
   for \\delta_k) is not left unevaluated.
4. Free indices must be the question's (a missing ``\\sum_k``, ``b_k`` for ``b_j``); in a
   vector-matrix problem the shape must be the asked one, and a product that is not defined
   or a shape that differs is named, with the edit that fixes it when one transpose or one
   swap of factors does (``grader.matrices.repairs``).
5. Numeric check on the live network and symbolic proof with SymPy. Both say equal: full
   credit (``form_credit`` with a note if not in the asked form). They disagree: ``review``.
6. Otherwise: right only for the sigmoid (flagged, ``sigmoid_only_credit``), a known mistake
   (its feedback and credit), a sign or constant factor off, or plainly incorrect.
Feedback never contains the reference answer.
"""

from __future__ import annotations

import time
from dataclasses import replace

from .check import Agreement, PartChecker, restates_question, unevaluated_derivatives
from .claims import Claim, claim_for
from .errors import AnswerError, EvaluationError, IndexMismatch, ShapeMismatch
from .expr import (
    Call,
    Const,
    Deriv,
    Expr,
    MatMul,
    Ref,
    Sum,
    Var,
    free_indices,
    is_concrete,
    map_children,
    name_latex,
    to_latex,
)
from .matrices import Shape, as_entries, repairs, shape_of
from .problem import Part, Problem
from .reader import read_answer
from .results import PartResult, Step, Verdict
from .steps import check_steps

_CHECKERS: dict[tuple[str, str, str], PartChecker] = {}


def checker_for(problem: Problem, part: Part) -> PartChecker:
    """The process-wide checker of a part (built on first use; problem edits make a new one)."""
    key = (problem.path, problem.source_hash, part.id)
    found = _CHECKERS.get(key)
    if found is None:
        found = _CHECKERS[key] = PartChecker(problem, part)
    return found


def grade_answer(problem: Problem, part_id: str, latex: str | None) -> PartResult:
    """Grade ``latex`` as the answer to ``part_id`` of ``problem``."""
    part = problem.part(part_id)
    started = time.perf_counter()
    result = _grade(problem, part, latex)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def _result(part: Part, verdict: Verdict, feedback: str, answer: str, interpreted: str = "",
            credit: float = 0.0, flags=()) -> PartResult:
    return PartResult(part=part.id, score=round(part.points * credit, 6), max_score=part.points,
                      verdict=verdict, feedback=feedback, answer=answer,
                      interpreted=interpreted, flags=list(flags))


def _grade(problem: Problem, part: Part, latex: str | None) -> PartResult:
    text = latex or ""
    if not text.strip():
        return PartResult.missing(part.id, part.points, text)
    try:
        readings = read_answer(text, part.vocabulary)
    except AnswerError as error:
        return _result(part, Verdict.INVALID, f"Could not read your answer: {error}.", text)
    claim = claim_for(readings, problem, part)
    if claim.error is not None:
        if isinstance(claim.error, IndexMismatch):
            return _result(part, Verdict.INCORRECT, f"Wrong index: {claim.error}", text)
        return _result(part, Verdict.INVALID, f"Could not read your answer: {claim.error}.",
                       text)

    answer, note = claim.value, claim.note
    assert answer is not None  # a claim without a value carries its error
    checker = checker_for(problem, part)
    pending = unevaluated_derivatives(answer, problem)
    # a signal the question asks to write out, which the answer writes out elsewhere
    signals = [node for node in dict.fromkeys(answer.walk()) if isinstance(node, Ref)
               and problem.network.is_signal(node.name) and part.in_terms_of
               and node.name not in part.in_terms_of and node in claim.known]
    used = [d for d in pending if d in claim.known] + signals
    if used:  # the answer works these out in another statement: use what it says
        answer = _with_known(answer, claim.known)
        pending = unevaluated_derivatives(answer, problem)
        note = " ".join(filter(None, [note, "Used your own value"
                                       + (f"s of {', '.join(to_latex(d) for d in used)}"
                                          if len(used) > 1 else f" of {to_latex(used[0])}")
                                       + " from the rest of your answer."]))
    dims = problem.network.dims
    if dims is not None and part.index_answers:  # (p_c - y_c) h_j for a C x H gradient
        asked = shape_of(part.asks_expr, dims)
        answer = as_entries(answer, asked, dims) or answer
        if claim.unanchored is not None:  # \frac{\partial L}{\partial (W_2)_{cj}} = ...
            claim = replace(claim, unanchored=as_entries(claim.unanchored, asked, dims)
                            or claim.unanchored)
    interpreted = to_latex(answer)
    units = sorted({to_latex(node) for node in answer.walk() if isinstance(node, Ref)
                    and any(is_concrete(i) for i in node.indices)})
    if any(isinstance(node, Sum) and node.lower for node in answer.walk()):
        units = []  # e_1 + \sum_{n=2}^{M} e_n: a boundary split off a sum, any size checked
    if restates_question(answer, problem, part):
        result = _result(part, Verdict.INCORRECT,
                         "Circular: your answer restates the quantity the question asks for "
                         f"({part.asks}) instead of computing it.", text, interpreted,
                         flags=["circular"])
    elif pending:
        result = _result(part, Verdict.INCORRECT,
                         f"Your answer leaves the derivative {to_latex(pending[0])} unevaluated: "
                         "the question asks you to work it out.", text, interpreted,
                         flags=["unevaluated"])
    elif units:
        result = _result(part, Verdict.INCORRECT,
                         f"Your answer names single units ({', '.join(units)}), but the "
                         "question is about networks of any size: sum over every unit (for "
                         "example with \\sum_k) instead of writing some terms out.", text,
                         interpreted, flags=["units"])
    elif (shaped := _shape_feedback(problem, part, checker, answer, text,
                                    interpreted)) is not None:
        result = shaped
    else:
        try:
            result = (_false_equation(part, checker, claim, answer, text, interpreted)
                      or _verdict(part, checker, answer, text, interpreted, note))
            result.fingerprint = checker.fingerprint(answer)
            _hedged(part, checker, claim, answer, result)
        except EvaluationError as err:
            result = _result(part, Verdict.REVIEW, f"The grader cannot evaluate this reading "
                             f"({err}); a TA will review it.", text, interpreted,
                             flags=["unevaluable"])
    if note and result.verdict is not Verdict.CORRECT and note not in result.feedback:
        result.feedback = f"{result.feedback} {note}"
    counted = _claim_steps(part, checker, claim, result)
    _deduct_for_steps(part, result, counted)
    return result


def _with_known(expr: Expr, known: dict[Expr, Expr]) -> Expr:
    """``expr`` with the derivatives the answer works out elsewhere replaced by their values."""
    if expr in known:
        return known[expr]
    return map_children(expr, lambda child: _with_known(child, known))


def _differs(checker: PartChecker, one: Expr, other: Expr) -> bool:
    """Whether two expressions are shown different on the network (free indices included)."""
    if free_indices(one) != free_indices(other):
        return True
    if checker.numeric(one, other).agreement is Agreement.EQUAL:
        return False
    return checker.recheck(one, other) is not Agreement.EQUAL


def _false_equation(part: Part, checker: PartChecker, claim: Claim, answer: Expr, text: str,
                    interpreted: str) -> PartResult | None:
    """An equation that does not name the asked quantity must at least be true.

    ``\frac{\\partial E}{\\partial b_j} = \\delta_k b_j`` for (c) states something false: its
    right side is no claim about dE/dw_jk, so it earns nothing.
    """
    left = claim.unanchored
    if left is None:
        return None
    try:
        if not _differs(checker, answer, left):
            return None
    except ShapeMismatch:  # \frac{\partial L}{\partial s}\frac{\partial s}{\partial b}: the
        return None       # chain rule in the other layout's order; the step says so
    return _result(part, Verdict.INCORRECT,
                   f"Your equation does not hold: {to_latex(left)} is not equal to "
                   f"{interpreted}, and its left side is not {part.asks}, so it answers "
                   "another question.", text, interpreted, flags=["false-equation"])


def _hedged(part: Part, checker: PartChecker, claim: Claim, answer: Expr,
            result: PartResult) -> None:
    """Two different values offered for the asked quantity ("X or Y") earn nothing."""
    if result.score <= 0:
        return
    offered = [other for other in claim.alternatives if _differs(checker, other, answer)]
    if not offered:
        return
    result.score, result.verdict = 0.0, Verdict.INCORRECT
    result.flags.append("ambiguous")
    result.feedback = (f"Your answer offers more than one value ({to_latex(offered[0])} and "
                       f"{result.interpreted}): say which one you mean, and write the others as "
                       "remarks (\\text{where ...}) or leave them out.")


def _claim_steps(part: Part, checker: PartChecker, claim: Claim, result: PartResult) -> int:
    """Check the claim's derivation and every side claim; return the invalid steps that count.

    A side claim that answers another part (two parts in one box) is checked and shown, but
    its mistakes are that part's, so they do not count here.
    """
    steps = check_steps(part, checker, list(claim.reading.lines)) if claim.reading else []
    counted = sum(step.status == "invalid" for step in steps)
    for n, reading in enumerate(claim.side_claims):
        side = check_steps(part, checker, list(reading.lines), claim.conditions.get(n))
        if not side:
            continue
        other = claim.other_parts.get(n)
        label = f"answers part ({other})" if other else "a side claim"
        first = side[0]
        side[0] = Step(first.latex, first.status, "; ".join(filter(None, [label,
                                                                           first.message])))
        if other is None:
            counted += sum(step.status == "invalid" for step in side)
        steps += side
    result.steps = steps
    return counted


def _deduct_for_steps(part: Part, result: PartResult, invalid: int) -> None:
    """Apply the spec's deduction per invalid step (none unless the spec sets one)."""
    if not invalid or part.step_deduction <= 0 or result.score <= 0:
        return
    deduction = min(result.score, invalid * part.step_deduction)
    result.score = round(result.score - deduction, 6)
    result.feedback += (f" {deduction:g} point{'s' * (deduction != 1)} off for "
                        f"{invalid} invalid step{'s' * (invalid != 1)} in the derivation.")
    if result.verdict is Verdict.CORRECT:
        result.verdict = Verdict.PARTIAL


def _verdict(part: Part, checker: PartChecker, answer: Expr, text: str, interpreted: str,
             note: str) -> PartResult:
    """Steps 4-6 of the ladder, for an answer that reads and is not circular."""
    if free_indices(answer) != part.free:
        return _index_feedback(checker, part, answer, text, interpreted)
    numeric = checker.numeric(answer, part.reference_expr)
    settled = None
    if numeric.agreement is not Agreement.EQUAL:  # a counterexample? check it at 100 digits
        settled = checker.recheck(answer, part.reference_expr)
    if numeric.agreement is Agreement.EQUAL or settled is Agreement.EQUAL:
        return _equal(checker, part, answer, text, interpreted, note)
    if settled is not Agreement.DIFFERENT \
            and checker.symbolic(answer, part.reference_expr, expect_equal=False):
        return _result(part, Verdict.REVIEW,
                       "The numeric and symbolic checks disagree about this answer; "
                       "a TA will review it.", text, interpreted, flags=["disagree"])
    if numeric.agreement is Agreement.SIGMOID_ONLY:
        return _sigmoid_only(checker, part, answer, text, interpreted)
    mistake = _known_mistake(checker, part, answer)
    if mistake is not None:
        return _mistake_result(part, mistake, text, interpreted)
    if numeric.agreement is Agreement.NOT_FINITE:
        missing = checker.missing_entry(answer)
        if isinstance(missing, Sum):
            return _result(part, Verdict.INCORRECT,
                           f"The sum over {missing.index} runs past the range of {missing.index}"
                           f" (in ${to_latex(missing)}$), over terms that have no value there.",
                           text, interpreted, flags=["out-of-range"])
        if missing is not None:
            return _result(part, Verdict.INCORRECT,
                           f"${to_latex(missing)}$ does not exist on every network: it reaches "
                           "past the range of its index (a step after the last, a unit beyond "
                           "the end), where the problem gives it no value.", text, interpreted,
                           flags=["out-of-range"])
    return _result(part, Verdict.INCORRECT, _generic_feedback(numeric), text, interpreted)


def _shape_feedback(problem: Problem, part: Part, checker: PartChecker, answer: Expr,
                    text: str, interpreted: str) -> PartResult | None:
    """For a vector-matrix part: feedback on an answer whose shape is not the asked one, naming
    the shapes (None when the shape is right, or in an index-notation problem)."""
    dims = problem.network.dims
    if dims is None:
        return None
    asked = shape_of(part.asks_expr, dims)
    try:
        shape: Shape | None = shape_of(answer, dims)
        problem_text = ""
    except ShapeMismatch as err:
        shape, problem_text = None, str(err)
    if shape == asked:
        return None
    if shape is not None:
        mistake = _known_mistake(checker, part, answer)
        if mistake is not None:
            return _mistake_result(part, mistake, text, interpreted)
        where = (f" (in the {dims.layout} layout a gradient has the shape of what it is taken "
                 "by)" if isinstance(part.asks_expr, Deriv) else "")
        problem_text = (f"your answer is {shape.describe()}, but ${part.asks}$ is "
                        f"{asked.describe()}{where}")
    message = f"Wrong shape: {problem_text}."
    repair = _shape_repair(part, checker, answer, asked, dims)
    if repair:
        message += " " + repair
    return _result(part, Verdict.INCORRECT, message, text, interpreted, flags=["shape"])


def _shape_repair(part: Part, checker: PartChecker, answer: Expr, asked: Shape,
                  dims) -> str:
    """What one transpose or one swap would fix, said without the answer itself."""
    for repair in repairs(answer, dims):
        try:
            if shape_of(repair.fixed, dims) != asked or checker.numeric(
                    repair.fixed, part.reference_expr).agreement is not Agreement.EQUAL:
                continue
        except EvaluationError:
            continue
        shown = f"${to_latex(repair.node)}$"
        if repair.kind == "transposed":
            return "It is the transpose of the right answer."
        if repair.kind == "missing-transpose":
            return (f"A transpose is missing on {shown}, which is "
                    f"{shape_of(repair.node, dims).describe()}; with it the shapes fit and "
                    "the value is right.")
        if repair.kind == "extra-transpose":
            return (f"{shown} is transposed where it should not be: without the transpose "
                    "the shapes fit and the value is right.")
        if repair.kind == "moved-transpose":
            assert isinstance(repair.node, MatMul)
            source, target = (f"${to_latex(f)}$" for f in repair.node.factors)
            return (f"The transpose is on the wrong factor: it belongs on {target}, not on "
                    f"{source}; moved there, the shapes fit and the value is right.")
        return (f"The factors of {shown} are in the wrong order: swapped, the shapes fit "
                "and the value is right.")
    return ""


def _mistake_result(part: Part, mistake, text: str, interpreted: str) -> PartResult:
    verdict = Verdict.PARTIAL if mistake.credit > 0 else Verdict.INCORRECT
    return _result(part, verdict, mistake.feedback, text, interpreted, mistake.credit,
                   flags=["known-mistake"])


def _equal(checker: PartChecker, part: Part, answer: Expr, text: str, interpreted: str,
           note: str) -> PartResult:
    if not checker.symbolic(answer, part.reference_expr, expect_equal=True):
        if checker.recheck(answer, part.reference_expr, everywhere=True) is Agreement.DIFFERENT:
            return _result(part, Verdict.INCORRECT, "Not equal to the asked quantity: your "
                           "expression differs from it by a very small amount, which shows "
                           "when the network is computed to 100 digits.", text, interpreted)
        return _result(part, Verdict.REVIEW,
                       "The numeric check finds your answer right but the symbolic proof did "
                       "not go through; a TA will review it.", text, interpreted,
                       flags=["disagree"])
    notes = [note] if note else []
    credit, flags = 1.0, []
    outside = sorted(_names_used(answer) - part.in_terms_of) if part.in_terms_of else []
    if outside:
        credit = part.form_credit
        flags.append("form")
        notes.append(f"Your answer has the right value, but the question asked for it "
                     f"{part.form or 'in another form'}"
                     f" (you used {', '.join(_show(n) for n in outside)}).")
    verdict = Verdict.CORRECT if credit >= 1.0 else Verdict.PARTIAL
    feedback = " ".join(["Correct." if credit >= 1 else "Right value."] + notes)
    return _result(part, verdict, feedback, text, interpreted, credit, flags)


def _sigmoid_only(checker: PartChecker, part: Part, answer: Expr, text: str,
                  interpreted: str) -> PartResult:
    if not checker.symbolic(answer, part.reference_expr, activation="sigmoid"):
        return _result(part, Verdict.REVIEW, "The checks disagree about whether this answer "
                       "holds for the sigmoid; a TA will review it.", text, interpreted,
                       flags=["disagree"])
    credit = part.sigmoid_only_credit
    return _result(part, Verdict.PARTIAL if credit > 0 else Verdict.INCORRECT,
                   "Right only when g is the sigmoid: the question is about a general "
                   "activation g, so write its derivative as g'(.) rather than through "
                   "the sigmoid's identity.", text, interpreted, credit, flags=["sigmoid-only"])


def _known_mistake(checker: PartChecker, part: Part, answer: Expr):
    have = free_indices(answer)
    for mistake in part.mistakes:
        if free_indices(mistake.expr) != have:
            continue
        if checker.numeric(answer, mistake.expr).agreement is Agreement.EQUAL \
                and checker.symbolic(answer, mistake.expr, expect_equal=True):
            return mistake
    return None


def _index_feedback(checker: PartChecker, part: Part, answer: Expr, text: str,
                    interpreted: str) -> PartResult:
    have, wanted = free_indices(answer), part.free
    mistake = _known_mistake(checker, part, answer)
    if mistake is not None:
        return _mistake_result(part, mistake, text, interpreted)
    extra, missing = sorted(have - wanted), sorted(wanted - have)
    parts = []
    if extra:
        parts.append(f"your answer has the free index {', '.join(extra)}, which the question "
                     "does not have (a sum left out, or the wrong letter?)")
    if missing:
        parts.append(f"your answer does not depend on {', '.join(missing)}, but the asked "
                     "quantity does")
    return _result(part, Verdict.INCORRECT, "Wrong indices: " + "; ".join(parts) + ".", text,
                   interpreted, flags=["index"])


def _generic_feedback(numeric) -> str:
    if numeric.agreement is Agreement.NOT_FINITE:
        return ("Your expression has no finite value on some networks (a division by zero or "
                "a logarithm of a negative number?).")
    if numeric.ratio is not None and abs(numeric.ratio + 1) < 1e-6:
        return "Your answer has the wrong sign."
    if numeric.ratio is not None and abs(numeric.ratio) > 1e-9 \
            and abs(numeric.ratio - 1) > 1e-6:  # equal wherever the value is not 0: no factor
        return (f"Your answer is off by a constant factor ({numeric.ratio:.4g} times the right "
                "value).")
    return ("Not equal to the asked quantity: checked on random networks, your expression gives "
            "other values.")


def _names_used(expr: Expr) -> set[str]:
    """The names an answer is written in (a derivative's inside does not count)."""
    if isinstance(expr, (Ref, Var)):
        return {expr.name}
    if isinstance(expr, Const):
        return {"e" if expr.name == "e" else "pi"}
    if isinstance(expr, Deriv):
        return {"derivative notation"}
    names = {expr.func} if isinstance(expr, Call) else set()
    for child in expr.children():
        names |= _names_used(child)
    return names


def _show(name: str) -> str:
    return name if " " in name else name_latex(name)
