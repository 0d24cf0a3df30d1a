"""Benchmark: time to grade one part, side by side with math-verify's verify() in the same run.

Both run in this process on the same answers: every distinct labelled answer of the project's
corpora (tests/data/dev_answers.json, dev_answers_2.json, labelled_backprop.json). Each pass:

- starts cold: SymPy's cache is cleared (``sympy.core.cache.clear_cache``), and so are our
  evaluators' caches and the 50/100-digit instances; math-verify gets the same SymPy reset;
- parses every part's reference once, outside the timing, for both graders (ours holds it in the
  loaded problem; math-verify's gold is ``parse(reference)`` done once per part);
- times, per answer, ours: ``grader.grading.grade_answer`` (read, claim, circularity, numeric
  check on every network instance, the 100-digit recheck of a counterexample or the SymPy proof,
  verdict, feedback, steps), with our per-instance caches cleared before every answer so a
  repeated subexpression is not free; theirs: ``verify(gold, parse(answer))``. math-verify
  cannot know the network (\\delta_k is just a symbol to it), so it bounds the cost of "read
  two LaTeX strings and ask SymPy", not correctness.

Reported, for all answers, for the answers math-verify reads as mathematics, and for the
textbook set alone: median and p99 for both and the ratio of medians (target <= 0.25, on the
answers math-verify reads; on the others it falls back to comparing strings and gives up in
under a millisecond). Then the slowest wrong answer (label incorrect or circular) next to the
time limit, the slowest answer, and the whole seed submission in-process and through a pool of
2 workers.

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
DATA = ROOT / "tests" / "data"
CORPORA = ("dev_answers.json", "dev_answers_2.json", "labelled_backprop.json",
           "labelled_backprop_2.json")
SEED = ROOT / "submissions" / "seed.md"


def distinct_items() -> list[dict]:
    seen, items = set(), []
    for name in CORPORA:
        for item in json.loads((DATA / name).read_text(encoding="utf-8"))["items"]:
            key = (item["part"], item["latex"])
            if key not in seen:
                seen.add(key)
                items.append({**item, "corpus": name})
    return items


def cold() -> None:
    """Clear SymPy's cache and every cache of ours, as at the start of a fresh worker."""
    import sympy.core.cache

    from grader import grading

    sympy.core.cache.clear_cache()
    for checker in grading._CHECKERS.values():
        clear_answer_caches(checker)
        checker._symbolic.clear()
        checker._precise.clear()


def clear_answer_caches(checker) -> None:
    for instance in checker.instances:
        instance.cache.clear()
    for instance in [*checker._symbolic.values(), *checker._precise.values()]:
        instance.cache.clear()


def time_ours(problem, items, repeat: int) -> list[float]:
    from grader import grading

    for item in items:  # builds every part's checker and network instances once
        grading.grade_answer(problem, item["part"], item["latex"])
    times = []
    for _ in range(repeat):
        cold()
        for item in items:
            for checker in grading._CHECKERS.values():
                clear_answer_caches(checker)
            started = time.perf_counter()
            grading.grade_answer(problem, item["part"], item["latex"])
            times.append(time.perf_counter() - started)
    return times


def time_math_verify(problem, items, repeat: int) -> list[float] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    import sympy.core.cache

    gold = {pid: parse(f"${part.reference}$") for pid, part in problem.parts.items()}
    for item in items:  # warm-up: imports and lazy set-up
        verify(gold[item["part"]], parse(f"${item['latex']}$"))
    times = []
    for _ in range(repeat):
        sympy.core.cache.clear_cache()
        for item in items:
            started = time.perf_counter()
            verify(gold[item["part"]], parse(f"${item['latex']}$"))
            times.append(time.perf_counter() - started)
    return times


