"""Tests for grader.pytest_plugin: the ``grade`` fixture and the spec items of --grader-examples.

Each test runs pytest on a test file outside the project (pytester's temporary directory, or a
real subprocess in ``tmp_path``), where the plugin arrives only through its pytest11 entry point.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

pytest_plugins = ["pytester"]

SPECS = Path(__file__).parent / "data" / "specs"

INSTRUCTOR_TESTS = r'''
def test_c(grade):
    r = grade("backprop", "c", r"b_j \delta_k")
    assert r.verdict == "correct"
    assert (r.score, r.max_score) == (1.0, 1.0)
    assert r.feedback.startswith("Correct")

def test_softmax_coupling(grade):
    r = grade("softmax", "c", r"-t_k (1 - c_k)")
    assert r.verdict == "partial"
    assert "couples the outputs" in r.feedback

def test_own_spec_by_path(grade):
    r = grade(SPEC, "w", r"\delta_k w_{jk}")
    assert r.verdict == "incorrect" and r.score == 0
'''


def _instructor_tests() -> str:
    return f"SPEC = {str(SPECS / 'tiny.toml')!r}\n" + INSTRUCTOR_TESTS


def test_entry_point_is_installed():
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("grader") == "grader.pytest_plugin"


def test_grade_fixture_in_a_test_file_anywhere(pytester):
    pytester.makepyfile(test_instructor=_instructor_tests())
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_grade_fixture_failure_shows_the_result(pytester):
    pytester.makepyfile(test_wrong=r'''
def test_wrong(grade):
    r = grade("backprop", "c", r"\delta_k w_{jk}")
    assert r.verdict == "correct", r.feedback
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: *multiplies*"])


def test_examples_are_collected_with_readable_ids(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q",
                                f"--grader-problem={SPECS / 'tiny.toml'}")
    assert result.ret == 0
    ids = [line for line in result.stdout.lines if line.startswith("tiny::")]
    assert ids == [
        "tiny::delta::verify",
        "tiny::delta::reference[(c_k - t_k) g'(h_k)]",
        "tiny::delta::mistake[c_k - t_k]",
        "tiny::delta::accept[g'(h_k)(c_k - t_k)]",
        "tiny::delta::reject[(t_k - c_k) g'(h_k)]",
        "tiny::delta::reject[c_k - t_k]",
        "tiny::w::verify",
        "tiny::w::reference[\\delta_k b_j]",
        "tiny::w::accept[b_j \\delta_k]",
        "tiny::w::reject[\\delta_k w_{jk}]",
    ]


def test_every_problem_is_collected_by_default(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q",
                                "--grader-examples")
    assert result.ret == 0
    lines = set(result.stdout.lines)
    assert "backprop::c::accept[b_j \\delta_k]" in lines
    assert "softmax::c::mistake[-t_k (1 - c_k)]" in lines
    assert "softmax::b::verify" in lines


def test_example_items_pass_and_select_with_k(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider", f"--grader-problem={SPECS / 'tiny.toml'}",
                                "-k", "w")
    result.assert_outcomes(passed=4, deselected=6)


def test_wrong_reference_items_fail_naming_the_part(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider",
                                f"--grader-problem={SPECS / 'wrong_reference.toml'}")
    result.assert_outcomes(passed=7, failed=3)
    output = result.stdout.str()
    assert "wrong-reference part w: asks: the reference `\\delta_k w_{jk}` is not" in output
    for failed in ("verify", "accept[b_j \\delta_k]", "reject[\\delta_k w_{jk}]"):
        assert f"FAILED wrong-reference::w::{failed}" in output


def test_malformed_spec_is_a_collection_error(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider",
                                f"--grader-problem={SPECS / 'unknown_key.toml'}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown_key.toml:2: key 'sigmoid_only_credt': is not a "
                                 "top-level key*"])


def test_real_pytest_subprocess(tmp_path):
    """A plain ``python -m pytest`` in an unrelated folder finds the fixture and the option."""
    (tmp_path / "test_instructor.py").write_text(_instructor_tests(), encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--grader-problem={SPECS / 'tiny.toml'}", "test_instructor.py"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "13 passed" in done.stdout
