"""The public API works in any kind of program, under the hard per-part time limit.

A plain script without an ``if __name__ == "__main__":`` guard, a program read from standard
input (``python -``), a thread, and the README's own Python example, each run as a real
subprocess: grading works, nothing prints a traceback, and a part that runs past its limit is
still stopped and sent to review.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A right answer whose symbolic proof takes SymPy minutes (two 60th powers of sums).
HANG = (r"\psi_j + ((\sum_i a_i + e_j) + (\sum_k t_k + \sum_k f_k))^{60} - ((\sum_i a_i + e_j)^2"
        r" + 2(\sum_i a_i + e_j)(\sum_k t_k + \sum_k f_k) + (\sum_k t_k + \sum_k f_k)^2)^{30}")


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    """backprop with a one-second limit per part."""
    text = (ROOT / "problems" / "backprop.toml").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("spec") / "quick.toml"
    path.write_text(text.replace("time_limit = 10", "time_limit = 1", 1), encoding="utf-8")
    return path


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    return done


PROGRAM = textwrap.dedent(r'''
    import grader
    problem = grader.load_problem({spec!r})
    print(grader.grade_answer(problem, "c", r"\delta_k b_j").verdict)
    late = grader.grade_answer(problem, "g", {hang!r})
    print(late.verdict, "timeout" in late.flags, late.elapsed_ms < 10_000)
''')


def test_a_script_without_a_main_guard(tmp_path, quick) -> None:
    script = tmp_path / "grade_it.py"
    script.write_text(PROGRAM.format(spec=str(quick), hang=HANG), encoding="utf-8")
    lines = _run([sys.executable, str(script)], tmp_path).stdout.split("\n")
    assert lines[0] == "correct"
    assert lines[1] == "review True True"


def test_a_program_read_from_standard_input(tmp_path, quick) -> None:
    done = _run([sys.executable, "-"], tmp_path, PROGRAM.format(spec=str(quick), hang=HANG))
    assert done.stdout.split("\n")[:2] == ["correct", "review True True"]


def test_from_threads_in_a_script(tmp_path, quick) -> None:
    program = textwrap.dedent(r'''
        import threading, grader
        problem = grader.load_problem({spec!r})
        out = {{}}
        def work(n, answer):
            out[n] = grader.grade_answer(problem, "c", answer).verdict
        threads = [threading.Thread(target=work, args=(n, a)) for n, a in
                   enumerate([r"\delta_k b_j", r"\delta_k w_{{jk}}", r"b_j \delta_k"])]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(out[0], out[1], out[2])
    ''').format(spec=str(quick))
    done = _run([sys.executable, "-c", program], tmp_path)
    assert done.stdout.strip() == "correct incorrect correct"


def test_the_readme_python_example_runs_as_a_script(tmp_path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    script = tmp_path / "example.py"
    script.write_text(code + "\nprint('done')\n", encoding="utf-8")
    assert _run([sys.executable, str(script)], ROOT).stdout.strip().endswith("done")
