"""Grade a folder of submissions: results.jsonl, grades.csv, a Canvas CSV and report.html.

Every file in the folder with a known extension (.json, .md, .tex, .txt) is one submission.
``run_batch`` is the whole operation, in this order:

1. **Previous grades.** ``previous=OLD/results.jsonl`` is read first (it may be this run's own
   output), to list every grade that changed at the end.
2. **Resume.** A line of ``OUT/results.jsonl`` is kept, and its submission not graded again,
   when its ``"meta"`` says it was graded from a file with the same content (SHA-256) against
   the same problem spec (``Problem.source_hash``). Other lines are dropped. ``resume=False``
   grades everything.
3. **Read.** Each remaining file is read into per-part answers; a file that cannot be read gets
   a line with every part ``invalid`` and the reason.
4. **Grade once per reading.** Answers are read in this process (linear in the length-limited
   text, no grading) and keyed by (part, reading): answers that read as the same statements
   are graded once, in the pool's workers under the problem's hard time limit, and all get
   that verdict (each keeps its own ``answer`` text). An answer that does not read is keyed by
   its text. A part past its time limit comes back ``review`` and the batch goes on.
5. **Write as it goes.** A submission's line is appended to results.jsonl (and flushed) as soon
   as its last part is graded, so an interrupted batch loses at most the parts in flight.
6. **Outputs.** results.jsonl is rewritten in file order; then grades.csv, the Canvas CSV on
   request (both from ``grader.gradebook``, the web's gradebook writer too) and report.html
   (see ``grader.report``). Every output is replaced atomically.

Each line of results.jsonl is the result contract (docs/results.md) plus one extra key,
``"meta"``:
``{"file", "sha256", "problem_hash"}`` and, for a file that could not be read, ``"unreadable"``
(the reason). No terminal concerns here: ``progress(done, total)`` is
called with the count of submissions finished in this run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from .api import assemble_result, job_for, read_submission_for
from .errors import GraderError, SubmissionError
from .gradebook import CANVAS_FILE, GRADES_FILE, canvas_csv, grades_csv
from .pool import GradingPool
from .problem import Part, Problem
from .reader import read_answer
from .results import PartResult, SubmissionResult, Verdict

SUFFIXES = (".json", ".md", ".tex", ".txt")
RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.html"


@dataclass(frozen=True)
class GradeChange:
    """One grade that differs from a previous run; ``None`` on the side where it is absent.

    ``part`` is a part id, or ``"total"`` for a submission found in only one of the runs.
    """

    student: str
    part: str
    old_score: float | None
    new_score: float | None
    old_verdict: str | None
    new_verdict: str | None
    max_score: float

    def describe(self) -> str:
        """``alice (c): 0/1 incorrect -> 1/1 correct``."""
        return f"{self.student} ({self.part}): {self.old} -> {self.new}"

    @property
    def old(self) -> str:
        return _grade_text(self.old_score, self.old_verdict, self.max_score, "not graded before")

    @property
    def new(self) -> str:
        return _grade_text(self.new_score, self.new_verdict, self.max_score, "not in this batch")


def _grade_text(score, verdict, max_score, absent: str) -> str:
    if score is None:
        return absent
    return f"{score:g}/{max_score:g}" + (f" {verdict}" if verdict else "")


@dataclass
class BatchSummary:
    """What ``run_batch`` did; ``results`` are every submission's result, in file order."""

    results: list[SubmissionResult]
    unreadable: dict[str, str] = field(default_factory=dict)   # file name -> reason
    graded_parts: int = 0        # distinct answers graded in this run
    answers: int = 0             # answers found in the submissions graded in this run
    resumed: int = 0             # submissions kept from an earlier run over the same OUT
    changes: list[GradeChange] | None = None   # None unless ``previous`` was given
    outputs: dict[str, Path] = field(default_factory=dict)   # kind -> path written
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Entry:
    """One submission file of the batch."""

    path: Path
    name: str        # the submission's name in the results (the file stem, unless shared)
    sha256: str

    def meta(self, problem: Problem, unreadable: str | None = None) -> dict:
        meta = {"file": self.path.name, "sha256": self.sha256,
                "problem_hash": problem.source_hash}
        if unreadable is not None:
            meta["unreadable"] = unreadable
        return meta


