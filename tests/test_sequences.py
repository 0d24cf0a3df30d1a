"""Sequences and convolutions (issue 12): index arithmetic, bounded sums, recurrences.

The network's own values are checked against independent NumPy code written here (a loop over
time steps, finite differences); the reader and the grading are checked on many generated
answers (hypothesis), not only on the specs' examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.api import grade_answer
from grader.check import PartChecker
from grader.errors import AnswerError, IndexMismatch
from grader.expr import Ref, Sample, Sum, to_latex
from grader.indices import affine, canonical, letters_of, renamed
from grader.problem import load_problem
from grader.reader import read_expression


@pytest.fixture(scope="module")
def rnn():
    return load_problem("rnn")


@pytest.fixture(scope="module")
def conv():
    return load_problem("conv1d")


def _score(problem, part: str, answer: str) -> float:
    result = grade_answer(problem, part, answer)
    return result.score / result.max_score


# ---------------------------------------------------------------------------- indices

TERMS = st.lists(st.tuples(st.sampled_from("inpt"), st.sampled_from([-1, 1])), max_size=3)


@given(TERMS, st.integers(-3, 3), st.randoms())
def test_an_index_has_one_canonical_string_whatever_the_order(terms, constant, rnd) -> None:
    pieces = [("-" if c < 0 else "+") + letter for letter, c in terms]
    if constant:
        pieces.append(f"{constant:+d}")
    if not pieces:
        return
    written = "".join(pieces)
    shuffled = pieces[:]
    rnd.shuffle(shuffled)
    assert canonical(affine(written)) == canonical(affine("".join(shuffled)))
    again = canonical(affine(written))
    assert canonical(affine(again)) == again  # the canonical string reads back as itself


def test_index_letters_and_renaming() -> None:
    assert letters_of("n+p-1") == ("n", "p")
    assert letters_of("T-1") == () and letters_of("max(1,i-P+1)") == ("i",)
    assert renamed("t-1", {"t": "t'"}) == "t'-1"
    assert renamed("min(M,i)", {"i": "j"}) == "min(M,j)"
    assert canonical(affine("p+n-1")) == "n+p-1" and canonical(affine("1-p+i")) == "i-p+1"


# ---------------------------------------------------------------------------- reading

def test_offsets_read_as_one_index_in_any_order(conv) -> None:
    vocab = conv.part("b").vocabulary
    one = read_expression(r"\sum_n e_n x_{n+p-1}", vocab)
    assert one == read_expression(r"\sum_{n} e_{n} x_{p + n - 1}", vocab)
    assert one == read_expression(r"\sum_n e_n x_{-1+p+n}", vocab)
    assert isinstance(one, Sum) and Ref("x", ("n+p-1",)) in set(one.walk())


def test_bounds_are_kept_and_printed(conv) -> None:
    vocab = conv.part("d").vocabulary
    bounded = read_expression(r"\sum_{n=\max(1,i-P+1)}^{\min(M,i)} e_n w_{i-n+1}", vocab)
    assert isinstance(bounded, Sum)
    assert (bounded.lower, bounded.upper) == ("max(1,i-P+1)", "min(M,i)")
    assert to_latex(bounded).startswith(r"\sum_{n=\max(1, i-P+1)}^{\min(M, i)}")
    whole = read_expression(r"\sum_{n=1}^{M} e_n", vocab)
    assert isinstance(whole, Sum) and not whole.lower  # the whole range: a plain sum


def test_time_steps_read_as_steps_of_a_vector(rnn) -> None:
    vocab = rnn.part("e").vocabulary
    read = read_expression(r"W^\top \delta_{t+1}", vocab)
    assert Sample(Ref("delta"), "t+1", True) in set(read.walk())
    assert Sample(Ref("yhat"), "T", True) in set(
        read_expression(r"\hat{y}_T", rnn.part("d").vocabulary).walk())
    assert read_expression("ŷ_t", vocab) == read_expression(r"\hat y_{t}", vocab)


@pytest.mark.parametrize(("problem", "part", "answer", "message"), [
    ("conv1d", "b", r"\sum_n e_n x_{n+q}", "'q' is not an index"),
    ("conv1d", "b", r"\sum_n e_n x_{2n+p-1}", "write a sign between two letters"),
    ("conv1d", "b", r"\sum_n e_n x_{n+p-}", "unexpected"),
    ("conv1d", "b", r"\sum_n e_n x_{n+Q}", "'Q' is not a size"),
    ("conv1d", "d", r"\sum_{n=1}^{\min(M,n)} e_n w_{i-n+1}", "cannot depend on n"),
    ("conv1d", "d", r"\sum_{n=0}^{M} e_n w_{i-n+1}", "must start at 1"),
    ("conv1d", "d", r"\sum_{n=2} e_n w_{i-n+1}", "needs its end too"),
    ("conv1d", "b", r"\max(e_n, 1)", r"\max is read only as the ReLU"),
    ("conv1d", "b", r"\|x\|", "vector-matrix problems only"),
    ("rnn", "a", r"\|W\|^2", "norm of a H×H matrix"),
])
def test_bad_indices_and_bounds_are_refused_with_a_message(problem, part, answer,
                                                           message) -> None:
    vocab = load_problem(problem).part(part).vocabulary
    with pytest.raises(AnswerError, match=message.replace("\\", "\\\\").replace("|", "\\|")):
        read_expression(answer, vocab)


def test_a_step_with_a_wrong_letter_is_a_wrong_index(rnn) -> None:
    with pytest.raises(IndexMismatch, match="its time step"):
        read_expression(r"h_{j}", rnn.part("f").vocabulary)


# ---------------------------------------------------------------------------- the network

def _rnn_forward(v: dict[str, np.ndarray], h_override: tuple[int, np.ndarray] | None = None):
    """h_1..h_T and L by a plain loop (0-based t here); h_override replaces one h_t."""
    steps = v["x"].shape[0]
    h = np.zeros((steps, v["W"].shape[0]))
    previous = np.zeros(v["W"].shape[0])
    loss = 0.0
    for t in range(steps):
        h[t] = np.tanh(v["W"] @ previous + v["U"] @ v["x"][t] + v["b"])
        if h_override is not None and h_override[0] == t:
            h[t] = h_override[1]
        out = v["V"] @ h[t] + v["c"]
        loss += 0.5 * np.sum((out - v["y"][t]) ** 2)
        previous = h[t]
    return h, loss


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_recurrence_runs_forward_and_back_through_time(rnn, seed) -> None:
    """h_t as a loop computes it; delta_t the total derivative (by finite differences through
    every later step); dL/dW by finite differences: on a random length T each time."""
    instance = rnn.network.numeric(seed, "tanh")
    given = dict(instance.given)
    h, _ = _rnn_forward(given)
    assert np.allclose(instance.lookup("h"), h)
    delta = instance.lookup("delta")
    steps, hidden = h.shape
    eps = 1e-6
    for t in range(steps):
        for j in range(hidden):
            up, down = h[t].copy(), h[t].copy()
            up[j] += eps
            down[j] -= eps
            slope = (_rnn_forward(given, (t, up))[1] - _rnn_forward(given, (t, down))[1]) / (
                2 * eps)
            assert delta[t, j] == pytest.approx(slope, rel=1e-5, abs=1e-7)
    gradient = instance.value(rnn.part("f").asks_expr)
    for r in range(hidden):
        for col in range(hidden):
            bumped = {**given, "W": given["W"].copy()}
            bumped["W"][r, col] += eps
            lowered = {**given, "W": given["W"].copy()}
            lowered["W"][r, col] -= eps
            slope = (_rnn_forward(bumped)[1] - _rnn_forward(lowered)[1]) / (2 * eps)
            assert gradient.aligned(("row", "col"))[r, col] == pytest.approx(slope, rel=1e-5,
                                                                              abs=1e-7)


def test_lengths_are_drawn_per_instance_and_sizes_follow_their_formula(conv, rnn) -> None:
    lengths = {rnn.network.numeric(seed, "tanh").sizes["t"] for seed in range(12)}
    assert len(lengths) >= 3 and min(lengths) >= 2
    for seed in range(30):
        sizes = conv.network.numeric(seed, "tanh").sizes
        assert sizes["n"] == sizes["i"] - sizes["p"] + 1 >= 2


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_the_convolution_gradients_match_finite_differences(conv, seed) -> None:
    instance = conv.network.numeric(seed, "tanh")
    x, w, b, t = (np.asarray(instance.given[k], dtype=float) for k in ("x", "w", "b", "t"))

    def loss(x: np.ndarray, w: np.ndarray) -> float:
        outputs = np.array([b + w @ x[n:n + len(w)] for n in range(len(x) - len(w) + 1)])
        return 0.5 * float(np.sum((outputs - t) ** 2))

    eps = 1e-6
    by_input = instance.value(conv.part("d").reference_expr).aligned(("i",))
    for i in range(len(x)):  # the first and last inputs too, seen by one output only
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        assert by_input[i] == pytest.approx((loss(up, w) - loss(down, w)) / (2 * eps),
                                            rel=1e-5, abs=1e-7)
    by_tap = instance.value(conv.part("b").reference_expr).aligned(("p",))
    for p in range(len(w)):
        up, down = w.copy(), w.copy()
        up[p] += eps
        down[p] -= eps
        assert by_tap[p] == pytest.approx((loss(x, up) - loss(x, down)) / (2 * eps),
                                          rel=1e-5, abs=1e-7)


def test_a_part_asked_where_t_is_below_T_is_compared_there_only(rnn) -> None:
    """The recursion for delta_t names delta_{t+1}, which does not exist at t = T: the bare
    network value is undefined there, and the part's check leaves t = T out."""
    part = rnn.part("e")
    checker = PartChecker(rnn, part)
    instance = checker.instances[0]
    raw = instance.value(part.reference_expr).aligned(("t", "row"))
    assert np.isnan(raw[-1]).all() and np.isfinite(raw[:-1]).all()
    asked = checker.value(instance, part.reference_expr).aligned(("t", "row"))
    assert np.isfinite(asked).all() and (asked[-1] == 0).all()


