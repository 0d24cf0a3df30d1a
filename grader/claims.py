r"""The claim an answer makes about the asked quantity, read from the whole answer box.

A TA grades what the student asserts for the asked quantity, not "the last right-hand side":

- a side that holds the asked quantity (or its named signal), times a sign or a constant and,
  in a two-sided equation, plus terms without it, is solved for it:
  ``-\frac{\partial E}{\partial w_{jk}} = \delta_k b_j`` asserts dE/dw_jk = -\delta_k b_j,
  ``\frac{\partial (E/2)}{\partial w_{jk}} = ...`` asserts twice the right side,
  ``\frac{\partial E}{\partial f_k} - \delta_k = 0`` asserts dE/df_k = \delta_k; either
  orientation counts (``value = \delta_k``);
- in a chain ``A = B = C`` the value is the last side that is not the asked quantity, preferring
  one with no derivative left unevaluated (``asked = \delta_k b_j = \frac{\partial E}{\partial
  h_k}\frac{\partial h_k}{\partial w_{jk}}`` answers \delta_k b_j and justifies it);
- the other statements of the box ("where \delta_k = ...", "since ...", a second part answered
  in the same box) are side claims: checked like steps, never graded as the answer; statements
  the student turned down ("..., not X") are ignored.

Which statement is the claim, in order of preference: the last one of the main line that states
the asked quantity's value (preferring a worked-out value); else the last plain expression of
the main line; else the last side claim that states it; else the last side of the last
equation, which is then *unanchored*: its left side must equal that value (``grader.grading``
checks), and a side that does not read makes the whole answer unreadable, since it may be the
asked quantity with a sign the grader cannot see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

from .check import derivative_key, unevaluated_derivatives
from .errors import AnswerError, IndexMismatch
from .expr import (
    Add,
    Deriv,
    Div,
    Expr,
    Kronecker,
    Mul,
    Neg,
    Num,
    Ref,
    Var,
    free_indices,
    to_latex,
)
from .layout import MAIN, SIDE
from .problem import Part, Problem
from .reader import Reading


@dataclass(frozen=True)
class Claim:
    """What an answer asserts for the asked quantity.

    ``value`` is the asserted value (None when it does not read: then ``error`` says why);
    ``reading`` is the statement it comes from, whose sides are the derivation's steps;
    ``side_claims`` are the other equations, to be checked; ``other_parts`` maps the index of
    a side claim (in ``side_claims``) to the part it answers; ``note`` says how an equation
    was solved for the asked quantity, when it was not written ``asked = value``.
    ``unanchored`` is the left side of an equation that does not name the asked quantity
    (the value must equal it); ``alternatives`` are other values the main line offers for the
    asked quantity ("X or Y"); ``known`` maps derivatives the answer works out elsewhere to
    their values (``\\frac{\\partial E}{\\partial c_k} = c_k - t_k``). ``conditions`` maps the
    index of a side claim to the condition on its indices that follows it ("for l \\ne k"), as
    a factor that is 1 where the condition holds: the claim is checked only there.
    """

    value: Expr | None
    error: AnswerError | IndexMismatch | None = None
    reading: Reading | None = None
    note: str = ""
    side_claims: tuple[Reading, ...] = ()
    other_parts: dict[int, str] = field(default_factory=dict)
    unanchored: Expr | None = None
    alternatives: tuple[Expr, ...] = ()
    known: dict[Expr, Expr] = field(default_factory=dict)
    conditions: dict[int, Expr] = field(default_factory=dict)


class _Asked:
    """Recognises one part's asked quantity in any notation (``\\delta_k`` or dE/dh_k)."""

    def __init__(self, problem: Problem, part: Part):
        self.problem, self.part = problem, part
        self.key = derivative_key(part.asks_expr, problem, part)
        self.expr = part.asks_expr

    def is_it(self, node: Expr) -> bool:
        if node == self.expr:
            return True
        return self.key is not None and derivative_key(node, self.problem, self.part) == self.key

    def scaled(self, node: Expr) -> Fraction | None:
        """c when ``node`` is the asked derivative of c times its function: d(-E)/dw, d(E/2)/dw."""
        if not isinstance(node, Deriv):
            return None
        factor, inner = _constant_times(node.of)
        if factor is None or factor == 1 or factor == 0:
            return None
        return factor if self.is_it(Deriv(inner, node.wrt, node.partial)) else None

    def contains(self, expr: Expr) -> bool:
        return any(self.is_it(node) or self.scaled(node) is not None for node in expr.walk())

    def linear(self, expr: Expr) -> tuple[Fraction, Expr | None] | None:
        """(c, r) when ``expr`` is c * asked + r with c a nonzero number and r free of it."""
        if self.is_it(expr):
            return Fraction(1), None
        scaled = self.scaled(expr)
        if scaled is not None:
            return scaled, None
        if not self.contains(expr):
            return None
        if isinstance(expr, Neg):
            inner = self.linear(expr.arg)
            return None if inner is None else (-inner[0], _maybe_negated(inner[1]))
        if isinstance(expr, Add):
            coefficient, rest = Fraction(0), []
            for term in expr.terms:
                if not self.contains(term):
                    rest.append(term)
                    continue
                inner = self.linear(term)
                if inner is None:
                    return None
                coefficient += inner[0]
                if inner[1] is not None:
                    rest.append(inner[1])
            if coefficient == 0:
                return None
            return coefficient, (None if not rest else rest[0] if len(rest) == 1
                                 else Add(tuple(rest)))
        if isinstance(expr, Mul):
            holding = [f for f in expr.factors if self.contains(f)]
            constants = [f for f in expr.factors if isinstance(f, Num)]
            if len(holding) != 1 or len(holding) + len(constants) != len(expr.factors):
                return None
            inner = self.linear(holding[0])
            if inner is None:
                return None
            scale = Fraction(1)
            for f in constants:
                scale *= f.value
            if scale == 0:
                return None
            scaled_rest = None if inner[1] is None else Mul((Num(scale), inner[1]))
            return inner[0] * scale, scaled_rest
        if isinstance(expr, Div) and isinstance(expr.den, Num) and expr.den.value != 0:
            inner = self.linear(expr.num)
            if inner is None:
                return None
            divided_rest = None if inner[1] is None else Div(inner[1], expr.den)
            return inner[0] / expr.den.value, divided_rest
        return None


