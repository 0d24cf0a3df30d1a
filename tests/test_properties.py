r"""Property-based tests (hypothesis) for the reader and the checks, over many inputs.

- Reading what ``to_latex`` prints gives the same expression back (the "read as" line a student
  sees is itself read the same way).
- Random value-preserving rewrites of every part's reference (commuting, distributing,
  renaming dummies, expanding a signal), printed in random student notation (Unicode, other
  product signs and brackets, delimiters, an equation with the asked quantity on either side,
  spacing), always get full credit.
- Random perturbations of every reference (a flipped sign, a factor dropped or added, an extra
  sum, g for g') never do.
- No text at all, however broken, makes the grader raise: it answers with a verdict.
- The non-smooth functions: ReLU is x H(x) in every backend; every spelling of the step, the
  ReLU and the Kronecker delta gets full credit in a right answer (relu.toml, softmax (i)), and
  a changed argument, sign or factor never does.

Examples are derandomised (the same on every run and in CI); raise ``max_examples`` locally to
search harder.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.expr import (
    Add,
    Call,
    Const,
    Deriv,
    Div,
    Expr,
    Mul,
    Neg,
    Num,
    Pow,
    Ref,
    Sum,
    Var,
    free_indices,
    map_children,
    rename_indices,
    to_latex,
)
from grader.grading import grade_answer
from grader.problem import load_problem
from grader.reader import read_expression
from grader.results import Verdict

PROBLEM = load_problem("backprop")
VOCAB = PROBLEM.part("a").vocabulary  # every network quantity, and the variable x
SETTINGS = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------- expressions

REFS = [Ref(name, tuple(slots)) for name, slots in sorted(VOCAB.quantities.items())]
LEAVES = st.one_of(
    st.sampled_from(REFS),
    st.integers(1, 9).map(lambda n: Num(Fraction(n))),
    st.sampled_from([Var("x"), Const("e"), Const("pi"),
                     Deriv(Ref("E"), Ref("w", ("j", "k"))), Deriv(Ref("h", ("k",)),
                                                                  Ref("b", ("j",)))]),
)


def _calls(inner):
    functions = st.sampled_from(["g", "sigma", "ln", "tanh", "cosh", "sinh", "sech"])
    return st.builds(lambda f, order, arg: Call(f, order if f in ("g", "sigma") else 0, arg),
                     functions, st.integers(0, 2), inner)


EXPRESSIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda t: Add(tuple(t))),
        st.lists(inner, min_size=2, max_size=3).map(lambda t: Mul(tuple(t))),
        inner.map(Neg),
        st.builds(Div, inner, inner),
        st.builds(lambda b, n: Pow(b, Num(Fraction(n))), inner, st.integers(2, 3)),
        _calls(inner),
        st.builds(lambda letter, body: Sum(letter, body, letter), st.sampled_from("ijk"),
                  inner),
    ),
    max_leaves=8,
)


def flat(expr: Expr) -> Expr:
    """The reading's normal form: nested sums and products flattened, every sign in front.

    ``-a \\cdot b`` reads as -(a b), ``(-1) \\cdot a`` as a product with -1: the same
    mathematics, so both sides are brought to one form before they are compared.
    """
    negative, core = _signed(expr)
    return Neg(core) if negative else core


def _signed(expr: Expr) -> tuple[bool, Expr]:
    if isinstance(expr, Neg):
        negative, core = _signed(expr.arg)
        return not negative, core
    if isinstance(expr, Num):
        return expr.value < 0, Num(abs(expr.value))
    if isinstance(expr, Mul):
        negative, factors = False, []
        for factor in expr.factors:
            sign, core = _signed(factor)
            negative ^= sign
            factors.extend(core.factors if isinstance(core, Mul) else (core,))
        return negative, Mul(tuple(factors))
    if isinstance(expr, Div):
        top, num = _signed(expr.num)
        bottom, den = _signed(expr.den)
        if isinstance(num, Num) and isinstance(den, Num):
            return top ^ bottom, Num(num.value / den.value)
        return top ^ bottom, Div(num, den)
    if isinstance(expr, Add):
        terms = []
        for term in map(flat, expr.terms):
            terms.extend(term.terms if isinstance(term, Add) else (term,))
        return False, Add(tuple(terms))
    if isinstance(expr, Pow):
        return False, Pow(flat(expr.base), flat(expr.exp))
    if isinstance(expr, Call):
        return False, Call(expr.func, expr.order, flat(expr.arg))
    if isinstance(expr, Sum):
        return False, Sum(expr.index, flat(expr.body), expr.over)
    return False, expr


@SETTINGS
@given(EXPRESSIONS)
def test_reading_what_to_latex_prints_gives_the_expression_back(expr: Expr) -> None:
    printed = to_latex(expr)
    assert flat(read_expression(printed, VOCAB)) == flat(expr), printed


# ---------------------------------------------------------------------------- student notation

class Notation:
    """One random way of writing: product signs, brackets, Unicode, scripts, primes, sums."""

    def __init__(self, draw):
        self.draw = draw

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def brackets(self, inner: str) -> str:
        left, right = self.pick([("(", ")"), (r"\left(", r"\right)"), ("[", "]"),
                                 (r"\big(", r"\big)"), (r"\left[", r"\right]"),
                                 (r"\Bigl(", r"\Bigr)")])
        return f"{left}{inner}{right}"

    def name(self, name: str) -> str:
        greek = {"delta": [r"\delta ", "δ", "𝛿"], "psi": [r"\psi ", "ψ", "𝜓"],
                 "sigma": [r"\sigma ", "σ", r"\operatorname{sigmoid}"]}
        return self.pick(greek[name]) if name in greek else name

    def indices(self, indices: tuple[str, ...]) -> str:
        if not indices:
            return ""
        unicode = {"i": "ᵢ", "j": "ⱼ", "k": "ₖ"}
        forms = ["_{" + "".join(indices) + "}", "_{" + ",".join(indices) + "}"]
        if len(indices) == 1:
            forms.append("_" + indices[0])
        if all(i in unicode for i in indices):
            forms.append("".join(unicode[i] for i in indices))
        if len(indices) == 2:
            forms.append("_" + "".join(indices))  # w_jk, as editors export it
        return self.pick(forms)

    def times(self) -> str:
        return self.pick([" ", r" \cdot ", r" \times ", " * ", r"\,", "·", r" \ast "])

    def prime(self, order: int) -> str:
        if order == 0:
            return ""
        if order == 1:
            return self.pick(["'", r"^{\prime}", "′", r"\prime", "^{(1)}"])
        return self.pick(["''", r"^{\prime\prime}", "^{(2)}"])

    def sum(self, index: str, over: str) -> str:
        size = VOCAB.ranges[over]
        forms = [rf"\sum_{{{index}}}", rf"\sum_{index}", rf"\sum\limits_{{{index}}}",
                 rf"\sum_{{{index}=1}}^{{{size}}}", f"∑_{{{index}}}", rf"\sum_{{{index}}}^{{}}"]
        if index in ("i", "j", "k"):
            forms.append("Σ" + {"i": "ᵢ", "j": "ⱼ", "k": "ₖ"}[index])
        return self.pick(forms)

    def minus(self) -> str:
        return self.pick(["-", "−", " - "])

    def write(self, expr: Expr, tight: bool = False) -> str:
        """LaTeX for ``expr``; ``tight`` brackets anything that is not one factor."""
        text, loose = self._write(expr)
        return self.brackets(text) if tight and loose else text

    def _write(self, expr: Expr) -> tuple[str, bool]:
        if isinstance(expr, Num):
            v = expr.value
            if v.denominator != 1:
                return rf"\frac{{{v.numerator}}}{{{v.denominator}}}", v < 0
            return str(v.numerator), v < 0
        if isinstance(expr, Ref):
            return self.name(expr.name) + self.indices(expr.indices), False
        if isinstance(expr, Var):
            return expr.name, False
        if isinstance(expr, Neg):
            return self.minus() + self.write(expr.arg, tight=True), True
        if isinstance(expr, Add):
            parts = [self.write(expr.terms[0])]
            for term in expr.terms[1:]:
                if isinstance(term, Neg):
                    parts.append(self.minus() + self.write(term.arg, tight=True))
                else:
                    parts.append(" + " + self.write(term))
            return "".join(parts), True
        if isinstance(expr, Mul):
            pieces = []
            for n, factor in enumerate(expr.factors):
                last = n == len(expr.factors) - 1
                wide = isinstance(factor, Sum) and not last
                text, loose = self._write(factor)
                if loose or wide or (n and isinstance(factor, Num)):
                    text = self.brackets(text)
                pieces.append(text)
            joined = pieces[0]
            for piece in pieces[1:]:
                joined += self.times() + piece
            return joined, True
        if isinstance(expr, Div):
            return rf"\frac{{{self.write(expr.num)}}}{{{self.write(expr.den)}}}", False
        if isinstance(expr, Pow):
            return f"{self.write(expr.base, tight=True)}^{{{self.write(expr.exp)}}}", False
        if isinstance(expr, Call):
            name = self.name(expr.func) if expr.func == "sigma" else expr.func
            if expr.func == "sigma" and expr.order and "operatorname" in name:
                name = r"\sigma"
            return name + self.prime(expr.order) + self.brackets(self.write(expr.arg)), False
        if isinstance(expr, Sum):
            return self.sum(expr.index, expr.over) + " " + self.write(expr.body, tight=True), True
        if isinstance(expr, Deriv):
            return to_latex(expr), False
        raise TypeError(expr)


def _rewrites(draw, expr: Expr) -> Expr:
    """A random value-preserving rewrite: commute, distribute, rename dummies, expand signals."""
    def go(node: Expr) -> Expr:
        if isinstance(node, Ref) and node.name in PROBLEM.network.signals \
                and draw(st.integers(0, 4)) == 0:
            return go(_expanded(node))
        if isinstance(node, Mul):
            factors = [go(f) for f in node.factors]
            factors = draw(st.permutations(factors))
            sums = [n for n, f in enumerate(factors) if isinstance(f, Add)]
            if sums and draw(st.booleans()):  # distribute over one sum
                n = sums[0]
                others = factors[:n] + factors[n + 1:]
                return Add(tuple(Mul(tuple(others) + (t,)) if not isinstance(t, Neg)
                                 else Neg(Mul(tuple(others) + (t.arg,)))
                                 for t in factors[n].terms))
            if draw(st.integers(0, 5)) == 0:
                factors = list(factors) + [Num(Fraction(1))]
            return Mul(tuple(factors))
        if isinstance(node, Add):
            terms = [go(t) for t in node.terms]
            return Add(tuple(draw(st.permutations(terms))))
        if isinstance(node, Neg):
            return Neg(go(node.arg))
        if isinstance(node, Sum):
            letter = draw(st.sampled_from([node.index, "m", "r", node.index + "'"]))
            body = go(node.body)
            if letter != node.index:
                body = rename_indices(body, {node.index: letter})
            return Sum(letter, body, node.over)
        if isinstance(node, Call):
            return Call(node.func, node.order, go(node.arg))
        if isinstance(node, Div):
            return Div(go(node.num), go(node.den))
        return node
    return go(expr)


def _expanded(ref: Ref) -> Expr:
    """A signal written out: \\delta_k as (c_k - t_k) g'(h_k), \\psi_j likewise."""
    part = {"delta": "b", "psi": "e"}[ref.name]
    value = PROBLEM.part(part).reference_expr
    slots = PROBLEM.network.signals[ref.name][0]
    return rename_indices(value, dict(zip(slots, ref.indices)))