# --------------------------------------------------------------------------------------------
# The batch


def submission_files(directory: Path) -> list[Path]:
    """The submission files of ``directory`` (not its subfolders), sorted by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def run_batch(problem: Problem, directory: Path, out: Path, *, pool: GradingPool,
              progress: Callable[[int, int], None] | None = None,
              previous: Path | None = None, resume: bool = True, canvas: bool = False,
              canvas_assignment: str | None = None, report: bool = True) -> BatchSummary:
    """Grade every submission in ``directory`` and write the outputs to ``out``.

    ``previous``: an earlier results.jsonl to diff against (``summary.changes``).
    ``resume``: keep the lines of ``out/results.jsonl`` whose file and spec are unchanged.
    ``canvas``: also write canvas.csv, with the assignment column ``canvas_assignment``
    (default: the problem id). ``report``: write report.html.
    Raises ``SubmissionError`` when the folder holds no submission files and ``GraderError``
    when ``previous`` cannot be read.
    """
    started = time.perf_counter()
    old = load_results(previous) if previous is not None else None
    entries, warnings = _entries(directory)
    if not entries:
        raise SubmissionError(f"{directory}: no submission files ({', '.join(SUFFIXES)})")
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE

    done = _resumable(results_path, entries, problem) if resume else {}
    _write_lines(results_path, [done[e.path.name] for e in entries if e.path.name in done])

    todo = [e for e in entries if e.path.name not in done]
    summary = BatchSummary(results=[], resumed=len(done), warnings=warnings)
    summary.unreadable.update((name, line["meta"]["unreadable"]) for name, line in done.items()
                              if "unreadable" in line["meta"])
    new: dict[str, SubmissionResult] = {}
    with results_path.open("a", encoding="utf-8") as log:
        def finish(entry: _Entry, result: SubmissionResult) -> None:
            new[entry.path.name] = result
            log.write(_line(result, entry, problem, summary.unreadable.get(entry.path.name))
                      + "\n")
            log.flush()
            if progress:
                progress(len(new), len(todo))

        if progress:
            progress(0, len(todo))
        _grade_entries(problem, todo, pool, finish, summary)

    by_file = {name: SubmissionResult.from_json(line) for name, line in done.items()}
    by_file.update(new)
    summary.results = [by_file[e.path.name] for e in entries]
    _write_lines(results_path, [_line_json(by_file[e.path.name], e, problem,
                                           summary.unreadable.get(e.path.name))
                                for e in entries])
    summary.outputs["results"] = results_path
    summary.outputs["grades"] = _replace(out / GRADES_FILE,
                                         grades_csv(problem, summary.results))
    if canvas:
        summary.outputs["canvas"] = _replace(
            out / CANVAS_FILE, canvas_csv(problem, summary.results, assignment=canvas_assignment))
    if old is not None:
        summary.changes = grade_changes(old, summary.results)
    if report:
        from .report import write_report

        summary.outputs["report"] = write_report(
            problem, summary.results, out / REPORT_FILE, changes=summary.changes,
            unreadable=summary.unreadable, previous=previous)
    summary.seconds = time.perf_counter() - started
    return summary


def _entries(directory: Path) -> tuple[list[_Entry], list[str]]:
    """Name and hash every submission file; files sharing a stem are named by file name."""
    files = submission_files(directory)
    stems: dict[str, int] = defaultdict(int)
    for path in files:
        stems[path.stem] += 1
    entries, warnings = [], []
    for path in files:
        name = path.stem
        if stems[name] > 1:
            name = path.name
            warnings.append(f"{path.name}: another file has the same name; this submission "
                            f"is called '{name}'")
        entries.append(_Entry(path, name, _sha256(path)))
    return entries, warnings


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                digest.update(block)
    except OSError:
        return ""    # unreadable now: read_submission_for reports why; never resumed
    return digest.hexdigest()


def _grade_entries(problem: Problem, todo: list[_Entry], pool: GradingPool,
                   finish: Callable[[_Entry, SubmissionResult], None],
                   summary: BatchSummary) -> None:
    """Read, deduplicate and grade ``todo``, calling ``finish`` as each submission completes.

    A reading is sent to the workers as soon as it is first met, so grading overlaps with
    reading the rest of the folder, and finished submissions are written while it goes on.
    """
    keys = _ReadingKeys(problem)
    graded: dict[tuple, PartResult] = {}
    waiting: dict[tuple, list[int]] = defaultdict(list)   # key -> indices into pending
    pending: list[tuple[_Entry, dict[str, tuple[str, tuple]]]] = []
    remaining: list[int] = []
    done: queue.SimpleQueue[tuple[tuple, Future]] = queue.SimpleQueue()
    submitted = 0

    def collect(block: bool) -> int:
        """Take in finished gradings; finish the submissions they complete."""
        count = 0
        while True:
            try:
                key, future = done.get(block=block and count == 0)
            except queue.Empty:
                return count
            count += 1
            graded[key] = future.result()
            for index in waiting.pop(key):
                remaining[index] -= 1
                if remaining[index] == 0:
                    entry, parts = pending[index]
                    finish(entry, _assemble(problem, entry.name, parts, graded))

    # Threads only wait on worker processes; ``pool.run`` is safe to share between them.
    executor = ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="batch")
    try:
        for entry in todo:
            try:
                submission = read_submission_for(problem, entry.path)
            except SubmissionError as err:
                summary.unreadable[entry.path.name] = str(err)
                finish(entry, _unreadable(problem, entry.name, str(err)))
                continue
            parts = {pid: (a.latex, keys.key(pid, a.latex))
                     for pid, a in submission.answers.items() if pid in problem.parts}
            summary.answers += len(parts)
            pending.append((entry, parts))
            remaining.append(len(parts))      # keys hold the part id: one key per part
            if not parts:
                finish(entry, _assemble(problem, entry.name, parts, graded))
            for pid, (latex, key) in parts.items():
                if key not in waiting and key not in graded:
                    future = executor.submit(pool.run, job_for(problem, pid, latex))
                    future.add_done_callback(partial(_deliver, done, key))
                    submitted += 1
                if key in graded:          # graded already: nothing more to wait for
                    remaining[-1] -= 1
                else:
                    waiting[key].append(len(pending) - 1)
            if parts and remaining[-1] == 0:
                finish(entry, _assemble(problem, entry.name, parts, graded))
            collect(block=False)
        summary.graded_parts = submitted
        while waiting:
            collect(block=True)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


class _ReadingKeys:
    """Dedup keys: ``(part, "reading", chain)`` when the answer reads, else its text.

    The chain of expression nodes is compared structurally (nodes are immutable and hashable),
    which is exact where the printed LaTeX of two readings could coincide.
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self._cache: dict[tuple[str, str], tuple] = {}

    def key(self, pid: str, latex: str) -> tuple:
        found = self._cache.get((pid, latex))
        if found is None:
            chain = reading(self.problem.parts[pid], latex)
            found = (pid, "text", latex) if chain is None else (pid, "reading", chain)
            self._cache[(pid, latex)] = found
        return found


