"""Tests for the public API (grader/__init__.py over grader.api) and the golden submissions.

Each file in submissions/ (but the colleague's softmax_* files) has its expected result in
tests/golden/<name>.json: the deterministic fields only (score, max_score, verdict, feedback,
interpreted). ``pytest --update-golden`` rewrites them; check every verdict by hand before
committing a change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import grader
from grader.errors import AnswerError, ProblemNotFound
from grader.results import Verdict

ROOT = Path(__file__).resolve().parent.parent

SUBMISSIONS = ROOT / "submissions"
GOLDEN = Path(__file__).parent / "golden"
PART_FIELDS = ("score", "max_score", "verdict", "feedback", "interpreted")
GOLDEN_FILES = sorted(p for p in SUBMISSIONS.iterdir()
                      if p.suffix in (".json", ".md", ".tex", ".txt")
                      and not p.name.startswith("softmax"))


def deterministic(result: dict) -> dict:
    return {
        "problem": result["problem"], "submission": result["submission"],
        "score": result["score"], "max_score": result["max_score"],
        "parts": {pid: {k: part[k] for k in PART_FIELDS}
                  for pid, part in result["parts"].items()},
    }


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden(backprop, pool, update_golden, path: Path) -> None:
    got = deterministic(grader.grade_file(backprop, path, pool=pool).to_json())
    golden = GOLDEN / f"{path.stem}.json"
    if update_golden:
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden file for {path.name}: run pytest --update-golden"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, score, verdicts", [
    ("seed", 8, "correct " * 7),
    ("alice", 8, "correct " * 7),
    ("bob", 8, "correct " * 7),
    ("carol", 2, "incorrect partial incorrect incorrect partial incorrect partial"),
    ("dave", 3, "correct missing correct missing incorrect correct missing"),
])
def test_golden_verdicts_checked_by_hand(name: str, score: float, verdicts: str) -> None:
    """What a TA gives each sample; the golden files must agree (guards --update-golden)."""
    golden = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert golden["score"] == score
    assert [p["verdict"] for p in golden["parts"].values()] == verdicts.split()


def test_every_sample_has_a_golden_file() -> None:
    assert {p.stem for p in GOLDEN_FILES} >= {"seed", "alice", "bob", "carol", "dave"}


# ---------------------------------------------------------------------------- the API

def test_public_names() -> None:
    for name in ("load_problem", "grade_answer", "grade_file", "grade_submission", "preview",
                 "GradingPool", "Verdict", "GraderError"):
        assert name in grader.__all__ and hasattr(grader, name)


def test_load_problem(backprop) -> None:
    problem = grader.load_problem("backprop")
    assert problem.id == "backprop" and problem.points == 8
    assert list(problem.parts) == list("abcdefg")
    assert grader.load_problem(ROOT / "problems" / "backprop.toml").id == "backprop"


def test_load_unknown_problem() -> None:
    with pytest.raises(ProblemNotFound, match="unknown problem 'nope'"):
        grader.load_problem("nope")


def test_grade_answer(backprop, pool) -> None:
    result = grader.grade_answer(backprop, "c", r"\delta_k b_j", pool=pool)
    assert result.verdict is Verdict.CORRECT and result.score == 1
    assert result.elapsed_ms > 0


def test_grade_answer_by_problem_id(pool) -> None:
    result = grader.grade_answer("backprop", "b", "(t_k - c_k) g'(h_k)", pool=pool)
    assert result.verdict is Verdict.PARTIAL and result.score == 0.75


def test_grade_submission_mapping(backprop, pool) -> None:
    result = grader.grade_submission(backprop, {"a": r"\sigma(x)(1-\sigma(x))", "g": r"\psi_j"},
                                     name="ann", pool=pool)
    data = result.to_json()
    assert (data["submission"], data["score"], data["max_score"]) == ("ann", 2, 8)
    assert data["parts"]["b"]["verdict"] == "missing"
    assert list(data["parts"]) == list("abcdefg")


def test_grade_file_names_the_submission(backprop, pool) -> None:
    result = grader.grade_file(backprop, SUBMISSIONS / "alice.json", pool=pool)
    assert result.submission == "alice" and result.score == 8


def test_preview(backprop) -> None:
    shown = grader.preview(backprop, "b", r"\delta_k = (c_k - t_k) g'(h_k)")
    assert shown["interpreted"] == \
        r"\delta_{k} = \left(c_{k} - t_{k}\right) \cdot g'\left(h_{k}\right)"
    assert shown["mathml"].startswith("<math") and "′" in shown["mathml"]


def test_preview_error_has_a_position(backprop) -> None:
    with pytest.raises(AnswerError) as info:
        grader.preview(backprop, "b", r"(c_k - t_k) g'(h_k) + \foo")
    assert info.value.position == 22


def test_preview_wrong_index_is_an_answer_error(backprop) -> None:
    with pytest.raises(AnswerError, match="w_{kj}"):
        grader.preview(backprop, "e", r"g'(z_j)\sum_k \delta_k w_{kj}")


def test_reference_never_in_the_result_of_a_wrong_answer(backprop, pool) -> None:
    for part in backprop.parts.values():
        data = grader.grade_answer(backprop, part.id, "0", pool=pool).to_json()
        assert part.reference not in json.dumps(data)
