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

from . import functions
from .errors import AnswerError
from .greek import NAMES

MAX_ANSWER_CHARS = 8000      # a whole answer box (its statements, remarks and derivation)
MAX_EXPRESSION_CHARS = 2000  # one side of one statement
MAX_NESTING = 24

GREEK = NAMES  # the letters \\sigma, \\delta, ... (grader.greek)
# Functions the reader knows by their command (\exp) or as an upright word (\operatorname{sech}):
# the table in grader.functions.
FUNCTION_COMMANDS = set(functions.COMMANDS)
# Commands that only change spacing or size: dropped.
SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "textstyle", "limits",
           "nolimits", "\\", "scriptstyle", "enspace", "thinspace", "medspace", "thickspace",
           "negthinspace", "relax", "nobreak", "allowbreak"}
SIZING = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
          "biggl", "biggr", "Biggl", "Biggr", "bigm", "Bigm", "middle"}
OPEN = {"(": "LPAR", "[": "LBRACK", "\\{": "LCURLY", "\\lbrace": "LCURLY", "\\lbrack": "LBRACK"}
CLOSE = {")": "RPAR", "]": "RBRACK", "\\}": "RCURLY", "\\rbrace": "RCURLY", "\\rbrack": "RBRACK"}
SINGLE = {
    "+": "PLUS", "-": "MINUS", "*": "TIMES", "/": "DIV", "=": "_EQ", ",": "_COMMA",
    "'": "PRIME", "_": "SUB", "^": "SUP", "{": "LBRACE", "}": "RBRACE", "(": "LPAR",
    ")": "RPAR", "[": "LBRACK", "]": "RBRACK", "|": "BAR",
}
COMMANDS = {
    "cdot": "TIMES", "times": "TIMES", "ast": "TIMES", "star": "TIMES", "bullet": "TIMES",
    "centerdot": "TIMES", "circ": "TIMES", "odot": "TIMES", "oslash": "DIV",
    "cdotp": "TIMES", "div": "DIV", "frac": "FRAC", "dfrac": "FRAC", "tfrac": "FRAC",
    "cfrac": "FRAC", "sum": "SUM", "partial": "PARTIAL", "prime": "PRIME", "boxed": None,
    "dots": "DOTS", "ldots": "DOTS", "cdots": "DOTS", "dotsb": "DOTS", "dotsc": "DOTS",
    "dotsm": "DOTS", "dotso": "DOTS", "vert": "BAR", "rvert": "BAR", "lvert": "BAR",
    "sqrt": "SQRT", "nabla": "NABLA",
}
# Comparisons, read only inside an indicator's brackets ([z > 0], \mathbb{1}(z \ge 0)); the
# token's value is the comparison in one spelling.
COMPARISONS = {">": ">", "<": "<", "gt": ">", "lt": "<", "ge": ">=", "geq": ">=",
               "geqslant": ">=", "le": "<=", "leq": "<=", "leqslant": "<=", "ne": "!=",
               "neq": "!="}
# The indicator \mathbb{1} (\mathbf{1}, 𝟙 and \mathbb{I} are made \mathbb{1} by grader.notation).
INDICATORS = {("mathbb", "1"), ("mathbb", "I"), ("mathbbm", "1"), ("mathds", "1")}
TRANSPOSE_COMMANDS = {"top", "intercal"}
TEXT_COMMANDS = {"text", "textrm", "textit", "textnormal", "mbox", "textsf", "textbf"}
WORD_COMMANDS = {"mathrm", "operatorname", "mathit", "mathsf", "mathnormal", *TEXT_COMMANDS}
TOKEN_NAMES = {
    "PLUS": "'+'", "MINUS": "'-'", "TIMES": "a multiplication sign", "DIV": "'/'", "_EQ": "'='",
    "_COMMA": "','", "PRIME": "a prime", "SUB": "'_'", "SUP": "'^'", "LBRACE": "'{'",
    "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LBRACK": "'['", "RBRACK": "']'",
    "LCURLY": "'\\{'", "RCURLY": "'\\}'", "SUM": "\\sum", "PARTIAL": "\\partial",
    "FRAC": "\\frac", "NUMBER": "a number", "LETTER": "a letter", "GREEK": "a Greek letter",
    "FUNC": "a function", "$END": "the end of the answer", "BAR": "'|'", "DOTS": "'\\dots'",
    "SQRT": "\\sqrt", "NABLA": "\\nabla", "COMPARE": "a comparison",
    "INDICATOR": "\\mathbb{1}", "EXTREME": "\\max or \\min", "LNORM": "'\\|'",
    "RNORM": "'\\|'",
}

