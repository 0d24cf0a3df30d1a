"""Vector-matrix notation: shapes, and its meaning in index notation.

A vector-matrix problem declares the shape of each given vector and matrix (``W_1`` is H x D,
``x`` a column of D); the shapes of what the equations compute follow from them. An answer
such as ``W_2^\\top (p - y)`` is read into the nodes of ``grader.expr`` (``MatMul``,
``Transpose``, ``Hadamard``, ``Diag``, and ``Ref("W_2")`` for a whole matrix) and *lowered*
here into index notation, ``\\sum_c (W_2)_{c,row} (p_c - y_c)``, which the network evaluates
and SymPy proves like any other answer. Lowering checks every shape on the way: a product
whose inner sizes differ, or a sum of a column and a row, is a ``ShapeMismatch`` that names
the shapes involved.

The lowered expression's free indices are ``ROW`` and ``COL`` (a column vector has only
``ROW``, a scalar neither), so two lowered expressions of one shape line up entry by entry.
Gradients follow the problem's layout: in the denominator layout (the default, and the
convention of CS231n and d2l) dL/dW has W's shape and dL/dz is a column like z.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from .errors import GraderError, ShapeMismatch
from .expr import (
    Add,
    Call,
    Const,
    Deriv,
    Diag,
    Div,
    Entries,
    Entry,
    Expr,
    Hadamard,
    Identity,
    Kronecker,
    MatMul,
    Mul,
    Neg,
    Num,
    Ones,
    Pow,
    Ref,
    Sample,
    Sum,
    Transpose,
    Var,
    free_indices,
    map_children,
    rename_indices,
    to_latex,
)

ROW, COL = "row", "col"  # the free indices of a lowered vector or matrix
DENOMINATOR, NUMERATOR = "denominator", "numerator"
LAYOUTS = (DENOMINATOR, NUMERATOR)


@dataclass(frozen=True)
class Shape:
    """Rows by columns, each the letter of a size (``"H"``) or None for one."""

    rows: str | None = None
    cols: str | None = None

    @property
    def scalar(self) -> bool:
        return self.rows is None and self.cols is None

    @property
    def T(self) -> Shape:  # noqa: N802 - the transpose, as it is written
        return Shape(self.cols, self.rows)

    def __str__(self) -> str:
        return f"{self.rows or 1}\u00d7{self.cols or 1}"

    def describe(self) -> str:
        """In words: "a scalar", "a column of C", "a row of H", "a C×H matrix"."""
        if self.scalar:
            return "a scalar"
        if self.cols is None:
            return f"a column of {self.rows} ({self})"
        if self.rows is None:
            return f"a row of {self.cols} ({self})"
        return f"a {self} matrix"


SCALAR = Shape()
_SHAPE = re.compile(r"^\s*([A-Za-z1])\s*(?:(?:x|\u00d7|\\times|,|\*)\s*([A-Za-z1]))?\s*$")


def parse_shape(text: str) -> Shape:
    """``"D"`` is a column of D, ``"H x D"`` a matrix, ``"1 x H"`` a row, ``"1"`` a scalar.

    Raises GraderError saying what is wrong (the spec loader adds the file and the key).
    """
    match = _SHAPE.match(text)
    if match is None:
        raise GraderError(f"'{text}' is not a shape: write a size letter for a column "
                         "(\"D\"), or rows x columns (\"H x D\", \"1 x H\" for a row)")
    rows, cols = match.group(1), match.group(2)

    def size(letter: str | None) -> str | None:
        return None if letter in (None, "1") else letter

    return Shape(size(rows), size(cols))


@dataclass(frozen=True)
class Dims:
    """The vector-matrix side of a network: every name's shape, the sizes' index letters and
    the layout of gradients."""

    shapes: Mapping[str, Shape]
    letters: Mapping[str, str]     # size letter -> the index letter that runs over it (H -> j)
    layout: str = DENOMINATOR
    signals: Mapping[str, Expr] = field(default_factory=dict)  # as written: delta_2 -> dL/ds
    samples: str | None = None     # the index letter over the training examples (n)
    per_sample: frozenset[str] = frozenset()  # names with one value per example: x^{(n)}
    steps: bool = False  # ``samples`` are the time steps of a sequence, written h_t, h_{t-1}

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:  # worked out once: every lowering is cached by (expr, dims)
        return hash((tuple(sorted(self.shapes.items())), tuple(sorted(self.letters.items())),
                     self.layout, tuple(sorted(self.signals.items(), key=repr)), self.samples,
                     self.per_sample, self.steps))

    def slots(self, name: str) -> tuple[str, ...]:
        """The index letters of ``name``'s entries in slot order (W_1 -> ("j", "d")); a
        per-example name has the examples' letter first (x -> ("n", "d"))."""
        shape = self.shapes[name]
        own = tuple(self.letters[s] for s in (shape.rows, shape.cols) if s is not None)
        return ((self.samples,) if name in self.per_sample and self.samples else ()) + own

    def gradient_shape(self, of: Shape, wrt: Shape) -> Shape:
        """The shape of d(of)/d(wrt) in this layout, or ShapeMismatch beyond matrices."""
        if of.scalar:
            return wrt if self.layout == DENOMINATOR else wrt.T
        if wrt.scalar:
            return of if self.layout == NUMERATOR else of.T
        if of.cols is None and wrt.cols is None:  # a Jacobian of columns
            return Shape(wrt.rows, of.rows) if self.layout == DENOMINATOR \
                else Shape(of.rows, wrt.rows)
        raise ShapeMismatch(f"the derivative of {of.describe()} by {wrt.describe()} is not a "
                            "matrix")


