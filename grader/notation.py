r"""Student notation, normalised into the LaTeX the strict reader knows, with its origins kept.

Students paste Unicode (``σ(x)²``, ``δₖ bⱼ``, ``𝜎``), editor exports (``{{\delta }_{k}}``,
``\_``) and math delimiters (``$...$``, ``\[...\]``, ``aligned``). ``normalise`` rewrites all
of it into plain LaTeX in one pass per rule, and every character of the result remembers the
character of the student's text it came from, so an error is still reported where the student
wrote it. Nothing here decides what the mathematics means.

What is rewritten:

- Unicode: Greek letters and the mathematical alphanumerics (U+1D400 block, ``ℎ``) become
  ``\sigma``, ``x``, ...; runs of sub- and superscript characters become ``_{...}`` and
  ``^{...}``; ``Σ ∑`` a sum; ``− – ∗ ∙ · × ÷`` the operators; ``′ ´ ’ ″`` primes; ``∂ ∀ ∈ …
  ≡ ≔ ≜ ⇒`` their commands; no-break and thin spaces a space, zero-width characters nothing.
- Markdown escapes ``\_`` and ``\*``; ``\dot g`` and ``\ddot g`` as ``g'`` and ``g''``;
  primes written as superscripts (``g^{\prime}``, ``k^\prime``) as primes; ``\ell`` as l.
- Delimiters ``$``, ``$$``, ``\(\)``, ``\[\]`` and the display environments (``aligned``,
  ``align*``, ``split``, ``gathered``, ``equation*``, ...) are dropped, ``&`` too; ``\\`` stays
  (``grader.layout`` reads it as a line break); ``\label``, ``\tag``, ``\nonumber`` go.
- ``\sum_{k \in \{1,\dots,K\}}``, ``\sum_{k \in [K]}`` and ``\sum_{1 \le k \le K}`` become
  ``\sum_{k=1}^{K}``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .errors import AnswerError
from .greek import BY_CHARACTER

# Characters that stand for a LaTeX command or an ASCII operator.
SYMBOLS = {
    "−": "-", "–": "-", "—": "-", "‐": "-", "‑": "-", "﹣": "-", "－": "-", "＋": "+",
    "×": r"\cdot ", "·": r"\cdot ", "⋅": r"\cdot ", "∙": r"\cdot ", "∗": r"\cdot ",
    "•": r"\cdot ", "✕": r"\cdot ", "÷": "/", "∕": "/", "＝": "=",
    "Σ": r"\sum ", "∑": r"\sum ", "∏": r"\prod ", "∫": r"\int ", "√": r"\sqrt ",
    "∂": r"\partial ", "∀": r"\forall ", "∈": r"\in ", "…": r"\dots ", "⋯": r"\cdots ",
    "≡": r"\equiv ", "≔": ":=", "≕": "=:", "≜": r"\triangleq ", "≝": r"\triangleq ",
    "≈": r"\approx ", "≠": r"\neq ", "≤": r"\le ", "≥": r"\ge ", "∞": r"\infty ",
    "→": r"\to ", "⇒": r"\Rightarrow ", "⟹": r"\implies ", "∴": r"\therefore ",
    "′": "'", "´": "'", "’": "'", "ʹ": "'", "‘": "'", "ʼ": "'", "″": "''", "‴": "'''",
    "⟨": "(", "⟩": ")", "（": "(", "）": ")", "｛": "{", "｝": "}", "［": "[", "］": "]",
    "‖": r"\| ",
    "ℯ": "e", "ℓ": "l", "⊙": r"\odot ", "∘": r"\circ ", "⊤": r"\top ", "⊺": r"\intercal ",
}
DOTS_ABOVE = {"\u0307": "'", "\u0308": "''"}  # combining dot and two dots above: g-dot is g'
HAT = "\u0302"  # a combining circumflex: y followed by it is \hat{y}
FRACTIONS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5),
             "⅙": (1, 6), "⅛": (1, 8)}
SPACES = frozenset("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                   "\u2009\u200a\u202f\u205f\u3000\t\r")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
LINE_BREAKS = frozenset("\u2028\u2029\x85")
INDICATOR_CHARACTERS = {"𝟙": r"\mathbb{1}", "𝕀": r"\mathbb{I}"}  # double-struck 1 and I


@dataclass(frozen=True)
class Source:
    """Text for the reader, and for each of its characters the offset in the student's text.

    ``origin`` has one more entry than ``text``: the offset just past the end.
    """

    text: str
    origin: tuple[int, ...]
    original: str

    @classmethod
    def of(cls, text: str) -> Source:
        return cls(text, tuple(range(len(text) + 1)), text)

    def at(self, index: int) -> int:
        """The offset in the student's text of ``self.text[index]``."""
        return self.origin[max(0, min(index, len(self.origin) - 1))]

    def slice(self, start: int, end: int) -> Source:
        """The part ``text[start:end]``, still mapped to the student's text."""
        return Source(self.text[start:end], self.origin[start:end] + (self.at(end),),
                      self.original)


