"""Benchmark grading past one machine: submissions per second and the latency a student sees
(from the POST until the result is stored), for the embedded mode and for 1, 2 and 4 workers.

Every configuration runs the real commands as subprocesses on loopback only:

- **embedded**: ``grader serve`` on a SQLite file with its own grading pool (the default,
  what ``make serve`` runs);
- **N workers**: ``grader serve --broker`` on PostgreSQL, and N ``grader worker`` processes
  (``--concurrency 1`` each, so N grading processes in all) on a Redis broker.

PostgreSQL and Redis are started for the run in temporary folders on free loopback ports
(``tests/services.py``, as the tests do) and stopped at the end. The load is a bounded loop:
``--clients`` threads each submit until ``--submissions`` have been sent in all, each
submission answers the seven parts with answers drawn from the labelled corpus
(tests/data/dev_answers.json) plus a random constant in one part, so most readings are new and
are really graded. A client polls its submission until it is graded. Figures: graded
submissions per second over the run, and the p50/p95 of the latency.

    .venv/bin/python benchmarks/bench_scale.py [--submissions 120] [--clients 20]
        [--workers 1,2,4] [--no-embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "web")]

from services import Postgres, Redis  # noqa: E402
from web_support import ServeProcess, WorkerProcess, free_port  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "dev_answers.json"
API = "/api/v1"


def answers_for(rng: random.Random, corpus: dict[str, list[str]]) -> dict[str, str]:
    answers = {part: rng.choice(options) for part, options in corpus.items()}
    part = rng.choice(sorted(answers))
    n = rng.randint(2, 10 ** 6)
    answers[part] = f"{answers[part]} + {n} - {n}"    # the same value, a new reading
    return answers


def load(server, total: int, clients: int, seed: int) -> dict:
    corpus: dict[str, list[str]] = {}
    for item in json.loads(CORPUS.read_text(encoding="utf-8"))["items"]:
        corpus.setdefault(item["part"], []).append(item["latex"])
    rng = random.Random(seed)
    bodies = [answers_for(rng, corpus) for _ in range(total)]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    todo = iter(range(total))

    def client() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                status, _, body = server.request(
                    "POST", f"{API}/problems/backprop/submissions",
                    {"student": f"s{i}", "answers": bodies[i]}, timeout=120)
                if status not in (201, 202):
                    raise RuntimeError(f"POST answered {status}: {body}")
                sid, token = body["id"], body["token"]
                deadline = started + 300
                while body["status"] != "graded":
                    if time.perf_counter() > deadline:
                        raise RuntimeError("not graded in 300 s")
                    time.sleep(0.05)
                    status, _, body = server.request(
                        "GET", f"{API}/submissions/{sid}?token={token}", timeout=60)
            except Exception as err:  # a failure is counted and shown, never hidden
                with lock:
                    failures.append(str(err))
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"graded": len(latencies), "failed": len(failures), "seconds": seconds,
            "per_second": len(latencies) / seconds,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": latencies[max(0, int(0.95 * len(latencies)) - 1)] if latencies
            else float("nan"), "errors": failures[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=120)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items()}
    env["GRADER_INSTRUCTOR_TOKEN"] = "bench-token"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        if not args.no_embedded:
            web = ServeProcess(str(work / "embedded.db"), free_port(), work, ["--workers", "2"],
                               env=env)
            try:
                load(web, 10, 2, args.seed + 1)                  # warm the grading processes
                rows.append(("embedded (SQLite, 2 grading processes)",
                             load(web, args.submissions, args.clients, args.seed)))
            finally:
                web.stop()
        postgres, redis = Postgres(), Redis()
        try:
            for n in [int(x) for x in args.workers.split(",") if x]:
                redis.flush()
                db = postgres.url()
                workers = [WorkerProcess(redis.url(), db, work, f"w{i}", concurrency=1,
                                         env=env, visibility=300) for i in range(n)]
                web = ServeProcess(db, free_port(), work, ["--broker", redis.url()], env=env)
                try:
                    load(web, 2 * n + 4, 2 * n, args.seed + 1)    # warm every worker
                    rows.append((f"{n} worker{'s' * (n > 1)} (PostgreSQL, Redis)",
                                 load(web, args.submissions, args.clients, args.seed)))
                finally:
                    web.stop()
                    for worker in workers:
                        worker.stop()
        finally:
            redis.stop()
            postgres.stop()

    print(f"{args.submissions} submissions, {args.clients} clients, {os.cpu_count()} cores")
    print("| mode | graded | failed | submissions/s | p50 latency | p95 latency |")
    print("|---|---|---|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['graded']} | {row['failed']} | {row['per_second']:.1f} | "
              f"{row['p50']:.2f} s | {row['p95']:.2f} s |")
        for error in row["errors"]:
            print(f"  error: {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
