"""Step-by-step checking of derivations (grader.steps), through the real grading path."""

from pathlib import Path

import pytest

from grader.documents import parse_document
from grader.grading import grade_answer
from grader.problem import load_problem

DATA = Path(__file__).parent / "data" / "documents"


@pytest.fixture(scope="module")
def problem():
    return load_problem("backprop")


@pytest.fixture(scope="module")
def seed(problem):
    text = (DATA / "seed.md").read_text()
    prompts = {pid: part.prompt for pid, part in problem.parts.items()}
    submission = parse_document(text, list(problem.parts), prompts, name="seed")
    return {pid: grade_answer(problem, pid, answer.latex)
            for pid, answer in submission.answers.items()}


def statuses(result):
    return [step.status for step in result.steps]


def test_seed_part_a_first_invalid_step_is_the_inverted_denominator(seed):
    steps = seed["a"].steps
    first_invalid = next(step for step in steps if step.status == "invalid")
    assert first_invalid.latex == r"\frac{e^{-x}}{(1 + e^{-x})^{-2}}"
    assert statuses(seed["a"])[:4] == ["given", "valid", "valid", "valid"]
    # The message gives both lines' values on one network.
    assert "line 4" in first_invalid.message
    assert "the line before is" in first_invalid.message and "this one is" in first_invalid.message


def test_seed_part_a_recovers_after_the_bad_line(seed):
    """The line after the typo equals the last good line, so it is valid again."""
    assert statuses(seed["a"])[5:] == ["valid"] * 5


@pytest.mark.parametrize("part", ["b", "c", "e"])
def test_seed_index_reuse_is_never_invalid(seed, part):
    assert "invalid" not in statuses(seed[part])
    assert "unverified" in statuses(seed[part])
    reasons = [s.message for s in seed[part].steps if s.status == "unverified"]
    assert all("index" in reason for reason in reasons)


def test_seed_part_d_operator_scope_is_resolved_not_invalid(seed):
    """`\\frac{\\partial}{\\partial f_k} \\sum_j b_j w_{jk} + f_k` means the whole sum."""
    assert statuses(seed["d"]) == ["given", "valid", "valid", "valid"]
    assert "everything after it" in seed["d"].steps[2].message


def test_seed_scores_are_left_alone_by_steps(seed):
    assert all(result.score == result.max_score for result in seed.values())


CLEAN = [
    ("a", r"g'(x) = \frac{d}{dx}(1+e^{-x})^{-1} = \frac{e^{-x}}{(1+e^{-x})^2} "
          r"= \frac{1}{1+e^{-x}}\cdot\frac{e^{-x}}{1+e^{-x}} = \sigma(x)(1-\sigma(x))"),
    ("b", r"\delta_k = \frac{\partial E}{\partial c_k}\frac{\partial c_k}{\partial h_k} "
          r"= (c_k - t_k)\frac{\partial c_k}{\partial h_k} = (c_k - t_k) g'(h_k)"),
    ("c", r"\frac{\partial E}{\partial w_{jk}} = \frac{\partial E}{\partial h_k}"
          r"\frac{\partial h_k}{\partial w_{jk}} = \delta_k b_j"),
    ("d", r"\frac{\partial E}{\partial f_k} = \delta_k \frac{\partial h_k}{\partial f_k} "
          r"= \delta_k \cdot 1 = \delta_k"),
    ("e", r"\psi_j = \sum_k \frac{\partial E}{\partial h_k}\frac{\partial h_k}{\partial b_j}"
          r"\frac{\partial b_j}{\partial z_j} = \sum_k \delta_k w_{jk} g'(z_j) "
          r"= g'(z_j)\sum_{k=1}^{K} w_{jk}\delta_k"),
    ("f", r"\frac{\partial E}{\partial u_{ij}} = \frac{\partial E}{\partial z_j}"
          r"\frac{\partial z_j}{\partial u_{ij}} = \psi_j \frac{\partial}{\partial u_{ij}}"
          r"\left(e_j + \sum_l a_l u_{lj}\right) = \psi_j a_i"),
    ("g", r"\frac{\partial E}{\partial e_j} = \psi_j\frac{\partial z_j}{\partial e_j} = \psi_j"),
]