class _Builder:
    """Collects output text with the origin of every character."""

    def __init__(self, source: Source):
        self.source = source
        self.chars: list[str] = []
        self.origin: list[int] = []

    def copy(self, start: int, end: int) -> None:
        self.chars.append(self.source.text[start:end])
        self.origin.extend(self.source.origin[start:end])

    def emit(self, text: str, at: int) -> None:
        """New text standing for the source character at index ``at``."""
        self.chars.append(text)
        self.origin.extend([self.source.origin[at]] * len(text))

    def done(self) -> Source:
        text = "".join(self.chars)
        end = self.source.origin[-1]
        return Source(text, tuple(self.origin) + (end,), self.source.original)


def substitute(source: Source, pattern: re.Pattern[str], replace) -> Source:
    """Apply ``pattern`` everywhere; ``replace(match)`` returns new text or a list of pieces.

    A piece is a string (new text, placed at the match's start) or a ``(start, end)`` span of
    the source to keep with its own origins.
    """
    if pattern.search(source.text) is None:
        return source
    out = _Builder(source)
    at = 0
    for match in pattern.finditer(source.text):
        out.copy(at, match.start())
        pieces = replace(match)
        for piece in ([pieces] if isinstance(pieces, str) else pieces):
            if isinstance(piece, str):
                out.emit(piece, match.start())
            else:
                out.copy(*piece)
        at = match.end()
    out.copy(at, len(source.text))
    return out.done()


# ---------------------------------------------------------------------------- Unicode

@lru_cache(maxsize=4096)
def _script(ch: str) -> tuple[str, str] | None:
    """('_' or '^', the plain character) for a sub- or superscript character, else None."""
    decomposition = unicodedata.decomposition(ch)
    for tag, mark in (("<sub>", "_"), ("<super>", "^")):
        if decomposition.startswith(tag):
            base = chr(int(decomposition.split()[1], 16))
            return mark, base
    return None


@lru_cache(maxsize=4096)
def _plain(ch: str) -> str:
    """The LaTeX for one character outside a script (the character itself if it is plain)."""
    if ch.isascii():
        return ch
    if ch in INDICATOR_CHARACTERS:
        return INDICATOR_CHARACTERS[ch]
    if ch in SYMBOLS:  # first: Σ is a sum, not the letter
        return SYMBOLS[ch]
    if ch in BY_CHARACTER:
        return "\\" + BY_CHARACTER[ch] + " "
    if ch in FRACTIONS:
        top, bottom = FRACTIONS[ch]
        return f"\\frac{{{top}}}{{{bottom}}}"
    if ch in SPACES:
        return " "
    if ch in INVISIBLE:
        return ""
    if ch in LINE_BREAKS:
        return "\n"
    decomposed = unicodedata.normalize("NFD", ch)  # ġ, ḡ: a letter with a dot is a prime
    if len(decomposed) == 2 and decomposed[0].isascii() and decomposed[1] in DOTS_ABOVE:
        return decomposed[0] + DOTS_ABOVE[decomposed[1]]
    if ch in DOTS_ABOVE:  # a combining dot after the letter
        return DOTS_ABOVE[ch]
    if len(decomposed) == 2 and decomposed[0].isascii() and decomposed[1] == HAT:  # ŷ
        return f"\\hat{{{decomposed[0]}}}"
    folded = unicodedata.normalize("NFKC", ch)  # 𝜎, 𝑥, ℎ, 𝜕, ｘ: a styled character is itself
    if len(folded) == 1 and folded != ch and (folded.isascii() or folded in BY_CHARACTER
                                              or folded in SYMBOLS):
        return _plain(folded)
    if unicodedata.category(ch) == "Nd":  # digits of other scripts and styles
        return str(unicodedata.digit(ch))
    return ch


