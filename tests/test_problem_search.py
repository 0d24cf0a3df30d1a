"""Where problems are found: the search path of grader.problem, its listing and its errors.

The search path is, in order: the folders given to ``configure_problem_dirs`` (the CLI's
``--problems``), the folders of ``$GRADER_PROBLEMS``, ``./problems`` in the current directory,
then the example problems installed with the package (``grader.problems``). An id is
``ID.toml`` in the first folder that has it. Every test runs in an empty temporary directory
with no ``$GRADER_PROBLEMS`` and nothing configured.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader.problem as problem_module
from grader.cli import main
from grader.errors import ProblemNotFound, SpecError
from grader.problem import (
    configure_problem_dirs,
    find_problem_file,
    list_problems,
    load_problem,
    problem_dirs,
    scan_problems,
)

pytest_plugins = ["pytester"]

TINY = (Path(__file__).parent / "data" / "specs" / "tiny.toml").read_text(encoding="utf-8")
PACKAGED = Path(str(files("grader.problems")))
PACKAGED_IDS = sorted(p.stem for p in PACKAGED.glob("*.toml"))  # backprop, softmax, ...


@pytest.fixture(autouse=True)
def clean_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty current directory, no $GRADER_PROBLEMS, no configured folders (before and after)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("GRADER_PROBLEMS", raising=False)
    configure_problem_dirs([])
    yield work
    configure_problem_dirs([])


def spec(folder: Path, stem: str, problem_id: str | None = None, title: str = "") -> Path:
    """A valid spec ``folder/stem.toml`` (the tiny one) with this id and title."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TINY.replace('id = "tiny"', f'id = "{problem_id or stem}"', 1)
    text = text.replace('title = "One output layer"', f'title = "{title or stem}"', 1)
    path = folder / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def folders(tmp_path: Path, *names: str) -> list[Path]:
    made = [tmp_path / name for name in names]
    for folder in made:
        folder.mkdir(parents=True, exist_ok=True)
    return made


# ------------------------------------------------------------------------ the path itself

def test_the_packaged_problems_come_last_and_are_the_installed_package() -> None:
    assert problem_dirs() == [PACKAGED]
    assert {"backprop.toml", "softmax.toml"} <= {p.name for p in PACKAGED.iterdir()}
    assert problem_module.packaged_problem_dir() == PACKAGED


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_search_path) -> None:
    a, b, c, d = folders(tmp_path, "a", "b", "c", "d")
    (clean_search_path / "problems").mkdir()
    monkeypatch.setenv("GRADER_PROBLEMS", os.pathsep.join([str(c), str(d)]))
    configure_problem_dirs([a, str(b)])
    assert problem_dirs() == [a, b, c, d, clean_search_path / "problems", PACKAGED]


def test_missing_folders_are_left_out_and_each_folder_comes_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (a,) = folders(tmp_path, "a")
    monkeypatch.setenv("GRADER_PROBLEMS",
                       os.pathsep.join(["", str(tmp_path / "nowhere"), str(a), str(PACKAGED)]))
    configure_problem_dirs([a, tmp_path / "missing"])
    assert problem_dirs() == [a, PACKAGED]


def test_relative_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          clean_search_path: Path) -> None:
    """Configured folders are taken from the directory current when configured; the
    environment's and ./problems from the directory current when searched."""
    folders(clean_search_path, "mine", "env")
    configure_problem_dirs(["mine"])
    monkeypatch.setenv("GRADER_PROBLEMS", "env")
    assert problem_dirs() == [clean_search_path / "mine", clean_search_path / "env", PACKAGED]
    elsewhere = tmp_path / "elsewhere"
    folders(elsewhere, "env", "problems")
    monkeypatch.chdir(elsewhere)
    assert problem_dirs() == [clean_search_path / "mine", elsewhere / "env",
                              elsewhere / "problems", PACKAGED]


def test_one_folder_given_alone_is_one_folder(tmp_path: Path) -> None:
    configure_problem_dirs(str(tmp_path))
    assert problem_dirs() == [tmp_path, PACKAGED]
    configure_problem_dirs(tmp_path)
    assert problem_dirs() == [tmp_path, PACKAGED]


# ------------------------------------------------------------------------ finding one problem

def test_an_id_is_found_in_the_first_folder_that_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_search_path: Path) -> None:
    a, b = folders(tmp_path, "a", "b")
    cwd_problems = clean_search_path / "problems"
    spec(b, "hw", title="from b")
    spec(cwd_problems, "hw", title="from ./problems")
    spec(cwd_problems, "local")
    monkeypatch.setenv("GRADER_PROBLEMS", str(b))
    assert find_problem_file("hw") == b / "hw.toml"
    assert load_problem("hw").title == "from b"
    configure_problem_dirs([a])
    spec(a, "hw", title="from a")
    assert load_problem("hw").title == "from a"
    assert find_problem_file("local") == cwd_problems / "local.toml"
    assert find_problem_file("backprop") == PACKAGED / "backprop.toml"


def test_a_path_is_used_as_is(tmp_path: Path) -> None:
    path = spec(tmp_path / "elsewhere", "draft")
    assert find_problem_file(path) == path
    assert find_problem_file(str(path)) == path
    with pytest.raises(ProblemNotFound, match="no problem spec at"):
        find_problem_file(tmp_path / "nope.toml")


def test_an_unknown_id_names_the_folders_searched_and_the_ids_found(tmp_path: Path) -> None:
    (a,) = folders(tmp_path, "a")
    spec(a, "mine")
    configure_problem_dirs([a])
    with pytest.raises(ProblemNotFound) as err:
        find_problem_file("nope")
    message = str(err.value)
    assert "unknown problem 'nope'" in message
    assert f"problems here: {', '.join(sorted([*PACKAGED_IDS, 'mine']))};" in message
    assert f"folders searched: {a}, {PACKAGED}" in message


