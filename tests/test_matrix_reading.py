r"""Reading and grading vector-matrix notation (the ``mlp-matrix`` problem).

Every way of writing a transpose, an elementwise product, a decorated name and a gradient is
read; precedence is the textbook one (juxtaposition before \odot); shape mistakes are graded
incorrect with the shapes named and the one edit that fixes them. Hypothesis checks the reader
over many random well-shaped expressions (reading what ``to_latex`` prints gives the same value
back) and the grader over random rewrites (full credit) and perturbations (never full credit)
of every part's reference.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.errors import AnswerError, ShapeMismatch, SpecError
from grader.expr import (
    Add,
    Call,
    Deriv,
    Diag,
    Expr,
    Hadamard,
    MatMul,
    Neg,
    Num,
    Ref,
    Transpose,
    to_latex,
)
from grader.grading import grade_answer
from grader.matrices import SCALAR, Shape, shape_of
from grader.problem import load_problem
from grader.reader import read_expression
from grader.results import Verdict

DATA = Path(__file__).parent / "data"
PROBLEM = load_problem("mlp-matrix")
DIMS = PROBLEM.network.dims
VOCAB = PROBLEM.part("a").vocabulary
INSTANCE = PROBLEM.network.numeric(11, "sigmoid")
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
P_MINUS_Y = Add((Ref("p"), Neg(Ref("y"))))


def read(text: str) -> Expr:
    return read_expression(text, VOCAB)


def value(expr: Expr) -> np.ndarray:
    tensor = INSTANCE.value(expr)
    return tensor.aligned(tuple(sorted(tensor.axes)))


def same_value(a: Expr, b: Expr) -> bool:
    return shape_of(a, DIMS) == shape_of(b, DIMS) and np.allclose(value(a), value(b))


# ---------------------------------------------------------------------------- reading

@pytest.mark.parametrize("text", [
    "W_2^T (p - y)", "W_2^\\top (p - y)", "W_2^{\\top}(p-y)", "W_2^{\\mathsf{T}} (p - y)",
    "W_2^{\\mathsf T} (p - y)", "W_2^\\intercal (p - y)", "W_2^{T}\\left(p - y\\right)",
    "W_2' (p - y)", "W₂ᵀ(p − y)", "\\mathbf{W}_2^\\top (\\mathbf{p} - \\mathbf{y})",
    "\\boldsymbol{W}_2^T(\\boldsymbol{p}-\\boldsymbol{y})", "\\mathbf W_2^T (\\vec p - \\vec y)",
    "W_2^\\top \\cdot (p - y)", "((p - y)^\\top W_2)^\\top", "W_2^⊤(p-y)",
])
def test_every_transpose_and_decoration_reads_the_same(text: str) -> None:
    assert same_value(read(text), MatMul((Transpose(Ref("W_2")), P_MINUS_Y)))


@pytest.mark.parametrize("text", [
    "(W_2^\\top (p - y)) \\odot \\operatorname{ReLU}'(z)",
    "W_2^\\top (p - y) \\odot \\operatorname{ReLU}'(z)",       # juxtaposition binds first
    "\\operatorname{ReLU}'(z) \\odot W_2^\\top (p - y)",
    "W_2^\\top (p - y) \\circ \\operatorname{ReLU}'(z)",
    "W_2^\\top (p - y) ⊙ \\operatorname{ReLU}'(z)",
    "\\operatorname{diag}(\\operatorname{ReLU}'(z)) W_2^\\top (p - y)",
    "W_2^\\top \\delta_2 \\odot \\operatorname{ReLU}'(z)",
])
def test_elementwise_products_and_diag(text: str) -> None:
    expected = Deriv(Ref("L"), Ref("z"))
    assert same_value(read(text), expected)


def test_only_the_reading_whose_shapes_fit_is_taken_when_precedence_is_left_implicit() -> None:
    """``d \\odot r x^T``: (d \\odot r) x^T is the only product whose shapes fit."""
    expr = read("W_2^\\top (p - y) \\odot \\operatorname{ReLU}'(z) x^\\top")
    assert shape_of(expr, DIMS) == Shape("H", "D")
    assert same_value(expr, Deriv(Ref("L"), Ref("W_1")))


@pytest.mark.parametrize("text,wrt", [
    ("\\frac{\\partial L}{\\partial W_2}", "W_2"),
    ("\\frac{\\partial L}{\\partial \\mathbf{W}_2}", "W_2"),
    ("\\nabla_{W_2} L", "W_2"),
    ("\\partial L / \\partial b_2", "b_2"),
    ("\\frac{\\partial L}{\\partial \\boldsymbol{h}}", "h"),
])
def test_gradients_by_whole_vectors_and_matrices(text: str, wrt: str) -> None:
    expr = read(text)
    assert expr == Deriv(Ref("L"), Ref(wrt))
    assert shape_of(expr, DIMS) == DIMS.shapes[wrt]  # the denominator layout


def test_names_with_subscripts_are_names_and_entries_are_entries() -> None:
    assert read("\\delta_1") == Ref("delta_1")
    assert read("\\boldsymbol{\\delta}_2") == Ref("delta_2")
    assert read("x_d") == Ref("x", ("d",))            # an entry of x: a scalar
    assert shape_of(read("x_d"), DIMS) == SCALAR
    assert read("h^\\top h") == MatMul((Transpose(Ref("h")), Ref("h")))
    assert shape_of(read("h^\\top h"), DIMS) == SCALAR


def test_softmax_and_elementwise_quotients() -> None:
    assert same_value(read("\\operatorname{softmax}(s)"), Ref("p"))
    assert same_value(read("-y \\oslash p"), read("-y / p"))
    assert shape_of(read("1 / p"), DIMS) == Shape("C")


@pytest.mark.parametrize("text,message", [
    ("L^\\top", "is a scalar: only vectors and matrices have a transpose"),
    ("\\operatorname{softmax}'(s)", "derivative of softmax"),
])
def test_what_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(AnswerError, match=message):
        read(text)


def test_diag_and_softmax_belong_to_vector_matrix_problems() -> None:
    vocab = load_problem("backprop").part("c").vocabulary
    with pytest.raises(AnswerError, match="only in vector-matrix problems"):
        read_expression("\\operatorname{diag}(h_k)", vocab)


@pytest.mark.parametrize("text,words", [
    ("W_2 (p - y)", ["not defined", "C×H matrix", "column of C"]),
    ("h + p", ["different shapes", "column of H", "column of C"]),
    ("h \\odot p", ["one shape"]),
])
def test_shapes_that_do_not_fit_are_named(text: str, words: list[str]) -> None:
    with pytest.raises(ShapeMismatch) as caught:
        shape_of(read(text), DIMS)
    assert all(word in str(caught.value) for word in words)


# ---------------------------------------------------------------------------- grading

@pytest.mark.parametrize("part,answer,words", [
    ("b", "h (p - y)^T", ["transpose of the gradient"]),                         # a mistake
    ("d", "W_2 (p-y)", ["not defined", "transpose is missing on $W_{2}$"]),
    ("b", "(p - y)^T h", ["not defined", "transpose is on the wrong factor",
                           "belongs on $h$"]),
    ("d", "(p - y) W_2^\\top", ["not defined", "wrong order"]),
    ("c", "(p - y)^\\top", ["row of C", "transpose of the right answer"]),
    ("d", "W_2^T (p - y)^T", ["not defined", "transposed where it should not be"]),
    ("g", "W_1 \\delta_1", ["not defined", "transpose is missing on $W_{1}$"]),
    ("f", "x \\delta_1^\\top", ["transpose of the gradient"]),                   # a mistake
])
def test_shape_mistakes_get_targeted_feedback(part: str, answer: str, words: list[str]) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.verdict is Verdict.INCORRECT and result.score == 0
    assert all(word in result.feedback for word in words), result.feedback


def test_a_denominator_reference_in_a_numerator_spec_is_a_spec_error(tmp_path) -> None:
    """The layout is the spec's: in the numerator layout dL/dW_2 is H x C, so a reference
    written as (p - y) h^T no longer fits, and the loader says where."""
    text = Path(PROBLEM.path).read_text(encoding="utf-8")
    spec = tmp_path / "numerator.toml"
    spec.write_text(text.replace('layout = "denominator"', 'layout = "numerator"'),
                    encoding="utf-8")
    with pytest.raises(SpecError, match=r"parts\[0\] \('a'\)\.reference.*numerator layout"):
        load_problem(spec)


def test_a_numerator_layout_problem_grades_rows_as_right() -> None:
    problem = load_problem(DATA / "specs" / "numerator.toml")
    assert grade_answer(problem, "a", "(p - y)^\\top").verdict is Verdict.CORRECT
    assert grade_answer(problem, "b", "h (p - y)^T").verdict is Verdict.CORRECT
    wrong = grade_answer(problem, "a", "p - y")
    assert wrong.verdict is Verdict.INCORRECT and "numerator layout" in wrong.feedback


# ---------------------------------------------------------------------------- properties

NAMES = {name: shape for name, shape in DIMS.shapes.items()
         if name in ("x", "W_1", "b_1", "W_2", "b_2", "y", "z", "h", "s", "p", "delta_1",
                     "delta_2")}
SIZES = ("D", "H", "C")


@st.composite
def shaped(draw, shape: Shape, depth: int = 3) -> Expr:
    """A random expression of ``shape`` built from the problem's names."""
    leaves = [Ref(n) for n, s in NAMES.items() if s == shape] + \
             [Transpose(Ref(n)) for n, s in NAMES.items() if s.T == shape and not s.scalar]
    if shape.scalar:
        leaves.append(Num(Fraction(draw(st.integers(1, 5)))))
    options = ["leaf"] if leaves else []
    if depth > 0:
        options += ["product", "sum", "hadamard", "call", "scale", "neg"]
        if shape.cols is None and shape.rows is not None:
            options.append("diag")
    kind = draw(st.sampled_from(options or ["product"]))
    if kind == "leaf" or depth <= 0 and leaves:
        return draw(st.sampled_from(leaves))
    smaller = depth - 1
    if kind == "product" or not options:
        inner = draw(st.sampled_from([None, *SIZES]))
        left = draw(shaped(Shape(shape.rows, inner), max(smaller, 0)))
        right = draw(shaped(Shape(inner, shape.cols), max(smaller, 0)))
        return MatMul((left, right))
    if kind == "sum":
        return Add((draw(shaped(shape, smaller)), draw(shaped(shape, smaller))))
    if kind == "hadamard":
        return Hadamard((draw(shaped(shape, smaller)), draw(shaped(shape, smaller))))
    if kind == "call":
        function = draw(st.sampled_from(["tanh", "sigma", "exp"]))
        return Call(function, 0, draw(shaped(shape, smaller)))
    if kind == "scale":
        return MatMul((Num(Fraction(draw(st.integers(2, 4)))), draw(shaped(shape, smaller))))
    if kind == "diag":
        return MatMul((Diag(draw(shaped(Shape(shape.rows), smaller))),
                       draw(shaped(shape, smaller))))
    return Neg(draw(shaped(shape, smaller)))


