"""Tests for grader.check: the numeric check, the symbolic proof and the circularity test."""

from __future__ import annotations

import pytest

from grader.check import Agreement, PartChecker, derivative_key, restates_question
from grader.grading import checker_for
from grader.network import ACTIVATIONS
from grader.reader import read_expression


@pytest.fixture(scope="module")
def checkers(backprop):
    return {pid: checker_for(backprop, part) for pid, part in backprop.parts.items()}


def expr(problem, part: str, text: str):
    return read_expression(text, problem.part(part).vocabulary)


def test_instances_cover_every_activation(checkers) -> None:
    """A generic g is checked with each smooth activation; part (a) fixes the sigmoid."""
    assert set(checkers["b"].activations) == set(ACTIVATIONS)
    assert set(checkers["a"].activations) == {"sigmoid"}
    sizes = {tuple(sorted(i.sizes.items())) for i in checkers["e"].instances}
    assert len(sizes) > 1, "instances should differ in their layer sizes"


@pytest.mark.parametrize("part, answer, agreement, ratio", [
    ("a", r"\sigma(x) - \sigma(x)^2", Agreement.EQUAL, None),
    ("a", r"\frac{e^{-x}}{(1+e^{-x})^2}", Agreement.EQUAL, None),
    ("a", r"-\sigma(x)(1-\sigma(x))", Agreement.DIFFERENT, -1.0),
    ("a", r"3\sigma(x)(1-\sigma(x))", Agreement.DIFFERENT, 3.0),
    ("a", r"\frac{1}{\sigma(x)-\sigma(x)}", Agreement.NOT_FINITE, None),
    ("a", r"\ln(\sigma(x) - 1)", Agreement.NOT_FINITE, None),
    ("b", "(c_k - t_k) c_k (1 - c_k)", Agreement.SIGMOID_ONLY, None),
    ("b", r"(c_k-t_k)\sigma'(h_k)", Agreement.SIGMOID_ONLY, None),
    ("b", "(c_k - t_k) g(h_k)", Agreement.DIFFERENT, None),
    ("e", r"\sum_l \delta_l w_{jl} g'(z_j)", Agreement.EQUAL, None),
    ("e", r"b_j(1-b_j)\sum_k \delta_k w_{jk}", Agreement.SIGMOID_ONLY, None),
    ("g", r"\frac{\partial E}{\partial z_j}", Agreement.EQUAL, None),
    ("g", r"-\psi_j", Agreement.DIFFERENT, -1.0),
], ids=lambda v: v if isinstance(v, str) else None)
def test_numeric(backprop, checkers, part, answer, agreement, ratio) -> None:
    outcome = checkers[part].numeric(expr(backprop, part, answer),
                                     backprop.part(part).reference_expr)
    assert outcome.agreement is agreement
    if ratio is not None:
        assert outcome.ratio == pytest.approx(ratio)


@pytest.mark.parametrize("part, answer, equal", [
    ("a", r"\sigma(x)\sigma(-x)", True),
    ("a", r"\frac{1}{e^{x}+2+e^{-x}}", True),
    ("a", r"\sigma(x)(1-\sigma(x)) + 10^{-9}", False),
    ("b", "g'(h_k)c_k - g'(h_k)t_k", True),
    ("b", "(g(h_k) - t_k) g'(h_k)", True),
    ("b", "(c_k - t_k) c_k (1 - c_k)", False),
    ("c", r"(c_k - t_k) g'(h_k) g(z_j)", True),
    ("e", r"g'(z_j)\sum_k (c_k-t_k)g'(h_k)w_{jk}", True),
    ("f", r"a_i g'(z_j)\sum_k \delta_k w_{jk}", True),
    ("f", r"a_i g(z_j)\sum_k \delta_k w_{jk}", False),
], ids=lambda v: v if isinstance(v, str) else None)
def test_symbolic(backprop, checkers, part, answer, equal) -> None:
    assert checkers[part].symbolic(expr(backprop, part, answer),
                                   backprop.part(part).reference_expr) is equal


def test_symbolic_with_the_sigmoid(backprop, checkers) -> None:
    """c_k(1-c_k) is g'(h_k) when g is the sigmoid, and only then."""
    answer = expr(backprop, "b", "(c_k - t_k) c_k (1 - c_k)")
    reference = backprop.part("b").reference_expr
    assert checkers["b"].symbolic(answer, reference, activation="sigmoid")
    # (expect_equal=False: the numeric check already saw the difference; the thorough
    # simplification of a tanh network that is not zero is slow, and the grader never asks it)
    assert not checkers["b"].symbolic(answer, reference, activation="tanh", expect_equal=False)


def test_fingerprint_is_the_value_not_the_notation(backprop, checkers) -> None:
    one = checkers["e"].fingerprint(expr(backprop, "e", r"g'(z_j)\sum_k \delta_k w_{jk}"))
    two = checkers["e"].fingerprint(expr(backprop, "e", r"\sum_{l} w_{jl}\delta_l g^{\prime}(z_j)"))
    other = checkers["e"].fingerprint(expr(backprop, "e", r"\sum_k \delta_k w_{jk}"))
    assert one == two != other


def test_checker_is_deterministic(backprop) -> None:
    part = backprop.part("c")
    one, two = PartChecker(backprop, part), PartChecker(backprop, part)
    assert [i.sizes for i in one.instances] == [i.sizes for i in two.instances]


# ---------------------------------------------------------------------------- circularity

@pytest.mark.parametrize("part, answer, circular", [
    ("a", "g'(x)", True),
    ("a", r"\sigma'(x)", True),
    ("a", r"\frac{d}{dx}\sigma(x)", True),
    ("a", r"\frac{d\sigma(x)}{dx}", True),
    ("a", r"\frac{d}{dx} g(x)", True),
    ("a", r"2 \sigma'(x) - \sigma'(x)", True),
    ("a", r"\sigma(x)(1-\sigma(x))", False),
    ("b", r"\delta_k", True),
    ("b", r"\frac{\partial E}{\partial h_k}", True),
    ("b", r"\frac{\partial E}{\partial c_k} g'(h_k)", False),
    ("c", r"\frac{\partial E}{\partial w_{jk}}", True),
    ("c", r"\frac{\partial E}{\partial w_{j,k}}", True),
    ("c", r"\delta_k b_j", False),
    ("d", r"\frac{\partial E}{\partial f_k}", True),
    ("d", r"\frac{\partial E}{\partial h_k}", False),
    ("e", r"\psi_j", True),
    ("e", r"\frac{\partial E}{\partial z_j}", True),
    ("e", r"\frac{\partial}{\partial z_j} E", True),
    ("f", r"\frac{\partial E}{\partial u_{ij}}", True),
    ("g", r"\frac{\partial E}{\partial e_j}", True),
    ("g", r"\psi_j", False),
], ids=lambda v: v if isinstance(v, str) else None)
def test_restates_question(backprop, part, answer, circular) -> None:
    p = backprop.part(part)
    assert restates_question(expr(backprop, part, answer), backprop, p) is circular


def test_signal_and_its_definition_name_one_derivative(backprop) -> None:
    part = backprop.part("b")
    assert derivative_key(expr(backprop, "b", r"\delta_k"), backprop, part) == \
        derivative_key(expr(backprop, "b", r"\frac{\partial E}{\partial h_k}"), backprop, part)
    assert derivative_key(expr(backprop, "b", "c_k"), backprop, part) is None
