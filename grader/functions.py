r"""The functions an answer may call by name: one table for the scanner, the printers and specs.

Each entry says how students write the function (a LaTeX command such as ``\tanh``, or a word,
upright or bare: ``\operatorname{ReLU}``, ``relu``), its name inside expressions (``Call.func``)
and how the grader prints it back. Their values live with the backends (``grader.network``);
the problem's own activation (``g``) and the Heaviside step written ``H(z)`` are the problem's
vocabulary (``grader.reader.Vocabulary``), not entries here.

Non-smooth functions (``relu``, ``heaviside``) are checked numerically at random points, where a
kink has probability 0, and symbolically with SymPy's ``Heaviside`` (``grader.check``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    """A function answers may use: ``name`` in expressions, printed as ``latex``."""

    name: str
    latex: str
    commands: tuple[str, ...] = ()   # \tanh: the command, without its backslash
    words: tuple[str, ...] = ()      # \operatorname{sech}, \mathrm{ReLU}: exact spellings
    caseless: bool = False           # the words in any case (ReLU, relu, RELU)
    smooth: bool = True


TABLE = (
    Function("exp", r"\exp", ("exp",), ("exp",)),
    Function("ln", r"\ln", ("ln",), ("ln",)),
    Function("log", r"\log", ("log",), ("log",)),
    Function("tanh", r"\tanh", ("tanh",), ("tanh",)),
    Function("cosh", r"\cosh", ("cosh",), ("cosh",)),
    Function("sinh", r"\sinh", ("sinh",), ("sinh",)),
    Function("sech", r"\operatorname{sech}", ("sech",), ("sech",), caseless=True),
    Function("sin", r"\sin", ("sin",), ("sin",)),
    Function("cos", r"\cos", ("cos",), ("cos",)),
    Function("sigma", r"\sigma", (), ("sigmoid", "sigma"), caseless=True),
    Function("relu", r"\operatorname{ReLU}", (), ("relu",), caseless=True, smooth=False),
    Function("heaviside", r"\operatorname{Heaviside}", (), ("heaviside", "step"), caseless=True,
             smooth=False),
    # Functions of a whole vector, read only in vector-matrix problems (grader.matrices).
    Function("softmax", r"\operatorname{softmax}", (), ("softmax",), caseless=True),
    Function("diag", r"\operatorname{diag}", (), ("diag",)),
)
BY_NAME = {f.name: f for f in TABLE}

COMMANDS = {command: f.name for f in TABLE for command in f.commands}
"""LaTeX commands read as a function: ``tanh`` -> ``tanh``."""


def by_word(word: str) -> str | None:
    """The function an upright word names (``ReLU`` -> ``relu``), else None."""
    for f in TABLE:
        if word in f.words or (f.caseless and word.lower() in f.words):
            return f.name
    return None


def latex(name: str) -> str | None:
    """How a function prints (``relu`` -> ``\\operatorname{ReLU}``), None if not in the table."""
    found = BY_NAME.get(name)
    return found.latex if found else None


def plain(name: str) -> str | None:
    """The function's name as a word, for MathML (``relu`` -> ``ReLU``, ``tanh`` -> ``tanh``)."""
    found = latex(name)
    if found is None:
        return None
    return found.removeprefix("\\operatorname{").removesuffix("}").lstrip("\\")


def known_name(name: str) -> bool:
    """Whether a spec may list this function in ``in_terms_of`` (``tanh``, ``exp``, ...)."""
    return name in BY_NAME