def _unicode(source: Source) -> Source:
    if source.text.isascii():
        return source
    out = _Builder(source)
    text = source.text
    n, at = len(text), 0
    while at < n:
        ch = text[at]
        if ch.isascii() and ch.isalpha() and text[at + 1:at + 2] == HAT:  # y + U+0302
            out.emit(f"\\hat{{{ch}}}", at)
            at += 2
            continue
        script = None if ch.isascii() else _script(ch)
        if script is None:
            plain = _plain(ch)
            if plain == ch:
                out.copy(at, at + 1)
            else:
                out.emit(plain, at)
            at += 1
            continue
        mark = script[0]
        out.emit(mark + "{", at)  # a run of subscript (or superscript) characters: one script
        while at < n and (found := (None if text[at].isascii() else _script(text[at]))) \
                and found[0] == mark:
            out.emit(_plain(found[1]), at)
            at += 1
        out.emit("}", at - 1)
    return out.done()


# ---------------------------------------------------------------------------- markup

_ESCAPES = re.compile(r"(?<!\\)\\([_*])")
_ELL = re.compile(r"\\ell(?![A-Za-z])")
_PRIMES = re.compile(r"\^\s*(?:\\prime(?![A-Za-z])|\{\s*((?:\\prime\s*|'\s*)+)\})")
_DOT = re.compile(r"\\(d?dot)(?![A-Za-z])\s*"
                  r"(?:\{\s*(\\[A-Za-z]+|[A-Za-z])\s*\}|(\\[A-Za-z]+|[A-Za-z]))")
