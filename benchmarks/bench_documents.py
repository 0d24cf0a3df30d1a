"""Benchmark: reading a submitted document is linear, even for the worst documents we know.

For each shape of document, at 10 kB, 100 kB and 1 MB (the upload limit), it times
``grader.documents.parse_document`` with the problem's prompts, as the CLI and the web form read
a document (finding every part and its answer, the question's own math left out), followed by
``grader.reader.read_answer`` on every answer found (what grading reads first), next to a
baseline in the same run: one pass of a regular expression over the same text
(``re.findall(r"\\$[^$]*\\$", text)``), the least any reader of math in a text must do. Linear
reading shows as a ratio that stays flat as the document grows, and as time per megabyte.

Shapes: a realistic homework (the seed submission) repeated; and the pathological ones that made
readers quadratic before: long runs of spaces, of dollars, of backslashes, of unclosed braces,
of part markers, of display rows, of inline math, of spacing commands before a full stop.

    .venv/bin/python benchmarks/bench_documents.py
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "submissions" / "seed.md"
SIZES = (10_000, 100_000, 1_000_000)
PARTS = list("abcdefg")


def shapes(size: int) -> dict[str, str]:
    seed = SEED.read_text(encoding="utf-8")
    room = size - 100

    def fill(unit: str, head: str = "") -> str:
        return head + unit * max(1, (room - len(head)) // len(unit))

    return {
        "homework (the seed, repeated)": fill(seed + "\n"),
        "spaces in an answer": fill(" ", "(a) Your answer: $x"),
        "dollars": fill("$"),
        "backslashes": fill("\\"),
        "unclosed braces": fill("{", "(a) Your answer: $"),
        "part markers": fill("(a)\n"),
        "display rows": fill("a &= b \\\\ ", "(a) $$"),
        "inline math": fill("$x$ ", "(c) "),
        "spacing before a stop": fill(" \\,", "(a) $x"),
        "unclosed environments": fill("\\begin{align}", "(a) "),
    }


def time_ours(text: str, problem) -> float:
    from grader.documents import parse_document
    from grader.errors import GraderError
    from grader.reader import read_answer

    prompts = {pid: part.prompt for pid, part in problem.parts.items()}
    started = time.perf_counter()
    submission = parse_document(text[:1_000_000], PARTS, prompts)  # as the CLI and web read
    for pid, answer in submission.answers.items():
        try:
            read_answer(answer.latex, problem.part(pid).vocabulary)
        except GraderError:
            pass
    return time.perf_counter() - started


def time_baseline(text: str) -> float:
    started = time.perf_counter()
    re.findall(r"\$[^$]*\$", text)
    return time.perf_counter() - started


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from grader.problem import load_problem

    problem = load_problem("backprop")
    print(f"{'document':32s} {'size':>9s} {'ours':>10s} {'regex pass':>11s} {'ratio':>7s}"
          f" {'ours per MB':>12s}")
    worst = 0.0
    for size in SIZES:
        for name, text in shapes(size).items():
            ours = statistics.median(time_ours(text, problem) for _ in range(3))
            base = statistics.median(time_baseline(text) for _ in range(3))
            per_mb = ours / (len(text) / 1e6)
            worst = max(worst, ours if size == SIZES[-1] else 0.0)
            print(f"{name:32s} {len(text):9,d} {ours * 1000:8.1f} ms {base * 1000:8.2f} ms"
                  f" {ours / max(base, 1e-7):7.0f} {per_mb * 1000:9.0f} ms")
    print(f"slowest 1 MB document: {worst:.2f} s (target: under 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
