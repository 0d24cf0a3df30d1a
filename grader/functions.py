r"""The functions an answer may call by name: one table for the scanner, the printers and specs.

Each entry says how students write the function (a LaTeX command such as ``\tanh``, or a word,
upright or bare: ``\operatorname{ReLU}``, ``relu``), its name inside expressions (``Call.func``)
and how the grader prints it back. Their values live with the backends (``grader.network``);
the problem's own activation (``g``) and the Heaviside step written ``H(z)`` are the problem's
vocabulary (``grader.reader.Vocabulary``), not entries here.
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


# Words students type without a backslash (``relu(z)``, ``sigmoid(x)``): a command's word
# becomes the command (``tanh`` -> ``\tanh``), another word an upright name.
BARE_WORDS = tuple(sorted({w for f in TABLE for w in f.words}))
UPRIGHT_WORDS = frozenset(w for f in TABLE if not f.commands for w in f.words
                          if w not in ("sigma",)) | {"sech"}


def latex(name: str) -> str | None:
    """How a function prints (``relu`` -> ``\\operatorname{ReLU}``), None if not in the table."""
    found = BY_NAME.get(name)
    return found.latex if found else None


def known_name(name: str) -> bool:
    """Whether a spec may list this function in ``in_terms_of`` (``tanh``, ``exp``, ...)."""
    return name in BY_NAME
