"""Expressions as the grader understands them, and how to print them back.

These nodes are what an answer means once ``grader.reader`` has bound it to a problem's
vocabulary: ``Ref("w", ("j", "k"))`` is the weight w_jk of the network, ``Call("g", 1, x)`` is
g'(x), ``Sum("k", body)`` sums over every output unit. They are immutable and hashable, so equal
readings share one cache entry. ``to_latex`` prints the reading shown to students ("read as"),
``to_mathml`` the same for browsers.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from html import escape

from . import functions
from .errors import EvaluationError, GraderError
from .greek import LETTERS
from .indices import bound_latex, is_compound, letters_of, renamed


class Expr:
    """Base class of expression nodes."""

    __slots__ = ()

    def children(self) -> tuple[Expr, ...]:
        return ()

    def walk(self):
        """Yield this node and every node below it."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children())


@dataclass(frozen=True)
class Num(Expr):
    value: Fraction


@dataclass(frozen=True)
class Const(Expr):
    """A mathematical constant: ``e`` or ``pi``."""

    name: str


@dataclass(frozen=True)
class Var(Expr):
    """A scalar variable of a part, such as x in g'(x)."""

    name: str


@dataclass(frozen=True)
class Ref(Expr):
    """A network quantity or named signal with its index letters: w_{jk}, \\delta_k, E."""

    name: str
    indices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Add(Expr):
    terms: tuple[Expr, ...]

    def children(self):
        return self.terms


@dataclass(frozen=True)
class Mul(Expr):
    factors: tuple[Expr, ...]

    def children(self):
        return self.factors


@dataclass(frozen=True)
class Div(Expr):
    num: Expr
    den: Expr

    def children(self):
        return (self.num, self.den)


@dataclass(frozen=True)
class Pow(Expr):
    base: Expr
    exp: Expr

    def children(self):
        return (self.base, self.exp)


@dataclass(frozen=True)
class Call(Expr):
    """A function applied to an argument; ``order`` counts primes (g'(x) has order 1)."""

    func: str
    order: int
    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Sum(Expr):
    """Sum of ``body`` over every value of the letter ``index``.

    ``over`` is the problem's index letter whose range the sum runs over: the same as ``index``
    unless the student used a dummy letter (``\\sum_l \\delta_l w_{jl}`` runs over k).
    """

    index: str
    body: Expr
    over: str = ""
    lower: str = ""   # bounds other than the whole range (grader.indices), both or neither:
    upper: str = ""   # "2" and "T", "max(1,i-P+1)" and "min(M,i)"

    def children(self):
        return (self.body,)

    def with_body(self, body: Expr) -> Sum:
        """The same sum (index, range and bounds) over another body."""
        return Sum(self.index, body, self.over, self.lower, self.upper)


@dataclass(frozen=True)
class Kronecker(Expr):
    """The Kronecker delta of two index letters: 1 where they name the same unit, else 0.

    ``over`` is the problem's index letter whose range both run over (``\\delta_{kl}`` with k
    and l over the output units: ``over`` is k).
    """

    first: str
    second: str
    over: str


@dataclass(frozen=True)
class Deriv(Expr):
    """Derivative of ``of`` with respect to ``wrt`` through the network's definitions."""

    of: Expr
    wrt: Ref | Var
    partial: bool = True

    def children(self):
        return (self.of, self.wrt)


@dataclass(frozen=True)
class Transpose(Expr):
    """The transpose of a vector or matrix of a vector-matrix problem: x^T, W^\\top."""

    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class MatMul(Expr):
    """A matrix product in the order written (W_2^T (p - y)); scalar factors scale it.

    Unlike ``Mul`` it does not commute: nothing reorders its factors.
    """

    factors: tuple[Expr, ...]

    def children(self):
        return self.factors


@dataclass(frozen=True)
class Hadamard(Expr):
    """The elementwise product of vectors or matrices of one shape: a \\odot b."""

    factors: tuple[Expr, ...]

    def children(self):
        return self.factors


