"""Grading on a queue: Celery tasks on a Redis broker, for graders on several machines.

``grader serve --broker URL`` sends the id of each stored submission to the broker (task
``grader.grade_submission``); ``grader worker --broker URL --db URL`` runs the workers that
take the ids, grade the submission stored in the shared database and save its result there.
``grader batch DIR --broker URL`` sends each distinct reading of a class's answers (task
``grader.grade_part``, with the problem's spec) and collects the part results from the broker.

Delivery is at least once: a task is acknowledged only once it has finished (``acks_late``),
a task whose worker process is lost is put back (``reject_on_worker_lost``), and a message a
worker took but never acknowledged (the worker was SIGKILLed, its machine died) goes back to
the queue after the broker's visibility timeout. A grading can therefore run twice; its
result is written once, because the store only saves a result for a submission still owed
one (``Store.save_result``), and a worker skips a submission that is not.

Inside a worker, every part is graded by the same ``GradingPool`` as everywhere else, so a
part keeps the problem's hard time limit (its grading process is killed past it). The
worker runs Celery's thread pool: ``--concurrency`` threads, each waiting on the pool's
grading processes, as many as there are threads.

This module is the core's: it knows nothing of Flask.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .errors import GraderError
from .pool import GradingPool, Job
from .results import PartResult

log = logging.getLogger(__name__)

BROKER_URL_ENV = "GRADER_BROKER_URL"
VISIBILITY_ENV = "GRADER_VISIBILITY_TIMEOUT"
QUEUE = "grader"
TASK_SUBMISSION = "grader.grade_submission"
TASK_PART = "grader.grade_part"
# A message taken but not acknowledged comes back after this many seconds: longer than a
# submission takes to grade (its parts, each under the problem's time limit), or a slow
# grading is also handed to a second worker (harmless, as the result is written once, but
# wasted work).
DEFAULT_VISIBILITY_TIMEOUT = 300.0


class BrokerError(GraderError):
    """The broker cannot be used: a URL that is not redis://, a broker that does not answer."""


def check_broker_url(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "redis+socket://")):
        raise BrokerError(f"the broker must be Redis (redis://HOST:PORT/DB), not {url!r}")
    return url


def visibility_timeout(value: float | None = None) -> float:
    if value is not None:
        return float(value)
    try:
        return float(os.environ.get(VISIBILITY_ENV) or DEFAULT_VISIBILITY_TIMEOUT)
    except ValueError:
        raise BrokerError(f"${VISIBILITY_ENV} must be a number of seconds") from None


