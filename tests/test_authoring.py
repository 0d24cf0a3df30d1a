"""Tests for grader.authoring and ``grader check``: specs verified against the live network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from grader import api
from grader.authoring import Case, check_problem, check_reference
from grader.check import Agreement, PartChecker
from grader.cli import main
from grader.errors import SpecError
from grader.pool import GradingPool
from grader.problem import load_problem
from grader.reader import read_expression
from grader.results import PartResult, Verdict

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).parent / "data" / "specs"
SUBMISSIONS = ROOT / "submissions"


@pytest.fixture(scope="module")
def check_pool():
    with GradingPool(workers=2) as shared:
        yield shared


@pytest.fixture(scope="module")
def bad_examples(check_pool):
    """The report on a spec that loads but has one defect per part."""
    return check_problem(SPECS / "bad_examples.toml", pool=check_pool)


# ------------------------------------------------------------------------ whole specs

def test_softmax_spec_passes(check_pool):
    """Every reference equals its asked quantity; every example grades as the spec says."""
    report = check_problem("softmax", pool=check_pool)
    assert report.ok, report.render()
    assert [p.part for p in report.parts] == list("abcdefghi")
    assert all(p.count("accept")[1] >= 3 and p.count("reject")[1] >= 4 for p in report.parts)
    assert "softmax: OK" in report.render()


def test_backprop_spec_passes(check_pool):
    report = check_problem("backprop", pool=check_pool)
    assert report.ok, report.render()


def test_small_valid_spec_passes(check_pool):
    report = check_problem(SPECS / "tiny.toml", pool=check_pool)
    assert report.ok, report.render()
    assert report.parts[0].count("mistake") == (1, 1)


def test_wrong_reference_fails_naming_the_part(check_pool):
    """The reference is compared with ``asks`` itself (backprop), not trusted."""
    report = check_problem(SPECS / "wrong_reference.toml", pool=check_pool)
    assert not report.ok
    assert {f.part for f in report.failures} == {"w"}
    asks = [f for f in report.failures if f.check == "asks"]
    assert len(asks) == 1 and "is not" in asks[0].message
    rendered = report.render()
    assert "FAIL part w" in rendered and "ok   part delta" in rendered
    assert rendered.splitlines()[-1] == "wrong-reference: FAILED: 3 problems in part w"


@pytest.mark.parametrize("part,check,message", [
    ("accept", "accept", "accept example `\\delta_k b_j` should get full credit"),
    ("reject", "reject", "should not get full credit, got correct"),
    ("mistake", "mistake", "mistake 1 (`b_j \\delta_k`) equals the reference"),
    ("mistake", "mistake", "mistake 3 (`w_{jk} \\delta_k`) never shows its feedback"),
    ("circular", "reference", "is circular"),
    ("form", "reference", "got partial (0.5/1)"),
], ids=["wrong-accept", "right-reject", "mistake-is-reference", "shadowed-mistake",
        "circular-reference", "reference-not-in-form"])
def test_each_defect_is_found(bad_examples, part, check, message):
    found = [f for f in bad_examples.failures if f.part == part and f.check == check]
    assert any(message in f.message for f in found), [f.message for f in found]


def test_correct_examples_of_a_defective_spec_pass(bad_examples):
    """Only the defects fail: the right accept and the wrong reject of the same parts pass."""
    by_part = {p.part: p for p in bad_examples.parts}
    assert by_part["accept"].count("accept") == (1, 2)
    assert by_part["reject"].count("reject") == (1, 2)
    assert by_part["mistake"].count("mistake")[0] == 1   # mistake 2 is fine


# ------------------------------------------------------------------------ malformed specs

@pytest.mark.parametrize("name,key,line,message", [
    ("unknown_key.toml", "sigmoid_only_credt", 2, "is not a top-level key"),
    ("bad_reference.toml", "parts[0] ('a').reference", 14, "cannot read 'g(h_k'"),
    ("simplex_scalar.toml", "network.simplex[0]", 6, "has no index to sum over"),
    ("bad_toml.toml", "(file)", None, "not valid TOML"),
    ("unused_variable.toml", "parts[0] ('a').variables", 16, "'s' is not used in 'asks'"),
    ("scalar_variable.toml", "parts[0] ('a').variables", 16,
     "'o' is a quantity of the network without an index"),
    ("kronecker_ranges.toml", "parts[0] ('a').reference", 16,
     "a Kronecker delta compares two indices over one range, but j runs over the inputs"),
    ("unknown_function.toml", "network.equations[1]", 5,
     "unknown function \\operatorname{softsign}"),
], ids=["unknown-key", "unreadable-reference", "simplex-without-index", "not-toml",
        "unused-variable", "variable-shadows-a-scalar", "kronecker-over-two-ranges",
        "unknown-function"])
def test_malformed_spec_names_file_key_and_line(name, key, line, message):
    with pytest.raises(SpecError) as err:
        load_problem(SPECS / name)
    assert err.value.file.endswith(name)
    assert (err.value.key, err.value.line) == (key, line)
    assert message in str(err.value)


def test_unknown_network_key_is_refused(tmp_path):
    text = (SPECS / "tiny.toml").read_text().replace("positive = ['t_k']", "postive = ['t_k']")
    spec = tmp_path / "typo.toml"
    spec.write_text(text)
    with pytest.raises(SpecError, match="key 'network.postive': is not a key of"):
        load_problem(spec)


# ------------------------------------------------------------------------ the command

def test_cli_check_passes_and_fails():
    runner = CliRunner()
    ok = runner.invoke(main, ["check", "--jobs", "2", str(SPECS / "tiny.toml")])
    assert ok.exit_code == 0, ok.output
    assert "tiny: OK" in ok.output
    bad = runner.invoke(main, ["check", "--jobs", "2", str(SPECS / "wrong_reference.toml")])
    assert bad.exit_code == 1
    assert "FAIL part w" in bad.output and "reference `\\delta_k w_{jk}` is not" in bad.output


def test_cli_check_malformed_spec_is_one_line():
    result = CliRunner().invoke(main, ["check", str(SPECS / "bad_reference.toml")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "bad_reference.toml:14: key 'parts[0] ('a').reference'" in lines[0]


def test_cli_check_verbose_lists_every_check():
    result = CliRunner().invoke(main, ["check", "-v", "--jobs", "1", str(SPECS / "tiny.toml")])
    assert result.exit_code == 0
    assert "equals `\\delta_k` numerically and symbolically" in result.output
    assert "accept example `b_j \\delta_k` gets full credit" in result.output


# ------------------------------------------------------------------------ judging a result

def _result(verdict, score, feedback="", flags=()):
    return PartResult(part="delta", score=score, max_score=1.0, verdict=Verdict(verdict),
                      feedback=feedback, flags=list(flags))


@pytest.mark.parametrize("kind,index,result,ok", [
    ("accept", 0, _result("correct", 1.0), True),
    ("accept", 0, _result("partial", 0.5), False),
    ("accept", 0, _result("review", 0.0), False),
    ("reject", 0, _result("incorrect", 0.0), True),
    ("reject", 0, _result("partial", 0.5), True),
    ("reject", 0, _result("correct", 1.0), False),
    ("reject", 0, _result("review", 0.0), False),
    ("mistake", 0, _result("partial", 0.5, "One more chain-rule factor.", ["known-mistake"]), True),
    ("mistake", 0, _result("partial", 0.5, "Other feedback.", ["known-mistake"]), False),
    ("mistake", 0, _result("incorrect", 0.0, "One more chain-rule factor.", ["known-mistake"]),
     False),
    ("reference", 0, _result("correct", 1.0, "Correct. Right value...", ["form"]), False),
], ids=["accept-full", "accept-partial", "accept-review", "reject-zero", "reject-partial",
        "reject-full", "reject-review", "mistake-reached", "mistake-shadowed",
        "mistake-wrong-credit", "reference-not-in-form"])
def test_case_judge(kind, index, result, ok):
    problem = load_problem(SPECS / "tiny.toml")
    finding = Case("delta", kind, "c_k - t_k", index).judge(problem, result)
    assert finding.ok is ok, finding.message
    assert finding.part == "delta"


# ------------------------------------------------------------------------ the simplex leaves

def test_simplex_leaves_are_distributions():
    network = load_problem("softmax").network
    for seed in range(5):
        t = np.asarray(network.numeric(seed, "tanh").lookup("t"))
        assert np.all(t > 0) and abs(t.sum() - 1) < 1e-12
    symbols = network.symbolic().lookup("t")
    assert sum(symbols) == 1


def test_simplex_rows_of_a_matrix(tmp_path):
    """A two-index simplex leaf is a distribution along its last index, row by row."""
    text = (SPECS / "tiny.toml").read_text().replace("positive = ['t_k']", "simplex = ['w_{jk}']")
    spec = tmp_path / "rows.toml"
    spec.write_text(text)
    network = load_problem(spec).network
    w = np.asarray(network.numeric(3, "sigmoid").lookup("w"))
    assert w.ndim == 2 and np.allclose(w.sum(axis=1), 1.0) and np.all(w > 0)
    rows = network.symbolic().lookup("w")
    assert all(sum(row) == 1 for row in rows)


def test_softmax_delta_needs_the_simplex(tmp_path):
    """delta_k = c_k - t_k holds because sum_k t_k = 1; with free positive targets it does not."""
    problem = load_problem("softmax")
    part = problem.part("c")
    checker = PartChecker(problem, part)
    assert checker.numeric(part.reference_expr, part.asks_expr).agreement is Agreement.EQUAL
    assert checker.symbolic(part.reference_expr, part.asks_expr)
    text = Path(problem.path).read_text().replace("simplex = ['t_k']", "positive = ['t_k']")
    loose = tmp_path / "loose.toml"
    loose.write_text(text)
    findings = check_reference(load_problem(loose), load_problem(loose).part("c"))
    assert [f.check for f in findings if not f.ok] == ["asks"]


def test_softmax_jacobian_diagonal_on_the_network():
    problem = load_problem("softmax")
    part = problem.part("b")
    instance = PartChecker(problem, part).instances[0]
    c = np.asarray(instance.lookup("c"))
    jacobian = instance.value(read_expression(r"\frac{\partial c_k}{\partial h_k}",
                                              part.vocabulary))
    assert np.allclose(jacobian.array, c * (1 - c))


# ------------------------------------------------------------------------ the sample submissions

def test_softmax_sample_submission_gets_full_marks(check_pool):
    result = api.grade_file("softmax", SUBMISSIONS / "softmax" / "sample.md", pool=check_pool)
    assert {p: r.verdict.value for p, r in result.parts.items()} == dict.fromkeys(
        "abcdefghi", "correct")
    assert (result.score, result.max_score) == (10.0, 10.0)


def test_a_claim_under_an_index_condition_is_checked_only_there(check_pool):
    """In (c) the sample says dc_l/dh_k = -c_l c_k "for l \\neq k": true there, false at l = k,
    so the step is checked where the condition holds, and is valid."""
    result = api.grade_file("softmax", SUBMISSIONS / "softmax" / "sample.md", pool=check_pool)
    steps = {s.latex: s for s in result.parts["c"].steps}
    assert steps["-c_l c_k"].status == "valid", steps["-c_l c_k"].message
    unconditional = api.grade_answer(
        "softmax", "c", r"\delta_k = c_k - t_k \quad \text{where } "
        r"\frac{\partial c_l}{\partial h_k} = -c_l c_k", pool=check_pool)
    assert [s.status for s in unconditional.steps][-1] == "invalid"


def test_softmax_mistakes_get_their_feedback(check_pool):
    result = api.grade_file("softmax", SUBMISSIONS / "softmax" / "mistakes.json", pool=check_pool)
    verdicts = {p: r.verdict.value for p, r in result.parts.items()}
    assert verdicts == {"a": "partial", "b": "incorrect", "c": "partial", "d": "correct",
                        "e": "correct", "f": "incorrect", "g": "correct", "h": "correct",
                        "i": "partial"}
    assert "couples the outputs" in result.parts["c"].feedback
    assert "only off the diagonal" in result.parts["i"].feedback
    assert result.score == 5.75
