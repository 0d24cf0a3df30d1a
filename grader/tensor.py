"""Evaluate expressions in index notation on a network instance, and differentiate them.

A value is a ``Tensor``: an array whose axes are named by index letters (``("j", "k")`` for
w_jk), so ``b_j w_{jk}`` broadcasts to a (j, k) array and ``\\sum_j`` sums the j axis away.
Axes whose names start with ``#`` are batch axes (the sample points of a variable x).

One evaluator serves two backends: ``Numeric`` (float arrays, for the live network) and
``Symbolic`` (object arrays of SymPy expressions, for the symbolic proof), so both checks
read an answer the same way. ``Evaluator.gradient`` is reverse-mode differentiation
(backprop) through an expression and then through the network's equations; a recurrent
equation (h_t from h_{t-1}) is passed back through once per step, so a signal is the total
derivative through every later step.

Index arithmetic (``x_{n+p-1}``, ``h_{t-1}``) gathers entries by position and scatters their
adjoints back; an entry outside its quantity's range is 0 for the names the problem pads
with zeros, else undefined (NaN), so an answer that needs it never passes. A sum with bounds
(``\\sum_{n=\\max(1,i-P+1)}^{\\min(M,i)}``) keeps the terms within them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import EvaluationError
from .expr import (
    Add,
    Call,
    Const,
    Deriv,
    Div,
    Expr,
    Kronecker,
    Mul,
    Neg,
    Num,
    Pow,
    Ref,
    Sum,
    Var,
    is_concrete,
    rename_indices,
)
from .indices import affine, bound_values, is_compound, letters_of, renamed
from .matrices import has_matrices, lowered

SEED = "^"  # suffix of the axes that carry a gradient's output index


@dataclass(frozen=True)
class Tensor:
    array: np.ndarray
    axes: tuple[str, ...]

    def __post_init__(self):
        # Reductions of object arrays return bare SymPy scalars: keep everything an ndarray.
        if not isinstance(self.array, np.ndarray):
            object.__setattr__(self, "array", np.asarray(self.array))

    def aligned(self, axes: tuple[str, ...]) -> np.ndarray:
        """The array transposed and reshaped to broadcast against ``axes`` (a superset)."""
        if self.axes == axes:
            return self.array
        order = [self.axes.index(a) for a in axes if a in self.axes]
        array = self.array.transpose(order) if order != sorted(order) else self.array
        shape = [self.array.shape[self.axes.index(a)] if a in self.axes else 1 for a in axes]
        return array.reshape(shape)

    def sizes(self) -> dict[str, int]:
        return dict(zip(self.axes, self.array.shape))

    def renamed(self, mapping: Mapping[str, str]) -> Tensor:
        return Tensor(self.array, tuple(mapping.get(a, a) for a in self.axes))


def combine(f: Callable, x: Tensor, y: Tensor) -> Tensor:
    axes = x.axes + tuple(a for a in y.axes if a not in x.axes)
    return Tensor(np.asarray(f(x.aligned(axes), y.aligned(axes))), axes)


def reduce_to(adjoint: Tensor, target: Tensor) -> Tensor:
    """Sum ``adjoint`` down to ``target``'s axes (keeping seed axes) and broadcast up to them."""
    keep = [a for a in adjoint.axes if a in target.axes or a.endswith(SEED)]
    drop = tuple(i for i, a in enumerate(adjoint.axes) if a not in keep)
    array = adjoint.array.sum(axis=drop) if drop else adjoint.array
    current = Tensor(array, tuple(keep))
    axes = target.axes + tuple(a for a in keep if a not in target.axes)
    sizes = {**target.sizes(), **current.sizes()}
    shape = tuple(sizes[a] for a in axes)
    return Tensor(np.broadcast_to(current.aligned(axes), shape), axes)


def diagonal(t: Tensor, a: str, b: str) -> Tensor:
    """Keep only the entries where axes ``a`` and ``b`` are equal; the result keeps ``a``."""
    i, j = t.axes.index(a), t.axes.index(b)
    array = np.diagonal(t.array, axis1=i, axis2=j)
    axes = tuple(x for k, x in enumerate(t.axes) if k not in (i, j)) + (a,)
    return Tensor(array, axes)