def _statement(draw, notation: Notation, part_id: str, value: str) -> str:
    """The value as a student states it: bare, in delimiters, or an equation either way."""
    part = PROBLEM.part(part_id)
    asks = part.asks
    form = draw(st.sampled_from(["bare", "dollars", "paren", "display", "lhs", "rhs", "negated",
                                 "aligned", "remark", "chain"]))
    if form == "dollars":
        return f"${value}$"
    if form == "paren":
        return rf"\({value}\)"
    if form == "display":
        return rf"\[ {value} \]"
    if form == "lhs":
        return f"{asks} = {value}"
    if form == "rhs":
        return f"{value} = {asks}"
    if form == "negated":
        return rf"-{asks} = -\left({value}\right)"
    if form == "aligned":
        return rf"\begin{{aligned}} {asks} &= {value} \end{{aligned}}"
    if form == "remark":
        return rf"{value} \quad \text{{by the chain rule}}."
    if form == "chain":
        return rf"{asks} = {notation.write(part.reference_expr)} = {value}"
    return value


PARTS = sorted(PROBLEM.parts)


@SETTINGS
@given(st.data())
def test_value_preserving_rewrites_of_every_reference_get_full_credit(data) -> None:
    part_id = data.draw(st.sampled_from(PARTS))
    part = PROBLEM.part(part_id)
    notation = Notation(data.draw)
    rewritten = _rewrites(data.draw, part.reference_expr)
    answer = _statement(data.draw, notation, part_id, notation.write(rewritten))
    result = grade_answer(PROBLEM, part_id, answer)
    assert result.score == result.max_score, (answer, result.verdict, result.feedback)