@dataclass(frozen=True)
class Diag(Expr):
    """The diagonal matrix whose diagonal is the vector ``arg``: diag(v)."""

    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Ones(Expr):
    """The column of ones, \\mathbf{1}, as long as the product it stands in needs:
    ``\\mathbf{1}^\\top v`` sums the entries of v."""


@dataclass(frozen=True)
class Identity(Expr):
    """The identity matrix ``I`` (``I_C``: of size C; without a size, as a product needs)."""

    size: str | None = None


@dataclass(frozen=True)
class Entries(Expr):
    """A vector or matrix written entry by entry in index notation: ``(p_c - y_c) h_j`` for
    dL/dW_2 is the matrix whose (c, j) entry that is. ``rows`` and ``cols`` are the index
    letters of its rows and columns (None for one), bound here like a sum's letter."""

    body: Expr
    rows: str | None
    cols: str | None

    def children(self):
        return (self.body,)


@dataclass(frozen=True)
class Entry(Expr):
    """An entry of a vector or matrix expression, ``(W_2^\\top \\delta_2)_j``: ``indices`` are
    the index letters of its row (and column), free in the entry."""

    arg: Expr
    indices: tuple[str, ...]

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Sample(Expr):
    """One training example's value of a per-example vector: ``x^{(n)}`` (``index`` is n, or
    the letter of a sum over the examples)."""

    arg: Ref
    index: str
    step: bool = False  # a time step of a sequence, written as a subscript: h_{t-1}

    def children(self):
        return (self.arg,)


MATRIX_NODES = (Transpose, MatMul, Hadamard, Diag, Ones, Identity, Entries, Entry, Sample)


def is_concrete(index: str) -> bool:
    """Whether an index names one unit (``1``, ``2``, the last ``K``, ``T-1``) rather than
    ranging (``k``, ``t-1``)."""
    return not index[:1].islower() and not letters_of(index)


def free_indices(expr: Expr) -> frozenset[str]:
    """Index letters left free in ``expr`` (not bound by a sum; ``w_{j1}`` leaves only j)."""
    if isinstance(expr, Ref):
        return frozenset(letter for i in expr.indices for letter in letters_of(i))
    if isinstance(expr, Kronecker):
        return frozenset(i for i in (expr.first, expr.second) if not is_concrete(i))
    if isinstance(expr, Sum):
        bounds = {letter for bound in (expr.lower, expr.upper) if bound
                  for letter in letters_of(bound)}
        return (free_indices(expr.body) - {expr.index}) | bounds
    if isinstance(expr, Entries):
        return free_indices(expr.body) - {expr.rows, expr.cols}
    if isinstance(expr, Entry):
        return frozenset(letter for i in expr.indices for letter in letters_of(i))
    if isinstance(expr, Sample):
        return frozenset(letters_of(expr.index))
    if isinstance(expr, Deriv):
        return free_indices(expr.of) | free_indices(expr.wrt)
    out: frozenset[str] = frozenset()
    for child in expr.children():
        out |= free_indices(child)
    return out


def shadowed_indices(expr: Expr) -> set[str]:
    """Index letters that a sum binds while the same letter is also free in ``expr``."""
    outer_free = free_indices(expr)
    return {node.index for node in expr.walk()
            if isinstance(node, Sum) and node.index in outer_free}


# ---------------------------------------------------------------------------- printing

_PREC_ADD, _PREC_MUL, _PREC_NEG, _PREC_POW, _PREC_ATOM = 1, 2, 3, 4, 5


def name_latex(name: str) -> str:
    """LaTeX for a symbol name: Greek names get their backslash; ``W_2`` keeps its subscript."""
    base, mark, label = name.partition("_")
    if mark and base and label:  # a vector or matrix of a vector-matrix problem: W_2, delta_1
        return name_latex(base) + "_{" + label + "}"
    if name in LETTERS:
        return "\\" + name
    if is_hatted(name):  # yhat: \hat{y}
        return f"\\hat{{{name[0]}}}"
    return functions.latex(name) or name


def is_hatted(name: str) -> bool:
    """Whether a name is a letter with a hat (``\\hat{y}`` is read as the name ``yhat``)."""
    return len(name) == 4 and name.endswith("hat") and name[0].isalpha()


