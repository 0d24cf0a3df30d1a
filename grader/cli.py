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
from .errors import GraderError
from .pool import GradingPool
from .problem import load_problem
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
def main() -> None:
    """Grade LaTeX derivation homework against a live network."""


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--problem", "problem_ref", required=True, metavar="ID_OR_PATH",
              help="Problem id (from problems/) or path to a spec file.")
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
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--problem", "problem_ref", required=True, metavar="ID_OR_PATH")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.jsonl and grades.csv.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores).")
@_errors_as_messages
def batch(directory: Path, problem_ref: str, out: Path, jobs: int | None) -> None:
    """Grade every submission in DIRECTORY."""
    from .batch import run_batch

    problem = load_problem(problem_ref)
    with GradingPool(workers=jobs) as pool:
        summary = run_batch(problem, directory, out, pool=pool)
    for name, reason in summary.unreadable.items():
        click.echo(f"warning: {reason}", err=True)
    total = len(summary.results)
    click.echo(f"graded {total} submission{'s' * (total != 1)} "
               f"({summary.graded_parts} distinct answers) -> {out / 'results.jsonl'}, "
               f"{out / 'grades.csv'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