def _perturbed(draw, expr: Expr) -> Expr:
    """A random change of value: sign, a factor dropped or added, an extra sum, g for g'."""
    kinds = ["sign", "extra-factor", "extra-term"]
    calls = [n for n in expr.walk() if isinstance(n, Call) and n.order]
    if calls:
        kinds.append("value-not-slope")
    droppable = [n for n, f in enumerate(expr.factors) if not isinstance(f, Num)] \
        if isinstance(expr, Mul) and len(expr.factors) > 1 else []
    if droppable:
        kinds.append("drop-factor")
    if free_indices(expr):
        kinds.append("extra-sum")
    kind = draw(st.sampled_from(kinds))
    free = sorted(free_indices(expr))
    if kind == "sign":
        return Neg(expr)
    if kind == "extra-factor":
        factor = draw(st.sampled_from([Num(Fraction(2)), Num(Fraction(1, 2))]
                                      + [r for r in REFS if set(r.indices) <= set(free)
                                         and r.name not in ("E",)]))
        return Mul((expr, factor))
    if kind == "extra-term":
        term = draw(st.sampled_from([r for r in REFS if set(r.indices) <= set(free)]
                                    or [Num(Fraction(1))]))
        return Add((expr, term))
    if kind == "drop-factor":
        n = draw(st.sampled_from(droppable))
        rest = expr.factors[:n] + expr.factors[n + 1:]
        return rest[0] if len(rest) == 1 else Mul(rest)
    if kind == "extra-sum":
        letter = draw(st.sampled_from(free))
        return Sum(letter, expr, letter)
    target = draw(st.sampled_from(calls))

    def lowered(node: Expr) -> Expr:
        if node == target:
            return Call(node.func, node.order - 1, node.arg)
        return map_children(node, lowered)
    return lowered(expr)