def is_matrix_name(expr: Expr, dims: Dims) -> bool:
    """Whether ``expr`` is a whole vector or matrix named by the problem (``W_2``, ``x``)."""
    return isinstance(expr, Ref) and not expr.indices and expr.name in dims.shapes \
        and not dims.shapes[expr.name].scalar


@dataclass(frozen=True)
class _Lowered:
    expr: Expr
    shape: Shape
    row: str | None    # the index that runs over the rows (None for one row)
    col: str | None


class _Lowering:
    def __init__(self, dims: Dims):
        self.dims = dims
        self.fresh = itertools.count(1)

    def index(self, size: str) -> str:
        """A new index letter over ``size`` (its letter with a mark, never a student's)."""
        return f"{self.dims.letters[size]}~{next(self.fresh)}"

    def sum(self, index: str, body: Expr) -> Expr:
        return Sum(index, body, index.partition("~")[0])

    def align(self, item: _Lowered, row: str | None, col: str | None) -> Expr:
        """``item``'s expression with its row and column indices renamed to ``row``, ``col``."""
        mapping = {}
        if item.row is not None and row is not None:
            mapping[item.row] = row
        if item.col is not None and col is not None:
            mapping[item.col] = col
        return rename_indices(item.expr, mapping)

    def lower(self, expr: Expr) -> _Lowered:
        dims = self.dims
        if isinstance(expr, (Num, Const, Var)):
            return _Lowered(expr, SCALAR, None, None)
        if isinstance(expr, Sample):
            return self.whole(expr.arg, (expr.index,))
        if isinstance(expr, Ref):
            if expr.indices or expr.name not in dims.shapes:
                return _Lowered(expr, SCALAR, None, None)  # an entry, or a scalar quantity
            if expr.name in dims.per_sample and dims.steps:
                raise ShapeMismatch(f"${to_latex(expr)}$ has one value per time step: write "
                                    f"${to_latex(Sample(expr, dims.samples or 't', True))}$")
            if expr.name in dims.per_sample:
                raise ShapeMismatch(f"${to_latex(expr)}$ has one value per example: write "
                                    f"${to_latex(Sample(expr, dims.samples or 'n'))}$")
            return self.whole(expr, ())
        if isinstance(expr, Transpose):
            inner = self.lower(expr.arg)
            return _Lowered(inner.expr, inner.shape.T, inner.col, inner.row)
        if isinstance(expr, Neg):
            inner = self.lower(expr.arg)
            return _Lowered(Neg(inner.expr), inner.shape, inner.row, inner.col)
        if isinstance(expr, (MatMul, Mul)):
            return self.product(expr.factors, expr)
        if isinstance(expr, Hadamard):
            return self.elementwise(expr)
        if isinstance(expr, Add):
            return self.add(expr)
        if isinstance(expr, Div):
            return self.quotient(expr)
        if isinstance(expr, Pow):
            return self.power(expr)
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Diag):
            return self.diagonal_matrix(expr)
        if isinstance(expr, Entries):
            return self.entries(expr)
        if isinstance(expr, Entry):
            return self.entry(expr)
        if isinstance(expr, Identity):
            if expr.size is None:
                raise ShapeMismatch("write the identity's size, as in I_C, where no product "
                                    "tells it")
            row, col = self.index(expr.size), self.index(expr.size)
            return _Lowered(Kronecker(row, col, self.dims.letters[expr.size]),
                            Shape(expr.size, expr.size), row, col)
        if isinstance(expr, Ones) or (isinstance(expr, Transpose)
                                      and isinstance(expr.arg, Ones)):
            raise ShapeMismatch("\\mathbf{1} is read only in a product, as in "
                                "\\mathbf{1}^\\top v (the sum of v's entries)")
        if isinstance(expr, Sum):
            body = self.lower(expr.body)
            return _Lowered(expr.with_body(body.expr), body.shape, body.row, body.col)
        if isinstance(expr, Deriv):
            return self.derivative(expr)
        raise ShapeMismatch(f"cannot read {type(expr).__name__} in vector-matrix notation")

    def whole(self, ref: Ref, before: tuple[str, ...]) -> _Lowered:
        """A whole vector or matrix by its name (``before``: the example's letter, if any)."""
        shape = self.dims.shapes[ref.name]
        row = self.index(shape.rows) if shape.rows else None
        col = self.index(shape.cols) if shape.cols else None
        return _Lowered(Ref(ref.name, before + tuple(i for i in (row, col) if i)), shape, row,
                        col)

    # ------------------------------------------------------------------ products
    def product(self, factors: tuple[Expr, ...], whole: Expr) -> _Lowered:
        items = [f for f in factors if not isinstance(f, Identity)]  # I A = A
        for identity in (f for f in factors if isinstance(f, Identity)):
            self.check_identity(identity, factors, whole)
        if not items:
            return self.lower(factors[0])
        acc: _Lowered | None = None
        pending_diag: list[Diag] = []  # diag(v) waiting for the factor it scales
        pending_sums = 0              # \mathbf{1}^\top waiting for the vector it sums
        for factor in items:
            if isinstance(factor, Transpose) and isinstance(factor.arg, Ones):
                pending_sums += 1
                continue
            if isinstance(factor, Ones):
                if acc is None or acc.shape.cols is None:
                    raise ShapeMismatch(f"in ${to_latex(whole)}$, \\mathbf{{1}} sums the "
                                        "entries of the row before it")
                assert acc.col is not None
                acc = _Lowered(self.sum(acc.col, acc.expr), Shape(acc.shape.rows, None),
                               acc.row, None)
                continue
            if isinstance(factor, Diag):
                if acc is not None and not acc.shape.scalar:
                    acc = self.times_diag(acc, factor, whole)
                else:
                    pending_diag.append(factor)
                continue
            item = self.lower(factor)
            for diag in reversed(pending_diag):
                item = self.diag_times(diag, item, whole)
            pending_diag = []
            for _ in range(pending_sums):
                if item.shape.rows is None:
                    raise ShapeMismatch(f"in ${to_latex(whole)}$, \\mathbf{{1}}^\\top sums "
                                        f"the entries of a column, not of "
                                        f"{item.shape.describe()}")
                assert item.row is not None
                item = _Lowered(self.sum(item.row, item.expr), Shape(None, item.shape.cols),
                                None, item.col)
            pending_sums = 0
            acc = item if acc is None else self.times(acc, item, whole)
        if pending_sums:
            raise ShapeMismatch(f"in ${to_latex(whole)}$, \\mathbf{{1}}^\\top has no "
                                "column after it to sum")
        if pending_diag:
            diagonal = self.diagonal_matrix(pending_diag[-1])
            acc = diagonal if acc is None else self.times(acc, diagonal, whole)
        assert acc is not None  # a product has factors
        return acc

    def check_identity(self, identity: Identity, factors: tuple[Expr, ...],
                       whole: Expr) -> None:
        """``I_C`` in a product must fit its neighbours (``I`` without a size fits any)."""
        if identity.size is None:
            return
        at = factors.index(identity)
        for neighbour, side in ((factors[at - 1] if at else None, "cols"),
                                (factors[at + 1] if at + 1 < len(factors) else None, "rows")):
            if neighbour is None or isinstance(neighbour, (Identity, Ones, Diag)) \
                    or (isinstance(neighbour, Transpose) and isinstance(neighbour.arg, Ones)):
                continue
            shape = self.lower(neighbour).shape
            size = getattr(shape, side)
            if not shape.scalar and size != identity.size:
                raise ShapeMismatch(f"the product ${to_latex(whole)}$ is not defined: "
                                    f"$I_{{{identity.size}}}$ is {identity.size}\u00d7"
                                    f"{identity.size} and ${to_latex(neighbour)}$ is "
                                    f"{shape.describe()}")

    def entries(self, expr: Entries) -> _Lowered:
        """``(p_c - y_c) h_j`` as the C x H matrix of those entries."""
        body = self.lower(expr.body)
        if not body.shape.scalar:
            raise ShapeMismatch("an entry written in index notation holds no whole vector "
                                "or matrix")
        sizes = {letter: size for size, letter in self.dims.letters.items()}
        mapping: dict[str, str] = {}
        indices: list[str | None] = []
        for letter in (expr.rows, expr.cols):
            if letter is None:
                indices.append(None)
                continue
            fresh = self.index(sizes[letter])
            mapping[letter] = fresh
            indices.append(fresh)
        shape = Shape(sizes.get(expr.rows or ""), sizes.get(expr.cols or ""))
        return _Lowered(rename_indices(body.expr, mapping), shape, indices[0], indices[1])

    def entry(self, expr: Entry) -> _Lowered:
        """``(W_2^\\top \\delta_2)_j``: the j-th entry, a scalar with j free."""
        whole = self.lower(expr.arg)
        places = [(index, size) for index, size in ((whole.row, whole.shape.rows),
                                                   (whole.col, whole.shape.cols)) if index]
        if len(places) != len(expr.indices):
            raise ShapeMismatch(f"${to_latex(expr.arg)}$ is {whole.shape.describe()}: an entry "
                                f"of it takes {len(places)} index letters, not "
                                f"{len(expr.indices)}")
        mapping = {}
        for (index, size), letter in zip(places, expr.indices):
            if self.dims.letters.get(size or "") != letter.rstrip("'"):
                raise ShapeMismatch(f"the entries of ${to_latex(expr.arg)}$ run over {size}, "
                                    f"whose index is {self.dims.letters.get(size or '')}, "
                                    f"not {letter}")
            mapping[index] = letter
        return _Lowered(rename_indices(whole.expr, mapping), SCALAR, None, None)

    def diagonal_matrix(self, diag: Diag) -> _Lowered:
        """diag(v) on its own: v_r where the row and the column agree, else 0."""
        vector = self._diagonal(diag, diag)
        size = vector.shape.rows or vector.shape.cols
        index = vector.row or vector.col
        assert size is not None and index is not None
        col = self.index(size)
        return _Lowered(Mul((vector.expr, Kronecker(index, col, self.dims.letters[size]))),
                        Shape(size, size), index, col)

    def times(self, left: _Lowered, right: _Lowered, whole: Expr) -> _Lowered:
        if left.shape.scalar or right.shape.scalar:
            keep = right if left.shape.scalar else left
            return _Lowered(Mul((left.expr, right.expr)), keep.shape, keep.row, keep.col)
        inner_left, inner_right = left.shape.cols, right.shape.rows
        if inner_left != inner_right:
            raise ShapeMismatch(
                f"the product ${to_latex(whole)}$ is not defined: a factor that is "
                f"{left.shape.describe()} cannot multiply one that is "
                f"{right.shape.describe()} ({left.shape.cols or 1} \u2260 "
                f"{right.shape.rows or 1})")
        shape = Shape(left.shape.rows, right.shape.cols)
        if inner_left is None:  # a column times a row: the outer product
            return _Lowered(Mul((left.expr, right.expr)), shape, left.row, right.col)
        assert left.col is not None and right.row is not None
        body = Mul((left.expr, rename_indices(right.expr, {right.row: left.col})))
        return _Lowered(self.sum(left.col, body), shape, left.row, right.col)

    def _diagonal(self, diag: Diag, whole: Expr) -> _Lowered:
        vector = self.lower(diag.arg)
        if vector.shape.scalar or (vector.shape.rows and vector.shape.cols):
            raise ShapeMismatch(f"diag takes a vector, and ${to_latex(diag.arg)}$ is "
                                f"{vector.shape.describe()}")
        return vector

    def diag_times(self, diag: Diag, item: _Lowered, whole: Expr) -> _Lowered:
        vector = self._diagonal(diag, whole)
        size = vector.shape.rows or vector.shape.cols
        if item.shape.scalar or item.shape.rows != size:
            raise ShapeMismatch(f"the product ${to_latex(whole)}$ is not defined: diag of a "
                                f"vector of {size} is {size}\u00d7{size}, and it multiplies "
                                f"{item.shape.describe()}")
        index = vector.row or vector.col
        assert index is not None and item.row is not None
        scaled = Mul((rename_indices(vector.expr, {index: item.row}), item.expr))
        return _Lowered(scaled, item.shape, item.row, item.col)

    def times_diag(self, item: _Lowered, diag: Diag, whole: Expr) -> _Lowered:
        vector = self._diagonal(diag, whole)
        size = vector.shape.rows or vector.shape.cols
        if item.shape.cols != size:
            raise ShapeMismatch(f"the product ${to_latex(whole)}$ is not defined: "
                                f"{item.shape.describe()} multiplies diag of a vector of "
                                f"{size}, which is {size}\u00d7{size}")
        index = vector.row or vector.col
        assert index is not None and item.col is not None
        scaled = Mul((item.expr, rename_indices(vector.expr, {index: item.col})))
        return _Lowered(scaled, item.shape, item.row, item.col)

    def elementwise(self, expr: Hadamard) -> _Lowered:
        items = [self.lower(f) for f in expr.factors]
        first = items[0]
        for item, factor in zip(items[1:], expr.factors[1:]):
            if item.shape != first.shape:
                raise ShapeMismatch(
                    f"the elementwise product ${to_latex(expr)}$ needs factors of one shape: "
                    f"${to_latex(expr.factors[0])}$ is {first.shape.describe()} and "
                    f"${to_latex(factor)}$ is {item.shape.describe()}")
        return _Lowered(Mul(tuple(self.align(i, first.row, first.col) for i in items)),
                        first.shape, first.row, first.col)

    # ------------------------------------------------------------------ sums, powers, calls
    def add(self, expr: Add) -> _Lowered:
        items = [self.lower(t) for t in expr.terms]
        shaped = [(i, t) for i, t in zip(items, expr.terms) if not i.shape.scalar]
        if not shaped:
            return _Lowered(Add(tuple(i.expr for i in items)), SCALAR, None, None)
        first, first_term = shaped[0]
        for item, term in zip(items, expr.terms):
            if item.shape.scalar and _is_number(item.expr):
                continue  # 1 - h: the number in every entry
            if item.shape != first.shape:
                raise ShapeMismatch(
                    f"the sum ${to_latex(expr)}$ adds terms of different shapes: "
                    f"${to_latex(first_term)}$ is {first.shape.describe()} and "
                    f"${to_latex(term)}$ is {item.shape.describe()}")
        return _Lowered(Add(tuple(self.align(i, first.row, first.col) for i in items)),
                        first.shape, first.row, first.col)

    def quotient(self, expr: Div) -> _Lowered:
        """``a / s`` scales by a scalar; ``y / p`` and ``1 / p`` divide entry by entry."""
        num, den = self.lower(expr.num), self.lower(expr.den)
        if den.shape.scalar:
            return _Lowered(Div(num.expr, den.expr), num.shape, num.row, num.col)
        if num.shape.scalar or num.shape == den.shape:
            top = num.expr if num.shape.scalar else self.align(num, den.row, den.col)
            return _Lowered(Div(top, den.expr), den.shape, den.row, den.col)
        raise ShapeMismatch(f"the quotient ${to_latex(expr)}$ divides {num.shape.describe()} by "
                            f"{den.shape.describe()}: entry by entry, both must have one shape")

    def power(self, expr: Pow) -> _Lowered:
        base, exponent = self.lower(expr.base), self.lower(expr.exp)
        if base.shape.scalar and not exponent.shape.scalar:  # e^{s}: entry by entry
            return _Lowered(Pow(base.expr, exponent.expr), exponent.shape, exponent.row,
                            exponent.col)
        if not exponent.shape.scalar:
            raise ShapeMismatch(f"the exponent ${to_latex(expr.exp)}$ is "
                                f"{exponent.shape.describe()}")
        if not base.shape.scalar and (base.shape.rows and base.shape.cols):
            raise ShapeMismatch(f"${to_latex(expr.base)}$ is {base.shape.describe()}: a power "
                                "of a matrix is not read here (write the product, or "
                                "\\odot for entries)")
        # a power of a vector is taken entry by entry (1 - h^2 for tanh)
        return _Lowered(Pow(base.expr, exponent.expr), base.shape, base.row, base.col)

    def call(self, expr: Call) -> _Lowered:
        arg = self.lower(expr.arg)
        if expr.func != "softmax":
            return _Lowered(Call(expr.func, expr.order, arg.expr), arg.shape, arg.row,
                            arg.col)
        if expr.order or arg.shape.scalar or (arg.shape.rows and arg.shape.cols):
            raise ShapeMismatch("softmax takes a vector" if not expr.order else
                                "the derivative of softmax is a matrix: write it out")
        index = arg.row or arg.col
        size = arg.shape.rows or arg.shape.cols
        assert index is not None and size is not None
        other = self.index(size)
        top = Call("exp", 0, arg.expr)
        bottom = self.sum(other, Call("exp", 0, rename_indices(arg.expr, {index: other})))
        return _Lowered(Div(top, bottom), arg.shape, arg.row, arg.col)

    def derivative(self, expr: Deriv) -> _Lowered:
        of, wrt = self.lower(expr.of), self.lower(expr.wrt)
        shape = self.dims.gradient_shape(of.shape, wrt.shape)
        denominator = self.dims.layout == DENOMINATOR
        if of.shape.scalar:
            row, col = (wrt.row, wrt.col) if denominator else (wrt.col, wrt.row)
        elif wrt.shape.scalar:
            row, col = (of.col, of.row) if denominator else (of.row, of.col)
        else:  # the Jacobian of a column by a column
            row, col = (wrt.row, of.row) if denominator else (of.row, wrt.row)
        assert isinstance(wrt.expr, (Ref, Var))  # what a derivative is taken by
        return _Lowered(Deriv(of.expr, wrt.expr, expr.partial), shape, row, col)


