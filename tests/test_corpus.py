"""Grade the project's copy of the labelled dev corpus through the pool (DESIGN.md's bars).

No incorrect or circular answer gets full credit, every correct one does, every equivalent
form gets some credit, and every adversarial input gets no credit, a clear message, and a
verdict within the per-part time limit (not a review by timeout).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.api import job_for
from grader.results import Verdict

CORPUS = json.loads((Path(__file__).parent / "data" / "dev_answers.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def graded(backprop, pool):
    items = CORPUS["items"] + CORPUS["adversarial"]
    results = list(pool.map(job_for(backprop, it["part"], it["latex"]) for it in items))
    return dict(zip((id(it) for it in items), results))


def _label(item) -> str:
    return f"({item['part']}) {item['latex'][:50]}"


ITEMS = CORPUS["items"]


@pytest.mark.parametrize("item", ITEMS, ids=[_label(i) for i in ITEMS])
def test_labelled(graded, item) -> None:
    result = graded[id(item)]
    full = result.score >= result.max_score - 1e-9
    assert "timeout" not in result.flags
    if item["label"] == "correct":
        assert full, result.feedback
    elif item["label"] == "equivalent":
        assert result.score > 0, result.feedback
    else:
        assert item["label"] in ("incorrect", "circular")
        assert not full, result.feedback
    if item["label"] == "circular":
        assert result.score == 0 and "circular" in result.flags


ADVERSARIAL = CORPUS["adversarial"]


@pytest.mark.parametrize("item", ADVERSARIAL, ids=[_label(i) for i in ADVERSARIAL])
def test_adversarial(backprop, graded, item) -> None:
    result = graded[id(item)]
    assert result.score == 0
    assert result.verdict in (Verdict.INVALID, Verdict.MISSING, Verdict.INCORRECT)
    assert result.feedback and "Traceback" not in result.feedback and len(result.feedback) < 400
    assert "timeout" not in result.flags and "crashed" not in result.flags
    assert result.elapsed_ms < backprop.time_limit * 1000


def test_corpus_has_every_label() -> None:
    labels = {it["label"] for it in ITEMS}
    assert labels == {"correct", "equivalent", "incorrect", "circular"}
    assert len(ADVERSARIAL) >= 5
