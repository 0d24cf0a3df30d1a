"""Give a parsed answer its meaning with a problem's vocabulary.

``read_answer(text, vocabulary)`` reads a whole answer box: it normalises the student's
notation (``grader.notation``), cuts it into statements (``grader.layout``) and reads every
side of every statement on its own, so one unreadable remark does not hide the rest.
``read_expression`` reads one expression (a spec's reference, a step). The vocabulary says which
names are functions (``g``, ``\\sigma``), which are indexed quantities and over which index
ranges (``w`` is indexed by j and k), and which are scalar variables (``x``). With it:

- ``\\sigma(x)`` is a call but ``c_k(1-c_k)`` is a product;
- ``g'(h_k)``, ``g^{\\prime}(h_k)``, ``g\\prime(h_k)``, ``g′(h_k)``, ``\\dot g(h_k)``,
  ``g^{(1)}(h_k)``, ``{g}'(h_k)``, ``\\frac{\\partial g}{\\partial h_k}`` and
  ``\\frac{dg}{dx}\\Big|_{x=h_k}`` are all the derivative of g at h_k;
- ``\\sigma^2(x)`` and ``\\sigma(x)^2`` are the square of the call;
- ``\\sum_k`` and ``\\frac{\\partial}{\\partial h_k}`` apply to the rest of the product; a sum
  may use any dummy letter (``\\sum_{k'}``), and ``\\sum`` alone sums the one index that can be
  meant; ``\\delta_1 w_{j1} + \\dots + \\delta_K w_{jK}`` is the sum over k;
- ``\\frac{\\partial E}{\\partial w_{jk}}`` and ``\\partial E/\\partial w_{jk}`` are derivatives
  through the network, never 0;
- ``{{\\delta }_{k}}`` is \\delta_k and ``w_jk`` is w_{jk} (editor exports);
- an unknown symbol, an index used where the quantity has another, a sum whose bounds are not
  the index's range: an error that names it and points at it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from lark import Token, Tree

from .errors import AnswerError, EvaluationError, IndexMismatch, ShapeMismatch
from .expr import (
    Add,
    Call,
    Const,
    Deriv,
    Diag,
    Div,
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
    canonical,
    differentiate,
    free_indices,
    is_concrete,
    map_children,
    name_latex,
    rename_indices,
    substitute,
    to_latex,
)
from .indices import affine, is_compound, letters_of
from .indices import canonical as canonical_index
from .layout import MAIN, SIDE, statements
from .matrices import Dims, holds_matrices, is_matrix_name, shape_of
from .notation import Source, normalise
from .syntax import MAX_ANSWER_CHARS, parse

ELEMENTWISE = ("\\odot", "\\circ")   # a product sign that multiplies entry by entry
VECTOR_FUNCTIONS = ("diag", "softmax")  # functions of a whole vector

# The parse tree's nodes (lark Trees and Tokens) are navigated by shape, not by type.
Node = Any

MAX_MAGNITUDE = 1e6  # numbers and constant powers beyond this are refused, not computed
MAX_ORDER = 2        # g'' is the highest derivative written with primes


@dataclass(frozen=True)
class Vocabulary:
    """The names a problem (or one part of it) gives meaning to.

    ``quantities`` maps a name to the index letters of its slots, in order (``w`` -> ``jk``);
    ``ranges`` maps each index letter to the letter of its size (``k`` -> ``K``) and
    ``range_names`` says in words what an index runs over, for messages. ``aliases`` maps other
    names a spec accepts to its own (``W`` -> ``w``); ``free`` holds the free indices of the
    asked quantity (a ``\\sum`` without an index sums the one index not among them).
    ``variables`` are the part's own scalar variables (``x`` in g'(x)): written bare, one
    shadows an indexed quantity of the same name (``s`` is the variable, ``s_j`` the network's).
    """

    ranges: Mapping[str, str]
    quantities: Mapping[str, tuple[str, ...]]
    functions: frozenset[str]
    variables: frozenset[str] = frozenset()
    range_names: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    free: frozenset[str] = frozenset()
    dims: Dims | None = None   # a vector-matrix problem: shapes of its vectors and matrices
    # names the answer itself defines ("with \\delta_o = y - t"): name -> (index letters, value)
    definitions: Mapping[str, tuple[tuple[str, ...], Expr]] = field(default_factory=dict)
    zero_outside: frozenset[str] = frozenset()  # quantities that are 0 beyond their range

    def known_names(self) -> str:
        names = [name_latex(n) for n in sorted(self.quantities, key=str.lower)]
        names += [name_latex(n) for n in sorted(self.functions)]
        names += sorted(self.variables)
        return ", ".join(names)

    def is_index(self, letter: str) -> bool:
        return letter in self.ranges

    def is_step(self, written: str) -> bool:
        """Whether ``H`` (applied to brackets) is the Heaviside step: when the problem gives H no
        other meaning."""
        return written == "H" and not any(written in names for names in (
            self.quantities, self.functions, self.variables, self.aliases))

    def kronecker_delta(self, written: str) -> bool:
        """Whether ``\\delta`` with two indices is the Kronecker delta: unless the problem has a
        quantity \\delta with two indices of its own (a one-index signal \\delta_k is told apart
        by its indices)."""
        name = self.aliases.get(written, written)
        return written == "delta" and len(self.quantities.get(name, ())) != 2


@dataclass
class _Scope:
    """What enclosing notation binds: sum letters (letter -> index letter of its range, or
    None until first use) and the variables of evaluation bars (``\\big|_{x=h_k}``)."""

    bound: dict[str, str | None] = field(default_factory=dict)
    dummies: frozenset[str] = frozenset()

    def inner(self, **changes) -> _Scope:
        scope = _Scope(dict(self.bound), self.dummies)
        for key, value in changes.items():
            setattr(scope, key, value)
        return scope


def read(text: str | Source, vocabulary: Vocabulary, wide_operators: bool = False) -> list[Expr]:
    """Read ``text`` (any student notation) into the chain of expressions it states.

    ``wide_operators`` gives the other reading of a sloppy line: a derivative operator applies
    to everything after it, ``+`` terms included (``\\frac{\\partial}{\\partial f_k} \\sum_j b_j
    w_{jk} + f_k`` as the derivative of the whole sum), instead of the usual rest-of-product.
    Errors point into the text as the student wrote it.
    """
    source = text if isinstance(text, Source) else normalise(text)
    try:
        tree = parse(source.text)
        reader = _Reader(source.text, vocabulary, wide_operators)
        return [reader.expr(child, _Scope()) for child in tree.children]
    except AnswerError as err:
        at = None if err.position is None else source.at(err.position)
        raise AnswerError(err.message, at, source.original) from None


def read_source(source: Source, vocabulary: Vocabulary, wide_operators: bool = False) -> Expr:
    """Read one side of a statement; errors point into the student's own text."""
    chain = read(source, vocabulary, wide_operators)
    if len(chain) != 1:
        raise AnswerError("expected one expression, found an equation", None, source.original)
    return chain[0]


def read_expression(text: str, vocabulary: Vocabulary, wide_operators: bool = False) -> Expr:
    """Read ``text`` that must be one expression, not an equation (any student notation)."""
    return read_source(normalise(text), vocabulary, wide_operators)


@dataclass(frozen=True)
class Line:
    """One side of a statement: its text, where it starts, and its reading or error."""

    latex: str
    offset: int
    expr: Expr | None = None
    error: AnswerError | IndexMismatch | None = None
    source: Source | None = None


@dataclass(frozen=True)
class Reading:
    """A statement of an answer, read: its sides in order and its role (``grader.layout``)."""

    lines: tuple[Line, ...]
    latex: str
    offset: int
    role: str = MAIN
    relation: str = ""
    hedged: bool = False

    @property
    def side_claim(self) -> bool:
        return self.role == SIDE

    @property
    def is_equation(self) -> bool:
        return len(self.lines) > 1 and not self.relation


def read_answer(text: str, vocabulary: Vocabulary) -> list[Reading]:
    """Every statement of an answer box with every side read (errors kept, not raised).

    An empty answer, or one that is too long, raises ``AnswerError``.
    """
    if not text.strip():
        raise AnswerError("the answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(
            f"the answer is too long ({len(text)} characters; the limit is {MAX_ANSWER_CHARS})")
    source = normalise(text)
    found = []
    parts = list(statements(source))
    vocabulary = _with_local_definitions(parts, vocabulary)
    for statement in parts:
        lines = []
        for side in statement.sides:
            lines.append(_read_line(side, vocabulary, text))
        whole = statement.whole or source
        start = whole.at(0) or 0
        found.append(Reading(tuple(lines), text[start:whole.at(len(whole.text))].strip(), start,
                             statement.role, statement.relation, statement.hedged))
    if not found:
        raise AnswerError("the answer has no mathematics in it")
    return found


def _with_local_definitions(parts, vocabulary: Vocabulary) -> Vocabulary:
    """The vocabulary with the names the answer defines for itself.

    A statement ``u = \\tanh(s)`` or ``\\delta_j = (y - t) m_j (1 - h_j^2)`` whose left side is
    one new name (not a quantity, function or variable of the problem), with or without index
    letters, and whose right side reads, defines that name for the whole answer: ``1 - u^2``
    then reads as ``1 - \\tanh^2(s)``. Definitions are read in order, so one may use another.
    """
    definitions: dict[str, tuple[tuple[str, ...], Expr]] = {}
    for statement in parts:
        if len(statement.sides) < 2:
            continue
        named = _new_name(statement.sides[0], vocabulary)
        if named is None or named[0] in definitions:
            continue
        current = replace(vocabulary, definitions=dict(definitions))
        try:
            value = read_source(statement.sides[-1], current)
        except (AnswerError, IndexMismatch):
            continue
        name, letters = named
        if free_indices(value) <= set(letters):
            definitions[name] = (letters, value)
    return replace(vocabulary, definitions=definitions) if definitions else vocabulary


def _new_name(side: Source, vocabulary: Vocabulary) -> tuple[str, tuple[str, ...]] | None:
    """The name and index letters of ``u`` or ``\\delta_j``, when the problem does not know it."""
    try:
        tree = parse(side.text)
    except AnswerError:
        return None
    tokens = [t for t in tree.scan_values(lambda v: True) if t.type not in ("LBRACE", "RBRACE")]
    if not tokens or tokens[0].type not in ("LETTER", "GREEK"):
        return None
    letters = [t for t in tokens[2:]] if len(tokens) > 2 and tokens[1].type == "SUB" else []
    if len(tokens) != (2 + len(letters) if letters else 1) \
            or any(t.type not in ("LETTER", "NUMBER") for t in letters):
        return None
    name = str(tokens[0])
    if not all(t.type == "LETTER" and vocabulary.is_index(str(t)) for t in letters):
        # \delta_o, u_1: the subscript is a label, part of the name
        return f"{name}_{''.join(str(t) for t in letters)}", ()
    known = (vocabulary.quantities, vocabulary.functions, vocabulary.variables,
             vocabulary.aliases, vocabulary.ranges, vocabulary.dims.shapes if vocabulary.dims
             else {})
    if any(name in names for names in known) or name in ("e", "d", "pi", "H", "I"):
        return None
    return name, tuple(str(t) for t in letters)


def _read_line(side: Source, vocabulary: Vocabulary, text: str) -> Line:
    start, end = side.at(0) or 0, side.at(len(side.text)) or 0
    latex = text[start:end].strip()
    offset = start + (len(text[start:end]) - len(text[start:end].lstrip()))
    try:
        if not side.text.strip():
            raise AnswerError("nothing on this side of '='", start, text)
        return Line(latex, offset, read_source(side, vocabulary), source=side)
    except AnswerError as err:
        return Line(latex, offset, error=err, source=side)
    except IndexMismatch as err:
        return Line(latex, offset, error=err, source=side)


def _pos(node) -> int | None:
    if isinstance(node, Token):
        return node.start_pos
    for child in node.children:
        found = _pos(child)
        if found is not None:
            return found
    return None


class _Reader:
    def __init__(self, text: str, vocabulary: Vocabulary, wide_operators: bool = False):
        self.text = text
        self.vocab = vocabulary
        self.wide = wide_operators

    def error(self, message: str, node=None) -> AnswerError:
        return AnswerError(message, _pos(node) if node is not None else None, self.text)

    # ------------------------------------------------------------------ sums and products
    def expr(self, tree: Node, scope: _Scope) -> Expr:
        signed: list[tuple[bool, Tree]] = []
        negate = False
        for child in tree.children:
            if child.data == "addop":
                negate = child.children[0].type == "MINUS"
                continue
            signed.append((negate, child))
            negate = False
        if any(_is_dots(term) for _, term in signed):
            return self.written_out_sum(signed, scope, tree)
        terms: list[Expr] = []
        for n, (negative, child) in enumerate(signed):
            tail = signed[n + 1:] if self.wide and self._has_operator(child) else []
            term = self.term(child, scope, tail)
            terms.append(Neg(term) if negative else term)
            if tail:
                break
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def _has_operator(self, term: Node) -> bool:
        """Whether a term's product holds a derivative operator such as \\frac{d}{dx}."""
        product = term.children[-1]
        return any(child.data == "factor" and child.children[0].data == "frac"
                   and self.derivative_operator(child.children[0], child.children[1:])
                   is not None for child in product.children)

    def term(self, tree: Node, scope: _Scope, tail=()) -> Expr:
        sign, product = (tree.children if len(tree.children) == 2 else (None, tree.children[0]))
        value = self.product(product, scope, tail)
        if sign is not None and sign.children[0].type == "MINUS":
            if isinstance(value, Num):
                return Num(-value.value)
            return Neg(value)
        return value

    def product(self, tree: Node, scope: _Scope, tail=()) -> Expr:
        items: list[tuple[str | None, Node]] = []
        op = None
        for child in tree.children:
            if child.data == "mulop":
                token = child.children[0]
                op = "/" if token.type == "DIV" else "*"
                if self.vocab.dims is not None and str(token) in ELEMENTWISE:
                    op = "\\odot"
            else:
                items.append((op, _unwrapped(child)))
                op = None
        return self.items(items, scope, tree, tail)

    def items(self, items: list[tuple[str | None, Node]], scope: _Scope, where,
              tail=()) -> Expr:
        """Multiply factors left to right; an operator (sum, d/dx) takes all that follows.

        ``tail`` holds the signed terms after this one when a derivative operator here is
        read wide (see ``read``): they join the operator's body. An evaluation bar
        (``g'(x)\\Big|_{x=h_k}``) applies to the factors before it.
        """
        bar = next((n for n, (_, f) in enumerate(items) if _scripts(f, "evalbar")), None)
        if bar is not None:
            return self.evaluated(items, bar, scope, where, tail)
        out: list[tuple[str | None, Expr]] = []
        i = 0
        while i < len(items):
            value, used = self.next_factor(items, i, scope, tail)
            out.append((items[i][0], value))
            i += used
        if not out:
            raise self.error("expected an expression", where)
        if self.vocab.dims is not None:
            return _matrix_product(out, self.vocab.dims)
        value = out[0][1]
        for op, factor in out[1:]:
            value = Div(value, factor) if op == "/" else _times(value, factor)
        return value

    def next_factor(self, items, i: int, scope: _Scope, tail) -> tuple[Expr, int]:
        """The factor that starts at ``items[i]`` and how many items it takes.

        The readers are tried in order; a sum or a derivative operator takes all the items
        left (and, read wide, the ``tail`` terms too).
        """
        primary, scripts = items[i][1].children[0], items[i][1].children[1:]
        if primary.data == "sum_op":
            return self.sum(primary, scripts, items[i + 1:], scope), len(items) - i
        if primary.data == "indicator":
            return self.indicator(items, i, scope)
        for reader in (self.slash_derivative, self.applied_derivative):
            found = reader(items, i, scope)
            if found is not None:
                return found
        found = self.operator_application(items, i, scope, tail)
        if found is not None:
            return found
        name = self.name_of(primary)
        if primary.data == "func" or (name is not None and self.is_function(name, scope)) \
                or self.is_step_call(items, i):
            return self.call(items, i, scope)
        found = self.joined_subscript(items, i, scope)
        if found is not None:
            return found
        return self.factor(items[i][1], scope), 1

    def operator_application(self, items, i: int, scope: _Scope,
                             tail) -> tuple[Expr, int] | None:
        """``\\frac{\\partial}{\\partial h_k} X``: the derivative of a bracket or a call right
        after it, else of the rest of the product (read wide, of the rest of the line)."""
        primary, scripts = items[i][1].children[0], items[i][1].children[1:]
        if primary.data not in ("frac", "partial", "nabla"):
            return None
        operator = self.derivative_operator(primary, scripts)
        if operator is None:
            return None
        rest = items[i + 1:]
        if not rest:
            raise self.error("this derivative is applied to nothing", primary)
        operand = self.bracketed_operand(rest, scope)
        if operand is not None and not tail:
            body, used = operand  # \frac{d}{dz_j}[g(z_j)] \sum_k ...: the bracket only
            return self.derivative(body, self.wrt(operator[1], scope), operator[0],
                                   scope), 1 + used
        body = self.items([(None, rest[0][1])] + rest[1:], scope, primary)
        if tail:
            more = [self.term(t, scope) for _, t in tail]
            body = Add((body, *(Neg(m) if negative else m
                                for (negative, _), m in zip(tail, more))))
        return self.derivative(body, self.wrt(operator[1], scope), operator[0],
                               scope), len(items) - i

    def bracketed_operand(self, rest, scope: _Scope) -> tuple[Expr, int] | None:
        """What a derivative operator applies to when that is a bracket or a call: (it, used)."""
        primary, scripts = rest[0][1].children[0], rest[0][1].children[1:]
        if primary.data == "group" and all(s.data == "superscript" for s in scripts):
            return self.factor(rest[0][1], scope), 1
        name = self.name_of(primary)
        if len(rest) > 1 and rest[1][0] is None and rest[1][1].children[0].data == "group" \
                and (primary.data == "func" or (name is not None
                                                and self.is_function(name, scope))):
            return self.call(rest, 0, scope)
        return None

    def is_step_call(self, items, i: int) -> bool:
        """``H(z)``, ``H'(z)``: the Heaviside step applied, when H means nothing else here."""
        primary, scripts = items[i][1].children[0], items[i][1].children[1:]
        if primary.data != "letter" or not self.vocab.is_step(str(primary.children[0])):
            return False
        return all(s.data == "prime" for s in scripts) and i + 1 < len(items) \
            and items[i + 1][0] is None and items[i + 1][1].children[0].data == "group"

    def is_function(self, name: str, scope: _Scope) -> bool:
        name = self.vocab.aliases.get(name, name)
        return name in self.vocab.functions and name not in scope.dummies

    # ------------------------------------------------------------------ evaluation bars
    def evaluated(self, items, bar: int, scope: _Scope, where, tail) -> Expr:
        """``X\\Big|_{x=h_k}`` and ``\\left. X \\right|_{h_k}``: X with x set to h_k."""
        op, factor = items[bar]
        script = _scripts(factor, "evalbar")[0]
        kept = [s for s in factor.children[1:] if s is not script]
        before = items[:bar] + [(op, Tree("factor", [factor.children[0], *kept]))]
        variable, value_tree = self.bar_variable(script, before)
        inner = scope.inner(dummies=scope.dummies | {variable})
        body = self.items(before, inner, where)
        value = self.expr(value_tree, scope)
        if isinstance(value, Ref) and value.name == variable:
            # \frac{\partial E}{\partial h}\big|_{h=h_k}: the derivative by h_k itself
            result = _rebound(body, variable, value)
        else:
            body = _explicit_derivatives(body, variable, self, script)
            result = substitute(body, {variable: value})
        if any(isinstance(node, Var) and node.name == variable for node in result.walk()):
            raise self.error(f"{variable} is left in the expression after the bar", script)
        rest = items[bar + 1:]
        if rest:
            after = self.items([(None, rest[0][1])] + rest[1:], scope, where, tail)
            return Div(result, after) if rest[0][0] == "/" else _times(result, after)
        return result

    def bar_variable(self, script: Node, before) -> tuple[str, Tree]:
        """The variable and the value tree of a bar's subscript: ``x=h_k``, or just ``h_k``."""
        arg = script.children[2]
        _no_condition(arg, self)
        if isinstance(arg, Tree) and arg.data == "braced":
            items = arg.children[1].children
            if len(items) != 1:
                raise self.error("evaluate at one point, as in \\Big|_{x=h_k}", arg)
            item = items[0]
            if len(item.children) == 2:
                tokens = _flat_tokens(item.children[0])
                if len(tokens) != 1 or tokens[0].type not in ("LETTER", "GREEK"):
                    raise self.error("the bar's variable must be one letter, as in "
                                     "\\Big|_{x=h_k}", item)
                return str(tokens[0]), item.children[1]
            value = item.children[0]
        else:
            token = arg if isinstance(arg, Token) else arg.children[0]
            value = Tree("expr", [Tree("term", [Tree("product", [Tree("factor", [Tree(
                "letter" if token.type == "LETTER" else "number", [token])])])])])
        unknown = self.unknown_letters(before)
        if len(unknown) != 1:
            raise self.error("write the variable the bar sets, as in \\Big|_{x=h_k}", script)
        return unknown[0], value

    def unknown_letters(self, items) -> list[str]:
        """Bare letters in these factors that name no value here (a bar's variable): ``x`` in
        dg/dx, and ``z`` in dg/dz though z_j is a quantity (it has no index there)."""
        found = []
        for _, factor in items:
            for node in factor.iter_subtrees():
                if node.data != "factor" or node.children[0].data not in ("letter", "greek") \
                        or any(s.data == "subscript" for s in node.children[1:]):
                    continue
                name = str(node.children[0].children[0])
                if name not in found and name not in self.vocab.functions \
                        and name not in self.vocab.variables and name not in self.vocab.ranges \
                        and name not in ("e", "d", "pi") \
                        and self.vocab.quantities.get(name, ("slot",)):
                    found.append(name)
        return found

    # ------------------------------------------------------------------ factors
    def name_of(self, primary: Node) -> str | None:
        if primary.data in ("letter", "greek", "func"):
            return str(primary.children[0])
        return None

    def factor(self, tree: Node, scope: _Scope) -> Expr:
        primary, scripts = tree.children[0], tree.children[1:]
        if self.vocab.dims is not None:
            transposed = self.transposed(tree, scope)
            if transposed is not None:
                return transposed
        sub = [s for s in scripts if s.data == "subscript"]
        sup = [s for s in scripts if s.data == "superscript"]
        primes = [s for s in scripts if s.data == "prime"]
        if len(sub) > 1 or len(sup) > 1:
            raise self.error("two subscripts or superscripts on one symbol", scripts[1])
        if primes:
            primed = self.primed_index(primary, sub, len(primes), scope)
            if primed is None:
                raise self.error("a prime only follows a function name, as in g'(h_k)",
                                 primes[0])
            return primed
        kind = primary.data
        if kind == "number" and sub and str(primary.children[0]) == "1" \
                and self.condition_script(sub[0]) is not None:  # 1_{z>0}: the indicator
            step = self.condition(self.condition_script(sub[0]), scope)
            return _power(step, self.superscript_value(sup[0], scope), self, sup[0]) if sup \
                else step
        if kind == "iverson":
            if sub:
                raise self.error("brackets cannot have a subscript", sub[0])
            base: Expr = self.iverson(primary, scope)
        elif kind == "number":
            if sub:
                raise self.error("a number cannot have a subscript", sub[0])
            base = Num(Fraction(str(primary.children[0])))
        elif kind == "group":
            base = self.expr(primary.children[1], scope)
            if sub and self.vocab.dims is not None and is_matrix_name(base, self.vocab.dims):
                assert isinstance(base, Ref)  # (W_2)_{cj}: an entry of a named matrix
                slots = self.vocab.quantities[base.name]
                letters = self.index_letters(sub[0].children[1], scope)
                base = Ref(base.name, self.indices(base.name, base.name, slots, letters,
                                                   sub[0], scope))
            elif sub and self.vocab.dims is not None and _holds_matrices(base, self.vocab.dims):
                letters = self.index_letters(sub[0].children[1], scope)  # (W_2^T p)_j
                base = Entry(base, tuple(letter for letter, _ in letters))
            elif sub:
                raise self.error("brackets cannot have a subscript", sub[0])
        elif kind == "frac":
            if sub:
                raise self.error("a fraction cannot have a subscript", sub[0])
            base = self.frac(primary, scope)
        elif kind == "sqrt":
            base = _power(self.arg(primary.children[1], scope), Num(Fraction(1, 2)), self,
                          primary)
        elif kind == "partial":
            raise self.error("\\partial outside a \\frac{\\partial ...}{\\partial ...}", primary)
        elif kind == "nabla":
            raise self.error("\\nabla needs what it differentiates by, as in "
                             "\\nabla_{w_{jk}} E", primary)
        elif kind == "dots":
            raise self.error("\\dots only stands between the terms of a sum written out, as in "
                             "\\delta_1 w_{j1} + \\dots + \\delta_K w_{jK}", primary)
        elif kind == "sum_op":
            raise self.error("\\sum with nothing after it to add up", primary)
        elif kind == "norm":
            return self.norm(primary, sub, sup, scope)
        elif kind == "extreme":
            if str(primary.children[0]) == "max":
                raise self.error("\\max is read only as the ReLU, \\max(0, z), and in the "
                                 "bounds of a sum, as in \\sum_{n=\\max(1,i-P+1)}^{\\min(M,i)}; "
                                 "the larger of two other expressions is not part of these "
                                 "problems", primary)
            raise self.error("\\min (the smaller of two expressions) is not part of these "
                             "problems, except in the bounds of a sum, as in "
                             "\\sum_{n=\\max(1,i-P+1)}^{\\min(M,i)}", primary)
        else:
            base = self.symbol(primary, sub[0] if sub else None, scope)
        if sup and self.vocab.dims is not None and isinstance(base, Ref) \
                and base.name in self.vocab.dims.per_sample:
            mark = self.sample_mark(sup[0], scope)  # x^{(n)}, h^{(n)\top}
            if mark is not None and self.vocab.dims.steps:
                stepped = self.step(str(primary.children[0]), base.name,
                                    _step_script(mark[0]), scope)
                return Transpose(stepped) if mark[1] else stepped
            if mark is None and self.vocab.dims.steps:
                raise self.error(f"{name_latex(base.name)} has one value per time step: write "
                                 f"{name_latex(base.name)}_{self.vocab.dims.samples} or "
                                 f"{name_latex(base.name)}^{{({self.vocab.dims.samples})}}",
                                 sup[0])
            if mark is None:
                raise self.error(f"{name_latex(base.name)} has one value per example: write "
                                 f"{name_latex(base.name)}^{{({self.vocab.dims.samples})}}",
                                 sup[0])
            sample = Sample(base, mark[0])
            return Transpose(sample) if mark[1] else sample
        if sup:
            if isinstance(base, (Ref, Var)) and _derivative_order(sup[0].children[1]) \
                    is not None:
                shown = name_latex(str(primary.children[0]))
                raise self.error(f"{shown}^{{(n)}} reads as a layer number, which this problem "
                                 f"does not use: write {shown} with its index only", sup[0])
            exponent = self.superscript_value(sup[0], scope)
            return _power(base, exponent, self, sup[0])
        return base

    def norm(self, primary: Node, sub: list, sup: list, scope: _Scope) -> Expr:
        """``\\|v\\|^2`` (also ``\\|v\\|_2^2``) is ``v^\\top v``; ``\\|v\\|`` its square root."""
        dims = self.vocab.dims
        if dims is None:
            raise self.error("a norm \\|v\\| is read in vector-matrix problems only", primary)
        if sub and not (len(_flat_tokens(sub[0].children[1])) == 1
                        and str(_flat_tokens(sub[0].children[1])[0]) == "2"):
            raise self.error("only the Euclidean norm is read: \\|v\\| or \\|v\\|_2", sub[0])
        vector = self.expr(primary.children[1], scope)
        try:
            shape = shape_of(vector, dims)
        except ShapeMismatch as err:
            raise self.error(str(err), primary) from None
        if shape.scalar or (shape.rows and shape.cols):
            raise self.error(f"the norm of {shape.describe()} is not read here: write the "
                             "norm of a vector, as in \\|\\hat{y}_t - y_t\\|^2", primary)
        column = vector if shape.cols is None else Transpose(vector)
        square: Expr = MatMul((Transpose(column), column))
        if sup:
            exponent = self.superscript_value(sup[0], scope)
            if exponent == Num(Fraction(2)):
                return square
            return _power(_power(square, Num(Fraction(1, 2)), self, primary), exponent, self,
                          sup[0])
        return _power(square, Num(Fraction(1, 2)), self, primary)

    def step(self, written: str, name: str, sub: Node, scope: _Scope) -> Expr:
        """``h_t``, ``h_{t-1}``, ``\\delta_{t+1}``, ``y_T``: one time step of a per-step vector."""
        dims = self.vocab.dims
        assert dims is not None and dims.samples is not None
        letters = self.index_letters(sub.children[1], scope)
        shown = name_latex(written)
        if len(letters) != 1:
            raise self.error(f"{shown} takes one index, its time step, as in {shown}_"
                             f"{dims.samples} or {shown}_{{{dims.samples}-1}}", sub)
        index, token = letters[0]
        size = self.vocab.ranges[dims.samples]
        for letter in letters_of(index):
            if letter in scope.bound and scope.bound[letter] is None:
                scope.bound[letter] = dims.samples
            have = scope.bound.get(letter, letter if letter in self.vocab.ranges else None)
            if have is None or self.vocab.ranges.get(have) != size:
                raise IndexMismatch(f"{shown}_{{{index}}}: the index of {shown} is its time "
                                    f"step, {self.vocab.range_names.get(dims.samples, '')}, "
                                    f"but you wrote {letter} there")
        if not letters_of(index):
            if index.isdigit():
                if int(index) < 1:
                    raise self.error("time steps are counted from 1", token)
            elif index != size and not is_compound(index):
                raise IndexMismatch(f"{shown}_{{{index}}}: the index of {shown} is its time "
                                    f"step, 1..{size}, but you wrote {index} there")
        return Sample(Ref(name), index, True)

    def sample_mark(self, script: Node, scope: _Scope) -> tuple[str, bool] | None:
        """``^{(n)}`` (one example) and ``^{(n)\\top}`` (its transpose): (letter, transposed)."""
        assert self.vocab.dims is not None
        tokens = [t for t in _flat_tokens(script.children[1])
                  if t.type not in ("LBRACE", "RBRACE")]
        kinds = [t.type for t in tokens]
        if self.vocab.dims.steps and kinds[:1] == ["LPAR"] and "RPAR" in kinds:
            # h^{(t)}, h^{(t-1)\top}: the time step written as a superscript in brackets
            close = kinds.index("RPAR")
            rest = tokens[close + 1:]
            if len(rest) > 1 or (rest and (rest[0].type, str(rest[0])) != ("LETTER", "T")) \
                    or close < 2:
                return None
            inner = tokens[1:close]
            index = self.index_arithmetic(inner, scope) if len(inner) > 1 else str(inner[0])
            return index, bool(rest)
        if kinds[:3] != ["LPAR", "LETTER", "RPAR"] or len(tokens) > 4 or (
                len(tokens) == 4 and (kinds[3], str(tokens[3])) != ("LETTER", "T")):
            return None
        letter = str(tokens[1])
        samples = self.vocab.dims.samples
        if letter != samples and letter not in scope.bound \
                and self.vocab.ranges.get(letter) != self.vocab.ranges.get(samples or ""):
            return None
        if letter in scope.bound and scope.bound[letter] is None:
            scope.bound[letter] = samples
        return letter, len(tokens) == 4

    def transposed(self, tree: Node, scope: _Scope) -> Expr | None:
        """``x^T``, ``W^\\top``, ``(p - y)^{\\mathsf{T}}``, ``h'``: a transpose (vector-matrix
        problems only; a prime on a function's name stays a derivative)."""
        primary, scripts = tree.children[0], tree.children[1:]
        marks = [s for s in scripts if s.data == "prime" or _is_transpose_mark(s)]
        if not marks:
            return None
        rest = [s for s in scripts if s not in marks]
        base = self.factor(Tree("factor", [primary, *rest]), scope)
        assert self.vocab.dims is not None
        if base == Num(Fraction(1)) and all(s.data != "prime" for s in marks):
            base = Ones()  # \mathbf{1}^\top: the row of ones
        if not (is_matrix_name(base, self.vocab.dims) or _holds_matrices(base, self.vocab.dims)):
            if any(s.data == "prime" for s in marks):
                return None  # a prime on a scalar: the reader's usual messages
            raise self.error(f"{to_latex(base)} is a scalar: only vectors and matrices have a "
                             "transpose", marks[0])
        for _ in marks:
            base = base.arg if isinstance(base, Transpose) else Transpose(base)
        return base

    def primed_index(self, primary: Node, sub: list[Tree], primes: int,
                     scope: _Scope) -> Expr | None:
        """``\\delta_k'`` inside a sum over k': the prime belongs to the index."""
        name = self.name_of(primary)
        if not sub or name is None or self.vocab.aliases.get(name, name) \
                not in self.vocab.quantities:
            return None
        letters = self.index_letters(sub[0].children[1], scope)
        last, token = letters[-1]
        if last + "'" * primes not in scope.bound:
            return None
        letters[-1] = (last + "'" * primes, token)
        return self.symbol(primary, sub[0], scope, letters)

    def superscript_value(self, script: Node, scope: _Scope) -> Expr:
        arg = script.children[1]
        if isinstance(arg, Tree) and arg.data == "primes":
            raise self.error("a prime only follows a function name, as in g'(h_k)", arg)
        if isinstance(arg, Token) and arg.type == "PRIME":
            raise self.error("a prime only follows a function name, as in g'(h_k)", arg)
        return self.arg(arg, scope)

    def arg(self, arg, scope: _Scope) -> Expr:
        """The value of a script or \\frac argument: one token or a braced expression."""
        _no_condition(arg, self)
        if isinstance(arg, Tree) and arg.data == "braced":
            items = arg.children[1].children
            if len(items) != 1 or len(items[0].children) != 1:
                raise self.error("expected one expression in these braces", arg)
            return self.expr(items[0].children[0], scope)
        token: Any = arg.children[0] if isinstance(arg, Tree) else arg
        if token.type == "NUMBER":
            return Num(Fraction(str(token)))
        if token.type == "PRIME":
            raise self.error("a prime only follows a function name, as in g'(h_k)", token)
        fake = Tree("letter" if token.type == "LETTER" else "greek", [token])
        return self.symbol(fake, None, scope)

    def symbol(self, primary: Node, sub: Node | None, scope: _Scope,
               letters: list[tuple[str, Token]] | None = None) -> Expr:
        token = primary.children[0]
        written = str(token)
        vocab = self.vocab
        if written in scope.dummies and sub is None and letters is None:
            return Var(written)
        if vocab.definitions and letters is None:
            label = _label(sub.children[1]) if sub is not None else None
            if label is not None and f"{written}_{label}" in vocab.definitions:
                return vocab.definitions[f"{written}_{label}"][1]  # \delta_o, defined
            if written in vocab.definitions:
                return self.defined(written, sub, primary, scope)
        if vocab.dims is not None and letters is None:
            stepped = vocab.aliases.get(written, written)
            if vocab.dims.steps and sub is not None and stepped in vocab.dims.per_sample:
                return self.step(written, stepped, sub, scope)
            whole = self.matrix_name(written, sub)
            if whole is not None:
                return whole
        name = vocab.aliases.get(written, written)
        if written in vocab.variables and sub is None and letters is None:
            return Var(written)  # a part's own variable shadows the network's s_j
        if name in vocab.quantities:
            slots = vocab.quantities[name]
            if not slots:
                if sub is not None:
                    raise self.error(f"{name_latex(written)} has no index", sub)
                return Ref(name)
            if sub is None and letters is None:
                if name == "e":
                    return Const("e")
                shown = name_latex(written) + "_{" + "".join(slots) + "}"
                raise self.error(f"{name_latex(written)} needs its index, as in {shown}",
                                 primary)
            if letters is None:
                assert sub is not None  # (checked above: one of them is given)
                letters = self.index_letters(sub.children[1], scope)
            if len(letters) == 2 and vocab.kronecker_delta(written):
                return self.kronecker(letters, sub or primary, scope)
            return Ref(name, self.indices(written, name, slots, letters, sub or primary, scope))
        if sub is not None and vocab.kronecker_delta(written) and letters is None:
            letters = self.index_letters(sub.children[1], scope)
            if len(letters) == 2:
                return self.kronecker(letters, sub, scope)
        if sub is not None:
            if name in vocab.variables or name in ("e", "pi") or name in vocab.ranges \
                    or name in scope.bound:
                raise self.error(f"'{name_latex(name)}' does not take a subscript here", sub)
            raise self.error(self.unknown(name, token), primary)  # y_k: y is what is wrong
        if name in vocab.variables:
            return Var(name)
        if name in vocab.functions:
            raise self.error(f"{name_latex(written)} is a function: apply it to its argument, "
                             f"as in {name_latex(written)}(x)", primary)
        if name == "e":
            return Const("e")
        if name == "pi":
            return Const("pi")
        if name in vocab.ranges or name in scope.bound:
            raise self.error(f"the index {name} cannot stand alone as a value", primary)
        raise self.error(self.unknown(name, token), primary)

    def defined(self, written: str, sub: Node | None, primary: Node, scope: _Scope) -> Expr:
        """A name the answer defines for itself, with its index letters as written here."""
        slots, value = self.vocab.definitions[written]
        if sub is None and not slots:
            return value
        if sub is None:
            raise self.error(f"{name_latex(written)} needs its index, as in "
                             f"{name_latex(written)}_{{{''.join(slots)}}}", primary)
        letters = [letter for letter, _ in self.index_letters(sub.children[1], scope)]
        if len(letters) != len(slots):
            raise self.error(f"{name_latex(written)} was defined with "
                             f"{len(slots)} index letters", sub)
        return rename_indices(value, dict(zip(slots, letters)))

    def matrix_name(self, written: str, sub: Node | None) -> Ref | Identity | None:
        """A whole vector or matrix by its name, its subscript part of the name: ``W_2``,
        ``\\delta_1``, ``x``; None when that is no such name (``h_j`` is an entry of h)."""
        assert self.vocab.dims is not None
        shapes = self.vocab.dims.shapes
        name = self.vocab.aliases.get(written, written)
        if name == "I" and name not in self.vocab.quantities:  # the identity, I or I_C
            return self.identity(sub)
        if sub is None:
            return Ref(name) if name in shapes else None
        label = _label(sub.children[1])
        if label is not None and f"{name}_{label}" in shapes:
            return Ref(f"{name}_{label}")
        return None

    def identity(self, sub: Node | None) -> Identity:
        assert self.vocab.dims is not None
        if sub is None:
            return Identity()
        size = _label(sub.children[1])
        if size not in self.vocab.dims.letters:
            sizes = ", ".join(sorted(self.vocab.dims.letters))
            raise self.error(f"the identity's subscript is its size, one of {sizes}", sub)
        return Identity(size)

    def unknown(self, name: str, token: Token) -> str:
        shown = name_latex(name)
        hint = ""
        start = token.start_pos or 0  # the run of letters it is in: "sigma" in "sigma(x)"
        while start > 0 and self.text[start - 1].isascii() and self.text[start - 1].isalpha():
            start -= 1
        run = self.text[start:(token.start_pos or 0) + 8]
        if start == 0 or self.text[start - 1] != "\\":
            for word in ("sigma", "delta", "psi", "exp", "frac", "sum", "partial", "cdot", "ln",
                         "tanh", "cosh", "sinh", "log"):
                if run.startswith(word):
                    hint = f" (did you mean \\{word}?)"
                    break
        if not hint:
            known = [*self.vocab.quantities, *self.vocab.functions, *self.vocab.variables]
            same = [k for k in known if k.lower() == name.lower()]
            close = same or difflib.get_close_matches(name, [k for k in known if len(k) > 1],
                                                       n=1, cutoff=0.75)
            if close:
                hint = f" (did you mean {name_latex(close[0])}?)"
        return (f"unknown symbol '{shown}'{hint}: this problem knows "
                f"{self.vocab.known_names()}")

    def indices(self, written: str, name: str, slots: tuple[str, ...],
                letters: list[tuple[str, Token]], where, scope: _Scope):
        shown = name_latex(written)
        if "_" in written:  # an entry of a vector-matrix name: (W_2)_{cj}
            shown = f"({shown})"
        if len(letters) != len(slots):
            want = "".join(slots)
            raise self.error(
                f"{shown} takes {len(slots)} index{'es' if len(slots) > 1 else ''}"
                f" (as in {shown}_{{{want}}}), found {len(letters)}", where)
        sizes = self.vocab.ranges
        for place, ((letter, token), slot) in enumerate(zip(letters, slots)):
            which = "the index" if len(slots) == 1 else \
                f"the {('first', 'second', 'third', 'fourth')[min(place, 3)]} index"
            runs = self.vocab.range_names.get(slot, f"{slot} = 1..{sizes[slot]}")
            written_as = f"{shown}_{{{''.join(index for index, _ in letters)}}}"
            if is_compound(letter):  # h_{t-1}, x_{n+p-1}: its letters were checked as read
                for used in letters_of(letter):
                    if used in scope.bound and scope.bound[used] is None \
                            and affine(letter).letters == ((used, 1),):
                        scope.bound[used] = slot  # \sum_m w_{m-1}: m runs over w's range
                continue
            if is_concrete(letter):  # w_{j1}, \delta_K: one unit
                if letter.isdigit():
                    if int(letter) < 1:
                        raise self.error("units are counted from 1", token)
                    continue
                if letter in sizes.values():
                    if letter != sizes[slot]:
                        raise IndexMismatch(f"{written_as}: {which} of {shown} runs over "
                                            f"{runs}, but you wrote {letter} there")
                    continue
                raise self.error(f"'{letter}' is not an index of this problem; its indices are "
                                 + ", ".join(sorted(sizes)), token)
            if letter in scope.bound:
                have = scope.bound[letter]
                if have is None:
                    scope.bound[letter] = slot
                    continue
            elif letter in sizes:
                have = letter
            else:
                raise self.error(
                    f"'{letter}' is not an index of this problem; its indices are "
                    + ", ".join(sorted(sizes)), token)
            if sizes[have] != sizes[slot] and letter in scope.bound and have != letter \
                    and name in self.vocab.zero_outside:
                continue  # \sum_{n=1}^{N} e_n: the e_n past M are 0 (zero padding)
            if sizes[have] != sizes[slot]:
                if letter in scope.bound and have != letter:  # \sum_{k=1}^{J} \delta_k
                    raise IndexMismatch(
                        f"{written_as}: {which} of {shown} runs over {runs}, but the sum over "
                        f"{letter} runs up to {sizes[have]}")
                raise IndexMismatch(
                    f"{written_as}: {which} of {shown} runs over {runs}, but you wrote {letter} "
                    "there")
        return tuple(letter for letter, _ in letters)

    def index_letters(self, arg, scope: _Scope) -> list[tuple[str, Token]]:
        """Index letters of a subscript: ``k``, ``{jk}``, ``{j,k}``, ``{jk'}``, ``{j1}``."""
        _no_condition(arg, self)
        if isinstance(arg, Token) or (isinstance(arg, Tree) and arg.data != "braced"):
            token: Any = arg if isinstance(arg, Token) else arg.children[0]
            if token.type not in ("LETTER", "NUMBER") or (token.type == "NUMBER"
                                                          and not str(token).isdigit()):
                raise self.error("an index must be a letter such as j or k", token)
            return [(str(token), token)]
        letters: list[tuple[str, Token]] = []
        for item in arg.children[1].children:
            if len(item.children) != 1:
                raise self.error("an index must be a letter such as j or k", item)
            tokens = _flat_tokens(item)
            if len(tokens) > 2 and tokens[0].type == "LPAR" and tokens[-1].type == "RPAR":
                tokens = tokens[1:-1]  # x_{(n+p-1)}
            if any(t.type in ("PLUS", "MINUS") for t in tokens):  # h_{t-1}, x_{n+p-1}
                letters.append((self.index_arithmetic(tokens, scope), tokens[0]))
                continue
            for token in tokens:
                if token.type == "PRIME" and letters and not is_concrete(letters[-1][0]):
                    letters[-1] = (letters[-1][0] + "'", letters[-1][1])
                    continue
                if token.type == "NUMBER" and str(token).isdigit():
                    letters.extend((digit, token) for digit in str(token))
                    continue
                if token.type != "LETTER":
                    raise self.error("an index must be a letter such as j or k", token)
                letters.append((str(token), token))
        return letters

    def index_arithmetic(self, tokens: list[Token], scope: _Scope) -> str:
        """``t-1``, ``n+p-1``, ``i-P+1``, ``T-1``: an index with arithmetic, as its canonical
        string (grader.indices). Letters must be the problem's indices or a sum's, upper-case
        letters its sizes."""
        terms: list[str] = []
        sign = "+"
        expect_term = True
        for token in tokens:
            if token.type in ("PLUS", "MINUS"):
                if not expect_term or not terms:
                    sign = ("-" if (sign == "-") != (token.type == "MINUS") else "+")
                    expect_term = True
                    continue
                raise self.error("an index is letters and whole numbers added or subtracted, "
                                 "as in t-1 or n+p-1", token)
            if not expect_term:
                raise self.error("an index is letters and whole numbers added or subtracted, "
                                 "as in t-1 or n+p-1 (write a sign between two letters)", token)
            value = str(token)
            if token.type == "NUMBER" and value.isdigit():
                pass
            elif token.type == "LETTER" and value.isupper():
                if value not in self.vocab.ranges.values():
                    raise self.error(f"'{value}' is not a size of this problem; its sizes are "
                                     + ", ".join(sorted(set(self.vocab.ranges.values()))), token)
            elif token.type == "LETTER":
                if value not in self.vocab.ranges and value not in scope.bound:
                    raise self.error(f"'{value}' is not an index of this problem; its indices "
                                     "are " + ", ".join(sorted(self.vocab.ranges)), token)
            else:
                raise self.error("an index is letters and whole numbers added or subtracted, "
                                 "as in t-1 or n+p-1", token)
            terms.append(sign + value)
            sign, expect_term = "+", False
        if expect_term:
            raise self.error("an index cannot end with a sign", tokens[-1])
        return canonical_index(affine("".join(terms)))

    def bound(self, node: Node, scope: _Scope, letter: str) -> str:
        """A sum's bound: ``1``, ``T-1``, ``i``, ``\\max(1, i-P+1)`` (canonical strings)."""
        tree = node
        while isinstance(tree, Tree) and tree.data in ("braced", "items", "item", "expr",
                                                       "term", "product", "factor"):
            inside = [c for c in tree.children
                      if not (isinstance(c, Token) and c.type in ("LBRACE", "RBRACE"))]
            if len(inside) != 1:
                break
            tree = inside[0]
        if isinstance(tree, Tree) and tree.data == "extreme":
            kind = str(tree.children[0])
            parts = [self.bound(item, scope, letter) for item in tree.children[2].children]
            if len(parts) < 2:
                raise self.error(f"\\{kind} takes two or more bounds, as in \\max(1, i-P+1)",
                                 tree)
            return f"{kind}({','.join(parts)})"
        tokens = _flat_tokens(node)
        if any(t.type not in ("PLUS", "MINUS", "NUMBER", "LETTER") for t in tokens) or not tokens:
            raise self.error(f"the bounds of the sum over {letter} are whole numbers, sizes and "
                             "indices added or subtracted, as in \\sum_{t=2}^{T} or "
                             "\\sum_{n=\\max(1,i-P+1)}^{\\min(M,i)}", node)
        index = self.index_arithmetic(tokens, scope)
        if letter in letters_of(index):
            raise self.error(f"the bounds of the sum over {letter} cannot depend on {letter}",
                             node)
        return index

    def joined_subscript(self, items, i: int, scope: _Scope) -> tuple[Expr, int] | None:
        """``w_jk``: LaTeX reads w_j times k; a quantity with two slots means w_{jk}."""
        _, factor = items[i]
        primary, scripts = factor.children[0], factor.children[1:]
        written = self.name_of(primary)
        name = self.vocab.aliases.get(written, written) if written is not None else None
        if name is None or name not in self.vocab.quantities or len(scripts) != 1 \
                or scripts[0].data != "subscript":
            return None
        arg = scripts[0].children[1]
        if isinstance(arg, Tree) and arg.data == "arg":
            arg = arg.children[0]
        slots = self.vocab.quantities[name]
        if written is not None and self.vocab.kronecker_delta(written):
            slots = ("", "")  # \delta_kl: the Kronecker delta (\delta_k l is not joined)
        if not isinstance(arg, Token) or arg.type != "LETTER" or len(slots) < 2:
            return None
        letters = [(str(arg), arg)]
        end = arg.end_pos
        used = 1
        while len(letters) < len(slots) and i + used < len(items):
            op, following = items[i + used]
            token = following.children[0].children[0] if following.children[0].children \
                else None
            primes = following.children[1:]
            if op is not None or any(p.data != "prime" for p in primes) \
                    or not isinstance(token, Token) or token.type != "LETTER" \
                    or token.start_pos != end:
                break
            letter = str(token) + "'" * len(primes)  # w_jk': a primed dummy
            if letter not in self.vocab.ranges and letter not in scope.bound:
                break
            letters.append((letter, token))
            end = _end(following)
            used += 1
        if len(letters) != len(slots):
            return None
        return self.symbol(primary, scripts[0], scope, letters), used

    # ------------------------------------------------------------------ indicators
    def indicator(self, items, i: int, scope: _Scope) -> tuple[Expr, int]:
        """``\\mathbb{1}[z > 0]``, ``\\mathbb{1}(z > 0)``, ``\\mathbf{1}_{z>0}``, ``[k = l]``."""
        factor = items[i][1]
        primary, scripts = factor.children[0], factor.children[1:]
        sub = [s for s in scripts if s.data == "subscript"]
        sup = [s for s in scripts if s.data == "superscript"]
        if len(sub) > 1 or len(sup) > 1 or any(s.data not in ("subscript", "superscript")
                                               for s in scripts):
            raise self.error("\\mathbb{1} takes its condition once, as in \\mathbb{1}[z > 0]",
                             primary)
        if sub:
            condition = self.condition_script(sub[0])
            if condition is None:
                raise self.error("the subscript of \\mathbb{1} is a condition, as in "
                                 "\\mathbb{1}_{z > 0}", sub[0])
            value, used = self.condition(condition, scope), 1
        else:
            following = items[i + 1] if i + 1 < len(items) else None
            if following is None or following[0] is not None \
                    or following[1].children[0].data != "iverson":
                raise self.error("\\mathbb{1} needs its condition, as in \\mathbb{1}[z > 0] or "
                                 "\\mathbb{1}[k = l]", primary)
            after = following[1].children[1:]
            if any(s.data != "superscript" for s in after):
                raise self.error("unexpected script after an indicator's condition", after[0])
            value = self.condition(following[1].children[0].children[1], scope)
            for script in after:  # \mathbb{1}[z>0]^2, and \mathbb{1}[z>0]^\top for a vector z
                value = self.scripted(value, script, scope)
            used = 2
        if sup:
            value = self.scripted(value, sup[0], scope)
        return value, used

    def scripted(self, value: Expr, script: Node, scope: _Scope) -> Expr:
        """A superscript on a value already read: a transpose of a vector (in a vector-matrix
        problem), else a power."""
        if self.vocab.dims is not None and _is_transpose_mark(script):
            return value.arg if isinstance(value, Transpose) else Transpose(value)
        return _power(value, self.superscript_value(script, scope), self, script)

    def condition_script(self, script: Node) -> Node | None:
        """The condition of ``_{z>0}``, ``_{k=l}`` or ``_{[z>0]}``, else None."""
        arg = script.children[1]
        if isinstance(arg, Tree) and arg.data == "braced_comparison":
            return arg.children[1]
        if isinstance(arg, Tree) and arg.data == "braced":
            items = arg.children[1].children
            if len(items) != 1:
                return None
            if len(items[0].children) == 2:  # {k = l}
                return Tree("equality", items[0].children)
            factors = _product_factors(arg)
            if factors and len(factors) == 1 and len(factors[0][1].children) == 1 \
                    and factors[0][1].children[0].data == "iverson":  # {\{z > 0\}}
                return factors[0][1].children[0].children[1]
        return None

    def iverson(self, primary: Node, scope: _Scope) -> Expr:
        """``[z > 0]`` (Iverson's bracket) and ``[k = l]``; round or curly brackets around a
        condition only follow an indicator."""
        if primary.children[0].type != "LBRACK":
            raise self.error("a condition in round or curly brackets is read only after an "
                             "indicator, as in \\mathbb{1}(z > 0); alone, write [z > 0]", primary)
        return self.condition(primary.children[1], scope)

    def condition(self, tree: Node, scope: _Scope) -> Expr:
        """A condition's value: ``z > 0`` is the step H(z), ``k = l`` the Kronecker delta."""
        if tree.data == "equality":
            left, right = tree.children
            letters = [self.index_letter(side, scope) for side in (left, right)]
            if None in letters:
                raise self.error("an indicator of an equality is read only between two index "
                                 "letters, as in [k = l] (the Kronecker delta); compare values "
                                 "with > or <, as in [z > 0]", tree)
            return self.kronecker(letters, tree, scope)
        left, op, right = tree.children
        if op == "!=":
            letters = [self.index_letter(side, scope) for side in (left, right)]
            if None in letters:
                raise self.error("\\ne is read only between two index letters, as in "
                                 "[k \\ne l]; compare values with > or <", op)
            return Add((Num(Fraction(1)), Neg(self.kronecker(letters, tree, scope))))
        a, b = self.expr(left, scope), self.expr(right, scope)
        if op in ("<", "<="):
            a, b = b, a
        if op in (">=", "<="):  # [a >= b] = 1 - [b > a]: 1 where a = b (h = 0 after a ReLU)
            return Add((Num(Fraction(1)), Neg(Call("heaviside", 0, _difference(b, a)))))
        return Call("heaviside", 0, _difference(a, b))  # [a > b]: the step, 0 where a = b

    def index_letter(self, side: Node, scope: _Scope) -> tuple[str, Token] | None:
        """The index letter a side of a condition is (``k``, ``k'``), else None."""
        tokens = _flat_tokens(side)
        if not tokens or tokens[0].type != "LETTER" or any(t.type != "PRIME" for t in tokens[1:]):
            return None
        letter = str(tokens[0]) + "'" * (len(tokens) - 1)
        if letter in scope.bound or (letter in self.vocab.ranges
                                     and letter not in self.vocab.variables):
            return letter, tokens[0]
        return None

    def kronecker(self, letters, where, scope: _Scope) -> Expr:
        """``\\delta_{kl}``: both letters must be indices (or sum letters) over one range."""
        ranges = []
        for letter, token in letters:
            if is_concrete(letter):
                raise self.error("a Kronecker delta compares two index letters, as in "
                                 "\\delta_{kl}", token)
            if letter in scope.bound:
                ranges.append(scope.bound[letter])
            elif letter in self.vocab.ranges:
                ranges.append(letter)
            else:
                raise self.error(f"'{letter}' is not an index of this problem; its indices are "
                                 + ", ".join(sorted(self.vocab.ranges)), token)
        known = [r for r in ranges if r is not None]
        if not known:
            raise self.error("a Kronecker delta of two summed letters needs a quantity that "
                             "tells their range, as in \\sum_l \\delta_{kl} c_l", where)
        for (letter, _), have in zip(letters, ranges):
            if have is None:
                scope.bound[letter] = known[0]
        (first, _), (second, _) = letters
        sizes = self.vocab.ranges
        if sizes[known[0]] != sizes[known[-1]]:
            names = self.vocab.range_names
            raise self.error(
                f"\\delta_{{{first}{second}}}: a Kronecker delta compares two indices over one "
                f"range, but {first} runs over {names.get(known[0], known[0])} and {second} over "
                f"{names.get(known[-1], known[-1])}", where)
        return Kronecker(first, second, known[0])

    # ------------------------------------------------------------------ calls
    def call(self, items, i: int, scope: _Scope) -> tuple[Expr, int]:
        """A function applied to the group after it: ``g'(h_k)``, ``\\sigma^2(x)``, ``\\exp x``."""
        _, factor = items[i]
        primary, scripts = factor.children[0], factor.children[1:]
        written = str(primary.children[0])
        name = "heaviside" if self.vocab.is_step(written) else self.vocab.aliases.get(written,
                                                                                      written)
        order, power = 0, None
        for script in scripts:
            if script.data == "prime":
                order += 1
            elif script.data == "superscript":
                arg = script.children[1]
                derivative = _derivative_order(arg)
                if isinstance(arg, Tree) and arg.data == "primes":
                    order += len(arg.children) - 2
                elif isinstance(arg, Token) and arg.type == "PRIME":
                    order += 1
                elif isinstance(arg, Tree) and arg.children and getattr(
                        arg.children[0], "type", "") == "PRIME":
                    order += 1
                elif derivative is not None:  # g^{(1)}: the first derivative
                    order += derivative
                else:
                    power = self.superscript_value(script, scope)
            else:
                raise self.error(f"{name_latex(written)} does not take a subscript", script)
        if order > MAX_ORDER:
            raise self.error(f"derivatives beyond order {MAX_ORDER} are not supported", primary)
        if i + 1 >= len(items):
            raise self.error(f"{name_latex(written)} needs an argument, as in "
                             f"{name_latex(written)}(x)", primary)
        op, following = items[i + 1]
        target = following.children[0]
        if op is not None or (target.data != "group" and primary.data != "func"):
            raise self.error(f"{name_latex(written)} must be applied with brackets, as in "
                             f"{name_latex(written)}(x)", primary)
        if target.data != "group":  # \ln c_k, \exp x: the next factor, scripts and all
            following_name = self.name_of(target)
            if target.data == "func" or (following_name is not None
                                         and self.is_function(following_name, scope)):
                inner, used = self.call(items, i + 1, scope)  # \log\sigma(x)
                nested = Call(name, order, inner)
                return (_power(nested, power, self, factor) if power is not None
                        else nested), used + 1
            applied = self.apply(name, order, self.factor(following, scope), primary)
            return (_power(applied, power, self, factor) if power is not None else applied), 2
        argument = self.factor(Tree("factor", [target]), scope)
        value: Expr = self.apply(name, order, argument, primary)
        if power is not None:
            value = _power(value, power, self, factor)
        for script in following.children[1:]:  # \sigma(x)^2 squares the call, not its argument
            if self.vocab.dims is not None and (_is_transpose_mark(script)
                                                or script.data == "prime"):
                value = value.arg if isinstance(value, Transpose) else Transpose(value)
                continue
            if script.data != "superscript":
                raise self.error("unexpected script after a function's brackets", script)
            value = _power(value, self.superscript_value(script, scope), self, script)
        return value, 2

    def apply(self, name: str, order: int, argument: Expr, where) -> Expr:
        """``name`` applied to ``argument``: a call, or diag(v) in a vector-matrix problem."""
        if name in VECTOR_FUNCTIONS:
            if self.vocab.dims is None:
                raise self.error(f"{name} takes a vector: it is read only in vector-matrix "
                                 "problems", where)
            if order:
                raise self.error(f"the derivative of {name} is not read here; write it out",
                                 where)
            if name == "diag":
                return Diag(argument)
        return Call(name, order, argument)

    # ------------------------------------------------------------------ \frac, \sum, d/dx
    def frac(self, primary: Node, scope: _Scope) -> Expr:
        _, num, den = primary.children
        derivative = self.derivative_parts(num, den)
        if derivative is not None:
            partial, of_items, wrt_tree = derivative
            wrt = self.wrt(wrt_tree, scope)
            function = self.bare_function(of_items, scope)
            if function is not None:  # \frac{\partial g}{\partial h_k}: g' at h_k
                name, order = function
                return Call(name, order + 1, wrt)
            of = self.items(of_items, scope, num)
            return self.derivative(of, wrt, partial, scope)
        numerator, denominator = self.arg(num, scope), self.arg(den, scope)
        if isinstance(numerator, Num) and isinstance(denominator, Num):
            if denominator.value == 0:
                raise self.error("division by zero", primary)
            return Num(numerator.value / denominator.value)
        return Div(numerator, denominator)

    def applied_derivative(self, items, i: int, scope: _Scope) -> tuple[Expr, int] | None:
        """``\\frac{dg}{dh}(h_k)``: the derivative of g, applied to what follows."""
        if i + 1 >= len(items) or items[i + 1][0] is not None:
            return None
        primary, scripts = items[i][1].children[0], items[i][1].children[1:]
        if primary.data != "frac":
            return None
        following = items[i + 1][1]
        if scripts or following.children[0].data != "group" or len(following.children) > 1:
            return None
        parts = self.derivative_parts(primary.children[1], primary.children[2])
        if parts is None:
            return None
        function = self.bare_function(parts[1], scope)
        wrt = parts[2]
        if function is None or isinstance(wrt, list) or len(wrt.children) != 1 \
                or wrt.children[0].data != "letter":
            return None
        argument = self.factor(Tree("factor", [following.children[0]]), scope)
        return Call(function[0], function[1] + 1, argument), 2

    def bare_function(self, of_items, scope: _Scope) -> tuple[str, int] | None:
        """``g`` (or ``g'``) written without its argument in a derivative's numerator."""
        if len(of_items) != 1:
            return None
        primary, scripts = of_items[0][1].children[0], of_items[0][1].children[1:]
        name = self.name_of(primary)
        if name is None or not (primary.data == "func" or self.is_function(name, scope)):
            return None
        if any(s.data != "prime" for s in scripts):
            return None
        return self.vocab.aliases.get(name, name), len(scripts)

    def derivative(self, of: Expr, wrt: Ref | Var, partial: bool, scope: _Scope) -> Expr:
        """A derivative as written (one by a bar's variable is worked out at the bar)."""
        return Deriv(of, wrt, partial)

    def derivative_operator(self, primary: Node, scripts) -> tuple[bool, Tree] | None:
        """``\\frac{\\partial}{\\partial h_k}``, ``\\frac{d}{dx}`` or ``\\partial_x``."""
        if primary.data in ("partial", "nabla"):  # \partial_x f, \nabla_{w_{jk}} E
            if len(scripts) != 1 or scripts[0].data != "subscript":
                return None
            arg = scripts[0].children[1]
            if isinstance(arg, Token):
                kind = {"LETTER": "letter", "GREEK": "greek"}.get(arg.type)
                return (True, Tree("factor", [Tree(kind, [arg])])) if kind else None
            found = _product_factors(arg)
            return (True, found[0][1]) if found is not None and len(found) == 1 else None
        if scripts:
            return None
        _, num, den = primary.children
        found = self.derivative_parts(num, den)
        if found is None or found[1]:
            return None
        return found[0], found[2]

    def derivative_parts(self, num, den):
        """Split a derivative fraction into (partial?, numerator factors, wrt) or None.

        ``wrt`` is a factor, or the factors of an unbraced index (``\\partial w_jk``).
        """
        num_factors = _product_factors(num)
        den_factors = _product_factors(den)
        if not num_factors or not den_factors or len(den_factors) < 2:
            return None
        marker = self._differential(num_factors[0][1])
        if marker is None or self._differential(den_factors[0][1]) != marker:
            return None
        if len(den_factors) == 2:
            return marker == "partial", num_factors[1:], den_factors[1][1]
        if any(op is not None or len(f.children) != 1 or f.children[0].data != "letter"
               for op, f in den_factors[2:]):
            return None
        return marker == "partial", num_factors[1:], den_factors[1:]

    def _differential(self, factor: Node) -> str | None:
        primary = factor.children[0]
        if len(factor.children) > 1:
            return None
        if primary.data == "partial":
            return "partial"
        if primary.data == "letter" and str(primary.children[0]) == "d" \
                and "d" not in self.vocab.quantities:
            return "d"
        return None

    def slash_derivative(self, items, i: int, scope: _Scope) -> tuple[Expr, int] | None:
        """``\\partial E/\\partial w_{jk}`` (and ``dE/dw_{jk}``): a derivative written inline."""
        if self._differential(items[i][1]) is None:
            return None
        marker = self._differential(items[i][1])
        for j in range(i + 1, len(items) - 1):
            op, factor = items[j]
            if op == "/" and self._differential(factor) == marker:
                if j == i + 1 or items[j + 1][0] is not None:
                    return None
                of_items = items[i + 1:j]
                joined = self.joined_subscript(items, j + 1, scope)  # dE/dw_jk
                wrt: Ref | Var
                if joined is not None and isinstance(joined[0], Ref):
                    wrt, used = joined[0], 1 + joined[1]
                else:
                    wrt, used = self.wrt(items[j + 1][1], scope), 2
                function = self.bare_function(of_items, scope)
                if function is not None:
                    return Call(function[0], function[1] + 1, wrt), j + used - i
                of = self.items([(None, of_items[0][1])] + of_items[1:], scope, items[i][1])
                return self.derivative(of, wrt, marker == "partial", scope), j + used - i
            if op is not None:
                return None
        return None

    def wrt(self, factor, scope: _Scope) -> Ref | Var:
        if isinstance(factor, list):  # w_jk in \partial w_jk: joined into w_{jk}
            joined = self.joined_subscript(factor, 0, scope)
            if joined is None or joined[1] != len(factor):
                raise self.error("differentiate with respect to one quantity, such as w_{jk}",
                                 factor[0][1])
            value = joined[0]
            if not isinstance(value, (Ref, Var)):
                raise self.error("differentiate with respect to one quantity, such as w_{jk}",
                                 factor[0][1])
            return value
        value = self.factor(_unwrapped(factor), scope)  # \partial \mathbf{W}_2: {W}_2
        if isinstance(value, Sample):  # \partial s^{(n)}: one example's s
            return value  # type: ignore[return-value]  # lowered to a Ref (grader.matrices)
        if not isinstance(value, (Ref, Var)):
            raise self.error("differentiate with respect to one quantity, such as w_{jk}",
                             factor)
        return value

    def sum(self, primary: Node, scripts, rest, scope: _Scope) -> Expr:
        sub = [s for s in scripts if s.data == "subscript"]
        sup = [s for s in scripts if s.data == "superscript"]
        if not rest:
            raise self.error("\\sum with nothing after it to add up", primary)
        if not sub:
            if sup:
                raise self.error("\\sum needs its index, as in \\sum_{k=1}^{K}", primary)
            return self.sum_without_index(primary, rest, scope)
        arg = sub[0].children[1]
        if isinstance(arg, Tree) and arg.data == "braced_comparison":
            raise self.error("write the range of a sum as \\sum_{k=1}^{K}", arg)
        lower = None
        if isinstance(arg, Tree) and arg.data == "braced":
            items = arg.children[1].children
            if len(items) != 1:
                raise self.error("sum over one index at a time, as in \\sum_k", arg)
            item = items[0]
            letters = _flat_tokens(item.children[0])
            if len(item.children) == 2:
                lower = item.children[1]
        else:
            letters = [arg if isinstance(arg, Token) else arg.children[0]]
        primes = len(letters) - 1
        if not letters or letters[0].type != "LETTER" or any(t.type != "PRIME"
                                                             for t in letters[1:]):
            raise self.error("the index of a sum must be one letter, as in \\sum_k", sub[0])
        primes += sum(s.data == "prime" for s in scripts)  # \sum_k' is read as \sum_{k'}
        letter = str(letters[0]) + "'" * primes
        if letter not in self.vocab.ranges and letter in self.vocab.quantities:
            raise self.error(f"'{letter}' is a quantity, not an index", letters[0])
        sizes = self.vocab.ranges
        start, end = "1", ""  # bounds other than the whole range: \\sum_{t=2}^{T}
        if lower is not None:
            low = _flat_tokens(lower)
            if len(low) != 1 or str(low[0]) != "1":
                if len(low) == 1 and low[0].type == "NUMBER" and not str(low[0]).isdigit() \
                        or str(low[0]) == "0" and len(low) == 1:
                    raise self.error(f"the sum over {letter} must start at 1", lower)
                start = self.bound(lower, scope, letter)
        over = None  # the index whose range the sum runs over; None: from the letter's first use
        if sup:
            upper = sup[0].children[1]
            tokens = _flat_tokens(upper)
            named = [i for i, size in sizes.items() if len(tokens) == 1 and str(tokens[0]) == size]
            if named:
                over = named[0]
            elif _is_bound(upper) and not (len(tokens) == 1 and (
                    tokens[0].type != "LETTER" or str(tokens[0]) in (letter, *sizes.values())
                    or str(tokens[0]).isupper())):
                end = self.bound(upper, scope, letter)
            else:
                want = sizes.get(letter) or "the number of units (" + ", ".join(
                    sorted(set(sizes.values()))) + ")"
                raise self.error(f"the sum over {letter} must run up to {want}", upper)
        elif start != "1":
            raise self.error(f"\\sum_{{{letter}={start}}} needs its end too, as in "
                             f"\\sum_{{{letter}={start}}}^{{T}}", primary)
        if over is None and end and letter in sizes:
            over = letter
        inner = scope.inner()
        inner.bound[letter] = over
        body = self.items([(None, rest[0][1])] + rest[1:], inner, primary)
        over = inner.bound[letter]
        if over is None:
            if letter not in sizes:
                raise self.error(f"the sum over {letter} adds up nothing indexed by {letter}",
                                 primary)
            over = letter
        if start == "1" and end in ("", sizes[over]):
            return Sum(letter, body, over)
        return Sum(letter, body, over, start, end or sizes[over])

    def sum_without_index(self, primary: Node, rest, scope: _Scope) -> Expr:
        """``\\sum w_{jk}\\delta_k``: the one index that can be meant (not the answer's own)."""
        body = self.items([(None, rest[0][1])] + rest[1:], scope, primary)
        candidates = sorted(free_indices(body) - self.vocab.free - set(scope.bound))
        if len(candidates) != 1:
            which = f" (which of {', '.join(candidates)}?)" if candidates else ""
            raise self.error(f"\\sum needs its index, as in \\sum_k{which}", primary)
        return Sum(candidates[0], body, candidates[0])

    # ------------------------------------------------------------------ \dots
    def written_out_sum(self, signed, scope: _Scope, where) -> Expr:
        """``\\delta_1 w_{j1} + \\dots + \\delta_K w_{jK}``: the sum over k, when the terms
        before the dots are the first ones of the pattern the last term shows."""
        dots = [n for n, (_, term) in enumerate(signed) if _is_dots(term)]
        middle = None
        if len(dots) == 2 and dots[1] == dots[0] + 2:
            # \delta_1 w_{j1} + \dots + \delta_k w_{jk} + \dots + \delta_K w_{jK}: the middle
            # term is the general one; it must match the pattern, and is then left out
            middle = signed[dots[0] + 1]
            signed = signed[:dots[0] + 1] + signed[dots[1] + 1:]
            dots = [dots[0]]
        if len(dots) != 1:
            raise self.error("write one \\dots in a sum written out", where)
        d = dots[0]
        if d == 0 or d == len(signed) - 1:
            raise self.error("\\dots needs terms on both sides, as in "
                             "\\delta_1 w_{j1} + \\dots + \\delta_K w_{jK}", where)
        read = {n: self.term(term, scope) for n, (_, term) in enumerate(signed) if n != d}
        last_negative, last = signed[d + 1][0], read[d + 1]
        sizes = set(self.vocab.ranges.values())
        ends = {i for node in last.walk() if isinstance(node, Ref) for i in node.indices
                if i in sizes}
        if len(ends) != 1:
            lower = sorted({i for node in last.walk() if isinstance(node, Ref)
                            for i in node.indices if not is_concrete(i)})
            raise IndexMismatch(
                "a sum written out with \\dots must end at the last unit (such as "
                "\\delta_K w_{jK}); its last term has "
                + (f"{', '.join(lower)} there instead" if lower else "no last unit"))
        size = ends.pop()
        letter = next(i for i, s in self.vocab.ranges.items() if s == size)
        taken = free_indices(last) | set(scope.bound)
        dummy = letter
        while dummy in taken:
            dummy += "'"
        pattern = _concrete_to(last, size, dummy)
        matched = None  # the run just before the dots: the pattern at 1, 2, ... in order
        for first in range(d):
            if all(signed[first + u - 1][0] == last_negative
                   and canonical(_concrete_to(pattern, dummy, str(u)))
                   == canonical(read[first + u - 1]) for u in range(1, d - first + 1)):
                matched = first
                break
        if matched is None:
            raise self.error("the terms before \\dots must be the first terms of the sum, "
                             "as in \\delta_1 w_{j1} + \\delta_2 w_{j2} + \\dots + "
                             "\\delta_K w_{jK}", where)
        if middle is not None:
            general = self.term(middle[1], scope)
            if middle[0] != last_negative or canonical(general) != canonical(
                    _concrete_to(pattern, dummy, letter)):
                raise self.error("the general term between the \\dots must be the pattern "
                                 f"of the others with {letter}, as in \\delta_{letter} "
                                 f"w_{{j{letter}}}", where)
        total: Expr = Sum(dummy, pattern, letter)
        if last_negative:
            total = Neg(total)
        terms = [Neg(read[n]) if signed[n][0] else read[n] for n in range(matched)]
        terms.append(total)
        terms += [Neg(read[n]) if signed[n][0] else read[n] for n in sorted(read) if n > d + 1]
        return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _matrix_product(out: list[tuple[str | None, Expr]], dims: Dims) -> Expr:
    """The factors of a product in a vector-matrix problem, with their operators.

    Juxtaposition binds tighter than ``\\odot``: ``W^\\top \\delta \\odot f'(z)`` is
    ``(W^\\top \\delta) \\odot f'(z)``. When only strict left-to-right reading gives shapes
    that fit (``\\delta \\odot f'(z) x^\\top`` as ``(\\delta \\odot f'(z)) x^\\top``), that
    reading is taken, as a careful reader would.
    """
    def fold(items: list[tuple[str | None, Expr]]) -> Expr:
        value = items[0][1]
        for op, factor in items[1:]:
            value = Div(value, factor) if op == "/" else \
                _matrix_times(value, factor, op == "\\odot", dims)
        return value

    if not any(op == "\\odot" for op, _ in out[1:]):
        return fold(out)
    groups: list[list[tuple[str | None, Expr]]] = [[]]
    for op, factor in out:
        if op == "\\odot":
            groups.append([(None, factor)])
        else:
            groups[-1].append((op, factor))
    tight = Hadamard(tuple(fold(group) for group in groups))
    try:
        shape_of(tight, dims)
    except ShapeMismatch:
        loose = fold(out)
        try:
            shape_of(loose, dims)
            return loose
        except ShapeMismatch:
            pass
    return tight


def _matrix_times(left: Expr, right: Expr, elementwise: bool, dims: Dims) -> Expr:
    """Juxtaposition in a vector-matrix problem: a matrix product (in the order written) when
    either side holds a vector or matrix, ``\\odot`` an elementwise one; else a product."""
    if elementwise:
        factors = left.factors if isinstance(left, Hadamard) else (left,)
        return Hadamard(factors + (right,))
    if not (_holds_matrices(left, dims) or _holds_matrices(right, dims)):
        return _times(left, right)
    factors = left.factors if isinstance(left, MatMul) else (left,)
    return MatMul(factors + (right,))


def _step_script(index: str) -> Tree:
    """A subscript tree holding a time step already read (``t-1``), for ``_Reader.step``."""
    return Tree("subscript", [Token("SUB", "_"), Token("LETTER", index)])


def _is_bound(node: Node) -> bool:
    """Whether a script reads as a sum's bound: signs, numbers and letters, or \\max/\\min."""
    if isinstance(node, Tree) and any(sub.data == "extreme" for sub in node.iter_subtrees()):
        return True
    return all(t.type in ("PLUS", "MINUS", "NUMBER", "LETTER") for t in _flat_tokens(node))


def _holds_matrices(expr: Expr, dims: Dims) -> bool:
    return holds_matrices(expr, dims)


def _is_transpose_mark(script: Node) -> bool:
    """``^T``, ``^{T}``, ``^\\top``, ``^{\\mathsf{T}}`` (the scanner reads \\top as T)."""
    if script.data != "superscript":
        return False
    tokens = _flat_tokens(script.children[1])
    return [(t.type, str(t)) for t in tokens if t.type not in ("LBRACE", "RBRACE")] \
        == [("LETTER", "T")]


def _label(arg) -> str | None:
    """The text of a name's subscript (``2`` in W_2, ``o`` in b_o), else None."""
    tokens = [t for t in _flat_tokens(arg) if t.type not in ("LBRACE", "RBRACE")]
    if tokens and all(t.type in ("LETTER", "NUMBER") for t in tokens):
        return "".join(str(t) for t in tokens)
    return None


def _no_condition(arg, reader: _Reader) -> None:
    """A condition (``_{z>0}``) stands only as an indicator's subscript."""
    if isinstance(arg, Tree) and arg.data == "braced_comparison":
        raise reader.error("a condition such as z > 0 is read only as an indicator, as in "
                           "\\mathbb{1}_{z > 0} or [z > 0]", arg)


def _difference(a: Expr, b: Expr) -> Expr:
    """``a - b``, without a zero: [z > 0] is H(z), [0 > z] is H(-z)."""
    if isinstance(b, Num) and b.value == 0:
        return a
    if isinstance(a, Num) and a.value == 0:
        return Num(-b.value) if isinstance(b, Num) else Neg(b)
    return Add((a, Neg(b)))


def _times(left: Expr, right: Expr) -> Expr:
    factors = (left.factors if isinstance(left, Mul) else (left,))
    return Mul(factors + (right,))


def _power(base: Expr, exponent: Expr, reader: _Reader, where) -> Expr:
    if isinstance(exponent, Num) and abs(exponent.value) > 64:
        raise reader.error("this exponent is too large to be meant", where)
    if isinstance(base, Num) and isinstance(exponent, Num):
        b, x = float(base.value), float(exponent.value)
        try:
            size = abs(b) ** x if b else 0.0
        except OverflowError:
            size = float("inf")
        if size > MAX_MAGNITUDE:
            raise reader.error("this number is too large to be meant", where)
    if _constant_magnitude(exponent) > 64:
        raise reader.error("this exponent is too large to be meant", where)
    return Pow(base, exponent)


def _constant_magnitude(expr: Expr) -> float:
    """The size of a constant expression (0 when it is not constant)."""
    if isinstance(expr, Num):
        return abs(float(expr.value))
    if isinstance(expr, Pow) and isinstance(expr.base, Num):
        return abs(float(expr.base.value)) ** _constant_magnitude(expr.exp)
    return 0.0


def _product_factors(arg) -> list[tuple[str | None, Node]] | None:
    """The factors of a braced \\frac argument that is a plain product, else None."""
    if not (isinstance(arg, Tree) and arg.data == "braced"):
        if isinstance(arg, Tree):
            token: Any = arg.children[0]
            kind = {"LETTER": "letter", "GREEK": "greek", "NUMBER": "number"}.get(token.type)
            return [(None, Tree("factor", [Tree(kind, [token])]))] if kind else None
        return None
    items = arg.children[1].children
    if len(items) != 1 or len(items[0].children) != 1:
        return None
    expr = items[0].children[0]
    if len(expr.children) != 1:
        return None
    term = expr.children[0]
    if len(term.children) != 1:
        return None
    product = term.children[0]
    out: list[tuple[str | None, Node]] = []
    op = None
    for child in product.children:
        if child.data == "mulop":
            return None
        out.append((op, child))
    return out


def _flat_tokens(node) -> list[Token]:
    """The tokens under ``node``, without braces."""
    if isinstance(node, Token):
        return [] if node.type in ("LBRACE", "RBRACE") else [node]
    out: list[Token] = []
    for child in node.children:
        out.extend(_flat_tokens(child))
    return out


def _scripts(factor: Node, kind: str) -> list[Tree]:
    return [s for s in factor.children[1:] if isinstance(s, Tree) and s.data == kind]


def _is_dots(term: Node) -> bool:
    product = term.children[-1]
    return len(product.children) == 1 and product.children[0].children[0].data == "dots" \
        and len(term.children) == 1


def _unwrapped(factor: Node) -> Node:
    """``{g}'`` and ``{{\\delta }_{k}}``: braces around one symbol are only grouping."""
    primary = factor.children[0]
    if primary.data != "group" or primary.children[0].type != "LBRACE":
        return factor
    expr = primary.children[1]
    if len(expr.children) != 1 or len(expr.children[0].children) != 1:
        return factor
    product = expr.children[0].children[0]
    if len(product.children) != 1:
        return factor
    inner = _unwrapped(product.children[0])
    inner_kinds = {s.data for s in inner.children[1:]}
    outer_kinds = {s.data for s in factor.children[1:]}
    if inner.children[0].data not in ("letter", "greek", "func", "group", "number") \
            or (inner_kinds & outer_kinds) - {"prime"}:
        return factor  # {x^2}^3 stays a group: (x^2)^3
    return Tree("factor", [inner.children[0], *inner.children[1:], *factor.children[1:]])


def _derivative_order(arg) -> int | None:
    """``(1)`` in ``g^{(1)}``: a derivative's order in brackets, else None."""
    if not (isinstance(arg, Tree) and arg.data == "braced"):
        return None
    items = arg.children[1].children
    if len(items) != 1 or len(items[0].children) != 1:
        return None
    tokens = _flat_tokens(items[0].children[0])
    if len(tokens) == 3 and tokens[0].type == "LPAR" and tokens[2].type == "RPAR" \
            and tokens[1].type == "NUMBER" and str(tokens[1]).isdigit():
        return int(str(tokens[1]))
    return None


def _concrete_to(expr: Expr, old: str, new: str) -> Expr:
    """``expr`` with the index ``old`` written ``new`` in every quantity (sums left alone)."""
    if isinstance(expr, Ref):
        return Ref(expr.name, tuple(new if i == old else i for i in expr.indices))
    return map_children(expr, lambda child: _concrete_to(child, old, new))


def _explicit_derivatives(expr: Expr, variable: str, reader: _Reader, where) -> Expr:
    """Work out derivatives by a bar's variable, so the value can be put in for it."""
    if isinstance(expr, Deriv) and isinstance(expr.wrt, Var) and expr.wrt.name == variable:
        try:
            return differentiate(_explicit_derivatives(expr.of, variable, reader, where),
                                 variable)
        except EvaluationError as err:
            raise reader.error(str(err), where) from None
    return map_children(expr, lambda child: _explicit_derivatives(child, variable, reader,
                                                                  where))


def _rebound(expr: Expr, variable: str, value: Ref) -> Expr:
    """``expr`` with the bar's variable, wherever it stands (a derivative's too), set to value."""
    if isinstance(expr, Var) and expr.name == variable:
        return value
    if isinstance(expr, Deriv):
        wrt = value if isinstance(expr.wrt, Var) and expr.wrt.name == variable else expr.wrt
        return Deriv(_rebound(expr.of, variable, value), wrt, expr.partial)
    return map_children(expr, lambda child: _rebound(child, variable, value))


def _end(node) -> int:
    """Where the text of ``node`` ends."""
    if isinstance(node, Token):
        return node.end_pos or 0
    return max((_end(child) for child in node.children if child is not None), default=0)
