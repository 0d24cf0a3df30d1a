"""Benchmark: median warm time to grade one part, side by side with math-verify's verify().

Both run in this process on the same answers (the labelled corpus, tests/data/dev_answers.json)
after a warm-up pass over all of them:

- ours: ``grader.grading.grade_answer(problem, part, latex)``: read, circularity, the numeric
  check on every network instance, the symbolic proof, the verdict and feedback. Between
  answers the per-instance evaluator caches are cleared, so a repeated answer is not free.
- math-verify: ``verify(parse(gold), parse(answer))`` with the part's reference as gold (it
  reads LaTeX with latex2sympy2_extended and compares with SymPy; it cannot know the network,
  so it is a baseline for cost, not for correctness).

Then the whole seed submission (7 parts): in-process, and through a GradingPool of 2 workers
(the path the CLI and the web app take, with the hard time limit).

    .venv/bin/python benchmarks/bench_part.py [--repeat 5]     # or: make bench
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "dev_answers.json"
SEED = ROOT / "submissions" / "seed.md"


def clear_caches(grading) -> None:
    for checker in grading._CHECKERS.values():
        for instance in checker.instances:
            instance.cache.clear()
        for symbolic in checker._symbolic.values():
            symbolic.cache.clear()


def time_ours(problem, items, repeat: int) -> list[float]:
    from grader import grading

    for item in items:  # warm-up: builds every part's checker and network instances
        grading.grade_answer(problem, item["part"], item["latex"])
    times = []
    for _ in range(repeat):
        for item in items:
            clear_caches(grading)
            started = time.perf_counter()
            grading.grade_answer(problem, item["part"], item["latex"])
            times.append(time.perf_counter() - started)
    return times


def time_math_verify(problem, items, repeat: int) -> list[float] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def once(item) -> None:
        gold = parse(f"${problem.part(item['part']).reference}$")
        verify(gold, parse(f"${item['latex']}$"))

    for item in items:  # warm-up
        once(item)
    times = []
    for _ in range(repeat):
        for item in items:
            started = time.perf_counter()
            once(item)
            times.append(time.perf_counter() - started)
    return times


def time_submission(problem, repeat: int) -> tuple[float, float]:
    """Median seconds for the seed's 7 parts: in-process, and through a pool of 2 workers."""
    from grader import api, grading
    from grader.pool import GradingPool

    submission = api.read_submission_for(problem, SEED)
    answers = {pid: a.latex for pid, a in submission.answers.items()}
    in_process = []
    for _ in range(repeat + 1):
        clear_caches(grading)
        started = time.perf_counter()
        for pid, latex in answers.items():
            grading.grade_answer(problem, pid, latex)
        in_process.append(time.perf_counter() - started)
    pooled = []
    with GradingPool(workers=2) as pool:
        api.grade_submission(problem, answers, pool=pool)  # start and warm the workers
        for _ in range(repeat):
            started = time.perf_counter()
            api.grade_submission(problem, answers, pool=pool)
            pooled.append(time.perf_counter() - started)
    return statistics.median(in_process[1:]), statistics.median(pooled)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the corpus")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from grader.problem import load_problem

    problem = load_problem("backprop")
    items = json.loads(CORPUS.read_text(encoding="utf-8"))["items"]
    ours = time_ours(problem, items, args.repeat)
    theirs = time_math_verify(problem, items, args.repeat)
    whole, pooled = time_submission(problem, args.repeat)

    ours_ms = statistics.median(ours) * 1000
    print(f"answers: {len(items)} corpus answers x {args.repeat} passes, warm")
    print(f"grader grade_answer     median {ours_ms:8.2f} ms/part   "
          f"p90 {sorted(ours)[int(0.9 * len(ours))] * 1000:8.2f} ms")
    if theirs is None:
        print("math-verify not installed: .venv/bin/pip install -e '.[bench]'")
    else:
        theirs_ms = statistics.median(theirs) * 1000
        print(f"math-verify verify()    median {theirs_ms:8.2f} ms/part   "
              f"p90 {sorted(theirs)[int(0.9 * len(theirs))] * 1000:8.2f} ms")
        print(f"ratio (ours / math-verify)    {ours_ms / theirs_ms:8.2f}   (target <= 1.0)")
    print(f"whole seed submission (7 parts): {whole * 1000:.1f} ms in-process, "
          f"{pooled * 1000:.1f} ms through a pool of 2 workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
