"""Grade a folder of submissions: results.jsonl and grades.csv.

Every file in the folder with a known extension (.json, .md, .tex, .txt) is one submission.
Answers that read the same (the same part and text) are graded once. A file that cannot be
read still gets a line in results.jsonl, with every part ``invalid`` and the reason.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .api import job_for, read_submission_for
from .errors import SubmissionError
from .pool import GradingPool
from .problem import Problem
from .results import PartResult, SubmissionResult, Verdict

SUFFIXES = (".json", ".md", ".tex", ".txt")


@dataclass
class BatchSummary:
    results: list[SubmissionResult]
    unreadable: dict[str, str] = field(default_factory=dict)   # file name -> reason
    graded_parts: int = 0                                      # distinct answers graded


def submission_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def run_batch(problem: Problem, directory: Path, out: Path, *, pool: GradingPool,
              progress: Callable[[int], None] | None = None) -> BatchSummary:
    """Grade every submission in ``directory`` and write the outputs to ``out``."""
    files = submission_files(directory)
    submissions, unreadable = {}, {}
    for path in files:
        try:
            submissions[path] = read_submission_for(problem, path)
        except SubmissionError as err:
            unreadable[path.name] = str(err)

    unique: dict[tuple[str, str], int] = {}
    jobs = []
    for submission in submissions.values():
        for pid, answer in submission.answers.items():
            key = (pid, answer.latex)
            if key not in unique:
                unique[key] = len(jobs)
                jobs.append(job_for(problem, pid, answer.latex))
    graded: list[PartResult] = []
    for result in pool.map(jobs):
        graded.append(result)
        if progress:
            progress(1)

    results = []
    for path in files:
        submission = submissions.get(path)
        parts = {}
        for pid, part in problem.parts.items():
            if path.name in unreadable:
                parts[pid] = PartResult(pid, 0.0, part.points, Verdict.INVALID,
                                        unreadable[path.name])
            elif pid in submission.answers:
                parts[pid] = graded[unique[(pid, submission.answers[pid].latex)]]
            else:
                parts[pid] = PartResult(pid, 0.0, part.points, Verdict.MISSING,
                                        "No answer was found for this part.")
        results.append(SubmissionResult(problem.id, path.stem, parts))

    out.mkdir(parents=True, exist_ok=True)
    write_results(results, out / "results.jsonl")
    write_grades(problem, results, out / "grades.csv")
    return BatchSummary(results, unreadable, len(jobs))


def write_results(results: list[SubmissionResult], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for result in results:
            f.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


def write_grades(problem: Problem, results: list[SubmissionResult], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *problem.parts, "total"])
        for result in results:
            writer.writerow([result.submission,
                             *(f"{result.parts[p].score:g}" for p in problem.parts),
                             f"{result.score:g}"])
