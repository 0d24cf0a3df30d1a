"""Past one machine, with the real services: Redis (the Celery broker) and PostgreSQL started
by the tests on free loopback ports, ``grader serve --broker`` and ``grader worker`` as
subprocesses, and SIGKILL where a machine would die.

What is checked is what a department relies on: a worker grades what any web process stored,
a part keeps its hard time limit on a worker, a worker killed mid-grading loses nothing and a
result is written once, ``grader batch --broker`` spreads a class over the workers, and
several web processes share the instructor token, the secret key, the sessions and the limits
on failed attempts. The end-to-end test kills a worker and a web process in the middle of a
burst and finds every acknowledged submission graded exactly once.
"""

from __future__ import annotations

import csv
import http.cookiejar
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from web_support import (
    ROOT,
    SEED_ANSWERS,
    SLOW_G,
    TOKEN,
    ServeProcess,
    WorkerProcess,
    database_for,
    free_port,
    postgres,
    problems_dir,
    wait_for,
)

from grader.web.storage import Store

API = "/api/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def started(tmp_path):
    """Start processes (ServeProcess, WorkerProcess) that are all stopped at the end."""
    procs: list = []

    def start(kind, *args, **kwargs):
        proc = kind(*args, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in reversed(procs):
        proc.stop()


def _submit(server, student: str, answers: dict) -> tuple[int, dict]:
    status, _, body = server.request("POST", f"{API}/problems/backprop/submissions",
                                     {"student": student, "answers": answers}, timeout=30)
    return status, body


def _graded(server, sid: int, token: str, timeout: float = 90) -> dict:
    def done():
        status, _, body = server.request("GET", f"{API}/submissions/{sid}?token={token}")
        return body if status == 200 and body["status"] == "graded" else None

    return wait_for(done, timeout=timeout, pause=0.1, what=f"submission {sid} to be graded")


# ------------------------------------------------------------------ one worker, one web
def test_serve_with_a_broker_grades_on_the_worker_under_the_time_limit(
        tmp_path, redis_server, started, backend):
    db = database_for(tmp_path / "grader.db")
    env = dict(os.environ, GRADER_PROBLEMS=str(problems_dir(tmp_path / "p", time_limit=2)))
    worker = started(WorkerProcess, redis_server.url(), db, tmp_path, "solo", concurrency=2,
                     env=env)
    web = started(ServeProcess, db, free_port(), tmp_path, ["--broker", redis_server.url()],
                  env=dict(env, GRADER_INSTRUCTOR_TOKEN=TOKEN))
    assert "grading on the workers of" in web.log.read_text()

    status, body = _submit(web, "Ada", SEED_ANSWERS)
    assert status in (200, 201, 202)
    result = _graded(web, body["id"], body["token"])["result"]
    assert result["score"] == 8.0
    # the worker graded it, not the web process (which has no grading processes at all)
    assert "grader.grade_submission[" in worker.text() and "succeeded" in worker.text()

    # a part past its limit has its grading process killed on the worker: review
    started_at = time.monotonic()
    status, body = _submit(web, "Slow", {"f": SEED_ANSWERS["f"], "g": SLOW_G})
    parts = _graded(web, body["id"], body["token"], timeout=60)["result"]["parts"]
    assert parts["g"]["verdict"] == "review" and "timeout" in parts["g"]["flags"]
    assert "2 s limit" in parts["g"]["feedback"]
    assert parts["f"]["verdict"] == "correct"
    assert time.monotonic() - started_at < 30
    assert Store(db).gradings() == {1: 1, 2: 1}


def test_a_worker_killed_mid_grading_loses_nothing_and_the_result_is_written_once(
        tmp_path, redis_server, started):
    db = postgres().url(template="grader_template")
    env = dict(os.environ, GRADER_PROBLEMS=str(problems_dir(tmp_path / "p", time_limit=8)))
    first = started(WorkerProcess, redis_server.url(), db, tmp_path, "first", env=env)
    store = Store(db)
    from grader.tasks import TASK_SUBMISSION, make_celery

    sid = store.add_submission("backprop", "Kim", "tok", "answers",
                               {"f": SEED_ANSWERS["f"], "g": SLOW_G})
    make_celery(redis_server.url()).send_task(TASK_SUBMISSION, args=[sid])
    wait_for(lambda: "grade_submission[" in first.text(), timeout=30, what="the task to start")
    time.sleep(1.0)                  # the first worker is inside SymPy on part (g)
    first.kill_group()               # kill -9: the worker and its grading processes
    assert store.status(sid) == ("pending", None) and store.gradings([sid]) == {sid: 0}

    second = started(WorkerProcess, redis_server.url(), db, tmp_path, "second", env=env)
    # the unacknowledged message comes back after the visibility timeout (4 s here)
    wait_for(lambda: store.status(sid)[0] == "graded", timeout=60, pause=0.2,
             what="the second worker to grade the submission")
    assert "grade_submission[" in second.text()
    assert store.get(sid).result["parts"]["g"]["verdict"] == "review"
    # delivered again (a worker that saved, then died before it acknowledged): written once
    make_celery(redis_server.url()).send_task(TASK_SUBMISSION, args=[sid])
    wait_for(lambda: second.text().count("succeeded") >= 2, timeout=30, what="the redelivery")
    assert "succeeded" in second.text() and ": False" in second.text()
    assert store.gradings([sid]) == {sid: 1}


# ------------------------------------------------------------------------------ batch
def test_batch_spreads_a_class_over_the_workers(tmp_path, redis_server, started):
    workers = [started(WorkerProcess, redis_server.url(), None, tmp_path, name)
               for name in ("left", "right")]
    out = tmp_path / "out"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("grader")), "batch", str(ROOT / "submissions"),
         "--problem", "backprop", "--out", str(out), "--broker", redis_server.url()],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "graded 5 submissions" in done.stdout
    rows = list(csv.reader((out / "grades.csv").open(encoding="utf-8")))
    assert rows == [
        ["student", "a", "b", "c", "d", "e", "f", "g", "total"],
        ["alice", "1", "1.5", "1", "1", "1.5", "1", "1", "8"],
        ["bob", "1", "1.5", "1", "1", "1.5", "1", "1", "8"],
        ["carol", "0", "0.75", "0", "0", "0.75", "0", "0.5", "2"],
        ["dave", "1", "0", "1", "0", "0", "1", "0", "3"],
        ["seed", "1", "1.5", "1", "1", "1.5", "1", "1", "8"],
    ]
    # both workers graded parts of it
    counts = [w.text().count("grader.grade_part[") for w in workers]
    assert all(n > 0 for n in counts), counts


