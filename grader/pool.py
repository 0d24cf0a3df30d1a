"""Grade parts in worker processes under a hard time limit.

A part that runs past its limit has its worker process killed (the only stop that works for
code stuck inside SymPy or NumPy, and from any thread: ``signal.alarm`` works in neither), and
comes back as ``review`` with the reason. Workers are forked from a forkserver that has already
imported the grader, so a replacement starts in milliseconds; each keeps its problems and
network instances warm between parts. ``GradingPool`` is safe to share between threads.

As with any multiprocessing code, a script that starts a pool must guard its top level with
``if __name__ == "__main__":``: each worker re-imports the script's main module.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import resource
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .results import PartResult, Verdict

MEMORY_LIMIT_BYTES = 4 * 1024 ** 3


@dataclass(frozen=True)
class Job:
    """One part to grade: the problem spec's path, the part id and the answer's LaTeX."""

    problem_path: str
    part: str
    latex: str
    max_score: float
    time_limit: float


def _worker_main(conn) -> None:
    """Loop in the worker: receive a Job, grade it, send back the result's JSON."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard,
                                                                              MEMORY_LIMIT_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # pragma: no cover - platform without the limit
        pass
    from .grading import grade_answer
    from .problem import load_problem

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            result = grade_answer(load_problem(job.problem_path), job.part, job.latex)
            conn.send(("ok", result.to_json()))
        except MemoryError:
            conn.send(("error", "grading this answer needed too much memory"))
        except Exception as err:  # a bug in the grader: report it, keep serving
            conn.send(("error", f"internal error while grading ({type(err).__name__}: {err})"))


def _reading(job: Job) -> str:
    """How the answer reads, for a part the worker could not finish ("" if it does not read).

    Reading is linear in the length-limited text, so it is safe here in the caller.
    """
    from .claims import claim_for
    from .expr import to_latex
    from .problem import load_problem
    from .reader import read_answer

    try:
        problem = load_problem(job.problem_path)
        part = problem.part(job.part)
        claim = claim_for(read_answer(job.latex, part.vocabulary), problem, part)
    except Exception:  # a reading is a courtesy here; the verdict is review either way
        return ""
    return to_latex(claim.value) if claim.value is not None else ""


def _context():
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["grader.grading", "grader.problem"])
    return ctx


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def run(self, job: Job) -> tuple[str, object]:
        """Send ``job``; ("ok", json), ("error", message) or ("timeout", seconds)."""
        try:
            self.conn.send(job)
            if not self.conn.poll(job.time_limit):
                return "timeout", job.time_limit
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return "died", "the grading process died"

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class GradingPool:
    """A fixed number of grading processes, started on first use."""

    def __init__(self, workers: int | None = None):
        self.size = max(1, workers or os.cpu_count() or 1)
        self._ctx = _context()
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the grading pool is closed")
            if self._idle.empty() and self._started < self.size:
                self._started += 1
                return _Worker(self._ctx)
        worker = self._idle.get()
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            return _Worker(self._ctx)
        return worker

    def run(self, job: Job) -> PartResult:
        """Grade one job in a worker; a job past its time limit kills that worker."""
        started = time.perf_counter()
        worker = self._acquire()
        status, payload = worker.run(job)
        if status == "ok":
            self._idle.put(worker)
            return PartResult.from_json(job.part, payload)
        if status == "error":  # the worker caught it and is still serving
            self._idle.put(worker)
        else:
            worker.kill()
            self._idle.put(_Worker(self._ctx) if not self._closed else None)
        elapsed = (time.perf_counter() - started) * 1000
        if status == "timeout":
            reason = (f"Grading this answer took longer than the {job.time_limit:g} s limit and "
                      "was stopped; a TA will review it.")
            flags = ["timeout"]
        else:
            reason = f"The grader could not finish this answer ({payload}); a TA will review it."
            flags = ["crashed"]
        return PartResult(part=job.part, score=0.0, max_score=job.max_score,
                          verdict=Verdict.REVIEW, feedback=reason, answer=job.latex,
                          interpreted=_reading(job), elapsed_ms=elapsed, flags=flags)

    def map(self, jobs: Iterable[Job]) -> Iterator[PartResult]:
        """Grade jobs in parallel on every worker; results come back in the jobs' order."""
        with ThreadPoolExecutor(max_workers=self.size) as threads:
            yield from threads.map(self.run, jobs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                worker.stop()

    def __enter__(self) -> GradingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
