"""``grader batch``: a folder in, results.jsonl / grades.csv / canvas.csv / report.html out.

Everything runs for real: worker processes, files on disk, the CLI in a subprocess where an
interruption is the point. A shared pool keeps the workers (and their warm checkers) between
tests.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.batch import grade_changes, load_results, run_batch
from grader.cli import main
from grader.gradebook import CANVAS_COLUMNS, canvas_identity
from grader.pool import GradingPool
from grader.problem import load_problem
from grader.results import SubmissionResult, Verdict

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "problems" / "backprop.toml"
DOCUMENTS = Path(__file__).parent / "data" / "documents"
CONTRACT_KEYS = {"problem", "submission", "score", "max_score", "parts"}
PART_KEYS = {"score", "max_score", "verdict", "feedback", "answer", "interpreted", "steps"}

RIGHT = {
    "a": r"\sigma(x)(1-\sigma(x))", "b": r"(c_k - t_k) g'(h_k)", "c": r"\delta_k b_j",
    "d": r"\delta_k", "e": r"g'(z_j) \sum_k \delta_k w_{jk}", "f": r"\psi_j a_i",
    "g": r"\psi_j",
}
# SymPy expands this for minutes: the part must be killed at the time limit.
# Right in value, but its proof expands two 60th powers of sums: SymPy takes minutes.
HANGS = (r"\psi_j + ((\sum_i a_i + e_j) + (\sum_k t_k + \sum_k f_k))^{60} - ((\sum_i a_i + e_j)^2"
         r" + 2(\sum_i a_i + e_j)(\sum_k t_k + \sum_k f_k) + (\sum_k t_k + \sum_k f_k)^2)^{30}")


@pytest.fixture(scope="module")
def pool():
    with GradingPool(workers=2) as shared:
        yield shared


@pytest.fixture(scope="module")
def problem():
    return load_problem("backprop")


def spec_copy(tmp_path: Path, **settings: str) -> Path:
    """A copy of the backprop spec with top-level settings replaced (``time_limit="1"``)."""
    text = SPEC.read_text(encoding="utf-8")
    for key, value in settings.items():
        text, n = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", text)
        assert n == 1, key
    path = tmp_path / f"spec-{'-'.join(f'{k}{v}' for k, v in settings.items())}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_json(folder: Path, name: str, answers: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"answers": answers}), encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_name(summary_or_lines) -> dict:
    items = getattr(summary_or_lines, "results", summary_or_lines)
    return {(r.submission if isinstance(r, SubmissionResult) else r["submission"]): r
            for r in items}


# --------------------------------------------------------------------------------------------
# A mixed folder


def test_mixed_folder_writes_every_output(tmp_path, pool, problem):
    """JSON and documents are graded together; an unreadable file still gets its line."""
    subs = tmp_path / "subs"
    write_json(subs, "ann", RIGHT)
    write_json(subs, "bob", {"a": r"-\sigma(x)(1-\sigma(x))", "c": r"\delta_k + b_j"})
    (subs / "seed.md").write_text((DOCUMENTS / "seed.md").read_text(encoding="utf-8"),
                                  encoding="utf-8")
    (subs / "junk.md").write_bytes((DOCUMENTS / "binary_junk.md").read_bytes())
    (subs / "notes.pdf").write_bytes(b"%PDF-1.4")          # not a submission: ignored
    out = tmp_path / "out"

    summary = run_batch(problem, subs, out, pool=pool, canvas=True)

    assert [r.submission for r in summary.results] == ["ann", "bob", "junk", "seed"]
    assert set(summary.outputs) == {"results", "grades", "canvas", "report"}
    logged = lines(out / "results.jsonl")
    assert [line["submission"] for line in logged] == ["ann", "bob", "junk", "seed"]
    for line in logged:
        assert CONTRACT_KEYS | {"meta"} == set(line)
        assert set(line["parts"]) == set("abcdefg")
        for part in line["parts"].values():
            assert PART_KEYS <= set(part)
    got = by_name(logged)
    assert got["ann"]["score"] == 8.0 and got["seed"]["score"] == 8.0
    assert got["bob"]["parts"]["a"]["verdict"] == "incorrect"
    assert got["bob"]["parts"]["a"]["feedback"].startswith("The sign is flipped")
    assert got["bob"]["parts"]["b"]["verdict"] == "missing"
    assert {p["verdict"] for p in got["junk"]["parts"].values()} == {"invalid"}
    assert "NUL characters" in got["junk"]["parts"]["a"]["feedback"]
    assert "junk.md" in summary.unreadable
    assert got["seed"]["meta"]["file"] == "seed.md"
    assert got["seed"]["meta"]["problem_hash"] == problem.source_hash

    with (out / "grades.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", "a", "b", "c", "d", "e", "f", "g", "total"]
    assert rows[1] == ["ann", "1", "1.5", "1", "1", "1.5", "1", "1", "8"]
    assert rows[2][0] == "bob" and rows[2][-1] == "0"
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_same_reading_is_graded_once(tmp_path, pool, problem):
    """Answers that read the same are one job with one verdict; each keeps its own text."""
    subs = tmp_path / "subs"
    write_json(subs, "s1", {"c": r"\delta_k b_j", "d": r"2\delta_k"})
    write_json(subs, "s2", {"c": r"\delta_{k}\,b_{j}", "d": r"2 \delta_{k}"})
    write_json(subs, "s3", {"c": r"\delta_k \cdot b_j", "d": r"\delta_k \cdot 2"})
    write_json(subs, "s4", {"c": r"b_j\delta_k", "d": "2\\delta_k("})   # other readings

    summary = run_batch(problem, subs, tmp_path / "out", pool=pool, report=False)

    # c: "\delta_k b_j" (x3 ways of writing it), "b_j \delta_k"; d: "2\delta_k" (x2),
    # "\delta_k 2", and one that does not read (keyed by its text).
    assert summary.answers == 8
    assert summary.graded_parts == 5
    got = by_name(summary)
    same_c = [got[s].parts["c"] for s in ("s1", "s2", "s3")]
    assert {p.verdict for p in same_c} == {Verdict.CORRECT}
    assert len({p.elapsed_ms for p in same_c}) == 1                 # one grading, shared
    assert [p.answer for p in same_c] == [r"\delta_k b_j", r"\delta_{k}\,b_{j}",
                                          r"\delta_k \cdot b_j"]
    assert got["s1"].parts["d"].elapsed_ms == got["s2"].parts["d"].elapsed_ms
    assert got["s1"].parts["d"].feedback == got["s2"].parts["d"].feedback
    assert got["s4"].parts["c"].verdict is Verdict.CORRECT
    assert got["s4"].parts["d"].verdict is Verdict.INVALID


def test_hung_part_is_killed_and_the_batch_goes_on(tmp_path, problem):
    """A part past the hard time limit comes back ``review`` with the reason; nothing waits."""
    spec = load_problem(spec_copy(tmp_path, time_limit="1"))
    subs = tmp_path / "subs"
    write_json(subs, "hangs", {**RIGHT, "g": HANGS})
    write_json(subs, "later", RIGHT)
    started = time.perf_counter()
    with GradingPool(workers=2) as own:
        summary = run_batch(spec, subs, tmp_path / "out", pool=own)
    assert time.perf_counter() - started < 30

    got = by_name(summary)
    hung = got["hangs"].parts["g"]
    assert hung.verdict is Verdict.REVIEW
    assert hung.flags == ["timeout"]
    assert "longer than the 1 s limit" in hung.feedback
    assert hung.answer == HANGS
    assert got["hangs"].score == 7.0                    # the other parts were graded
    assert got["later"].score == 8.0
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    queue = report[report.index('id="review"'):]
    assert "Review queue (1)" in queue and "longer than the 1 s limit" in queue


# --------------------------------------------------------------------------------------------
# Resume


def test_interrupted_batch_resumes_without_regrading(tmp_path):
    """Kill a real ``grader batch`` mid-run; the next run keeps every finished line as is."""
    spec = spec_copy(tmp_path, time_limit="2")
    subs = tmp_path / "subs"
    for n in range(6):
        write_json(subs, f"s{n}", {"c": r"\delta_k b_j", "d": f"{n + 2}\\delta_k"})
    write_json(subs, "zz_slow", {"c": r"\delta_k b_j", "g": HANGS})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "batch", str(subs), "--problem", str(spec),
               "--out", str(out), "--jobs", "1"]

    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.jsonl"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.exists() and results.read_text(encoding="utf-8").count("\n") >= 3:
                break
            assert proc.poll() is None, "the batch ended before it could be interrupted"
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = results.read_text(encoding="utf-8").splitlines()
    finished = [json.loads(line) for line in before if line.endswith("}")]
    assert 3 <= len(finished) < 7
    assert not any(line["submission"] == "zz_slow" for line in finished)

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(finished)} already done" in done.stdout
    after = lines(results)
    assert [line["submission"] for line in after] == [*(f"s{n}" for n in range(6)), "zz_slow"]
    kept = by_name(after)
    for line in finished:          # byte for byte: same grading time, so not graded again
        assert kept[line["submission"]] == line
    assert kept["zz_slow"]["parts"]["g"]["flags"] == ["timeout"]


def test_resume_regrades_only_what_changed(tmp_path, pool, problem):
    """A changed file, a damaged line or a changed spec is graded again; the rest is kept."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in ("ann", "bob", "cat"):
        write_json(subs, name, {"c": r"\delta_k + b_j"})
    (subs / "zz.json").write_text('{"answers": ', encoding="utf-8")
    first = run_batch(problem, subs, out, pool=pool, report=False)
    assert first.resumed == 0 and first.graded_parts == 1

    write_json(subs, "bob", {"c": r"\delta_k b_j"})               # bob fixed his answer
    with (out / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"problem": "backprop", "submission": "dan", "sco')   # cut off mid-line
    second = run_batch(problem, subs, out, pool=pool, report=False)
    assert second.resumed == 3
    assert [r.score for r in second.results] == [0.0, 1.0, 0.0, 0.0]
    assert list(second.unreadable) == ["zz.json"]          # still reported when resumed
    assert "not valid JSON" in second.unreadable["zz.json"]
    assert [line["submission"] for line in lines(out / "results.jsonl")] == [
        "ann", "bob", "cat", "zz"]

    third = run_batch(problem, subs, out, pool=pool, report=False, resume=False)
    assert third.resumed == 0

    changed = load_problem(spec_copy(tmp_path, sigmoid_only_credit="0.25"))
    fourth = run_batch(changed, subs, out, pool=pool, report=False)
    assert fourth.resumed == 0 and len(fourth.results) == 4


# --------------------------------------------------------------------------------------------
# Regrade


def test_regrade_lists_every_changed_grade(tmp_path, pool):
    """After a spec change, --previous names each grade that moved, in the report and CLI."""
    subs = tmp_path / "subs"
    write_json(subs, "ann", {**RIGHT, "b": r"(c_k - t_k) c_k (1 - c_k)"})   # sigmoid only
    write_json(subs, "bob", RIGHT)
    write_json(subs, "cat", {"b": r"(c_k - t_k) c_k (1 - c_k)", "c": r"b_j"})
    old = tmp_path / "old"
    run_batch(load_problem("backprop"), subs, old, pool=pool, report=False)
    (subs / "cat.json").unlink()
    write_json(subs, "dan", RIGHT)

    spec = spec_copy(tmp_path, sigmoid_only_credit="0.25")
    result = CliRunner().invoke(main, [
        "batch", str(subs), "--problem", str(spec), "--out", str(tmp_path / "new"),
        "--jobs", "2", "--previous", str(old / "results.jsonl")])
    assert result.exit_code == 0, result.output

    assert "3 grades changed since" in result.output
    assert "ann (b): 0.75/1.5 partial -> 0.375/1.5 partial" in result.output
    assert "cat (total): 0.75/8 -> not in this batch" in result.output
    assert "dan (total): not graded before -> 8/8" in result.output
    assert "bob" not in result.output.split("changed since")[1]
    report = (tmp_path / "new" / "report.html").read_text(encoding="utf-8")
    assert "0.75/1.5 partial" in report and "0.375/1.5 partial" in report


def test_grade_changes_compares_score_and_verdict(tmp_path, pool, problem):
    """Same score with another verdict is a change too; identical runs have none."""
    subs = tmp_path / "subs"
    write_json(subs, "ann", {"c": r"\delta_k + b_j", "d": "\\delta_k("})
    first = run_batch(problem, subs, tmp_path / "out", pool=pool, report=False)
    again = load_results(tmp_path / "out" / "results.jsonl")
    assert grade_changes(first.results, again) == []

    write_json(subs, "ann", {"c": r"\delta_k + b_j", "d": r"\delta_k^2"})    # invalid -> 0
    second = run_batch(problem, subs, tmp_path / "out", pool=pool, report=False)
    changes = grade_changes(first.results, second.results)
    assert [(c.student, c.part, c.old, c.new) for c in changes] == [
        ("ann", "d", "0/1 invalid", "0/1 incorrect")]


def test_previous_that_is_not_results_is_a_clear_error(tmp_path):
    subs = tmp_path / "subs"
    write_json(subs, "ann", RIGHT)
    bad = tmp_path / "old.jsonl"
    bad.write_text('{"problem": "backprop"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["batch", str(subs), "--problem", "backprop", "--out",
                                       str(tmp_path / "out"), "--previous", str(bad)])
    assert result.exit_code == 1
    assert f"Error: {bad}:1: not a grading result" in result.output


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "subs").mkdir()
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "subs"), "--problem",
                                       "backprop", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert "no submission files" in result.output