def reading(part: Part, latex: str) -> tuple | None:
    """What ``latex`` reads as for ``part`` (every statement, its role and its sides), or None
    when it does not read at all.

    Reading never grades and is linear in the (length-limited) text, so it runs here in the
    parent; two answers that read the same are graded once. A side that does not read keeps
    its error message in the key, so only the same mistake shares a grade.
    """
    try:
        statements = read_answer(latex, part.vocabulary)
    except GraderError:
        return None
    return tuple((s.role, s.relation, s.hedged,
                  tuple(line.expr if line.expr is not None else ("error", str(line.error))
                        for line in s.lines)) for s in statements)


def _deliver(done: queue.SimpleQueue, key: Hashable, future: Future) -> None:
    """A finished part, handed to the thread that assembles submissions."""
    done.put((key, future))


def _assemble(problem: Problem, name: str, parts: Mapping[str, tuple[str, Any]],
              graded: Mapping[Any, PartResult]) -> SubmissionResult:
    """A submission's result from the shared gradings of its answers (each keeps its own text);
    the parts it does not answer are ``missing``."""
    own = {}
    for pid, (latex, key) in parts.items():
        shared = graded[key]
        own[pid] = replace(shared, answer=latex, steps=list(shared.steps), flags=list(shared.flags))
    return assemble_result(problem, name, own)


