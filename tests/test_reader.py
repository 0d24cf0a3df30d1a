r"""Tests for grader.reader: every notation of docs/parsing.md reads with the problem's vocabulary.

Each row compares ``to_latex(read(text))`` with the reading a TA would state. The second half
holds the silent misreads of the off-the-shelf LaTeX readers (latex2sympy2, sympy's
parse_latex): ``g'(h_k)`` read as ``g(h_k)``, ``\sigma(-x)`` as a product, ``\sum_{k=1}^{K}`` up to
a lower-case k, ``\frac{\partial E}{\partial w_{jk}}`` as 0, ``\sum_k`` without bounds failing.
"""

from __future__ import annotations

import pytest

from grader.errors import AnswerError, IndexMismatch
from grader.expr import Call, Deriv, Mul, Neg, Ref, Sum, Var, to_latex
from grader.grading import grade_answer
from grader.reader import read, read_expression
from grader.results import Verdict

SIG = r"\sigma\left(x\right)"


def reading(problem, part: str, text: str) -> str:
    return " = ".join(to_latex(e) for e in read(text, problem.part(part).vocabulary))


# ---------------------------------------------------------------------------- part (a): x, sigma
A_NOTATION = [
    # calls, powers of calls, a negative argument
    (r"\sigma(x)", SIG),
    (r"\sigma (x)", SIG),
    (r"\sigma\left(x\right)", SIG),
    ("σ(x)", SIG),
    (r"\sigma^2(x)", SIG + "^{2}"),
    (r"\sigma^{2}(x)", SIG + "^{2}"),
    (r"\sigma(x)^2", SIG + "^{2}"),
    (r"\sigma(-x)", r"\sigma\left(-x\right)"),
    ("−σ(x)", "-" + SIG),
    # primes in every spelling
    (r"\sigma'(x)", r"\sigma'\left(x\right)"),
    (r"\sigma''(x)", r"\sigma''\left(x\right)"),
    ("g'(x)", r"g'\left(x\right)"),
    (r"g^{\prime}(x)", r"g'\left(x\right)"),
    (r"g\prime(x)", r"g'\left(x\right)"),
    ("g′(x)", r"g'\left(x\right)"),
    (r"g^{''}(x)", r"g''\left(x\right)"),
    (r"g^{\prime\prime}(x)", r"g''\left(x\right)"),
    # products: written and implicit
    (r"\sigma(x)\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)\cdot\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)\times\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)*\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)\,\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)\;\sigma(x)", SIG + r" \cdot " + SIG),
    (r"\sigma(x)~\sigma(x)", SIG + r" \cdot " + SIG),
    ("σ(x)·σ(x)", SIG + r" \cdot " + SIG),
    # every kind of bracket
    (r"\left(1-\sigma(x)\right)", "1 - " + SIG),
    (r"[1-\sigma(x)]", "1 - " + SIG),
    (r"\{1-\sigma(x)\}", "1 - " + SIG),
    (r"\big(1-\sigma(x)\big)", "1 - " + SIG),
    (r"\Big[1-\sigma(x)\Big]", "1 - " + SIG),
    (r"\sigma(x)(1-\sigma(x))", SIG + r" \cdot \left(1 - " + SIG + r"\right)"),
    ("σ(x)·(1 − σ(x))", SIG + r" \cdot \left(1 - " + SIG + r"\right)"),
    # d/dx in its spellings
    (r"\frac{d}{dx}\sigma(x)", r"\frac{d}{d x} " + SIG),
    (r"\frac{d\sigma(x)}{dx}", r"\frac{d}{d x} " + SIG),
    (r"\frac{\mathrm{d}}{\mathrm{d}x}\sigma(x)", r"\frac{d}{d x} " + SIG),
    # exponentials, fractions, numbers
    ("e^{-x}", "e^{-x}"),
    (r"\exp(-x)", "e^{-x}"),
    (r"\exp{x}", "e^{x}"),
    (r"\frac{1}{1+e^{-x}}", r"\frac{1}{1 + e^{-x}}"),
    (r"\tfrac{1}{2}x", r"\frac{1}{2} \cdot x"),
    (r"\dfrac{1}{2}x", r"\frac{1}{2} \cdot x"),
    (r"\frac12", r"\frac{1}{2}"),
    ("x^23", r"x^{2} \cdot 3"),
    ("x/2", r"\frac{x}{2}"),
    ("2.5x", r"\frac{5}{2} \cdot x"),
    (r"\pi x", r"\pi \cdot x"),
    (r"\ln(x)", r"\ln\left(x\right)"),
    (r"\tanh(x)", r"\tanh\left(x\right)"),
    # frames and spacing that mean nothing
    (r"\boxed{\sigma(x)}", SIG),
    (r"\displaystyle \sigma(x)", SIG),
    (r"\sigma(x)\quad", SIG),
    # a chain keeps every side
    (r"g'(x) = \sigma(x)", r"g'\left(x\right) = " + SIG),
]


