"""Check a derivation line by line and say where it goes wrong.

The lines of a chain ``lhs = step_1 = ... = answer`` are each read on their own. The first is
``given``; every later line is compared with the last line that checked out (the one before it,
unless that one was wrong or could not be checked), on the live network and with SymPy:

- ``valid``: equal there, by both checks;
- ``invalid``: the values differ, and the message gives both lines' values on one network;
- ``unverified``: the line cannot be checked, with the reason (it does not read, it uses an
  index both free and summed, its free indices differ from the line it follows, the checks
  disagree, or it uses notation the grader cannot evaluate).

Sloppiness a reader can resolve is never ``invalid``: a derivative operator followed by
``+ f_k`` is also tried as applying to the whole rest of the line, and index reuse
(``\\frac{\\partial}{\\partial h_k} \\sum_k ...``) is ``unverified``.
"""

from __future__ import annotations

from .check import Agreement, PartChecker
from .errors import EvaluationError, IndexMismatch
from .expr import Expr, Mul, Sum, free_indices, shadowed_indices
from .problem import Part
from .reader import Line, read_expression
from .results import Step

VALID, INVALID, UNVERIFIED, GIVEN = "valid", "invalid", "unverified", "given"


def check_steps(part: Part, checker: PartChecker, lines: list[Line],
                condition: Expr | None = None) -> list[Step]:
    """A status for every line of a derivation (the empty list for a single expression).

    ``condition`` restricts the check to where the indices satisfy it ("for l \\ne k"): a
    factor that is 1 there and 0 elsewhere, multiplied into every line that has its indices.
    """
    if len(lines) < 2:
        return []
    if condition is not None:
        lines = [_restricted(line, condition) for line in lines]
    first = lines[0]
    steps = [Step(first.latex.strip(), GIVEN, "" if first.expr is not None
                  else f"could not read this line: {first.error}")]
    anchor = 0 if _checkable(first.expr) else None
    for n, line in enumerate(lines[1:], start=1):
        status, message, reading = _check_line(part, checker, lines, anchor, line)
        steps.append(Step(line.latex.strip(), status, message))
        if status == VALID:
            lines[n] = Line(line.latex, line.offset, reading)
            anchor = n
    return steps


def _restricted(line: Line, condition: Expr) -> Line:
    if line.expr is None or not free_indices(condition) <= free_indices(line.expr):
        return line
    return Line(line.latex, line.offset, Mul((line.expr, condition)), line.error, line.source)


def _checkable(expr: Expr | None) -> bool:
    return expr is not None and not shadowed_indices(expr)


def _check_line(part: Part, checker: PartChecker, lines: list[Line], anchor: int | None,
                line: Line) -> tuple[str, str, Expr | None]:
    if line.expr is None:
        kind = "uses a wrong index" if isinstance(line.error, IndexMismatch) else "does not read"
        return UNVERIFIED, f"this line {kind}: {line.error}", None
    shadowed = shadowed_indices(line.expr)
    if shadowed:
        letters = ", ".join(sorted(shadowed))
        return (UNVERIFIED, f"the index {letters} is used both free and summed on this line, "
                "so it has no single meaning to check", None)
    if anchor is None:
        return UNVERIFIED, "no earlier line could be checked to compare this one with", None
    before = lines[anchor].expr
    assert before is not None  # an anchor is a line that read
    label = f"line {anchor + 1}"
    if free_indices(line.expr) != free_indices(before):
        summed = {node.index for node in line.expr.walk() if isinstance(node, Sum)}
        reused = sorted((free_indices(before) - free_indices(line.expr)) & summed)
        if reused:
            return (UNVERIFIED, f"the index {', '.join(reused)} is free on {label} but summed "
                    "here (the same letter used twice), so the two cannot be compared", None)
        return (UNVERIFIED, f"the free indices change from {_letters(free_indices(before))} on "
                f"{label} to {_letters(free_indices(line.expr))} here", None)
    try:
        outcome = checker.numeric(line.expr, before)
        settled = None if outcome.agreement is Agreement.EQUAL \
            else checker.recheck(line.expr, before)
        if outcome.agreement is Agreement.EQUAL or settled is Agreement.EQUAL:
            if checker.symbolic(line.expr, before):
                return VALID, "", line.expr
            return (UNVERIFIED, f"equal to {label} on the network, but the symbolic proof did "
                    "not go through", None)
        wide = _wide_reading(part, line)
        if wide is not None and checker.numeric(wide, before).agreement is Agreement.EQUAL \
                and checker.symbolic(wide, before):
            return (VALID, "read with the derivative applying to everything after it on "
                    "the line", wide)
        if settled is not Agreement.DIFFERENT \
                and checker.symbolic(line.expr, before, expect_equal=False):
            return UNVERIFIED, f"the numeric and symbolic checks disagree about {label}", None
        return INVALID, f"does not follow from {label}: " + _difference(checker, before,
                                                                        line.expr), None
    except EvaluationError as err:
        return UNVERIFIED, f"the grader cannot evaluate this line ({err})", None


def _wide_reading(part: Part, line: Line) -> Expr | None:
    try:
        wide = read_expression(line.latex, part.vocabulary, wide_operators=True)
    except Exception:  # the strict reading worked, so this one reads too; be safe anyway
        return None
    return wide if wide != line.expr else None


def _letters(indices) -> str:
    return "{" + ", ".join(sorted(indices)) + "}" if indices else "none"


def _difference(checker: PartChecker, before: Expr, after: Expr) -> str:
    """Both lines' values at the first place they differ, in words."""
    found = checker.first_difference(before, after)
    if found is None:
        return "the two lines have different values"
    activation, where, old, new = found
    at = ", ".join(f"{axis}={value}" for axis, value in where.items())
    network = f"a network with g = {activation}" + (f", at {at}" if at else "")
    return f"on {network} the line before is {old:.6g} and this one is {new:.6g}"
