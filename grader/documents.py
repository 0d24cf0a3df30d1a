r"""Read a student's submission into per-part answer text.

A submission is a JSON file ``{"answers": {"a": "<latex>", ...}}`` (an optional ``"student"``
key is ignored here) or a whole document (``.md``, ``.tex``, ``.txt``) laid out like the seed
homework. A document is read by these rules:

1. **Parts.** A part starts at a marker at the beginning of a line: ``(a)``, ``a)``,
   ``**(a)**``, ``**a)**``, ``\item[(a)]``, ``\item (a)``, ``## (a)``, ``### Part (a)``,
   ``### Part a``, ``Part (a):``, ``\section*{Part (a)}``, ``\subsection*{(a)}``,
   ``\textbf{(a)}``. Only the given part ids count (letters in any case); a plain ``\item``
   is not a marker. Text before the first marker (the homework's preamble) is ignored. A part
   runs to the next marker; parts may come in any order and a part not found is absent. When
   a part is marked twice, the later one wins only if it holds an answer.
2. **Answer region.** If the part has a label, only text after it is read: the first
   "Your answer:" (also ``**Your answer:**``), else the first "Answer:" or "Solution:".
   Without a label the whole part is read, except the question's own math when the student
   restated the question: the leading math regions whose whitespace-free text occurs in the
   part's prompt, in the same order, and whose preceding prose is the prompt's too, are
   dropped (``(d) $\delta_k$`` alone is an answer, though the prompt says "Use $\delta_k$").
3. **Math.** ``$..$`` (within a paragraph), ``$$..$$``, ``\[..\]``, ``\(..\)`` and the display
   environments (``equation``, ``align``, ``gather``, ``multline``, ``eqnarray``, ... with or
   without ``*``, also ``aligned``/``split``/``gathered`` nested inside them). Inside, rows
   split at ``\\`` and alignment ``&`` is removed (both only outside braces and outside other
   environments such as ``cases``); ``\label{}``, ``\tag{}``, ``\nonumber``, ``\notag`` are
   dropped, whitespace is collapsed and a trailing ``.`` or ``,`` is punctuation. ``\$`` is
   not a delimiter. In ``.tex`` files ``%`` comments are removed first.
4. **Chains.** A row or display whose text starts with ``=`` continues the previous chain;
   so does a row of the same display that starts with ``+``, ``-``, ``\cdot``, ``\times`` or
   ``\pm`` (a long expression broken over lines). A chain's pieces are joined with single
   spaces into ``lhs = rhs1 = rhs2 ...``. The answer is every chain of the region, in order,
   joined by ``\\`` (by ``\quad \text{where} \quad`` when the prose between them starts a
   remark: "where", "since", "with", ...): the grader finds the claim about the asked
   quantity among them (``grader.claims``), a where-clause being a side claim.
5. **Boxes.** The content of the last non-empty ``\boxed{...}`` of the region wins.
6. **Plain text.** If the region has no math delimiters at all, its non-empty lines are the
   answer, joined with a space (without a label, leading lines that are the question's
   prompt are skipped, as math is in rule 2).
   If it has math but all of it is the question's, the part has no answer.
7. **Lines.** ``line`` is the 1-based line where the answer's text starts.
8. **Cost.** Part markers are found in one scan of the whole text; every other step is a single
   pass or a search memoised on failure; of a part longer than 32,000 characters only the end
   (from a blank line) is read, since the answer comes last. A 1 MB document of junk is read
   in linear time, well under a second (``benchmarks/bench_documents.py``).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from grader.errors import SubmissionError, SubmissionTooLarge
from grader.syntax import MAX_ANSWER_CHARS
from grader.text import check_unicode

MAX_DOCUMENT_BYTES = 1_000_000
REGION_LIMIT = 32_000  # characters: of a longer part, only the end (from a blank line) is read

DOCUMENT_FORMATS = {".md": "md", ".tex": "tex", ".txt": "txt"}
"""Document extensions and the format each is read as; ``.json`` is the other kind."""


@dataclass(frozen=True)
class ExtractedAnswer:
    """One part's answer as found in a submission.

    Attributes:
        part: the part id, e.g. ``"a"``.
        latex: the answer's LaTeX for the grader: a joined chain ``lhs = ... = rhs``, the
            content of a ``\\boxed{}``, plain text, or the JSON string as given.
        line: 1-based line of the document where the answer starts (None for JSON).
        boxed: True when the answer was taken from ``\\boxed{...}``.
    """

    part: str
    latex: str
    line: int | None = None
    boxed: bool = False


@dataclass(frozen=True)
class Submission:
    """A student's submission: the answers found, by part id.

    Attributes:
        name: the file stem (``"seed"`` for ``submissions/seed.md``), or the name given.
        answers: only the parts found, in the order of the problem's part ids; an absent
            part is missing.
        source: the path it was read from, ``""`` when parsed from text.
    """

    name: str
    answers: dict[str, ExtractedAnswer]
    source: str = ""


# --------------------------------------------------------------------------------------------
# The one way in: files, uploads, pasted documents and answers all go through parse_submission

SUBMISSION_FORMATS = ("json", *DOCUMENT_FORMATS.values())


def read_submission(
    path: str | Path, part_ids: Sequence[str], prompts: Mapping[str, str] | None = None
) -> Submission:
    """Read a submission file (``.json``, ``.md``, ``.tex`` or ``.txt``): its bytes through
    ``parse_submission``, named after the file's stem.

    Raises SubmissionError, naming the file, when it cannot be read: unknown extension,
    missing, and everything ``parse_submission`` refuses.
    """
    path = Path(path)
    where = str(path)
    fmt = format_for(path.name, where)
    submission = parse_submission(
        _read_bytes(path, where), part_ids, prompts, fmt=fmt, name=path.stem, where=where
    )
    return replace(submission, source=where)


def format_for(filename: str, where: str) -> str:
    """The format a file is read as, from its extension: ``json``, ``md``, ``tex`` or ``txt``."""
    suffix = Path(filename).suffix
    if suffix.lower() == ".json":
        return "json"
    if suffix.lower() in DOCUMENT_FORMATS:
        return DOCUMENT_FORMATS[suffix.lower()]
    shown = f"'{_short(suffix)}'" if suffix else "no extension"
    raise SubmissionError(f"{where}: unsupported file type ({shown}); use .json, .md, .tex or .txt")


def parse_submission(
    content: bytes | str | object,
    part_ids: Sequence[str],
    prompts: Mapping[str, str] | None = None,
    *,
    fmt: str,
    name: str = "",
    where: str = "",
    max_answer_chars: int = MAX_ANSWER_CHARS,
) -> Submission:
    """The one way a submission comes in, from every surface (``grader grade``, ``grader
    batch``, the web form, its uploads and the JSON API), with one set of checks and messages.

    ``content`` is a file's bytes, text (a pasted document, the text of a JSON file) or, for
    ``fmt="json"``, already decoded JSON (the web's answers). ``fmt`` is ``json`` (an object
    ``{"answers": {"a": "<latex>", ...}}``) or a document format (``md``, ``tex``, ``txt``).
    ``where`` names the content in messages (a path, a file name, ``"the document"``).

    Refused, with a SubmissionError naming ``where``:

    - bytes: more than MAX_DOCUMENT_BYTES (SubmissionTooLarge), NUL bytes, not UTF-8 (a
      byte-order mark is allowed);
    - text: more than MAX_DOCUMENT_BYTES once encoded, NUL characters, lone surrogates;
    - JSON: invalid or nested too deeply, a key given twice in an object, strings that are not
      valid Unicode, any shape but ``{"answers": {part id: string}}``, unknown part ids;
    - answers given as JSON: one longer than ``max_answer_chars`` (SubmissionTooLarge) or
      holding a NUL character.

    An answer that is only whitespace is left out (the part is ``missing``). An answer found in
    a document has no length limit here: the grader reads only what fits in an answer box, and
    grades a longer one ``invalid`` with the reason.
    """
    where = where or name or "submission"
    kind = fmt.lower().lstrip(".") if isinstance(fmt, str) else ""
    if kind not in SUBMISSION_FORMATS:
        raise SubmissionError(
            f"{where}: unknown document format '{_short(str(fmt))}'; use md, tex or txt"
        )
    if isinstance(content, bytes | bytearray):
        text: str | None = decode_text(bytes(content), where)
    elif isinstance(content, str):
        check_text(content, where)
        text = content
    elif kind == "json":
        check_unicode(content, where=where)
        text = None
    else:
        raise SubmissionError(f"{where}: a document must be text, not {_kind(content)}")
    if kind == "json":
        data = load_json(text, where) if text is not None else content
        answers = _json_answers(data, part_ids, where, max_answer_chars)
    else:
        assert text is not None
        answers = _document_answers(text, part_ids, prompts or {}, strip_comments=kind == "tex")
    return Submission(name=name, answers=answers)


def _read_bytes(path: Path, where: str) -> bytes:
    """A file's bytes (at most one past the size limit, so a huge file is not read whole)."""
    try:
        if not path.is_file():
            problem = "is not a file" if path.exists() else "file not found"
            raise SubmissionError(f"{where}: {problem}")
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise SubmissionTooLarge(_too_large(where, size))
        with path.open("rb") as handle:
            return handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise SubmissionError(f"{where}: cannot be read ({error.strerror or error})") from None


