"""Tests for grader.documents: reading submissions into per-part answer text."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from grader.documents import (
    MAX_DOCUMENT_BYTES,
    ExtractedAnswer,
    Submission,
    parse_answers_json,
    parse_document,
    read_submission,
)
from grader.errors import GraderError, SubmissionError

DATA = Path(__file__).parent / "data" / "documents"
PARTS = ("a", "b", "c", "d", "e", "f", "g")


def _seed_prompts() -> dict[str, str]:
    """The seed's question texts, one line each after the part marker."""
    text = (DATA / "seed.md").read_text(encoding="utf-8")
    prompts = dict(re.findall(r"^\(([a-g])\) (.*)$", text, flags=re.MULTILINE))
    assert sorted(prompts) == list(PARTS)
    return prompts


SEED_PROMPTS = _seed_prompts()


def latex_of(text: str, part: str = "c", fmt: str = "md", **kwargs) -> str | None:
    """The latex found for one part of a small document, or None when it is absent."""
    answer = parse_document(text, PARTS, fmt=fmt, **kwargs).answers.get(part)
    return None if answer is None else answer.latex


# --------------------------------------------------------------------------------------------
# The seed submission

SEED_EXPECTED = {
    "a": (
        16,
        r"g'(x) = \frac{d}{dx}\sigma(x) = \frac{d}{dx}(1 + e^{-x})^{-1}"
        r" = -1(1 + e^{-x})^{-2}e^{-x}(-1) = \frac{e^{-x}}{(1 + e^{-x})^{-2}}"
        r" = \frac{1}{1 + e^{-x}} \frac{e^{-x}}{1 + e^{-x}}"
        r" = \frac{1}{1 + e^{-x}} \frac{1 + e^{-x} - 1}{1 + e^{-x}}"
        r" = \frac{1}{1 + e^{-x}} \left(1 - \frac{1}{1 + e^{-x}}\right)"
        r" = \sigma(x) (1 - \sigma(x)) = \sigma(x) - \sigma(x)^2",
    ),
    "b": (
        38,
        r"\delta_k = \frac{\partial E}{\partial h_k}"
        r" = \frac{\partial}{\partial h_k} \frac{1}{2} \sum_k (c_k - t_k)^2"
        r" = \frac{\partial}{\partial h_k} \frac{1}{2} (c_k - t_k)^2"
        r" = (c_k - t_k) \frac{\partial}{\partial h_k} c_k"
        r" = (c_k - t_k) \frac{\partial}{\partial h_k} g(h_k) = (c_k - t_k) g'(h_k)",
    ),
    "c": (
        54,
        r"\frac{\partial E}{\partial w_{jk}} = \frac{\partial E}{\partial h_k}"
        r" \frac{\partial h_k}{\partial w_{jk}} = \delta_k \frac{\partial h_k}{\partial w_{jk}}"
        r" = \delta_k \frac{\partial}{\partial w_{jk}} \sum_j b_j w_{jk} + f_k"
        r" = \delta_k \frac{\partial}{\partial w_{jk}} b_j w_{jk} = \delta_k b_j",
    ),
    "d": (
        68,
        r"\frac{\partial E}{\partial f_k} = \frac{\partial E}{\partial h_k}"
        r" \frac{\partial h_k}{\partial f_k}"
        r" = \delta_k \frac{\partial}{\partial f_k} \sum_j b_j w_{jk} + f_k = \delta_k",
    ),
    "e": (
        74,
        r"b_j = g(z_j) \\ "
        r"\frac{\partial E}{\partial z_j} = \sum_k \frac{\partial E}{\partial h_k}"
        r" \sum_j \frac{\partial h_k}{\partial b_j} \frac{\partial b_j}{\partial z_j}"
        r" = \sum_k \delta_k \sum_j \frac{\partial h_k}{\partial b_j}"
        r" \frac{\partial b_j}{\partial z_j}"
        r" = \sum_k \delta_k \frac{\partial h_k}{\partial b_j} \frac{\partial b_j}{\partial z_j}"
        r" = \sum_k \delta_k w_{jk} g\prime(z_j) = g\prime(z_j) \sum_k \delta_k w_{jk}",
    ),
    "f": (
        84,
        r"\frac{\partial z_j}{\partial u_{ij}} = \frac{\partial}{\partial u_{ij}} "
        r"\left( e_j + \sum_i a_i u_{ij} \right) = a_i \\ "
        r"\frac{\partial E}{\partial u_{ij}} = \frac{\partial E}{\partial z_j}"
        r" \frac{\partial z_j}{\partial u_{ij}} = \psi_j a_i",
    ),
    "g": (
        95,
        r"\frac{\partial z_j}{\partial e_j} = \frac{\partial}{\partial e_j} "
        r"\left( e_j + \sum_i a_i u_{ij} \right) = 1 \\ "
        r"\frac{\partial E}{\partial e_j} = \frac{\partial E}{\partial z_j}"
        r" \frac{\partial z_j}{\partial e_j} = \psi_j",
    ),
}