def _indices_latex(indices: tuple[str, ...]) -> str:
    if not indices:
        return ""
    joiner = "," if len(indices) > 1 and any(is_compound(i) for i in indices) else ""
    return "_{" + joiner.join(indices) + "}"


def _prec(expr: Expr) -> int:
    if isinstance(expr, Entries):
        return _prec(expr.body)
    if isinstance(expr, Add):
        return _PREC_ADD
    if isinstance(expr, (Mul, Div, Sum, Deriv, MatMul, Hadamard)):
        return _PREC_MUL
    if isinstance(expr, Neg):
        return _PREC_NEG
    if isinstance(expr, Num) and (expr.value < 0 or expr.value.denominator != 1):
        return _PREC_MUL
    if isinstance(expr, (Pow, Transpose, Sample)):
        return _PREC_POW
    return _PREC_ATOM


def _takes_the_rest(expr: Expr) -> bool:
    """Whether ``expr`` prints ending in an operator that would take what follows it."""
    if isinstance(expr, Sum):
        return True
    if isinstance(expr, Deriv):
        return not isinstance(expr.of, (Ref, Var))
    if isinstance(expr, Neg):
        return _takes_the_rest(expr.arg)
    if isinstance(expr, Mul):
        return _takes_the_rest(expr.factors[-1])
    return False


def _after_sign(arg: Expr) -> int:
    """How tightly what follows a minus sign must bind: a second sign gets brackets."""
    return _PREC_POW if _starts_with_sign(arg) else _PREC_MUL


def _starts_with_sign(expr: Expr) -> bool:
    if isinstance(expr, Neg) or (isinstance(expr, Num) and expr.value < 0):
        return True
    if isinstance(expr, Mul):
        return _starts_with_sign(expr.factors[0])
    if isinstance(expr, Add):
        return _starts_with_sign(expr.terms[0])
    return False


def _factor_precedence(factors: tuple[Expr, ...], i: int) -> int:
    """How tightly the i-th factor of a product must bind to print without brackets.

    A sign only starts a product; a sum or a derivative operator takes the rest of the product
    with it, so either is bracketed unless it comes last.
    """
    factor = factors[i]
    if _takes_the_rest(factor) and i < len(factors) - 1:
        return _PREC_ATOM
    if i and isinstance(factor, Neg):
        return _PREC_POW
    return _PREC_MUL + 1 if i else _PREC_MUL


