"""The ``grader`` command: a thin click layer over ``grader.api``.

Every error the grader raises on purpose is printed as one line, ``Error: ...``, with the
error's exit code; never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap
from pathlib import Path

import click

from . import api
from .errors import GraderError, SubmissionError
from .pool import GradingPool
from .problem import configure_problem_dirs, describe_problem_dirs, load_problem, scan_problems
from .results import SubmissionResult


def _errors_as_messages(command):
    """Turn a GraderError into click's one-line ``Error: ...`` and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GraderError as err:
            exc = click.ClickException(str(err))
            exc.exit_code = err.exit_code
            raise exc from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derivation-grader")
@click.option("--problems", "problem_folders", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder of problem specs (ID.toml), searched first (repeatable; give it "
                   "before the command). Then $GRADER_PROBLEMS, ./problems and the problems "
                   "installed with the grader.")
def main(problem_folders: tuple[Path, ...]) -> None:
    """Grade LaTeX derivation homework against a live network."""
    configure_problem_dirs(problem_folders)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--problem", "problem_ref", required=True, metavar="ID_OR_PATH",
              help="Problem id (found on the problem search path) or path to a spec file.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result contract.")
@_errors_as_messages
def grade(file: Path, problem_ref: str, as_json: bool) -> None:
    """Grade one submission FILE (.json, .md, .tex or .txt)."""
    problem = load_problem(problem_ref)
    with GradingPool(workers=min(2, len(problem.parts))) as pool:
        result = api.grade_file(problem, file, pool=pool)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_table(result, problem.title))


def render_table(result: SubmissionResult, title: str) -> str:
    """A readable per-part table of one result."""
    width = 100
    lines = [f"{title} ({result.problem}): {result.submission}",
             f"score {result.score:g} / {result.max_score:g}", ""]
    lines.append(f"{'part':<5}{'score':>9}  {'verdict':<10} read as / feedback")
    lines.append("-" * width)
    for pid, part in result.parts.items():
        score = f"{part.score:g}/{part.max_score:g}"
        head = f"{pid:<5}{score:>9}  {part.verdict.value:<10} "
        indent = " " * len(head)
        body = []
        if part.interpreted:
            body.append(f"read as: {part.interpreted}")
        if part.feedback:
            body.extend(textwrap.wrap(part.feedback, width - len(head)))
        for step in part.steps:
            mark = {"valid": "ok", "invalid": "X", "unverified": "?", "given": "="}.get(
                step.status, step.status)
            body.append(f"  [{mark}] {step.latex}" + (f": {step.message}" if step.message
                                                      else ""))
        body = body or [""]
        lines.append(head + body[0])
        lines.extend(indent + line for line in body[1:])
    return "\n".join(lines)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--problem", "problem_ref", required=True, metavar="ID_OR_PATH")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.jsonl, grades.csv and report.html.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores).")
@click.option("--previous", type=click.Path(path_type=Path),
              default=None, metavar="OLD/results.jsonl",
              help="An earlier run's results: list every grade that changed.")
@click.option("--canvas", is_flag=True, help="Also write canvas.csv for Canvas's Gradebook import.")
@click.option("--canvas-assignment", default=None, metavar="NAME",
              help="Header of the Canvas grade column, e.g. 'HW1 (123456)' for an existing "
                   "assignment (default: the problem id, a new assignment).")
@click.option("--fresh", is_flag=True,
              help="Regrade everything, even submissions OUT already has results for.")
@click.option("--broker", default=None, metavar="URL",
              help="Grade on the workers of this Redis broker (`grader worker`), not here; "
                   "--jobs is then how many parts are in flight (default 32).")
@_errors_as_messages
def batch(directory: Path, problem_ref: str, out: Path, jobs: int | None,
          previous: Path | None, canvas: bool, canvas_assignment: str | None,
          fresh: bool, broker: str | None) -> None:
    """Grade every submission in DIRECTORY; run again to resume an interrupted batch."""
    from .batch import run_batch

    if not directory.is_dir():
        raise SubmissionError(f"{directory}: not a folder of submissions")
    if previous is not None and not previous.is_file():
        raise SubmissionError(f"{previous}: no earlier results.jsonl there")
    problem = load_problem(problem_ref)
    progress = _BatchProgress()
    try:
        with _batch_pool(jobs, broker) as pool:
            summary = run_batch(problem, directory, out, pool=pool, progress=progress,
                                previous=previous, resume=not fresh, canvas=canvas,
                                canvas_assignment=canvas_assignment)
    finally:
        progress.close()
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    for reason in summary.unreadable.values():
        click.echo(f"warning: {reason}", err=True)
    total = len(summary.results)
    graded = total - summary.resumed
    click.echo(f"graded {graded} submission{'s' * (graded != 1)} in {summary.seconds:.1f} s "
               f"({summary.answers} answers, {summary.graded_parts} distinct readings graded)"
               + (f"; {summary.resumed} already done" if summary.resumed else ""))
    reviews = sum(p.verdict.value == "review" for r in summary.results for p in r.parts.values())
    if reviews:
        click.echo(f"{reviews} answer{'s' * (reviews != 1)} to review: see the review queue "
                   "in report.html")
    if summary.changes is not None:
        n = len(summary.changes)
        click.echo(f"{n} grade{'s' * (n != 1)} changed since {previous}"
                   + (":" if n else "."))
        for change in summary.changes:
            click.echo(f"  {change.describe()}")
    for kind, path in summary.outputs.items():
        click.echo(f"{kind:>8}: {path}")