@pytest.fixture(scope="module")
def seed() -> Submission:
    return read_submission(DATA / "seed.md", PARTS, SEED_PROMPTS)


def test_seed_has_every_part(seed: Submission) -> None:
    """All seven parts are found, in part order, with the file's stem and path."""
    assert list(seed.answers) == list(PARTS)
    assert seed.name == "seed"
    assert seed.source == str(DATA / "seed.md")


@pytest.mark.parametrize(
    ("part", "line", "latex"),
    [(part, *SEED_EXPECTED[part]) for part in PARTS],
    ids=[f"part-{part}" for part in PARTS],
)
def test_seed_final_chain(seed: Submission, part: str, line: int, latex: str) -> None:
    """Each part's answer is its last chain, joined, starting on the line of its lhs."""
    assert seed.answers[part] == ExtractedAnswer(part=part, latex=latex, line=line, boxed=False)


def test_seed_auxiliary_displays_come_before_the_answer(seed: Submission) -> None:
    """'Note that' displays of (e), (f), (g) are earlier chains, kept for the grader, which
    grades the chain about the asked quantity (grader.claims), not these."""
    assert seed.answers["e"].latex.endswith(r"= g\prime(z_j) \sum_k \delta_k w_{jk}")
    assert seed.answers["e"].latex.startswith(r"b_j = g(z_j) \\ ")
    assert seed.answers["f"].latex.index(r"\frac{\partial z_j}{\partial u_{ij}} =") \
        < seed.answers["f"].latex.index(r"\frac{\partial E}{\partial u_{ij}} =")


def test_seed_without_labels_reads_the_same_answers(seed: Submission) -> None:
    """With "Your answer:" deleted, prompts keep the question's math out of every answer."""
    text = (DATA / "seed.md").read_text(encoding="utf-8").replace("Your answer:", "")
    unlabelled = parse_document(text, PARTS, SEED_PROMPTS, name="seed")
    assert unlabelled.answers == seed.answers


def test_seed_questions_alone_have_no_answers() -> None:
    """The question text alone holds no answer: e.g. (b)'s delta_k definition is not one."""
    questions = "\n\n".join(f"({part}) {prompt}" for part, prompt in SEED_PROMPTS.items())
    assert parse_document(questions, PARTS, SEED_PROMPTS).answers == {}
    # Without prompts the question's own math would be read, which is what prompts prevent.
    assert latex_of(questions, "b").endswith(r"c_k \\ t_k \\ h_k")


# --------------------------------------------------------------------------------------------
# Our documents: .tex, markdown headings, plain text, question math


@pytest.mark.parametrize(
    ("part", "line", "latex"),
    [
        ("a", 13, r"g'(x) = \frac{d}{dx} \sigma(x) = \sigma(x) \left(1 - \sigma(x)\right)"),
        ("b", 24, r"\delta_k = \frac{\partial E}{\partial h_k} = (c_k - t_k) g'(h_k)"),
        ("c", 33, r"h_k = \sum_j b_j w_{jk} + f_k \\ "
                  r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j"),
        ("d", 39, r"\frac{\partial E}{\partial f_k} = \delta_k \cdot 1 \\ "
                  r"\frac{\partial E}{\partial f_k} = \delta_k"),
        ("e", 46, r"\psi_j = \sum_k \delta_k w_{jk} \cdot g'(z_j)"),
    ],
    ids=[
        "align-label-nonumber-period",
        "split-in-equation-tag-comma",
        "align-rows-are-separate-chains-comment-ignored",
        "inline-paren-math-last",
        "multline-operator-row-continues",
    ],
)
def test_tex_document(part: str, line: int, latex: str) -> None:
    """\\item[(a)] markers, environments with & and \\\\, comments dropped, \\% kept."""
    submission = read_submission(DATA / "homework.tex", PARTS)
    assert submission.answers[part] == ExtractedAnswer(part, latex, line)


def test_tex_document_parts() -> None:
    """(f) and (g) are missing, and plain \\item inside (b) did not start a part."""
    submission = read_submission(DATA / "homework.tex", PARTS)
    assert list(submission.answers) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("part", "line", "latex", "boxed"),
    [
        ("a", 19, r"g'(x) = \sigma(x)(1 - \sigma(x))", False),
        ("b", 9, r"\delta_k = (c_k - t_k) g'(h_k)", False),
        (
            "c",
            14,
            r"\frac{\partial E}{\partial w_{jk}} = \frac{\partial E}{\partial h_k}"
            r" \frac{\partial h_k}{\partial w_{jk}} = \delta_k b_j",
            False,
        ),
        ("d", 23, r"\delta_k", True),
        ("f", 28, r"\frac{\partial E}{\partial u_{ij}} = \psi_j a_i", False),
        ("g", 34, r"\frac{\partial E}{\partial e_j} = \psi_j", False),
    ],
    ids=[
        "bold-marker-answer-label",
        "heading-part-paren-bold-label",
        "heading-part-bare-solution-label",
        "part-colon-last-box-wins-over-later-chain",
        "textbf-marker-escaped-dollars-later-empty-repeat-ignored",
        "repeated-marker-later-answer-wins",
    ],
)
def test_markdown_document(part: str, line: int, latex: str, boxed: bool) -> None:
    """Markdown markers in any order; the question's math before the label is not read."""
    submission = read_submission(DATA / "headings.md", PARTS)
    assert submission.answers[part] == ExtractedAnswer(part, latex, line, boxed)