def to_latex(expr: Expr) -> str:
    """Print ``expr`` as unambiguous LaTeX: explicit \\cdot, brackets where needed."""

    def wrap(child: Expr, minimum: int) -> str:
        text = to_latex(child)
        return f"\\left({text}\\right)" if _prec(child) < minimum else text

    if isinstance(expr, Num):
        v = expr.value
        if v.denominator == 1:
            return str(v.numerator)
        return f"\\frac{{{v.numerator}}}{{{v.denominator}}}"
    if isinstance(expr, Const):
        return "e" if expr.name == "e" else "\\pi"
    if isinstance(expr, Var):
        return name_latex(expr.name)
    if isinstance(expr, Ref):
        if "_" in expr.name and expr.indices:  # an entry of W_2: (W_2)_{jk}
            return f"\\left({name_latex(expr.name)}\\right){_indices_latex(expr.indices)}"
        return name_latex(expr.name) + _indices_latex(expr.indices)
    if isinstance(expr, Transpose):
        return wrap(expr.arg, _PREC_ATOM) + "^{\\top}"
    if isinstance(expr, MatMul):
        return " ".join(wrap(f, _PREC_POW) for f in expr.factors)
    if isinstance(expr, Hadamard):
        return " \\odot ".join(wrap(f, _PREC_POW) for f in expr.factors)
    if isinstance(expr, Diag):
        return f"\\operatorname{{diag}}\\left({to_latex(expr.arg)}\\right)"
    if isinstance(expr, Entries):  # what the student wrote: the entry
        return to_latex(expr.body)
    if isinstance(expr, Entry):
        return f"\\left({to_latex(expr.arg)}\\right){_indices_latex(expr.indices)}"
    if isinstance(expr, Sample) and expr.step:
        return f"{to_latex(expr.arg)}_{{{expr.index}}}"
    if isinstance(expr, Sample):
        return f"{to_latex(expr.arg)}^{{({expr.index})}}"
    if isinstance(expr, Ones):
        return "\\mathbf{1}"
    if isinstance(expr, Identity):
        return "I" + (f"_{{{expr.size}}}" if expr.size else "")
    if isinstance(expr, Neg):
        return "-" + wrap(expr.arg, _after_sign(expr.arg))
    if isinstance(expr, Add):
        parts = [to_latex(expr.terms[0])]
        for term in expr.terms[1:]:
            if isinstance(term, Neg):
                parts.append(" - " + wrap(term.arg, _after_sign(term.arg)))
            else:
                parts.append(" + " + to_latex(term))
        return "".join(parts)
    if isinstance(expr, Mul):
        return " \\cdot ".join(wrap(f, _factor_precedence(expr.factors, i))
                               for i, f in enumerate(expr.factors))
    if isinstance(expr, Div):
        return f"\\frac{{{to_latex(expr.num)}}}{{{to_latex(expr.den)}}}"
    if isinstance(expr, Pow):
        return f"{wrap(expr.base, _PREC_ATOM)}^{{{to_latex(expr.exp)}}}"
    if isinstance(expr, Call):
        if expr.func == "exp" and expr.order == 0:
            return f"e^{{{to_latex(expr.arg)}}}"
        if expr.func == "heaviside" and expr.order == 0:  # read back as the same step
            return f"\\mathbb{{1}}\\left[{to_latex(expr.arg)} > 0\\right]"
        return f"{name_latex(expr.func)}{chr(39) * expr.order}\\left({to_latex(expr.arg)}\\right)"
    if isinstance(expr, Kronecker):
        return f"\\delta_{{{expr.first}{expr.second}}}"
    if isinstance(expr, Sum):
        bounds = (f"_{{{expr.index}={bound_latex(expr.lower)}}}^{{{bound_latex(expr.upper)}}}"
                  if expr.lower else f"_{{{expr.index}}}")
        return f"\\sum{bounds} {wrap(expr.body, _after_sign(expr.body))}"
    if isinstance(expr, Deriv):
        d = "\\partial" if expr.partial else "d"
        if isinstance(expr.of, (Ref, Var)):
            return f"\\frac{{{d} {to_latex(expr.of)}}}{{{d} {to_latex(expr.wrt)}}}"
        return f"\\frac{{{d}}}{{{d} {to_latex(expr.wrt)}}} {wrap(expr.of, _PREC_ATOM)}"
    raise GraderError(f"cannot print {expr!r}")


def _mi(name: str) -> str:
    base, mark, label = name.partition("_")
    if mark and base and label:  # W_2, delta_1: a subscripted name
        return f"<msub>{_mi(base)}<mn>{escape(label)}</mn></msub>"
    if is_hatted(name):
        return f"<mover><mi>{escape(name[0])}</mi><mo>^</mo></mover>"
    text = name_latex(name)
    symbol = LETTERS.get(name, text)
    return f"<mi>{escape(symbol if name in LETTERS else functions.plain(name) or symbol)}</mi>"




def to_mathml(expr: Expr | list[Expr], display: bool = False) -> str:
    """Render an expression, or a chain of them joined by '=', as presentation MathML."""
    mode = ' display="block"' if display else ""
    chain = expr if isinstance(expr, list) else [expr]
    inner = "<mo>=</mo>".join(_mml(e) for e in chain)
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"{mode}><mrow>{inner}</mrow></math>'


def _paren(inner: str) -> str:
    return f"<mrow><mo>(</mo>{inner}<mo>)</mo></mrow>"


