"""Vector-matrix notation lowered to index notation: shapes, products, layouts, gradients.

The network here is built by hand from lowered equations (the spec loader does the same from
a problem file), so these tests pin the meaning of each construct independently of the reader.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.errors import GraderError, ShapeMismatch
from grader.expr import Add, Call, Deriv, Diag, Hadamard, MatMul, Neg, Num, Pow, Ref, Transpose
from grader.matrices import (
    DENOMINATOR,
    NUMERATOR,
    SCALAR,
    Dims,
    Shape,
    lower_equation,
    lowered,
    parse_shape,
    shape_of,
)
from grader.network import Equation, Network

LETTERS = {"D": "d", "H": "j", "C": "c"}
GIVEN = {"x": Shape("D"), "W_1": Shape("H", "D"), "b_1": Shape("H"), "W_2": Shape("C", "H"),
         "b_2": Shape("C"), "y": Shape("C")}


def R(name: str) -> Ref:
    return Ref(name)


P_MINUS_Y = Add((R("p"), Neg(R("y"))))


def _network(layout: str = DENOMINATOR) -> Network:
    """x -> z = W_1 x + b_1 -> h = tanh(z) -> s = W_2 h + b_2 -> p = softmax(s) -> L."""
    shapes = dict(GIVEN)
    equations = []
    for name, rhs in (("z", Add((MatMul((R("W_1"), R("x"))), R("b_1")))),
                      ("h", Call("tanh", 0, R("z"))),
                      ("s", Add((MatMul((R("W_2"), R("h"))), R("b_2")))),
                      ("p", Call("softmax", 0, R("s"))),
                      ("L", Neg(MatMul((Transpose(R("y")), Call("ln", 0, R("p"))))))):
        expr, shape, letters = lower_equation(rhs, Dims(dict(shapes), LETTERS, layout))
        shapes[name] = shape
        equations.append(Equation(name, letters, expr, name))
    dims = Dims(shapes, LETTERS, layout)
    leaves = {name: dims.slots(name) for name in GIVEN}
    return Network(ranges={v: k for k, v in LETTERS.items()}, leaves=leaves,
                   equations=tuple(equations), simplex=frozenset({"y"}), dims=dims)


@pytest.fixture(scope="module")
def network() -> Network:
    return _network()


def _same(instance, left, right) -> bool:
    a, b = instance.value(left), instance.value(right)
    assert set(a.axes) == set(b.axes)
    return bool(np.allclose(a.aligned(b.axes), b.array, rtol=1e-9, atol=1e-12))


@pytest.mark.parametrize("text,shape", [("D", Shape("D")), ("H x D", Shape("H", "D")),
                                        ("1 x H", Shape(None, "H")), ("1", SCALAR),
                                        ("C \\times H", Shape("C", "H")), ("C×H", Shape("C", "H"))])
def test_shapes_are_read_from_the_spec(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["", "HD x", "2 x D", "H x D x C", "h x d x"])
def test_a_shape_that_is_not_one_says_how_to_write_it(text):
    with pytest.raises(GraderError, match="is not a shape"):
        parse_shape(text)


def test_the_network_equations_lower_to_index_notation(network):
    assert network.check() == []
    z = network.equations[0]
    assert z.indices == ("j",)
    assert network.dims.shapes["L"] == SCALAR
    assert network.dims.shapes["p"] == Shape("C")


@pytest.mark.parametrize("answer,wrt", [
    (P_MINUS_Y, "s"),
    (MatMul((P_MINUS_Y, Transpose(R("h")))), "W_2"),
    (P_MINUS_Y, "b_2"),
    (MatMul((Transpose(R("W_2")), P_MINUS_Y)), "h"),
    (Hadamard((MatMul((Transpose(R("W_2")), P_MINUS_Y)), Call("tanh", 1, R("z")))), "z"),
    (MatMul((Diag(Call("tanh", 1, R("z"))), Transpose(R("W_2")), P_MINUS_Y)), "z"),
    (MatMul((Hadamard((MatMul((Transpose(R("W_2")), P_MINUS_Y)),
                       Add((Num(1), Neg(Hadamard((R("h"), R("h")))))))),
             Transpose(R("x")))), "W_1"),
    (MatMul((Transpose(R("W_1")),
             Hadamard((MatMul((Transpose(R("W_2")), P_MINUS_Y)), Call("tanh", 1, R("z")))))),
     "x"),
])
def test_the_textbook_gradients_equal_backprop_through_the_network(network, answer, wrt):
    """Denominator layout: dL/dW has W's shape, dL/dz is a column like z."""
    for seed in range(3):
        instance = network.numeric(seed, "tanh")
        assert _same(instance, answer, Deriv(R("L"), R(wrt)))
    assert shape_of(answer, network.dims) == network.dims.shapes[wrt]