def _batch_pool(jobs: int | None, broker: str | None):
    if broker:
        from .tasks import CeleryPool, check_broker_url

        return CeleryPool(check_broker_url(broker), size=jobs or 32)
    return GradingPool(workers=jobs)


class _BatchProgress:
    """A tqdm bar on a terminal; otherwise a line at every tenth of the batch."""

    def __init__(self):
        self.bar = None
        self.reported = -1
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="submission", file=sys.stderr)
            self.bar.update(done - self.bar.n)
            return
        if total == 0:
            return
        tenth = done * 10 // total
        if tenth > self.reported and (done == 0 or done == total or tenth > 0):
            self.reported = tenth
            click.echo(f"graded {done}/{total} submissions", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


DB_HELP = ("Where submissions are stored: sqlite:///PATH (or a plain PATH) or "
           "postgresql://USER@HOST/DB [env: GRADER_DATABASE_URL; default: "
           "instance/grader.db under the current directory].")
BROKER_HELP = ("The Redis broker of the grading workers, redis://HOST:PORT/DB "
               "[env: GRADER_BROKER_URL].")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--db", envvar="GRADER_DATABASE_URL", default=None, metavar="URL", help=DB_HELP)
@click.option("--broker", envvar="GRADER_BROKER_URL", default=None, metavar="URL",
              help=BROKER_HELP + " Submissions are graded there (`grader worker`) instead "
                                 "of in this process.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Grading processes, without --broker (default: all cores).")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True,
              help="Request threads.")
@_errors_as_messages
def serve(host: str, port: int, db: str | None, broker: str | None, workers: int | None,
          threads: int) -> None:
    """Serve the web form and JSON API (waitress; see docs/web.md)."""
    from .tasks import check_broker_url
    from .web.server import serve as run_server

    run_server(host=host, port=port, db=db or None, workers=workers, threads=threads,
               broker=check_broker_url(broker) if broker else None)


@main.command()
@click.option("--broker", envvar="GRADER_BROKER_URL", required=True, metavar="URL",
              help=BROKER_HELP)
@click.option("--db", envvar="GRADER_DATABASE_URL", default=None, metavar="URL",
              help="The database the web processes store submissions in (sqlite:///PATH or "
                   "postgresql://...) [env: GRADER_DATABASE_URL]; without it the worker "
                   "grades only `grader batch --broker` parts.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once, each part in its own grading process "
                   "(default: all cores).")
@click.option("--hostname", default=None, metavar="NAME",
              help="The worker's name for `celery inspect` and Flower (default: celery@HOST).")
@click.option("--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@_errors_as_messages
def worker(broker: str, db: str | None, concurrency: int | None, hostname: str | None,
           loglevel: str) -> None:
    """Run a grading worker (Celery) on the queue of BROKER; see docs/deploy.md."""
    import os

    from .tasks import check_broker_url, run_worker
    from .web.storage import database_url

    check_broker_url(broker)
    run_worker(broker, database_url(db) if db else None, concurrency or os.cpu_count() or 1,
               loglevel=loglevel.upper(), hostname=hostname)


@main.group()
def db() -> None:
    """The web service's database."""


@db.command("upgrade")
@click.option("--db", "url", envvar="GRADER_DATABASE_URL", default=None, metavar="URL",
              help=DB_HELP)
@click.option("--revision", default="head", show_default=True,
              help="The Alembic revision to bring the database to.")
@_errors_as_messages
def db_upgrade(url: str | None, revision: str) -> None:
    """Apply the schema migrations (Alembic); `grader serve` also does at every start."""
    from .web import default_database
    from .web.storage import database_url, describe, make_engine, upgrade

    location = database_url(url or default_database())
    engine = make_engine(location)
    try:
        now = upgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"{describe(location)}: at revision {now}")


@main.group()
def lti() -> None:
    """The LMSs (LTI 1.3 platforms) registered with the web service, and their scores."""


def _lti_store(url: str | None):
    from .web import default_database
    from .web.ltistore import LtiStore
    from .web.storage import Store, database_url

    return LtiStore(Store(database_url(url or default_database())))