# --------------------------------------------------------------------------------------------
# Gradebooks


@pytest.mark.parametrize("name,expected", [
    ("smithjane_123456_7890123_hw1.md", {"Student": "smithjane", "ID": "123456",
                                         "SIS User ID": "", "Section": ""}),
    ("smithjane_LATE_123456_7890123_hw1", {"Student": "smithjane", "ID": "123456",
                                           "SIS User ID": "", "Section": ""}),
    ("jd4821", {"Student": "jd4821", "ID": "", "SIS User ID": "jd4821", "Section": ""}),
    ("jane_doe", {"Student": "jane_doe", "ID": "", "SIS User ID": "jane_doe", "Section": ""}),
], ids=["canvas-download", "canvas-download-late", "sis-id", "underscore-name"])
def test_canvas_identity(name, expected):
    assert canvas_identity(name) == expected


def test_canvas_csv(tmp_path, pool, problem):
    """Canvas's import layout: identity columns, one assignment column, Points Possible."""
    subs = tmp_path / "subs"
    write_json(subs, "smithjane_123456_7890123_hw1", RIGHT)
    write_json(subs, "jd4821", {"c": r"\delta_k b_j", "e": r"g'(z_j)\sum_k \delta_k w_{jk}"})
    run_batch(problem, subs, tmp_path / "out", pool=pool, canvas=True,
              canvas_assignment="HW1 Backprop (98765)", report=False)
    with (tmp_path / "out" / "canvas.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [
        [*CANVAS_COLUMNS, "HW1 Backprop (98765)"],
        ["Points Possible", "", "", "", "8"],
        ["jd4821", "", "jd4821", "", "2.5"],
        ["smithjane", "123456", "", "", "8"],
    ]


def test_cli_without_a_terminal_prints_quiet_progress_lines(tmp_path):
    subs = tmp_path / "subs"
    for n in range(3):
        write_json(subs, f"s{n}", {"d": r"\delta_k"})
    result = CliRunner().invoke(main, ["batch", str(subs), "--problem", "backprop", "--out",
                                       str(tmp_path / "out"), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "graded 3/3 submissions" in result.output
    assert "\r" not in result.output                            # no progress bar
    assert "graded 3 submissions in" in result.output
    assert "(3 answers, 1 distinct readings graded)" in result.output


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_follow_the_umask(tmp_path, umask: int, mode: int):
    """Every file grader batch writes gets 0666 less the umask, like any new file (a TA's group
    reads the grades when the umask allows it); they used to be owner-only whatever it was."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "batch", str(ROOT / "submissions"), "--problem",
               "backprop", "--out", str(out), "--canvas", "--jobs", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(umask))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert {"results.jsonl", "grades.csv", "canvas.csv", "report.html"} <= set(written)
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == mode, (path.name, oct(path.stat().st_mode))
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
