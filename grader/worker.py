"""A grading process: ``python -m grader.worker FD``, started by ``grader.pool.GradingPool``.

It talks over the socket whose descriptor it is given: it says ``("ready",)`` once the grader is
imported, then grades every ``Job`` it receives and sends back ``("ok", result JSON)`` or
``("error", message)``, until it receives ``None`` or the socket closes. A bug while grading is
logged with its traceback on stderr (the server's log) and reported, and the process keeps
serving. Memory is capped, so a runaway answer ends in a ``MemoryError``, not in the machine
swapping.
"""

from __future__ import annotations

import logging
import resource
import sys
from multiprocessing.connection import Connection

MEMORY_LIMIT_BYTES = 4 * 1024 ** 3

log = logging.getLogger("grader.worker")


def _limit_memory() -> None:
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY \
            else min(hard, MEMORY_LIMIT_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # pragma: no cover - a platform without the limit
        pass


def serve(conn: Connection) -> None:
    """Grade jobs from ``conn`` until told to stop."""
    from .grading import grade_answer
    from .problem import load_problem

    conn.send(("ready",))
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
        except Exception as err:  # a bug in the grader: log it whole, report it, keep serving
            log.exception("grading part %s of %s failed", job.part, job.problem_path)
            conn.send(("error", f"internal error while grading ({type(err).__name__}: {err})"))


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s grader worker %(process)d: %(message)s")
    _limit_memory()
    conn = Connection(int(argv[1]))
    try:
        serve(conn)
    except KeyboardInterrupt:  # pragma: no cover - the terminal's Ctrl+C reaches us too
        pass
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