SHAPES = st.sampled_from([Shape("C"), Shape("H"), Shape("C", "H"), Shape("H", "D"),
                          Shape(None, "H"), SCALAR])


@SETTINGS
@given(st.data())
def test_reading_what_to_latex_prints_gives_the_same_value_back(data) -> None:
    shape = data.draw(SHAPES)
    expr = data.draw(shaped(shape))
    back = read(to_latex(expr))
    assert shape_of(back, DIMS) == shape
    with np.errstate(all="ignore"):
        a, b = value(expr), value(back)
    assert np.allclose(a, b, equal_nan=True), to_latex(expr)


REFERENCES = {pid: part.reference_expr for pid, part in PROBLEM.parts.items()}


def _rewritten(draw, expr: Expr) -> Expr:
    """A value-preserving rewrite: (AB)^T = B^T A^T, a^T's transpose, a \\odot b = b \\odot a,
    A(b - c) = Ab - Ac, diag(v) w = v \\odot w."""
    if isinstance(expr, MatMul) and len(expr.factors) == 2 and draw(st.booleans()):
        a, b = expr.factors
        if isinstance(b, Add) and draw(st.booleans()):  # A(b - c) = Ab - Ac
            return Add(tuple(Neg(MatMul((a, t.arg))) if isinstance(t, Neg)
                             else MatMul((a, t)) for t in b.terms))
        return Transpose(MatMul((Transpose(b), Transpose(a))))
    if isinstance(expr, Hadamard) and draw(st.booleans()):
        return Hadamard(tuple(reversed(expr.factors)))
    if draw(st.booleans()):
        return Transpose(Transpose(expr))
    return expr