# ---------------------------------------------------------------------------- grading

@settings(max_examples=25, deadline=None)
@given(st.integers(-2, 2), st.sampled_from(["n", "m"]), st.booleans())
def test_conv_taps_are_right_only_at_the_right_offset(conv, offset, dummy, bounds) -> None:
    index = canonical(affine(f"{dummy}+p-1{offset:+d}" if offset else f"{dummy}+p-1"))
    sum_ = rf"\sum_{{{dummy}=1}}^{{M}}" if bounds else rf"\sum_{dummy}"
    score = _score(conv, "b", rf"{sum_} e_{dummy} x_{{{index}}}")
    assert (score == 1.0) == (offset == 0)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["t-2", "t-1", "t", "t+1"]), st.sampled_from(["1", "2"]),
       st.sampled_from([r"^\top", "^T", "'"]))
def test_bptt_weight_gradient_needs_the_previous_state(rnn, step, start, mark) -> None:
    answer = rf"\sum_{{t={start}}}^{{T}} ((1 - h_t^2) \odot \delta_t) h_{{{step}}}{mark}"
    score = _score(rnn, "f", answer)
    # from t = 2 is right as well: h_0 = 0 makes the first term vanish
    assert (score == 1.0) == (step == "t-1")


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["t", "t+1"]), st.sampled_from(["t", "t+1"]), st.booleans())
def test_the_recursion_needs_the_next_step_twice(rnn, slope_at, signal_at, diag) -> None:
    slope = rf"(1 - h_{{{slope_at}}}^2)"
    back = rf"W^\top \operatorname{{diag}}{slope} \delta_{{{signal_at}}}" if diag \
        else rf"W^\top ({slope} \odot \delta_{{{signal_at}}})"
    result = grade_answer(rnn, "e", rf"V^\top(\hat y_t - y_t) + {back}")
    right = slope_at == signal_at == "t+1"
    assert (result.score == result.max_score) == right
    if signal_at == "t":
        assert "circular" in result.flags  # delta_t on the right restates the question


