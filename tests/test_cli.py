"""Tests for the installed ``grader`` command, run for real in a subprocess.

``grader grade`` prints a per-part table or the JSON contract; every error is one line
``Error: ...`` with the error's exit code and never a traceback; ``grader batch`` writes
results.jsonl and grades.csv.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
GOLDEN = Path(__file__).parent / "golden"


def grader(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_grade_table() -> None:
    done = grader("grade", SUBMISSIONS / "seed.md", "--problem", "backprop")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "score 8 / 8" in lines
    for part in "abcdefg":
        assert any(line.startswith(part + " ") and "correct" in line for line in lines), part
    assert r"read as: \delta_{k} \cdot b_{j}" in done.stdout


def test_grade_json_matches_the_golden_file() -> None:
    done = grader("grade", SUBMISSIONS / "carol.md", "--problem", "backprop", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    golden = json.loads((GOLDEN / "carol.json").read_text(encoding="utf-8"))
    assert (result["score"], result["max_score"]) == (golden["score"], golden["max_score"])
    for pid, part in golden["parts"].items():
        got = result["parts"][pid]
        assert {k: got[k] for k in part} == part
        assert isinstance(got["elapsed_ms"], (int, float))
        assert set(got) >= {"answer", "steps", "elapsed_ms"}


def test_grade_problem_by_path() -> None:
    done = grader("grade", SUBMISSIONS / "alice.json", "--problem",
                  ROOT / "problems" / "backprop.toml", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["score"] == 8


def one_error_line(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_unknown_problem() -> None:
    one_error_line(grader("grade", SUBMISSIONS / "alice.json", "--problem", "nope"), 2,
                   "unknown problem 'nope'")


def test_malformed_spec(tmp_path: Path) -> None:
    spec = tmp_path / "broken.toml"
    spec.write_text('id = "broken"\n[network\n', encoding="utf-8")
    one_error_line(grader("grade", SUBMISSIONS / "alice.json", "--problem", spec), 2,
                   "broken.toml", "TOML")


def test_spec_with_a_wrong_key(tmp_path: Path) -> None:
    text = (ROOT / "problems" / "backprop.toml").read_text(encoding="utf-8")
    spec = tmp_path / "typo.toml"
    spec.write_text(text.replace("reference = '\\delta_k b_j'", "reference = '\\delta_k q_j'"),
                    encoding="utf-8")
    one_error_line(grader("grade", SUBMISSIONS / "alice.json", "--problem", spec), 2,
                   "typo.toml", "reference", "'q'")


@pytest.mark.parametrize("name, data", [
    ("junk.md", bytes(range(256)) * 8),
    ("junk.tex", b"\x00\x01binary"),
    ("junk.json", b"\xff\xfe not json"),
    ("bad.json", b'{"answers": '),
], ids=["md", "tex", "json-bytes", "json-truncated"])
def test_unreadable_submission(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    one_error_line(grader("grade", path, "--problem", "backprop"), 3, name)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    one_error_line(grader("grade", tmp_path / "nope.md", "--problem", "backprop"), 3, "nope.md",
                   "not found")


def test_batch_of_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    one_error_line(grader("batch", tmp_path / "nowhere", "--problem", "backprop", "--out",
                          tmp_path / "out"), 3, "nowhere", "not a folder")


def test_missing_file_has_no_traceback(tmp_path: Path) -> None:
    done = grader("grade", tmp_path / "nope.md", "--problem", "backprop")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "Error: " in done.stderr and "nope.md" in done.stderr


def test_batch(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("seed.md", "alice.json", "carol.md", "dave.md"):
        (folder / name).write_bytes((SUBMISSIONS / name).read_bytes())
    (folder / "zed.md").write_bytes(b"\x00junk")
    out = tmp_path / "out"
    done = grader("batch", folder, "--problem", "backprop", "--out", out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    scores = {r["submission"]: r["score"] for r in results}
    assert scores == {"seed": 8, "alice": 8, "carol": 2, "dave": 3, "zed": 0}
    zed = next(r for r in results if r["submission"] == "zed")
    assert all(p["verdict"] == "invalid" for p in zed["parts"].values())
    with (out / "grades.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", *"abcdefg", "total"]
    by_student = {row[0]: row for row in rows[1:]}
    assert by_student["carol"][1:] == ["0", "0.75", "0", "0", "0.75", "0", "0.5", "2"]
    assert by_student["dave"][-1] == "3"
