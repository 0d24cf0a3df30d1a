"""Where grading happens: behind ``GradingQueue``, never in a request thread.

A request stores the submission (committed, status ``pending``), hands its id to the queue
with ``enqueue`` and returns; whoever grades it saves the result in the database, and the web
side learns that the submission is done by reading its stored status back. Nothing here hands
a Python future to the request, so a backend whose workers run elsewhere fits the same
interface: ``CeleryGradingQueue``'s ``enqueue`` sends the id to a Redis broker, and the
workers (``grader worker``, ``grader.tasks``) write their results into the same database.

``EmbeddedGradingQueue`` is the backend for one web process: a bounded pool of background
threads that each take an id, load the stored submission, grade it through the
``GradingPool`` and save the result. Threads start on demand and end when idle, so an app
that is never used costs nothing.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

from ..errors import GraderError

log = logging.getLogger(__name__)


class QueueClosed(GraderError):
    """The queue takes no more work (the app is shutting down)."""


class GradingQueue(ABC):
    """Grade stored submissions in the background."""

    @abstractmethod
    def enqueue(self, submission_id: int) -> None:
        """Have submission ``submission_id`` (already stored) graded and its result saved.

        Returns at once. Enqueuing an id that is already waiting is a no-op."""

    def stats(self) -> dict[str, int] | None:
        """``{"waiting": n, "running": m}`` if the backend knows, else None."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Stop taking work; what was not started stays pending in the database."""


class EmbeddedGradingQueue(GradingQueue):
    """Background threads in the web process, at most ``threads`` at a time.

    ``grade(submission_id)`` does the work (load, grade, save); an exception it raises is
    logged and the thread goes on with the next id.
    """

    IDLE_SECONDS = 5.0      # a thread with nothing to do for this long ends

    def __init__(self, grade: Callable[[int], object], threads: int = 2):
        self._grade = grade
        self.threads = max(1, int(threads))
        self._waiting: deque[int] = deque()
        self._queued: set[int] = set()
        self._cond = threading.Condition()
        self._started = 0       # threads alive
        self._running = 0       # threads grading right now
        self._closed = False

    def enqueue(self, submission_id: int) -> None:
        with self._cond:
            if self._closed:
                raise QueueClosed("the grading queue is closed")
            if submission_id in self._queued:
                return
            self._queued.add(submission_id)
            self._waiting.append(submission_id)
            free = self._started - self._running
            if free < len(self._waiting) and self._started < self.threads:
                self._started += 1
                threading.Thread(target=self._work, name="grading", daemon=True).start()
            self._cond.notify_all()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"waiting": len(self._waiting), "running": self._running}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._queued.clear()
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is waiting or running (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and not self._running,
                                       timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    if self._closed or not self._cond.wait(self.IDLE_SECONDS) and \
                            not self._waiting:
                        self._started -= 1
                        self._cond.notify_all()
                        return
                submission_id = self._waiting.popleft()
                self._queued.discard(submission_id)
                self._running += 1
            try:
                self._grade(submission_id)
            except Exception:  # the submission stays as it was in the database
                log.exception("grading submission %s failed", submission_id)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()


class CeleryGradingQueue(GradingQueue):
    """Send each id to the Celery workers on ``broker`` (``grader.tasks``): nothing is graded
    in this process. A broker that does not answer raises here; the submission stays pending
    in the database, and the next start (or a regrade) sends it again."""

    def __init__(self, broker: str):
        from ..tasks import make_celery

        self.broker = broker
        self.app = make_celery(broker)
        self._closed = False

    def enqueue(self, submission_id: int) -> None:
        from ..tasks import TASK_SUBMISSION

        if self._closed:
            raise QueueClosed("the grading queue is closed")
        self.app.send_task(TASK_SUBMISSION, args=[submission_id])

    def stats(self) -> dict[str, int] | None:
        return None

    def close(self) -> None:
        self._closed = True
        self.app.close()