def _mml(expr: Expr) -> str:
    def wrap(child: Expr, minimum: int) -> str:
        text = _mml(child)
        return _paren(text) if _prec(child) < minimum else text

    if isinstance(expr, Num):
        v = expr.value
        if v.denominator == 1:
            return f"<mn>{v.numerator}</mn>"
        return f"<mfrac><mn>{v.numerator}</mn><mn>{v.denominator}</mn></mfrac>"
    if isinstance(expr, Const):
        return "<mi>e</mi>" if expr.name == "e" else "<mi>π</mi>"
    if isinstance(expr, Var):
        return _mi(expr.name)
    if isinstance(expr, Ref):
        if not expr.indices:
            return _mi(expr.name)
        return f"<msub>{_mi(expr.name)}<mi>{escape(''.join(expr.indices))}</mi></msub>"
    if isinstance(expr, Transpose):
        return f"<msup>{wrap(expr.arg, _PREC_ATOM)}<mi>⊤</mi></msup>"
    if isinstance(expr, MatMul):
        return "<mrow>" + "".join(wrap(f, _PREC_POW) for f in expr.factors) + "</mrow>"
    if isinstance(expr, Hadamard):
        return "<mrow>" + "<mo>⊙</mo>".join(wrap(f, _PREC_POW) for f in expr.factors) + "</mrow>"
    if isinstance(expr, Diag):
        return f"<mrow><mi>diag</mi>{_paren(_mml(expr.arg))}</mrow>"
    if isinstance(expr, Entries):
        return _mml(expr.body)
    if isinstance(expr, Entry):
        return f"<msub>{_paren(_mml(expr.arg))}<mi>{escape(''.join(expr.indices))}</mi></msub>"
    if isinstance(expr, Sample) and expr.step:
        return f"<msub>{_mml(expr.arg)}<mi>{escape(expr.index)}</mi></msub>"
    if isinstance(expr, Sample):
        index = _paren(f"<mi>{escape(expr.index)}</mi>")
        return f"<msup>{_mml(expr.arg)}{index}</msup>"
    if isinstance(expr, Ones):
        return "<mn mathvariant=\"bold\">1</mn>"
    if isinstance(expr, Identity):
        return f"<msub><mi>I</mi><mi>{expr.size}</mi></msub>" if expr.size else "<mi>I</mi>"
    if isinstance(expr, Neg):
        return f"<mrow><mo>−</mo>{wrap(expr.arg, _after_sign(expr.arg))}</mrow>"
    if isinstance(expr, Add):
        parts = [_mml(expr.terms[0])]
        for term in expr.terms[1:]:
            if isinstance(term, Neg):
                parts.append(f"<mo>−</mo>{wrap(term.arg, _after_sign(term.arg))}")
            else:
                parts.append(f"<mo>+</mo>{_mml(term)}")
        return "<mrow>" + "".join(parts) + "</mrow>"
    if isinstance(expr, Mul):
        inner = "<mo>·</mo>".join(wrap(f, _factor_precedence(expr.factors, i))
                                  for i, f in enumerate(expr.factors))
        return f"<mrow>{inner}</mrow>"
    if isinstance(expr, Div):
        return f"<mfrac>{_mml(expr.num)}{_mml(expr.den)}</mfrac>"
    if isinstance(expr, Pow):
        return f"<msup>{wrap(expr.base, _PREC_ATOM)}{_mml(expr.exp)}</msup>"
    if isinstance(expr, Call):
        if expr.func == "exp" and expr.order == 0:
            return f"<msup><mi>e</mi>{_mml(expr.arg)}</msup>"
        if expr.func == "heaviside" and expr.order == 0:
            return (f"<mrow><mi>𝟙</mi><mo>[</mo>{_mml(expr.arg)}<mo>&gt;</mo><mn>0</mn>"
                    "<mo>]</mo></mrow>")
        name = _mi(expr.func)
        if expr.order:
            name = f"<msup>{name}<mo>{'′' * expr.order}</mo></msup>"
        return f"<mrow>{name}{_paren(_mml(expr.arg))}</mrow>"
    if isinstance(expr, Kronecker):
        return f"<msub><mi>δ</mi><mi>{escape(expr.first + expr.second)}</mi></msub>"
    if isinstance(expr, Sum) and expr.lower:
        return (f"<mrow><munderover><mo>∑</mo><mrow><mi>{escape(expr.index)}</mi><mo>=</mo>"
                f"<mi>{escape(bound_latex(expr.lower))}</mi></mrow>"
                f"<mi>{escape(bound_latex(expr.upper))}</mi></munderover>"
                f"{wrap(expr.body, _after_sign(expr.body))}</mrow>")
    if isinstance(expr, Sum):
        return (f"<mrow><munder><mo>∑</mo><mi>{escape(expr.index)}</mi></munder>"
                f"{wrap(expr.body, _after_sign(expr.body))}</mrow>")
    if isinstance(expr, Deriv):
        d = "<mo>∂</mo>" if expr.partial else "<mi>d</mi>"
        if isinstance(expr.of, (Ref, Var)):
            return f"<mfrac><mrow>{d}{_mml(expr.of)}</mrow><mrow>{d}{_mml(expr.wrt)}</mrow></mfrac>"
        return (f"<mrow><mfrac>{d}<mrow>{d}{_mml(expr.wrt)}</mrow></mfrac>"
                f"{wrap(expr.of, _PREC_ATOM)}</mrow>")
    raise GraderError(f"cannot render {expr!r}")