@pytest.mark.parametrize("text, expected", A_NOTATION, ids=[t for t, _ in A_NOTATION])
def test_part_a_notation(backprop, text: str, expected: str) -> None:
    assert reading(backprop, "a", text) == expected


# ---------------------------------------------------------------------------- parts (b)-(g)
CK_GP = r"\left(c_{k} - t_{k}\right) \cdot g'\left(h_{k}\right)"
SUM_DW = r"\sum_{k} \delta_{k} \cdot w_{jk}"
NETWORK_NOTATION = [
    # indexed quantities
    ("w_{jk}", "w_{jk}"),
    ("w_{j,k}", "w_{jk}"),
    ("w_{j k}", "w_{jk}"),
    (r"\delta_{k}", r"\delta_{k}"),
    ("δ_k", r"\delta_{k}"),
    ("E", "E"),
    ("e_j", "e_{j}"),
    ("e^{z_j}", "e^{z_{j}}"),
    # a product, not a call: c_k is not a function
    ("c_k(1-c_k)", r"c_{k} \cdot \left(1 - c_{k}\right)"),
    # g' on a network quantity, with every product sign
    ("(c_k - t_k) g'(h_k)", CK_GP),
    (r"(c_k - t_k)\,g'(h_k)", CK_GP),
    (r"(c_k - t_k) \cdot g'(h_k)", CK_GP),
    (r"(c_k - t_k) \times g'(h_k)", CK_GP),
    ("(c_k - t_k) * g'(h_k)", CK_GP),
    ("(c_k − t_k)·g′(h_k)", CK_GP),
    (r"\left(c_{k}-t_{k}\right)g^{\prime}(h_{k})", CK_GP),
    (r"[c_k - t_k] g\prime(h_k)", CK_GP),
    # sums in every spelling; they run to the end of the product
    (r"\sum_k \delta_k w_{jk}", SUM_DW),
    (r"\sum_{k} \delta_k w_{jk}", SUM_DW),
    (r"\sum\limits_k \delta_k w_{jk}", SUM_DW),
    (r"\sum\limits_{k=1}^{K} \delta_k w_{jk}", SUM_DW),
    (r"\sum_{k=1}^{K} \delta_k w_{jk}", SUM_DW),
    (r"\sum_{k=1}^K \delta_k w_{jk}", SUM_DW),
    ("∑_k δ_k w_{jk}", SUM_DW),
    (r"\sum_l \delta_l w_{jl}", r"\sum_{l} \delta_{l} \cdot w_{jl}"),
    (r"\sum_k \delta_k w_{jk} + e_j", SUM_DW + " + e_{j}"),
    (r"g'(z_j)\sum_k \delta_k w_{jk}", r"g'\left(z_{j}\right) \cdot \left(" + SUM_DW + r"\right)"),
    (r"\sum_i \sum_k a_i \delta_k w_{jk}",
     r"\sum_{i} \sum_{k} a_{i} \cdot \delta_{k} \cdot w_{jk}"),
    (r"\frac{1}{2}\sum_k (c_k-t_k)^2",
     r"\frac{1}{2} \cdot \left(\sum_{k} \left(c_{k} - t_{k}\right)^{2}\right)"),
    # derivatives through the network
    (r"\frac{\partial E}{\partial w_{jk}}", r"\frac{\partial E}{\partial w_{jk}}"),
    (r"\frac{\partial E}{\partial w_{j,k}}", r"\frac{\partial E}{\partial w_{jk}}"),
    (r"\frac{\partial}{\partial z_j} E", r"\frac{\partial E}{\partial z_{j}}"),
    (r"\frac{\partial E}{\partial b_j}\frac{\partial b_j}{\partial z_j}",
     r"\frac{\partial E}{\partial b_{j}} \cdot \left(\frac{\partial b_{j}}{\partial z_{j}}\right)"),
    # chains with a left-hand side, and a trailing line break
    (r"\psi_j = \frac{\partial E}{\partial z_j} = g'(z_j)\sum_k \delta_k w_{jk}",
     r"\psi_{j} = \frac{\partial E}{\partial z_{j}} = g'\left(z_{j}\right) \cdot \left("
     + SUM_DW + r"\right)"),
    (r"\delta_k = (c_k - t_k) g'(h_k) \\", r"\delta_{k} = " + CK_GP),
    ("-g'(h_k)(t_k - c_k)", r"-g'\left(h_{k}\right) \cdot \left(t_{k} - c_{k}\right)"),
]


