"""Result objects: what grading returns, serialised to the JSON contract (docs/results.md).

``PartResult.to_json()`` and ``SubmissionResult.to_json()`` give exactly the contract's shapes:
``{"problem", "submission", "score", "max_score", "parts": {id: {"score", "max_score",
"verdict", "feedback", "answer", "interpreted", "steps", "elapsed_ms", "flags",
"fingerprint"}}}``.

Also here, shared by ``grader batch`` and the web service: the one result of a part with no
answer (``PartResult.missing``), a TA's decision on a part (``Override``, applied with
``apply_overrides``), and the review queue (``review_queue``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Generic, TypeVar

from .errors import OverrideError

MISSING_FEEDBACK = "No answer was found for this part."
MAX_COMMENT_CHARS = 5000


class Verdict(str, Enum):
    CORRECT = "correct"
    PARTIAL = "partial"
    INCORRECT = "incorrect"
    INVALID = "invalid"      # could not read it
    MISSING = "missing"
    REVIEW = "review"        # the checks disagree or ran out of time: a human decides

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Step:
    """One line of a derivation and whether it follows from the line before."""

    latex: str
    status: str          # given | valid | invalid | unverified
    message: str = ""


@dataclass
class PartResult:
    part: str
    score: float
    max_score: float
    verdict: Verdict
    feedback: str = ""
    answer: str = ""          # the LaTeX found in the submission
    interpreted: str = ""     # the LaTeX as the grader read it
    steps: list[Step] = field(default_factory=list)
    elapsed_ms: float = 0.0
    flags: list[str] = field(default_factory=list)   # e.g. "sigmoid-only", "form", "timeout"
    fingerprint: str = ""     # hash of the answer's values on the network: same maths, same hash

    @classmethod
    def missing(cls, part: str, points: float, answer: str = "") -> PartResult:
        """The result of a part with no answer (none given, or only whitespace): 0 points,
        ``missing``; the one way every surface builds it."""
        return cls(part=part, score=0.0, max_score=points, verdict=Verdict.MISSING,
                   feedback=MISSING_FEEDBACK, answer=answer)

    def to_json(self) -> dict:
        return {
            "score": round(self.score, 6),
            "max_score": self.max_score,
            "verdict": self.verdict.value,
            "feedback": self.feedback,
            "answer": self.answer,
            "interpreted": self.interpreted,
            "steps": [asdict(s) for s in self.steps],
            "elapsed_ms": round(self.elapsed_ms, 3),
            "flags": list(self.flags),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, part: str, data: dict) -> PartResult:
        return cls(part=part, score=data["score"], max_score=data["max_score"],
                   verdict=Verdict(data["verdict"]), feedback=data.get("feedback", ""),
                   answer=data.get("answer", ""), interpreted=data.get("interpreted", ""),
                   steps=[Step(**s) for s in data.get("steps", [])],
                   elapsed_ms=data.get("elapsed_ms", 0.0), flags=data.get("flags", []),
                   fingerprint=data.get("fingerprint", ""))


@dataclass
class SubmissionResult:
    problem: str
    submission: str
    parts: dict[str, PartResult]

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts.values()), 6)

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.parts.values())

    def to_json(self) -> dict:
        return {
            "problem": self.problem,
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "parts": {pid: p.to_json() for pid, p in self.parts.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> SubmissionResult:
        return cls(problem=data["problem"], submission=data["submission"],
                   parts={pid: PartResult.from_json(pid, p) for pid, p in data["parts"].items()})


# --------------------------------------------------------------------------------------------
# Overrides: a TA's decision on a part


@dataclass(frozen=True)
class Override:
    """A TA's decision on one part, which replaces the grader's score and verdict (and its
    feedback, when ``comment`` is not empty); it is kept apart from the grader's result, so it
    survives every regrade. ``updated_at`` is when it was set (ISO 8601, UTC).

    The fields are checked on construction (a score that is a finite number not below 0, a
    ``Verdict``, a comment as text of at most MAX_COMMENT_CHARS); ``Override.make`` also checks
    the score against the part's points and reads a form's strings.
    """

    part: str
    score: float
    verdict: Verdict
    comment: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        score = self.score
        if isinstance(score, bool) or not isinstance(score, int | float) \
                or not math.isfinite(score):
            raise OverrideError("score must be a number")
        if score < 0:
            raise OverrideError(f"score must not be negative for part {self.part}")
        verdicts = [v.value for v in Verdict]
        if not isinstance(self.verdict, str) or self.verdict not in verdicts:
            raise OverrideError(f"verdict must be one of {', '.join(verdicts)}")
        if not isinstance(self.comment, str):
            raise OverrideError("comment must be a string")
        if len(self.comment) > MAX_COMMENT_CHARS:
            raise OverrideError(f"comment is too long (the limit is {MAX_COMMENT_CHARS})")
        object.__setattr__(self, "score", float(score))
        object.__setattr__(self, "verdict", Verdict(self.verdict))

    @classmethod
    def make(cls, part: str, points: float, score: object, verdict: object,
             comment: object = "", updated_at: str = "") -> Override:
        """An override from what a TA sent (JSON values, or a form's strings): the score a
        number from 0 to the part's ``points``, the verdict one of the contract's, the
        comment text (stripped; None is no comment). Raises ``OverrideError`` saying what is
        wrong."""
        if isinstance(score, str):
            written = score
            try:
                score = float(written.strip())
            except ValueError:
                raise OverrideError(f"score must be a number, not '{_short(written)}'") from None
        if isinstance(score, bool) or not isinstance(score, int | float) \
                or not math.isfinite(score):
            raise OverrideError("score must be a number")
        if not 0 <= score <= points:
            raise OverrideError(f"score must be between 0 and {points:g} for part {part}")
        verdicts = [v.value for v in Verdict]
        if not isinstance(verdict, str) or verdict not in verdicts:
            raise OverrideError(f"verdict must be one of {', '.join(verdicts)}")
        comment = "" if comment is None else comment
        if not isinstance(comment, str):
            raise OverrideError("comment must be a string")
        return cls(part, float(score), Verdict(verdict), comment.strip(), updated_at)

    def apply(self, result: PartResult) -> PartResult:
        """The part as the student sees it: the TA's score, verdict and comment (the grader's
        feedback when there is none), flagged ``override``."""
        return replace(result, score=self.score, verdict=self.verdict,
                       feedback=self.comment or result.feedback, steps=list(result.steps),
                       flags=[*result.flags, "override"])

    def to_json(self) -> dict:
        return {"part": self.part, "score": self.score, "verdict": self.verdict.value,
                "comment": self.comment, "updated_at": self.updated_at}

    @classmethod
    def from_json(cls, data: Mapping) -> Override:
        return cls(data["part"], data["score"], data["verdict"], data.get("comment", ""),
                   data.get("updated_at", ""))


def apply_overrides(result: SubmissionResult,
                    overrides: Mapping[str, Override]) -> SubmissionResult:
    """``result`` with the TAs' overrides on top (the total follows); an override of a part the
    result does not have is ignored."""
    if not overrides:
        return result
    parts = {pid: overrides[pid].apply(part) if pid in overrides else part
             for pid, part in result.parts.items()}
    return SubmissionResult(result.problem, result.submission, parts)


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# The review queue

K = TypeVar("K")


@dataclass(frozen=True)
class ReviewItem(Generic[K]):
    """A part the grader sent to ``review`` (its checks disagreed, ran out of time or could not
    evaluate the answer): a TA decides. ``key`` is how the caller finds the submission again
    (a name in a batch, a stored submission's id on the web); ``part`` is the grader's own
    result; ``override`` the TA's decision, if one was made."""

    key: K
    student: str
    part: PartResult
    override: Override | None = None


def review_queue(entries: Iterable[tuple[K, SubmissionResult, Mapping[str, Override]]], *,
                 include_resolved: bool = False) -> list[ReviewItem[K]]:
    """Every part a TA must decide, in the order of ``entries`` and, within a submission, of
    its parts. ``entries`` are (key, the grader's result, the overrides set on it); a part
    with an override is resolved and left out unless ``include_resolved``."""
    queue = []
    for key, result, overrides in entries:
        for pid, part in result.parts.items():
            if part.verdict is not Verdict.REVIEW:
                continue
            override = overrides.get(pid)
            if override is not None and not include_resolved:
                continue
            queue.append(ReviewItem(key, result.submission, part, override))
    return queue