def test_batch_with_a_broker_that_does_not_answer_is_one_line(tmp_path):
    done = subprocess.run(
        [str(Path(sys.executable).with_name("grader")), "batch", str(ROOT / "submissions"),
         "--problem", "backprop", "--out", str(tmp_path / "out"), "--broker",
         f"redis://127.0.0.1:{free_port()}/0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot reach the broker redis://127.0.0.1:")
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------- several web processes
def _login(server, token: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/instructor/login", timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": csrf, "token": token, "next": ""}).encode()
    assert "Log out" in opener.open(server.url + "/instructor/login", data=data,
                                    timeout=10).read().decode()
    return {c.name: c.value for c in jar}["session"]


def _page_with_cookie(server, path: str, sid: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(server.url + path, headers={"Cookie": f"session={sid}"})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_web_processes_share_the_token_the_secret_the_sessions_and_the_limits(
        tmp_path, redis_server, started):
    db = postgres().url(template="grader_template")
    env = {k: v for k, v in os.environ.items() if k != "GRADER_INSTRUCTOR_TOKEN"}
    broker = ["--broker", redis_server.url(5)]
    one = started(ServeProcess, db, free_port(), tmp_path, broker, env=env)
    two = started(ServeProcess, db, free_port(), tmp_path, broker, env=env)
    # the first start made the token (printed once); the second found it in the database
    printed = re.findall(r"Instructor token .*: (\S+)", one.log.read_text())
    assert len(printed) == 1 and "Instructor token" not in two.log.read_text()
    token = {"Authorization": f"Bearer {printed[0]}"}
    for web in (one, two):
        assert web.request("GET", f"{API}/problems/backprop/submissions",
                           headers=token)[0] == 200
    secret = Store(db).setting("secret_key")
    assert secret and len(secret) == 64          # one secret key, in the settings table

    # a session made on one process is good on the other (it lives in the database)
    sid = _login(one, printed[0])
    assert _page_with_cookie(two, "/instructor/", sid) == 200
    assert _page_with_cookie(two, "/instructor/", "x" * 43) == 302

    # failed attempts count on the broker: 5 wrong guesses on each, then both answer 429
    for n in range(5):
        for web in (one, two):
            assert web.request("GET", f"{API}/problems/backprop/submissions",
                               headers={"Authorization": f"Bearer guess{n}"})[0] == 401
    for web in (one, two):
        status, headers, body = web.request("GET", f"{API}/problems/backprop/submissions",
                                            headers=token)
        assert status == 429 and "too many failed attempts" in body["error"]


# ------------------------------------------------------------------------- end to end
def test_a_burst_survives_a_killed_worker_and_a_killed_web_process(
        tmp_path, redis_server, started):
    """2 web processes, 2 workers, Redis and PostgreSQL; a burst of submissions from many
    clients to both web processes; one worker and one web process are SIGKILLed in the
    middle of it. Every submission a web process acknowledged (201 or 202: it is stored and
    queued) ends graded, and exactly once."""
    db = postgres().url(template="grader_template")
    env = dict(os.environ, GRADER_PROBLEMS=str(problems_dir(tmp_path / "p", time_limit=5)))
    broker = redis_server.url(2)
    workers = [started(WorkerProcess, broker, db, tmp_path, f"w{n}", concurrency=2, env=env)
               for n in (1, 2)]
    webs = [started(ServeProcess, db, free_port(), tmp_path, ["--broker", broker],
                    env=dict(env, GRADER_INSTRUCTOR_TOKEN=TOKEN)) for _ in (1, 2)]
    store = Store(db)

    acknowledged: dict[int, str] = {}
    refused = []
    lock = threading.Lock()
    total = 48
    sent = iter(range(total))

    def client(n: int) -> None:
        while True:
            with lock:
                i = next(sent, None)
            if i is None:
                return
            web = webs[i % 2]
            answers = dict(SEED_ANSWERS)
            if i % 8 == 3:                      # now and then a part that runs to its limit
                answers["g"] = SLOW_G
            elif i % 3:                         # and different readings between clients
                answers["c"] = rf"\delta_k b_j + {i} - {i}"
            try:
                status, body = _submit(web, f"student{i}", answers)
            except OSError:                     # the web process is dead: not acknowledged
                with lock:
                    refused.append(i)
                continue
            if status in (201, 202):
                with lock:
                    acknowledged[body["id"]] = body["token"]

    clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in clients:
        thread.start()
    # mid-burst: once grading is under way, kill -9 one worker and one web process
    wait_for(lambda: len(acknowledged) >= total // 3 and sum(store.gradings().values()) >= 4,
             timeout=120, pause=0.05, what="the burst to be under way")
    workers[0].kill_group()
    webs[0].kill_group()
    for thread in clients:
        thread.join(timeout=180)
    assert len(acknowledged) + len(refused) <= total
    assert len(acknowledged) >= total // 2          # the surviving process took the rest
    assert refused, "the killed web process refused nothing: it was not killed mid-burst"

    # every acknowledged submission is graded (by the surviving worker, after the killed
    # one's messages came back), and written exactly once
    def all_graded():
        statuses = [store.status(sid) for sid in acknowledged]
        return all(s is not None and s[0] == "graded" for s in statuses)

    wait_for(all_graded, timeout=240, pause=0.5, what="every acknowledged submission graded")
    written = store.gradings(list(acknowledged))
    assert written == {sid: 1 for sid in acknowledged}
    for sid, token in list(acknowledged.items())[:5]:
        assert webs[1].request("GET", f"{API}/submissions/{sid}?token={token}")[2][
            "status"] == "graded"
    slow = [store.get(sid) for sid in acknowledged]
    assert all(s.result["score"] >= 7 for s in slow)     # only (g) can be sent to review
