r"""The claim an answer makes about the asked quantity, read from the whole answer box.

A TA grades what the student asserts for the asked quantity, not "the last right-hand side":

- a side that holds the asked quantity (or its named signal), times a sign or a constant and
  plus terms without it, is solved for it: ``-\frac{\partial E}{\partial w_{jk}} = \delta_k b_j``
  asserts dE/dw_jk = -\delta_k b_j, ``\frac{\partial E}{\partial f_k} - \delta_k = 0`` asserts
  dE/df_k = \delta_k; either orientation counts (``value = \delta_k``);
- in a chain ``A = B = C`` the value is the last side that is not the asked quantity;
- the other statements of the box ("where \delta_k = ...", "since ...", a second part answered
  in the same box) are side claims: checked like steps, never graded as the answer.

Which statement is the claim, in order of preference: the last one of the main line that states
the asked quantity's value; else the last plain expression of the main line; else the last side
claim that states its value; else the last side of the last equation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .check import derivative_key, unevaluated_derivatives
from .errors import AnswerError, IndexMismatch
from .expr import Add, Deriv, Div, Expr, Mul, Neg, Num, Var, to_latex
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
    """

    value: Expr | None
    error: AnswerError | IndexMismatch | None = None
    reading: Reading | None = None
    note: str = ""
    side_claims: tuple[Reading, ...] = ()
    other_parts: dict[int, str] = field(default_factory=dict)


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
        """c when ``node`` is the asked derivative of c times its function: d(-E)/dw."""
        if not isinstance(node, Deriv):
            return None
        factor, inner = _constant_times(node.of)
        if factor is None or factor == 1:
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
            return None if inner is None else (-inner[0], _negated(inner[1]))
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
            constants = [f for f in expr.factors if not self.contains(f)]
            if len(holding) != 1 or not all(isinstance(f, Num) for f in constants):
                return None
            inner = self.linear(holding[0])
            if inner is None:
                return None
            scale = Fraction(1)
            for f in constants:
                scale *= f.value
            if scale == 0:
                return None
            rest = None if inner[1] is None else Mul((Num(scale), inner[1]))
            return inner[0] * scale, rest
        if isinstance(expr, Div) and isinstance(expr.den, Num) and expr.den.value != 0:
            inner = self.linear(expr.num)
            if inner is None:
                return None
            rest = None if inner[1] is None else Div(inner[1], expr.den)
            return inner[0] / expr.den.value, rest
        return None


def _constant_times(expr: Expr) -> tuple[Fraction | None, Expr]:
    """(c, x) for ``expr`` = c * x with c a number: ``-E`` is (-1, E), ``2E`` is (2, E)."""
    if isinstance(expr, Neg):
        factor, inner = _constant_times(expr.arg)
        return (None, expr) if factor is None else (-factor, inner)
    if isinstance(expr, Mul) and isinstance(expr.factors[0], Num):
        rest = expr.factors[1:]
        return expr.factors[0].value, rest[0] if len(rest) == 1 else Mul(rest)
    return Fraction(1), expr


def _negated(expr: Expr | None) -> Expr | None:
    if expr is None:
        return None
    return expr.arg if isinstance(expr, Neg) else Neg(expr)


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


def _states_value(reading: Reading, asked: _Asked, index: int) -> _Found | None:
    """Where ``reading`` solves for the asked quantity (the last side that is not it)."""
    if not reading.is_equation:
        return None
    forms = [None if line.expr is None else asked.linear(line.expr) for line in reading.lines]
    if len(forms) > 2:  # in a chain only c * asked is the asked side; "asked + x" is a value
        forms = [f if f is None or f[1] is None else None for f in forms]
    holding = [n for n, form in enumerate(forms) if form is not None]
    values = [n for n, form in enumerate(forms) if form is None]  # unreadable sides included
    if not holding or not values:
        return None
    value_side = values[-1]
    before = [n for n in holding if n < value_side]
    used = before[-1] if before else holding[0]
    coefficient, rest = forms[used]
    return _Found(index, value_side, coefficient, rest)


def _worked_out(reading: Reading, found: _Found, problem: Problem) -> bool:
    """Whether the stated value leaves no derivative unevaluated (a finished answer)."""
    value = reading.lines[found.value_side].expr
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
    main = [n for n, r in enumerate(readings) if not r.side_claim]
    side = [n for n, r in enumerate(readings) if r.side_claim]

    chosen, solved = None, None
    for pool in (main, side):
        stating = [found for n in pool
                   if (found := _states_value(readings[n], asked, n)) is not None]
        if stating:  # the last statement of its value, preferring one that is worked out
            worked = [f for f in stating if _worked_out(readings[f.index], f, problem)]
            solved = (worked or stating)[-1]
            chosen = solved.index
            break
        if chosen is not None or pool is side:
            break
        bare = [n for n in main if len(readings[n].lines) == 1 and not readings[n].relation]
        if bare:
            chosen = bare[-1]
            break
    if chosen is None:
        equations = [n for n in main if readings[n].is_equation] or \
            [n for n in side if readings[n].is_equation and not _is_range_remark(readings[n])]
        if equations:
            chosen = equations[-1]
        elif main:
            chosen = main[-1]
        else:
            chosen = len(readings) - 1

    reading = readings[chosen]
    others = tuple(r for n, r in enumerate(readings) if n != chosen and r.is_equation
                   and not _is_range_remark(r))
    other_parts = {}
    for n, other in enumerate(others):
        for pid, candidate in problem.parts.items():
            if pid != part.id and _states_value(other, _Asked(problem, candidate), 0):
                other_parts[n] = pid
                break

    if reading.relation:
        return Claim(None, AnswerError(
            f"your answer states a relation ({reading.relation}), not a value"), reading,
            side_claims=others, other_parts=other_parts)
    if solved is None:
        line = reading.lines[-1]
        if line.expr is None:
            return Claim(None, line.error, reading, side_claims=others, other_parts=other_parts)
        return Claim(line.expr, None, reading, side_claims=others, other_parts=other_parts)
    line = reading.lines[solved.value_side]
    if line.expr is None:
        return Claim(None, line.error, reading, side_claims=others, other_parts=other_parts)
    value = _solved(line.expr, solved.coefficient, solved.rest)
    note = ""
    if solved.coefficient != 1 or solved.rest is not None:
        note = (f"Read your equation as {part.asks} = {to_latex(value)} (solved for the asked "
                "quantity).")
    return Claim(value, None, reading, note, others, other_parts)
