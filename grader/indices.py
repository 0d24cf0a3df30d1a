"""Index arithmetic: offsets such as ``h_{t-1}`` and ``x_{n+p-1}``, and the bounds of sums.

An index stays a string everywhere in ``grader.expr`` (``"k"``, ``"K"``, ``"2"``); an index with
arithmetic is the string of its canonical affine form, ``"n+p-1"`` or ``"i-p+1"``: index letters
(lower case, possibly a dummy's ``k'`` or a lowering's ``j~1``) with a sign, size letters (upper
case: the size's value, ``T`` is the last step) and one integer, in that order. Two spellings of
one index (``x_{p+n-1}``, ``x_{n-1+p}``) have one canonical string, so they read as one node.

A sum's bound is an affine index or ``max(a,b)`` / ``min(a,b)`` of them:
``\\sum_{n=\\max(1,i-P+1)}^{\\min(M,i)}`` has the bounds ``"max(1,i-P+1)"`` and ``"min(M,i)"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import GraderError

_TERM = re.compile(r"([+-]?)([^+-]+)")
_EXTREME = re.compile(r"^(max|min)\((.*)\)$")


@dataclass(frozen=True)
class Affine:
    """``sum(coefficient * letter) + sum(coefficient * size) + constant``."""

    letters: tuple[tuple[str, int], ...]
    sizes: tuple[tuple[str, int], ...]
    constant: int

    @property
    def plain(self) -> bool:
        """A single index letter with no offset (``k``)."""
        return not self.sizes and self.constant == 0 and len(self.letters) == 1 \
            and self.letters[0][1] == 1

    def values(self, letter_values: Callable[[str], np.ndarray],
               size_value: Callable[[str], int]) -> np.ndarray:
        """The index's value for every value of its letters (arrays that broadcast)."""
        out: np.ndarray = np.asarray(self.constant + sum(c * size_value(s) for s, c in self.sizes))
        for letter, coefficient in self.letters:
            out = out + coefficient * letter_values(letter)
        return out


def is_compound(index: str) -> bool:
    """Whether ``index`` has arithmetic in it (``t-1``), not one letter or unit (``t``, ``T``)."""
    return "+" in index or "-" in index[1:] or index[:1] == "-"


@lru_cache(maxsize=4096)
def affine(index: str) -> Affine:
    """The affine form of an index string (``"n+p-1"``); GraderError if it is none."""
    letters: dict[str, int] = {}
    sizes: dict[str, int] = {}
    constant = 0
    at = 0
    for match in _TERM.finditer(index.replace(" ", "")):
        if match.start() != at:
            raise GraderError(f"'{index}' is not an index")
        at = match.end()
        sign = -1 if match.group(1) == "-" else 1
        term = match.group(2)
        if term.isdigit():
            constant += sign * int(term)
        elif len(term) == 1 and term.isupper():
            sizes[term] = sizes.get(term, 0) + sign
        elif term[:1].islower():
            letters[term] = letters.get(term, 0) + sign
        elif (scaled := re.fullmatch(r"(\d+)([a-z].*)", term)) is not None:  # 2t
            letters[scaled.group(2)] = letters.get(scaled.group(2), 0) + sign * int(scaled.group(1))
        else:
            raise GraderError(f"'{index}' is not an index")
    if at != len(index.replace(" ", "")):
        raise GraderError(f"'{index}' is not an index")
    return Affine(tuple(sorted((k, c) for k, c in letters.items() if c)),
                  tuple(sorted((k, c) for k, c in sizes.items() if c)), constant)


def canonical(form: Affine) -> str:
    """The one string of an affine index: ``"n+p-1"``, ``"i-p+1"``, ``"T-1"``, ``"2"``."""
    out = ""
    for name, coefficient in (*form.letters, *form.sizes):
        sign = "-" if coefficient < 0 else ("+" if out else "")
        out += sign + (str(abs(coefficient)) if abs(coefficient) != 1 else "") + name
    if form.constant or not out:
        out += (f"{form.constant:+d}" if out else str(form.constant))
    return out


def letters_of(index: str) -> tuple[str, ...]:
    """The index letters an index (or a bound) depends on: ``"n+p-1"`` -> ``("n", "p")``."""
    if not is_compound(index) and not index.startswith(("max(", "min(")):
        return (index,) if index[:1].islower() else ()
    out: list[str] = []
    for part in _arguments(index):
        for letter, _ in affine(part).letters:
            if letter not in out:
                out.append(letter)
    return tuple(out)


def renamed(index: str, mapping: Mapping[str, str]) -> str:
    """``index`` with its letters renamed (``{"t": "t'"}`` makes ``t-1`` into ``t'-1``)."""
    if not is_compound(index) and not index.startswith(("max(", "min(")):
        return mapping.get(index, index)
    if not any(letter in mapping for letter in letters_of(index)):
        return index
    match = _EXTREME.match(index)
    if match:
        parts = [renamed(p, mapping) for p in _arguments(index)]
        return f"{match.group(1)}({','.join(parts)})"
    form = affine(index)
    letters: dict[str, int] = {}
    for letter, coefficient in form.letters:
        new = mapping.get(letter, letter)
        letters[new] = letters.get(new, 0) + coefficient
    return canonical(Affine(tuple(sorted((k, c) for k, c in letters.items() if c)), form.sizes,
                            form.constant))


def bound_values(bound: str, letter_values: Callable[[str], np.ndarray],
                 size_value: Callable[[str], int]) -> np.ndarray:
    """A sum's bound for every value of the letters it depends on."""
    match = _EXTREME.match(bound)
    if match is None:
        return affine(bound).values(letter_values, size_value)
    values = [affine(p).values(letter_values, size_value) for p in _arguments(bound)]
    pick = np.maximum if match.group(1) == "max" else np.minimum
    out = values[0]
    for value in values[1:]:
        out = pick(out, value)
    return np.asarray(out)


def bound_latex(bound: str) -> str:
    """``max(1,i-P+1)`` as ``\\max(1, i-P+1)``."""
    match = _EXTREME.match(bound)
    if match is None:
        return bound
    return f"\\{match.group(1)}({', '.join(_arguments(bound))})"


def _arguments(bound: str) -> list[str]:
    match = _EXTREME.match(bound)
    return match.group(2).split(",") if match else [bound]