def test_the_gradients_hold_symbolically_too(network):
    import sympy

    instance = network.symbolic("tanh", sizes={"d": 2, "j": 2, "c": 2})
    left = instance.value(MatMul((P_MINUS_Y, Transpose(R("h")))))
    right = instance.value(Deriv(R("L"), R("W_2")))
    difference = left.array - right.aligned(left.axes)
    assert all(sympy.simplify(entry) == 0 for entry in difference.ravel())


@pytest.mark.parametrize("answer,words", [
    (MatMul((R("W_2"), P_MINUS_Y)), ["C×H matrix", "column of C", "H ≠ C"]),
    (MatMul((Transpose(R("h")), P_MINUS_Y)), ["row of H", "column of C"]),
    (Add((R("h"), R("y"))), ["column of H", "column of C"]),
    (Add((R("h"), Transpose(R("h")))), ["column of H", "row of H"]),
    (Hadamard((R("h"), R("p"))), ["one shape"]),
    (MatMul((Diag(R("h")), R("p"))), ["diag", "column of C"]),
])
def test_products_and_sums_that_do_not_fit_name_the_shapes(network, answer, words):
    with pytest.raises(ShapeMismatch) as caught:
        shape_of(answer, network.dims)
    for word in words:
        assert word in str(caught.value)


def test_an_outer_product_and_an_inner_product():
    dims = _network().dims
    assert shape_of(MatMul((P_MINUS_Y, Transpose(R("h")))), dims) == Shape("C", "H")
    assert shape_of(MatMul((Transpose(R("h")), R("h"))), dims) == SCALAR
    assert shape_of(MatMul((Transpose(R("y")), Call("ln", 0, R("p")))), dims) == SCALAR


def test_transposed_answers_have_the_transposed_shape(network):
    dims = network.dims
    assert shape_of(MatMul((R("h"), Transpose(P_MINUS_Y))), dims) == Shape("H", "C")
    assert shape_of(Transpose(P_MINUS_Y), dims) == Shape(None, "C")


def test_numerator_layout_transposes_every_gradient():
    network = _network(NUMERATOR)
    dims = network.dims
    assert shape_of(Deriv(R("L"), R("W_2")), dims) == Shape("H", "C")
    assert shape_of(Deriv(R("L"), R("s")), dims) == Shape(None, "C")
    instance = network.numeric(4, "tanh")
    assert _same(instance, MatMul((R("h"), Transpose(P_MINUS_Y))), Deriv(R("L"), R("W_2")))
    assert _same(instance, Transpose(P_MINUS_Y), Deriv(R("L"), R("s")))


def test_a_jacobian_of_columns_follows_the_layout(network):
    dims = network.dims
    jacobian = Deriv(R("s"), R("h"))
    assert shape_of(jacobian, dims) == Shape("H", "C")  # denominator: (dh) x (ds)
    instance = network.numeric(2, "tanh")
    assert _same(instance, jacobian, Transpose(R("W_2")))
    chain = MatMul((Deriv(R("s"), R("h")), Deriv(R("L"), R("s"))))
    assert _same(instance, chain, Deriv(R("L"), R("h")))


def test_a_vector_power_is_taken_entry_by_entry(network):
    instance = network.numeric(3, "tanh")
    assert _same(instance, Add((Num(1), Neg(Hadamard((R("h"), R("h")))))),
                 Call("tanh", 1, R("z")))
    with pytest.raises(ShapeMismatch, match="power of a matrix"):
        shape_of(Pow(R("W_2"), Num(2)), network.dims)


def test_lowering_is_cached_and_leaves_index_notation_alone(network):
    entry = Ref("W_2", ("c", "j"))
    assert lowered(entry, network.dims)[0] == entry
    assert lowered(Ref("L"), network.dims) == (Ref("L"), SCALAR)