class Backend:
    """How numbers and functions are represented: floats or SymPy expressions."""

    dtype: type = float
    ALIASES = {"sigma": "sigmoid", "log": "ln"}  # the same function under another name

    def number(self, value: Fraction):
        raise NotImplementedError

    def constant(self, name: str):
        raise NotImplementedError

    def function(self, name: str, order: int) -> Callable:
        """The ``order``-th derivative of the named function, applied elementwise."""
        raise NotImplementedError

    def log(self, array):
        raise NotImplementedError

    def eye(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def power(self, base, exponent):
        """``base ** exponent``, elementwise."""
        return np.power(base, exponent)

    def undefined(self):
        """The value of an entry that does not exist (h_{T+1}): NaN, so it never passes."""
        return float("nan")


class Evaluator:
    """Evaluates expressions against one network instance (see ``grader.network.Instance``).

    ``lookup(name)`` gives a quantity's or signal's array in slot order; ``variables`` the
    tensors of scalar variables; ``network`` the equations for backprop; ``sizes`` the number
    of values of each index letter.
    """

    def __init__(self, backend: Backend, sizes: Mapping[str, int], lookup: Callable,
                 variables: Mapping[str, Tensor], network, activation: str):
        self.backend = backend
        self.sizes = sizes
        self.lookup = lookup
        self.variables = variables
        self.network = network
        self.activation = activation
        self.cache: dict[Expr, Tensor] = {}
        self.given: dict[str, np.ndarray] = {}  # the leaves' values (set by the network)
        ranges = getattr(network, "ranges", {})
        # a size letter's value (T, M): what index arithmetic and bounds are computed with
        self.size_values = {size: sizes[letter] for letter, size in ranges.items()
                            if letter in sizes}

    def size(self, letter: str) -> int:
        """How many values the index letter runs over (a dummy ``k'`` or ``k~2`` as k's)."""
        if letter in self.sizes:
            return self.sizes[letter]
        base = letter.partition("~")[0].rstrip("'")
        if base in self.sizes:
            return self.sizes[base]
        raise EvaluationError(f"the index {letter} has no range here")

    def size_value(self, size: str) -> int:
        if size not in self.size_values:
            raise EvaluationError(f"{size} is not a size of this problem")
        return self.size_values[size]

    def letter_values(self, axes: tuple[str, ...], known: Mapping[str, int] | None = None):
        """For index arithmetic: each letter's values 1..size, along its place in ``axes``
        (``known`` gives the sizes of letters that are no index of the problem: row, col)."""
        def values(letter: str) -> np.ndarray:
            size = (known or {}).get(letter) or self.size(letter)
            shape = [1] * len(axes)
            shape[axes.index(letter)] = size
            return np.arange(1, size + 1).reshape(shape)
        return values

    # ------------------------------------------------------------------ forward
    def value(self, expr: Expr) -> Tensor:
        dims = self.network.dims
        if dims is not None and has_matrices(expr, dims):
            expr = lowered(expr, dims)[0]  # vector-matrix notation: its index-notation meaning
        return self._cached(expr)

    def _cached(self, expr: Expr) -> Tensor:
        cached = self.cache.get(expr)
        if cached is None:
            cached = self._value(expr)
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[expr] = cached
        return cached

    def _function(self, name: str, order: int):
        if name == self.network.activation:
            name = self.activation
        return self.backend.function(name, order)

    def _value(self, expr: Expr) -> Tensor:
        b = self.backend
        if isinstance(expr, Num):
            return Tensor(np.asarray(b.number(expr.value), dtype=b.dtype), ())
        if isinstance(expr, Const):
            return Tensor(np.asarray(b.constant(expr.name), dtype=b.dtype), ())
        if isinstance(expr, Kronecker):
            return self.kronecker(expr)
        if isinstance(expr, Var):
            if expr.name not in self.variables:
                raise EvaluationError(f"{expr.name} has no value here")
            return self.variables[expr.name]
        if isinstance(expr, Ref):
            return self.ref(expr)
        if isinstance(expr, Neg):
            inner = self._cached(expr.arg)
            return Tensor(-inner.array, inner.axes)
        if isinstance(expr, Add):
            out = self._cached(expr.terms[0])
            for term in expr.terms[1:]:
                out = combine(np.add, out, self._cached(term))
            return out
        if isinstance(expr, Mul):
            out = self._cached(expr.factors[0])
            for factor in expr.factors[1:]:
                out = combine(np.multiply, out, self._cached(factor))
            return out
        if isinstance(expr, Div):
            return combine(np.divide, self._cached(expr.num), self._cached(expr.den))
        if isinstance(expr, Pow):
            return combine(self.backend.power, self._cached(expr.base), self._cached(expr.exp))
        if isinstance(expr, Call):
            inner = self._cached(expr.arg)
            return Tensor(self._function(expr.func, expr.order)(inner.array), inner.axes)
        if isinstance(expr, Sum):
            if _renamed_dummy(expr, self.sizes):
                # a student's dummy (\sum_m e_m x_{m+p-1}, \sum_{n=1}^{N} e_n): named after
                # its range, so the cache never mixes two sums over one letter with different
                # ranges
                dummy = f"{expr.over or expr.index}~{expr.index}"
                return self._cached(rename_bound(expr, dummy))
            body = self._cached(expr.body)
            if expr.lower:  # the terms outside the bounds are 0, even where undefined
                body = combine(_where_nonzero, self.in_bounds(expr), body)
            if expr.index in body.axes:
                axis = body.axes.index(expr.index)
                out = Tensor(body.array.sum(axis=axis), body.axes[:axis] + body.axes[axis + 1:])
            else:
                out = Tensor(body.array * self.sizes[expr.over or expr.index], body.axes)
            past = self.past_range(expr) if expr.lower else None
            return out if past is None else combine(np.add, out, past)
        if isinstance(expr, Deriv):
            return self.gradient(expr.of, expr.wrt)
        raise EvaluationError(f"cannot evaluate {type(expr).__name__}")

    def in_bounds(self, expr: Sum) -> Tensor:
        """1 where the sum's letter lies within its bounds, else 0 (over the bounds' letters).

        Terms whose letter the bounds put outside the letter's range are left out: they are
        zero by the convention that a quantity indexed outside its range is zero.
        """
        axes = tuple(dict.fromkeys((expr.index, *letters_of(expr.lower),
                                    *letters_of(expr.upper))))
        values = self.letter_values(axes)
        lower = bound_values(expr.lower, values, self.size_value)
        upper = bound_values(expr.upper, values, self.size_value)
        index = values(expr.index)
        mask = np.broadcast_to((lower <= index) & (index <= upper),
                               tuple(self.size(a) for a in axes))
        one, zero = self.backend.number(Fraction(1)), self.backend.number(Fraction(0))
        return Tensor(np.where(mask, np.asarray(one, dtype=self.backend.dtype),
                               np.asarray(zero, dtype=self.backend.dtype)), axes)

    def past_range(self, expr: Sum) -> Tensor | None:
        """Where a sum's bounds run past its letter's range (\\sum_{t=1}^{T+1}) over terms
        with a quantity that has no value there (one not zero outside its range): undefined
        there, rather than those terms silently left out. None when nothing is undefined."""
        zero = getattr(self.network, "zero_outside", ())
        if all(node.name in zero for node in expr.body.walk()
               if isinstance(node, Ref) and any(expr.index in letters_of(i)
                                                for i in node.indices)):
            return None
        axes = tuple(dict.fromkeys((expr.index, *letters_of(expr.lower),
                                    *letters_of(expr.upper))))
        values = self.letter_values(axes)
        lower = bound_values(expr.lower, values, self.size_value)
        upper = bound_values(expr.upper, values, self.size_value)
        beyond = (lower <= upper) & ((lower < 1) | (upper > self.size(expr.index)))
        past = np.asarray(np.broadcast_to(beyond, tuple(1 if a == expr.index else self.size(a)
                                                        for a in axes)).any(axis=0))
        if not past.any():
            return None
        zero_value: np.ndarray = np.asarray(self.backend.number(Fraction(0)),
                                            dtype=self.backend.dtype)
        nothing: np.ndarray = np.asarray(self.backend.undefined(), dtype=self.backend.dtype)
        return Tensor(np.where(past, nothing, zero_value), axes[1:])

    def kronecker(self, delta: Kronecker) -> Tensor:
        """The identity over two axes of one range: \\delta_{kl} is 1 where k = l."""
        if is_concrete(delta.first) or is_concrete(delta.second):
            raise EvaluationError("a Kronecker delta of a single unit cannot be evaluated")
        eye = self.backend.eye(self.sizes[delta.over])
        if delta.first == delta.second:  # \delta_{kk} = 1 for every k
            return Tensor(np.diagonal(eye).copy(), (delta.first,))
        return Tensor(eye, (delta.first, delta.second))

    def gathered(self, ref: Ref) -> tuple[Tensor, tuple[np.ndarray, ...], np.ndarray]:
        """A reference with index arithmetic (``x_{n+p-1}``): its entries over its letters,
        the positions it reads in every slot, and where those exist. Entries outside the
        quantity's range are 0 where the problem says so (h_0 = 0), else undefined."""
        array = self.lookup(ref.name)
        axes = tuple(dict.fromkeys(letter for index in ref.indices
                                   for letter in letters_of(index)))
        plain = {index: array.shape[slot] for slot, index in enumerate(ref.indices)
                 if not is_compound(index) and letters_of(index)
                 and self.known_size(index) is None}  # (row, col of a lowering)
        values = self.letter_values(axes, plain)
        shape = tuple(plain.get(a) or self.size(a) for a in axes)
        positions, valid = [], np.ones(shape, dtype=bool)
        for slot, index in enumerate(ref.indices):
            if index.isdigit():
                value = np.asarray(int(index))
            elif not letters_of(index) and not is_compound(index):
                value = np.asarray(array.shape[slot])  # K: the last unit
            else:
                value = affine(index).values(values, self.size_value)
            position = np.broadcast_to(value - 1, shape)
            valid = valid & (position >= 0) & (position < array.shape[slot])
            positions.append(np.clip(position, 0, array.shape[slot] - 1))
        taken = np.asarray(array[tuple(positions)])
        outside = self.backend.number(Fraction(0)) \
            if ref.name in getattr(self.network, "zero_outside", ()) else self.backend.undefined()
        fill: np.ndarray = np.asarray(outside, dtype=self.backend.dtype)
        return Tensor(np.where(valid, taken, fill), axes), tuple(positions), valid

    def known_size(self, letter: str) -> int | None:
        try:
            return self.size(letter)
        except EvaluationError:
            return None

    def needs_gather(self, ref: Ref) -> bool:
        r"""Whether a reference reads other entries than its own slots one by one: index
        arithmetic (x_{n+p-1}), or a sum's letter over a longer range (e_n in
        \sum_{n=1}^{N} e_n, where the e_n past M are 0)."""
        if any(is_compound(index) for index in ref.indices):
            return True
        if not any("~" in index for index in ref.indices):
            return False
        array = self.lookup(ref.name)
        return any(self.known_size(index) not in (None, array.shape[slot])
                   for slot, index in enumerate(ref.indices) if "~" in index)

    def ref(self, ref: Ref) -> Tensor:
        if self.needs_gather(ref):
            return self.gathered(ref)[0]
        array = self.lookup(ref.name)
        axes = [f"@{n}" for n in range(array.ndim)]
        for n, index in enumerate(ref.indices):
            if is_concrete(index):  # w_{j1}, \delta_K: one unit (the first, the last)
                axis = axes.index(f"@{n}")
                size = array.shape[axis]
                position = int(index) - 1 if index.isdigit() else size - 1
                if not 0 <= position < size:
                    raise EvaluationError(f"{ref.name}_{index} does not exist when there are "
                                          f"{size} units")
                array = np.take(array, position, axis=axis)
                axes.pop(axis)
        t = Tensor(array, tuple(axes))
        seen: dict[str, str] = {}
        for n, letter in enumerate(ref.indices):
            if is_concrete(letter):
                continue
            if letter in seen:  # w_{jj}: the diagonal
                t = diagonal(t, seen[letter], f"@{n}")
            else:
                seen[letter] = f"@{n}"
        return t.renamed({slot: letter for letter, slot in seen.items()})

    # ------------------------------------------------------------------ backprop
    def gradient(self, of: Expr, wrt: Ref | Var) -> Tensor:
        """d(of)/d(wrt) through the network: axes are of's free indices and wrt's letters.

        A letter shared by both means the same unit (dc_k/dh_k is the diagonal g'(h_k)); by a
        step with arithmetic (dL/dh_{t+1}) it is the gradient by every step, read there.
        """
        if isinstance(wrt, Ref) and any(is_compound(i) for i in wrt.indices):
            ranges = self.network.slot_ranges(wrt.name)
            plain = tuple(f"{ranges[n]}~by{n}" if is_compound(i) else i
                          for n, i in enumerate(wrt.indices))
            whole = self.gradient(of, Ref(wrt.name, plain))
            for n, index in enumerate(wrt.indices):
                if is_compound(index):
                    whole = self._read_at(whole, plain[n], index)
            return whole
        for node in of.walk():
            if isinstance(node, Deriv) or (isinstance(node, Ref) and self.network.is_signal(
                    node.name)):
                raise EvaluationError("cannot differentiate an expression that holds a derivative")
        out = self.value(of)
        outputs = [a for a in out.axes if not a.startswith("#")]
        seed = Tensor(np.ones((), dtype=self.backend.dtype), ())
        for axis in outputs:
            eye = Tensor(self.backend.eye(out.sizes()[axis]), (axis, axis + SEED))
            seed = combine(np.multiply, seed, eye)
        seed = reduce_to(seed, out)
        adjoints: dict[str, Tensor] = {}
        self._backward(of, seed, adjoints)
        target = wrt.name
        for equation in reversed(self.network.equations):
            recurrent = equation.recurrent
            if equation.name == target:
                if recurrent and target in adjoints:
                    adjoints[target] = self._through_time(equation, adjoints[target])
                break
            adjoint = adjoints.pop(equation.name, None)
            if adjoint is not None:
                if recurrent:
                    adjoint = self._through_time(equation, adjoint)
                slots = {f"@{n}": letter for n, letter in enumerate(equation.indices)}
                self._backward(equation.rhs, adjoint.renamed(slots), adjoints)
                if recurrent:  # what flowed back into the recurrence is counted already
                    adjoints.pop(equation.name, None)
        if self.network.is_signal(target):
            raise EvaluationError("cannot differentiate with respect to a signal")
        result = adjoints.get(target)
        if isinstance(wrt, Var):
            if result is None:
                return Tensor(np.zeros(out.array.shape, dtype=self.backend.dtype), out.axes)
            return result.renamed({a + SEED: a for a in outputs})
        if result is None:  # of does not depend on wrt at all
            ranges = self.network.slot_ranges(target)
            shape = [self.sizes[r] for r in ranges] + [out.sizes()[a] for a in outputs]
            axes = tuple(f"@{n}" for n in range(len(ranges))) + tuple(a + SEED for a in outputs)
            result = Tensor(np.zeros(shape, dtype=self.backend.dtype), axes)
        # Name wrt's slots by its letters, the output axes by theirs; a shared letter means
        # the same unit, so it keeps the diagonal (dc_k/dh_k is g'(h_k), not a K x K matrix).
        result = result.renamed({a + SEED: a for a in outputs})
        for n, letter in enumerate(wrt.indices):
            if letter in result.axes:
                result = diagonal(result, letter, f"@{n}")
            else:
                result = result.renamed({f"@{n}": letter})
        return result

    def _read_at(self, t: Tensor, axis: str, index: str) -> Tensor:
        """``t`` with its ``axis`` read at the index ``index`` (``t+1``) instead: undefined
        where that lies outside the axis (the gradient by h_{T+1} does not exist)."""
        others = tuple(a for a in t.axes if a != axis)
        sizes = t.sizes()
        axes = others + tuple(letter for letter in letters_of(index) if letter not in others)
        values = self.letter_values(axes, {a: sizes[a] for a in others})
        shape = tuple(sizes[a] if a in sizes else self.size(a) for a in axes)
        position = np.broadcast_to(affine(index).values(values, self.size_value) - 1, shape)
        valid = (position >= 0) & (position < sizes[axis])
        moved = np.moveaxis(t.array, t.axes.index(axis), -1)
        moved = moved.reshape(moved.shape[:-1] + (1,) * (len(axes) - len(others))
                              + moved.shape[-1:])
        moved = np.broadcast_to(moved, shape + moved.shape[-1:])
        taken = np.take_along_axis(moved, np.clip(position, 0, sizes[axis] - 1)[..., None],
                                   axis=-1)[..., 0]
        fill: np.ndarray = np.asarray(self.backend.undefined(), dtype=self.backend.dtype)
        return Tensor(np.where(valid, taken, fill), axes)

    def _through_time(self, equation, direct: Tensor) -> Tensor:
        """The total adjoint of a recurrent quantity (h_t = tanh(W h_{t-1} + ...)): what
        reaches h_t directly plus what reaches it through every later step. Each pass back
        through the equation carries it one step further, so steps + 1 passes are exact."""
        slots = {f"@{n}": letter for n, letter in enumerate(equation.indices)}
        total = direct
        for _ in range(self.steps(equation) + 1):
            scratch: dict[str, Tensor] = {}
            self._backward(equation.rhs, total.renamed(slots), scratch)
            back = scratch.get(equation.name)
            total = direct if back is None else combine(np.add, direct, back)
        return total

    def steps(self, equation) -> int:
        """How many steps a recurrence runs: the size of the letters it shifts."""
        shifted = {letter for node in equation.rhs.walk()
                   if isinstance(node, Ref) and node.name == equation.name
                   for index in node.indices if is_compound(index)
                   for letter in letters_of(index)}
        return max((self.size(letter) for letter in shifted), default=1)

    def _backward_gathered(self, expr: Ref, adjoint: Tensor,
                           adjoints: dict[str, Tensor]) -> None:
        """Backprop through ``x_{n+p-1}``: each entry read adds its adjoint to the entry of x
        at that position (entries outside the range are constants and take nothing)."""
        node, positions, valid = self.gathered(expr)
        adjoint = reduce_to(adjoint, node)
        seeds = tuple(a for a in adjoint.axes if a not in node.axes)
        array = adjoint.aligned(node.axes + seeds)
        array = np.broadcast_to(array, valid.shape + array.shape[len(node.axes):])
        target = self.lookup(expr.name)
        out = np.zeros(target.shape + array.shape[valid.ndim:], dtype=self.backend.dtype)
        np.add.at(out, tuple(p[valid] for p in positions), array[valid])
        slots = tuple(f"@{n}" for n in range(target.ndim))
        previous = adjoints.get(expr.name)
        total = Tensor(out, slots + seeds)
        adjoints[expr.name] = total if previous is None else combine(np.add, previous, total)

    def _backward(self, expr: Expr, adjoint: Tensor, adjoints: dict[str, Tensor]) -> None:
        """Push ``adjoint`` (d output / d expr) down to the quantities ``expr`` refers to."""
        if isinstance(expr, (Num, Const, Kronecker)):
            return
        if isinstance(expr, Ref) and self.needs_gather(expr):
            self._backward_gathered(expr, adjoint, adjoints)
            return
        if isinstance(expr, (Ref, Var)):
            node = self._cached(expr)
            adjoint = reduce_to(adjoint, node)
            if isinstance(expr, Ref):
                slots = {}
                for n, letter in enumerate(expr.indices):
                    if is_concrete(letter):
                        raise EvaluationError("cannot differentiate through a single unit")
                    if letter in slots:
                        raise EvaluationError("cannot differentiate through a repeated index")
                    slots[letter] = f"@{n}"
                adjoint = adjoint.renamed(slots)
            key = expr.name
            previous = adjoints.get(key)
            adjoints[key] = adjoint if previous is None else combine(np.add, previous, adjoint)
            return
        if isinstance(expr, Neg):
            self._backward(expr.arg, Tensor(-adjoint.array, adjoint.axes), adjoints)
        elif isinstance(expr, Add):
            for term in expr.terms:
                self._backward(term, adjoint, adjoints)
        elif isinstance(expr, Mul):
            values = [self._cached(f) for f in expr.factors]
            for i, factor in enumerate(expr.factors):
                if not _depends(factor):
                    continue
                local = adjoint
                for j, other in enumerate(values):
                    if j != i:
                        local = combine(np.multiply, local, other)
                self._backward(factor, reduce_to(local, values[i]), adjoints)
        elif isinstance(expr, Div):
            num, den = self._cached(expr.num), self._cached(expr.den)
            if _depends(expr.num):
                self._backward(expr.num, reduce_to(combine(np.divide, adjoint, den), num),
                               adjoints)
            if _depends(expr.den):
                ratio = combine(np.divide, num, combine(np.multiply, den, den))
                local = combine(np.multiply, adjoint, Tensor(-ratio.array, ratio.axes))
                self._backward(expr.den, reduce_to(local, den), adjoints)
        elif isinstance(expr, Pow):
            base, exp = self._cached(expr.base), self._cached(expr.exp)
            if _depends(expr.base):
                one: np.ndarray = np.asarray(self.backend.number(Fraction(1)),
                                             dtype=self.backend.dtype)
                lowered = combine(self.backend.power, base, Tensor(exp.array - one, exp.axes))
                local = combine(np.multiply, adjoint, combine(np.multiply, exp, lowered))
                self._backward(expr.base, reduce_to(local, base), adjoints)
            if _depends(expr.exp):
                power = self._cached(expr)
                logs = Tensor(self.backend.log(base.array), base.axes)
                local = combine(np.multiply, adjoint, combine(np.multiply, power, logs))
                self._backward(expr.exp, reduce_to(local, exp), adjoints)
        elif isinstance(expr, Call):
            inner = self._cached(expr.arg)
            slope = Tensor(self._function(expr.func, expr.order + 1)(inner.array), inner.axes)
            self._backward(expr.arg, reduce_to(combine(np.multiply, adjoint, slope), inner),
                           adjoints)
        elif isinstance(expr, Sum):
            if _renamed_dummy(expr, self.sizes):
                self._backward(rename_bound(expr, f"{expr.over or expr.index}~{expr.index}"),
                               adjoint, adjoints)
                return
            body = self._cached(expr.body)
            if expr.lower:
                adjoint = combine(np.multiply, adjoint, self.in_bounds(expr))
            self._backward(expr.body, reduce_to(adjoint, body), adjoints)
        else:
            raise EvaluationError(f"cannot differentiate {type(expr).__name__}")


def _where_nonzero(mask, values):
    """``values`` where ``mask`` is not 0, else 0 (not ``mask * values``: 0 * NaN is NaN)."""
    return np.where(mask != 0, values, mask)


def _renamed_dummy(expr: Sum, sizes: Mapping[str, int]) -> bool:
    r"""Whether a sum's letter is a student's dummy, or a letter of the problem summed over
    another letter's range (\sum_{n=1}^{N}): then it is renamed after the range it runs over."""
    return "~" not in expr.index and (expr.index not in sizes
                                      or bool(expr.over and expr.over != expr.index))


def rename_bound(expr: Sum, letter: str) -> Sum:
    """The sum with its bound letter renamed (in its body and its bounds)."""
    mapping = {expr.index: letter}
    return Sum(letter, rename_indices(expr.body, mapping), expr.over,
               renamed(expr.lower, mapping) if expr.lower else "",
               renamed(expr.upper, mapping) if expr.upper else "")


def _depends(expr: Expr) -> bool:
    """Whether ``expr`` refers to any quantity or variable (else its derivative is zero)."""
    return any(isinstance(node, (Ref, Var)) for node in expr.walk())
