"""Problems are data: find, load and validate a problem spec (a TOML file).

Specs are found on a search path (``problem_dirs()``): the folders given to
``configure_problem_dirs`` (the CLI's ``--problems``), those in ``$GRADER_PROBLEMS``, then
``./problems`` in the current directory, then the example problems installed with the package
(``grader.problems``, read through ``importlib.resources``).

A spec names the network (forward equations, given quantities, index ranges, signals) and,
per part, the asked quantity, the reference answer, points, the form asked for, known mistakes
with feedback and credit, and accept/reject examples. ``docs/authoring.md`` is the reference.
Every error names the file, the key and, where it can, the line.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import EllipsisType

from . import functions
from .errors import (
    AnswerError,
    GraderError,
    IndexMismatch,
    ProblemNotFound,
    ShapeMismatch,
    SpecError,
)
from .expr import Deriv, Expr, Var, free_indices
from .indices import Affine, affine
from .indices import canonical as canonical_index
from .matrices import DENOMINATOR, LAYOUTS, Dims, Shape, lower_equation, parse_shape, shape_of
from .network import Equation, Network
from .reader import Vocabulary, read, read_expression
from .syntax import parse

PROBLEMS_ENV = "GRADER_PROBLEMS"          # folders of specs, separated by os.pathsep
_ID = re.compile(r"[A-Za-z0-9_-]+")       # a problem id, as the spec's `id` key allows
FIXED_ACTIVATIONS = ("sigmoid", "tanh", "softplus", "arctan")
TOP_LEVEL_KEYS = frozenset({"id", "title", "points", "time_limit", "sigmoid_only_credit",
                            "form_credit", "step_deduction", "network", "parts"})
NETWORK_KEYS = frozenset({"indices", "activation", "equations", "given", "positive", "simplex",
                          "shapes", "layout", "samples", "per_sample",
                          "signals", "aliases", "sizes", "zero_outside", "steps",
                          "per_step"})
_CONDITION = re.compile(r"^\s*([a-z])\s*(<=|>=|<|>|\\leq?|\\geq?|\\neq?)\s*([A-Za-z0-9+\- ]+)$")
_CONDITION_OPS = {"\\le": "<=", "\\leq": "<=", "\\ge": ">=", "\\geq": ">=", "\\ne": "!=",
                  "\\neq": "!="}


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: when an answer equals it, the student gets this feedback."""

    answer: str
    expr: Expr
    feedback: str
    credit: float = 0.0


@dataclass(frozen=True)
class Part:
    """One part of a problem, ready to grade against."""

    id: str
    points: float
    prompt: str
    asks: str
    asks_expr: Expr
    reference: str
    reference_expr: Expr
    vocabulary: Vocabulary
    activation: str | None = None          # None: the generic g
    variables: tuple[str, ...] = ()
    in_terms_of: frozenset[str] = frozenset()
    form: str = ""
    form_credit: float = 1.0
    sigmoid_only_credit: float = 0.5
    mistakes: tuple[Mistake, ...] = ()
    accept: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    step_deduction: float = 0.0
    index_answers: bool = False            # a vector-matrix part reads (p_c - y_c) h_j too
    where: tuple[str, str, str] | None = None  # asked only where "t < T": (t, "<", "T")

    @property
    def free(self) -> frozenset[str]:
        return free_indices(self.reference_expr)


@dataclass(frozen=True)
class Problem:
    id: str
    title: str
    points: float
    parts: dict[str, Part]
    network: Network
    path: str
    time_limit: float = 10.0
    source_hash: str = field(default="", compare=False)

    def part(self, part_id: str) -> Part:
        try:
            return self.parts[part_id]
        except KeyError:
            raise ProblemNotFound(
                f"problem '{self.id}' has no part '{part_id}'; its parts are "
                + ", ".join(self.parts)) from None


# ------------------------------------------------------------------ the search path

_configured: tuple[Path, ...] = ()


def configure_problem_dirs(dirs: Sequence[str | Path]) -> None:
    """Search these folders first, in order, in this process (the CLI's ``--problems``).

    Relative folders are taken from the current directory now; ``[]`` undoes it. They come
    before ``$GRADER_PROBLEMS``, ``./problems`` and the packaged problems. One folder given
    alone (a ``str`` or ``Path``) is one folder, not a sequence of characters.
    """
    global _configured
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    _configured = tuple(Path(d).expanduser().absolute() for d in dirs)