@pytest.mark.parametrize("text, expected", NETWORK_NOTATION,
                         ids=[t for t, _ in NETWORK_NOTATION])
def test_network_notation(backprop, text: str, expected: str) -> None:
    assert reading(backprop, "e", text) == expected


def test_reading_is_stable(backprop) -> None:
    """What the grader prints as "read as" reads back to the same tree."""
    vocab = backprop.part("e").vocabulary
    for text, _ in NETWORK_NOTATION:
        for expr in read(text, vocab):
            assert read_expression(to_latex(expr), vocab) == expr, text


# ---------------------------------------------------------------------------- the silent misreads

def test_g_prime_is_the_derivative_not_g(backprop) -> None:
    vocab = backprop.part("b").vocabulary
    for text in ("g'(h_k)", r"g^{\prime}(h_k)", r"g\prime(h_k)", "g′(h_k)", r"g^{'}(h_k)"):
        assert read_expression(text, vocab) == Call("g", 1, Ref("h", ("k",))), text
    assert read_expression("g(h_k)", vocab) == Call("g", 0, Ref("h", ("k",)))


def test_without_the_prime_part_b_is_not_correct(backprop) -> None:
    result = grade_answer(backprop, "b", "(c_k - t_k) g(h_k)")
    assert result.verdict is Verdict.INCORRECT
    assert result.score == 0
    assert grade_answer(backprop, "b", "(c_k - t_k) g'(h_k)").verdict is Verdict.CORRECT


def test_sigma_of_minus_x_is_a_call(backprop) -> None:
    expr = read_expression(r"\sigma(-x)", backprop.part("a").vocabulary)
    assert isinstance(expr, Call) and expr.func == "sigma"
    assert expr.arg == Neg(Var("x"))


def test_sum_with_bounds_runs_to_the_layer_size(backprop) -> None:
    vocab = backprop.part("e").vocabulary
    bounded = read_expression(r"\sum_{k=1}^{K} \delta_k w_{jk}", vocab)
    assert isinstance(bounded, Sum) and bounded.index == "k" and bounded.over == "k"
    assert bounded == read_expression(r"\sum_k \delta_k w_{jk}", vocab)
    with pytest.raises(AnswerError, match="must run up to"):
        read_expression(r"\sum_{k=1}^{k} \delta_k w_{jk}", vocab)


def test_partial_derivative_is_a_derivative_not_zero(backprop) -> None:
    expr = read_expression(r"\frac{\partial E}{\partial w_{jk}}", backprop.part("c").vocabulary)
    assert expr == Deriv(Ref("E"), Ref("w", ("j", "k")), True)
    result = grade_answer(backprop, "c", r"\frac{\partial E}{\partial w_{jk}}")
    assert result.score == 0 and "circular" in result.flags


def test_sum_without_bounds(backprop) -> None:
    expr = read_expression(r"\sum_k \delta_k", backprop.part("e").vocabulary)
    assert expr == Sum("k", Ref("delta", ("k",)), "k")


def test_dummy_letter_takes_the_range_of_its_use(backprop) -> None:
    expr = read_expression(r"\sum_l \delta_l w_{jl}", backprop.part("e").vocabulary)
    assert isinstance(expr, Sum) and expr.over == "k"
    assert isinstance(expr.body, Mul)


