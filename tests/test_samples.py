"""Each problem's sample submissions (submissions/<problem id>/) against their golden results.

A folder of submissions/ named after a problem holds samples of that problem: a worked solution
and a set of typical mistakes. tests/golden/<problem id>/<name>.json keeps the deterministic
fields of each result (``pytest --update-golden`` rewrites them); the table below is what a TA
gives each sample, checked by hand, so a careless golden update cannot pass unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import grader

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
GOLDEN = Path(__file__).parent / "golden"
PART_FIELDS = ("score", "max_score", "verdict", "feedback", "interpreted")
SAMPLES = sorted(path for folder in SUBMISSIONS.iterdir() if folder.is_dir()
                 for path in folder.iterdir()
                 if path.suffix in (".json", ".md", ".tex", ".txt"))

BY_HAND = {
    ("bce", "sample"): (6, "correct " * 6),
    ("bce", "mistakes"): (0, "incorrect " * 6),
    ("softmax", "sample"): (10, "correct " * 9),
    ("softmax", "mistakes"): (5.75, "partial incorrect partial correct correct incorrect correct "
                                    "correct partial"),
    ("mlp-matrix", "sample"): (7, "correct " * 7),
    ("mlp-matrix", "mistakes"): (0, "incorrect " * 7),
    ("rnn", "sample"): (8, "correct " * 8),
    ("rnn", "mistakes"): (0, "incorrect " * 8),
    ("conv1d", "sample"): (4, "correct " * 4),
    ("conv1d", "mistakes"): (0, "incorrect " * 4),
}


def _deterministic(result: dict) -> dict:
    return {"problem": result["problem"], "score": result["score"],
            "max_score": result["max_score"],
            "parts": {pid: {k: part[k] for k in PART_FIELDS}
                      for pid, part in result["parts"].items()}}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_matches_its_golden_result(pool, update_golden, path: Path) -> None:
    problem = grader.load_problem(path.parent.name)
    got = _deterministic(grader.grade_file(problem, path, pool=pool).to_json())
    golden = GOLDEN / path.parent.name / f"{path.stem}.json"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden file for {path}: run pytest --update-golden"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", sorted(BY_HAND), ids="/".join)
def test_samples_get_what_a_ta_gives(key: tuple[str, str]) -> None:
    score, verdicts = BY_HAND[key]
    golden = json.loads((GOLDEN / key[0] / f"{key[1]}.json").read_text(encoding="utf-8"))
    assert golden["score"] == score
    assert [p["verdict"] for p in golden["parts"].values()] == verdicts.split()


def test_the_sequence_mistakes_get_their_feedback() -> None:
    """The classic BPTT and convolution mistakes of the samples get the spec's feedback."""
    rnn = json.loads((GOLDEN / "rnn" / "mistakes.json").read_text(encoding="utf-8"))["parts"]
    assert "transpose of the gradient" in rnn["b"]["feedback"]
    assert "$1 - h_{t+1} \\odot h_{t+1}$" in rnn["e"]["feedback"]
    assert "previous state" in rnn["f"]["feedback"]
    conv = json.loads((GOLDEN / "conv1d" / "mistakes.json").read_text(encoding="utf-8"))["parts"]
    assert "Off by one" in conv["b"]["feedback"]
    assert "wrong way" in conv["d"]["feedback"]


def test_the_matrix_mistakes_are_named_with_their_shapes() -> None:
    """The typical shape mistakes of mlp-matrix get feedback that names what is wrong."""
    golden = json.loads((GOLDEN / "mlp-matrix" / "mistakes.json").read_text(encoding="utf-8"))
    feedback = {pid: part["feedback"] for pid, part in golden["parts"].items()}
    assert "transpose of the gradient" in feedback["b"]
    assert "row of C (1×C)" in feedback["c"] and "transpose of the right answer" in feedback["c"]
    assert "not defined" in feedback["d"] and "transpose is missing on $W_{2}$" in feedback["d"]
    assert "ReLU" in feedback["e"]
