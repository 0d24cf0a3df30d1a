r"""Tests for grader.network and the backprop of grader.tensor.

Every gradient the grader trusts (dE/d theta for each leaf and each intermediate, and the
signals \delta_k, \psi_j) is cross-checked here by central finite differences on numeric
instances, for every activation used for the generic g; and the symbolic instance must give
the numeric values once its symbols are replaced by the numeric instance's values.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy

from grader.expr import Ref
from grader.network import ACTIVATIONS, Numeric
from grader.tensor import Tensor

SIZES = {"i": 3, "j": 4, "k": 2}
STEP = 1e-5


def leaf_values(network, evaluator) -> dict[str, np.ndarray]:
    return {name: np.array(evaluator.lookup(name), dtype=float) for name in network.leaves}


def instance(network, values, activation):
    """A numeric instance with exactly these leaf values."""
    copied = {name: np.array(v, dtype=float) for name, v in values.items()}
    return network._instance(Numeric(), dict(SIZES), copied, {}, activation)


def as_leaf(network, evaluator, name: str):
    """The network with ``name`` cut loose from its equation, and the leaf values to match."""
    cut = dataclasses.replace(
        network,
        leaves={**network.leaves, name: network.quantities()[name]},
        equations=tuple(e for e in network.equations if e.name != name),
    )
    values = leaf_values(network, evaluator)
    values[name] = np.array(evaluator.lookup(name), dtype=float)
    return cut, values


def finite_difference(network, values, activation, name: str) -> np.ndarray:
    """dE/d(name) by central differences, one entry at a time, in the quantity's slot order."""
    gradient = np.zeros_like(values[name])
    for position in np.ndindex(*values[name].shape):
        up, down = dict(values), dict(values)
        up[name] = values[name].copy()
        down[name] = values[name].copy()
        up[name][position] += STEP
        down[name][position] -= STEP
        e_up = float(instance(network, up, activation).lookup("E"))
        e_down = float(instance(network, down, activation).lookup("E"))
        gradient[position] = (e_up - e_down) / (2 * STEP)
    return gradient


def backprop(evaluator, network, name: str) -> np.ndarray:
    slots = network.quantities()[name]
    result = evaluator.gradient(Ref("E"), Ref(name, slots))
    return np.asarray(result.aligned(slots), dtype=float)