def packaged_problem_dir() -> Path | None:
    """The example problems installed with the package (``grader.problems``), if any."""
    from importlib.resources import files

    try:
        folder = files("grader.problems")
    except ModuleNotFoundError:
        return None
    # A plain folder in a wheel's or an editable install; a zipped install has no Path.
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def _candidate_dirs() -> list[Path]:
    env = [Path(d).expanduser() for d in os.environ.get(PROBLEMS_ENV, "").split(os.pathsep)
           if d.strip()]
    return [*_configured, *env, Path("problems"), *filter(None, [packaged_problem_dir()])]


def problem_dirs() -> list[Path]:
    """The problem search path, in order: configured folders (``--problems``), the folders of
    ``$GRADER_PROBLEMS``, ``./problems``, the packaged problems. Existing folders only, each
    once, as absolute paths."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder in _candidate_dirs():
        if not folder.is_dir():
            continue
        folder = folder.absolute()
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            found.append(folder)
    return found


def _spec_files() -> list[Path]:
    """Every spec file on the search path that is not shadowed by an earlier one (``ID.toml``
    in the first folder that has it), in search-path order."""
    files: list[Path] = []
    stems: set[str] = set()
    for folder in problem_dirs():
        for path in sorted(folder.glob("*.toml")):
            if path.stem not in stems and path.is_file():
                stems.add(path.stem)
                files.append(path)
    return files


def describe_problem_dirs(dirs: Sequence[Path] | None = None) -> str:
    """The search path for a message: ``problems, /usr/lib/.../grader/problems`` (or ``none``)."""
    dirs = problem_dirs() if dirs is None else dirs
    return ", ".join(_short(str(d)) for d in dirs) or "none"


def find_problem_file(id_or_path: str | Path) -> Path:
    """The spec file of a problem: a path (``x.toml`` or an existing file) as is, or an id,
    found as ``ID.toml`` in the first folder of ``problem_dirs()`` that has it."""
    path = Path(id_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProblemNotFound(f"no problem spec at {path}")
        return path
    dirs = problem_dirs()
    if _ID.fullmatch(str(id_or_path)):
        for folder in dirs:
            candidate = folder / f"{id_or_path}.toml"
            if candidate.is_file():
                return candidate
    known = ", ".join(sorted({p.stem for d in dirs for p in d.glob("*.toml")})) or "none"
    raise ProblemNotFound(f"unknown problem '{id_or_path}' (problems here: {known}; "
                          f"folders searched: {describe_problem_dirs(dirs)})")


def load_problem(id_or_path: str | Path) -> Problem:
    """Load and validate a problem by id or path; cached while the file is unchanged."""
    path = find_problem_file(id_or_path).resolve()
    text = path.read_text(encoding="utf-8")
    return _load(str(path), text)


@dataclass
class ProblemScan:
    """Every spec on the search path: those that load, and those that do not, with the error."""

    problems: list[Problem] = field(default_factory=list)
    broken: list[tuple[Path, SpecError]] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)      # the folders searched, in order


def scan_problems() -> ProblemScan:
    """Load every spec on the search path. ``ID.toml`` in an earlier folder shadows a later
    one; of two specs with the same ``id``, the first wins. A spec that does not load is listed
    in ``broken`` with its error instead of breaking the scan. Problems are sorted by id."""
    scan = ProblemScan(dirs=problem_dirs())
    ids: set[str] = set()
    for path in _spec_files():
        try:
            problem = load_problem(path)
        except SpecError as err:
            scan.broken.append((path, err))
            continue
        except ProblemNotFound:     # gone since the folder was listed
            continue
        except (OSError, UnicodeDecodeError) as err:   # unreadable: reported like a bad spec
            scan.broken.append((path, SpecError(_short(str(path)), "(file)",
                                                f"cannot be read: {err}")))
            continue
        if problem.id not in ids:
            ids.add(problem.id)
            scan.problems.append(problem)
    scan.problems.sort(key=lambda p: p.id)
    return scan


def list_problems() -> list[Problem]:
    """Every problem on the search path that loads (the first of each id), sorted by id."""
    return scan_problems().problems


@lru_cache(maxsize=32)
def _load(path: str, text: str) -> Problem:
    return _SpecLoader(path, text).load()


class _SpecLoader:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.name = _short(path)

    def fail(self, key: str, problem: str, part: int | None = None) -> SpecError:
        return SpecError(self.name, key, problem, self.line_of(key, part))

    def line_of(self, key: str, part: int | None) -> int | None:
        """The line where ``key`` is set (inside the part's block when given)."""
        lines = self.text.splitlines()
        start = 0
        if part is not None:
            seen = -1
            for n, line in enumerate(lines):
                if line.strip() == "[[parts]]":
                    seen += 1
                    if seen == part:
                        start = n
                        break
        last = key.split(".")[-1].split("[")[0]
        pattern = re.compile(rf"^\s*{re.escape(last)}\s*=")
        for n in range(start, len(lines)):
            if pattern.match(lines[n]):
                return n + 1
        return start + 1 if part is not None else None

    # ------------------------------------------------------------------ helpers
    def get(self, table: dict, key: str, kind, where: str, part: int | None = None,
            default=...):
        if key not in table:
            if default is ...:
                raise self.fail(f"{where}{key}", "is missing", part)
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self.fail(f"{where}{key}", f"must be {_kind_name(kind)}, "
                            f"not {type(value).__name__}", part)
        return value

    def strings(self, table, key, where, part=None, default=...) -> list[str]:
        value = self.get(table, key, list, where, part, default)
        if not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}{key}", "must be a list of strings", part)
        return value

    def unknown_keys(self, table: dict, known: frozenset[str], where: str, what: str) -> None:
        """Refuse a key the loader does not know (a typo would otherwise be ignored)."""
        for key in table:
            if key not in known:
                raise self.fail(f"{where}{key}", f"is not {what} (see docs/authoring.md)")

    def expression(self, latex: str, vocab: Vocabulary, key: str, part: int | None) -> Expr:
        try:
            return read_expression(latex, vocab)
        except (AnswerError, IndexMismatch) as err:
            raise self.fail(key, f"cannot read {latex!r}: {err}", part) from None

    # ------------------------------------------------------------------ the spec
    def load(self) -> Problem:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as err:
            raise SpecError(self.name, "(file)", f"not valid TOML: {err}") from None
        problem_id = self.get(data, "id", str, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", problem_id):
            raise self.fail("id", "use letters, digits, '-' and '_' only")
        title = self.get(data, "title", str, "", default=problem_id)
        self.unknown_keys(data, TOP_LEVEL_KEYS, "", "a top-level key of a problem")
        network, vocab = self.network(self.get(data, "network", dict, ""))
        defaults = {
            "sigmoid_only_credit": self.get(data, "sigmoid_only_credit", float, "", default=0.5),
            "form_credit": self.get(data, "form_credit", float, "", default=1.0),
            "step_deduction": self.get(data, "step_deduction", float, "", default=0.0),
        }
        raw_parts = self.get(data, "parts", list, "")
        if not raw_parts:
            raise self.fail("parts", "a problem needs at least one part")
        parts: dict[str, Part] = {}
        for n, raw in enumerate(raw_parts):
            if not isinstance(raw, dict):
                raise self.fail(f"parts[{n}]", "must be a table ([[parts]])")
            part = self.part(raw, n, network, vocab, defaults)
            if part.id in parts:
                raise self.fail(f"parts[{n}].id", f"part '{part.id}' is defined twice", n)
            parts[part.id] = part
        total = sum(p.points for p in parts.values())
        points = self.get(data, "points", float, "", default=total)
        if abs(points - total) > 1e-9:
            raise self.fail("points", f"is {points:g} but the parts add up to {total:g}")
        time_limit = self.get(data, "time_limit", float, "", default=10.0)
        if not 0 < time_limit <= 600:
            raise self.fail("time_limit", "must be between 0 and 600 seconds")
        return Problem(problem_id, title, points, parts, network, self.path, time_limit,
                       hashlib.sha256(self.text.encode()).hexdigest()[:16])

    def network(self, table: dict) -> tuple[Network, Vocabulary]:
        where = "network."
        self.unknown_keys(table, NETWORK_KEYS, where, "a key of [network]")
        if "shapes" in table:
            return self.matrix_network(table)
        if "layout" in table:
            raise self.fail("network.layout", "is for vector-matrix problems: declare the "
                            "shapes of their vectors and matrices in [network.shapes]")
        sizes, range_names = self.indices(self.get(table, "indices", dict, where))
        activation = self.get(table, "activation", str, where, default="g")
        leaves = {}
        for n, latex in enumerate(self.strings(table, "given", where)):
            name, idx = self.definition_lhs(latex, f"network.given[{n}]", sizes)
            leaves[name] = idx
        defined = self.definitions(table, "equations", sizes, "an equation")
        named = self.definitions(table, "signals", sizes, "a definition", default=[])
        quantities = {**leaves, **{name: idx for key, name, idx, _, _ in defined + named}}
        functions = frozenset({activation, "sigma"})
        aliases = self.aliases(self.get(table, "aliases", dict, where, default={}), quantities,
                               functions)
        zero_outside = self.zero_outside(table, quantities, sizes)
        vocab = Vocabulary(ranges=sizes, quantities=quantities, functions=functions,
                           range_names=range_names, aliases=aliases, zero_outside=zero_outside)
        equations = [Equation(name, idx, self.expression(right, vocab, key, None), latex)
                     for key, name, idx, right, latex in defined]
        signals = {}
        for key, name, idx, right, _ in named:
            rhs = self.expression(right, vocab, key, None)
            if not isinstance(rhs, Deriv) or free_indices(rhs) != set(idx):
                raise self.fail(key, "a signal is defined as one derivative with the same "
                                "indices, as in \\delta_k = \\frac{\\partial E}{\\partial h_k}")
            signals[name] = (idx, rhs)
        network = Network(ranges=sizes, leaves=leaves, equations=tuple(equations),
                          signals=signals, activation=activation,
                          simplex=self.leaf_names(table, "simplex", sizes, leaves, indexed=True),
                          positive=self.leaf_names(table, "positive", sizes, leaves),
                          zero_outside=zero_outside, derived=self.derived_sizes(table, sizes))
        for problem in network.check():
            raise self.fail("network.equations", problem)
        return network, vocab

    def matrix_network(self, table: dict) -> tuple[Network, Vocabulary]:
        """A network in vector-matrix notation (``z = W_1 x + b_1``), lowered to index notation.

        ``[network.shapes]`` gives each given vector and matrix its shape; what the equations
        compute gets its shape from them; ``[network.indices]`` names one index letter per
        size (for index-notation answers and for the lowered equations).
        """
        where = "network."
        sizes, range_names = self.indices(self.get(table, "indices", dict, where))
        letters: dict[str, str] = {}
        for letter, size in sizes.items():
            if size in letters:
                raise self.fail(f"network.indices.{letter}", f"size {size} already has the "
                                f"index {letters[size]}: in a vector-matrix problem each size "
                                "has one index letter")
            letters[size] = letter
        layout = self.get(table, "layout", str, where, default=DENOMINATOR)
        if layout not in LAYOUTS:
            raise self.fail("network.layout", f"must be one of {', '.join(LAYOUTS)}")
        shapes: dict[str, Shape] = {}
        for written, text in self.get(table, "shapes", dict, where).items():
            key = f"network.shapes.{written}"
            name = self.matrix_name(written, key)
            if not isinstance(text, str):
                raise self.fail(key, 'must be a shape such as "D" (a column) or "H x D"')
            try:
                shape = parse_shape(text)
            except GraderError as err:
                raise self.fail(key, str(err)) from None
            for dim in (shape.rows, shape.cols):
                if dim is not None and dim not in letters:
                    raise self.fail(key, f"size {dim} has no index letter in "
                                    "[network.indices]")
            shapes[name] = shape
        given = []
        for n, written in enumerate(self.strings(table, "given", where)):
            name = self.matrix_name(written, f"network.given[{n}]")
            if name not in shapes:
                raise self.fail(f"network.given[{n}]", f"{written} has no shape in "
                                "[network.shapes]")
            given.append(name)
        activation = self.get(table, "activation", str, where, default="g")
        functions = frozenset({activation, "sigma"})
        aliases = self.aliases(self.get(table, "aliases", dict, where, default={}), shapes,
                               functions)
        declared = {name: shape for name, shape in shapes.items() if name not in given}
        shapes = {name: shapes[name] for name in given}
        samples = self.get(table, "samples", str, where, default="") or None
        if samples is not None and samples not in sizes:
            raise self.fail("network.samples", f"'{samples}' is not one of the indices "
                            f"({', '.join(sizes)}): name the examples' index there, as in "
                            'n = { size = "N", means = "the training examples" }')
        per_sample = set(self.matrix_names(table, "per_sample", given))
        if per_sample and samples is None:
            raise self.fail("network.per_sample", "needs the examples' index: samples = \"n\"")
        steps = self.get(table, "steps", str, where, default="") or None
        if steps is not None:  # a sequence: h_t for t = 1..T, read with index arithmetic
            if samples is not None:
                raise self.fail("network.steps", "a problem has either samples or steps")
            if steps not in sizes:
                raise self.fail("network.steps", f"'{steps}' is not one of the indices "
                                f"({', '.join(sizes)}): name the time steps' index there, as "
                                'in t = { size = "T", means = "the time steps" }')
            samples = steps
            for n, written in enumerate(self.strings(table, "per_step", where, default=[])):
                at = f"network.per_step[{n}]"
                name = self.matrix_name(written, at)
                if name not in given and name not in declared:
                    raise self.fail(at, f"{written} has no shape in [network.shapes]")
                per_sample.add(name)
        elif "per_step" in table:
            raise self.fail("network.per_step", "needs the time steps' index: steps = \"t\"")

        def dims_now() -> Dims:
            return Dims(dict(shapes), letters, layout, samples=samples,
                        per_sample=frozenset(per_sample), steps=steps is not None)

        def vocabulary() -> Vocabulary:
            dims = dims_now()
            return Vocabulary(ranges=sizes, quantities={n: dims.slots(n) for n in shapes},
                              functions=functions, range_names=range_names, aliases=aliases,
                              dims=dims)

        lowered: dict[str, list] = {"equations": [], "signals": []}
        signal_definitions: dict[str, Expr] = {}
        for key in ("equations", "signals"):
            default: list[str] | EllipsisType = [] if key == "signals" else ...
            for n, latex in enumerate(self.strings(table, key, where, default=default)):
                at = f"network.{key}[{n}]"
                left, _, right = latex.partition("=")
                if not right:
                    raise self.fail(at, f"{latex!r} is not an equation")
                written = _SAMPLE_MARK.sub("", left.strip())  # z^{(n)} = ...: one per example
                if steps is not None:  # h_t = ...: one per time step
                    written = re.sub(r"_\s*\{?\s*" + steps + r"\s*\}?\s*$", "", written)
                name = self.matrix_name(written, at)
                if name in shapes:
                    raise self.fail(at, f"{left.strip()} is defined twice")
                if name in declared and name in per_sample:
                    shapes[name] = declared[name]  # a recurrence reads its own h_{t-1}
                rhs = self.expression(right, vocabulary(), at, None)
                if key == "signals":
                    if not isinstance(rhs, Deriv):
                        raise self.fail(at, "a signal is defined as one derivative, as in "
                                        "\\delta_2 = \\frac{\\partial L}{\\partial s}")
                    signal_definitions[name] = rhs
                try:
                    expr, shape, slots = lower_equation(rhs, dims_now())
                except ShapeMismatch as err:
                    raise self.fail(at, f"{latex!r}: {err}") from None
                if name in declared and declared[name] != shape:
                    raise self.fail(at, f"{left.strip()} is declared {declared[name]} in "
                                    f"[network.shapes], but this makes it {shape}")
                shapes[name] = shape
                if samples is not None and slots[:1] == (samples,):
                    per_sample.add(name)
                lowered[key].append((name, slots, expr, latex))
        unused = sorted(set(declared) - set(shapes))
        if unused:
            raise self.fail(f"network.shapes.{unused[0]}", "is neither given nor computed by "
                            "an equation or a signal")
        vocab = vocabulary()
        assert vocab.dims is not None
        vocab = replace(vocab, dims=replace(vocab.dims, signals=signal_definitions))
        assert vocab.dims is not None
        network = Network(
            ranges=sizes, leaves={name: vocab.dims.slots(name) for name in given},
            equations=tuple(Equation(name, slots, expr, latex)
                            for name, slots, expr, latex in lowered["equations"]),
            signals={name: (slots, expr) for name, slots, expr, _ in lowered["signals"]},
            activation=activation, dims=vocab.dims,
            simplex=self.matrix_names(table, "simplex", given, vectors=True),
            positive=self.matrix_names(table, "positive", given),
            zero_outside=frozenset(self.matrix_name(w, f"network.zero_outside[{n}]") for n, w
                                   in enumerate(self.strings(table, "zero_outside", where,
                                                             default=[]))),
            derived=self.derived_sizes(table, sizes))
        for problem in network.check():
            raise self.fail("network.equations", problem)
        return network, vocab

    def zero_outside(self, table: dict, quantities, sizes) -> frozenset[str]:
        """[network] zero_outside: the names that are 0 indexed outside their range (x_0,
        e_{M+1}, h_0); any other name has no value there, and an answer that needs one is
        refused on the network."""
        names = set()
        for n, latex in enumerate(self.strings(table, "zero_outside", "network.", default=[])):
            key = f"network.zero_outside[{n}]"
            name, _ = self.definition_lhs(latex, key, sizes)
            if name not in quantities:
                raise self.fail(key, f"{latex} is not a quantity of this problem")
            names.add(name)
        return frozenset(names)

    def derived_sizes(self, table: dict, sizes: dict[str, str]) -> dict[str, Affine]:
        """[network.sizes]: sizes that follow from others, as in M = "N - P + 1"."""
        out: dict[str, Affine] = {}
        drawn = set(sizes.values())
        for size, formula in self.get(table, "sizes", dict, "network.", default={}).items():
            key = f"network.sizes.{size}"
            if size not in drawn:
                raise self.fail(key, "is not the size of an index in [network.indices]")
            try:
                form = affine(str(formula))
            except GraderError:
                form = None
            if form is None or form.letters or not form.sizes \
                    or any(s not in drawn or s in out or s == size for s, _ in form.sizes):
                raise self.fail(key, 'must be other sizes added or subtracted, with a whole '
                                'number, as in M = "N - P + 1"')
            out[size] = form
        return out

    def condition(self, raw: dict, where: str, n: int, vocab) -> tuple[str, str, str] | None:
        """A part's ``where = "t < T"``: the asked quantity is checked only where it holds."""
        text = self.get(raw, "where", str, where, n, default="")
        if not text:
            return None
        match = _CONDITION.match(text)
        if match is None:
            raise self.fail(f"{where}where", 'must be an index compared with a bound, as in '
                            '"t < T" or "t \\le T-1"', n)
        letter, op, bound = match.groups()
        try:
            form = affine(bound.replace(" ", ""))
        except GraderError:
            raise self.fail(f"{where}where", f"{bound!r} is not a bound", n) from None
        if letter not in vocab.ranges or any(s not in vocab.ranges.values()
                                             for s, _ in form.sizes):
            raise self.fail(f"{where}where", f"'{letter}' must be an index and the bound "
                            "made of sizes and numbers", n)
        return letter, _CONDITION_OPS.get(op, op), canonical_index(form)

    def matrix_name(self, written: str, key: str) -> str:
        """``W_1``, ``x``, ``\\delta_2``, ``\\mathbf{W}_1``: a vector-matrix problem's name."""
        try:
            tree = parse(written)
        except AnswerError as err:
            raise self.fail(key, f"cannot read {written!r}: {err}") from None
        tokens = [t for t in tree.scan_values(lambda v: True)
                  if t.type not in ("LBRACE", "RBRACE")]
        shape = [t.type for t in tokens]
        if shape in (["LETTER"], ["GREEK"]):
            return str(tokens[0])
        if len(shape) >= 3 and shape[0] in ("LETTER", "GREEK") and shape[1] == "SUB" \
                and all(kind in ("LETTER", "NUMBER") for kind in shape[2:]):
            return f"{tokens[0]}_{''.join(str(t) for t in tokens[2:])}"
        raise self.fail(key, f"{written!r} must be a name such as x, W_1 or \\delta_2")

    def same_shape(self, asks: Expr, reference: Expr, dims: Dims, key: str, n: int) -> None:
        """A vector-matrix part's reference has the shape of what it asks (in the layout)."""
        asked = _shape_or_fail(self, asks, dims, key.rsplit(".", 1)[0] + ".asks", n)
        shape = _shape_or_fail(self, reference, dims, key, n)
        if shape != asked:
            raise self.fail(key, f"is {shape.describe()}, but what the part asks is "
                            f"{asked.describe()} in the {dims.layout} layout", n)

    def matrix_names(self, table: dict, key: str, given: list[str],
                     vectors: bool = False) -> frozenset[str]:
        names = set()
        for n, written in enumerate(self.strings(table, key, "network.", default=[])):
            at = f"network.{key}[{n}]"
            name = self.matrix_name(written, at)
            if name not in given:
                raise self.fail(at, f"{written} is not a given vector or matrix")
            names.add(name)
        return frozenset(names)

    def aliases(self, table: dict, quantities, functions) -> dict[str, str]:
        """[network] aliases = { W = "w", "\\Delta" = "\\delta" }: other names students may use.

        Off unless the spec lists them; an alias must be a new name for a known one.
        """
        out = {}
        for alias, name in table.items():
            key = f"network.aliases.{alias}"
            if not isinstance(name, str):
                raise self.fail(key, 'must name a quantity or function, as in W = "w"')
            written, meant = alias.lstrip("\\"), name.lstrip("\\")
            if meant not in quantities and meant not in functions:
                raise self.fail(key, f"'{name}' is not a quantity or function of this problem")
            if written in quantities or written in functions:
                raise self.fail(key, f"'{alias}' already names something in this problem")
            if not re.fullmatch(r"[A-Za-z]|[A-Za-z]{2,}", written):
                raise self.fail(key, "an alias is one letter or a Greek letter's name")
            out[written] = meant
        return out

    def indices(self, table: dict) -> tuple[dict[str, str], dict[str, str]]:
        """[network.indices]: letter -> size letter, and letter -> what it runs over in words."""
        sizes, range_names = {}, {}
        for letter, spec in table.items():
            key = f"network.indices.{letter}"
            if not re.fullmatch(r"[a-z]", letter):
                raise self.fail(key, "an index is one lower-case letter")
            if not isinstance(spec, dict) or not isinstance(spec.get("size"), str):
                raise self.fail(key, 'must be a table like { size = "K", means = "the output '
                                'units" }')
            sizes[letter] = spec["size"]
            means = spec.get("means", f"{letter} = 1..{spec['size']}")
            range_names[letter] = f"{means} ({letter} = 1..{spec['size']})"
        return sizes, range_names

    def definitions(self, table: dict, key: str, sizes, what: str, default=...):
        """``name_{idx} = rhs`` strings: (key, name, idx, rhs text, whole text) for each."""
        out = []
        for n, latex in enumerate(self.strings(table, key, "network.", default=default)):
            where = f"network.{key}[{n}]"
            left, _, right = latex.partition("=")
            if not right:
                raise self.fail(where, f"{latex!r} is not {what}")
            name, idx = self.definition_lhs(left, where, sizes)
            out.append((where, name, idx, right, latex))
        return out

    def leaf_names(self, table: dict, key: str, sizes, leaves,
                   indexed: bool = False) -> frozenset[str]:
        """A list of given quantities (``positive``, ``simplex``) as their names."""
        names = set()
        for n, latex in enumerate(self.strings(table, key, "network.", default=[])):
            name, _ = self.definition_lhs(latex, f"network.{key}[{n}]", sizes)
            if name not in leaves:
                raise self.fail(f"network.{key}[{n}]", f"{latex} is not a given quantity")
            if indexed and not leaves[name]:
                raise self.fail(f"network.{key}[{n}]", f"{latex} has no index to sum over")
            names.add(name)
        return frozenset(names)

    def definition_lhs(self, latex: str, key: str, ranges) -> tuple[str, tuple[str, ...]]:
        """The name and index letters of ``w_{jk}``, ``\\delta_k`` or ``E``."""
        try:
            tree = parse(latex)
        except AnswerError as err:
            raise self.fail(key, f"cannot read {latex!r}: {err}") from None
        tokens = [t for t in tree.scan_values(lambda v: True)
                  if t.type not in ("LBRACE", "RBRACE", "SUB")]
        if not tokens or tokens[0].type not in ("LETTER", "GREEK"):
            raise self.fail(key, f"{latex!r} must be a name with index letters, like w_{{jk}}")
        name = str(tokens[0])
        letters = tuple(str(t) for t in tokens[1:])
        for letter in letters:
            if letter not in ranges:
                raise self.fail(key, f"'{letter}' in {latex!r} is not one of the indices "
                                     f"({', '.join(ranges)})")
        return name, letters

    def check_variable(self, v: str, vocab: Vocabulary, key: str, part: int) -> None:
        """A part's variable is one letter; it may shadow an indexed quantity (s for s_j)."""
        if not isinstance(v, str) or not re.fullmatch(r"[a-zA-Z]", v):
            raise self.fail(key, f"'{v}' must be one free letter", part)
        if v in vocab.ranges:
            raise self.fail(key, f"'{v}' is an index letter of the network", part)
        if v in vocab.functions or v in vocab.aliases or v in ("e", "d"):
            meaning = {"e": "Euler's number", "d": "the d of a derivative"}.get(v, "a function")
            raise self.fail(key, f"'{v}' already means {meaning} in answers", part)
        if v in vocab.quantities and not vocab.quantities[v]:
            raise self.fail(key, f"'{v}' is a quantity of the network without an index; a "
                            "variable may only shadow an indexed quantity (s for s_j)", part)

    def part(self, raw: dict, n: int, network: Network, vocab: Vocabulary, defaults) -> Part:
        where = f"parts[{n}]."
        part_id = self.get(raw, "id", str, where, n)
        where = f"parts[{n}] ('{part_id}')."
        points = self.get(raw, "points", float, where, n)
        if points <= 0:
            raise self.fail(f"{where}points", "must be positive", n)
        variables = tuple(self.strings(raw, "variables", where, n, default=[]))
        for v in variables:
            self.check_variable(v, vocab, f"{where}variables", n)
        activation = self.get(raw, "activation", str, where, n, default="") or None
        if activation is not None and activation not in FIXED_ACTIVATIONS:
            raise self.fail(f"{where}activation",
                            f"must be one of {', '.join(FIXED_ACTIVATIONS)}", n)
        part_vocab = Vocabulary(ranges=vocab.ranges, quantities=vocab.quantities,
                                functions=vocab.functions, variables=frozenset(variables),
                                range_names=vocab.range_names, aliases=vocab.aliases,
                                dims=vocab.dims, zero_outside=vocab.zero_outside)
        asks = self.get(raw, "asks", str, where, n)
        asks_expr = self.expression(asks, part_vocab, f"{where}asks", n)
        used = {node.name for node in asks_expr.walk() if isinstance(node, Var)}
        for v in variables:
            if v not in used:
                raise self.fail(f"{where}variables", f"'{v}' is not used in 'asks' ({asks!r}): "
                                "a part's variable is what the asked quantity is a function "
                                "of, as in asks = \"g'(x)\" with variables = [\"x\"]", n)
        part_vocab = replace(part_vocab, free=free_indices(asks_expr))
        reference = self.get(raw, "reference", str, where, n)
        reference_expr = self.expression(reference, part_vocab, f"{where}reference", n)
        if free_indices(asks_expr) != free_indices(reference_expr):
            raise self.fail(f"{where}reference", "its free indices differ from those of 'asks'",
                            n)
        if vocab.dims is not None:
            self.same_shape(asks_expr, reference_expr, vocab.dims, f"{where}reference", n)
        in_terms_of = set()
        for name in self.strings(raw, "in_terms_of", where, n, default=[]):
            bare = name.lstrip("\\").rstrip("'")
            if bare not in vocab.quantities and bare not in vocab.functions \
                    and bare not in variables and not functions.known_name(bare):
                raise self.fail(f"{where}in_terms_of", f"'{name}' is not a name of this problem",
                                n)
            in_terms_of.add(bare)
        mistakes = []
        for m, raw_mistake in enumerate(self.get(raw, "mistakes", list, where, n, default=[])):
            key = f"{where}mistakes[{m}]."
            if not isinstance(raw_mistake, dict):
                raise self.fail(key.rstrip("."), "must be a table ([[parts.mistakes]])", n)
            answer = self.get(raw_mistake, "answer", str, key, n)
            feedback = self.get(raw_mistake, "feedback", str, key, n)
            credit = self.get(raw_mistake, "credit", float, key, n, default=0.0)
            if not 0 <= credit < 1:
                raise self.fail(f"{key}credit", "must be at least 0 and below 1", n)
            mistakes.append(Mistake(answer, self.expression(answer, part_vocab, f"{key}answer",
                                                            n), feedback, credit))
        accept = tuple(self.strings(raw, "accept", where, n, default=[]))
        reject = tuple(self.strings(raw, "reject", where, n, default=[]))
        for key, examples in (("accept", accept), ("reject", reject)):
            for example in examples:
                try:
                    read(example, part_vocab)
                except AnswerError as err:
                    raise self.fail(f"{where}{key}", f"cannot read {example!r}: {err}", n) \
                        from None
                except IndexMismatch:
                    pass  # a reject example may use a wrong index on purpose
        known = {"id", "points", "prompt", "asks", "reference", "variables", "activation",
                 "in_terms_of", "form", "form_credit", "sigmoid_only_credit", "mistakes",
                 "accept", "reject", "step_deduction", "index_answers", "where"}
        for key in raw:
            if key not in known:
                raise self.fail(f"{where}{key}", "is not a key of a part (see docs/authoring.md)",
                                n)
        return Part(
            id=part_id, points=points,
            prompt=self.get(raw, "prompt", str, where, n, default=""),
            asks=asks, asks_expr=asks_expr, reference=reference, reference_expr=reference_expr,
            vocabulary=part_vocab, activation=activation, variables=variables,
            in_terms_of=frozenset(in_terms_of),
            form=self.get(raw, "form", str, where, n, default=""),
            form_credit=self.get(raw, "form_credit", float, where, n,
                                 default=defaults["form_credit"]),
            sigmoid_only_credit=self.get(raw, "sigmoid_only_credit", float, where, n,
                                         default=defaults["sigmoid_only_credit"]),
            mistakes=tuple(mistakes), accept=accept, reject=reject,
            step_deduction=self.get(raw, "step_deduction", float, where, n,
                                    default=defaults["step_deduction"]),
            index_answers=self.index_answers(raw, where, n, vocab),
            where=self.condition(raw, where, n, vocab),
        )

    def index_answers(self, raw: dict, where: str, n: int, vocab: Vocabulary) -> bool:
        allowed = self.get(raw, "index_answers", bool, where, n, default=False)
        if allowed and vocab.dims is None:
            raise self.fail(f"{where}index_answers", "is for vector-matrix problems: in index "
                            "notation every answer is written entry by entry already", n)
        return allowed


_SAMPLE_MARK = re.compile(r"\^\s*\{?\s*\(\s*[a-z]\s*\)\s*\}?\s*$")


def _shape_or_fail(loader: _SpecLoader, expr: Expr, dims: Dims, key: str, n: int) -> Shape:
    try:
        return shape_of(expr, dims)
    except ShapeMismatch as err:
        raise loader.fail(key, str(err), n) from None


def _kind_name(kind) -> str:
    return {str: "a string", float: "a number", int: "an integer", list: "a list",
            dict: "a table", bool: "true or false"}.get(kind, kind.__name__)


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
