r"""Split an answer into the statements it makes, as a TA reads them.

An answer box holds more than one expression: ``\delta_k = (c_k - t_k) g'(h_k)``, a chain
``A = B = C``, an answer followed by ``\quad \text{where } b_j = g(z_j)``, two parts answered
together (``\frac{\partial E}{\partial f_k} = \delta_k, \quad \frac{\partial E}{\partial
w_{jk}} = \delta_k b_j``), remarks in words or in brackets. ``statements`` cuts the
(normalised) answer at its separators and gives each statement its sides and its role:

- separators, at the top level only (not inside braces or brackets): a line break ``\\``
  (unless the next line goes on with ``=``, ``+``, ``-`` or ``\cdot``, or the line before ends
  with one), ``,``, ``;``, ``:``, a sentence's full stop, ``\quad``/``\qquad``, words
  (``\text{...}``, ``\mathrm{for}``), ``\forall``, and the arrows ``\Rightarrow``/``\implies``/
  ``\therefore``;
- the role of a statement (``MAIN``, ``SIDE`` or ``REJECTED``) comes from the words before
  it: after "where", "since", "for", "with", "by", "using", "(chain rule" and other remarks it
  is a **side claim** (checked, never graded as the answer); after "so", "hence", "thus",
  "therefore", "answer" or an arrow it is the **main** line again; after "not", "rather than",
  "instead of" it is **rejected** (an alternative the student turned down, read no further);
  "and", "or", "but" keep the role; other words keep it before the answer starts ("The gradient
  is ...") and make a side remark after it ("..., the product of \delta_k and b_j");
- a bracketed remark that ends a statement is a side claim: ``\quad (k = 1, \dots, K)``,
  ``\; (\text{chain rule})``, ``(\partial h_k/\partial f_k = 1)`` (a bracket holding a
  relation, a comma, words or ``\forall``, not a function's argument); an equation number
  ``\quad (1)`` is dropped;
- sides are split at ``=``, ``:=``, ``=:``, ``\equiv``, ``\triangleq``, ``\coloneqq``,
  ``\doteq``, ``\approx``, ``\leftarrow``, ``\stackrel{..}{=}`` and ``\overset{..}{=}`` (and
  ``\text{ is }``); any other relation (``<``, ``\le``, ``\neq``, ``\in``, ...) makes a statement
  that is no equation, and one that follows an equation (``= \delta_k b_j \le 1``) is a side
  remark of it.

Nothing is read as mathematics here; ``grader.claims`` decides which statement answers the part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import functions
from .notation import Source

MAIN, SIDE, REJECTED = "main", "side", "rejected"

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.DOTALL)
EQUALITIES = frozenset({"=", r"\equiv", r"\triangleq", r"\coloneqq", r"\eqqcolon", r"\doteq",
                        r"\approx", r"\eqdef", r"\defeq", r"\coloneq", r"\simeq",
                        r"\leftarrow", r"\gets", r"\longleftarrow"})
OTHER_RELATIONS = frozenset({"<", ">", r"\le", r"\leq", r"\ge", r"\geq", r"\neq", r"\ne",
                             r"\propto", r"\sim", r"\lt", r"\gt", r"\leqslant", r"\geqslant",
                             r"\ll", r"\gg", r"\in", r"\subset", r"\to", r"\notin"})
TEXT_COMMANDS = frozenset({r"\text", r"\textrm", r"\textit", r"\textbf", r"\textnormal",
                           r"\mbox", r"\textsf", r"\texttt", r"\intertext", r"\shortintertext"})
WORD_COMMANDS = frozenset({r"\mathrm", r"\mathit", r"\mathsf", r"\mathnormal"})
SPACERS = frozenset({r"\quad", r"\qquad", r"\hfill", r"\enspace", r"\enskip"})
SPACER_WITH_ARGUMENT = frozenset({r"\hspace", r"\vspace", r"\mspace"})
CONCLUSIONS = frozenset({r"\Rightarrow", r"\implies", r"\Longrightarrow", r"\therefore",
                         r"\iff", r"\Leftrightarrow", r"\Longleftrightarrow", r"\rightarrow",
                         r"\longrightarrow", r"\leadsto"})
OPENERS = {"(": ")", "[": "]", "{": "}", r"\{": r"\}", r"\lbrace": r"\rbrace",
           r"\lbrack": r"\rbrack", r"\langle": r"\rangle", r"\lvert": r"\rvert"}
CLOSERS = frozenset(OPENERS.values())
# What an indicator's condition may compare with: [z > 0], [z \ge 0], [k = l], [k \ne l].
CONDITION_RELATIONS = frozenset({"=", ">", "<", r"\gt", r"\lt", r"\ge", r"\geq", r"\geqslant",
                                 r"\le", r"\leq", r"\leqslant", r"\ne", r"\neq"})
_AFTER_INDICATOR = re.compile(r"\\mathbb\s*\{\s*[1I]\s*\}\s*(?:\\left|\\[bB]igg?l?)?\s*\\?$")
SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lrm]?)$")
_OPEN_SUM = re.compile(r"\\sum\s*(?:\\limits\s*)?(?:_\s*(?:\{[^{}]*\}|\w))?\s*"
                       r"(?:\^\s*(?:\{[^{}]*\}|\w))?\s*$")
BLANK = frozenset({r"\,", r"\;", r"\:", r"\!", r"\ ", "~", r"\displaystyle", r"\textstyle"})
# Words that bring the student's main line back (a conclusion); words that make what follows a
# side claim; words that turn an alternative down; words that keep the role.
CONCLUSION_WORDS = frozenset({"so", "hence", "thus", "therefore", "then", "i.e", "ie",
                              "gives", "giving", "yields", "get", "obtain", "finally",
                              "answer", "result", "conclude", "simplifies", "becomes",
                              "overall", "altogether", "which", "equivalently", "simplify",
                              "simplified", "final", "correction", "corrected", "actually",
                              "oops", "fixed", "instead:"})
SIDE_WORDS = frozenset({"where", "since", "because", "for", "with", "as", "by", "using", "if",
                        "when", "given", "note", "recall", "here", "assuming", "whereas",
                        "while", "provided", "via", "from", "definition", "def", "chain",
                        "rule", "forall", "all", "each", "every", "any", "at", "max", "min",
                        "cf", "see", "denotes", "denote", "let", "apply", "applying", "use",
                        "used", "remember", "recalling"})
REJECT_WORDS = frozenset({"not", "instead", "rather", "except", "unlike", "wrong",
                          "incorrect", "nor"})
NEUTRAL_WORDS = frozenset({"and", "or", "but", "&", ""})
# Words that offer another value for the same thing: "X or Y", "X, but maybe Y".
HEDGE_WORDS = frozenset({"or", "maybe", "perhaps", "possibly", "either", "alternatively",
                         "otherwise", "but"})
# Function names written as words: \mathrm{sigmoid}(x), \text{step}(z) are mathematics, not
# remarks: every word of the function table (grader.functions), and a few more that are no
# remark either.
FUNCTION_WORDS = frozenset({w.lower() for f in functions.TABLE for w in f.words}
                           | {"csch", "coth", "tan", "softplus", "max", "min", "sgn", "sign",
                              "d", "e"})


@dataclass(frozen=True)
class Statement:
    """One statement of an answer: its sides (the expressions joined by equalities).

    ``role`` is ``MAIN``, ``SIDE`` (brought in by a remark: checked, never graded as the
    answer) or ``REJECTED`` (turned down: "not ..."). ``relation`` is the relation that is not
    an equality, when there is one (``\\le``): such a statement is no equation and claims
    nothing about a value.
    """

    sides: tuple[Source, ...]
    role: str = MAIN
    relation: str = ""
    whole: Source | None = None
    hedged: bool = False   # brought in by "or", "maybe", "but": another value on offer

    @property
    def side_claim(self) -> bool:
        return self.role == SIDE

    @property
    def is_equation(self) -> bool:
        return len(self.sides) > 1 and not self.relation


@dataclass
class _Segment:
    start: int
    role: str
    cuts: list[tuple[int, int]]   # (start, end) of each relation symbol at its top level
    relation: str = ""
    hedged: bool = False


class _Splitter:
    def __init__(self, source: Source):
        self.source = source
        self.text = source.text
        self.tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(source.text)]
        self.statements: list[Statement] = []

    # -------------------------------------------------------------- helpers
    def significant(self, i: int, step: int, skip: frozenset = BLANK) -> str:
        """The next (step=1) or previous (step=-1) token that is not blank or spacing."""
        while 0 <= i < len(self.tokens):
            token = self.tokens[i][0]
            if not token.isspace() and token not in skip:
                return token
            i += step
        return ""

    def group_end(self, i: int) -> int:
        """Index of the token after the group opened at token ``i`` (brace or bracket)."""
        depth = 0
        for j in range(i, len(self.tokens)):
            if self.opens(j):
                depth += 1
            elif self.closes(j):
                depth -= 1
                if depth == 0:
                    return j + 1
        return len(self.tokens)

    def opens(self, j: int) -> bool:
        token = self.tokens[j][0]
        if token in OPENERS:
            return True
        return token == r"\left" and self.significant(j + 1, 1) in (".", "|", r"\vert",
                                                                      r"\|", r"\Vert")

    def closes(self, j: int) -> bool:
        token = self.tokens[j][0]
        if token in CLOSERS:
            return True
        return token == r"\right" and self.significant(j + 1, 1) in (".", "|", r"\vert",
                                                                       r"\|", r"\Vert")

    def argument(self, i: int) -> tuple[str, int]:
        """The braced argument starting at token ``i`` (after blanks): (content, next index)."""
        while i < len(self.tokens) and (self.tokens[i][0].isspace() or self.tokens[i][0] == "*"):
            i += 1
        if i >= len(self.tokens) or self.tokens[i][0] != "{":
            return "", i
        end = self.group_end(i)
        start = self.tokens[i][1] + 1
        stop = self.tokens[end - 1][1] if end - 1 < len(self.tokens) else len(self.text)
        return self.text[start:stop], end

    def position(self, i: int) -> int:
        return self.tokens[i][1] if i < len(self.tokens) else len(self.text)

    # -------------------------------------------------------------- the pass
    def split(self, start: int, stop: int, role: str, floor: str = MAIN) -> None:
        """Cut tokens ``start:stop`` into statements (recursing into bracketed remarks).

        ``floor`` is the most a statement here can be: inside a bracketed remark, "i.e. X"
        is still a remark.
        """
        segment = _Segment(self.position(start), role, [])
        depth = 0
        i = start
        while i < stop:
            token, at = self.tokens[i]
            if self.opens(i):
                if depth == 0:
                    end = self.group_end(i)
                    remark = self.bracket_remark(i, end, stop, segment, at)
                    if remark is not None:
                        self.finish(segment, at)
                        if remark:  # an equation number is dropped, a remark kept as a side
                            inner = SIDE if role != REJECTED else role
                            self.split(i + 1, end - 1, inner, floor=inner)
                        i = end
                        segment = _Segment(self.position(i), role, [])
                        continue
                depth += 1
                i += 1
                continue
            if self.closes(i):
                depth = max(0, depth - 1)
                i += 1
                continue
            if depth > 0:
                i += 1
                continue
            kind, next_i, new_role = self.separator(i, role, segment)
            if kind == "relation":
                segment.cuts.append((at, self.position(next_i)))
                i = next_i
                continue
            if kind == "other-relation":
                if segment.cuts and not segment.relation:
                    # "= \delta_k b_j \le 1": the equation ends; what follows is its remark
                    self.finish(segment, at)
                    segment = _Segment(at, SIDE if role != REJECTED else role, [])
                segment.relation = segment.relation or token
                segment.cuts.append((at, self.position(next_i)))
                i = next_i
                continue
            if kind == "separator":
                self.finish(segment, at)
                role = new_role if floor == MAIN or new_role == REJECTED else floor
                hedged = self.hedges(i, next_i)
                i = next_i
                segment = _Segment(self.position(i), role, [], hedged=hedged)
                continue
            i += 1
        self.finish(segment, self.position(stop))

    def hedges(self, i: int, end: int) -> bool:
        """Whether the separator tokens ``i:end`` are words that offer another value."""
        words = _words("".join(t for t, _ in self.tokens[i:end]))
        return any(w in HEDGE_WORDS for w in words)

    def statements_or(self, segment: _Segment, at: int) -> bool:
        """Whether anything was stated before ``at`` (in this segment or before it)."""
        return bool(self.statements) or self.has_content(segment, at)

    def has_content(self, segment: _Segment, at: int) -> bool:
        return bool(_strip(self.text[segment.start:at]))

    def bracket_remark(self, i: int, end: int, stop: int, segment: _Segment,
                       at: int) -> bool | None:
        """Whether the bracket at token ``i`` is a remark (True), an equation number (False),
        or part of the mathematics (None).

        It must end its statement (only a separator after it). Alone, it is a remark when it
        holds a relation, a comma, words or ``\\forall``; after mathematics (``\\delta_k b_j \\;
        (\\text{chain rule})``) only when it is not a function's argument.
        """
        if end > stop or self.tokens[i][0] not in ("(", "["):
            return None
        after = self.significant(end, 1) if end < stop else ""
        if after and after not in (",", ";", ".", r"\quad", r"\qquad", r"\\") \
                and after not in TEXT_COMMANDS:
            return None
        inside = "".join(t for t, _ in self.tokens[i + 1:end - 1])
        if self.is_condition(i, end):
            return None  # [z > 0], \mathbb{1}(k = l): an indicator, not a remark
        if re.fullmatch(r"\s*\d+(?:\.\d+)*\s*", inside) and self.statements_or(segment, at) \
                and self.significant(i - 1, -1, frozenset()) in SPACERS:
            return False  # an equation number: \delta_k b_j \quad (1)
        depth, holds, relates = 0, False, False
        for j in range(i + 1, end - 1):
            token = self.tokens[j][0]
            if self.opens(j):
                depth += 1
            elif self.closes(j):
                depth -= 1
            elif depth == 0 and (token in ("=", ",", ";", r"\forall") or token in EQUALITIES
                                 or token in TEXT_COMMANDS or token in OTHER_RELATIONS):
                holds = True
                relates = relates or token == "=" or token in EQUALITIES \
                    or token in OTHER_RELATIONS
        if not holds:
            return None
        if not self.has_content(segment, at):
            return True
        first = self.significant(i + 1, 1)
        spaced = self.significant(i - 1, -1, frozenset()) in BLANK | SPACERS
        if not relates and first not in TEXT_COMMANDS and first != r"\forall" and not spaced:
            return None  # \delta_k (b_j \text{ hidden}): mathematics with a word in it
        before = self.significant(i - 1, -1)
        if re.fullmatch(r"[A-Za-z]|\\[A-Za-z]+|'|\}", before) and not re.fullmatch(
                r"\\(?:quad|qquad|,|;|:|!| )", before):
            # right after a name: a function's argument, g(x, y), unless there was space
            spaced = self.tokens[i - 1][0].isspace() or self.tokens[i - 1][0] in BLANK
            if not spaced and before not in ("}",):
                return None
        return True

    def is_condition(self, i: int, end: int) -> bool:
        """Whether the bracket at token ``i`` is an indicator's condition: ``[z > 0]``,
        ``[k = l]`` (Iverson's bracket, unless a spacer such as \\quad sets it apart), or any
        bracket right after ``\\mathbb{1}``. It holds one comparison, or an equality of two
        index letters, and nothing else (no comma, no words)."""
        after_indicator = _AFTER_INDICATOR.search(self.text, 0, self.tokens[i][1]) is not None
        if not after_indicator and (self.tokens[i][0] != "[" or self.significant(
                i - 1, -1, frozenset()) in SPACERS):
            return False
        relations, depth = [], 0
        for j in range(i + 1, end - 1):
            token = self.tokens[j][0]
            if self.opens(j):
                depth += 1
            elif self.closes(j):
                depth -= 1
            elif depth == 0 and token in CONDITION_RELATIONS:
                relations.append(j)
            elif depth == 0 and (token in (",", ";", r"\forall") or token in TEXT_COMMANDS
                                 or token in EQUALITIES or token in OTHER_RELATIONS):
                return False
        if len(relations) != 1:
            return False
        if self.tokens[relations[0]][0] != "=":
            return True
        left = "".join(t for t, _ in self.tokens[i + 1:relations[0]])
        right = "".join(t for t, _ in self.tokens[relations[0] + 1:end - 1])
        return all(re.fullmatch(r"\s*[a-z]'*\s*", side) for side in (left, right))

    def separator(self, i: int, role: str, segment: _Segment) -> tuple[str, int, str]:
        """What token ``i`` does at the top level: ("relation"|"other-relation"|"separator"|"",
        the index after it, the role of what follows)."""
        token = self.tokens[i][0]
        if token == ":" and self.significant(i + 1, 1) == "=":
            return "relation", self.skip_to(i + 1, "=") + 1, role
        if token == "=":
            nxt = i + 1
            if self.significant(nxt, 1) == ":":
                nxt = self.skip_to(nxt, ":") + 1
            return "relation", nxt, role
        if token in EQUALITIES:
            return "relation", i + 1, role
        if token in (r"\stackrel", r"\overset"):
            _, past_first = self.argument(i + 1)
            second, past_second = self.argument(past_first)
            if second.strip() == "=":
                return "relation", past_second, role
            return "", i + 1, role
        if token in OTHER_RELATIONS:
            return "other-relation", i + 1, role
        wide = BLANK | SPACERS
        if token == r"\\":
            before = self.significant(i - 1, -1, wide)
            after = self.significant(i + 1, 1, wide)
            if _dangling(before) or _continues(after) or self.inside_an_operator(i):
                return "", i + 1, role
            return "separator", _after_break_option(self, i + 1), MAIN if role != REJECTED \
                else role
        if token in (",", ";") or (token == "." and self.is_full_stop(i)):
            before, after = self.significant(i - 1, -1), self.significant(i + 1, 1)
            if token == "," and (_dangling(before) or after in ("=",) or after in EQUALITIES):
                return "", i + 1, role
            return "separator", i + 1, role
        if token in SPACERS:
            before = self.significant(i - 1, -1, BLANK | {r"\\"})  # "\cdot \\ &\quad g'"
            after = self.significant(i + 1, 1)
            if _dangling(before) or _continues(after) or after in ("=",) \
                    or after in EQUALITIES:
                return "", i + 1, role
            return "separator", i + 1, role
        if token in SPACER_WITH_ARGUMENT:
            _, past = self.argument(i + 1)
            return "separator", past, role
        if token == ":" and not _dangling(self.significant(i - 1, -1)):
            return "separator", i + 1, role  # "Answer: ...", "\delta_k:" before the value
        if token in CONCLUSIONS:
            return "separator", i + 1, MAIN
        if token == r"\forall":
            return "separator", i + 1, SIDE if role != REJECTED else role
        if token in TEXT_COMMANDS or token in WORD_COMMANDS:
            content, past = self.argument(i + 1)
            if _is_relation_word(content):
                return "relation", past, role
            if content.strip().lower() == "times":  # \text{times}: a product, read as such
                return "", i + 1, role
            if token in WORD_COMMANDS or _is_math_word(content):
                if not _is_remark_word(content):
                    return "", i + 1, role
            started = bool(self.statements) or self.has_content(segment, self.position(i))
            return "separator", past, _role_after(content, role, started)
        return "", i + 1, role

    def inside_an_operator(self, i: int) -> bool:
        """``\\sum_k \\\\ \\delta_k``: a line break right after a sum and its limits."""
        return bool(_OPEN_SUM.search(self.text, 0, self.tokens[i][1]))

    def skip_to(self, i: int, wanted: str) -> int:
        while i < len(self.tokens) and self.tokens[i][0] != wanted:
            i += 1
        return i

    def is_full_stop(self, i: int) -> bool:
        """A '.' that ends a sentence: not a decimal point, not an ellipsis, not \\left."""
        before = self.tokens[i - 1][0] if i else ""
        after = self.tokens[i + 1][0] if i + 1 < len(self.tokens) else ""
        if before.isdigit() and after.isdigit():
            return False
        if before == "." or after == "." or SIZING.match(self.significant(i - 1, -1)):
            return False
        return True

    def finish(self, segment: _Segment, end: int) -> None:
        """Record the segment ``segment.start:end`` as a statement (when it holds anything)."""
        if not _strip(self.text[segment.start:end]):
            return
        bounds = [segment.start]
        for cut_start, cut_end in segment.cuts:
            bounds += [cut_start, cut_end]
        bounds.append(end)
        sides = [self.source.slice(bounds[n], bounds[n + 1]) for n in range(0, len(bounds), 2)]
        if sides and not _strip(sides[0].text) and len(sides) > 1:
            sides = sides[1:]  # "= b" continuing a line: no left-hand side
        self.statements.append(Statement(tuple(sides), segment.role, segment.relation,
                                         self.source.slice(segment.start, end),
                                         segment.hedged))


def _after_break_option(splitter: _Splitter, i: int) -> int:
    """Skip the ``[2pt]`` after a line break."""
    j = i
    while j < len(splitter.tokens) and splitter.tokens[j][0].isspace():
        j += 1
    if j < len(splitter.tokens) and splitter.tokens[j][0] == "[":
        end = splitter.group_end(j)
        inside = "".join(t for t, _ in splitter.tokens[j + 1:end - 1])
        if re.fullmatch(r"\s*-?[\d.]+\s*(pt|em|ex|mm|cm|in|bp|mu|pc)\s*", inside):
            return end
    return i


def _dangling(token: str) -> bool:
    """A line or a list item that cannot end here: it ends with a relation or an operator."""
    return token in ("=", "+", "-", r"\cdot", r"\times", "*", "/", r"\pm", ":", "(", "[",
                     "{") or token in EQUALITIES


def _continues(token: str) -> bool:
    """A line that goes on from the one before: it starts with a relation or + / -."""
    return token in ("=", "+", "-", r"\cdot", r"\times", r"\pm", ":", "*") \
        or token in EQUALITIES


def _strip(text: str) -> str:
    """The text without spacing, sizing and punctuation: empty when nothing is stated."""
    text = re.sub(r"\\(?:[,;:! ]|quad|qquad|displaystyle|textstyle|left\.?|right\.?)"
                  r"(?![A-Za-z])|[\s~.,;]", "", text)
    return text


def _words(content: str) -> list[str]:
    return [w.strip(".,:;()") for w in re.findall(r"[A-Za-z][A-Za-z.']*", content.lower())]


def _is_math_word(content: str) -> bool:
    """``\\text{d}``, ``\\mathrm{sigmoid}``: mathematics written upright, not a remark."""
    stripped = content.strip()
    return stripped.lower() in FUNCTION_WORDS or bool(re.fullmatch(r"[A-Za-z]", stripped))


def _is_remark_word(content: str) -> bool:
    stripped = content.strip().lower()
    if stripped in FUNCTION_WORDS or re.fullmatch(r"[a-z]", stripped):
        return False
    return bool(re.search(r"[A-Za-z]{2,}", content)) or not stripped


def _role_after(content: str, role: str, started: bool) -> str:
    """The role of what follows these words (see the module's docstring)."""
    words = _words(content)
    if not words or all(w in NEUTRAL_WORDS for w in words):
        return role
    if any(w in REJECT_WORDS for w in words):
        return REJECTED
    if any(w in CONCLUSION_WORDS for w in words):
        return MAIN
    if content.lstrip().startswith("(") or any(w in SIDE_WORDS for w in words):
        return SIDE
    if role == REJECTED:
        return role
    return SIDE if started else role  # a preamble keeps the role, a comment after is a remark


def _is_relation_word(content: str) -> bool:
    """``\\text{ is }``, ``\\text{equals}``: words that state an equality."""
    return bool(re.fullmatch(r"\s*(?:is|equals|is equal to|is given by|=)\s*", content.lower()))


def statements(source: Source) -> list[Statement]:
    """The statements of a normalised answer, in order."""
    splitter = _Splitter(source)
    splitter.split(0, len(splitter.tokens), MAIN)
    return splitter.statements