def map_children(expr: Expr, f) -> Expr:
    """A copy of ``expr`` with ``f`` applied to each direct child expression."""
    if isinstance(expr, Neg):
        return Neg(f(expr.arg))
    if isinstance(expr, Add):
        return Add(tuple(f(t) for t in expr.terms))
    if isinstance(expr, Mul):
        return Mul(tuple(f(t) for t in expr.factors))
    if isinstance(expr, Div):
        return Div(f(expr.num), f(expr.den))
    if isinstance(expr, Pow):
        return Pow(f(expr.base), f(expr.exp))
    if isinstance(expr, Call):
        return Call(expr.func, expr.order, f(expr.arg))
    if isinstance(expr, Sum):
        return expr.with_body(f(expr.body))
    if isinstance(expr, Deriv):
        return Deriv(f(expr.of), f(expr.wrt), expr.partial)
    if isinstance(expr, Transpose):
        return Transpose(f(expr.arg))
    if isinstance(expr, MatMul):
        return MatMul(tuple(f(t) for t in expr.factors))
    if isinstance(expr, Hadamard):
        return Hadamard(tuple(f(t) for t in expr.factors))
    if isinstance(expr, Diag):
        return Diag(f(expr.arg))
    if isinstance(expr, Entries):
        return Entries(f(expr.body), expr.rows, expr.cols)
    if isinstance(expr, Entry):
        return Entry(f(expr.arg), expr.indices)
    if isinstance(expr, Sample):
        arg = f(expr.arg)
        return Sample(arg, expr.index, expr.step) if isinstance(arg, Ref) else arg
    return expr


def rename_indices(expr: Expr, mapping: dict[str, str]) -> Expr:
    """Rename free index letters (``{"k": "l"}``); letters bound by a sum are left alone."""
    if not mapping:
        return expr
    if isinstance(expr, Ref):
        return Ref(expr.name, tuple(renamed(i, mapping) for i in expr.indices))
    if isinstance(expr, Kronecker):
        return Kronecker(mapping.get(expr.first, expr.first),
                         mapping.get(expr.second, expr.second), expr.over)
    if isinstance(expr, Sum):
        inner = {k: v for k, v in mapping.items() if k != expr.index}
        return Sum(expr.index, rename_indices(expr.body, inner), expr.over,
                   renamed(expr.lower, inner) if expr.lower else "",
                   renamed(expr.upper, inner) if expr.upper else "")
    if isinstance(expr, Entries):
        inner = {k: v for k, v in mapping.items() if k not in (expr.rows, expr.cols)}
        return Entries(rename_indices(expr.body, inner), expr.rows, expr.cols)
    if isinstance(expr, Entry):  # the vector itself has no free letters: only the entry's
        return Entry(expr.arg, tuple(renamed(i, mapping) for i in expr.indices))
    if isinstance(expr, Sample):
        return Sample(expr.arg, renamed(expr.index, mapping), expr.step)
    return map_children(expr, lambda child: rename_indices(child, mapping))


