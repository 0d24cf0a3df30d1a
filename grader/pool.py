"""Grade parts in worker processes under a hard time limit.

A part that runs past its limit has its worker process killed (the only stop that works for
code stuck inside SymPy or NumPy, and from any thread: ``signal.alarm`` works in neither), and
comes back as ``review`` with the reason. Each worker is a plain ``python -m grader.worker``
subprocess talking over a socket pair: it never imports the caller's ``__main__``, so a pool
works from a script without an ``if __name__ == "__main__":`` guard, from ``python -`` and a
notebook, from a pytest run and from any thread. A worker tells the pool when it has imported
the grader, and a part's time limit starts only then; a killed worker is replaced at once, and
the replacement warms up while the others work. Each worker keeps its problems and network
instances warm between parts. ``GradingPool`` is safe to share between threads.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from .errors import GraderError
from .results import PartResult, Verdict

log = logging.getLogger(__name__)

STARTUP_LIMIT = 120.0   # seconds a new worker may take to import the grader
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Job:
    """One part to grade: the problem spec's path, the part id and the answer's LaTeX."""

    problem_path: str
    part: str
    latex: str
    max_score: float
    time_limit: float


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


class _Worker:
    """One ``python -m grader.worker`` process and the parent's end of its socket."""

    def __init__(self):
        parent, child = socket.socketpair()
        env = dict(os.environ)
        # the child finds this very grader, installed or not
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                          env.get("PYTHONPATH", "")]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader.worker", str(child.fileno())],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, env=env,
                close_fds=True)
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.ready = False

    def wait_ready(self) -> bool:
        """Wait for the worker's hello (it has imported the grader); False if it never came."""
        if self.ready:
            return True
        try:
            if self.conn.poll(STARTUP_LIMIT) and self.conn.recv() == ("ready",):
                self.ready = True
        except (EOFError, OSError):
            pass
        return self.ready

    def run(self, job: Job) -> tuple[str, object]:
        """Send ``job``; ("ok", json), ("error", message), ("timeout", seconds) or ("died", ..)."""
        if not self.wait_ready():
            return "died", "the grading process did not start"
        try:
            self.conn.send(job)
            if not self.conn.poll(job.time_limit):
                return "timeout", job.time_limit
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return "died", "the grading process died"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            log.warning("grading process %s did not stop", self.process.pid)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.conn.close()


class GradingPool:
    """A fixed number of grading processes, started on first use."""

    def __init__(self, workers: int | None = None):
        self.size = max(1, workers or os.cpu_count() or 1)
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self._threads: ThreadPoolExecutor | None = None

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise GraderError("the grading pool is closed")
            if self._idle.empty() and self._started < self.size:
                self._started += 1
                return _Worker()
        worker = self._idle.get()
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            return _Worker()
        return worker

    def _release(self, worker: _Worker | None) -> None:
        if self._closed:
            if worker is not None:
                worker.stop()
            return
        self._idle.put(worker)

    def run(self, job: Job) -> PartResult:
        """Grade one job in a worker; a job past its time limit kills that worker."""
        worker = self._acquire()
        worker.wait_ready()  # the limit counts grading, not the worker's start-up
        started = time.perf_counter()
        status, payload = worker.run(job)
        if status == "ok":
            self._release(worker)
            assert isinstance(payload, dict)
            return PartResult.from_json(job.part, payload)
        if status == "error":  # the worker caught it, logged the traceback, and still serves
            self._release(worker)
        else:
            worker.kill()
            self._release(_Worker() if not self._closed else None)  # warms up meanwhile
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

    def submit(self, job: Job) -> Future[PartResult]:
        """Grade ``job`` in the background; the future holds its result."""
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(max_workers=self.size,
                                                   thread_name_prefix="grader-pool")
            threads = self._threads
        return threads.submit(self.run, job)

    def map(self, jobs: Iterable[Job]) -> Iterator[PartResult]:
        """Grade jobs in parallel on every worker; results come back in the jobs' order."""
        futures = [self.submit(job) for job in jobs]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
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
