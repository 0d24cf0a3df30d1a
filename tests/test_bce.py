"""The bce problem (a tanh hidden layer, a sigmoid output, the binary cross-entropy): its spec
and the label t. Its samples (submissions/bce/) are checked against their golden results, with
what a TA gives each, in tests/test_samples.py."""

from __future__ import annotations

import numpy as np
import pytest

import grader
from grader.authoring import check_problem
from grader.check import PartChecker
from grader.grading import grade_answer
from grader.network import Numeric


@pytest.fixture(scope="module")
def bce():
    return grader.load_problem("bce")


def test_the_spec_passes_grader_check(pool) -> None:
    """Every reference is the asked derivative on the live network, numerically and by SymPy;
    every mistake shows its feedback; at least 5 accept and 5 reject examples per part."""
    report = check_problem("bce", pool=pool)
    assert report.ok, report.render()
    assert [p.part for p in report.parts] == list("abcdef")
    assert all(p.count("accept")[1] >= 5 and p.count("reject")[1] >= 5 for p in report.parts)
    assert grader.load_problem("bce").points == 6


@pytest.mark.parametrize("label", [0.0, 1.0])
@pytest.mark.parametrize("part_id", list("bcdef"))
def test_references_hold_for_a_binary_label(bce, part_id: str, label: float) -> None:
    """The network draws t in (0, 1), but the label of the homework is 0 or 1: every reference
    equals the asked derivative for those two labels too (y - t is dL/do for any real t)."""
    part = bce.part(part_id)
    network = bce.network
    drawn = network.numeric(7, "sigmoid")
    values = {name: np.array(drawn.lookup(name), dtype=float) for name in network.leaves}
    values["t"] = np.array(label)
    instance = network._instance(Numeric(), dict(drawn.sizes), values, {}, "sigmoid")
    asked = instance.value(part.asks_expr)
    reference = instance.value(part.reference_expr)
    axes = asked.axes
    np.testing.assert_allclose(np.asarray(reference.aligned(axes), dtype=float),
                               np.asarray(asked.aligned(axes), dtype=float), rtol=1e-9)


def test_an_answer_right_only_for_binary_labels_is_wrong(bce) -> None:
    """y - t^2 equals y - t when t is 0 or 1 but not for soft labels: graded as it is."""
    result = grade_answer(bce, "b", r"y - t^2")
    assert result.verdict.value == "incorrect"
    checker = PartChecker(bce, bce.part("b"))
    assert all(np.all((np.asarray(i.lookup("t")) > 0) & (np.asarray(i.lookup("t")) < 1))
               for i in checker.instances)


@pytest.mark.parametrize("part_id, answer, verdict, words", [
    ("a", r"1 - \tanh^2(s)", "correct", "Correct."),
    ("a", r"\frac{d}{ds}\tanh(s) = 1 - \tanh(s)^2", "correct", "Correct."),
    ("a", r"\operatorname{sech}^2(s)", "correct", "as a function of $\\tanh(s)$"),
    ("a", r"\tanh'(s)", "incorrect", "Circular"),
    ("b", r"\frac{\partial L}{\partial o} = \sigma(o) - t", "correct", "you used o, \\sigma"),
    ("b", r"y - t^2", "incorrect", "Not equal to the asked quantity"),
    ("d", r"\frac{dL}{dc} = y - t", "correct", "Correct."),
    ("e", r"(y - t) m_j (1 - \tanh^2(s))", "invalid", "s needs its index, as in s_{j}"),
    ("e", r"(y-t)\,m_j\,\tanh'(s_j)", "correct", "you used s, \\tanh"),
    ("f", r"\frac{\partial L}{\partial s_j} x_i", "incorrect", "leaves the derivative"),
], ids=lambda v: v if isinstance(v, str) and len(v) > 2 else None)
def test_bce_answers(bce, part_id, answer, verdict, words) -> None:
    result = grade_answer(bce, part_id, answer)
    assert result.verdict.value == verdict, result.feedback
    assert words in result.feedback