@pytest.mark.parametrize(("problem", "part", "answer", "words"), [
    ("rnn", "d", r"V^\top(\hat y_T - y_T) + W^\top((1-h_{T+1}^2)\odot\delta_{T+1})",
     r"$\delta_{T+1}$ does not exist"),
    ("rnn", "b", r"\sum_{t=1}^{T+1} (\hat y_t - y_t) h_t^\top", "runs past the range of t"),
    ("rnn", "b", r"\sum_t (\hat y_t - y_t) h^\top", "one value per time step"),
])
def test_steps_that_do_not_exist_are_named(rnn, conv, problem, part, answer, words) -> None:
    result = grade_answer(rnn if problem == "rnn" else conv, part, answer)
    assert result.score == 0 and words in result.feedback


def test_zero_padding_lets_a_sum_run_past_the_outputs(conv) -> None:
    """e and w are 0 outside their ranges (the spec says so): bounds past them change nothing."""
    assert _score(conv, "d", r"\sum_{n=i-P+1}^{i} e_n w_{i-n+1}") == 1.0
    assert _score(conv, "d", r"\sum_{n=1}^{M} e_n w_{i-n+1}") == 1.0
    assert _score(conv, "d", r"\sum_{n=i-P+2}^{i} e_n w_{i-n+1}") < 1.0


