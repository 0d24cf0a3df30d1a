"""The grader as a new user gets it: a built wheel, installed into a fresh venv, run elsewhere.

Builds the wheel from a copy of the project (``pip wheel --no-deps``, so nothing is written into
the working tree), creates a venv in a temporary folder and installs the wheel with its
dependencies (pip from the project's venv, ``pip --python``: the fresh venv needs no pip of its
own, and the dependencies come from pip's cache, warm after ``make install``). Then, from an
empty folder with no problems/ in it, the installed ``grader`` grades, checks and serves.

About 30 s; ``-m "not packaging"`` leaves it out of a quick run (``make test`` runs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "submissions" / "seed.md"
TINY = ROOT / "tests" / "data" / "specs" / "tiny.toml"
# What the build reads: pyproject.toml names README.md and the two package folders.
BUILD_INPUTS = ("pyproject.toml", "README.md", "grader", "problems")


@dataclass(frozen=True)
class Installed:
    source: Path        # the copy the wheel was built from
    wheel: Path
    venv: Path
    work: Path          # an empty folder: no problems/, no project files
    custom: Path        # a folder with one spec of our own (tiny.toml, id "tiny")

    @property
    def grader(self) -> Path:
        return self.venv / "bin" / "grader"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GRADER_PROBLEMS", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, "PYTHONWARNINGS": "ignore", **extra}

    def run(self, *args: str | Path, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.grader), *map(str, args)], cwd=self.work,
                              env=env or self.env(), capture_output=True, text=True,
                              timeout=timeout)


def _pip(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, f"pip {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("derivation_grader-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True,
                   timeout=120)
    _pip("--python", venv / "bin" / "python", "install", "--quiet", wheel, cwd=base)

    work = base / "work"
    work.mkdir()
    custom = base / "custom"
    custom.mkdir()
    shutil.copy2(TINY, custom / "tiny.toml")
    yield Installed(source, wheel, venv, work, custom)
    shutil.rmtree(venv, ignore_errors=True)     # ~270 MB; pytest keeps the last runs' folders


def test_the_wheel_has_every_file_of_the_package_and_the_problems(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    source = installed.source
    package = {p.relative_to(source).as_posix() for p in (source / "grader").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert package - names == set()
    problems = {f"grader/problems/{p.name}" for p in (source / "problems").glob("*.toml")}
    assert {"grader/problems/backprop.toml", "grader/problems/softmax.toml"} <= problems
    assert problems <= names and "grader/problems/__init__.py" in names


def _shipped(installed: Installed) -> list[str]:
    """The ids of the problems the wheel was built with: one per problems/*.toml."""
    return sorted(p.stem for p in (installed.source / "problems").glob("*.toml"))


def test_the_installed_grader_is_the_wheel_not_the_source_tree(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import grader, grader.problem as p; print(grader.__file__); "
         "print(*p.problem_dirs(), sep='\\n'); scan = p.scan_problems(); "
         "print(' '.join(q.id for q in scan.problems)); print(len(scan.broken))"],
        cwd=installed.work, env=installed.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    module, *dirs, ids, broken = done.stdout.splitlines()
    site = installed.venv.resolve()
    assert Path(module).resolve().is_relative_to(site)
    assert [Path(d).resolve() for d in dirs] == [
        next(site.glob("lib/python*/site-packages/grader/problems"))]
    assert sorted(ids.split()) == _shipped(installed) and broken == "0"


def test_grade_from_an_empty_folder(installed: Installed) -> None:
    shutil.copy2(SEED, installed.work / "seed.md")
    done = installed.run("grade", "seed.md", "--problem", "backprop")
    assert done.returncode == 0, done.stderr
    assert "score 8 / 8" in done.stdout.splitlines()


def test_check_checks_the_packaged_problems(installed: Installed) -> None:
    done = installed.run("check")
    assert done.returncode == 0, done.stdout + done.stderr
    for problem_id in _shipped(installed):
        assert f"{problem_id}: OK" in done.stdout, problem_id


def test_batch_from_an_empty_folder(installed: Installed) -> None:
    """The README's class run, with the installed grader: the sample class folder in, every
    output out, report.html rendered from the template installed with the package."""
    samples = sorted(p for p in (ROOT / "submissions").iterdir()
                     if p.is_file() and p.suffix in (".json", ".md", ".tex", ".txt"))
    folder = installed.work / "submissions"
    folder.mkdir()
    for path in samples:
        shutil.copy2(path, folder / path.name)
    done = installed.run("batch", "submissions", "--problem", "backprop", "--out", "out",
                         "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"graded {len(samples)} submissions in" in done.stdout
    out = installed.work / "out"
    results = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(results) == len(samples)
    grades = (out / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert grades[0] == "student,a,b,c,d,e,f,g,total"
    assert sorted(row.split(",")[0] for row in grades[1:]) == sorted(p.stem for p in samples)
    assert "seed,1,1.5,1,1,1.5,1,1,8" in grades
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.startswith("<!DOCTYPE html>")
    assert "Backpropagation in a two-layer network" in report and "data:image/png" in report
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "from grader.report import _environment as e; "
         "print(e().loader.get_source(e(), 'report.html')[1])"],
        cwd=installed.work, env=installed.env(), capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(installed.venv.resolve())


def test_check_a_spec_of_ones_own_by_environment_and_by_option(installed: Installed) -> None:
    by_env = installed.run("check", "tiny",
                           env=installed.env(GRADER_PROBLEMS=str(installed.custom)))
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr
    assert "tiny: OK" in by_env.stdout
    by_option = installed.run("--problems", installed.custom, "check", "tiny")
    assert by_option.returncode == 0, by_option.stdout + by_option.stderr
    assert "tiny: OK" in by_option.stdout
    unknown = installed.run("check", "tiny")
    assert unknown.returncode == 2 and "unknown problem 'tiny'" in unknown.stderr


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8")


def test_serve_lists_the_problems(installed: Installed) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = installed.work / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(installed.grader), "--problems", str(installed.custom), "serve",
             "--host", "127.0.0.1", "--port", str(port), "--db", str(installed.work / "g.db"),
             "--workers", "1"],
            cwd=installed.work, env=installed.env(GRADER_INSTRUCTOR_TOKEN="packaging-test"),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"grader serve exited:\n{log.read_text()}"
            try:
                status, page = _get(url + "/")
                break
            except OSError:
                assert time.monotonic() < deadline, f"grader serve not up:\n{log.read_text()}"
                time.sleep(0.2)
        assert status == 200
        for problem_id in ("backprop", "softmax", "tiny"):
            assert f'value="{problem_id}"' in page, problem_id
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