@SETTINGS
@given(st.data())
def test_value_preserving_rewrites_of_every_reference_get_full_credit(data) -> None:
    pid = data.draw(st.sampled_from(sorted(REFERENCES)))
    expr = _rewritten(data.draw, REFERENCES[pid])
    result = grade_answer(PROBLEM, pid, to_latex(expr))
    assert result.verdict is Verdict.CORRECT, (to_latex(expr), result.feedback)


def _perturbed(draw, expr: Expr) -> Expr:
    """A wrong variant: the whole transposed, a sign flipped, a factor dropped or swapped."""
    kind = draw(st.sampled_from(["transpose", "sign", "drop", "swap", "relu"]))
    if kind == "transpose":
        return Transpose(expr)
    if kind == "sign":
        return Neg(expr)
    if kind in ("drop", "swap") and isinstance(expr, MatMul) and len(expr.factors) > 1:
        factors = list(expr.factors)
        if kind == "drop":
            factors.pop(draw(st.integers(0, len(factors) - 1)))
            return factors[0] if len(factors) == 1 else MatMul(tuple(factors))
        return MatMul(tuple(reversed(factors)))
    if kind == "relu":
        return MatMul((Num(Fraction(2)), expr))
    return Add((expr, Ref("y") if shape_of(expr, DIMS) == Shape("C") else expr))