_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_HAT = re.compile(r"\\(?:hat|widehat)\s*(?:\{\s*\{?\s*([A-Za-z])\s*\}?\s*\}|([A-Za-z]))")
_NORM = re.compile(r"\\(\||(?:Vert|lVert|rVert)(?![A-Za-z]))")
NORMS = {"|": None, "Vert": None, "lVert": "LNORM", "rVert": "RNORM"}  # \|v\|: a norm
_EXTREME_ARGUMENT = re.compile(r"\s*(?:\\left\s*|\\[bB]igg?l?\s*)?(?:\(|\\\{)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WORD = re.compile(r"\\([A-Za-z]+)\s*\{\s*([^{}]*?)\s*\}")
_EMPTY_GROUP = re.compile(r"\{\s*\}")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, each with ``start_pos`` in ``text``; reject what is unknown."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise AnswerError(f"this expression is too long ({len(text)} characters; the limit is "
                          f"{MAX_EXPRESSION_CHARS})")
    tokens: list[Token] = []
    depth = 0
    pos, n = 0, len(text)
    single_args = 0  # how many following one-character arguments (after ^, _ or \frac) remain

    def emit(kind: str, value: str, at: int, length: int | None = None) -> None:
        nonlocal depth
        if kind in ("LPAR", "LBRACK", "LCURLY", "LBRACE"):
            depth += 1
            if depth > MAX_NESTING:
                raise AnswerError(
                    f"brackets nested too deeply (more than {MAX_NESTING} levels)", at, text
                )
        elif kind in ("RPAR", "RBRACK", "RCURLY", "RBRACE"):
            depth -= 1
        size = len(value) if length is None else length
        tokens.append(Token(kind, value, start_pos=at, end_pos=at + size))

    norm_open = False  # \| opens a norm, the next one closes it
    while pos < n:
        ch = text[pos]
        if ch.isspace() or ch in "~&":
            pos += 1
            continue
        if ch == "{" and (empty := _EMPTY_GROUP.match(text, pos)):
            # {} means nothing: \cdot{}, \sum_{}^{}: an empty script goes with its ^ or _
            if single_args and tokens and tokens[-1].type in ("SUB", "SUP"):
                tokens.pop()
            single_args = 0
            pos = empty.end()
            continue
        if single_args:
            # After ^, _ or \frac, LaTeX takes one character (or one command, or a {group}).
            if ch == "{":
                single_args = 0
            elif ch == "\\":
                single_args -= 1
            else:
                single_args -= 1
                if ch in "0123456789":
                    emit("NUMBER", ch, pos)
                elif ch.isascii() and ch.isalpha():
                    emit("LETTER", ch, pos)
                elif ch == "'":
                    emit("PRIME", ch, pos)
                else:
                    raise AnswerError(f"'{ch}' cannot stand alone after ^, _ or \\frac", pos, text)
                pos += 1
                continue
        if ch == "\\" and (hat := _HAT.match(text, pos)):  # \hat{y}: one name, y-hat
            if single_args:
                single_args -= 1
            emit("GREEK", (hat.group(1) or hat.group(2)) + "hat", pos, hat.end() - pos)
            pos = hat.end()
            continue
        if ch == "\\" and (norm := _NORM.match(text, pos)):
            side = NORMS[norm.group(1)] or ("RNORM" if norm_open else "LNORM")
            norm_open = side == "LNORM"
            emit(side, "\\|", pos, norm.end() - pos)
            pos = norm.end()
            continue
        if ch == "\\":
            match = _WORD.match(text, pos)
            if match and (match.group(1), match.group(2)) in INDICATORS:
                emit("INDICATOR", "\\mathbb{1}", pos, match.end() - pos)
                pos = match.end()
                continue
            if match and match.group(1) in WORD_COMMANDS:
                _word(match, text, emit)
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
            elif name in TRANSPOSE_COMMANDS:  # x^\top: the reader takes a superscript T
                emit("LETTER", "T", start, len(name) + 1)
            elif name in COMMANDS:
                kind = COMMANDS[name]
                if kind is not None:  # \boxed{...} is only a frame around its group
                    emit(kind, "\\" + name, start)
                if kind == "FRAC":
                    single_args = 2
                elif kind == "SQRT":
                    single_args = 1
            elif name in GREEK:
                emit("GREEK", name, start, len(name) + 1)
            elif name in FUNCTION_COMMANDS:
                emit("FUNC", functions.COMMANDS[name], start, len(name) + 1)
            elif name in COMPARISONS:
                emit("COMPARE", COMPARISONS[name], start, len(name) + 1)
            elif name in WORD_COMMANDS:
                letter = re.match(r"\s*([A-Za-z])(?![A-Za-z])", text[pos:])
                if letter is None or name in TEXT_COMMANDS:
                    raise AnswerError(f"\\{name} needs its word in braces, as in "
                                      f"\\{name}{{sigmoid}}", start, text)
                # \mathsf T: LaTeX takes one letter as the argument (x^{\mathsf T})
                emit("LETTER", letter.group(1), pos + letter.start(1))
                pos += letter.end()
            elif name in ("max", "min") and _EXTREME_ARGUMENT.match(text, pos):
                emit("EXTREME", name, start, len(name) + 1)  # \max(1, i-P+1): a bound
            elif name in NOT_READ_HERE:
                raise AnswerError(f"\\{name} {NOT_READ_HERE[name]}", start, text)
            else:
                raise AnswerError(f"unknown command \\{name}{_command_hint(name)}", start, text)
            continue
        if ch in "0123456789":
            digits = _NUMBER.match(text, pos)
            assert digits is not None  # the character is a digit
            emit("NUMBER", digits.group(), pos)
            pos = digits.end()
            continue
        if ch == "." and text.startswith("...", pos):
            emit("DOTS", "...", pos)
            pos += 3
            continue
        if ch.isascii() and ch.isalpha():
            emit("LETTER", ch, pos)
        elif ch in COMPARISONS:
            emit("COMPARE", ch, pos)
        elif ch in SINGLE:
            emit(SINGLE[ch], ch, pos)
            if SINGLE[ch] in ("SUB", "SUP"):
                single_args = 1
        else:
            raise AnswerError(f"unexpected character {_shown(ch)}", pos, text)
        pos += 1
    return tokens


def _word(match: re.Match[str], text: str, emit) -> None:
    r"""An upright word: ``\mathrm{d}`` is the letter, ``\operatorname{sech}`` a function."""
    command, word = match.group(1), match.group(2)
    at = match.start(2)
    if word.lower() == "times":  # \text{times}: a multiplication written in words
        emit("TIMES", "\\times", match.start(), len(match.group()))
    elif (function := functions.by_word(word)) is not None:
        emit("FUNC", function, match.start(), len(match.group()))
    elif re.fullmatch(r"[A-Za-z]", word) or (command not in TEXT_COMMANDS and command !=
                                             "operatorname" and re.fullmatch(r"[A-Za-z]+",
                                                                             word)):
        for offset, letter in enumerate(word):  # \mathrm{d}, \mathrm{dx}: letters
            emit("LETTER", letter, at + offset)
    elif command == "operatorname":
        raise AnswerError(f"unknown function \\operatorname{{{word}}}", match.start(), text)
    else:
        shown = word if len(word) <= 30 else word[:27] + "..."
        raise AnswerError(f"words inside the formula (\\{command}{{{shown}}}); put remarks "
                          "after the answer, as in \\quad \\text{where ...}", match.start(),
                          text)


# Real LaTeX commands the reader does not take here, and what to say about them.
NOT_READ_HERE = {
    "in": "is read only in a sum's range, as in \\sum_{k \\in \\{1,\\dots,K\\}}",
    "int": "(an integral) is not part of these problems",
    "prod": "(a product over an index) is not read; write the factors",
    "lim": "(a limit) is not part of these problems",
    "pm": "is two answers in one; write the one you mean",
    "mp": "is two answers in one; write the one you mean",
    "max": "is read only as the ReLU, \\max(0, z); the larger of two other expressions is not "
           "part of these problems",
    "min": "(the smaller of two expressions) is not part of these problems",
}
REAL_COMMANDS = {"in", "int", "prod", "lim", "pm", "mp", "hat", "bar", "tilde", "vec", "mathbf",
                 "boldsymbol", "max", "min", "neq", "leq", "geq", "infty", "to", "forall",
                 "exists", "mathbb", "mathcal", "oint", "iint", "det", "sin", "cos", "tan",
                 "arctan", "sqrt", "overline", "underline", "cancel", "label", "ref"}


def _command_hint(name: str) -> str:
    """" (did you mean \\sigma?)" for a misspelt command, else ""."""
    import difflib

    if name in REAL_COMMANDS:
        return ""

    known = sorted(GREEK | FUNCTION_COMMANDS | set(COMMANDS) | {"partial", "cdot", "left",
                                                               "right", "quad"})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean \\{close[0]}?)" if close else ""


def _shown(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return f"{ch} (U+{ord(ch):04X})" if not ch.isascii() else ch
    return f"{ch!r} (an invisible control character U+{ord(ch):04X})"


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
    while text and (text[-1] in ".,;" or text[-1] == "\\") and not _escaped(text, len(text) - 1):
        text = text[:-1].rstrip()  # a sentence's stop, or the backslash of a control space
    return text


def _escaped(text: str, at: int) -> bool:
    """Whether ``text[at]`` follows an odd number of backslashes (``\\,`` is spacing)."""
    count = 0
    while at - count - 1 >= 0 and text[at - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _describe(token: Token) -> str:
    if token.type == "COMPARE":
        shown = {">=": "\\ge", "<=": "\\le", "!=": "\\ne"}.get(str(token.value), token.value)
        return f"'{shown}' (a comparison is read only inside an indicator's brackets, " \
            "as in [z > 0])"
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
