"""Benchmark: grading answers to the sequence problems (rnn, conv1d) against backprop's, in one run.

The baseline is the grader itself on the first homework: every distinct answer of
tests/data/labelled_backprop.json (backprop) is graded in the same run as every distinct answer
of tests/data/labelled_sequence_heldout.json (rnn and conv1d), with the same cold start as
bench_part.py: SymPy's cache and our evaluators' caches are cleared before each pass, and the
per-instance caches before each answer, so no answer reuses another's work. What the sequence
answers add is the unrolled recurrence (T steps forward and back, on every instance), index
arithmetic and bounded sums, and SymPy proofs through nested tanh.

Reported: median and p99 per answer for both sets, the ratio of medians (sequence / backprop),
and the slowest answer of each set next to the 10 s time limit.

    .venv/bin/python benchmarks/bench_sequences.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_part import DATA, percentile, time_ours  # noqa: E402


def distinct(name: str) -> dict[str, list[dict]]:
    """The corpus's distinct answers, by problem."""
    seen, by_problem = set(), {}
    for item in json.loads((DATA / name).read_text(encoding="utf-8"))["items"]:
        problem = item.get("problem", "backprop")
        key = (problem, item["part"], item["latex"])
        if key not in seen:
            seen.add(key)
            by_problem.setdefault(problem, []).append(item)
    return by_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from grader.problem import load_problem

    timings: dict[str, list[float]] = {"backprop": [], "sequence": []}
    for corpus, label in (("labelled_backprop.json", "backprop"),
                          ("labelled_sequence_heldout.json", "sequence")):
        for problem_id, items in distinct(corpus).items():
            timings[label] += time_ours(load_problem(problem_id), items, args.repeat)
    for label, times in timings.items():
        median, p99 = statistics.median(times) * 1000, percentile(times, 0.99) * 1000
        print(f"{label:9} {len(times) // args.repeat:4} answers x {args.repeat}: median "
              f"{median:7.2f} ms, p99 {p99:7.1f} ms, slowest {max(times) * 1000:7.1f} ms "
              "(limit 10 s)")
    ratio = statistics.median(timings["sequence"]) / statistics.median(timings["backprop"])
    print(f"ratio of medians, sequence / backprop: {ratio:.2f}")


if __name__ == "__main__":
    main()