@SETTINGS
@given(st.data())
def test_perturbations_of_every_reference_never_get_full_credit(data) -> None:
    part_id = data.draw(st.sampled_from(PARTS))
    part = PROBLEM.part(part_id)
    notation = Notation(data.draw)
    wrong = _perturbed(data.draw, _rewrites(data.draw, part.reference_expr))
    answer = _statement(data.draw, notation, part_id, notation.write(wrong))
    result = grade_answer(PROBLEM, part_id, answer)
    assert result.score < result.max_score, (answer, to_latex(wrong), result.feedback)


# ---------------------------------------------------------------------------- never a crash

PIECES = [r"\frac{", "}{", "}", "{", "(", ")", "[", "]", r"\left(", r"\right)", r"\sum_k",
          r"\sum", "_", "^", "'", r"\delta_k", r"\psi_j", "w_{jk}", "b_j", "g", r"\sigma", "x",
          "=", "+", "-", r"\cdot", "2", "0", r"\partial", "E", r"\text{where}", ",", r"\quad",
          r"\\", "&", "$", r"\begin{aligned}", r"\end{aligned}", r"\Big|_{x=h_k}", r"\dots",
          "σ", "ₖ", "²", "−", r"\mathrm{d}", r"\operatorname{sech}", r"\exp", "e", r"\ln",
          r"\dot", r"\nabla", ":=", r"\equiv", "|", ".", ";", r"\forall", r"\boxed{", "\x00",
          "🙂", r"\input", "%", "`", r"\mathbb{1}", "[x>0]", ">", r"\ge", r"\max(0,", r"\max",
          r"\delta_{kj}", "[k=j]", r"\begin{cases}", r"\end{cases}", r"\operatorname{ReLU}", "H("]


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_text_gets_a_verdict_never_an_exception(data) -> None:
    part_id = data.draw(st.sampled_from(PARTS))
    pieces = data.draw(st.lists(st.sampled_from(PIECES), max_size=25))
    answer = "".join(pieces)
    result = grade_answer(PROBLEM, part_id, answer)
    assert result.verdict in set(Verdict)
    assert "internal error" not in result.feedback