def _unreadable(problem: Problem, name: str, reason: str) -> SubmissionResult:
    return SubmissionResult(problem.id, name, {
        pid: PartResult(pid, 0.0, part.points, Verdict.INVALID, reason)
        for pid, part in problem.parts.items()})


# --------------------------------------------------------------------------------------------
# results.jsonl: writing, resuming, reading back


def _line_json(result: SubmissionResult, entry: _Entry, problem: Problem,
               unreadable: str | None = None) -> dict:
    return {**result.to_json(), "meta": entry.meta(problem, unreadable)}


def _line(result: SubmissionResult, entry: _Entry, problem: Problem,
          unreadable: str | None = None) -> str:
    return json.dumps(_line_json(result, entry, problem, unreadable), ensure_ascii=False)


def _write_lines(path: Path, lines: Iterable[dict]) -> None:
    buffer = io.StringIO()
    for line in lines:
        buffer.write(json.dumps(line, ensure_ascii=False) + "\n")
    _replace(path, buffer.getvalue())


def _replace(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a reader sees the old file or the new one).

    The file gets the permissions any new file gets here (0666 less the umask), as a plain
    ``open`` would give it: a TA's group can read the grades when the umask lets it.
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _resumable(path: Path, entries: list[_Entry], problem: Problem) -> dict[str, dict]:
    """The lines of an earlier run that still hold: same file content, same problem spec.

    A line cut short by an interruption, or any line that is not a whole result, is ignored.
    """
    if not path.is_file():
        return {}
    current = {e.path.name: e for e in entries}
    kept: dict[str, dict] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for text in f:
            try:
                line = json.loads(text)
                meta = line["meta"]
                entry = current[meta["file"]]
                SubmissionResult.from_json(line)
            except (ValueError, KeyError, TypeError):
                continue
            if (entry.sha256 and meta.get("sha256") == entry.sha256
                    and meta.get("problem_hash") == problem.source_hash
                    and line.get("problem") == problem.id
                    and line.get("submission") == entry.name
                    and set(line["parts"]) == set(problem.parts)):
                kept[entry.path.name] = line
    return kept


def load_results(path: Path) -> list[SubmissionResult]:
    """Read a results.jsonl; a line that is not a result is an error naming the line."""
    results = []
    try:
        with Path(path).open(encoding="utf-8") as f:
            for number, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    results.append(SubmissionResult.from_json(json.loads(text)))
                except (ValueError, KeyError, TypeError) as err:
                    raise GraderError(f"{path}:{number}: not a grading result ({err})") from None
    except OSError as err:
        raise GraderError(f"{path}: cannot be read ({err.strerror or err})") from None
    return results


# --------------------------------------------------------------------------------------------
# Regrade: what changed


def grade_changes(old: list[SubmissionResult],
                  new: list[SubmissionResult]) -> list[GradeChange]:
    """Every grade that differs between two runs, by student then part.

    A part changed when its score or its verdict differs; a submission in only one run is one
    change of its ``total``.
    """
    before = {r.submission: r for r in old}
    after = {r.submission: r for r in new}
    changes = []
    for student in sorted(before.keys() | after.keys()):
        b, a = before.get(student), after.get(student)
        if b is None or a is None:
            whole = a if a is not None else b
            assert whole is not None  # the student is in one of the two runs
            changes.append(GradeChange(
                student, "total", b.score if b else None, a.score if a else None, None, None,
                whole.max_score))
            continue
        for pid in [*a.parts, *(p for p in b.parts if p not in a.parts)]:
            pa, pb = a.parts.get(pid), b.parts.get(pid)
            if pa is not None and pb is not None and abs(pa.score - pb.score) < 1e-9 \
                    and pa.verdict == pb.verdict:
                continue
            either = pa if pa is not None else pb
            assert either is not None  # the part is in one of the two runs
            changes.append(GradeChange(
                student, pid, pb.score if pb else None, pa.score if pa else None,
                pb.verdict.value if pb else None, pa.verdict.value if pa else None,
                either.max_score))
    return changes