def substitute(expr: Expr, values: dict[str, Expr]) -> Expr:
    """``expr`` with the variables named in ``values`` replaced (``g'(x)`` at ``x = h_k``)."""
    if isinstance(expr, Var):
        return values.get(expr.name, expr)
    return map_children(expr, lambda child: substitute(child, values))


def depends_on(expr: Expr, name: str) -> bool:
    return any(isinstance(node, Var) and node.name == name for node in expr.walk())


def differentiate(expr: Expr, name: str) -> Expr:
    """The derivative of ``expr`` by the variable ``name`` (for ``\\frac{dg}{dx}\\big|_{x=..}``).

    Network quantities do not depend on such a variable; a function's derivative is written
    with one more prime, so ``\\frac{d g(x)}{dx}`` is ``g'(x)``.
    """
    if not depends_on(expr, name):
        return Num(Fraction(0))
    if isinstance(expr, Var):
        return Num(Fraction(1))
    if isinstance(expr, Neg):
        return _neg(differentiate(expr.arg, name))
    if isinstance(expr, Add):
        return _add([differentiate(t, name) for t in expr.terms])
    if isinstance(expr, Mul):
        terms = []
        for i, factor in enumerate(expr.factors):
            if depends_on(factor, name):
                others = [f for j, f in enumerate(expr.factors) if j != i]
                terms.append(_mul(others + [differentiate(factor, name)]))
        return _add(terms)
    if isinstance(expr, Div):
        top = _add([_mul([differentiate(expr.num, name), expr.den]),
                    _neg(_mul([expr.num, differentiate(expr.den, name)]))])
        return Div(top, Pow(expr.den, Num(Fraction(2))))
    if isinstance(expr, Pow) and not depends_on(expr.exp, name):
        lowered = Pow(expr.base, _add([expr.exp, Num(Fraction(-1))]))
        return _mul([expr.exp, lowered, differentiate(expr.base, name)])
    if isinstance(expr, Pow):  # b^e = exp(e ln b)
        inner = _mul([expr.exp, Call("ln", 0, expr.base)])
        return _mul([expr, differentiate(inner, name)])
    if isinstance(expr, Call):
        return _mul([Call(expr.func, expr.order + 1, expr.arg), differentiate(expr.arg, name)])
    if isinstance(expr, Sum):
        return expr.with_body(differentiate(expr.body, name))
    raise EvaluationError(f"cannot differentiate {type(expr).__name__} by {name}")


def _is_number(expr: Expr, value: int) -> bool:
    return isinstance(expr, Num) and expr.value == value


def _neg(expr: Expr) -> Expr:
    if isinstance(expr, Num):
        return Num(-expr.value)
    return expr.arg if isinstance(expr, Neg) else Neg(expr)


def _add(terms: list[Expr]) -> Expr:
    terms = [t for t in terms if not _is_number(t, 0)]
    if not terms:
        return Num(Fraction(0))
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _mul(factors: list[Expr]) -> Expr:
    if any(_is_number(f, 0) for f in factors):
        return Num(Fraction(0))
    factors = [f for f in factors if not _is_number(f, 1)]
    if not factors:
        return Num(Fraction(1))
    return factors[0] if len(factors) == 1 else Mul(tuple(factors))


def canonical(expr: Expr) -> Expr:
    """``expr`` with the terms of sums and the factors of products in a fixed order.

    Two readings that differ only by commuting are equal after this (used to match the terms
    of a sum written out with \\dots).
    """
    expr = map_children(expr, canonical)
    if isinstance(expr, Mul):
        flat: list[Expr] = []
        for factor in expr.factors:
            flat.extend(factor.factors if isinstance(factor, Mul) else (factor,))
        return Mul(tuple(sorted(flat, key=repr)))
    if isinstance(expr, Add):
        return Add(tuple(sorted(expr.terms, key=repr)))
    return expr