# ---------------------------------------------------------------------------- errors
ERRORS = [
    # unknown symbols are named, with what the problem knows
    ("q", 0, "unknown symbol 'q'"),
    (r"\alpha", 0, r"unknown symbol '\alpha'"),
    (r"\sigma(x)", 7, "unknown symbol 'x'"),
    (r"\delta_k y_k", 9, "unknown symbol 'y'"),
    ("sigmaa(z_j)", 0, r"did you mean \sigma?"),
    (r"\Psi_j", 0, r"did you mean \psi?"),
    # indices: how many, which letters
    ("w_{j}", 1, "w takes 2 indexes"),
    ("w_{jkk}", 1, "found 3"),
    ("w", 0, "needs its index"),
    (r"\delta", 0, "needs its index"),
    (r"w_{j\sigma}", 4, "an index must be a letter"),
    ("w_{jq}", 4, "'q' is not an index"),
    # sums
    (r"\sum a_i \delta_k", 0, r"\sum needs its index"),
    (r"\sum_k", 0, "nothing after it"),
    (r"\sum_{k=0}^{K} \delta_k", 8, "must start at 1"),
    (r"\sum_{k=1}^{10^{15}} \delta_k", 11, "must run up to"),
    (r"\sum_{jk} \delta_k", 4, "one letter"),
    (r"\sum_w \delta_k", 5, "'w' is a quantity"),
    (r"\sum_l b_j", 0, "adds up nothing indexed by l"),
    # functions
    ("g'h_k", 0, "must be applied with brackets"),
    ("g'", 0, "needs an argument"),
    ("g(h_k)'", 6, "unexpected script"),
    (r"\sigma'''(z_j)", 0, "beyond order 2"),
    ("g_k(h_k)", 1, "does not take a subscript"),
    # primes, scripts and \partial where they cannot be
    (r"\delta_k'", 8, "a prime only follows a function"),
    (r"\delta_k^{\prime}", 8, "a prime only follows a function"),
    ("3_k", 1, "a number cannot have a subscript"),
    ("(c_k)_k", 5, "brackets cannot have a subscript"),
    (r"\partial E", 0, r"\partial outside"),
    (r"\frac{\partial E}{\partial (h_k + 1)}", 27, "with respect to one quantity"),
    (r"\frac{d}{dx}", 0, "applied to nothing"),
    (r"\delta_k w_{jk} k", 16, "cannot stand alone"),
    # sizes that are not meant
    ("2^{100}", 1, "too large"),
    ("10^{10^{10}}", 6, "too large"),
    (r"\frac{1}{0}", 0, "division by zero"),
]


@pytest.mark.parametrize("text, position, words", ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_point_at_the_problem(backprop, text: str, position: int, words: str) -> None:
    with pytest.raises(AnswerError) as info:
        read(text, backprop.part("e").vocabulary)
    assert info.value.position == position
    assert words in info.value.message


def test_unknown_symbol_lists_the_known_names(backprop) -> None:
    with pytest.raises(AnswerError) as info:
        read("q_k", backprop.part("b").vocabulary)
    message = info.value.message
    assert "'q'" in message
    for name in (r"\delta", r"\psi", "w", "g", r"\sigma"):
        assert name in message


@pytest.mark.parametrize("text, names", [
    (r"\delta_j", [r"\delta_{j}", "output units", "j"]),
    ("w_{kj}", ["w_{kj}", "first index", "hidden units"]),
    ("b_k", ["b_{k}", "hidden units", "k"]),
    ("a_j", ["a_{j}", "input units", "j"]),
    (r"\psi_k", [r"\psi_{k}", "hidden units", "k"]),
], ids=str)
def test_wrong_index_names_it(backprop, text: str, names: list[str]) -> None:
    """A real quantity with the wrong index letter is IndexMismatch (graded incorrect)."""
    with pytest.raises(IndexMismatch) as info:
        read(text, backprop.part("e").vocabulary)
    for name in names:
        assert name in str(info.value)


def test_read_expression_refuses_a_chain(backprop) -> None:
    with pytest.raises(AnswerError, match="one expression"):
        read_expression("a_i = b_j", backprop.part("e").vocabulary)