@pytest.mark.parametrize("ref", ["../backprop", "a/b", "x y"])
def test_an_id_is_never_a_path_into_a_folder(ref: str) -> None:
    with pytest.raises(ProblemNotFound, match="unknown problem"):
        find_problem_file(ref)


# ------------------------------------------------------------------------ listing

def test_the_listing_has_every_problem_on_the_path_first_of_each_id_sorted(
        tmp_path: Path, clean_search_path: Path) -> None:
    a, b = folders(tmp_path, "a", "b")
    spec(a, "zeta")
    spec(a, "backprop", title="my own backprop")       # shadows the packaged backprop.toml
    spec(b, "zeta", title="shadowed by a/zeta.toml")
    spec(b, "alpha")
    spec(clean_search_path / "problems", "local")
    spec(clean_search_path / "problems", "another", problem_id="alpha",
         title="a second 'alpha', later on the path: left out")
    configure_problem_dirs([a, b])
    listed = list_problems()
    assert [p.id for p in listed] == sorted({*PACKAGED_IDS, "alpha", "local", "zeta"})
    titles = {p.id: p.title for p in listed}
    assert titles["backprop"] == "my own backprop"
    assert titles["zeta"] == "zeta" and titles["alpha"] == "alpha"
    assert next(p for p in listed if p.id == "softmax").path == str(PACKAGED / "softmax.toml")


def test_a_broken_spec_is_reported_not_raised(tmp_path: Path) -> None:
    (a,) = folders(tmp_path, "a")
    spec(a, "good")
    (a / "broken.toml").write_text('id = "broken"\n[network\n', encoding="utf-8")
    typo = spec(a, "typo")
    typo.write_text(typo.read_text(encoding="utf-8").replace("reference = '\\delta_k b_j'",
                                                             "reference = '\\delta_k q_j'"),
                    encoding="utf-8")
    (a / "notes.txt").write_text("not a spec", encoding="utf-8")
    configure_problem_dirs([a])
    scan = scan_problems()
    assert [p.id for p in scan.problems] == sorted([*PACKAGED_IDS, "good"])
    assert [path for path, _ in scan.broken] == [a / "broken.toml", a / "typo.toml"]
    assert all(isinstance(err, SpecError) for _, err in scan.broken)
    (_, toml_error), (_, key_error) = scan.broken
    assert "broken.toml" in str(toml_error) and "TOML" in str(toml_error)
    assert key_error.key.endswith("reference") and "'q'" in str(key_error)
    assert scan.dirs == [a, PACKAGED]
    assert [p.id for p in list_problems()] == sorted([*PACKAGED_IDS, "good"])


def test_a_broken_spec_shadows_the_later_one_of_its_name(tmp_path: Path) -> None:
    """`grade --problem backprop` would load the broken one: the listing agrees with it."""
    (a,) = folders(tmp_path, "a")
    (a / "backprop.toml").write_text("id = 'backprop'\n", encoding="utf-8")
    configure_problem_dirs([a])
    scan = scan_problems()
    assert [p.id for p in scan.problems] == [i for i in PACKAGED_IDS if i != "backprop"]
    assert [path for path, _ in scan.broken] == [a / "backprop.toml"]
    with pytest.raises(SpecError):
        load_problem("backprop")


# ------------------------------------------------------------------------ the CLI

def run(*args: str | Path) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, code: int, *words: str) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def test_check_with_nothing_to_check_is_an_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problem_module, "packaged_problem_dir", lambda: None)
    (empty,) = folders(tmp_path, "empty")
    monkeypatch.setenv("GRADER_PROBLEMS", str(empty))
    one_error_line(run("check"), 2, "no problem specs", f"folders searched: {empty}")
    monkeypatch.delenv("GRADER_PROBLEMS")
    one_error_line(run("check"), 2, "no problem specs", "folders searched: none")


def test_check_reports_a_broken_spec_on_the_path(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problem_module, "packaged_problem_dir", lambda: None)
    (a,) = folders(tmp_path, "a")
    (a / "broken.toml").write_text('id = "broken"\n[network\n', encoding="utf-8")
    one_error_line(run("--problems", a, "check"), 2, "broken.toml", "TOML")


def test_the_problems_option_comes_first_in_the_search(tmp_path: Path) -> None:
    a, b = folders(tmp_path, "a", "b")
    seed = Path(__file__).parent.parent / "submissions" / "seed.md"
    line = one_error_line(run("--problems", a, "--problems", b, "grade", seed, "--problem", "x"),
                          2, "unknown problem 'x'")
    assert line.endswith(f"folders searched: {a}, {b}, {PACKAGED})")


def test_the_problems_option_must_be_a_folder(tmp_path: Path) -> None:
    result = run("--problems", tmp_path / "nowhere", "check")
    assert result.exit_code == 2 and "'--problems'" in result.stderr


# ------------------------------------------------------------------------ the pytest plugin

def test_the_plugin_collects_every_spec_on_the_path(pytester, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (a,) = folders(tmp_path, "a")
    spec(a, "mine")
    (a / "broken.toml").write_text('id = "broken"\n[network\n', encoding="utf-8")
    monkeypatch.setenv("GRADER_PROBLEMS", str(a))
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q",
                                "--grader-examples")
    ids = {line.split("::")[0] for line in result.stdout.lines if "::" in line}
    assert {"backprop", "mine", "softmax"} <= ids
    result.stdout.fnmatch_lines(["*broken.toml*TOML*"])
    assert result.ret != 0      # the broken spec is a collection error
