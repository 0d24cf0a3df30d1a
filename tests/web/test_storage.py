"""The store by URL: SQLite and PostgreSQL through one code path, the schema as Alembic
migrations (at open and by ``grader db upgrade``), a file made before migrations existed
brought up to date with its rows, and bad URLs as one-line errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from web_support import database_for, free_port, sql

from grader.web.storage import DatabaseError, Store, database_url, describe

GRADER = str(Path(sys.executable).with_name("grader"))
HEAD = "0003"

# The schema of the first release, written by hand (no alembic_version, no regrade_id,
# grade_error or gradings).
FIRST_RELEASE = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, problem TEXT NOT NULL, student TEXT NOT NULL,
    token_hash TEXT NOT NULL, source TEXT NOT NULL, document TEXT, answers TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', result TEXT, created_at TEXT NOT NULL,
    graded_at TEXT);
CREATE INDEX submissions_by_problem ON submissions (problem, id);
CREATE INDEX submissions_by_status ON submissions (status);
CREATE TABLE regrades (id INTEGER PRIMARY KEY AUTOINCREMENT, problem TEXT NOT NULL,
    total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL, finished_at TEXT);
CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, data TEXT NOT NULL, instructor TEXT,
    expires_at REAL NOT NULL);
CREATE TABLE overrides (submission_id INTEGER NOT NULL REFERENCES submissions (id)
    ON DELETE CASCADE, part TEXT NOT NULL, score REAL NOT NULL, verdict TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL,
    PRIMARY KEY (submission_id, part));
INSERT INTO settings VALUES ('secret_key', 'old-secret');
INSERT INTO submissions (problem, student, token_hash, source, answers, status, result,
    created_at, graded_at) VALUES ('backprop', 'Old', 'abc', 'answers', '{"c": "x"}',
    'graded', '{"score": 1}', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00');
INSERT INTO submissions (problem, student, token_hash, source, answers, created_at)
    VALUES ('backprop', 'Waiting', 'def', 'answers', '{}', '2026-01-01T00:00:02+00:00');
"""


def test_a_file_from_before_migrations_is_brought_up_to_date_with_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(FIRST_RELEASE)
    conn.close()
    store = Store(path)
    assert sql(store.url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    old = store.get(1)
    assert (old.student, old.status, old.result, old.gradings) == ("Old", "graded",
                                                                  {"score": 1}, 1)
    assert store.get(2).gradings == 0 and store.to_grade() == [2]
    assert store.setting("secret_key") == "old-secret"
    assert store.save_result(2, {"score": 2}) and store.get(2).gradings == 1
    Store(path)                                  # a second open changes nothing
    assert store.ids() == [1, 2]


def test_grader_db_upgrade_on_both_engines(tmp_path, backend):
    url = database_for(tmp_path / "cli.db")
    if backend == "postgresql":
        from web_support import postgres

        url = postgres().url()                  # empty: no template, the CLI migrates it
    done = subprocess.run([GRADER, "db", "upgrade", "--db", url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"at revision {HEAD}")
    assert sql(database_url(url), "SELECT version_num FROM alembic_version") == [(HEAD,)]
    # a second run has nothing to do, and the store opens on the migrated database
    again = subprocess.run([GRADER, "db", "upgrade", "--db", url], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == done.stdout
    assert Store(url).add_submission("backprop", "s", "t", "answers", {}) == 1


def test_the_same_value_is_agreed_by_processes_starting_at_once(tmp_path, backend):
    url = database_for(tmp_path / "race.db")
    stores = [Store(url) for _ in range(6)]
    got: list[tuple[str, bool]] = []
    barrier = threading.Barrier(len(stores))

    def start(store: Store, n: int) -> None:
        barrier.wait()
        got.append(store.setting_or_create("secret_key", lambda: f"key-{n}"))

    threads = [threading.Thread(target=start, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({value for value, _ in got}) == 1
    assert sum(created for _, created in got) == 1


def test_a_result_is_written_once_when_two_workers_finish_together(tmp_path, backend):
    store = Store(database_for(tmp_path / "twice.db"))
    sid = store.add_submission("backprop", "Twice", "t", "answers", {"c": "x"})
    barrier = threading.Barrier(4)
    written: list[bool] = []

    def finish(n: int) -> None:
        barrier.wait()
        written.append(Store(store.url).save_result(sid, {"score": n}))

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(written) == [False, False, False, True]
    assert store.gradings([sid]) == {sid: 1}
    # a regrade owes it one more result, once
    store.start_regrade("backprop")
    assert store.save_result(sid, {"score": 9}) and not store.save_result(sid, {"score": 10})
    assert store.get(sid).result == {"score": 9} and store.gradings([sid]) == {sid: 2}
    assert store.latest_regrade("backprop").to_json()["done"] == 1


@pytest.mark.parametrize("url, message", [
    ("mysql://root@localhost/grader", "unsupported database 'mysql'"),
    ("postgresql://x@127.0.0.1:{port}/none", "cannot open the database postgresql"),
])
def test_a_bad_database_is_one_line(url, message):
    url = url.format(port=free_port())
    with pytest.raises(DatabaseError, match=message):
        Store(url)
    done = subprocess.run([GRADER, "db", "upgrade", "--db", url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("Error: ")
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_urls_and_paths():
    assert database_url("instance/grader.db").startswith("sqlite:////")
    assert database_url("sqlite:///rel.db") == "sqlite:///rel.db"
    assert database_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert describe("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert describe("sqlite:////tmp/x.db") == "/tmp/x.db"
    assert json.loads(json.dumps({"ok": True}))