def test_markdown_document_missing_part_and_order() -> None:
    """(e) is absent; answers follow part order although the document does not."""
    submission = read_submission(DATA / "headings.md", PARTS)
    assert list(submission.answers) == ["a", "b", "c", "d", "f", "g"]


@pytest.mark.parametrize(
    ("prompts", "part", "line", "latex"),
    [
        (None, "a", 3, "sigma(x) (1 - sigma(x))"),
        (None, "b", 5, "(c_k - t_k) g'(h_k)"),
        (None, "c", 7, "delta_k b_j"),
        (None, "d", 8, "Compute dE/df_k using delta_k. delta_k"),
        ({"d": "Compute dE/df_k using delta_k."}, "d", 9, "delta_k"),
    ],
    ids=[
        "label-on-marker-line",
        "label-then-lines-joined-period-dropped",
        "no-label-text-after-marker",
        "no-label-no-prompt-takes-all-lines",
        "no-label-prompt-lines-skipped",
    ],
)
def test_plain_text_document(
    prompts: dict[str, str] | None, part: str, line: int, latex: str
) -> None:
    """Without math, the text after the label (or after the marker) is the answer."""
    submission = read_submission(DATA / "plain.txt", PARTS, prompts)
    assert submission.answers[part] == ExtractedAnswer(part, latex, line)


QUESTION_MATH_PROMPTS = {
    "b": r"We denote by $$\delta_k = \frac{\partial E}{\partial h_k}$$ the error signal. "
    r"Compute $\delta_k$.",
    "d": r"Compute $$\frac{\partial E}{\partial f_k}.$$ Use $\delta_k$.",
    "g": r"Compute $$\frac{\partial E}{\partial e_j}$$ using $\psi_j$.",
}


@pytest.mark.parametrize(
    ("prompts", "expected"),
    [
        (QUESTION_MATH_PROMPTS, {"b": "(c_k - t_k) g'(h_k)", "d": r"\delta_k"}),
        (None, {"b": r"\delta_k = \frac{\partial E}{\partial h_k} \\ \delta_k \\ "
                      r"(c_k - t_k) g'(h_k)",
                "d": r"\frac{\partial E}{\partial f_k} \\ \delta_k \\ \delta_k",
                "g": r"\frac{\partial E}{\partial e_j} \quad \text{using} \quad \psi_j"}),
    ],
    ids=["prompts-drop-question-math", "no-prompts-question-math-read"],
)
def test_question_math(prompts: dict[str, str] | None, expected: dict[str, str]) -> None:
    """Unlabelled parts: question math is dropped once per occurrence in the prompt.

    (d)'s answer delta_k equals the question's "Use $delta_k$" and is still kept, because
    the question's own occurrence used up the prompt's one; (g) has no answer at all.
    """
    submission = read_submission(DATA / "question_math.md", PARTS, prompts)
    assert {part: answer.latex for part, answer in submission.answers.items()} == expected


# --------------------------------------------------------------------------------------------
# Rule 1: part markers