def time_submission(problem, repeat: int) -> tuple[float, float]:
    """Median seconds for the seed's 7 parts: in-process (cold), and through 2 pool workers."""
    from grader import api, grading
    from grader.pool import GradingPool

    submission = api.read_submission_for(problem, SEED)
    answers = {pid: a.latex for pid, a in submission.answers.items()}
    in_process = []
    for _ in range(repeat + 1):
        cold()
        started = time.perf_counter()
        for pid, latex in answers.items():
            grading.grade_answer(problem, pid, latex)
        in_process.append(time.perf_counter() - started)
    pooled = []
    with GradingPool(workers=2) as pool:
        api.grade_submission(problem, answers, pool=pool)  # start the workers
        for _ in range(repeat):
            started = time.perf_counter()
            api.grade_submission(problem, answers, pool=pool)
            pooled.append(time.perf_counter() - started)
    return statistics.median(in_process[1:]), statistics.median(pooled)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def math_verify_reads(items) -> set[int]:
    """Indices of the answers math-verify reads as mathematics (not as a string fallback)."""
    try:
        import sympy
        from math_verify import parse
    except ImportError:
        return set()
    return {n for n, item in enumerate(items)
            if (found := parse(f"${item['latex']}$")) and isinstance(found[0], sympy.Basic)}


def report(title: str, chosen: list[int], ours: list[float], theirs: list[float] | None,
           passes: int, count: int) -> None:
    """Median and p99 over every timed grading of the chosen answers, and the ratio."""
    mine = [ours[p * count + n] for p in range(passes) for n in chosen]
    line = (f"{title:44s} n={len(chosen):3d}  ours median {statistics.median(mine) * 1000:6.2f} ms"
            f" p99 {percentile(mine, .99) * 1000:7.2f} ms")
    if theirs is not None:
        other = [theirs[p * count + n] for p in range(passes) for n in chosen]
        ratio = statistics.median(mine) / statistics.median(other)
        line += (f" | math-verify median {statistics.median(other) * 1000:6.2f} ms"
                 f" p99 {percentile(other, .99) * 1000:7.2f} ms | ratio {ratio:5.3f}")
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the answers")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from grader.problem import load_problem

    problem = load_problem("backprop")
    items = distinct_items()
    ours = time_ours(problem, items, args.repeat)
    theirs = time_math_verify(problem, items, args.repeat)
    whole, pooled = time_submission(problem, args.repeat)

    print(f"{len(items)} distinct labelled answers x {args.repeat} passes; SymPy's cache cleared "
          "before each pass, ours before each answer too")
    if theirs is None:
        print("math-verify not installed: .venv/bin/pip install -e '.[bench]'")
    everything = list(range(len(items)))
    read = sorted(math_verify_reads(items))
    first = [n for n, item in enumerate(items) if item["corpus"] == "dev_answers.json"]
    report("all answers", everything, ours, theirs, args.repeat, len(items))
    report("answers math-verify reads as mathematics", read, ours, theirs, args.repeat,
           len(items))
    report("dev_answers.json (textbook notation)", first, ours, theirs, args.repeat, len(items))
    print("(the bar, ratio <= 0.25, is for the answers math-verify reads as mathematics: on the "
          "others it falls back to comparing strings, which measures it giving up, not checking)")
    per_item = {n: [ours[p * len(items) + n] for p in range(args.repeat)] for n in everything}
    wrong = [(statistics.median(per_item[n]), items[n]) for n in everything
             if items[n]["label"] in ("incorrect", "circular")]
    seconds, item = max(wrong, key=lambda pair: pair[0])
    print(f"slowest wrong answer: {seconds * 1000:.1f} ms (time limit {problem.time_limit:g} s): "
          f"({item['part']}) {item['latex'][:70]}")
    slowest = max(everything, key=lambda n: statistics.median(per_item[n]))
    print(f"slowest answer: {statistics.median(per_item[slowest]) * 1000:.1f} ms: "
          f"({items[slowest]['part']}) {items[slowest]['latex'][:70]}")
    over = sum(statistics.median(times) > 1.0 for times in per_item.values())
    print(f"answers over 1 s (median of passes): {over}")
    print(f"whole seed submission (7 parts): {whole * 1000:.1f} ms in-process (cold), "
          f"{pooled * 1000:.1f} ms through a pool of 2 workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