# ---------------------------------------------------------------------------- non-smooth functions

RELU = load_problem(Path(__file__).parent / "data" / "specs" / "relu.toml")
SOFTMAX = load_problem("softmax")
FEW = settings(max_examples=60, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(st.lists(st.floats(-50, 50, allow_nan=False).filter(lambda v: abs(v) > 1e-9),
                min_size=1, max_size=8))
def test_relu_is_x_times_the_step_and_its_slope_is_the_step(values) -> None:
    """Away from the kink: ReLU(x) = x H(x) = max(0, x), ReLU'(x) = H(x), H'(x) = 0, in floats
    and at 50 digits alike."""
    import mpmath

    from grader.network import Numeric, Precise

    x = np.array(values)
    numeric, precise = Numeric(), Precise()
    step = numeric.function("heaviside", 0)(x)
    assert set(step) <= {0.0, 1.0}
    np.testing.assert_allclose(numeric.function("relu", 0)(x), x * step)
    np.testing.assert_allclose(numeric.function("relu", 0)(x), np.maximum(0, x))
    np.testing.assert_allclose(numeric.function("relu", 1)(x), step)
    assert not np.any(numeric.function("heaviside", 1)(x))
    exact = np.array([mpmath.mpf(v) for v in values], dtype=object)
    np.testing.assert_allclose(np.asarray(precise.function("relu", 0)(exact), dtype=float),
                               np.maximum(0, x))
    np.testing.assert_allclose(np.asarray(precise.function("relu", 1)(exact), dtype=float), step)


ARGUMENTS = [r"z_j", r"-z_j", r"2 z_j", r"z_j - e_j", r"\sum_i a_i u_{ij}"]


def _step(draw, argument: str) -> str:
    """The step H(argument) written as a student might: every indicator spelling."""
    a = argument
    return draw(st.sampled_from([
        rf"\mathbb{{1}}[{a} > 0]", rf"\mathbb{{1}}\left({a} > 0\right)",
        rf"\mathbf{{1}}_{{{a} > 0}}",
        rf"[{a} > 0]", rf"[0 < {a}]", rf"[{a} \geq 0]", rf"H({a})", rf"\operatorname{{ReLU}}'({a})",
        rf"(1 - [{a} < 0])", rf"\mathbb{{1}}_{{\{{{a} > 0\}}}}", rf"1_{{{a} > 0}}",
    ]))


def _relu(draw, argument: str) -> str:
    a = argument
    return draw(st.sampled_from([
        rf"\max(0, {a})", rf"\max({a}, 0)", rf"\max\left(0, {a}\right)", rf"\max\{{0, {a}\}}",
        rf"\operatorname{{ReLU}}({a})", rf"\mathrm{{ReLU}}({a})", rf"relu({a})",
        rf"({a})\,[{a} > 0]", rf"H({a})\,({a})",
    ]))


@FEW
@given(st.data())
def test_every_spelling_of_relu_and_its_step_gets_full_credit(data) -> None:
    """psi_j = [z_j > 0] sum_k delta_k w_jk and b_j = ReLU(z_j), written with random spellings
    of the step and the ReLU, in random order, get full credit (numerically and by SymPy)."""
    draw = data.draw
    sum_ = draw(st.sampled_from([r"\sum_k \delta_k w_{jk}", r"\sum_{m} w_{jm}\delta_m",
                                 r"\sum_{k=1}^{K} (h_k - t_k) w_{jk}"]))
    step = _step(draw, "z_j")
    times = draw(st.sampled_from([" ", r" \cdot ", r"\,", r" \times "]))
    psi = draw(st.sampled_from([f"{step}{times}{sum_}", f"({sum_}){times}{step}"]))
    result = grade_answer(RELU, "psi", psi)
    assert result.score == result.max_score, (psi, result.feedback)
    value = _relu(draw, "z_j")
    result = grade_answer(RELU, "value", value)
    assert result.score == result.max_score, (value, result.feedback)


@FEW
@given(st.data())
def test_a_wrong_step_or_a_wrong_relu_never_gets_full_credit(data) -> None:
    """The step of another argument (-z_j, z_j - e_j, ...), the ReLU where its slope belongs, or
    no step at all: never full credit."""
    draw = data.draw
    argument = draw(st.sampled_from(ARGUMENTS[1:]))
    wrong = draw(st.sampled_from([
        _step(draw, argument) + r" \sum_k \delta_k w_{jk}",
        _relu(draw, "z_j") + r" \sum_k \delta_k w_{jk}",
        r"\sum_k \delta_k w_{jk}",
        "-" + _step(draw, "z_j") + r" \sum_k \delta_k w_{jk}",
    ]))
    result = grade_answer(RELU, "psi", wrong)
    assert result.score < result.max_score, (wrong, result.feedback)
    value = _relu(draw, argument)
    result = grade_answer(RELU, "value", value)
    assert result.score < result.max_score, (value, result.feedback)


DELTAS = [r"\delta_{kl}", r"\delta_{lk}", r"\delta_{k,l}", r"[k = l]", r"[l=k]",
          r"\mathbb{1}[k = l]", r"\mathbb{1}_{k=l}", r"\mathbf{1}_{l = k}", r"\mathbb{1}(k=l)",
          r"(1 - [k \neq l])", r"\mathbb{1}\{k = l\}"]


@FEW
@given(st.data())
def test_every_spelling_of_the_jacobian_gets_full_credit(data) -> None:
    """softmax (i), c_k(delta_kl - c_l), in random forms and Kronecker spellings: full credit."""
    draw = data.draw
    d = draw(st.sampled_from(DELTAS))
    times = draw(st.sampled_from(["", " ", r" \cdot ", r"\,"]))
    answer = draw(st.sampled_from([
        f"c_k{times}({d} - c_l)", f"c_l{times}({d} - c_k)", f"{d}{times}c_k - c_k{times}c_l",
        f"-c_l{times}c_k + c_k{times}{d}", f"({d} - c_l){times}c_k",
        rf"\frac{{\partial c_k}}{{\partial h_l}} = c_k{times}({d} - c_l)",
    ]))
    result = grade_answer(SOFTMAX, "i", answer)
    assert result.score == result.max_score, (answer, result.feedback)


@FEW
@given(st.data())
def test_a_changed_jacobian_never_gets_full_credit(data) -> None:
    """A flipped sign, 1 for the delta, c_k for c_l, a factor dropped: never full credit."""
    draw = data.draw
    d = draw(st.sampled_from(DELTAS))
    answer = draw(st.sampled_from([
        f"c_k(c_l - {d})", "c_k(1 - c_l)", f"c_k({d} - c_k)", f"{d} - c_l", f"c_k {d}",
        f"c_k({d} + c_l)", "-c_k c_l", "c_k(1 - c_k)", f"c_l({d} - c_l)",
        f"{d} c_k (1 - c_k)",
    ]))
    result = grade_answer(SOFTMAX, "i", answer)
    assert result.score < result.max_score, (answer, result.feedback)


@FEW
@given(st.sampled_from(["relu", "heaviside"]), st.sampled_from(REFS[:6]))
def test_reading_printed_steps_and_relus_gives_them_back(function, ref) -> None:
    """to_latex prints the step as \\mathbb{1}[x > 0] and ReLU as \\operatorname{ReLU}(x): both
    read back as the same expression."""
    expr = Mul((Call(function, 0, ref), Call(function, 1, Neg(ref))))
    printed = to_latex(expr)
    assert flat(read_expression(printed, VOCAB)) == flat(expr), printed
