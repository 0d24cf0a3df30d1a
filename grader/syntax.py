"""Read LaTeX math into a syntax tree with a strict grammar.

Two stages, both strict (anything not understood is an ``AnswerError`` with its position):

1. ``tokenize``: a hand-written scanner for the notation students write. It knows LaTeX's
   one-character script rule (``x^23`` is ``x^2`` then ``3``), folds spacing commands,
   ``\\left``/``\\right``/``\\big`` and Unicode (σ, δ, −, ·, ∑, ′) into plain tokens, and
   keeps every token's offset in the original text.
2. ``parse``: a lark LALR grammar over those tokens (``grammar.lark``). The tree it returns is
   purely syntactic; ``grader.reader`` gives it meaning with the problem's vocabulary.

Nothing here evaluates anything, and no student text reaches ``eval`` or ``sympify``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from .errors import AnswerError

MAX_ANSWER_CHARS = 2000
MAX_NESTING = 24

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}
UNICODE_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "λ": "lambda", "μ": "mu", "ξ": "xi", "π": "pi", "ρ": "rho",
    "σ": "sigma", "τ": "tau", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega", "Δ": "Delta",
    "Ψ": "Psi", "Φ": "Phi", "Ω": "Omega",
}
FUNCTION_COMMANDS = {"exp", "ln", "log", "tanh", "sin", "cos"}
# Commands that only change spacing or size: dropped.
SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "textstyle", "limits",
           "nolimits", "\\"}
SIZING = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
          "biggl", "biggr", "Biggl", "Biggr"}
OPEN = {"(": "LPAR", "[": "LBRACK", "\\{": "LCURLY", "\\lbrace": "LCURLY", "\\lbrack": "LBRACK"}
CLOSE = {")": "RPAR", "]": "RBRACK", "\\}": "RCURLY", "\\rbrace": "RCURLY", "\\rbrack": "RBRACK"}
SINGLE = {
    "+": "PLUS", "-": "MINUS", "−": "MINUS", "–": "MINUS", "*": "TIMES", "·": "TIMES",
    "×": "TIMES", "⋅": "TIMES", "/": "DIV", "=": "_EQ", ",": "_COMMA", "'": "PRIME", "′": "PRIME",
    "’": "PRIME", "_": "SUB", "^": "SUP", "{": "LBRACE", "}": "RBRACE", "∑": "SUM",
    "∂": "PARTIAL", "(": "LPAR", ")": "RPAR", "[": "LBRACK", "]": "RBRACK",
}
COMMANDS = {
    "cdot": "TIMES", "times": "TIMES", "ast": "TIMES", "frac": "FRAC", "dfrac": "FRAC",
    "tfrac": "FRAC", "sum": "SUM", "partial": "PARTIAL", "prime": "PRIME", "boxed": None,
}
TOKEN_NAMES = {
    "PLUS": "'+'", "MINUS": "'-'", "TIMES": "a multiplication sign", "DIV": "'/'", "_EQ": "'='",
    "_COMMA": "','", "PRIME": "a prime", "SUB": "'_'", "SUP": "'^'", "LBRACE": "'{'",
    "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LBRACK": "'['", "RBRACK": "']'",
    "LCURLY": "'\\{'", "RCURLY": "'\\}'", "SUM": "\\sum", "PARTIAL": "\\partial",
    "FRAC": "\\frac", "NUMBER": "a number", "LETTER": "a letter", "GREEK": "a Greek letter",
    "FUNC": "a function", "$END": "the end of the answer",
}

_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MATHRM = re.compile(r"\\(?:mathrm|operatorname|mathit)\s*\{\s*([A-Za-z]+)\s*\}")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, each with ``start_pos`` in ``text``; reject what is unknown."""
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(
            f"the answer is too long ({len(text)} characters; the limit is {MAX_ANSWER_CHARS})"
        )
    tokens: list[Token] = []
    depth = 0
    pos, n = 0, len(text)
    single_args = 0  # how many following one-character arguments (after ^, _ or \frac) remain

    def emit(kind: str, value: str, at: int) -> None:
        nonlocal depth
        if kind in ("LPAR", "LBRACK", "LCURLY", "LBRACE"):
            depth += 1
            if depth > MAX_NESTING:
                raise AnswerError(
                    f"brackets nested too deeply (more than {MAX_NESTING} levels)", at, text
                )
        elif kind in ("RPAR", "RBRACK", "RCURLY", "RBRACE"):
            depth -= 1
        tokens.append(Token(kind, value, start_pos=at, end_pos=at + len(value)))

    while pos < n:
        ch = text[pos]
        if ch.isspace() or ch in "~&":
            pos += 1
            continue
        if single_args:
            # After ^, _ or \frac, LaTeX takes one character (or one command, or a {group}).
            if ch == "{":
                single_args = 0
            elif ch == "\\":
                single_args -= 1
            else:
                single_args -= 1
                if ch.isdigit():
                    emit("NUMBER", ch, pos)
                elif ch.isascii() and ch.isalpha():
                    emit("LETTER", ch, pos)
                elif SINGLE.get(ch) == "PRIME":
                    emit("PRIME", ch, pos)
                elif ch in UNICODE_GREEK:
                    emit("GREEK", UNICODE_GREEK[ch], pos)
                else:
                    raise AnswerError(f"'{ch}' cannot stand alone after ^, _ or \\frac", pos, text)
                pos += 1
                continue
        if ch == "\\":
            match = _MATHRM.match(text, pos)
            if match:  # \mathrm{d} and friends: the letters inside, one token each
                for offset, letter in enumerate(match.group(1)):
                    emit("LETTER", letter, match.start(1) + offset)
                pos = match.end()
                continue
            match = _COMMAND.match(text, pos)
            if match is None:
                raise AnswerError("a backslash with no command after it", pos, text)
            name = match.group(1)
            pos, start = match.end(), pos
            if name in SIZING:
                # \left( \right] \big( ... : the size is dropped, the delimiter kept.
                while pos < n and text[pos].isspace():
                    pos += 1
                if pos < n and text[pos] == ".":  # \left. is an invisible delimiter
                    pos += 1
                continue
            if name in SPACING:
                continue
            if "\\" + name in OPEN:
                emit(OPEN["\\" + name], "\\" + name, start)
            elif "\\" + name in CLOSE:
                emit(CLOSE["\\" + name], "\\" + name, start)
            elif name in COMMANDS:
                kind = COMMANDS[name]
                if kind is not None:  # \boxed{...} is only a frame around its group
                    emit(kind, "\\" + name, start)
                if kind == "FRAC":
                    single_args = 2
            elif name in GREEK:
                emit("GREEK", name, start)
            elif name in FUNCTION_COMMANDS:
                emit("FUNC", name, start)
            else:
                raise AnswerError(f"unknown command \\{name}", start, text)
            continue
        if ch.isdigit():
            match = _NUMBER.match(text, pos)
            emit("NUMBER", match.group(), pos)
            pos = match.end()
            continue
        if ch.isascii() and ch.isalpha():
            emit("LETTER", ch, pos)
        elif ch in UNICODE_GREEK:
            emit("GREEK", UNICODE_GREEK[ch], pos)
        elif ch in SINGLE:
            emit(SINGLE[ch], ch, pos)
            if SINGLE[ch] in ("SUB", "SUP"):
                single_args = 1
        else:
            shown = ch if ch.isprintable() else repr(ch)
            raise AnswerError(f"unexpected character {shown}", pos, text)
        pos += 1
    return tokens