def _constant_times(expr: Expr) -> tuple[Fraction | None, Expr]:
    """(c, x) for ``expr`` = c * x with c a number: ``-E`` is (-1, E), ``E/2`` is (1/2, E)."""
    if isinstance(expr, Neg):
        factor, inner = _constant_times(expr.arg)
        return (None, expr) if factor is None else (-factor, inner)
    if isinstance(expr, Div) and isinstance(expr.den, Num) and expr.den.value != 0:
        factor, inner = _constant_times(expr.num)
        return (None, expr) if factor is None else (factor / expr.den.value, inner)
    if isinstance(expr, Mul):
        numbers = [f for f in expr.factors if isinstance(f, Num)]
        rest = [f for f in expr.factors if not isinstance(f, Num)]
        if numbers and len(rest) == 1:
            factor, inner = _constant_times(rest[0])
            if factor is None:
                return None, expr
            for number in numbers:
                factor *= number.value
            return factor, inner
    return Fraction(1), expr


def _negated(expr: Expr) -> Expr:
    return expr.arg if isinstance(expr, Neg) else Neg(expr)


def _maybe_negated(expr: Expr | None) -> Expr | None:
    return None if expr is None else _negated(expr)


def _solved(value: Expr, coefficient: Fraction, rest: Expr | None) -> Expr:
    """``(value - rest) / coefficient``, written plainly."""
    if rest is not None:
        if isinstance(value, Num) and value.value == 0:
            value = _negated(rest)
        else:
            value = Add((value, _negated(rest)))
    if coefficient == 1:
        return value
    if coefficient == -1:
        return Num(-value.value) if isinstance(value, Num) else _negated(value)
    if coefficient.denominator == 1:
        return Div(value, Num(coefficient))
    return Mul((Num(1 / coefficient), value))