@SETTINGS
@given(st.data())
def test_perturbations_of_every_reference_never_get_full_credit(data) -> None:
    pid = data.draw(st.sampled_from(sorted(REFERENCES)))
    expr = _perturbed(data.draw, REFERENCES[pid])
    result = grade_answer(PROBLEM, pid, to_latex(expr))
    assert result.verdict is not Verdict.CORRECT, to_latex(expr)
    assert result.score < result.max_score


# ---------------------------------------------------------------------------- spec errors

@pytest.mark.parametrize("old,new,message", [
    ('W_1 = "H x D"', 'W_1 = "H x K"', r"network\.shapes\.W_1': size K has no index letter"),
    ('W_1 = "H x D"', 'W_1 = "H by D"', r"network\.shapes\.W_1': 'H by D' is not a shape"),
    ("'s = W_2 h + b_2'", "'s = W_2 x + b_2'", r"network\.equations\[2\]'.*is not defined"),
    ("reference = '(p - y) h^\\top'", "reference = 'h (p - y)^\\top'",
     r"parts\[1\] \('b'\)\.reference': is a H×C matrix, but what the part asks is a C×H"),
    ("given = ['x', 'W_1',", "given = ['x', 'V', 'W_1',", r"network\.given\[1\]': V has no shape"),
    ('c = { size = "C", means = "the classes" }',
     'c = { size = "C", means = "the classes" }\nk = { size = "C" }',
     r"network\.indices\.k': size C already has the index c"),
    ('layout = "denominator"', 'layout = "sideways"', r"network\.layout': must be one of"),
])
def test_a_spec_that_misuses_vector_matrix_notation_says_where(tmp_path, old, new,
                                                               message) -> None:
    text = Path(PROBLEM.path).read_text(encoding="utf-8")
    assert old in text
    spec = tmp_path / "broken.toml"
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError, match=message) as caught:
        load_problem(spec)
    assert str(caught.value).startswith(str(spec)) or "broken.toml" in str(caught.value)


def test_layout_without_shapes_is_a_spec_error(tmp_path) -> None:
    text = Path(load_problem("backprop").path).read_text(encoding="utf-8")
    spec = tmp_path / "index.toml"
    spec.write_text(text.replace("[network]", '[network]\nlayout = "numerator"', 1),
                    encoding="utf-8")
    with pytest.raises(SpecError, match=r"network\.layout': is for vector-matrix problems"):
        load_problem(spec)


# ---------------------------------------------------------------------------- more notation

