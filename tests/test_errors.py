"""One error hierarchy: everything the grader raises on purpose is a GraderError.

Read from the source itself: every ``raise SomeName(...)`` in the package names a GraderError
subclass, so a surface that catches GraderError once shows every such error as a message, and
anything else that escapes is a bug. The one exception is module ``__getattr__``, which must
raise AttributeError by Python's rules.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import grader
from grader import errors
from grader.errors import GraderError

PACKAGE = Path(grader.__file__).parent
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if inspect.isclass(value) and issubclass(value, BaseException)}


def _raised_names(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            for inner in ast.walk(node):
                inner._in_getattr = True  # type: ignore[attr-defined]
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and isinstance(node.exc.func, ast.Name) \
                and not getattr(node, "_in_getattr", False):
            yield node.exc.func.id, node.lineno


def test_the_package_raises_only_grader_errors() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, line in _raised_names(path):
            if name in BUILTIN_EXCEPTIONS:
                found.append(f"{path.relative_to(PACKAGE)}:{line} raises {name}")
    assert found == []


def test_every_error_class_is_a_grader_error() -> None:
    classes = [value for value in vars(errors).values()
               if inspect.isclass(value) and issubclass(value, BaseException)]
    assert classes and all(issubclass(c, GraderError) for c in classes)
