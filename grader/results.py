"""Result objects: what grading returns, serialised to the JSON contract (docs/results.md).

``PartResult.to_json()`` and ``SubmissionResult.to_json()`` give exactly the contract's shapes:
``{"problem", "submission", "score", "max_score", "parts": {id: {"score", "max_score",
"verdict", "feedback", "answer", "interpreted", "steps", "elapsed_ms"}}}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


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