@pytest.mark.parametrize("part,derivation", CLEAN, ids=[p for p, _ in CLEAN])
def test_clean_derivations_have_every_step_valid(problem, part, derivation):
    result = grade_answer(problem, part, derivation)
    assert result.verdict == "correct"
    assert statuses(result)[0] == "given"
    assert set(statuses(result)[1:]) == {"valid"}, [(s.latex, s.message) for s in result.steps]


def test_align_environment_from_a_tex_document(problem):
    tex = r"""
\begin{enumerate}
\item[(c)] Your answer:
\begin{align*}
\frac{\partial E}{\partial w_{jk}}
  &= \frac{\partial E}{\partial h_k}\frac{\partial h_k}{\partial w_{jk}} \\
&= \delta_k w_{jk} \\
&= \delta_k b_j
\end{align*}
\end{enumerate}
"""
    answer = parse_document(tex, ["c"], fmt="tex").answers["c"]
    result = grade_answer(problem, "c", answer.latex)
    assert statuses(result) == ["given", "valid", "invalid", "valid"]
    assert result.steps[2].message.startswith("does not follow from line 2")
    assert result.verdict == "correct"


@pytest.mark.parametrize("derivation,reason", [
    (r"\delta_k b_j = \delta_k \hat{b}_j = \delta_k b_j", "does not read"),
    (r"\delta_k b_j = \delta_k b_k = \delta_k b_j", "wrong index"),
    (r"\delta_k = \delta_k b_j = \delta_k", "free indices change"),
], ids=["unreadable-line", "wrong-index-line", "free-index-change"])
def test_unverified_steps_say_why(problem, derivation, reason):
    part = "d" if derivation.startswith(r"\delta_k =") else "c"
    result = grade_answer(problem, part, derivation)
    middle = result.steps[1]
    assert middle.status == "unverified"
    assert reason in middle.message
    assert result.steps[2].status == "valid"  # compared with the given line instead


def test_single_expression_has_no_steps(problem):
    assert grade_answer(problem, "c", r"\delta_k b_j").steps == []


def test_steps_in_the_json_contract(seed):
    data = seed["c"].to_json()
    assert data["steps"][0] == {"latex": r"\frac{\partial E}{\partial w_{jk}}",
                                "status": "given", "message": ""}
    assert {tuple(step) for step in data["steps"]} == {("latex", "status", "message")}


def test_spec_step_deduction(tmp_path):
    spec = (Path(__file__).parent.parent / "problems" / "backprop.toml").read_text()
    spec = spec.replace("form_credit = 1.0 ", "form_credit = 1.0\nstep_deduction = 0.25 ", 1)
    path = tmp_path / "strict.toml"
    path.write_text(spec)
    problem = load_problem(path)
    result = grade_answer(problem, "c", r"\frac{\partial E}{\partial w_{jk}} = \delta_k w_{jk} "
                                        r"= \delta_k b_j")
    assert statuses(result) == ["given", "invalid", "valid"]
    assert result.score == pytest.approx(0.75)
    assert result.verdict == "partial"
    assert "0.25 points off for 1 invalid step" in result.feedback


def test_batch_report_shows_where_derivations_go_wrong(problem, seed):
    from grader.report import render_report
    from grader.results import SubmissionResult

    html = render_report(problem, [SubmissionResult("backprop", "seed", seed)])
    assert "Derivations (1 written out)" in html
    assert "first invalid step" in html
    assert r"\frac{e^{-x}}{(1 + e^{-x})^{-2}}" in html
    assert "does not follow from line 4" in html