def make_celery(broker: str, visibility: float | None = None):
    """The Celery app every process of a deployment shares: the same broker (which is also
    the result store, for ``grader batch``), the same queue and the same delivery rules."""
    from celery import Celery

    check_broker_url(broker)
    timeout = visibility_timeout(visibility)
    app = Celery("grader", broker=broker, backend=broker, set_as_current=False)
    transport = {"visibility_timeout": timeout,
                 # look for abandoned messages every second (the default scans every 100 s)
                 "unacked_restore_interval": max(1, min(10, int(timeout // 5) or 1)),
                 "unacked_restore_throttle": 1,
                 "socket_timeout": 30, "socket_connect_timeout": 5}
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,                 # acknowledged once graded, not once received
        task_reject_on_worker_lost=True,     # a lost worker process puts its task back
        worker_prefetch_multiplier=1,        # a worker holds only what it is grading
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=24 * 3600,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2,
                                   "interval_step": 0.5, "interval_max": 2},
        worker_send_task_events=True,        # for `celery events` and Flower
        task_send_sent_event=True,
    )
    return app


# ----------------------------------------------------------------------- in a worker
class _WorkerState:
    """What a worker process shares between its threads: the store and the grading pool."""

    def __init__(self):
        self.lock = threading.Lock()
        self.db: str | None = None
        self.size = 1
        self._pool: GradingPool | None = None
        self._service: Any = None
        self.specs = Path(tempfile.gettempdir()) / f"grader-specs-{os.getuid()}"

    def configure(self, db: str | None, size: int) -> None:
        self.db, self.size = db, max(1, size)

    @property
    def pool(self) -> GradingPool:
        with self.lock:
            if self._pool is None:
                self._pool = GradingPool(workers=self.size)
            return self._pool

    @property
    def service(self):
        """The web service's grading, without Flask: load, grade, save."""
        from .web.service import GradingService
        from .web.storage import Store

        pool = self.pool
        with self.lock:
            if self._service is None:
                if not self.db:
                    raise GraderError("this worker was started without --db: it grades "
                                      "only batch parts")
                self._service = GradingService(Store(self.db), pool=pool)
            return self._service

    def spec_file(self, text: str, name: str) -> str:
        """The spec sent with a batch part, as a file here (one per content)."""
        folder = self.specs / hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        path = folder / Path(name).name
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            part.write_text(text, encoding="utf-8")
            part.replace(path)
        return str(path)

    def close(self) -> None:
        with self.lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


state = _WorkerState()


def register_tasks(app) -> None:
    @app.task(name=TASK_SUBMISSION, acks_late=True, reject_on_worker_lost=True)
    def grade_submission(submission_id: int) -> bool:
        """Grade a stored submission and save its result, unless it is not owed one (a
        redelivery of a grading that finished): True if a result was written now."""
        service = state.service
        if not service.store.owed(submission_id):
            log.info("submission %s is graded already; nothing to do", submission_id)
            return False
        return bool(service.grade_one(submission_id))

    @app.task(name=TASK_PART, acks_late=True, reject_on_worker_lost=True)
    def grade_part(spec: str, spec_name: str, part: str, latex: str, max_score: float,
                   time_limit: float) -> dict:
        """Grade one answer to one part of the problem whose spec is sent along."""
        job = Job(state.spec_file(spec, spec_name), part, latex, max_score, time_limit)
        return state.pool.run(job).to_json()


def run_worker(broker: str, db: str | None, concurrency: int, loglevel: str = "INFO",
               hostname: str | None = None, visibility: float | None = None) -> None:
    """``grader worker``: a Celery worker on the grading queue, in this process."""
    app = make_celery(broker, visibility)
    register_tasks(app)
    state.configure(db, concurrency)
    if db:
        state.service  # noqa: B018 - open the store now: a bad --db fails at start
    argv = ["worker", f"--concurrency={concurrency}", "--pool=threads", f"--queues={QUEUE}",
            f"--loglevel={loglevel}", "--without-mingle", "--without-gossip"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    try:
        app.worker_main(argv=argv)
    finally:
        state.close()


# ------------------------------------------------------------------- for the callers
class CeleryPool:
    """A stand-in for ``GradingPool`` that grades parts on the workers (``grader batch
    --broker``): ``run(job)`` sends the part and waits for its result. ``size`` is how many
    parts are in flight at once."""

    def __init__(self, broker: str, size: int = 16, poll: float = 0.05):
        self.app = make_celery(broker)
        self.size = max(1, size)
        self.poll = poll
        self._specs: dict[str, str] = {}
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=2)
        except Exception as err:
            raise BrokerError(f"cannot reach the broker {broker}: {err}") from None

    def _spec(self, path: str) -> str:
        if path not in self._specs:
            self._specs[path] = Path(path).read_text(encoding="utf-8")
        return self._specs[path]

    def run(self, job: Job) -> PartResult:
        sent = self.app.send_task(TASK_PART, args=[self._spec(job.problem_path),
                                                   Path(job.problem_path).name, job.part,
                                                   job.latex, job.max_score, job.time_limit])
        pause = self.poll
        while True:
            meta = self.app.backend.get_task_meta(sent.id)
            status = meta.get("status")
            if status == "SUCCESS":
                sent.forget()
                return PartResult.from_json(job.part, meta["result"])
            if status in ("FAILURE", "REVOKED"):
                raise GraderError(f"a worker could not grade part {job.part}: "
                                  f"{meta.get('result')}")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> CeleryPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