class _TokenList(Lexer):
    """Hands lark the tokens ``tokenize`` made."""

    def __init__(self, lexer_conf):  # noqa: D107 - lark's interface
        pass

    def lex(self, data):
        yield from data


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", lexer=_TokenList, start="chain", maybe_placeholders=False)


def parse(text: str) -> Tree:
    """Parse an answer (possibly a chain ``a = b = c``) into a syntax tree."""
    if not text.strip():
        raise AnswerError("the answer is empty")
    text = _without_final_punctuation(text)
    tokens = tokenize(text)
    if not tokens:
        raise AnswerError("the answer has no mathematics in it")
    try:
        return _parser().parse(tokens)
    except UnexpectedEOF:
        raise AnswerError(_eof_message(tokens), len(text.rstrip()), text) from None
    except UnexpectedToken as err:
        if err.token.type == "$END":
            raise AnswerError(_eof_message(tokens), len(text.rstrip()), text) from None
        raise AnswerError(
            f"unexpected {_describe(err.token)}", err.token.start_pos, text
        ) from None
    except (UnexpectedCharacters, UnexpectedInput) as err:  # pragma: no cover - custom lexer
        raise AnswerError("cannot read this", getattr(err, "pos_in_stream", None), text) from None


def _without_final_punctuation(text: str) -> str:
    """Drop the full stop or comma that ends a sentence ("... = \\delta_k b_j."), not ``\\,``."""
    text = text.rstrip()
    while text and text[-1] in ".,;" and not text[:-1].endswith("\\"):
        text = text[:-1].rstrip()
    return text


def _describe(token: Token) -> str:
    if token.type == "GREEK":
        return f"'\\{token.value}'"
    if token.type == "PRIME":
        return f'"{token.value}"'
    return f"'{token.value}'"


def _eof_message(tokens: list[Token]) -> str:
    opened = []
    pairs = {"LPAR": "RPAR", "LBRACK": "RBRACK", "LCURLY": "RCURLY", "LBRACE": "RBRACE"}
    for token in tokens:
        if token.type in pairs:
            opened.append(token.type)
        elif token.type in pairs.values() and opened:
            opened.pop()
    if opened:
        return f"the answer ends before {TOKEN_NAMES[pairs[opened[-1]]]} closes it"
    return "the answer ends too early"


_OPENERS = {"{": "}", "(": ")", "[": "]"}


def split_chain(text: str) -> list[tuple[str, int]]:
    """Split ``a = b = c`` at its top-level '=' signs: [(piece, offset in text), ...].

    An '=' inside braces or brackets (``\\sum_{k=1}``) does not split. Each piece is read on
    its own, so one unreadable line of a derivation does not hide the others.
    """
    pieces: list[tuple[str, int]] = []
    depth, start, pos, n = 0, 0, 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch == "\\":
            match = _COMMAND.match(text, pos)
            name = match.group(1) if match else ""
            if name in ("{", "lbrace"):
                depth += 1
            elif name in ("}", "rbrace"):
                depth -= 1
            pos = match.end() if match else pos + 1
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "=" and depth <= 0:
            pieces.append((text[start:pos], start))
            start = pos + 1
        pos += 1
    pieces.append((text[start:], start))
    return pieces