@dataclass(frozen=True)
class _Found:
    """A statement that states the asked quantity's value: which side, solved how."""

    index: int
    value_side: int
    coefficient: Fraction
    rest: Expr | None
    worked_out: bool


def _states_value(reading: Reading, asked: _Asked, index: int,
                  problem: Problem) -> _Found | None:
    """Where ``reading`` solves for the asked quantity, and with which of its other sides."""
    if not reading.is_equation:
        return None
    forms = [None if line.expr is None else asked.linear(line.expr) for line in reading.lines]
    if len(forms) > 2:  # in a chain only c * asked is the asked side; "asked + x" is a value
        forms = [f if f is None or f[1] is None else None for f in forms]
    holding = [n for n, form in enumerate(forms) if form is not None]
    values = [n for n, form in enumerate(forms) if form is None]  # unreadable sides included
    if not holding or not values:
        return None
    worked = [n for n in values if _worked_out(reading.lines[n].expr, problem)]
    value_side = (worked or values)[-1] if reading.lines[values[-1]].expr is not None \
        else values[-1]
    before = [n for n in holding if n < value_side]
    used = before[-1] if before else holding[0]
    form = forms[used]
    assert form is not None  # used is one of the sides that hold the asked quantity
    return _Found(index, value_side, form[0], form[1], value_side in worked)


def _worked_out(value: Expr | None, problem: Problem) -> bool:
    """Whether a value leaves no derivative unevaluated (a finished answer)."""
    return value is not None and not unevaluated_derivatives(value, problem)


def _is_range_remark(reading: Reading) -> bool:
    """``j = 1, \\dots, J`` and ``\\forall k``: an index range, not a claim."""
    first = reading.lines[0]
    text = first.latex.strip().strip("(").strip()
    return len(text) <= 3 and text[:1].isalpha() and text[:1].islower() and (
        first.expr is None or isinstance(first.expr, Var))


def claim_for(readings: list[Reading], problem: Problem, part: Part) -> Claim:
    """The claim an answer (its statements, read) makes about ``part``'s asked quantity."""
    asked = _Asked(problem, part)
    main = [n for n, r in enumerate(readings) if r.role == MAIN]
    side = [n for n, r in enumerate(readings) if r.role == SIDE]
    bare = [n for n in main if len(readings[n].lines) == 1 and not readings[n].relation
            and not _is_range_remark(readings[n])]

    chosen, solved, unanchored = None, None, None
    stating_main = [f for n in main if (f := _states_value(readings[n], asked, n, problem))]
    if stating_main:  # the last statement of its value, preferring one that is worked out
        solved = ([f for f in stating_main if f.worked_out] or stating_main)[-1]
        chosen = solved.index
    elif bare:
        chosen = bare[-1]
    else:
        stating_side = [f for n in side if (f := _states_value(readings[n], asked, n, problem))]
        if stating_side:
            solved = ([f for f in stating_side if f.worked_out] or stating_side)[-1]
            chosen = solved.index
    if chosen is None:
        equations = [n for n in main if readings[n].is_equation] or \
            [n for n in side if readings[n].is_equation and not _is_range_remark(readings[n])]
        if equations:
            chosen = equations[-1]
            unanchored = readings[chosen]
        elif main:
            chosen = main[-1]
        elif side:
            chosen = side[-1]
        else:
            return Claim(None, AnswerError("the answer states nothing but what it turns down"))

    reading = readings[chosen]
    others = tuple(r for n, r in enumerate(readings) if n != chosen and r.is_equation
                   and r.role != "rejected" and not _is_range_remark(r))
    other_parts = {}
    for n, other in enumerate(others):
        for pid, candidate in problem.parts.items():
            if pid != part.id and _states_value(other, _Asked(problem, candidate), 0, problem):
                other_parts[n] = pid
                break
    conditions = {}
    for n, other in enumerate(others):
        at = readings.index(other)
        if at + 1 < len(readings):
            condition = _index_condition(readings[at + 1], part)
            if condition is not None:
                conditions[n] = condition
    context = Claim(None, reading=reading, side_claims=others, other_parts=other_parts,
                    known=_known_derivatives(readings, chosen, problem), conditions=conditions)

    if reading.relation:
        return replace(context, error=AnswerError(
            f"your answer states a relation ({reading.relation}), not a value"))
    if unanchored is not None and reading.lines[0].expr is None:
        # the left side may be the asked quantity with a sign the grader cannot see
        return replace(context, error=reading.lines[0].error)
    line = reading.lines[solved.value_side] if solved else reading.lines[-1]
    if line.expr is None:
        return replace(context, error=line.error)
    value, note = line.expr, ""
    if solved is not None:
        value = _solved(line.expr, solved.coefficient, solved.rest)
        if solved.coefficient != 1 or solved.rest is not None:
            note = (f"Read your equation as {part.asks} = {to_latex(value)} (solved for the "
                    "asked quantity).")
    alternatives = _alternatives(readings, chosen, asked, problem, part, value)
    return replace(context, value=value, note=note, alternatives=alternatives,
                   unanchored=unanchored.lines[0].expr if unanchored is not None else None)