@pytest.mark.parametrize(
    "marker",
    [
        "(c)",
        "c)",
        "**(c)**",
        "**c)**",
        r"\item[(c)]",
        r"\item[c)]",
        r"\item (c)",
        "## (c)",
        "### Part (c)",
        "### Part c",
        "Part (c):",
        "**Part (c):**",
        r"\section*{Part (c)}",
        r"\subsection*{(c)}",
        r"\textbf{(c)}",
        "  (C)",
        "- (c)",
    ],
    ids=[
        "paren",
        "half-paren",
        "bold-paren",
        "bold-half-paren",
        "item-paren",
        "item-half-paren",
        "item-space-paren",
        "heading-paren",
        "heading-part-paren",
        "heading-part-bare",
        "part-colon",
        "bold-part-colon",
        "section-star",
        "subsection-star",
        "textbf",
        "indented-upper-case",
        "list-bullet",
    ],
)
def test_marker_styles(marker: str) -> None:
    """Every marker style students write starts the part; the preamble is ignored."""
    text = f"Preamble $p$.\n\n{marker} Compute $q$.\n\nYour answer: $x$\n"
    submission = parse_document(text, PARTS)
    assert submission.answers == {"c": ExtractedAnswer("c", "x", 5)}


@pytest.mark.parametrize(
    "line",
    [
        r"\item Compute $q$. Your answer: $x$",
        "Part c of the question. Your answer: $x$",
        "(h) Your answer: $x$",
        "cc) Your answer: $x$",
        "see (c) Your answer: $x$",
        "(c_k - t_k) Your answer: $x$",
        "Preamble: (c) is at no line start. Your answer: $x$",
    ],
    ids=[
        "plain-item",
        "part-word-in-a-sentence",
        "unknown-part-id",
        "longer-label",
        "mid-line",
        "math-in-parentheses",
        "preamble-only",
    ],
)
def test_not_a_marker(line: str) -> None:
    """Lines that are not markers of a known part start nothing."""
    assert parse_document(line + "\n", PARTS).answers == {}


def test_marker_only_for_given_part_ids() -> None:
    """Part ids may be longer than a letter; other labels are not markers."""
    text = "(1a) Your answer: $x$\n(1b) Your answer: $y$\n(a) Your answer: $z$\n"
    submission = parse_document(text, ["1a", "1b"])
    assert {part: a.latex for part, a in submission.answers.items()} == {"1a": "x",
                                                                          "1b": r"y \\ z"}


def test_repeated_marker_without_answer_keeps_the_first() -> None:
    """A later marker of the same part wins only if it holds an answer."""
    text = "(c) Your answer: $x$\n(d) Your answer: $y$\n(c)\n\n(c) Your answer: $$ $$\n"
    assert latex_of(text, "c") == "x"
    assert latex_of(text + "(c) Your answer: $z$\n", "c") == "z"


def test_crlf_line_endings() -> None:
    """Windows line endings give the same answers and lines."""
    text = "Intro\n\n(c) Compute.\n\nYour answer:\n$$a = b$$\n$$= d$$\n"
    unix = parse_document(text, PARTS)
    assert parse_document(text.replace("\n", "\r\n"), PARTS) == unix
    assert unix.answers["c"] == ExtractedAnswer("c", "a = b = d", 6)


# --------------------------------------------------------------------------------------------
# Rule 2: the answer region


@pytest.mark.parametrize(
    "label",
    [
        "Your answer:",
        "**Your answer:**",
        "**Your answer**:",
        "YOUR ANSWER:",
        r"\textbf{Your answer:}",
        "Answer:",
        "Final answer:",
        "Solution:",
    ],
    ids=[
        "plain", "bold", "bold-before-colon", "upper-case", "textbf", "answer", "final", "solution"
    ],  # fmt: skip
)
def test_answer_labels(label: str) -> None:
    """Only text after the label is read: the question's display is not an answer."""
    text = f"(c) Compute $$q = r$$ here.\n{label} $x$\n"
    assert parse_document(text, PARTS).answers["c"] == ExtractedAnswer("c", "x", 2)


def test_first_your_answer_label_wins_over_other_labels() -> None:
    """"Your answer:" starts the region even when "Answer:" came first in the question."""
    text = "(c) Answer: in terms of $q$.\nYour answer: $$x = y$$ so the final answer: $y$\n"
    assert latex_of(text) == r"x = y \\ y"
    assert latex_of("(c) Answer: in terms of $q$.\nYour answer: $$x = y$$\n") == "x = y"


def test_label_with_nothing_after_it_is_missing() -> None:
    """A template left empty holds no answer, even if the question has math."""
    assert latex_of("(c) Compute $$q = r$$.\n\nYour answer:\n\n(d) x\n") is None


# --------------------------------------------------------------------------------------------
# Rule 3: math regions and their cleaning