def test_a_bptt_derivation_is_checked_line_by_line(rnn) -> None:
    good = (r"\delta_t = V^\top \frac{\partial L}{\partial \hat{y}_t} + W^\top((1 - h_{t+1}^2)"
            r"\odot \delta_{t+1}) = V^\top(\hat y_t - y_t) + W^\top((1 - h_{t+1}^2) \odot "
            r"\delta_{t+1})")
    result = grade_answer(rnn, "e", good)
    assert result.score == result.max_score
    statuses = [step.status for step in result.steps]
    assert statuses[0] == "given" and set(statuses[1:]) == {"valid"}
    slip = (r"\delta_t = V^\top(\hat y_t - y_t) + W^\top \delta_{t+1} = V^\top(\hat y_t - y_t)"
            r" + W^\top((1 - h_{t+1}^2) \odot \delta_{t+1})")
    result = grade_answer(rnn, "e", slip)
    assert "invalid" in [step.status for step in result.steps]


@pytest.mark.parametrize(("problem", "part", "answer", "full"), [
    ("rnn", "e", r"V^\top(\hat y^{(t)} - y^{(t)}) + W^\top((1-(h^{(t+1)})^2)\odot\delta^{(t+1)})",
     True),
    ("rnn", "f", r"\sum_t ((1-h^{(t)}\odot h^{(t)})\odot\delta^{(t)}) h^{(t-1)\top}", True),
    ("rnn", "f", r"\sum_t ((1-h^{(t)}\odot h^{(t)})\odot\delta^{(t)}) h^{(t)\top}", False),
    ("rnn", "d", r"V^\top(\hat y^{(T)} - y^{(T)})", True),
    ("conv1d", "b", r"\sum_n e_n x_{(n+p-1)}", True),
    ("conv1d", "c", r"\sum_{n=1}^{N} e_n", True),      # the e_n past M are 0
    ("conv1d", "c", r"\sum_{n=1}^{P} e_n", False),     # too few outputs
    ("conv1d", "b", r"\sum_{n=1}^{N} e_n x_{n+p-1}", True),
])
def test_other_spellings_of_steps_and_ranges(problem, part, answer, full) -> None:
    assert (_score(load_problem(problem), part, answer) == 1.0) == full


def test_the_symbolic_instance_keeps_derived_sizes_apart(conv) -> None:
    sizes = conv.network.symbolic().sizes
    assert sizes["n"] == sizes["i"] - sizes["p"] + 1 >= 2
    assert len({sizes["i"], sizes["n"], sizes["p"]}) == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=2, max_size=4), st.integers(1, 3))
def test_calls_as_symbols_proves_only_true_identities(coefficients, power) -> None:
    """The quick proof treats each tanh(u) as a symbol: what it proves is true, and a
    difference it cannot see through is left to the slower path, never proved."""
    import sympy

    from grader.check import _calls_as_symbols, _is_zero

    x, y = sympy.symbols("x y", real=True)
    inner = sum(c * sympy.tanh(x + k * y) for k, c in enumerate(coefficients))
    nested = sympy.tanh(inner) ** power
    assert _is_zero(sympy.expand((1 - nested) * (1 + nested)) - (1 - nested ** 2), True)
    wrong = nested * (1 - nested) - nested + nested ** 2 + sympy.tanh(y) ** 2
    assert sympy.expand(_calls_as_symbols(wrong)) != 0


def test_the_signal_of_the_next_step_may_be_written_as_a_derivative(rnn) -> None:
    """dL/dh_{t+1} is delta_{t+1}: the network's gradient by every step, read one step on."""
    written = (r"V^\top(\hat y_t - y_t) + W^\top((1-h_{t+1}^2)\odot "
               r"\frac{\partial L}{\partial h_{t+1}})")
    assert _score(rnn, "e", written) == 1.0
    assert _score(rnn, "e", written.replace("h_{t+1}}", "h_{t}}")) == 0.0  # dL/dh_t: circular
    assert _score(rnn, "d", r"\frac{\partial L}{\partial h_T}") == 0.0