def _is_number(expr: Expr) -> bool:
    return not any(isinstance(node, (Ref, Var)) for node in expr.walk())


@lru_cache(maxsize=4096)
def lowered(expr: Expr, dims: Dims) -> tuple[Expr, Shape]:
    """``expr`` in index notation with free indices ``ROW`` and ``COL``, and its shape.

    Raises ``ShapeMismatch`` when a product, sum or call does not fit the shapes.
    """
    result = _Lowering(dims).lower(expr)
    mapping = {}
    if result.row is not None:
        mapping[result.row] = ROW
    if result.col is not None:
        mapping[result.col] = COL
    return rename_indices(result.expr, mapping), result.shape


def shape_of(expr: Expr, dims: Dims) -> Shape:
    """The shape of ``expr``, or ShapeMismatch naming the first thing that does not fit."""
    return lowered(expr, dims)[1]


def lower_equation(expr: Expr, dims: Dims) -> tuple[Expr, Shape, tuple[str, ...]]:
    """A forward equation's right side in index notation over the sizes' own letters.

    ``z = W_1 x + b_1`` becomes ``z_j = \\sum_d (W_1)_{jd} x_d + (b_1)_j``: the free indices
    are the letters of z's sizes (j for H), in slot order.
    """
    result = _Lowering(dims).lower(expr)
    mapping, letters = {}, []
    if dims.samples is not None and dims.samples in free_indices(result.expr):
        letters.append(dims.samples)  # z^{(n)} = W_1 x^{(n)} + b_1: one z per example
    for index, size in ((result.row, result.shape.rows), (result.col, result.shape.cols)):
        if index is not None and size is not None:
            letter = dims.letters[size]
            if letter in letters:
                raise ShapeMismatch(f"{result.shape} has the same size twice; give the "
                                    "equation a shape with distinct sizes")
            mapping[index] = letter
            letters.append(letter)
    return rename_indices(result.expr, mapping), result.shape, tuple(letters)


