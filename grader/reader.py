"""Give a parsed answer its meaning with a problem's vocabulary.

``read(text, vocabulary)`` returns the chain of expressions the student wrote
(``a = b = c`` gives three). The vocabulary says which names are functions (``g``, ``\\sigma``),
which are indexed quantities and over which index ranges (``w`` is indexed by j and k), and which
are scalar variables (``x``). With it:

- ``\\sigma(x)`` is a call but ``c_k(1-c_k)`` is a product;
- ``g'(h_k)``, ``g^{\\prime}(h_k)``, ``g\\prime(h_k)``, ``g′(h_k)`` are all the derivative of g;
- ``\\sigma^2(x)`` and ``\\sigma(x)^2`` are the square of the call;
- ``\\sum_k`` and ``\\frac{\\partial}{\\partial h_k}`` apply to the rest of the product;
- ``\\frac{\\partial E}{\\partial w_{jk}}`` is a derivative through the network, never 0;
- an unknown symbol, an index used where the quantity has another, a sum whose bounds are not
  the index's range: an error that names it and points at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from lark import Token, Tree

from .errors import AnswerError, IndexMismatch
from .expr import Add, Call, Const, Deriv, Div, Expr, Mul, Neg, Num, Pow, Ref, Sum, Var, name_latex
from .syntax import parse, split_chain

MAX_MAGNITUDE = 1e6  # numbers and constant powers beyond this are refused, not computed
MAX_ORDER = 2        # g'' is the highest derivative written with primes


@dataclass(frozen=True)
class Vocabulary:
    """The names a problem (or one part of it) gives meaning to.

    ``quantities`` maps a name to the index letters of its slots, in order (``w`` -> ``jk``);
    ``ranges`` maps each index letter to the letter of its size (``k`` -> ``K``) and
    ``range_names`` says in words what an index runs over, for messages.
    """

    ranges: Mapping[str, str]
    quantities: Mapping[str, tuple[str, ...]]
    functions: frozenset[str]
    variables: frozenset[str] = frozenset()
    range_names: Mapping[str, str] = field(default_factory=dict)

    def known_names(self) -> str:
        names = [name_latex(n) for n in sorted(self.quantities, key=str.lower)]
        names += [name_latex(n) for n in sorted(self.functions)]
        names += sorted(self.variables)
        return ", ".join(names)


@dataclass
class _Scope:
    """Index letters bound by enclosing sums: letter -> index letter of its range (or None)."""

    bound: dict[str, str | None] = field(default_factory=dict)


def read(text: str, vocabulary: Vocabulary, wide_operators: bool = False) -> list[Expr]:
    """Read ``text`` into the chain of expressions it states (at least one).

    ``wide_operators`` gives the other reading of a sloppy line: a derivative operator applies
    to everything after it, ``+`` terms included (``\\frac{\\partial}{\\partial f_k} \\sum_j b_j
    w_{jk} + f_k`` as the derivative of the whole sum), instead of the usual rest-of-product.
    """
    tree = parse(text)
    reader = _Reader(text, vocabulary, wide_operators)
    return [reader.expr(child, _Scope()) for child in tree.children]


@dataclass(frozen=True)
class Line:
    """One side of an '=' in an answer: its text, where it starts, and its reading or error."""

    latex: str
    offset: int
    expr: Expr | None = None
    error: AnswerError | IndexMismatch | None = None


def read_lines(text: str, vocabulary: Vocabulary) -> list[Line]:
    """Read each side of a chain ``a = b = c`` on its own (see ``syntax.split_chain``).

    A line that cannot be read carries its error, with the position counted in ``text``.
    """
    lines = []
    for piece, offset in split_chain(text):
        try:
            if not piece.strip():
                raise AnswerError("nothing on this side of '='", offset, text)
            lines.append(Line(piece, offset, read_expression(piece, vocabulary)))
        except AnswerError as err:
            position = None if err.position is None else err.position + (
                0 if err.text == text else offset)
            lines.append(Line(piece, offset, error=AnswerError(err.message, position, text)))
        except IndexMismatch as err:
            lines.append(Line(piece, offset, error=err))
    return lines


def read_expression(text: str, vocabulary: Vocabulary, wide_operators: bool = False) -> Expr:
    """Read ``text`` that must be one expression, not a chain."""
    chain = read(text, vocabulary, wide_operators)
    if len(chain) != 1:
        raise AnswerError("expected one expression, found an equation", None, text)
    return chain[0]


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
    def expr(self, tree: Tree, scope: _Scope) -> Expr:
        signed: list[tuple[bool, Tree]] = []
        negate = False
        for child in tree.children:
            if child.data == "addop":
                negate = child.children[0].type == "MINUS"
                continue
            signed.append((negate, child))
            negate = False
        terms: list[Expr] = []
        for n, (negative, child) in enumerate(signed):
            tail = signed[n + 1:] if self.wide and self._has_operator(child) else []
            term = self.term(child, scope, tail)
            terms.append(Neg(term) if negative else term)
            if tail:
                break
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def _has_operator(self, term: Tree) -> bool:
        """Whether a term's product holds a derivative operator such as \frac{d}{dx}."""
        product = term.children[-1]
        return any(child.data == "factor" and child.children[0].data == "frac"
                   and self.derivative_operator(child.children[0], child.children[1:])
                   is not None for child in product.children)

    def term(self, tree: Tree, scope: _Scope, tail=()) -> Expr:
        sign, product = (tree.children if len(tree.children) == 2 else (None, tree.children[0]))
        value = self.product(product, scope, tail)
        if sign is not None and sign.children[0].type == "MINUS":
            if isinstance(value, Num):
                return Num(-value.value)
            return Neg(value)
        return value

    def product(self, tree: Tree, scope: _Scope, tail=()) -> Expr:
        items: list[tuple[str | None, Tree]] = []
        op = None
        for child in tree.children:
            if child.data == "mulop":
                op = "/" if child.children[0].type == "DIV" else "*"
            else:
                items.append((op, child))
                op = None
        return self.items(items, scope, tree, tail)

    def items(self, items: list[tuple[str | None, Tree]], scope: _Scope, where,
              tail=()) -> Expr:
        """Multiply factors left to right; an operator (sum, d/dx) takes all that follows.

        ``tail`` holds the signed terms after this one when a derivative operator here is
        read wide (see ``read``): they join the operator's body.
        """
        out: list[tuple[str | None, Expr]] = []
        i = 0
        while i < len(items):
            op, factor = items[i]
            primary, scripts = factor.children[0], factor.children[1:]
            kind = primary.data
            if kind == "sum_op":
                out.append((op, self.sum(primary, scripts, items[i + 1:], scope)))
                break
            operator = self.derivative_operator(primary, scripts) if kind == "frac" else None
            if operator is not None:
                rest = items[i + 1:]
                if not rest:
                    raise self.error("this derivative is applied to nothing", primary)
                body = self.items([(None, rest[0][1])] + rest[1:], scope, primary)
                if tail:
                    more = [self.term(t, scope) for _, t in tail]
                    body = Add((body, *(Neg(m) if negative else m
                                        for (negative, _), m in zip(tail, more))))
                out.append((op, Deriv(body, self.wrt(operator[1], scope), operator[0])))
                break
            name = self.name_of(primary)
            if kind == "func" or (name is not None and name in self.vocab.functions):
                call, used = self.call(items, i, scope)
                out.append((op, call))
                i += used
                continue
            out.append((op, self.factor(factor, scope)))
            i += 1
        if not out:
            raise self.error("expected an expression", where)
        value = out[0][1]
        for op, factor in out[1:]:
            value = Div(value, factor) if op == "/" else _times(value, factor)
        return value

    # ------------------------------------------------------------------ factors
    def name_of(self, primary: Tree) -> str | None:
        if primary.data in ("letter", "greek", "func"):
            return str(primary.children[0])
        return None

    def factor(self, tree: Tree, scope: _Scope) -> Expr:
        primary, scripts = tree.children[0], tree.children[1:]
        sub = [s for s in scripts if s.data == "subscript"]
        sup = [s for s in scripts if s.data == "superscript"]
        primes = [s for s in scripts if s.data == "prime"]
        if len(sub) > 1 or len(sup) > 1:
            raise self.error("two subscripts or superscripts on one symbol", scripts[1])
        if primes:
            raise self.error("a prime only follows a function name, as in g'(h_k)", primes[0])
        kind = primary.data
        if kind == "number":
            if sub:
                raise self.error("a number cannot have a subscript", sub[0])
            base: Expr = Num(Fraction(str(primary.children[0])))
        elif kind == "group":
            if sub:
                raise self.error("brackets cannot have a subscript", sub[0])
            base = self.expr(primary.children[1], scope)
        elif kind == "frac":
            if sub:
                raise self.error("a fraction cannot have a subscript", sub[0])
            base = self.frac(primary, scope)
        elif kind == "partial":
            raise self.error("\\partial outside a \\frac{\\partial ...}{\\partial ...}", primary)
        else:
            base = self.symbol(primary, sub[0] if sub else None, scope)
        if sup:
            exponent = self.superscript_value(sup[0], scope)
            return _power(base, exponent, self, sup[0])
        return base

    def superscript_value(self, script: Tree, scope: _Scope) -> Expr:
        arg = script.children[1]
        if isinstance(arg, Tree) and arg.data == "primes":
            raise self.error("a prime only follows a function name, as in g'(h_k)", arg)
        return self.arg(arg, scope)

    def arg(self, arg, scope: _Scope) -> Expr:
        """The value of a script or \\frac argument: one token or a braced expression."""
        if isinstance(arg, Tree) and arg.data == "braced":
            items = arg.children[1].children
            if len(items) != 1 or len(items[0].children) != 1:
                raise self.error("expected one expression in these braces", arg)
            return self.expr(items[0].children[0], scope)
        token = arg.children[0] if isinstance(arg, Tree) else arg
        if token.type == "NUMBER":
            return Num(Fraction(str(token)))
        fake = Tree("letter" if token.type == "LETTER" else "greek", [token])
        return self.symbol(fake, None, scope)

    def symbol(self, primary: Tree, sub: Tree | None, scope: _Scope) -> Expr:
        token = primary.children[0]
        name = str(token)
        vocab = self.vocab
        if name in vocab.quantities:
            slots = vocab.quantities[name]
            if not slots:
                if sub is not None:
                    raise self.error(f"{name_latex(name)} has no index", sub)
                return Ref(name)
            if sub is None:
                if name == "e":
                    return Const("e")
                shown = name_latex(name) + "_{" + "".join(slots) + "}"
                raise self.error(f"{name_latex(name)} needs its index, as in {shown}", primary)
            return Ref(name, self.indices(name, slots, sub, scope))
        if sub is not None:
            if name in vocab.variables or name in ("e", "pi") or name in vocab.ranges \
                    or name in scope.bound:
                raise self.error(f"'{name_latex(name)}' does not take a subscript here", sub)
            raise self.error(self.unknown(name, token), primary)  # y_k: y is what is wrong
        if name in vocab.variables:
            return Var(name)
        if name == "e":
            return Const("e")
        if name == "pi":
            return Const("pi")
        if name in vocab.ranges or name in scope.bound:
            raise self.error(f"the index {name} cannot stand alone as a value", primary)
        raise self.error(self.unknown(name, token), primary)

    def unknown(self, name: str, token: Token) -> str:
        shown = name_latex(name)
        hint = ""
        start = token.start_pos  # the run of letters this one is in: "sigma" in "sigma(x)"
        while start > 0 and self.text[start - 1].isascii() and self.text[start - 1].isalpha():
            start -= 1
        run = self.text[start:token.start_pos + 8]
        if start == 0 or self.text[start - 1] != "\\":
            for word in ("sigma", "delta", "psi", "exp", "frac", "sum", "partial", "cdot", "ln"):
                if run.startswith(word):
                    hint = f" (did you mean \\{word}?)"
                    break
        return (f"unknown symbol '{shown}'{hint}: this problem knows "
                f"{self.vocab.known_names()}")

    def indices(self, name: str, slots: tuple[str, ...], sub: Tree, scope: _Scope):
        letters = self.index_letters(sub.children[1])
        shown = name_latex(name)
        if len(letters) != len(slots):
            want = "".join(slots)
            raise self.error(
                f"{shown} takes {len(slots)} index{'es' if len(slots) > 1 else ''}"
                f" (as in {shown}_{{{want}}}), found {len(letters)}", sub)
        for place, ((letter, token), slot) in enumerate(zip(letters, slots)):
            if letter in scope.bound:
                have = scope.bound[letter]
                if have is None:
                    scope.bound[letter] = slot
                    continue
            elif letter in self.vocab.ranges:
                have = letter
            else:
                raise self.error(
                    f"'{letter}' is not an index of this problem; its indices are "
                    + ", ".join(sorted(self.vocab.ranges)), token)
            if self.vocab.ranges[have] != self.vocab.ranges[slot]:
                runs = self.vocab.range_names.get(slot, f"{slot} = 1..{self.vocab.ranges[slot]}")
                which = "the index" if len(slots) == 1 else \
                    f"the {('first', 'second', 'third', 'fourth')[min(place, 3)]} index"
                written = f"{shown}_{{{''.join(index for index, _ in letters)}}}"
                if letter in scope.bound and have != letter:  # \sum_{k=1}^{J} \delta_k
                    raise IndexMismatch(
                        f"{written}: {which} of {shown} runs over {runs}, but the sum over "
                        f"{letter} runs up to {self.vocab.ranges[have]}")
                raise IndexMismatch(
                    f"{written}: {which} of {shown} runs over {runs}, but you wrote {letter} "
                    "there")
        return tuple(letter for letter, _ in letters)

    def index_letters(self, arg) -> list[tuple[str, Token]]:
        """Index letters of a subscript: ``k``, ``{jk}``, ``{j,k}``."""
        if isinstance(arg, Token) or (isinstance(arg, Tree) and arg.data != "braced"):
            token = arg if isinstance(arg, Token) else arg.children[0]
            if token.type != "LETTER":
                raise self.error("an index must be a letter such as j or k", token)
            return [(str(token), token)]
        letters: list[tuple[str, Token]] = []
        for item in arg.children[1].children:
            if len(item.children) != 1:
                raise self.error("an index must be a letter such as j or k", item)
            for token in _flat_tokens(item):
                if token.type != "LETTER":
                    raise self.error("an index must be a letter such as j or k", token)
                letters.append((str(token), token))
        return letters

    # ------------------------------------------------------------------ calls
    def call(self, items, i: int, scope: _Scope) -> tuple[Expr, int]:
        """A function applied to the group after it: ``g'(h_k)``, ``\\sigma^2(x)``, ``\\exp x``."""
        _, factor = items[i]
        primary, scripts = factor.children[0], factor.children[1:]
        name = str(primary.children[0])
        order, power = 0, None
        for script in scripts:
            if script.data == "prime":
                order += 1
            elif script.data == "superscript":
                arg = script.children[1]
                if isinstance(arg, Tree) and arg.data == "primes":
                    order += len(arg.children) - 2
                elif isinstance(arg, Tree) and arg.children and getattr(
                        arg.children[0], "type", "") == "PRIME":
                    order += 1
                else:
                    power = self.superscript_value(script, scope)
            else:
                raise self.error(f"{name_latex(name)} does not take a subscript", script)
        if order > MAX_ORDER:
            raise self.error(f"derivatives beyond order {MAX_ORDER} are not supported", primary)
        if i + 1 >= len(items):
            raise self.error(f"{name_latex(name)} needs an argument, as in "
                             f"{name_latex(name)}(x)", primary)
        op, following = items[i + 1]
        target = following.children[0]
        if op is not None or (target.data != "group" and primary.data != "func"):
            raise self.error(f"{name_latex(name)} must be applied with brackets, as in "
                             f"{name_latex(name)}(x)", primary)
        if target.data != "group":  # \ln c_k, \exp x: the next factor, scripts and all
            value = Call(name, order, self.factor(following, scope))
            return (_power(value, power, self, factor) if power is not None else value), 2
        value = Call(name, order, self.factor(Tree("factor", [target]), scope))
        if power is not None:
            value = _power(value, power, self, factor)
        for script in following.children[1:]:  # \sigma(x)^2 squares the call, not its argument
            if script.data != "superscript":
                raise self.error("unexpected script after a function's brackets", script)
            value = _power(value, self.superscript_value(script, scope), self, script)
        return value, 2

    # ------------------------------------------------------------------ \frac, \sum, d/dx
    def frac(self, primary: Tree, scope: _Scope) -> Expr:
        _, num, den = primary.children
        derivative = self.derivative_parts(num, den)
        if derivative is not None:
            partial, of_items, wrt_tree = derivative
            of = self.items(of_items, scope, num)
            return Deriv(of, self.wrt(wrt_tree, scope), partial)
        numerator, denominator = self.arg(num, scope), self.arg(den, scope)
        if isinstance(numerator, Num) and isinstance(denominator, Num):
            if denominator.value == 0:
                raise self.error("division by zero", primary)
            return Num(numerator.value / denominator.value)
        return Div(numerator, denominator)

    def derivative_operator(self, primary: Tree, scripts) -> tuple[bool, Tree] | None:
        """``\\frac{\\partial}{\\partial h_k}`` or ``\\frac{d}{dx}``: (partial?, wrt factor)."""
        if scripts:
            return None
        _, num, den = primary.children
        found = self.derivative_parts(num, den)
        if found is None or found[1]:
            return None
        return found[0], found[2]

    def derivative_parts(self, num, den):
        """Split a derivative fraction into (partial?, numerator factors, wrt factor) or None."""
        num_factors = _product_factors(num)
        den_factors = _product_factors(den)
        if not num_factors or not den_factors or len(den_factors) != 2:
            return None
        marker = self._differential(num_factors[0][1])
        if marker is None or self._differential(den_factors[0][1]) != marker:
            return None
        return marker == "partial", num_factors[1:], den_factors[1][1]

    def _differential(self, factor: Tree) -> str | None:
        primary = factor.children[0]
        if len(factor.children) > 1:
            return None
        if primary.data == "partial":
            return "partial"
        if primary.data == "letter" and str(primary.children[0]) == "d" \
                and "d" not in self.vocab.quantities:
            return "d"
        return None

    def wrt(self, factor: Tree, scope: _Scope) -> Ref | Var:
        value = self.factor(factor, scope)
        if not isinstance(value, (Ref, Var)):
            raise self.error("differentiate with respect to one quantity, such as w_{jk}",
                             factor)
        return value

    def sum(self, primary: Tree, scripts, rest, scope: _Scope) -> Expr:
        sub = [s for s in scripts if s.data == "subscript"]
        sup = [s for s in scripts if s.data == "superscript"]
        if not sub:
            raise self.error("\\sum needs its index, as in \\sum_k", primary)
        arg = sub[0].children[1]
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
        if len(letters) != 1 or letters[0].type != "LETTER":
            raise self.error("the index of a sum must be one letter, as in \\sum_k", sub[0])
        letter = str(letters[0])
        if letter not in self.vocab.ranges and letter in self.vocab.quantities:
            raise self.error(f"'{letter}' is a quantity, not an index", letters[0])
        sizes = self.vocab.ranges
        if lower is not None:
            low = _flat_tokens(lower)
            if len(low) != 1 or str(low[0]) != "1":
                raise self.error(f"the sum over {letter} must start at 1", lower)
        over = None  # the index whose range the sum runs over; None: from the letter's first use
        if sup:
            upper = sup[0].children[1]
            tokens = _flat_tokens(upper)
            named = [i for i, size in sizes.items() if len(tokens) == 1 and str(tokens[0]) == size]
            if not named:
                want = sizes.get(letter) or "the number of units (" + ", ".join(
                    sorted(set(sizes.values()))) + ")"
                raise self.error(f"the sum over {letter} must run up to {want}", upper)
            over = named[0]
        if not rest:
            raise self.error("\\sum with nothing after it to add up", primary)
        inner = _Scope(dict(scope.bound))
        inner.bound[letter] = over
        body = self.items([(None, rest[0][1])] + rest[1:], inner, primary)
        over = inner.bound[letter]
        if over is None:
            if letter not in sizes:
                raise self.error(f"the sum over {letter} adds up nothing indexed by {letter}",
                                 primary)
            over = letter
        return Sum(letter, body, over)


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


def _product_factors(arg) -> list[tuple[str | None, Tree]] | None:
    """The factors of a braced \\frac argument that is a plain product, else None."""
    if not (isinstance(arg, Tree) and arg.data == "braced"):
        if isinstance(arg, Tree):
            token = arg.children[0]
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
    out, op = [], None
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
