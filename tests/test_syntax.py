"""Tests for grader.syntax: the hand scanner and the strict LALR grammar.

The tree is purely syntactic here; what it means is grader.reader's business (test_reader.py).
These tests hold the scanner's rules (LaTeX's one-character scripts, folded spacing and sizing,
Unicode) and that anything not understood is an AnswerError pointing at the right character.
"""

from __future__ import annotations

import pytest

from grader.errors import AnswerError
from grader.notation import normalise
from grader.syntax import MAX_EXPRESSION_CHARS, MAX_NESTING, parse, tokenize


def kinds(text: str) -> list[str]:
    """Token kinds of ``text`` as the reader sees it (Unicode normalised first)."""
    return [t.type for t in tokenize(normalise(text).text)]


def values(text: str) -> list[str]:
    return [str(t) for t in tokenize(normalise(text).text)]


@pytest.mark.parametrize("text, expected", [
    # LaTeX's one-character script rule: x^23 is x^2 times 3, \frac12 is 1 over 2
    ("x^23", ["LETTER", "SUP", "NUMBER", "NUMBER"]),
    ("w_jk", ["LETTER", "SUB", "LETTER", "LETTER"]),
    (r"\frac12", ["FRAC", "NUMBER", "NUMBER"]),
    (r"x^{23}", ["LETTER", "SUP", "LBRACE", "NUMBER", "RBRACE"]),
    (r"g^\prime", ["LETTER", "PRIME"]),  # a superscript prime is a prime
    # spacing and sizing commands vanish, the delimiter after \left / \big stays
    (r"a\,b\;c\!d\quad e", ["LETTER"] * 5),
    (r"\left( a \right)", ["LPAR", "LETTER", "RPAR"]),
    (r"\big[ a \big]", ["LBRACK", "LETTER", "RBRACK"]),
    (r"\Bigl\{ a \Bigr\}", ["LCURLY", "LETTER", "RCURLY"]),
    (r"\left. a \right)", ["LETTER", "RPAR"]),
    (r"\displaystyle\sum\limits_k", ["SUM", "SUB", "LETTER"]),
    ("a & = b \\\\", ["LETTER", "_EQ", "LETTER"]),
    ("a ~ b", ["LETTER", "LETTER"]),
    # written multiplication signs, ASCII and Unicode
    (r"a\cdot b", ["LETTER", "TIMES", "LETTER"]),
    (r"a\times b", ["LETTER", "TIMES", "LETTER"]),
    ("a*b", ["LETTER", "TIMES", "LETTER"]),
    ("a·b", ["LETTER", "TIMES", "LETTER"]),
    ("a×b", ["LETTER", "TIMES", "LETTER"]),
    ("a⋅b", ["LETTER", "TIMES", "LETTER"]),
    # Unicode minus, prime and operators
    ("a−b", ["LETTER", "MINUS", "LETTER"]),
    ("g′", ["LETTER", "PRIME"]),
    ("∑_k", ["SUM", "SUB", "LETTER"]),
    ("∂", ["PARTIAL"]),
    # \boxed is only a frame; \mathrm{d} is the letters inside
    (r"\boxed{a}", ["LBRACE", "LETTER", "RBRACE"]),
    (r"\mathrm{d}x", ["LETTER", "LETTER"]),
    (r"\mathrm{ab}", ["LETTER", "LETTER"]),
    (r"\operatorname{sech}", ["FUNC"]),
    (r"\mathrm{sigmoid}", ["FUNC"]),
    # empty groups are nothing: an editor's \cdot{}, an empty script
    (r"a\cdot{}b", ["LETTER", "TIMES", "LETTER"]),
    (r"x_{}", ["LETTER"]),
    (r"\sum_{}^{}x", ["SUM", "LETTER"]),
    # written-out sums, evaluation bars, square roots
    (r"a + \dots + b", ["LETTER", "PLUS", "DOTS", "PLUS", "LETTER"]),
    ("a + ... + b", ["LETTER", "PLUS", "DOTS", "PLUS", "LETTER"]),
    (r"g\Big|_x", ["LETTER", "BAR", "SUB", "LETTER"]),
    (r"\sqrt{x}", ["SQRT", "LBRACE", "LETTER", "RBRACE"]),
    # numbers
    ("2.5", ["NUMBER"]),
    ("12x", ["NUMBER", "LETTER"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_token_kinds(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("σ", ["sigma"]), ("δ", ["delta"]), ("ψ", ["psi"]), (r"\sigma", ["sigma"]),
    (r"\delta", ["delta"]), (r"\psi", ["psi"]), (r"\exp", ["exp"]), (r"\ln", ["ln"]),
    ("2.5", ["2.5"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_token_values(text: str, expected: list[str]) -> None:
    assert values(text) == expected


def test_tokens_keep_their_offsets() -> None:
    """Every token knows where it starts in the original text (for error carets)."""
    text = r"\left( \delta_k \right) \cdot b_j"
    starts = {str(t): t.start_pos for t in tokenize(text)}
    assert starts["delta"] == text.index(r"\delta")
    assert starts["b"] == text.index("b_j")
    assert starts[r"\cdot"] == text.index(r"\cdot")


@pytest.mark.parametrize("text", [
    r"\sigma(x)(1-\sigma(x))", r"g'(x)\Big|_{x=h_k}", r"a_1 + \dots + a_K",
    r"(c_k - t_k) g'(h_k)",
    r"g^{\prime}(h_k)", r"g\prime(h_k)", "g'(h_k)", r"g^{''}(x)",
    r"\sum_{k=1}^{K} \delta_k w_{jk}", r"\sum\limits_k x", r"\sum_k x",
    r"\frac{\partial E}{\partial w_{jk}}", r"\frac{d}{dx}\sigma(x)",
    r"\delta_k = (c_k - t_k) g'(h_k) = x",
    r"w_{j,k}", r"-a", r"+a", r"a - -b", r"[a]", r"\{a\}", r"{a}",
], ids=str)
def test_parses(text: str) -> None:
    assert parse(text).data == "chain"


def test_chain_keeps_each_side() -> None:
    tree = parse(r"\delta_k = a = b")
    assert len(tree.children) == 3


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("text, position, words", [
    # unknown commands: named, at the backslash
    (r"\include{secret}", 0, r"\include"),
    (r"\input{x}", 0, r"\input"),
    (r"a + \int x", 4, r"\int"),
    (r"\mathbf{w}", 0, r"\mathbf"),
    (r"\sgima(x)", 0, r"\sgima"),
    # characters the notation does not have
    ("a + @", 4, "@"),
    ("(10^{10})!", 9, "!"),
    ("$x$", 0, "$"),
    ("x\x00y", 1, r"'\x00'"),
    # brackets that do not close: the position is the end of the text
    (r"\frac{1}{2", 10, "'}'"),
    ("(c_k - t_k", 10, "')'"),
    (r"\left(a", 7, "')'"),
    # a closing bracket with nothing open, a script with nothing after it
    (r"\delta_k )", 9, "')'"),
    ("x^", 2, "ends too early"),
    (r"\frac{}{}", 9, "ends too early"),
    (r"\operatorname{foo}(x)", 0, r"unknown function \operatorname{foo}"),
    (r"\sgima", 0, r"did you mean \sigma?"),
    (r"a \text{where}", 2, "words inside the formula"),
    ("σ", 0, "unexpected character σ (U+03C3)"),
    # a character that cannot be a one-character script
    ("x^+", 2, "'+'"),
], ids=str)
def test_error_position_and_message(text: str, position: int, words: str) -> None:
    with pytest.raises(AnswerError) as info:
        parse(text)
    assert info.value.position == position
    assert words in info.value.message
    assert f"(at character {position + 1})" in str(info.value)


def test_error_snippet_points_at_the_position() -> None:
    with pytest.raises(AnswerError) as info:
        parse(r"\delta_k b_j + \input{x}")
    lines = info.value.snippet.splitlines()
    assert lines[1].index("^") == lines[0].index(r"\input")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"], ids=repr)
def test_empty(text: str) -> None:
    with pytest.raises(AnswerError, match="empty"):
        parse(text)


def test_only_spacing_has_no_mathematics() -> None:
    with pytest.raises(AnswerError, match="no mathematics"):
        parse(r"\quad \, \;")


def test_too_long() -> None:
    with pytest.raises(AnswerError, match="too long") as info:
        parse("x" * (MAX_EXPRESSION_CHARS + 1))
    assert str(MAX_EXPRESSION_CHARS) in info.value.message


def test_too_deep() -> None:
    text = "(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1)
    with pytest.raises(AnswerError, match="nested too deeply") as info:
        parse(text)
    assert info.value.position == MAX_NESTING


def test_deep_but_allowed() -> None:
    depth = MAX_NESTING - 1
    assert parse("(" * depth + "x" + ")" * depth).data == "chain"


@pytest.mark.parametrize("text", [r"\sigma(x)(1-\sigma(x)).", r"\delta_k b_j,", "x .;"],
                         ids=["full-stop", "comma", "both"])
def test_a_sentence_ending_is_not_part_of_the_answer(text: str) -> None:
    assert parse(text) == parse(text.rstrip(" .,;"))


def test_a_spacing_command_at_the_end_is_kept_apart_from_punctuation() -> None:
    assert parse(r"x\,") == parse("x")


def test_a_lone_backslash_is_an_error_at_its_position() -> None:
    with pytest.raises(AnswerError, match="backslash with no command") as err:
        parse("x \\\ny")
    assert err.value.position == 2


def test_a_trailing_control_space_is_spacing() -> None:
    assert parse("x\\ ") == parse("x")