def has_matrices(expr: Expr, dims: Dims) -> bool:
    """Whether ``expr`` holds vector-matrix notation that lowering would change."""
    return any(isinstance(node, (Transpose, MatMul, Hadamard, Diag, Ones, Identity, Entries,
                                 Entry, Sample))
               or is_matrix_name(node, dims)
               or (isinstance(node, Call) and node.func == "softmax")
               for node in expr.walk())


@dataclass(frozen=True)
class Repair:
    """One small edit of an answer: the whole transposed, one part's transpose added or
    dropped, or two factors of a product swapped. ``node`` is the part it changes."""

    kind: str      # "transposed", "missing-transpose", "extra-transpose", "order",
    #                "moved-transpose" (node is the product of the two factors concerned)
    node: Expr
    fixed: Expr


MAX_REPAIRS = 64


def repairs(expr: Expr, dims: Dims) -> list[Repair]:
    """The single edits of ``expr`` that a shape mistake usually needs, whole answer first."""
    out = [Repair("transposed", expr,
                  expr.arg if isinstance(expr, Transpose) else Transpose(expr))]
    for path, node in _positions(expr):
        if isinstance(node, Transpose):
            out.append(Repair("extra-transpose", node, _replace_at(expr, path, node.arg)))
        elif is_matrix_name(node, dims) or isinstance(node, Sample) \
                or (isinstance(node, Add) and path):
            out.append(Repair("missing-transpose", node,
                              _replace_at(expr, path, Transpose(node))))
        if isinstance(node, MatMul):
            for i in range(len(node.factors) - 1):
                swapped = list(node.factors)
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
                pair = MatMul((node.factors[i], node.factors[i + 1]))
                out.append(Repair("order", pair,
                                  _replace_at(expr, path, MatMul(tuple(swapped)))))
        if len(out) >= MAX_REPAIRS:
            break
    # the transpose written on one factor where it belongs on another: (p - y)^T h
    transposed = [(path, node) for path, node in _positions(expr)
                  if isinstance(node, Transpose)]
    plain = [(path, node) for path, node in _positions(expr)
             if is_matrix_name(node, dims) or isinstance(node, Sample)
             or (isinstance(node, Add) and path)]
    for source_path, source in transposed:
        for target_path, target in plain:
            if len(out) >= MAX_REPAIRS:
                return out
            if _nested(source_path, target_path):
                continue
            moved = _replace_at(expr, target_path, Transpose(target))
            moved = _replace_at(moved, source_path, source.arg)
            out.append(Repair("moved-transpose", MatMul((source.arg, target)), moved))
    return out