@pytest.mark.parametrize(
    ("math", "expected"),
    [
        ("$x + 1$", "x + 1"),
        ("$$x + 1$$", "x + 1"),
        (r"\[x + 1\]", "x + 1"),
        (r"\(x + 1\)", "x + 1"),
        ("\\begin{equation}\nx + 1\n\\end{equation}", "x + 1"),
        ("\\begin{equation*}x + 1\\end{equation*}", "x + 1"),
        ("\\begin{gather*}x + 1\\end{gather*}", "x + 1"),
        ("\\begin{eqnarray}y &=& x + 1\\end{eqnarray}", "y = x + 1"),
        ("\\begin{alignat*}{2}y &= x + 1\\end{alignat*}", "y = x + 1"),
        ("$$\\begin{aligned}[t] y &= x \\\\ &= 1 \\end{aligned}$$", "y = x = 1"),
        ("\\begin{equation}\\begin{split}y &= x \\\\ &= 1\\end{split}\\end{equation}", "y = x = 1"),
        ("$$x\n+ 1$$", "x + 1"),
    ],
    ids=[
        "dollar",
        "double-dollar",
        "brackets",
        "parens",
        "equation",
        "equation-star",
        "gather-star",
        "eqnarray-two-ampersands",
        "alignat-columns",
        "aligned-in-dollars",
        "split-in-equation",
        "whitespace-collapsed",
    ],
)
def test_math_delimiters(math: str, expected: str) -> None:
    """Each kind of math region is read, delimiters and alignment removed."""
    assert latex_of(f"(c) Your answer: {math}\n") == expected


@pytest.mark.parametrize(
    ("math", "expected"),
    [
        ("$$y = x.$$", "y = x"),
        ("$$y = x ,$$", "y = x"),
        (r"$$y = x \, .$$", "y = x"),
        (r"$$y = x\quad$$", "y = x"),
        (r"$$\quad y = x$$", "y = x"),
        (r"$$y = x \label{eq:1}$$", "y = x"),
        (r"$$y = x \tag{1}$$", "y = x"),
        (r"$$y = x \tag*{(\star)}$$", "y = x"),
        (r"\begin{align}y &= x \nonumber\end{align}", "y = x"),
        (r"\begin{align}y &= x \notag\end{align}", "y = x"),
        (r"$$\left. y \right.$$", r"\left. y \right."),
        (r"$$1 + 2 + \ldots.$$", r"1 + 2 + \ldots"),
        ("$$1 + 2 + ...$$", "1 + 2 + ..."),
        (r"$$y = 50\%$$", r"y = 50\%"),
        (r"$$a \& b$$", r"a \& b"),
    ],
    ids=[
        "period",
        "comma",
        "thin-space-then-period",
        "trailing-quad",
        "leading-quad",
        "label",
        "tag",
        "tag-star-nested-braces",
        "nonumber",
        "notag",
        "right-dot-is-a-delimiter",
        "ldots-then-period",
        "ellipsis-kept",
        "escaped-percent",
        "escaped-ampersand",
    ],
)
def test_math_cleaning(math: str, expected: str) -> None:
    """Punctuation, spacing, labels and tags go; delimiters and escapes stay."""
    assert latex_of(f"(c) Your answer: {math}\n") == expected


def test_escaped_dollar_is_not_a_delimiter() -> None:
    """\\$ is a literal dollar: it neither opens nor closes math."""
    text = r"(c) Your answer: $y = x$, which costs \$5 or \$6 (and \$ alone)." + "\n"
    assert latex_of(text) == "y = x"
    assert latex_of(r"(c) Your answer: $a \$ b$" + "\n") == r"a \$ b"


def test_inline_dollar_does_not_cross_a_paragraph() -> None:
    """A lone $ with its partner in a later paragraph is not math."""
    text = "(c) Your answer: $x$ costs $5.\n\nThe rest costs 6$ more.\n"
    assert latex_of(text) == "x"


def test_tex_comments_removed_only_in_tex() -> None:
    """% starts a comment in .tex (not \\%), but is text in markdown."""
    text = "(c) Your answer: $x$ % $y$\n"
    assert latex_of(text, fmt="tex") == "x"
    assert latex_of(text, fmt="md") == r"x \\ y"
    assert latex_of("(c) Your answer: $x \\% y$\n", fmt="tex") == r"x \% y"
    assert latex_of("% (c) Your answer: $x$\n", fmt="tex") is None


# --------------------------------------------------------------------------------------------
# Rule 4: chains