_ENVIRONMENTS = ("aligned", "align", "alignat", "alignedat", "split", "gathered", "gather",
                 "equation", "multline", "eqnarray", "flalign", "displaymath", "math")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{(?:" + "|".join(_ENVIRONMENTS)
                          + r")\*?\}(?:\s*\{\d{1,2}\})?(?:\s*\[[a-z]{1,3}\])?")
_DELIMITERS = re.compile(r"\\\\|\$\$?|\\[\[\]()]")  # a line break \\ is matched to be kept
_LABELS = re.compile(r"\\(?:label|tag\*?)\s*\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])")
_ALIGNMENT = re.compile(r"(?:(?<=\\\\)|(?<!\\))&")  # & and \\&, not an escaped \&
_DOTS = r"(?:\\[lc]?dots[bcmoi]?|\.\.\.?)"
_SET_RANGE = re.compile(
    r"\\sum(\s*\\limits)?\s*_\s*\{\s*([a-z](?:'|\\prime)*)\s*\\in\s*"
    r"(?:(?:\\left\s*)?\\\{|\\lbrace)\s*1\s*,(?:\s*2\s*,)?\s*" + _DOTS + r"\s*,\s*([A-Z])\s*"
    r"(?:(?:\\right\s*)?\\\}|\\rbrace)\s*\}")
_BRACKET_RANGE = re.compile(
    r"\\sum(\s*\\limits)?\s*_\s*\{\s*([a-z](?:'|\\prime)*)\s*\\in\s*\[\s*([A-Z])\s*\]\s*\}")
_LIST_RANGE = re.compile(  # \sum_{k=1,\dots,K}, \sum_{k=1..K}, \sum_{k \in [1,K]}, \sum_{k \in K}
    r"\\sum(\s*\\limits)?\s*_\s*\{\s*([a-z](?:'|\\prime)*)\s*(?:=\s*1\s*(?:,\s*"
    + _DOTS + r"\s*,|\.\.\.?)\s*|\\in\s*\[\s*1\s*,\s*|\\in\s*)([A-Z])\s*\]?\s*\}")
_BOUNDS_RANGE = re.compile(
    r"\\sum(\s*\\limits)?\s*_\s*\{\s*1\s*\\(?:le|leq)\s*([a-z](?:'|\\prime)*)\s*"
    r"\\(?:le|leq)\s*([A-Z])\s*\}")


def _sum_range(match: re.Match[str]) -> list:
    limits, letter, size = match.group(1, 2, 3)
    return [r"\sum", r"\limits" if limits else "", "_{", (match.start(2), match.end(2)),
            "=1}^{", (match.start(3), match.end(3)), "}"]


def _dot(match: re.Match[str]) -> list:
    name = match.group(2) or match.group(3)
    start = match.start(2) if match.group(2) else match.start(3)
    return [(start, start + len(name)), "'" * (2 if match.group(1) == "ddot" else 1), " "]


_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_FENCE = re.compile(r"^\s*```[A-Za-z]*[ \t]*\n?|\n?[ \t]*```\s*$")
_BACKTICK = re.compile(r"`")
_ANNOTATED = re.compile(r"\\(?:underbrace|overbrace|underline|boxed|mathbf|boldsymbol|bm|vec"
                        r"|pmb|mathbfit|textcolor\s*\{[^{}]*\}|colorbox\s*\{[^{}]*\}"
                        r"|mathrel|mathop|mathbin|mathord|substack|cancel|bcancel|xcancel|sout"
                        r"|phantom|hphantom|vphantom)\s*(?=\{)")
# A font command with a one-token argument and no braces, as LaTeX allows: \vec p,
# \boldsymbol\delta, \mathbb 1[z > 0], \mathbf 1^\top y: the argument is braced, so the rules
# for \mathbf{...} and \mathbb{1} apply.
_UNBRACED_FONT = re.compile(r"\\(vec|mathbf|boldsymbol|bm|mathbb|mathsf|mathrm|mathit)"
                            r"(?![A-Za-z])\s*([A-Za-z0-9]|\\[A-Za-z]+)")
_UNWRAPPED = ("\\mathrel", "\\mathop", "\\mathbin", "\\mathord", "\\substack")
_STRUCK = ("\\cancel", "\\bcancel", "\\xcancel", "\\sout")  # crossed out: gone
_COLOR = re.compile(r"\\color\s*\{[^{}]*\}")
_END_MARKS = re.compile(r"\\(?:square|blacksquare|Box|qed|qedsymbol|checkmark|blacktriangleright)"
                        r"(?![A-Za-z])")
_UPRIGHT_COMMAND = re.compile(r"\\(?:operatorname|mathit|mathrm|mathnormal)\s*\{\s*"
                              r"(\\[A-Za-z]+)\s*\}")
_COLON = re.compile(r"\\colon(?![A-Za-z])")
_PART_LABEL = re.compile(r"^\s*(?:\*\*|\\textbf\s*\{|\\text\s*\{|\\textrm\s*\{)?\s*"
                         r"\(?([a-h])\)[ \t]*[:.]?[ \t]*(?:\}|\*\*)?(?:\s|\\ |~)+(?=\S)")
_ASCII_SCRIPT_GROUP = re.compile(r"([\^_])\s*\(")
_ASCII_SIGNED_SCRIPT = re.compile(r"\^\s*-\s*([A-Za-z0-9])")
_OVER = re.compile(r"\\over(?![A-Za-z])")
_MATH_REGION = re.compile(r"\$\$.+?\$\$|(?<!\\)\$[^$]+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\]",
                          re.DOTALL)
_BARE_WORDS = ("sigmoid", "sigma", "delta", "psi", "exp", "log", "ln", "tanh", "cosh", "sinh",
               "sech", "partial", "cdot", "frac", "sum", "prime")
_BARE_WORD = re.compile(r"(?<![\\A-Za-z])(" + "|".join(_BARE_WORDS) + r")(?![A-Za-z])")
# relu(z), ReLU'(z), max(0, z) typed without a backslash: only right before their brackets (a
# word in a remark stays a word).
_BARE_CALL = re.compile(r"(?<![\\A-Za-z])(relu|ReLU|Relu|RELU|max)(?=\s*(?:\(|'|\\left|\\big))")
_INDICATOR = re.compile(r"\\(?:mathbf|boldsymbol|bm|pmb)\s*\{\s*1\s*\}"
                        r"(?=\s*(?:_|\[|\(|\\\{|\\left|\\[bB]igg?l?))")
_MAX = re.compile(r"(?:\\max(?![A-Za-z])|\\(?:operatorname|mathrm)\s*\{\s*max\s*\})\s*"
                  r"(\\left\s*|\\[bB]igg?l?\s*)?(\(|\[|\\\{)")
# h^{\odot 2}, h^{\circ 2}: the power entry by entry, which a power of a vector is already
_HADAMARD_POWER = re.compile(r"\^\s*\{\s*\\(?:odot|circ)\s*\{?\s*(\d+)\s*\}?\s*\}")
_CASES = re.compile(r"\\begin\s*\{(d?cases\*?)\}(.*?)\\end\s*\{\1\}", re.DOTALL)
_CASE_WORDS = re.compile(r"\s*(?:,|;|:|\\[,;:! ]|\\q?quad(?![A-Za-z])|(?:if|for|when)(?![A-Za-z])"
                         r"|\\(?:text|textrm|mbox|mathrm)\s*\{\s*(?:if|for|when|falls)?\s*\})")
_OTHERWISE = re.compile(r"\s*(?:\\(?:text|textrm|mbox|mathrm)\s*\{\s*(?:otherwise|else|sonst)"
                        r"\.?\s*\}"
                        r"|otherwise|else)\s*\.?\s*")
_CLOSING_SIZE = re.compile(r"\\(?:right|[bB]igg?r?)\s*$")
_SIGMA_SUM = re.compile(r"\\Sigma(?![A-Za-z])(?=\s*(?:_|\^|\\limits|\\nolimits))")
_NEWLINE = re.compile(r"\\(?:newline|cr)(?![A-Za-z])")
_ARRAY = re.compile(r"\\begin\s*\{array\}\s*\{[^{}]*\}|\\end\s*\{array\}")


_WORD_ARGUMENT = re.compile(r"\\[A-Za-z]+\s*\{\s*$")


def _braced_font(match: re.Match[str]) -> list:
    """``\\mathbb 1`` is ``\\mathbb{1}``; ``\\boldsymbol\\delta`` is ``\\boldsymbol{\\delta}``."""
    return ["\\" + match.group(1) + "{", match.span(2), "}"]


def _bare_word(match: re.Match[str]) -> list:
    """``sigma(x)`` is ``\\sigma(x)``; but ``\\operatorname{sigmoid}`` keeps its word."""
    if _WORD_ARGUMENT.search(match.string, max(0, match.start() - 20), match.start()):
        return [match.span()]
    if match.group(1) in ("sigmoid", "sech"):  # no such commands: an upright name
        return ["\\operatorname{", match.span(1), "}"]
    return ["\\", match.span(1)]


def _bare_call(match: re.Match[str]) -> list:
    """``relu(z)`` is ``\\operatorname{ReLU}(z)``, ``max(0, z)`` is ``\\max(0, z)``."""
    if _WORD_ARGUMENT.search(match.string, max(0, match.start() - 20), match.start()):
        return [match.span()]
    if match.group(1) == "max":
        return ["\\", match.span(1)]
    return ["\\operatorname{", match.span(1), "}"]


def _relu_max(source: Source) -> Source:
    """``\\max(0, z)`` and ``\\max\\{z, 0\\}`` are ``\\operatorname{ReLU}(z)``.

    Only a maximum with 0: ``\\max(a, b)`` in general is not a ReLU, and the scanner refuses it
    with a message. The argument keeps its place in the student's text.
    """
    at = 0
    while (match := _MAX.search(source.text, at)) is not None:
        text = source.text
        opening = match.end() - 1
        close = _matching_close(text, opening)
        if close is None:
            break
        inner_end = close
        if text[close - 1] == "\\":  # \} closes \{
            inner_end = close - 1
        sized = _CLOSING_SIZE.search(text, match.end(), inner_end)
        if sized:
            inner_end = sized.start()
        comma = _top_level_comma(text, match.end(), inner_end)
        if comma is None:
            at = match.end()
            continue
        first, second = text[match.end():comma].strip(), text[comma + 1:inner_end].strip()
        if first == "0":
            edits = [(match.start(), comma + 1, "\\operatorname{ReLU}("),
                     (inner_end, close + 1, ")")]
        elif second == "0":
            edits = [(match.start(), match.end(), "\\operatorname{ReLU}("),
                     (comma, close + 1, ")")]
        else:
            at = match.end()
            continue
        source = _edited(source, edits)
        at = 0
    return source


def _cases(source: Source) -> Source:
    """``\\begin{cases} A & \\text{if } k = l \\\\ B & \\text{otherwise} \\end{cases}``: the
    sum of each value times the indicator of its condition,
    ``(A)\\mathbb{1}[k = l] + (B)(1 - \\mathbb{1}[k = l])``. The values and conditions keep
    their places in the student's text. A row without ``&``, or more than one "otherwise", is
    refused (``AnswerError``).
    """
    at = 0
    while (match := _CASES.search(source.text, at)) is not None:
        text = source.text
        rows = []
        for start, end in _top_level_pieces(text, match.start(2), match.end(2), "\\\\"):
            if not text[start:end].strip():
                continue
            amp = _top_level_comma(text, start, end, "&")
            if amp is None:
                raise AnswerError("each row of a cases environment is a value, '&' and its "
                                  "condition, as in c_k(1 - c_k) & \\text{if } k = l",
                                  source.at(start), source.original)
            value_end = amp
            while value_end > start and text[value_end - 1] in " \t\n,;":
                value_end -= 1
            cond_start = amp + 1
            while (words := _CASE_WORDS.match(text, cond_start, end)) and words.end() > cond_start:
                cond_start = words.end()
            cond_end = end
            while cond_end > cond_start and text[cond_end - 1] in " \t\n,;.":
                cond_end -= 1
            otherwise = _OTHERWISE.fullmatch(text, amp + 1, end) is not None
            rows.append(((start, value_end), None if otherwise else (cond_start, cond_end)))
        if not rows or sum(cond is None for _, cond in rows) > 1:
            raise AnswerError("a cases environment has one condition per row and at most one "
                              "\"otherwise\"", source.at(match.start()), source.original)
        conditions = [cond for _, cond in rows if cond is not None]
        pieces: list = []
        for n, (value, cond) in enumerate(rows):
            pieces += [" + " if n else " ", "\\left(", value, "\\right)"]
            if cond is not None:
                pieces += ["\\mathbb{1}\\left[", cond, "\\right]"]
            else:  # otherwise: none of the other conditions holds
                pieces.append("\\left(1")
                for other in conditions:
                    pieces += [" - \\mathbb{1}\\left[", other, "\\right]"]
                pieces.append("\\right)")
        pieces.append(" ")
        out = _Builder(source)
        out.copy(0, match.start())
        for piece in pieces:
            if isinstance(piece, str):
                out.emit(piece, match.start())
            else:
                out.copy(*piece)
        out.copy(match.end(), len(text))
        source = out.done()
    return source


def _top_level_pieces(text: str, start: int, end: int, separator: str) -> list[tuple[int, int]]:
    """The spans of ``text[start:end]`` between top-level ``separator``s."""
    pieces, depth, n, begin = [], 0, start, start
    while n < end:
        if text.startswith(separator, n) and depth == 0:
            pieces.append((begin, n))
            n += len(separator)
            begin = n
            continue
        if text[n] == "\\":
            n += 2
            continue
        if text[n] in "([{":
            depth += 1
        elif text[n] in ")]}":
            depth -= 1
        n += 1
    pieces.append((begin, end))
    return pieces


def _matching_close(text: str, at: int) -> int | None:
    """The offset of the bracket closing the one at ``at`` (any of ( [ {)."""
    depth = 0
    for n in range(at, len(text)):
        if text[n] in "([{":
            depth += 1
        elif text[n] in ")]}":
            depth -= 1
            if depth == 0:
                return n
    return None


def _top_level_comma(text: str, start: int, end: int, comma: str = ",") -> int | None:
    depth = 0
    for n in range(start, end):
        if text[n] in "([{":
            depth += 1
        elif text[n] in ")]}":
            depth -= 1
        elif text[n] == comma and depth == 0 and (n == 0 or text[n - 1] != "\\"):
            return n
    return None


def _primes(match: re.Match[str]) -> str:
    """``g^{\\prime}``, ``k^\\prime``, ``g^{''}``: primes written as a superscript."""
    inner = match.group(1)
    if inner is None:
        return "'"
    return "'" * (inner.count("\\prime") + inner.count("'"))


def _backtick(match: re.Match[str]) -> str:
    """A backtick right after a letter and before '(' is a prime (g`(x)); else it is markup."""
    text, at = match.string, match.start()
    before = text[at - 1] if at else ""
    after = text[at + 1:at + 2]
    return "'" if (before.isalpha() or before == "}") and after == "(" else " "


def normalise(text: str) -> Source:
    """The student's text as LaTeX the reader knows, mapped back to the original."""
    source = _unicode(Source.of(text))
    source = substitute(source, _FENCE, lambda m: " ")
    source = substitute(source, _BACKTICK, _backtick)
    source = substitute(source, _COMMENT, lambda m: " ")
    source = _prose_outside_math(source)
    source = substitute(source, _PART_LABEL, lambda m: " ")
    source = substitute(source, _ESCAPES, lambda m: [(m.start(1), m.end(1))])
    source = substitute(source, _BARE_WORD, _bare_word)
    source = substitute(source, _BARE_CALL, _bare_call)
    source = substitute(source, _INDICATOR, lambda m: "\\mathbb{1}")
    source = substitute(source, _SIGMA_SUM, lambda m: "\\sum")
    source = substitute(source, _NEWLINE, lambda m: "\\\\ ")
    source = substitute(source, _ARRAY, lambda m: " ")
    source = substitute(source, _COLOR, lambda m: " ")
    source = substitute(source, _END_MARKS, lambda m: " ")
    source = substitute(source, _UPRIGHT_COMMAND, lambda m: [m.span(1), " "])
    source = substitute(source, _COLON, lambda m: ":")
    source = substitute(source, _UNBRACED_FONT, _braced_font)
    source = _drop_annotations(source)
    source = _cases(source)
    source = _ascii_scripts(source)
    source = _over(source)
    source = _relu_max(source)
    source = substitute(source, _ELL, lambda m: "l ")
    source = substitute(source, _HADAMARD_POWER, lambda m: ["^{", m.span(1), "}"])
    source = substitute(source, _PRIMES, _primes)
    source = substitute(source, _DOT, _dot)
    source = substitute(source, _ENVIRONMENT, lambda m: " ")
    source = substitute(source, _DELIMITERS,
                        lambda m: [m.span()] if m.group() == "\\\\" else " ")
    source = substitute(source, _LABELS, lambda m: " ")
    source = substitute(source, _ALIGNMENT, lambda m: " ")
    for pattern in (_SET_RANGE, _BRACKET_RANGE, _BOUNDS_RANGE, _LIST_RANGE):
        source = substitute(source, pattern, _sum_range)
    return source


def _drop_annotations(source: Source) -> Source:
    """``\\underbrace{X}_{\\text{...}}`` is X; ``\\textcolor{red}{X}`` is X."""
    while (match := _ANNOTATED.search(source.text)) is not None:
        text = source.text
        close = _matching_brace(text, match.end())
        if close is None:
            break
        end = close + 1
        if match.group().startswith(("\\underbrace", "\\overbrace")):
            script = re.match(r"\s*[_^]\s*", text[end:])
            if script:
                after = end + script.end()
                if after < len(text) and text[after] == "{":
                    closing = _matching_brace(text, after)
                    end = closing + 1 if closing is not None else end
                elif after < len(text):
                    end = after + 1
        inner = text[match.end() + 1:close]
        command = match.group().split("{")[0].strip()
        # a framed equation stays an equation; \mathrel{:=} is its relation
        brace = "" if _top_level_equals(inner) or command.startswith(_UNWRAPPED) else "{}"
        start = match.start()
        if "phantom" in command:  # "\\ &\hphantom{=} ..." goes on with the line before
            before = re.search(r"\\\\[\s&]*$", text[:start])
            start = before.start() if before else start
        if command.startswith(_STRUCK) or "phantom" in command:
            source = _edited(source, [(start, end, " ")])  # crossed out, or only space
        else:  # X stays one group, as it was
            source = _edited(source, [(start, match.end() + 1, " " + brace[:1]),
                                      (close, end, brace[1:] + " ")])
    return source


def _edited(source: Source, edits: list[tuple[int, int, str]]) -> Source:
    """``source`` with each span ``start:end`` replaced by new text, mapped to its start."""
    out = _Builder(source)
    at = 0
    for start, end, text in sorted(edits):
        out.copy(at, start)
        out.emit(text, start)
        at = end
    out.copy(at, len(source.text))
    return out.done()


def _prose_outside_math(source: Source) -> Source:
    """``**Answer:** $\\delta_k b_j$ where $...$``: words around math become ``\\text{}``.

    Only when the answer has math delimiters and words outside them; the layout then reads
    the words as it reads \\text (a remark, a conclusion, an alternative turned down).
    """
    text = source.text
    regions = list(_MATH_REGION.finditer(text))
    if not regions:
        return source
    gaps, at = [], 0
    for region in regions:
        gaps.append((at, region.start()))
        at = region.end()
    gaps.append((at, len(text)))
    if not any(re.search(r"[A-Za-z]{2,}", text[a:b]) for a, b in gaps):
        return source
    out = _Builder(source)
    for n, (a, b) in enumerate(gaps):
        prose = text[a:b]
        if re.search(r"[A-Za-z]{2,}", prose):
            out.emit(" \\text{", a)
            cleaned = re.sub(r"[{}\\$*]", " ", prose)
            out.chars.append(cleaned)
            out.origin.extend(source.origin[a:b])
            out.emit("} ", max(a, b - 1))
        else:
            out.copy(a, b)
        if n < len(regions):
            out.copy(*regions[n].span())
    return out.done()


def _ascii_scripts(source: Source) -> Source:
    """``e^(-x)`` and ``e^-x``, as typed without LaTeX, are ``e^{-x}``."""
    source = substitute(source, _ASCII_SIGNED_SCRIPT, lambda m: ["^{-", m.span(1), "}"])
    while (match := _ASCII_SCRIPT_GROUP.search(source.text)) is not None:
        text = source.text
        open_at = match.end() - 1
        close = _matching_paren(text, open_at)
        if close is None:
            break
        source = _edited(source, [(open_at, open_at + 1, "{"), (close, close + 1, "}")])
    return source


def _matching_paren(text: str, at: int) -> int | None:
    depth = 0
    for n in range(at, len(text)):
        if text[n] == "(":
            depth += 1
        elif text[n] == ")":
            depth -= 1
            if depth == 0:
                return n
    return None


def _over(source: Source) -> Source:
    """``{A \\over B}`` is ``\\frac{A}{B}``."""
    while (match := _OVER.search(source.text)) is not None:
        text = source.text
        open_at = _enclosing_brace(text, match.start())
        close = _matching_brace(text, open_at) if open_at is not None else None
        if open_at is None or close is None:
            break
        source = _edited(source, [(open_at, open_at + 1, "\\frac{"),
                                  (match.start(), match.end(), "}{"), (close, close + 1, "}")])
    return source


def _enclosing_brace(text: str, at: int) -> int | None:
    """The offset of the innermost '{' still open at ``at``."""
    depth = 0
    for n in range(at - 1, -1, -1):
        if text[n] == "}" and (n == 0 or text[n - 1] != "\\"):
            depth += 1
        elif text[n] == "{" and (n == 0 or text[n - 1] != "\\"):
            if depth == 0:
                return n
            depth -= 1
    return None


def _matching_brace(text: str, at: int) -> int | None:
    """The offset of the '}' closing the '{' at ``at`` (None when it is not closed)."""
    if at >= len(text) or text[at] != "{":
        return None
    depth = 0
    n = at
    while n < len(text):
        ch = text[n]
        if ch == "\\":
            n += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return n
        n += 1
    return None


def _top_level_equals(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "=" and depth == 0:
            return True
    return False