def as_entries(expr: Expr, asked: Shape, dims: Dims) -> Entries | None:
    """An index-notation answer to a vector-matrix part as the vector or matrix it describes.

    Its free indices must be the letters of the asked shape's sizes (``c`` and ``j`` for a
    C x H gradient, rows first); None when they are not, or when both sizes are one (then the
    letters cannot say which is the row).
    """
    if holds_matrices(expr, dims) or asked.scalar or asked.rows == asked.cols:
        return None
    rows = dims.letters.get(asked.rows or "")
    cols = dims.letters.get(asked.cols or "")
    if free_indices(expr) != {letter for letter in (rows, cols) if letter}:
        return None
    return Entries(expr, rows, cols)


def holds_matrices(expr: Expr, dims: Dims) -> bool:
    """Whether ``expr`` has a vector or matrix in it, other than inside an entry (``(W x)_j``
    is a number)."""
    if isinstance(expr, Entry):
        return False
    if isinstance(expr, (MatMul, Transpose, Hadamard, Diag, Ones, Identity, Entries, Sample)) \
            or is_matrix_name(expr, dims):
        return True
    return any(holds_matrices(child, dims) for child in expr.children())


def _nested(one: tuple[int, ...], other: tuple[int, ...]) -> bool:
    shorter = min(len(one), len(other))
    return one[:shorter] == other[:shorter]


def _positions(expr: Expr, path: tuple[int, ...] = ()):
    yield path, expr
    for i, child in enumerate(expr.children()):
        if isinstance(expr, (Deriv, Sample)):
            break  # a derivative's parts and an example's name are names, not shapes to edit
        yield from _positions(child, path + (i,))


def _replace_at(expr: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    counter = itertools.count()
    return map_children(expr, lambda child: _replace_at(child, path[1:], new)
                        if next(counter) == path[0] else child)