@pytest.mark.parametrize(
    ("math", "expected"),
    [
        ("$$a = b$$\n$$= c$$\n\n$$= d$$", "a = b = c = d"),
        ("$$a = b$$ text $$c = d$$", r"a = b \\ c = d"),
        ("$$a = b$$ where $$c = d$$", r"a = b \quad \text{where} \quad c = d"),
        (r"\begin{align*} a &= b \\ c &= d \end{align*}", r"a = b \\ c = d"),
        (r"\begin{align*} a &= b \\ &= c \\ &= d \end{align*}", "a = b = c = d"),
        (r"\begin{align*} a &= b \\ = c \end{align*}", "a = b = c"),
        (r"\begin{align*} a &= b \\ &+ c \end{align*}", "a = b + c"),
        ("$$a = b$$ $$+ c$$", "a = b ; + c"),
        (r"$$a = b \\$$", "a = b"),
        (r"$$\begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}$$",
         r"\begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}"),
        (r"$$\frac{a \\ b}{c} = d$$", r"\frac{a \\ b}{c} = d"),
        ("$$= c$$", "= c"),
        ("$$a = b$$\n$$b_j = g(z_j)$$", r"a = b \\ b_j = g(z_j)"),
    ],
    ids=[
        "displays-starting-with-equals-continue",
        "every-chain-in-order",
        "prose-remark-makes-a-side-claim",
        "align-rows-separate-chains",
        "align-rows-ampersand-equals-continue",
        "row-with-bare-equals-continues",
        "operator-row-continues",
        "operator-display-does-not-continue",
        "trailing-line-break",
        "cases-keeps-ampersand-and-line-breaks",
        "line-break-inside-braces-kept",
        "lone-continuation",
        "auxiliary-chains-kept",
    ],
)
def test_chains(math: str, expected: str) -> None:
    """Pieces starting with = join the previous chain; every chain is kept, in order, for the
    grader to find the claim about the asked quantity among them."""
    assert latex_of(f"(c) Your answer:\n{math}\n") == expected


def test_chain_line_is_where_it_starts() -> None:
    """line is the line of the answer's first piece, not of its last."""
    text = "(c) Compute.\nYour answer:\n$$a = b$$\n\n$$c = d$$\n\n$$= e$$\n"
    assert parse_document(text, PARTS).answers["c"] == ExtractedAnswer(
        "c", r"a = b \\ c = d = e", 3)


# --------------------------------------------------------------------------------------------
# Rule 5: \boxed


@pytest.mark.parametrize(
    ("math", "expected"),
    [
        (r"$$a = \boxed{b}$$ $$= c$$", "b"),
        (r"$\boxed{x}$ then $\boxed{\frac{y}{z}}$ and $$w = v$$", r"\frac{y}{z}"),
        (r"$$\boxed{ a = \{ b \} }$$", r"a = \{ b \}"),
        (r"$\boxed{x}$ and a template $\boxed{ }$", "x"),
        (r"$\boxed {x}.$", "x"),
        (r"\boxed{\delta_k b_j.}", r"\delta_k b_j"),
        (r"$\boxed{x$ and $y = z$", r"\boxed{x \\ y = z"),
    ],
    ids=[
        "box-beats-later-chain",
        "last-box-balanced-braces",
        "escaped-braces",
        "empty-box-ignored",
        "space-before-brace",
        "box-in-plain-text",
        "unbalanced-box-ignored",
    ],
)
def test_boxed(math: str, expected: str) -> None:
    """The last non-empty, balanced \\boxed{} of the region wins."""
    answer = parse_document(f"(c) Your answer: {math}\n", PARTS).answers["c"]
    assert (answer.latex, answer.boxed) == (expected, not expected.endswith("y = z"))


def test_boxed_in_question_text_is_not_read() -> None:
    """A box before the label belongs to the question."""
    assert latex_of("(c) Show that $\\boxed{q}$ holds.\nYour answer: $x$\n") == "x"


# --------------------------------------------------------------------------------------------
# Rule 6: plain text


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("(c) Your answer: delta_k b_j\n", "delta_k b_j", 1),
        ("(c) Your answer:\n\n  delta_k\n  b_j.\n\n(d) y\n", "delta_k b_j", 3),
        ("(c)\ndelta_k b_j\n", "delta_k b_j", 2),
        ("\\item[(c)] delta_k b_j\n\\end{enumerate}\n\\end{document}\n", "delta_k b_j", 1),
        ("(c) Your answer:\n\n(d) y\n", None, None),
    ],
    ids=["same-line", "lines-joined", "no-label", "tex-structure-skipped", "empty"],
)
def test_plain_text_answers(text: str, expected: str | None, line: int | None) -> None:
    """Without math delimiters the non-empty lines of the region are the answer."""
    answer = parse_document(text, PARTS, fmt="txt").answers.get("c")
    found = None if answer is None else (answer.latex, answer.line)
    assert found == (None if expected is None else (expected, line))


