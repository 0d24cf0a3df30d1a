"""The live network: a problem's forward equations made concrete, numerically or symbolically.

A ``Network`` holds the problem's equations (``z_j = e_j + \\sum_i a_i u_{ij}``, ...) and named
signals (``\\delta_k := \\frac{\\partial E}{\\partial h_k}``). ``Network.numeric`` draws a random
instance: random layer sizes, random inputs, weights and targets, and one smooth activation
for the generic g; ``Network.symbolic`` builds a small instance whose leaves are SymPy symbols
and whose g is an undefined function. Either gives an ``Evaluator`` that reads any expression of
the problem, signals and derivatives included (backprop through the equations).

Sizes are drawn per instance, sequence lengths T included, and a size may follow from others
(M = N - P + 1). A recurrent equation (``h_t = \\tanh(W h_{t-1} + ...)``, its start h_0 = 0
from ``zero_outside``) is unrolled: evaluated once per step from zeros.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np
import sympy

from .errors import EvaluationError
from .expr import Deriv, Expr, Ref, free_indices
from .indices import Affine, is_compound
from .matrices import Dims
from .tensor import Backend, Evaluator, Tensor

# Smooth activations used for a generic g; each lists its value and first derivatives.
ACTIVATIONS = ("sigmoid", "tanh", "softplus", "arctan")


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _numeric_functions():
    s = _sigmoid
    return {
        "sigmoid": [s, lambda x: s(x) * (1 - s(x)),
                    lambda x: s(x) * (1 - s(x)) * (1 - 2 * s(x)),
                    lambda x: s(x) * (1 - s(x)) * (1 - 6 * s(x) + 6 * s(x) ** 2)],
        "tanh": [np.tanh, lambda x: 1 - np.tanh(x) ** 2,
                 lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
                 lambda x: -2 * (1 - np.tanh(x) ** 2) * (1 - 3 * np.tanh(x) ** 2)],
        "softplus": [lambda x: np.logaddexp(0.0, x), s, lambda x: s(x) * (1 - s(x)),
                     lambda x: s(x) * (1 - s(x)) * (1 - 2 * s(x))],
        "arctan": [np.arctan, lambda x: 1 / (1 + x ** 2), lambda x: -2 * x / (1 + x ** 2) ** 2,
                   lambda x: (6 * x ** 2 - 2) / (1 + x ** 2) ** 3],
        "exp": [np.exp] * 4,
        "ln": [np.log, lambda x: 1 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3],
        "sin": [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x)],
        "cos": [np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin],
        "cosh": [np.cosh, np.sinh, np.cosh, np.sinh],
        "sinh": [np.sinh, np.cosh, np.sinh, np.cosh],
        "sech": _derivatives(lambda x: 1 / sympy.cosh(x)),
        # Not smooth: the kink at 0 has probability 0 on random values; at 0 the step is 1/2.
        "relu": [lambda x: np.maximum(x, 0.0), lambda x: np.heaviside(x, 0.0), _zero, _zero],
        "heaviside": [lambda x: np.heaviside(x, 0.0), _zero, _zero, _zero],
    }


def _zero(x):
    return np.zeros(np.shape(x))


def _derivatives(formula, orders: int = 4):
    """NumPy functions for ``formula`` and its first derivatives (from SymPy, not by hand)."""
    x = sympy.Symbol("x")
    expr = formula(x)
    return [sympy.lambdify(x, sympy.diff(expr, x, n) if n else expr, "numpy")
            for n in range(orders)]


class Numeric(Backend):
    dtype = float
    FUNCTIONS = _numeric_functions()

    def number(self, value: Fraction):
        return float(value)

    def constant(self, name: str):
        return np.e if name == "e" else np.pi

    def function(self, name: str, order: int):
        name = self.ALIASES.get(name, name)
        return self.FUNCTIONS[name][order]

    def log(self, array):
        return np.log(array)

    def eye(self, n: int):
        return np.eye(n)


class Symbolic(Backend):
    """SymPy scalars in object arrays; a generic g is an undefined function with named primes."""

    dtype = object
    _x = sympy.Symbol("x")
    EXPLICIT = {
        "sigmoid": 1 / (1 + sympy.exp(-_x)),
        "tanh": sympy.tanh(_x),
        "softplus": sympy.log(1 + sympy.exp(_x)),
        "arctan": sympy.atan(_x),
        "exp": sympy.exp(_x),
        "ln": sympy.log(_x),
        "sin": sympy.sin(_x),
        "cos": sympy.cos(_x),
        "cosh": sympy.cosh(_x),
        "sinh": sympy.sinh(_x),
        "sech": sympy.sech(_x),
    }
    # Not smooth: each order written out (ReLU(x) = x H(x), so ReLU' = H and H' = 0 almost
    # everywhere); grader.check proves identities with Heaviside by cases.
    PIECEWISE = {
        "relu": (_x * sympy.Heaviside(_x, 0), sympy.Heaviside(_x, 0)),
        "heaviside": (sympy.Heaviside(_x, 0),),     # the step 1[x > 0]: 0 at 0
    }

    def number(self, value: Fraction):
        return sympy.Rational(value.numerator, value.denominator)

    def constant(self, name: str):
        return sympy.E if name == "e" else sympy.pi

    def function(self, name: str, order: int):
        name = self.ALIASES.get(name, name)
        if name == "generic":
            f = sympy.Function("g" + "p" * order)
            return np.frompyfunc(f, 1, 1)
        return _explicit(name, order)

    def log(self, array):
        return np.frompyfunc(sympy.log, 1, 1)(array)

    def undefined(self):
        return sympy.nan

    def eye(self, n: int):
        return np.eye(n, dtype=int).astype(object)


class Precise(Backend):
    """mpmath numbers (at the working precision), to confirm what the float network says."""

    dtype = object

    def number(self, value: Fraction):
        return mpmath.mpf(value.numerator) / value.denominator

    def constant(self, name: str):
        return +mpmath.e if name == "e" else +mpmath.pi

    def function(self, name: str, order: int):
        return _precise(self.ALIASES.get(name, name), order)

    def log(self, array):
        return np.frompyfunc(mpmath.log, 1, 1)(array)

    def undefined(self):
        return mpmath.nan

    def eye(self, n: int):
        return np.eye(n, dtype=int).astype(object)

    def power(self, base, exponent):
        return _precise_power(base, exponent)


PRECISE_DIGITS = 50
PRECISE_MAGNITUDE = 10_000  # binary digits: a recheck refuses numbers beyond 2**10000


def _bounded(value):
    """``value``, or OverflowError when it is too large to be worth computing exactly."""
    if isinstance(value, mpmath.mpf) and value and mpmath.isfinite(value) \
            and abs(mpmath.mag(value)) > PRECISE_MAGNITUDE:
        raise EvaluationError("too large to recompute exactly")
    return value


def _safe_power(base, exponent):
    if isinstance(base, mpmath.mpf) and isinstance(exponent, (mpmath.mpf, int)) and base:
        if abs(exponent) * abs(mpmath.mag(base)) > PRECISE_MAGNITUDE:
            raise EvaluationError("too large to recompute exactly")
    return _bounded(base ** exponent)


_precise_power = np.frompyfunc(_safe_power, 2, 1)


def _precise_step(value):
    """The step 1[x > 0] at mpmath precision: 0 at 0, as in the floats (and ReLU'(0) = 0)."""
    return mpmath.mpf(1) if value > 0 else mpmath.mpf(0)


PRECISE_PIECEWISE = {
    "relu": (lambda v: v if v > 0 else mpmath.mpf(0), _precise_step),
    "heaviside": (_precise_step,),
}


@cache
def _precise(name: str, order: int):
    if name in PRECISE_PIECEWISE:
        orders = PRECISE_PIECEWISE[name]
        step = orders[order] if order < len(orders) else (lambda v: mpmath.mpf(0))
        return np.frompyfunc(lambda v: step(_bounded(v)), 1, 1)
    x = Symbolic._x
    formula = Symbolic.EXPLICIT[name]
    formula = sympy.diff(formula, x, order) if order else formula
    function = sympy.lambdify(x, formula, "mpmath")

    def guarded(value):
        _bounded(value)
        if isinstance(value, mpmath.mpf) and abs(value) > PRECISE_MAGNITUDE:
            raise EvaluationError("too large to recompute exactly")  # exp(10^5) and beyond
        return _bounded(function(value))

    return np.frompyfunc(guarded, 1, 1)


@cache
def _explicit(name: str, order: int):
    x = Symbolic._x
    if name in Symbolic.PIECEWISE:
        orders = Symbolic.PIECEWISE[name]
        piece = orders[order] if order < len(orders) else sympy.Integer(0)
        return np.frompyfunc(lambda v: piece.subs(x, v), 1, 1)
    formula = sympy.diff(Symbolic.EXPLICIT[name], x, order) if order else Symbolic.EXPLICIT[name]
    return np.frompyfunc(lambda v: formula.subs(x, v), 1, 1)


@dataclass(frozen=True)
class Equation:
    """``name_{indices} = rhs``, one forward definition of the network."""

    name: str
    indices: tuple[str, ...]
    rhs: Expr
    latex: str = ""

    @property
    def recurrent(self) -> bool:
        """Whether the quantity is defined from its own earlier steps (h_t from h_{t-1})."""
        return any(isinstance(node, Ref) and node.name == self.name for node in self.rhs.walk())


@dataclass(frozen=True)
class Network:
    """The forward equations, the leaf quantities and the named signals of a problem."""

    ranges: dict[str, str]                    # index letter -> size letter (k -> K)
    leaves: dict[str, tuple[str, ...]]        # given quantities -> index letters of their slots
    equations: tuple[Equation, ...]
    signals: dict[str, tuple[tuple[str, ...], Deriv]] = field(default_factory=dict)
    positive: frozenset[str] = frozenset()    # leaves drawn positive (targets in (0, 1))
    activation: str = "g"                     # the name of the generic activation
    simplex: frozenset[str] = frozenset()     # leaves that are distributions over their last
    #                                           index: positive, summing to 1 (softmax targets)
    dims: Dims | None = None                  # vector-matrix notation: shapes and layout
    zero_outside: frozenset[str] = frozenset()  # names that are 0 indexed outside their range
    #                                             (h_0 = 0; e_m = 0 beyond 1..M); others are
    #                                             undefined there
    derived: dict[str, Affine] = field(default_factory=dict)  # size -> formula: M = N - P + 1

    def quantities(self) -> dict[str, tuple[str, ...]]:
        out = dict(self.leaves)
        out.update({e.name: e.indices for e in self.equations})
        out.update({name: idx for name, (idx, _) in self.signals.items()})
        return out

    def is_signal(self, name: str) -> bool:
        return name in self.signals

    def slot_ranges(self, name: str) -> tuple[str, ...]:
        return self.quantities()[name]

    def numeric(self, seed: int, activation: str, sizes: dict[str, int] | None = None,
                variables: dict[str, np.ndarray] | None = None) -> Evaluator:
        """A random instance with ``activation`` as g (random sizes unless given)."""
        rng = np.random.default_rng(seed)
        if sizes is None:
            sizes = _layer_sizes(rng, self.ranges, self.derived)
        values = {}
        for name, slots in self.leaves.items():
            shape = tuple(sizes[s] for s in slots)
            if name in self.simplex:
                values[name] = rng.dirichlet(np.full(shape[-1], 2.0), size=shape[:-1])
            elif name in self.positive:
                values[name] = rng.uniform(0.05, 0.95, size=shape)
            else:
                values[name] = rng.normal(0.0, 1.0, size=shape)
        tensors = {name: Tensor(np.asarray(v), ("#s",)) for name, v in (variables or {}).items()}
        return self._instance(Numeric(), sizes, values, tensors, activation)

    def symbolic(self, activation: str = "generic", sizes: dict[str, int] | None = None,
                 variables: tuple[str, ...] = ()) -> Evaluator:
        """An instance whose leaves are symbols (two units per layer unless sizes are given)."""
        sizes = sizes or _small_sizes(self.ranges, self.derived)
        values = {}
        for name, slots in self.leaves.items():
            shape = tuple(sizes[s] for s in slots)
            array = np.empty(shape, dtype=object)
            for position in np.ndindex(*shape) if shape else [()]:
                label = name + ("_" + "".join(str(p + 1) for p in position) if position else "")
                array[position] = sympy.Symbol(label, real=True)
            if name in self.simplex:
                _close_simplex(array)
            values[name] = array
        tensors = {v: Tensor(np.asarray(sympy.Symbol(v, real=True), dtype=object), ())
                   for v in variables}
        return self._instance(Symbolic(), sizes, values, tensors, activation)

    def precise(self, instance: Evaluator, digits: int = 50) -> Evaluator:
        """The same instance as the float ``instance``, in mpmath numbers of ``digits`` digits.

        Use its values inside ``mpmath.workdps(digits)``.
        """
        to_mp = np.frompyfunc(lambda v: mpmath.mpf(float(v)), 1, 1)

        def exact(array) -> np.ndarray:
            return np.asarray(to_mp(np.asarray(array, dtype=float)), dtype=object)

        with mpmath.workdps(digits):
            values = {name: exact(array) for name, array in instance.given.items()}
            variables = {name: Tensor(exact(t.array), t.axes)
                         for name, t in instance.variables.items()}
            return self._instance(Precise(), dict(instance.sizes), values, variables,
                                  instance.activation)

    def _instance(self, backend, sizes, values, variables, activation) -> Evaluator:
        network = self
        given = {name: values[name] for name in self.leaves if name in values}

        def lookup(name: str):
            if name not in values:
                if name in network.signals:
                    slots, definition = network.signals[name]
                    t = evaluator.value(definition)
                    values[name] = t.aligned(slots) if t.axes != slots else t.array
                else:
                    raise EvaluationError(f"{name} has no value on this network")
            return values[name]

        evaluator = Evaluator(backend, sizes, lookup, variables, self, activation)
        evaluator.given = given
        with np.errstate(all="ignore"):
            for equation in self.equations:
                passes = 1
                if equation.recurrent:  # h_t from h_{t-1}: start from 0, one step a pass
                    shape = tuple(sizes[letter] for letter in equation.indices)
                    values[equation.name] = np.full(
                        shape, backend.number(Fraction(0)), dtype=backend.dtype)
                    passes = evaluator.steps(equation) + 1
                for _ in range(passes):
                    evaluator.cache.clear()
                    t = evaluator.value(equation.rhs)
                    values[equation.name] = np.array(t.aligned(equation.indices)) \
                        if t.axes != equation.indices else t.array
        evaluator.cache.clear()
        return evaluator

    def check(self) -> list[str]:
        """Problems with the equations: undefined names, free indices that do not match."""
        problems = []
        known = set(self.leaves)
        for eq in self.equations:
            for node in eq.rhs.walk():
                if isinstance(node, Ref) and node.name == eq.name and eq.name not in known:
                    if not any(is_compound(index) for index in node.indices):
                        problems.append(f"{eq.latex}: {node.name} is defined from itself "
                                        "(a recurrence reads an earlier step, as in h_{t-1})")
                    elif node.name not in self.zero_outside:
                        problems.append(f"{eq.latex}: a recurrence needs its start: list "
                                        f"{node.name} in zero_outside ({node.name}_0 = 0)")
                elif isinstance(node, Ref) and node.name not in known:
                    problems.append(f"{eq.latex}: {node.name} is used before it is defined")
            if free_indices(eq.rhs) != set(eq.indices):
                problems.append(f"{eq.latex}: the right-hand side's free indices "
                                f"{sorted(free_indices(eq.rhs))} differ from the left's "
                                f"{list(eq.indices)}")
            known.add(eq.name)
        return problems


def _close_simplex(array: np.ndarray) -> None:
    """Make each row (along the last axis) sum to 1: its last entry is 1 minus the others.

    So a symbolic proof uses the constraint exactly as the numeric draws (Dirichlet) satisfy it.
    """
    for row in np.ndindex(*array.shape[:-1]):
        entries = array[row]
        entries[-1] = 1 - sum(entries[:-1])


def _layer_sizes(rng, ranges: dict[str, str],
                 derived: dict[str, Affine] | None = None) -> dict[str, int]:
    """A size for each index letter: one draw per size letter, so two letters over one range
    (k and l over the K outputs) have the same size, and different ranges differ. A derived
    size (M = N - P + 1) follows from the others; they are drawn again until it is 2 or more."""
    derived = derived or {}
    drawn = [s for s in dict.fromkeys(ranges.values()) if s not in derived]
    for _ in range(100):
        by_size = _distinct_sizes(rng, drawn)
        by_size.update(_derived_sizes(by_size, derived))
        if all(by_size[s] >= 2 for s in derived):
            break
    return {letter: by_size[size] for letter, size in ranges.items()}


def _small_sizes(ranges: dict[str, str], derived: dict[str, Affine]) -> dict[str, int]:
    """The symbolic instance's sizes: 2 units per range; with derived sizes, the smallest
    drawn sizes (2 to 4) that make every derived size 2 or more and, where they can, every size
    different from the others (M = N - P + 1 takes N = 4, P = 2, M = 3), so a sum over the
    wrong range is not proved right by coincidence."""
    drawn = [s for s in dict.fromkeys(ranges.values()) if s not in derived]
    by_size = dict.fromkeys(drawn, 2)
    if derived:
        best = None
        for values in sorted(itertools.product(range(2, 5), repeat=len(drawn)), key=sum):
            trial = dict(zip(drawn, values))
            trial.update(_derived_sizes(trial, derived))
            if any(trial[s] < 2 for s in derived):
                continue
            if len(set(trial.values())) == len(trial):
                best = trial
                break
            best = best or trial
        by_size = best or by_size
    return {letter: by_size[size] for letter, size in ranges.items()}


def _derived_sizes(by_size: dict[str, int], derived: dict[str, Affine]) -> dict[str, int]:
    return {size: form.constant + sum(c * by_size[s] for s, c in form.sizes)
            for size, form in derived.items()}


def _distinct_sizes(rng, letters: list[str]) -> dict[str, int]:
    """Layer sizes between 2 and 6, all different, so a wrong index cannot pass by luck."""
    choices = rng.permutation(np.arange(2, 7))[: len(letters)] if len(letters) <= 5 \
        else rng.integers(2, 7, size=len(letters))
    return {letter: int(n) for letter, n in zip(letters, choices)}