@pytest.mark.parametrize("part,answer", [
    ("a", "\\frac{e^{s}}{\\mathbf{1}^\\top e^{s}} - y"),     # the ones vector sums entries
    ("a", "(\\mathbf{1}^{\\mathsf T} y) p - y"),               # 1^T y = 1 for a distribution
    ("c", "I_C (p - y)"),
    ("c", "I (p - y)"),
    ("d", "W_2^\\top I_C \\delta_2"),
    ("e", "\\operatorname{diag}(\\mathbb{1}[z > 0]) W_2^\\top (p - y)"),
    ("e", "(W_2^T(p-y)) \\odot \\mathbb{1}[h > 0]"),          # h = ReLU(z) > 0 exactly where z > 0
    ("f", "\\left((p-y)^T W_2 \\odot \\mathbb{1}[z>0]^T\\right)^T x^T"),
    ("b", "\\frac{\\partial L}{\\partial s} h^\\top"),            # the signal written out
])
def test_ones_identity_diagonal_and_indicators_are_read(part: str, answer: str) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.score == result.max_score, result.feedback


def test_a_standalone_diag_is_a_square_matrix() -> None:
    expr = read("\\operatorname{diag}(\\mathbb{1}[z > 0])")
    assert shape_of(expr, DIMS) == Shape("H", "H")
    assert same_value(MatMul((expr, read("W_2^\\top (p - y)"))),
                      Deriv(Ref("L"), Ref("z")))


@pytest.mark.parametrize("part,answer,words", [
    ("e", "(W_2^T(p-y)) \\odot \\mathbb{1}[h \\geq 0]", ["Not equal"]),  # always 1: no ReLU
    ("a", "\\delta_2", ["Circular"]),
    ("a", "\\frac{\\partial L}{\\partial \\mathbf{s}}", ["Circular"]),
    ("c", "I_H (p - y)", ["not defined", "$I_{H}$ is H×H"]),
])
def test_near_misses_with_the_new_notation_are_not_credited(part, answer, words) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.score == 0 and all(word in result.feedback for word in words), \
        result.feedback


# ---------------------------------------------------------------------------- index answers

@pytest.mark.parametrize("part,answer", [
    ("a", "p_c - y_c"),
    ("b", "(p_c - y_c) h_j"),
    ("b", "\\frac{\\partial L}{\\partial (W_2)_{cj}} = (p_c - y_c) h_j"),
    ("d", "\\sum_c (W_2)_{cj} (p_c - y_c)"),
    ("e", "\\sum_c (W_2)_{cj}(p_c - y_c)\\mathbb{1}[z_j > 0]"),
    ("f", "\\frac{\\partial L}{\\partial (W_1)_{jd}} = "
          "\\sum_c (W_2)_{cj}(p_c - y_c)\\mathbb{1}[z_j > 0] x_d"),
])
def test_a_part_that_allows_it_reads_answers_entry_by_entry(part: str, answer: str) -> None:
    assert PROBLEM.part(part).index_answers
    result = grade_answer(PROBLEM, part, answer)
    assert result.verdict is Verdict.CORRECT, result.feedback


@pytest.mark.parametrize("part,answer,words", [
    ("b", "(p_c - y_c) h_c", ["Wrong index", "hidden units"]),
    ("a", "p_j - y_j", ["Wrong index", "classes"]),
    ("b", "(W_2)_{jc}", ["Wrong index", "(W_{2})"]),
    ("b", "(p_c - y_c) h_j x_d", ["Wrong shape"]),
])
def test_wrong_entries_are_named(part: str, answer: str, words: list[str]) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.score == 0 and all(w in result.feedback for w in words), result.feedback


def test_index_answers_is_a_key_of_vector_matrix_parts_only(tmp_path) -> None:
    text = Path(load_problem("backprop").path).read_text(encoding="utf-8")
    spec = tmp_path / "index.toml"
    spec.write_text(text.replace('id = "b"\n', 'id = "b"\nindex_answers = true\n', 1),
                    encoding="utf-8")
    with pytest.raises(SpecError, match=r"index_answers': is for vector-matrix problems"):
        load_problem(spec)