def decode_text(data: bytes, where: str, limit: int | None = MAX_DOCUMENT_BYTES) -> str:
    """The text of a submission's bytes: at most ``limit`` bytes (None: no limit here, as for
    a web request's body, which the server bounds), no NUL byte, UTF-8 (a byte-order mark is
    dropped)."""
    if limit is not None and len(data) > limit:
        raise SubmissionTooLarge(_too_large(where, len(data)))
    if b"\x00" in data:
        raise SubmissionError(f"{where}: {NOT_TEXT}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"{where}: is not UTF-8 text (undecodable byte at offset {error.start})"
        ) from None


def check_text(text: str, where: str) -> None:
    """The checks of ``decode_text`` for text that arrived decoded (a pasted document): its size
    once encoded, NUL characters, and lone surrogates (text that cannot be encoded at all)."""
    check_unicode(text, where=where)
    size = len(text.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise SubmissionTooLarge(_too_large(where, size))
    if "\x00" in text:
        raise SubmissionError(f"{where}: {NOT_TEXT}")


NOT_TEXT = "is not a text file (it contains NUL characters)"


def _too_large(where: str, size: int) -> str:
    return f"{where}: is too large ({size:,} bytes; the limit is {MAX_DOCUMENT_BYTES:,})"


# --------------------------------------------------------------------------------------------
# JSON submissions


class _DuplicateKey(ValueError):
    """A JSON object repeats a key (the later value would silently win)."""


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def load_json(text: str, where: str) -> object:
    """Parse JSON text (a submission file, a web request's body): invalid JSON, JSON nested too
    deeply, a key given twice in one object and strings that are not valid Unicode (``"\\ud800"``)
    are each one SubmissionError naming ``where`` (and, for bad text, the field)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise SubmissionError(
            f"{where}: is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno})"
        ) from None
    except _DuplicateKey as error:
        raise SubmissionError(f'{where}: key "{_short(str(error))}" appears twice') from None
    except RecursionError:
        raise SubmissionError(f"{where}: is not valid JSON (nested too deeply)") from None
    check_unicode(data, where=where)
    return data


def parse_answers_json(data: object, part_ids: Sequence[str], name: str = "") -> Submission:
    """Read already-decoded JSON ``{"answers": {"a": "<latex>", ...}}`` into a Submission
    (``parse_submission`` with ``fmt="json"``; ``name`` also names it in messages).

    Raises SubmissionError for any other shape, or for a part id not in ``part_ids``.
    """
    return parse_submission(data, part_ids, fmt="json", name=name,
                            where=name or "JSON submission")


def _json_answers(
    data: object, part_ids: Sequence[str], where: str, max_answer_chars: int
) -> dict[str, ExtractedAnswer]:
    """Check the JSON shape and every answer; the answers in part order, blank ones left out."""
    if not isinstance(data, dict):
        raise SubmissionError(
            f'{where}: must be a JSON object like {{"answers": {{"a": "<latex>"}}}}, '
            f"not {_kind(data)}"
        )
    if "answers" not in data:
        raise SubmissionError(
            f'{where}: has no "answers" object (expected {{"answers": {{"a": "<latex>", ...}}}})'
        )
    answers = data["answers"]
    if not isinstance(answers, dict):
        raise SubmissionError(
            f'{where}: "answers" must be an object mapping part ids to LaTeX strings, '
            f"not {_kind(answers)}"
        )
    for part, latex in answers.items():
        if part not in part_ids:
            raise SubmissionError(
                f'{where}: unknown part "{_short(str(part))}" in "answers"; '
                f"valid parts are {', '.join(part_ids)}"
            )
        if not isinstance(latex, str):
            raise SubmissionError(
                f'{where}: "answers" must map part ids to LaTeX strings; '
                f'part "{part}" holds {_kind(latex)}'
            )
        if "\x00" in latex:
            raise SubmissionError(f"{where}: part {part} holds a NUL character")
        if len(latex) > max_answer_chars:
            raise SubmissionTooLarge(
                f"{where}: part {part} is too long ({len(latex):,} characters; "
                f"the limit is {max_answer_chars:,})"
            )
    return {part: ExtractedAnswer(part, answers[part]) for part in part_ids
            if part in answers and answers[part].strip()}


def _kind(value: object) -> str:
    """Name a JSON value's type for a message: 'a list', 'a number', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Documents


def parse_document(
    text: str,
    part_ids: Sequence[str],
    prompts: Mapping[str, str] | None = None,
    name: str = "",
    fmt: str = "md",
) -> Submission:
    """Find each part's answer in a whole document (``fmt``: ``md``, ``tex`` or ``txt``):
    ``parse_submission`` for text, named ``name``.

    ``prompts`` maps part ids to the question text, so that the question's own math is not
    taken for an answer. Raises SubmissionError for text over MAX_DOCUMENT_BYTES, with NUL
    characters, or of an unknown ``fmt``.
    """
    kind = fmt.lower().lstrip(".")
    if kind not in DOCUMENT_FORMATS.values():
        raise SubmissionError(f"unknown document format {fmt!r}; expected md, tex or txt")
    return parse_submission(text, part_ids, prompts, fmt=kind, name=name)


def _document_answers(
    text: str, part_ids: Sequence[str], prompts: Mapping[str, str], strip_comments: bool
) -> dict[str, ExtractedAnswer]:
    """Rules 1-7 of the module docstring: each part's answer, in part order."""
    lines = _normalise_lines(text, strip_comments=strip_comments)
    text = "\n".join(lines)
    line_starts = _line_starts(lines)
    found: dict[str, ExtractedAnswer] = {}
    for segment in reversed(_find_segments(text, len(text), part_ids)):
        if segment.part in found:  # a later marking of the part already holds its answer
            continue
        answer = _segment_answer(text, segment, prompts.get(segment.part), line_starts)
        if answer is not None and answer.latex.strip():
            found[segment.part] = answer
    return {part: found[part] for part in part_ids if part in found}


def _normalise_lines(text: str, strip_comments: bool) -> list[str]:
    """Split into lines (any newline convention), without trailing blanks or TeX comments."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if strip_comments:
        lines = [_strip_tex_comment(line) for line in lines]
    return [line.rstrip() for line in lines]


def _strip_tex_comment(line: str) -> str:
    """Cut a line at its first unescaped ``%``."""
    at = line.find("%")
    while at >= 0:
        if not _escaped(line, at):
            return line[:at]
        at = line.find("%", at + 1)
    return line


def _line_starts(lines: list[str]) -> list[int]:
    """Offsets where each line starts in ``"\\n".join(lines)``."""
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return starts


def _line_of(line_starts: list[int], offset: int) -> int:
    """1-based line number of a character offset."""
    return bisect.bisect_right(line_starts, offset)


def _escaped(text: str, at: int) -> bool:
    """True when the character at ``at`` follows an odd number of backslashes."""
    count = 0
    while at - count - 1 >= 0 and text[at - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _squash(text: str) -> str:
    """Text without any whitespace, for comparing math with the question's."""
    return "".join(text.split())


# ---- rule 1: part markers


class _Segment(NamedTuple):
    """A part's text: from just after its marker to the next marker."""

    part: str
    start: int
    end: int


@lru_cache(maxsize=32)
def _marker_pattern(part_ids: tuple[str, ...]) -> re.Pattern[str]:
    """A line-start pattern for the part markers of these part ids."""
    ids = "|".join(re.escape(part) for part in sorted(set(part_ids), key=len, reverse=True))
    return re.compile(
        r"^[ \t]*(?:[-+*][ \t]+)?"  # list bullet, at the start of a line
        r"(?P<heading>\#{1,6}[ \t]*)?"  # markdown heading
        r"(?:\*\*|__|\\textbf\{|\\(?:sub){0,2}section\*?\{|\\item(?:[ \t]*\[|[ \t]+))?"
        r"[ \t]*(?P<word>(?:part|problem|question)[ \t]*)?"
        rf"(?:\((?P<paren>{ids})\)|(?P<half>{ids})\)|(?P<bare>{ids})(?![\w'(]))"
        r"(?P<close>(?:[ \t]*(?:\*\*|__|[}\]:.]))*)",  # closing markup
        re.IGNORECASE | re.MULTILINE,
    )


def _marked_part(match: re.Match[str], rest: str) -> str | None:
    """The part label of a marker match, or None when it is not a marker after all.

    A bare label (``Part a``) needs the word "Part" and must stand apart: in a heading,
    before closing markup or punctuation, or alone on its line ("Part a of ..." is prose).
    ``rest`` is the rest of the marker's line.
    """
    if match["paren"] or match["half"]:
        return match["paren"] or match["half"]
    rest = rest.strip()
    apart = match["heading"] or match["close"].strip() or not rest or rest[0] in "-\u2013\u2014"
    return match["bare"] if match["word"] and apart else None


def _find_segments(text: str, length: int, part_ids: Sequence[str]) -> list[_Segment]:
    """Every marked part in document order, each running to the next marker.

    One scan of the whole text (the pattern is anchored at line starts), not a match per line.
    """
    if not part_ids:
        return []
    pattern = _marker_pattern(tuple(part_ids))
    by_lower = {part.lower(): part for part in reversed(part_ids)}
    marks: list[tuple[str, int, int]] = []  # (part, body start, line start)
    for match in pattern.finditer(text):
        line_end = text.find("\n", match.end())
        label = _marked_part(match, text[match.end():line_end if line_end >= 0 else length])
        if label is None:
            continue
        part = label if label in part_ids else by_lower[label.lower()]
        marks.append((part, match.end(), match.start()))
    ends = [line_start for _, _, line_start in marks[1:]] + [length]
    if not marks:
        return []
    return [_Segment(part, start, end) for (part, start, _), end in zip(marks, ends, strict=True)]


# ---- rules 2, 5, 6: one part's answer


_YOUR_ANSWER = re.compile(
    r"\byour[ \t]+answer[ \t]*(?:\*\*|__|\})?[ \t]*:(?:[ \t]*(?:\*\*|__|\}))?", re.IGNORECASE
)
_OTHER_LABEL = re.compile(
    r"\b(?:answer|solution)[ \t]*(?:\*\*|__|\})?[ \t]*:(?:[ \t]*(?:\*\*|__|\}))?", re.IGNORECASE
)


def _label_end(body: str) -> int | None:
    """Offset just after the answer label ("Your answer:", else "Answer:"/"Solution:")."""
    match = _YOUR_ANSWER.search(body) or _OTHER_LABEL.search(body)
    return match.end() if match else None


def _segment_answer(
    text: str, segment: _Segment, prompt: str | None, line_starts: list[int]
) -> ExtractedAnswer | None:
    """The answer in one part's text, or None when it holds none."""
    body = text[segment.start : segment.end]
    if body.isspace() or not body:
        return None
    label = _label_end(body)
    if label is not None:
        base, region, prompt = segment.start + label, body[label:], None
    else:
        base, region = segment.start, body
    if len(region) > REGION_LIMIT:  # only a huge part's end can hold its answer: read that
        cut = region.find("\n\n", len(region) - REGION_LIMIT)
        cut = cut if cut >= 0 else len(region) - REGION_LIMIT
        base, region, prompt = base + cut, region[cut:], None

    boxed = _last_boxed(region)
    if boxed is not None:
        latex, offset = boxed
        return ExtractedAnswer(segment.part, latex, _line_of(line_starts, base + offset), True)

    maths = _math_regions(region)
    if not maths:
        plain = _plain_answer(region, prompt)
        if plain is None:
            return None
        latex, offset = plain
        return ExtractedAnswer(segment.part, latex, _line_of(line_starts, base + offset))

    kept = _tail(_drop_question_math(region, maths, prompt))
    pieces = [piece for math in kept for piece in _pieces(math)]
    chains = _chains(pieces)
    if not chains:
        return None
    latex = _joined(region, chains)
    return ExtractedAnswer(segment.part, latex, _line_of(line_starts, base + chains[0][0].offset))


# A remark starts the prose between two chains (", where", "and since", "(using"); a remark
# word further on ("$V$ is shared by every step:") leaves the next chain a statement.
_SIDE_PROSE = re.compile(
    r"^[\s,;:.()\-]*(?:(?:and|or|so|then)\s+)?\b(where|since|because|with|for all|for every"
    r"|for each|using|by|note|given|here|recall|provided|assuming)\b", re.IGNORECASE)


def _joined(region: str, chains: list[list[_Piece]]) -> str:
    """Rule 4: every chain of the region, in order, for the grader to find the claim in.

    Chains are joined by a line break ``\\\\``; where the prose between two chains starts a
    remark ("where", "since", "with", ...), by ``\\quad \\text{where} \\quad``, so the
    grader reads what follows as a side claim, as a TA would.
    """
    chains = _last_that_fit(chains)
    parts = [" ".join(piece.text for piece in chains[0])]
    for before, chain in zip(chains, chains[1:]):
        same_display = before[-1].region == chain[0].region
        prose = "" if same_display else region[before[-1].region_end:chain[0].region]
        word = _SIDE_PROSE.search(_without_math_markup(prose).strip())
        text = " ".join(piece.text for piece in chain)
        if word:
            joint = f" \\quad \\text{{{word.group(1).lower()}}} \\quad "
        elif text.startswith(_CONTINUATION_OPERATORS):
            joint = " ; "  # another display that starts with + does not go on from this one
        else:
            joint = " \\\\ "
        parts.append(joint + text)
    return "".join(parts)


def _tail(maths: list[_Math]) -> list[_Math]:
    """The last math regions, enough to fill an answer box twice (the answer comes last)."""
    size = 0
    for n in range(len(maths) - 1, -1, -1):
        size += len(maths[n].content) + 1
        if size > 2 * MAX_ANSWER_CHARS:
            return maths[n:]
    return maths


def _last_that_fit(chains: list[list[_Piece]]) -> list[list[_Piece]]:
    """The last chains of a part whose text fits in one answer box (the answer comes last)."""
    kept: list[list[_Piece]] = []
    size = 0
    for chain in reversed(chains):
        size += sum(len(piece.text) + 1 for piece in chain) + 40
        if kept and size > MAX_ANSWER_CHARS:
            break
        kept.append(chain)
    return kept[::-1]


def _without_math_markup(prose: str) -> str:
    """Prose between two math regions, without their delimiters and environment names."""
    return re.sub(r"\\(?:begin|end)\s*\{[^}]*\}|\\[\[\]()]|\$", " ", prose)


_BOXED = re.compile(r"\\boxed[ \t]*\{")


def _last_boxed(region: str) -> tuple[str, int] | None:
    """Content and offset of the last non-empty, balanced ``\\boxed{...}``."""
    if "\\boxed" not in region:
        return None
    pairs = _brace_pairs(region)
    best = None
    for match in _BOXED.finditer(region):
        close = pairs.get(match.end() - 1)
        if close is None or _escaped(region, match.start()):
            continue
        content = _clean(region[match.end() : close])
        if content:
            best = (content, match.start())
    return best


_STRUCTURAL_LINE = re.compile(
    r"\\(?:begin|end)\{[A-Za-z*]+\}(?:\[[^\]]*\])?"
    r"|\\(?:item|newpage|clearpage|maketitle|noindent|bigskip|medskip|smallskip)"
    r"|-{3,}|\*{3,}|_{3,}"
)


def _plain_answer(region: str, prompt: str | None) -> tuple[str, int] | None:
    """Rule 6: the region's non-empty lines joined with spaces, and where they start."""
    lines: list[tuple[str, int]] = []
    offset = 0
    for line in region.split("\n"):
        stripped = line.strip()
        if stripped and not _STRUCTURAL_LINE.fullmatch(stripped):
            lines.append((stripped, offset + len(line) - len(line.lstrip())))
        offset += len(line) + 1
    if prompt:
        lines = lines[_question_length([text for text, _ in lines], prompt) :]
    latex = _strip_trailing(" ".join(text for text, _ in lines))
    return (latex, lines[0][1]) if latex else None


# ---- rule 3: math regions


class _Math(NamedTuple):
    """One math region: its content and the offset where the content starts."""

    offset: int
    content: str

    @property
    def end(self) -> int:
        return self.offset + len(self.content)


_ALIGNMENT_ENVS = frozenset(
    name + star
    for name in (
        "equation", "align", "alignat", "gather", "multline", "eqnarray", "flalign",
        "displaymath", "math", "aligned", "alignedat", "split", "gathered",
    )
    for star in ("", "*")
)  # fmt: skip
"""Environments that are math regions at top level and transparent when nested."""

_SPECIAL = re.compile(r"[\\$]")
_BEGIN = re.compile(r"\\begin[ \t]*\{([A-Za-z]+\*?)\}")
_ENV_COLUMNS = re.compile(r"[ \t]*\{\d{1,2}\}")


def _math_regions(region: str) -> list[_Math]:
    """Every math region of a text, in order, in one pass.

    A closing delimiter that cannot be found once is remembered as missing, so unclosed
    openers cost one search each in total.
    """
    found: list[_Math] = []
    missing: set[str] = set()
    at = 0
    while (special := _SPECIAL.search(region, at)) is not None:
        start = special.start()
        opener = _opener(region, start)
        if opener is None:  # an escaped character or an ordinary command
            at = start + 2
            continue
        length, closer = opener
        close = _find_closer(region, closer, start + length, missing)
        if close < 0 or (closer == "$" and region.find("\n\n", start, close) >= 0):
            at = start + length  # not math: a lone dollar, or one that crosses a paragraph
            continue
        content_start = start + length
        if closer.startswith("\\end{alignat"):
            columns = _ENV_COLUMNS.match(region, content_start)
            content_start = columns.end() if columns else content_start
        found.append(_Math(content_start, region[content_start:close]))
        at = close + len(closer)
    return found


def _opener(text: str, at: int) -> tuple[int, str] | None:
    """Length of the math opener at ``at`` and its closer, or None if there is none."""
    if text.startswith("$$", at):
        return 2, "$$"
    if text[at] == "$":
        return 1, "$"
    if text.startswith("\\[", at):
        return 2, "\\]"
    if text.startswith("\\(", at):
        return 2, "\\)"
    begin = _BEGIN.match(text, at)
    if begin and begin[1] in _ALIGNMENT_ENVS:
        return begin.end() - at, f"\\end{{{begin[1]}}}"
    return None


def _find_closer(text: str, closer: str, start: int, missing: set[str]) -> int:
    """Offset of the first unescaped ``closer`` from ``start``, or -1 (remembered)."""
    if closer in missing:
        return -1
    at = text.find(closer, start)
    while at >= 0 and _escaped(text, at):
        at = text.find(closer, at + 1)
    if at < 0:
        missing.add(closer)
    return at


def _drop_question_math(region: str, maths: list[_Math], prompt: str | None) -> list[_Math]:
    """Drop the leading math that is the question's own (rule 2).

    Math counts as the question's only where the student restated the question: the math
    occurs in the prompt (in order) and so does the prose just before it (the first math
    needs some; later ones may follow with none, as in "$a$, $b$"). ``(d) $\\delta_k$``
    alone is an answer even though the prompt says "Use $\\delta_k$".
    """
    if not prompt:
        return maths
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    count = 0
    limit = _question_length([math.content for math in maths], prompt)
    previous_end = 0
    while count < limit:
        prose = re.findall(r"[a-z]+", _without_math_markup(
            region[previous_end:maths[count].offset]).lower())
        if (not prose and count == 0) or sum(w in words for w in prose) * 2 < len(prose):
            break  # the question is not restated here: this math is the student's
        previous_end = maths[count].end
        count += 1
    return maths[count:]


def _question_length(items: Sequence[str], prompt: str) -> int:
    """How many leading items are the question's: they occur in the prompt, in order.

    Whitespace is ignored. Each item is searched for after the previous one's occurrence,
    so an answer equal to a snippet of the question (``\\delta_k`` after "Use $\\delta_k$")
    is kept once the question's own occurrence has been passed.
    """
    question = _squash(prompt)
    at = 0
    for count, item in enumerate(items):
        key = _squash(item)
        found = question.find(key, at)
        if found < 0:
            return count
        at = found + len(key)
    return len(items)


# ---- rule 3: rows of a math region


class _Piece(NamedTuple):
    """A cleaned row of a math region, where it starts, and which region it came from."""

    text: str
    offset: int
    region: int
    region_end: int = 0


_TOKEN = re.compile(r"\\(?:[A-Za-z]+\*?|.)|[^\\{}&]+|.", re.DOTALL)
_ENV_NAME = re.compile(r"[ \t]*\{([A-Za-z]+\*?)\}")
_ENV_OPTION = re.compile(r"[ \t]*(?:\[[a-z]{1,3}\]|\{\d{1,2}\})")
_BREAK_OPTION = re.compile(
    r"\*?(?:[ \t]*\[[ \t]*-?[\d.]+[ \t]*(?:pt|em|ex|mm|cm|in|bp|mu|pc)[ \t]*\])?"
)
_ROW_START = re.compile(r"[\s&]*")
_DROPPED = frozenset({"\\nonumber", "\\notag"})
_DROPPED_WITH_ARGUMENT = frozenset({"\\label", "\\tag", "\\tag*"})


def _pieces(math: _Math) -> list[_Piece]:
    """The non-empty cleaned rows of a math region."""
    pieces = []
    for raw, start in _rows(math.content):
        text = _clean(raw)
        if text:
            offset = math.offset + _matched(_ROW_START, math.content, start).end()
            pieces.append(_Piece(text, offset, math.offset, math.end))
    return pieces


def _rows(content: str) -> list[tuple[str, int]]:
    """Split math at top-level ``\\\\``, removing ``&``, labels, tags and alignment envs.

    Returns (raw row text, offset of the row in ``content``). ``&`` and ``\\\\`` inside
    braces or inside another environment (``cases``, ``pmatrix``, ...) are kept.
    """
    rows: list[tuple[str, int]] = []
    out: list[str] = []
    row_start = depth = opaque = at = 0
    blank = True  # nothing visible in this row yet: its start moves past what was skipped
    pairs: dict[int, int] | None = None
    while at < len(content):
        if blank:
            row_start = at
        token = _matched(_TOKEN, content, at)[0]
        at += len(token)
        top = depth == 0 and opaque == 0
        if token == "\\\\" and top:
            rows.append(("".join(out), row_start))
            out, blank = [], True
            at = _matched(_BREAK_OPTION, content, at).end()
            continue
        if token == "&" and top:
            out.append(" ")
        elif token == "{":
            depth += 1
            out.append(token)
        elif token == "}":
            depth = max(0, depth - 1)
            out.append(token)
        elif token in _DROPPED:
            out.append(" ")
        elif token in _DROPPED_WITH_ARGUMENT:
            pairs = _brace_pairs(content) if pairs is None else pairs
            at = _skip_group(content, at, pairs)
            out.append(" ")
        elif token in ("\\begin", "\\end") and (env := _ENV_NAME.match(content, at)):
            if env[1] in _ALIGNMENT_ENVS:
                at = env.end()
                if token == "\\begin" and (option := _ENV_OPTION.match(content, at)):
                    at = option.end()
                out.append(" ")
            else:
                opaque = opaque + 1 if token == "\\begin" else max(0, opaque - 1)
                out.append(token)
        else:
            out.append(token)
        blank = blank and out[-1].isspace()
    rows.append(("".join(out), row_start))
    return rows


def _matched(pattern: re.Pattern[str], text: str, at: int) -> re.Match[str]:
    """The match of a pattern that matches anywhere (it can match the empty string)."""
    match = pattern.match(text, at)
    assert match is not None, pattern.pattern
    return match


def _brace_pairs(text: str) -> dict[int, int]:
    """Map each balanced ``{`` offset to its ``}``, ignoring ``\\{`` and ``\\}``."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in re.finditer(r"\\.|[{}]", text, re.DOTALL):
        if match[0] == "{":
            stack.append(match.start())
        elif match[0] == "}" and stack:
            pairs[stack.pop()] = match.start()
    return pairs


def _skip_group(text: str, at: int, pairs: dict[int, int]) -> int:
    """Offset after the braced group starting at ``at`` (after blanks), else ``at``."""
    start = at
    while start < len(text) and text[start] in " \t":
        start += 1
    close = pairs.get(start)
    return close + 1 if close is not None else at


_LEADING_SPACE = re.compile(r"(?:\\[,;:! ]|\\q?quad(?![A-Za-z])|~| )+")
_TRAILING_SPACES = ("\\qquad", "\\quad", "\\,", "\\;", "\\:", "\\!")
_DELIMITER_BEFORE = re.compile(r"\\(?:right|left|[bB]igg?[lr]?)[ \t]*$")


def _clean(raw: str) -> str:
    """Collapse whitespace and strip spacing and trailing punctuation at both ends."""
    text = " ".join(raw.split())
    lead = _LEADING_SPACE.match(text)
    return _strip_trailing(text[lead.end() :] if lead else text)


def _strip_trailing(text: str) -> str:
    """Drop trailing spacing commands and one trailing ``.`` or ``,`` (punctuation)."""
    end = len(text)
    punctuation_done = False
    while end:
        last = text[end - 1]
        if last in " ~" or (last == "\\" and _escaped(text, end)):
            end -= 1  # a blank, or the backslash left of a control space
            continue
        spacing = next(
            (s for s in _TRAILING_SPACES if text.endswith(s, 0, end)
             and not _escaped(text, end - len(s))),
            None,
        )  # fmt: skip
        if spacing:
            end -= len(spacing)
            continue
        if (
            last in ".,"
            and not punctuation_done
            and not _escaped(text, end - 1)
            and not (last == "." and text[end - 2 : end - 1] == ".")
            and not _DELIMITER_BEFORE.search(text, max(0, end - 12), end - 1)
        ):
            end -= 1
            punctuation_done = True
            continue
        break
    return text[:end]


# ---- rule 4: chains


_CONTINUATION_OPERATORS = ("+", "-", "\\cdot", "\\times", "\\pm")


def _chains(pieces: list[_Piece]) -> list[list[_Piece]]:
    """Group pieces into chains: a piece starting with ``=`` continues the previous one."""
    chains: list[list[_Piece]] = []
    for piece in pieces:
        if chains and (
            piece.text.startswith("=")
            or (
                piece.region == chains[-1][-1].region
                and piece.text.startswith(_CONTINUATION_OPERATORS)
            )
        ):
            chains[-1].append(piece)
        else:
            chains.append([piece])
    return chains