_lti_db = click.option("--db", "url", envvar="GRADER_DATABASE_URL", default=None,
                       metavar="URL", help=DB_HELP)


@lti.command("add")
@click.option("--name", required=True, help="What the instructor pages call it.")
@click.option("--issuer", required=True, help="The platform's issuer (Canvas: "
              "https://canvas.instructure.com; Moodle: the site's URL).")
@click.option("--client-id", required=True, help="The client id the LMS gave the tool.")
@click.option("--auth-login-url", required=True, help="The LMS's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The LMS's OAuth 2 access token URL.")
@click.option("--key-set-url", required=True, help="The LMS's public keyset (JWKS) URL.")
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True,
              help="A deployment id the tool accepts from this LMS (repeatable).")
@_lti_db
@_errors_as_messages
def lti_add(name: str, issuer: str, client_id: str, auth_login_url: str, auth_token_url: str,
            key_set_url: str, deployment_ids: tuple[str, ...], url: str | None) -> None:
    """Register an LMS (LTI 1.3 platform) with the web service."""
    made = _lti_store(url).register({
        "name": name, "issuer": issuer, "client_id": client_id,
        "auth_login_url": auth_login_url, "auth_token_url": auth_token_url,
        "key_set_url": key_set_url, "deployment_ids": list(deployment_ids)})
    click.echo(f"registered platform {made.id}: {made.name} ({made.issuer}, client id "
               f"{made.client_id}, deployments {', '.join(made.deployment_ids)})")


@lti.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lti_db
@_errors_as_messages
def lti_list(as_json: bool, url: str | None) -> None:
    """The registered LMSs."""
    platforms = _lti_store(url).platforms()
    if as_json:
        click.echo(json.dumps([p.to_json() for p in platforms], indent=2))
        return
    if not platforms:
        click.echo("no LMS registered")
    for p in platforms:
        click.echo(f"{p.id}  {p.name}  {p.issuer}  client id {p.client_id}  deployments "
                   f"{', '.join(p.deployment_ids)}")


@lti.command("remove")
@click.argument("platform_id", type=int)
@_lti_db
@_errors_as_messages
def lti_remove(platform_id: int, url: str | None) -> None:
    """Unregister an LMS (its links and unsent scores go with it)."""
    if not _lti_store(url).remove(platform_id):
        raise GraderError(f"no platform {platform_id} (see `grader lti list`)")
    click.echo(f"removed platform {platform_id}")


@lti.command("send")
@click.option("--retry-failed", is_flag=True, help="First put the failed scores back.")
@_lti_db
@_errors_as_messages
def lti_send(retry_failed: bool, url: str | None) -> None:
    """Post the scores owed to the LMSs now (the web service also does, every few seconds)."""
    from .web.ltitool import ScoreSender

    store = _lti_store(url)
    if retry_failed:
        click.echo(f"{store.retry_failed()} failed score(s) put back")
    counts = ScoreSender(store).send_due()
    click.echo(f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}")
    for owed in store.scores("failed")[:20]:
        click.echo(f"  failed: {owed.student_id} on {owed.link.assignment_id}: "
                   f"{owed.last_error}")


@main.command()
@click.argument("problem_refs", nargs=-1, metavar="[ID_OR_PATH]...")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes grading the examples (default: all cores).")
@click.option("-v", "--verbose", is_flag=True, help="List every check, not only failures.")
def check(problem_refs: tuple[str, ...], jobs: int | None, verbose: bool) -> None:
    """Validate problem specs and verify them against the live network.

    Checks each reference answer numerically and symbolically against the asked quantity,
    and grades every mistake and accept/reject example for real. With no ID_OR_PATH, checks
    every spec on the problem search path (--problems, $GRADER_PROBLEMS, ./problems, the
    installed problems). Exit status: 0 all pass, 1 a check failed, 2 a spec is malformed or
    there is no spec to check.
    """
    from .authoring import check_problem

    status = 0
    refs: list[str] = list(problem_refs)
    if not refs:
        scan = scan_problems()
        if not scan.problems and not scan.broken:
            click.echo("Error: no problem specs to check (folders searched: "
                       f"{describe_problem_dirs(scan.dirs)})", err=True)
            sys.exit(2)
        for _path, err in scan.broken:
            click.echo(f"Error: {err}", err=True)
            status = max(status, err.exit_code)
        refs = [problem.path for problem in scan.problems]
    with GradingPool(workers=jobs) as pool:
        for n, ref in enumerate(refs):
            if n:
                click.echo()
            try:
                report = check_problem(ref, pool=pool)
            except GraderError as err:
                click.echo(f"Error: {err}", err=True)
                status = max(status, err.exit_code)
                continue
            click.echo(report.render(verbose=verbose))
            if not report.ok:
                status = max(status, 1)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