@pytest.mark.parametrize("part,answer", [
    ("e", "\\big(W_2^{\\top}(p-y)\\big)_j\\,[z_j>0] \\text{ for each } j"),
    ("d", "(W_2^\\top p)_j - (W_2^\\top y)_j"),
    ("f", "\\frac{\\partial L}{\\partial (W_1)_{jd}} = "
          "\\big(W_2^{\\top}(p-y)\\big)_j\\,[z_j>0]\\,x_d"),
    ("e", "\\text{step}(z)\\odot W_2^{\\top}(p-y)"),
    ("e", "\\operatorname{step}(z) \\odot W_2^T(p-y)"),
])
def test_entries_of_expressions_and_the_step_word(part: str, answer: str) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.verdict is Verdict.CORRECT, result.feedback


def test_an_entry_of_an_expression_must_use_the_index_of_its_size() -> None:
    result = grade_answer(PROBLEM, "e", "\\big(W_2^{\\top}(p-y)\\big)_c\\,[z_c>0]")
    assert result.score == 0 and "Wrong index" in result.feedback


# ---------------------------------------------------------------------------- sums over examples

BATCH = load_problem(DATA / "specs" / "batch.toml")


@pytest.mark.parametrize("part,answer", [
    ("a", "\\frac{\\partial L}{\\partial s^{(n)}} = p^{(n)} - y^{(n)}"),
    ("b", "\\sum_{m} (p^{(m)} - y^{(m)}) h^{(m)\\top}"),
    ("b", "\\sum_{n=1}^{N} (p^{(n)} - y^{(n)}) (h^{(n)})^T"),
    ("c", "\\sum_{n=1}^{N} \\left(V^\\top (p^{(n)}-y^{(n)})\\right) \\odot "
          "\\left(1 - (h^{(n)})^2\\right)"),
])
def test_sums_over_the_examples_of_a_batch(part: str, answer: str) -> None:
    result = grade_answer(BATCH, part, answer)
    assert result.verdict is Verdict.CORRECT, result.feedback


@pytest.mark.parametrize("part,answer,words", [
    ("b", "(p^{(n)} - y^{(n)}) h^{(n)\\top}", ["free index n", "a sum left out"]),
    ("b", "\\sum_n (p - y) h^\\top", ["one value per example", "p^{(n)}"]),
    ("b", "\\sum_n h^{(n)} (p^{(n)} - y^{(n)})^\\top", ["transpose of the right answer"]),
])
def test_a_sum_over_examples_left_out_or_misused_is_named(part, answer, words) -> None:
    result = grade_answer(BATCH, part, answer)
    assert result.score == 0 and all(w in result.feedback for w in words), result.feedback


def test_the_batch_network_is_per_example(tmp_path) -> None:
    dims = BATCH.network.dims
    assert dims.samples == "n" and {"x", "y", "h", "s", "p"} <= dims.per_sample
    assert BATCH.network.leaves["x"] == ("n", "d")
    text = (DATA / "specs" / "batch.toml").read_text(encoding="utf-8")
    spec = tmp_path / "nosamples.toml"
    spec.write_text(text.replace('samples = "n"', 'samples = "q"'), encoding="utf-8")
    with pytest.raises(SpecError, match=r"network\.samples': 'q' is not one of the indices"):
        load_problem(spec)


@pytest.mark.parametrize("part,answer", [
    ("a", "p\\,(\\mathbf 1^{\\mathsf T} y) - y"),                      # unbraced font commands
    ("e", "\\frac{\\partial L}{\\partial z_j} = \\mathbb 1[z_j>0]\\sum_c (W_2)_{cj}(p_c-y_c)"),
    ("g", "\\mathbf W_1^{\\mathsf T}\\left(\\mathbf W_2^{\\mathsf T}\\boldsymbol\\delta_2"
          "\\odot \\mathbb 1[\\mathbf z>0]\\right)"),
    ("c", "\\vec p - \\vec y"),
    # the chain rule in the numerator layout's order: the steps cannot be checked, the value is
    ("c", "\\frac{\\partial L}{\\partial s}\\frac{\\partial s}{\\partial b_2} = (p-y)\\cdot I "
          "= p - y"),
])
def test_unbraced_fonts_and_a_chain_in_the_other_order(part: str, answer: str) -> None:
    result = grade_answer(PROBLEM, part, answer)
    assert result.verdict is Verdict.CORRECT, result.feedback