def _index_condition(reading: Reading, part: Part) -> Expr | None:
    """``l \\ne k`` after a claim ("for $l \\neq k$"): 1 - \\delta_{lk}, else None."""
    if reading.relation not in ("\\ne", "\\neq") or len(reading.lines) != 2:
        return None
    letters = [line.latex.strip().strip("$") for line in reading.lines]
    ranges = part.vocabulary.ranges
    if not all(re.fullmatch(r"[a-z]", letter) and letter in ranges for letter in letters) \
            or letters[0] == letters[1] or ranges[letters[0]] != ranges[letters[1]]:
        return None
    return Add((Num(Fraction(1)), Neg(Kronecker(letters[0], letters[1], letters[0]))))


def _alternatives(readings, chosen, asked, problem, part, value) -> tuple[Expr, ...]:
    """Other finished values the main line offers for the asked quantity ("X or Y").

    Only where the student hedges in words ("or", "maybe", "but"): a document's prose mentions
    other symbols ("depends on $c_k$") that are no answer.
    """
    if not any(r.hedged and r.role == MAIN for r in readings):
        return ()
    found = []
    for n, reading in enumerate(readings):
        if n == chosen or reading.role != MAIN:
            continue
        if len(reading.lines) == 1 and not reading.relation:
            other = reading.lines[0].expr
        else:
            stated = _states_value(reading, asked, n, problem)
            if stated is None or not stated.worked_out:
                continue
            line = reading.lines[stated.value_side]
            other = None if line.expr is None else _solved(line.expr, stated.coefficient,
                                                           stated.rest)
        if other is not None and other != value and free_indices(other) == part.free \
                and _worked_out(other, problem) and not asked.contains(other):
            found.append(other)
    return tuple(found)


def _known_derivatives(readings, chosen, problem) -> dict[Expr, Expr]:
    """Derivatives other statements work out: ``\\frac{\\partial E}{\\partial c_k} = c_k - t_k``,
    and signals they write out: ``\\delta_1 = (W_2^\\top \\delta_2) \\odot \\mathbb{1}[z > 0]``."""
    known: dict[Expr, Expr] = {}
    for n, reading in enumerate(readings):
        if n == chosen or not reading.is_equation or reading.role == "rejected":
            continue
        exprs = [line.expr for line in reading.lines if line.expr is not None]
        derivatives = [e for e in exprs if isinstance(e, Deriv) or (
            isinstance(e, Ref) and problem.network.is_signal(e.name))]  # \delta_1 = ...
        finished = [e for e in exprs if _worked_out(e, problem)]
        if derivatives and finished:
            for derivative in derivatives:
                known.setdefault(derivative, finished[-1])
    return known
