r"""Tests for grader.grading: the verdict ladder, part by part, as a TA would grade.

Each table row is (answer, verdict, share of the part's points, words the feedback must hold).
The tables go beyond the dev corpus: other notation, other mistakes, other wrong indices.
Grading is in-process here (grader.grading.grade_answer); the pool has its own tests.
"""

from __future__ import annotations

import builtins

import pytest
import sympy
import sympy.parsing.sympy_parser

from grader import grading
from grader.expr import to_latex
from grader.grading import grade_answer
from grader.results import Verdict

C, P, I, V, R = (Verdict.CORRECT, Verdict.PARTIAL, Verdict.INCORRECT, Verdict.INVALID,  # noqa: E741
                 Verdict.REVIEW)
CIRCULAR = "Circular"
FORM = "asked for it"
SIGMOID = "Right only when g is the sigmoid"

TABLES = {
    "a": [
        (r"\sigma(x)(1-\sigma(x))", C, 1, "Correct."),
        (r"\sigma(x)\sigma(-x)", C, 1, "Correct."),
        (r"\sigma(x) - \sigma^2(x)", C, 1, "Correct."),
        (r"\sigma(x)\times\bigl(1-\sigma(x)\bigr)", C, 1, "Correct."),
        ("σ(x)(1−σ(x))", C, 1, "Correct."),
        (r"g'(x) = \sigma(x)\left[1 - \sigma(x)\right]", C, 1, "Correct."),
        (r"\sigma(x)(1-\sigma(x)) + \frac{0}{1+x^2}", C, 1, "Correct."),
        # the right value, not as a function of sigma: credit with a note (spec: form_credit 1)
        (r"\frac{e^{-x}}{(1+e^{-x})^2}", C, 1, FORM),
        (r"\frac{1}{e^{x}+2+e^{-x}}", C, 1, FORM),
        (r"\frac{1}{4}\left(1-\tanh^2(x/2)\right)", C, 1, FORM),
        (r"\exp(-x)\sigma(x)^2", C, 1, FORM),
        # circular
        ("g'(x)", I, 0, CIRCULAR),
        (r"\sigma'(x)", I, 0, CIRCULAR),
        (r"\frac{d}{dx}\sigma(x)", I, 0, CIRCULAR),
        # the spec's known mistakes and generic feedback
        (r"-\sigma(x)(1-\sigma(x))", I, 0, "sign is flipped"),
        (r"1-\sigma(x)^2", I, 0, r"derivative of $\tanh$"),
        (r"\sigma(x)(1+\sigma(x))", I, 0, "sign inside the bracket"),
        (r"2\sigma(x)(1-\sigma(x))", I, 0, "constant factor (2 times"),
        (r"\sigma(x)(1-\sigma(x))/2", I, 0, "constant factor (0.5 times"),
        (r"\sigma(x)", I, 0, "other values"),
        (r"\sigma(x)^2(1-\sigma(x))", I, 0, "other values"),
        (r"\frac{1}{\sigma(x)-\sigma(x)}", I, 0, "no finite value"),
        (r"\ln(\sigma(x) - 1)", I, 0, "no finite value"),
        # unreadable
        (r"\sigma(x)(1-\sigma(y))", V, 0, "unknown symbol 'y'"),
        (r"\sigma x (1 - \sigma x)", V, 0, "brackets"),
        (r"\sigma(x)(1-\sigma(x)", V, 0, "ends before ')'"),
        # numerically equal, symbolically not (off by 1e-9): a human decides
        (r"\sigma(x)(1-\sigma(x)) + 10^{-9}", I, 0, "very small amount"),
    ],
    "b": [
        ("(c_k - t_k) g'(h_k)", C, 1, "Correct."),
        (r"(c_k - t_k) g^{\prime}(h_k)", C, 1, "Correct."),
        (r"(c_k - t_k) g\prime(h_k)", C, 1, "Correct."),
        (r"\left[c_k - t_k\right] \cdot g′(h_k)", C, 1, "Correct."),
        (r"\{c_k - t_k\} * g'(h_k)", C, 1, "Correct."),
        ("(g(h_k) - t_k) g'(h_k)", C, 1, "Correct."),
        (r"\delta_k = \frac{\partial E}{\partial h_k} = (c_k - t_k) g'(h_k)", C, 1, "Correct."),
        (r"(c_k - t_k) g'(f_k + \sum_j b_j w_{jk})", C, 1, FORM),
        ("(c_k - t_k) g(h_k)", I, 0, "slope of the activation"),
        ("(t_k - c_k) g'(h_k)", P, 0.5, "sign is flipped"),
        ("c_k - t_k", P, 0.5, "passes through the activation"),
        (r"\sum_k (c_k - t_k) g'(h_k)", I, 0, "no sum over k remains"),
        ("(c_k - t_k) c_k (1 - c_k)", P, 0.5, SIGMOID),
        (r"(c_k-t_k)\sigma(h_k)(1-\sigma(h_k))", P, 0.5, SIGMOID),
        (r"\delta_k", I, 0, CIRCULAR),
        (r"\frac{\partial E}{\partial h_k}", I, 0, CIRCULAR),
        ("(c_j - t_j) g'(h_j)", I, 0, "c_{j}"),
        ("(c_k - t_k) g'(h_j)", I, 0, "h_{j}"),
        (r"\frac{1}{2}(c_k - t_k) g'(h_k)", I, 0, "0.5 times"),
        ("2(c_k - t_k) g'(h_k)", I, 0, "2 times"),
        ("(c_k - t_k) g''(h_k)", I, 0, "other values"),
        ("(c_k - t_k)^2 g'(h_k)", I, 0, "other values"),
        ("(c_k - y_k) g'(h_k)", V, 0, "unknown symbol 'y'"),
        ("(c_k - t_k) g'(x)", V, 0, "unknown symbol 'x'"),
    ],
    "c": [
        (r"\delta_k b_j", C, 1, "Correct."),
        (r"b_j\delta_k", C, 1, "Correct."),
        (r"\delta_{k} \cdot b_{j}", C, 1, "Correct."),
        (r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j", C, 1, "Correct."),
        (r"\delta_k b_j = \frac{\partial E}{\partial w_{jk}}", C, 1, "Correct"),
        (r"\delta_k b_j + \delta_k b_j - \delta_k b_j", C, 1, "Correct."),
        (r"\delta_k \cdot g(z_j)", C, 1, FORM),
        ("(c_k - t_k) g'(h_k) b_j", C, 1, FORM),
        (r"\frac{\partial E}{\partial h_k} b_j", C, 1, FORM),
        (r"\delta_k w_{jk}", I, 0, "not the weight itself"),
        (r"\delta_k z_j", I, 0, "not its input"),
        (r"\sum_k \delta_k b_j", I, 0, "no sum over k"),
        (r"\delta_k \sigma(z_j)", P, 0.5, SIGMOID),
        (r"\frac{\partial E}{\partial w_{jk}}", I, 0, CIRCULAR),
        (r"\frac{\partial E}{\partial w_{j,k}}", I, 0, CIRCULAR),
        (r"\sum_j \delta_k b_j", I, 0, "does not depend on j"),
        (r"\delta_k", I, 0, "does not depend on j"),
        (r"\delta_k b_j a_i", I, 0, "free index i"),
        (r"\delta_k b_k", I, 0, "b_{k}"),
        (r"w_{kj}\delta_k", I, 0, "w_{kj}"),
        (r"-\delta_k b_j", I, 0, "wrong sign"),
        (r"\delta_k b_j^2", I, 0, "other values"),
    ],
    "d": [
        (r"\delta_k", C, 1, "Correct."),
        (r"\delta_k \cdot 1", C, 1, "Correct."),
        (r"1\delta_k", C, 1, "Correct."),
        (r"\frac{\delta_k}{1}", C, 1, "Correct."),
        (r"\delta_k = \frac{\partial E}{\partial f_k}", C, 1, "Correct"),
        ("(c_k-t_k)g'(h_k)", C, 1, FORM),
        (r"\frac{\partial E}{\partial h_k}", C, 1, FORM),
        (r"\frac{\partial E}{\partial f_k}", I, 0, CIRCULAR),
        (r"\delta_k b_j", I, 0, "no $b_j$"),
        (r"\delta_k f_k", I, 0, "not $f_k$"),
        ("(c_k-t_k)c_k(1-c_k)", P, 0.5, SIGMOID),
        ("0", I, 0, "does not depend on k"),
        (r"\sum_k \delta_k", I, 0, "does not depend on k"),
        (r"-\delta_k", I, 0, "wrong sign"),
        (r"2\delta_k", I, 0, "2 times"),
        (r"\delta_j", I, 0, r"\delta_{j}"),
        (r"\delta_k^2", I, 0, "other values"),
        (r"\delta_k g(h_k)", I, 0, "other values"),
    ],
    "e": [
        (r"g'(z_j)\sum_k \delta_k w_{jk}", C, 1, "Correct."),
        (r"g'(z_j)\sum\limits_k \delta_k w_{jk}", C, 1, "Correct."),
        (r"g'(z_j)\sum_{k} \delta_k w_{j,k}", C, 1, "Correct."),
        (r"\sum_{k=1}^{K} \delta_k w_{jk} g'(z_j)", C, 1, "Correct."),
        (r"\sum_l \delta_l w_{jl} g'(z_j)", C, 1, "Correct."),
        (r"g^{\prime}(z_j)\sum_k w_{jk}\delta_k", C, 1, "Correct."),
        (r"\psi_j = g'(z_j)\left(\sum_k \delta_k w_{jk}\right)", C, 1, "Correct."),
        (r"g'(z_j)\sum_k (c_k-t_k)g'(h_k)w_{jk}", C, 1, FORM),
        (r"\sum_k \frac{\partial E}{\partial h_k} w_{jk} g'(z_j)", C, 1, FORM),
        (r"b_j(1-b_j)\sum_k \delta_k w_{jk}", P, 0.5, SIGMOID),
        (r"\sigma'(z_j)\sum_k \delta_k w_{jk}", P, 0.5, SIGMOID),
        (r"\sum_k \delta_k w_{jk}", P, 0.5, "one more chain-rule factor"),
        (r"g'(z_j)\delta_k w_{jk}", P, 0.5, "collects a sum over k"),
        (r"g(z_j)\sum_k\delta_k w_{jk}", I, 0, "not its value"),
        (r"g'(z_j)\sum_k \delta_k w_{kj}", I, 0, "w_{kj}"),
        (r"g'(z_j)\sum_j \delta_k w_{jk}", I, 0, "free index k"),
        (r"g'(z_j)\sum_k \delta_k", I, 0, "other values"),
        (r"-g'(z_j)\sum_k \delta_k w_{jk}", I, 0, "wrong sign"),
        (r"g'(z_j)\sum_k \delta_k w_{jk} \cdot 2", I, 0, "2 times"),
        (r"\psi_j", I, 0, CIRCULAR),
        (r"\frac{\partial E}{\partial z_j}", I, 0, CIRCULAR),
        (r"g'(z_j)\sum_{k=0}^{K} \delta_k w_{jk}", V, 0, "must start at 1"),
        (r"g'(z_j)\sum_{K} \delta_k w_{jk}", V, 0, "adds up nothing"),
    ],
    "f": [
        (r"\psi_j a_i", C, 1, "Correct."),
        (r"a_i\psi_j", C, 1, "Correct."),
        (r"a_{i}\cdot\psi_{j}", C, 1, "Correct."),
        (r"\psi_j \times a_i", C, 1, "Correct."),
        (r"\psi_j\, a_i", C, 1, "Correct."),
        (r"a_i g'(z_j)\sum_k\delta_k w_{jk}", C, 1, FORM),
        (r"\frac{\partial E}{\partial z_j} a_i", C, 1, FORM),
        (r"\psi_j u_{ij}", I, 0, "not the weight itself"),
        (r"a_i b_j(1-b_j)\sum_k\delta_k w_{jk}", P, 0.5, SIGMOID),
        (r"\sum_i \psi_j a_i", I, 0, "no sum over i"),
        (r"\psi_j", I, 0, "does not depend on i"),
        ("a_i", I, 0, "does not depend on j"),
        (r"\psi_i a_j", I, 0, r"\psi_{i}"),
        (r"\psi_j a_j", I, 0, "a_{j}"),
        (r"-\psi_j a_i", I, 0, "wrong sign"),
        (r"\frac{\psi_j a_i}{2}", I, 0, "0.5 times"),
        (r"\psi_j a_i^2", I, 0, "other values"),
        (r"\frac{\partial E}{\partial u_{ij}}", I, 0, CIRCULAR),
        (r"\frac{\partial E}{\partial u_{i,j}}", I, 0, CIRCULAR),
    ],
    "g": [
        (r"\psi_j", C, 1, "Correct."),
        (r"\psi_{j}\cdot 1", C, 1, "Correct."),
        (r"1\cdot\psi_j", C, 1, "Correct."),
        (r"\frac{\partial E}{\partial e_j} = \psi_j", C, 1, "Correct."),
        (r"\frac{\partial E}{\partial e_j} = \frac{\partial E}{\partial z_j}"
         r"\frac{\partial z_j}{\partial e_j} = \psi_j", C, 1, "Correct."),
        (r"g'(z_j)\sum_k\delta_k w_{jk}", C, 1, FORM),
        (r"\frac{\partial E}{\partial z_j}", C, 1, FORM),
        (r"b_j(1-b_j)\sum_k \delta_k w_{jk}", P, 0.5, SIGMOID),
        (r"\psi_j e_j", I, 0, "not $e_j$"),
        (r"\psi_j a_i", I, 0, "no $a_i$"),
        (r"\sum_j \psi_j", I, 0, "does not depend on j"),
        ("0", I, 0, "does not depend on j"),
        (r"-\psi_j", I, 0, "wrong sign"),
        (r"2\psi_j", I, 0, "2 times"),
        (r"\psi_k", I, 0, r"\psi_{k}"),
        ("e_j", I, 0, "other values"),
        (r"\psi_j + e_j", I, 0, "other values"),
        (r"\frac{\partial E}{\partial e_j}", I, 0, CIRCULAR),
        # floats overflow, 100 digits do not: equal on the network, and SymPy proves it
        (r"\psi_j \frac{e^{1000 e_j}}{e^{1000 e_j}}", C, 1, "right value"),
        # a rounding difference in floats is no counterexample: settled at 100 digits
        (r"\psi_j + (e_j + 1)^{40} - (e_j^2 + 2e_j + 1)^{20}", C, 1, "right value"),
    ],
}
ROWS = [(part, *row) for part, rows in TABLES.items() for row in rows]


@pytest.mark.parametrize("part, answer, verdict, share, words", ROWS,
                         ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_ta_verdicts(backprop, part, answer, verdict, share, words) -> None:
    result = grade_answer(backprop, part, answer)
    assert (result.verdict, result.score) == (verdict, share * result.max_score), \
        result.feedback
    assert words in result.feedback
    reference = backprop.part(part)
    if verdict is not Verdict.CORRECT:
        assert to_latex(reference.reference_expr) not in result.feedback
        assert reference.reference not in result.feedback


def test_tables_are_big_enough() -> None:
    assert all(len(rows) >= 15 for rows in TABLES.values())


@pytest.mark.parametrize("part, answer", [
    ("b", r"\frac{\partial E}{\partial c_k} \frac{\partial c_k}{\partial h_k}"),
    ("c", r"\frac{\partial E}{\partial h_k}\frac{\partial h_k}{\partial w_{jk}}"),
    ("f", r"\frac{\partial E}{\partial z_j}\frac{\partial z_j}{\partial u_{ij}}"),
])
def test_unevaluated_chain_rule_is_not_full_credit(backprop, part, answer) -> None:
    result = grade_answer(backprop, part, answer)
    assert result.score < result.max_score


# ---------------------------------------------------------------------------- the ladder

@pytest.mark.parametrize("answer", [None, "", "   ", "\n"], ids=repr)
def test_missing(backprop, answer) -> None:
    result = grade_answer(backprop, "c", answer)
    assert result.verdict is Verdict.MISSING and result.score == 0


def test_invalid_points_at_the_position(backprop) -> None:
    result = grade_answer(backprop, "c", r"\delta_k b_j + \input{x}")
    assert result.verdict is Verdict.INVALID
    assert r"\input" in result.feedback and "(at character 16)" in result.feedback
    assert result.interpreted == ""


def test_every_known_mistake_gets_its_feedback(backprop) -> None:
    """Each mistake the spec lists, written as the spec writes it, gets its feedback and credit."""
    for part in backprop.parts.values():
        for mistake in part.mistakes:
            result = grade_answer(backprop, part.id, mistake.answer)
            assert result.feedback == mistake.feedback, (part.id, mistake.answer)
            assert result.score == pytest.approx(mistake.credit * part.points)
            assert "known-mistake" in result.flags


def test_spec_examples(backprop) -> None:
    """The spec's own accept examples get full credit, its reject examples do not."""
    for part in backprop.parts.values():
        for answer in part.accept:
            result = grade_answer(backprop, part.id, answer)
            assert result.score == part.points, (part.id, answer, result.feedback)
        for answer in part.reject:
            result = grade_answer(backprop, part.id, answer)
            assert result.score < part.points, (part.id, answer, result.feedback)


def test_every_reference_is_correct(backprop) -> None:
    for part in backprop.parts.values():
        result = grade_answer(backprop, part.id, part.reference)
        assert result.verdict is Verdict.CORRECT, part.id


def test_flags_say_why(backprop) -> None:
    assert "circular" in grade_answer(backprop, "e", r"\psi_j").flags
    assert "sigmoid-only" in grade_answer(backprop, "d", "(c_k-t_k)c_k(1-c_k)").flags
    assert "form" in grade_answer(backprop, "g", r"\frac{\partial E}{\partial z_j}").flags
    assert "index" in grade_answer(backprop, "c", r"\delta_k").flags
    # 10^{-35} is below what 100 digits can prove different and SymPy cannot prove it zero
    assert "disagree" in grade_answer(backprop, "g", r"\psi_j + 10^{-35}").flags


def test_result_shape(backprop) -> None:
    result = grade_answer(backprop, "b", "(c_k - t_k) g'(h_k)")
    data = result.to_json()
    assert set(data) >= {"score", "max_score", "verdict", "feedback", "answer", "interpreted",
                         "steps", "elapsed_ms"}
    assert data["answer"] == "(c_k - t_k) g'(h_k)"
    assert data["interpreted"] == r"\left(c_{k} - t_{k}\right) \cdot g'\left(h_{k}\right)"
    assert data["elapsed_ms"] > 0


def test_equal_answers_share_a_fingerprint(backprop) -> None:
    one = grade_answer(backprop, "e", r"g'(z_j)\sum_k \delta_k w_{jk}")
    two = grade_answer(backprop, "e", r"\sum_l w_{jl}\delta_l g'(z_j)")
    assert one.fingerprint and one.fingerprint == two.fingerprint


# ---------------------------------------------------------------------------- no eval

def test_no_student_text_reaches_eval_or_sympify(backprop, monkeypatch) -> None:
    """Grading never hands student text to eval, sympify or parse_expr."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"called with {args!r}")

    for checker in grading._CHECKERS.values():  # no cached value may hide a call
        for instance in checker.instances:
            instance.cache.clear()
        for symbolic in checker._symbolic.values():
            symbolic.cache.clear()
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(sympy, "sympify", refuse)
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", refuse)
    answers = [(part, row[0]) for part, rows in TABLES.items() for row in rows[::3]]
    answers += [("d", "eval('1+1')"), ("c", "__import__('os')"), ("a", "x.__class__"),
                ("b", r"\sigma(x); import os"), ("e", "lambda: 0")]
    for part, answer in answers:
        result = grade_answer(backprop, part, answer)
        assert result.verdict in set(Verdict), answer
    assert grade_answer(backprop, "d", "eval('1+1')").verdict is Verdict.INVALID


@pytest.mark.parametrize("part, answer, verdict", [
    ("a", r"sigma(x)(1-sigma(x))", "correct"),
    ("b", r"(c_k - t_k) exp(h_k)", "incorrect"),
    ("c", r"delta_k b_j", "correct"),
], ids=["sigma", "exp", "delta"])
def test_a_command_written_without_its_backslash_reads_as_the_command(backprop, part, answer,
                                                                      verdict):
    """A TA reads sigma(x) as the sigmoid: so does the grader (a whole word, known name)."""
    assert grade_answer(backprop, part, answer).verdict == verdict


@pytest.mark.parametrize("part, answer, hint", [
    ("a", r"\sigam(x)(1-\sigma(x))", r"did you mean \sigma?"),
    ("c", r"\delta_k W_{jk}", "did you mean w?"),
    ("c", r"\Delta_k b_j", r"did you mean \delta?"),
], ids=["misspelt-command", "capital-W", "capital-Delta"])
def test_a_name_the_problem_does_not_know_gets_a_hint(backprop, part, answer, hint):
    result = grade_answer(backprop, part, answer)
    assert result.verdict == "invalid"
    assert hint in result.feedback


def test_the_derivative_of_g_at_its_argument_is_g_prime_not_left_unevaluated(backprop):
    result = grade_answer(backprop, "b", r"(c_k - t_k)\frac{d g(h_k)}{d h_k}")
    assert result.verdict == "correct"


def test_a_network_derivative_left_standing_gets_no_credit(backprop):
    result = grade_answer(backprop, "b", r"(c_k - t_k)\frac{\partial c_k}{\partial h_k}")
    assert (result.verdict, result.score) == ("incorrect", 0)
    assert r"\frac{\partial c_{k}}{\partial h_{k}} unevaluated" in result.feedback