# --------------------------------------------------------------------------------------------
# Rule 8: pathological documents finish


def _junk(alphabet: str, size: int = MAX_DOCUMENT_BYTES - 100) -> str:
    rng = random.Random(446)
    return "".join(rng.choice(alphabet) for _ in range(size))


@pytest.mark.parametrize(
    "body",
    [
        _junk("ab$\\{}&\n ()=%[]_^"),
        _junk("${"),
        "${" * (MAX_DOCUMENT_BYTES // 2 - 100),
        "$$" + "{" * (MAX_DOCUMENT_BYTES - 100),
        "\\begin{align}" * (MAX_DOCUMENT_BYTES // 14),
        "\\boxed{" * (MAX_DOCUMENT_BYTES // 8),
        "$" + "\\label{" * (MAX_DOCUMENT_BYTES // 8) + "$",
        "$x" + "\\," * (MAX_DOCUMENT_BYTES // 2 - 100) + "$",
        "\\$" * (MAX_DOCUMENT_BYTES // 2 - 100) + "$",
        "your   " * (MAX_DOCUMENT_BYTES // 8),
        "(c) x\n" * (MAX_DOCUMENT_BYTES // 7),
        "(" * (MAX_DOCUMENT_BYTES - 100),
    ],
    ids=[
        "random-junk",
        "random-dollars-and-braces",
        "dollar-brace-pairs",
        "one-huge-brace-run",
        "unclosed-environments",
        "unclosed-boxes",
        "unclosed-labels",
        "trailing-spacing",
        "escaped-dollars",
        "almost-labels",
        "many-markers",
        "open-parentheses",
    ],
)
@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_large_documents_finish(body: str, fmt: str) -> None:
    """1 MB of junk is read without a hang (a backtracking regex would never return)."""
    text = "(c) Your answer: " + body
    assert len(text.encode()) <= MAX_DOCUMENT_BYTES
    submission = parse_document(text, PARTS, {"c": "Compute $q$."}, fmt=fmt)
    assert set(submission.answers) <= set(PARTS)  # random junk may hold markers like "b)"
    assert all(isinstance(a.latex, str) for a in submission.answers.values())


# --------------------------------------------------------------------------------------------
# JSON submissions


def test_json_submission() -> None:
    """Answers are kept as given; an empty one is left out (the part is missing); "student"
    is ignored; no line numbers."""
    submission = read_submission(DATA / "answers.json", PARTS)
    assert submission == Submission(
        name="answers",
        answers={
            "a": ExtractedAnswer("a", r"\sigma(x)(1-\sigma(x))"),
            "c": ExtractedAnswer("c", r"\delta_k b_j"),
        },
        source=str(DATA / "answers.json"),
    )


def test_parse_answers_json_in_part_order() -> None:
    """Decoded JSON is read the same way, answers in part order."""
    submission = parse_answers_json({"answers": {"g": r"\psi_j", "a": "x"}}, PARTS, name="ada")
    assert list(submission.answers) == ["a", "g"]
    assert submission.answers["g"] == ExtractedAnswer("g", r"\psi_j", None, False)
    assert (submission.name, submission.source) == ("ada", "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], 'ada: must be a JSON object like {"answers": {"a": "<latex>"}}, not a list'),
        ({"student": "x"}, 'ada: has no "answers" object'),
        ({"answers": "x"}, 'ada: "answers" must be an object mapping part ids'),
        ({"answers": {"c": None}}, 'part "c" holds null'),
        ({"answers": {"c": True}}, 'part "c" holds a boolean'),
        ({"answers": {"c": {"x": 1}}}, 'part "c" holds an object'),
        ({"answers": {"z": "x"}}, 'ada: unknown part "z" in "answers"; valid parts are a, b, c'),
    ],
    ids=["not-object", "no-answers", "answers-string", "null", "boolean", "object", "unknown"],
)
def test_parse_answers_json_rejects(data: object, message: str) -> None:
    """Wrong shapes raise SubmissionError with a sentence that names the submission."""
    with pytest.raises(SubmissionError) as error:
        parse_answers_json(data, PARTS, name="ada")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed.json", "is not valid JSON (Expecting property name enclosed in double quotes"),
        ("top_level_list.json", 'must be a JSON object like {"answers"'),
        ("no_answers.json", 'has no "answers" object'),
        ("answers_list.json", '"answers" must be an object mapping part ids to LaTeX strings'),
        ("part_list.json", '"answers" must map part ids to LaTeX strings; part "c" holds a list'),
        ("part_number.json", 'part "b" holds a number'),
        ("unknown_part.json", 'unknown part "h" in "answers"; valid parts are a, b, c, d, e, f, g'),
        ("duplicate_part.json", 'key "a" appears twice'),
        ("binary_junk.md", "is not a text file (it contains NUL characters)"),
        ("latin1.txt", "is not UTF-8 text (undecodable byte at offset 5)"),
        ("answers.docx", "unsupported file type ('.docx'); use .json, .md, .tex or .txt"),
        ("no_such_file.md", "file not found"),
    ],
    ids=[
        "malformed-json",
        "top-level-list",
        "no-answers",
        "answers-list",
        "part-holds-list",
        "part-holds-number",
        "unknown-part",
        "duplicate-part",
        "binary-junk",
        "not-utf8",
        "unknown-extension",
        "missing-file",
    ],
)
def test_unreadable_files(name: str, message: str) -> None:
    """Each unreadable file raises one SubmissionError naming the file and the problem."""
    path = DATA / name
    with pytest.raises(SubmissionError) as error:
        read_submission(path, PARTS)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert isinstance(error.value, GraderError) and error.value.exit_code == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.md", b"(a) $x$\n" + b" " * MAX_DOCUMENT_BYTES, "is too large (1,000,008 bytes"),
        ("big.json", b'{"answers": {"a": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}}', "too large"),
        ("deep.json", b"[" * 100_000, "is not valid JSON (nested too deeply)"),
        ("empty.json", b"", "is not valid JSON (Expecting value at line 1, column 1)"),
        ("notes", b"(a) $x$\n", "unsupported file type (no extension)"),
        ("folder.md", None, "is not a file"),
    ],
    ids=["oversize-document", "oversize-json", "deeply-nested-json", "empty-json", "no-ext", "dir"],
)
def test_unreadable_generated_files(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    """Files too big to keep in the repository, or odd ones, are refused clearly."""
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(SubmissionError) as error:
        read_submission(path, PARTS)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_document_at_the_size_limit_is_read(tmp_path: Path) -> None:
    """Exactly MAX_DOCUMENT_BYTES is still accepted."""
    head = b"(c) Your answer: $x$\n"
    path = tmp_path / "limit.md"
    path.write_bytes(head + b" " * (MAX_DOCUMENT_BYTES - len(head)))
    assert read_submission(path, PARTS).answers == {"c": ExtractedAnswer("c", "x", 1)}


def test_utf8_bom_and_unicode(tmp_path: Path) -> None:
    """A byte-order mark is ignored and Unicode math is kept as written."""
    path = tmp_path / "unicode.md"
    path.write_bytes("\ufeff(a) Your answer: $σ(x)(1 − σ(x))$\n".encode())
    assert read_submission(path, PARTS).answers["a"].latex == "σ(x)(1 − σ(x))"


# --------------------------------------------------------------------------------------------
# parse_document on text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(a) $x$ " + "x" * MAX_DOCUMENT_BYTES, "web: is too large"),
        ("(a) $x$ é" + "x" * (MAX_DOCUMENT_BYTES - 9), "web: is too large (1,000,001 bytes"),
        ("(a) $x$\x00", "web: is not a text file (it contains NUL characters)"),
    ],
    ids=["too-many-characters", "too-many-bytes", "nul"],
)
def test_parse_document_rejects_bad_text(text: str, message: str) -> None:
    """Pasted text gets the same limits as files."""
    with pytest.raises(SubmissionError, match=re.escape(message)):
        parse_document(text, PARTS, name="web")


def test_parse_document_unknown_format() -> None:
    """An unknown format is a programming error, not a student's."""
    with pytest.raises(SubmissionError, match="unknown document format 'docx'"):
        parse_document("(a) $x$", PARTS, fmt="docx")


def test_parse_document_defaults() -> None:
    """From text: the given name, no source; an empty document has no answers."""
    assert parse_document("", PARTS) == Submission(name="", answers={}, source="")
    submission = parse_document("(a) Your answer: $x$", PARTS, name="ada", fmt=".TXT")
    assert submission == Submission("ada", {"a": ExtractedAnswer("a", "x", 1)})


def test_json_round_trip_of_document_answers() -> None:
    """A document's answers written as JSON read back to the same latex."""
    seed = read_submission(DATA / "seed.md", PARTS)
    data = json.loads(json.dumps({"answers": {p: a.latex for p, a in seed.answers.items()}}))
    again = parse_answers_json(data, PARTS, name="seed")
    assert {p: a.latex for p, a in again.answers.items()} == {
        p: a.latex for p, a in seed.answers.items()
    }