@pytest.fixture(scope="module")
def network(backprop):
    return backprop.network


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("name", ["a", "u", "e", "w", "f", "t"])
def test_leaf_gradients_match_finite_differences(network, activation: str, name: str) -> None:
    evaluator = network.numeric(7, activation, sizes=dict(SIZES))
    values = leaf_values(network, evaluator)
    expected = finite_difference(network, values, activation, name)
    np.testing.assert_allclose(backprop(evaluator, network, name), expected,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("name", ["z", "b", "h", "c"])
def test_intermediate_gradients_match_finite_differences(network, activation: str,
                                                         name: str) -> None:
    evaluator = network.numeric(11, activation, sizes=dict(SIZES))
    cut, values = as_leaf(network, evaluator, name)
    expected = finite_difference(cut, values, activation, name)
    np.testing.assert_allclose(backprop(evaluator, network, name), expected,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("signal, of", [("delta", "h"), ("psi", "z")])
def test_signals_match_finite_differences(network, activation: str, signal: str,
                                          of: str) -> None:
    """\\delta_k = dE/dh_k and \\psi_j = dE/dz_j, as the network looks them up."""
    evaluator = network.numeric(13, activation, sizes=dict(SIZES))
    cut, values = as_leaf(network, evaluator, of)
    expected = finite_difference(cut, values, activation, of)
    np.testing.assert_allclose(np.asarray(evaluator.lookup(signal), dtype=float), expected,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_signals_follow_the_textbook_formulas(network, activation: str) -> None:
    r"""\delta_k = (c_k - t_k) g'(h_k) and \psi_j = g'(z_j) \sum_k \delta_k w_{jk}."""
    ev = network.numeric(17, activation, sizes=dict(SIZES))
    slope = Numeric().function(activation, 1)
    c, t, h, z, w = (np.asarray(ev.lookup(n), dtype=float) for n in "cthzw")
    delta = (c - t) * slope(h)
    np.testing.assert_allclose(ev.lookup("delta"), delta, rtol=1e-10)
    np.testing.assert_allclose(ev.lookup("psi"), slope(z) * (w @ delta), rtol=1e-10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_derivatives_of_each_activation(activation: str) -> None:
    """The listed first and second derivatives are those of the function (central differences)."""
    x = np.linspace(-3, 3, 13)
    functions = Numeric.FUNCTIONS[activation]
    for order in (0, 1, 2):
        numeric = (functions[order](x + STEP) - functions[order](x - STEP)) / (2 * STEP)
        np.testing.assert_allclose(functions[order + 1](x), numeric, rtol=1e-6, atol=1e-8)


def test_shared_letter_is_the_diagonal(network) -> None:
    """dc_k/dh_k is g'(h_k) for each k (the diagonal), not a K x K matrix."""
    ev = network.numeric(19, "tanh", sizes=dict(SIZES))
    result = ev.gradient(Ref("c", ("k",)), Ref("h", ("k",)))
    assert result.axes == ("k",)
    h = np.asarray(ev.lookup("h"), dtype=float)
    np.testing.assert_allclose(np.asarray(result.array, dtype=float), 1 - np.tanh(h) ** 2)


def test_jacobian_with_distinct_letters(network) -> None:
    """dh_k/db_j is w_jk: the full Jacobian when the letters differ."""
    ev = network.numeric(23, "arctan", sizes=dict(SIZES))
    result = ev.gradient(Ref("h", ("k",)), Ref("b", ("j",)))
    np.testing.assert_allclose(np.asarray(result.aligned(("j", "k")), dtype=float),
                               ev.lookup("w"))


def test_no_dependence_is_zero(network) -> None:
    ev = network.numeric(29, "sigmoid", sizes=dict(SIZES))
    result = ev.gradient(Ref("z", ("j",)), Ref("w", ("j", "k")))
    assert not np.any(np.asarray(result.array, dtype=float))


def test_random_sizes_are_distinct_and_small(network) -> None:
    """A wrong index cannot pass by luck: the layer sizes of an instance differ."""
    for seed in range(20):
        sizes = network.numeric(seed, "sigmoid").sizes
        assert len(set(sizes.values())) == len(sizes)
        assert all(2 <= n <= 6 for n in sizes.values())


def test_targets_are_positive(network) -> None:
    t = network.numeric(3, "sigmoid", sizes=dict(SIZES)).lookup("t")
    assert np.all((t > 0) & (t < 1))


def test_same_seed_same_instance(network) -> None:
    one = network.numeric(5, "tanh").lookup("E")
    two = network.numeric(5, "tanh").lookup("E")
    assert float(one) == float(two)


# ---------------------------------------------------------------------------- symbolic

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_symbolic_instance_agrees_with_numeric(network, activation: str) -> None:
    sizes = {"i": 2, "j": 2, "k": 2}
    numeric = network.numeric(31, activation, sizes=sizes)
    symbolic = network.symbolic(activation, sizes=sizes)
    substitutions = {}
    for name in network.leaves:
        symbols = symbolic.lookup(name)
        numbers = np.asarray(numeric.lookup(name), dtype=float)
        for position in np.ndindex(*numbers.shape):
            substitutions[symbols[position]] = numbers[position]
    for name in ("E", "c", "delta", "psi"):
        expected = np.asarray(numeric.lookup(name), dtype=float)
        got = np.vectorize(lambda s: _number(s, substitutions))(
            np.asarray(symbolic.lookup(name), dtype=object))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=name)
    gradient = symbolic.gradient(Ref("E"), Ref("u", ("i", "j")))
    got = np.vectorize(lambda s: _number(s, substitutions))(
        np.asarray(gradient.aligned(("i", "j")), dtype=object))
    expected = numeric.gradient(Ref("E"), Ref("u", ("i", "j"))).aligned(("i", "j"))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def _number(value, substitutions) -> float:
    return float(value.evalf(subs=substitutions)) if hasattr(value, "evalf") else float(value)


def test_generic_symbolic_activation_is_an_undefined_function(network) -> None:
    """With g generic, c_k is g(h_k) and \\delta_k holds the named derivative gp."""
    symbolic = network.symbolic("generic", sizes={"i": 1, "j": 1, "k": 1})
    delta = symbolic.lookup("delta").flat[0]
    names = {type(f).__name__ for f in delta.atoms(sympy.core.function.AppliedUndef)}
    assert names == {"g", "gp"}


def test_tensor_alignment() -> None:
    t = Tensor(np.arange(6).reshape(2, 3), ("j", "k"))
    assert t.aligned(("k", "j")).shape == (3, 2)
    assert t.aligned(("i", "j", "k")).shape == (1, 2, 3)


def test_two_letters_over_one_range_have_one_size() -> None:
    """softmax declares k and l over the K outputs: every instance gives them one size, and the
    other layers still differ (so a wrong index cannot pass by luck)."""
    from grader.problem import load_problem

    softmax = load_problem("softmax").network
    for seed in range(20):
        sizes = softmax.numeric(seed, "tanh").sizes
        assert sizes["k"] == sizes["l"]
        assert len({sizes["i"], sizes["j"], sizes["k"]}) == 3


def test_the_whole_softmax_jacobian_by_backprop() -> None:
    """dc_k/dh_l with two letters over the outputs is the K x K Jacobian c_k(delta_kl - c_l)."""
    from grader.problem import load_problem

    softmax = load_problem("softmax").network
    ev = softmax.numeric(31, "sigmoid")
    jacobian = ev.gradient(Ref("c", ("k",)), Ref("h", ("l",)))
    c = np.asarray(ev.lookup("c"), dtype=float)
    expected = np.diag(c) - np.outer(c, c)
    np.testing.assert_allclose(np.asarray(jacobian.aligned(("k", "l")), dtype=float), expected)


@pytest.mark.parametrize("name", ["relu", "heaviside"])
def test_non_smooth_functions_agree_in_every_backend(name: str) -> None:
    """ReLU and the step, and their derivatives (the step, then 0), in floats, at 50 digits and
    in SymPy, at points away from the kink; at the kink itself the three backends agree."""
    import mpmath

    from grader.network import Precise, Symbolic

    points = np.array([-2.5, -0.3, 0.0, 0.7, 3.0])
    away = points != 0
    relu = np.maximum(points, 0.0)
    step = (points > 0).astype(float)
    expected = {"relu": [relu, step, 0 * points, 0 * points],
                "heaviside": [step, 0 * points, 0 * points, 0 * points]}[name]
    for order in range(4):
        numeric = Numeric().function(name, order)(points)
        precise = Precise().function(name, order)(np.array([mpmath.mpf(p) for p in points],
                                                            dtype=object))
        exact = Symbolic().function(name, order)(np.array([sympy.Rational(p).limit_denominator()
                                                           for p in points], dtype=object))
        np.testing.assert_allclose(numeric[away], expected[order][away])
        np.testing.assert_allclose(np.asarray(precise, dtype=float), numeric)
        np.testing.assert_allclose(np.asarray(exact, dtype=float), numeric)
