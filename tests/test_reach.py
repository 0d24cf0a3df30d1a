r"""Every form students write (docs/parsing.md) as a labelled case, graded on the live network.

Each row: the part, the answer as a student writes it, and the verdict and share of the points a
TA would give. Right and wrong answers are written in the same notation, so a form that is read
but misread fails here. The second table is what is refused, with the message that names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import grade_answer
from grader.problem import load_problem

C, P, W, X = "correct", "partial", "incorrect", "invalid"  # W: wrong

READ = {
    "claims": [
        ("c", r"-\frac{\partial E}{\partial w_{jk}} = \delta_k b_j", W, 0),
        ("c", r"-\frac{\partial E}{\partial w_{jk}} = -\delta_k b_j", C, 1),
        ("b", r"2\delta_k = 2(c_k - t_k)g'(h_k)", C, 1),
        ("b", r"2\delta_k = (c_k - t_k)g'(h_k)", W, 0),
        ("b", r"(c_k - t_k)\,g'(h_k) = \delta_k", C, 1),
        ("d", r"\frac{\partial E}{\partial f_k} - \delta_k = 0", C, 1),
        ("g", r"\psi_j + \frac{\partial E}{\partial e_j} = 0", W, 0),
        ("c", r"\frac{\partial (-E)}{\partial w_{jk}} = -\delta_k b_j", C, 1),
        ("e", r"\psi_j = g'(z_j)\sum_k \delta_k w_{jk} \quad \text{where } "
              r"\delta_k = \frac{\partial E}{\partial h_k}", C, 1),
        ("c", r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j, \text{ where } "
              r"\delta_k = (c_k - t_k) g'(h_k)", C, 1),
        ("g", r"\frac{\partial E}{\partial e_j} = \psi_j b_j \quad \text{where } "
              r"\psi_j = g'(z_j)\sum_k \delta_k w_{jk}", W, 0),
        ("c", r"\frac{\partial E}{\partial f_k} = \delta_k \qquad "
              r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j", C, 1),
        ("d", r"\frac{\partial E}{\partial f_k} = \delta_k \qquad "
              r"\frac{\partial E}{\partial w_{jk}} = \delta_k w_{jk}", C, 1),
        ("c", r"\frac{\partial E}{\partial f_k} = \delta_k \qquad "
              r"\frac{\partial E}{\partial w_{jk}} = \delta_k w_{jk}", W, 0),
        ("c", r"\frac{\partial E}{\partial w_{jk}} = \frac{\partial E}{\partial h_k}"
              r"\frac{\partial h_k}{\partial w_{jk}} = \delta_k b_j", C, 1),
        ("g", r"\frac{\partial E}{\partial e_j}=\psi_j,\;\frac{\partial z_j}{\partial e_j}=1",
         C, 1),
        ("d", r"\delta_k = \frac{\partial E}{\partial f_k} \quad (\partial h_k/\partial f_k = 1)",
         C, 1),
        ("c", r"\text{By the chain rule, } \frac{\partial E}{\partial w_{jk}} = \delta_k b_j",
         C, 1),
        ("c", r"\delta_k \text{ times } b_j", C, 1),
        ("c", r"\frac{\partial E}{\partial w_{jk}} \text{ is } \delta_k b_j", C, 1),
        # a sign or a factor the left side carries, in every spelling
        ("c", r"\frac{\partial (E/2)}{\partial w_{jk}} = \delta_k b_j", W, 0),
        ("c", r"\frac{\partial (E/2)}{\partial w_{jk}} = \frac{1}{2}\delta_k b_j", C, 1),
        ("c", r"\frac{\partial E}{\partial w_{jk}}^2 = \delta_k b_j", W, 0),
        ("c", r"\frac{\partial E}{\partial w_{jk}}\cdot 2^{-1} = \delta_k b_j", W, 0),
        ("c", r"{\partial E \over \partial w_{jk}} = \delta_k b_j", C, 1),
        # a left side that does not read may hide a sign: the answer does not read either
        ("c", r"\frac{-\partial E}{\partial w_{jk}} = \delta_k b_j", X, 0),
        ("c", r"-\frac{\partial L}{\partial w_{jk}} = \delta_k b_j", X, 0),
        # a left side that is another quantity: the equation must hold
        ("c", r"\frac{\partial E}{\partial b_j} = \delta_k b_j", W, 0),
        ("d", r"\frac{\partial E}{\partial h_k}\frac{\partial h_k}{\partial f_k} = \delta_k", C, 1),
        ("g", r"\frac{\partial E}{\partial z_j} = \psi_j", C, 1),
        # alternatives turned down, hedges, self-corrections, justifications after the value
        ("c", r"\delta_k w_{jk}\text{, not } \delta_k b_j", W, 0),
        ("c", r"\delta_k b_j\text{, not } \delta_k w_{jk}", C, 1),
        ("c", r"\delta_k b_j \text{ rather than } \delta_k w_{jk}", C, 1),
        ("c", r"\delta_k w_{jk} \text{ or } \delta_k b_j", W, 0),
        ("c", r"\delta_k b_j \text{ or equivalently } b_j \delta_k", C, 1),
        ("c", r"\delta_k w_{jk} \quad (\text{i.e. } \delta_k b_j)", W, 0),
        ("c", r"\frac{\partial E}{\partial w_{jk}} = \delta_k w_{jk} \text{ -- correction: } "
              r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j", C, 1),
        ("c", r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j = \frac{\partial E}{\partial h_k}"
              r"\frac{\partial h_k}{\partial w_{jk}}", C, 1),
        ("b", r"\frac{\partial E}{\partial c_k} = c_k - t_k \Rightarrow "
              r"\delta_k = \frac{\partial E}{\partial c_k}g'(h_k)", C, 1),
    ],
    "unicode": [
        ("a", "σ(x)(1 − σ(x))", C, 1),
        ("a", "σ(x)²(1 − σ(x))", W, 0),
        ("a", "σ(x) − σ(x)²", C, 1),
        ("c", "δₖ bⱼ", C, 1),
        ("c", "δₖ bₖ", W, 0),
        ("a", "𝜎(𝑥)(1 − 𝜎(𝑥))", C, 1),
        ("d", "𝛿ₖ", C, 1),
        ("e", "g′(zⱼ) Σₖ δₖ wⱼₖ", C, 1),
        ("e", "g′(zⱼ) Σₖ δₖ wₖⱼ", W, 0),
        ("e", "g′(zⱼ) Σₖ₌₁ᴷ δₖ wⱼₖ", C, 1),
        ("f", "aᵢ ∗ ψⱼ", C, 1),
        ("f", "aᵢ ∙ ψⱼ", C, 1),
        ("f", "aᵢ · ψⱼ", C, 1),
        ("f", "aᵢ × ψⱼ", C, 1),
        ("b", "(cₖ − tₖ) g′(hₖ)", C, 1),
        ("b", "(cₖ − tₖ) g´(hₖ)", C, 1),
        ("b", "(cₖ − tₖ) g’(hₖ)", C, 1),
        ("b", "(cₖ − tₖ) g(hₖ)", W, 0),
        ("b", "(c_k\u00a0−\u00a0t_k)\u00a0g′(h_k)", C, 1),
        ("e", "g″(zⱼ) Σₖ δₖ wⱼₖ", W, 0),
    ],
    "derivative spellings": [
        ("b", r"(c_k - t_k)\dot g(h_k)", C, 1),
        ("b", r"(c_k - t_k)\dot{g}(h_k)", C, 1),
        ("b", r"(c_k - t_k) g^{(1)}(h_k)", C, 1),
        ("b", r"(c_k - t_k) g^{(2)}(h_k)", W, 0),
        ("b", r"(c_k - t_k) g^{\prime}(h_k)", C, 1),
        ("b", r"(c_k - t_k) {g}'(h_k)", C, 1),
        ("b", r"(c_k - t_k) \frac{dg}{dx}\Big|_{x=h_k}", C, 1),
        ("b", r"(c_k - t_k) \frac{dg}{dx}\Big|_{x=t_k}", W, 0),
        ("b", r"(c_k - t_k) \left.\frac{\mathrm{d}g}{\mathrm{d}x}\right|_{h_k}", C, 1),
        ("b", r"(c_k - t_k) \frac{\partial g}{\partial h_k}", C, 1),
        ("b", r"(c_k - t_k) \frac{dg}{dh}(h_k)", C, 1),
        ("e", r"\left. \frac{dg}{dz} \right|_{z=z_j} \sum_k w_{jk}\delta_k", C, 1),
        ("e", r"\frac{dg}{dz}\Big|_{z_j}\sum_k \delta_k w_{jk}", C, 1),
        ("e", r"\frac{\partial}{\partial z_j}\left[g(z_j)\right]\sum_k \delta_k w_{jk}", C, 1),
        ("b", r"\frac{d}{dh_k}\left(g(h_k)\right)\cdot(c_k - t_k)", C, 1),
        ("c", r"\frac{\partial E}{\partial w_jk} = \delta_k b_j", C, 1),
        ("c", r"dE/dw_jk = delta_k * b_j", C, 1),
        ("b", "δ_k = (c_k − t_k) ġ(h_k)", C, 1),
        ("b", "(cₖ − tₖ)g‘(hₖ)", C, 1),
        ("b", "(cₖ − tₖ)gʼ(hₖ)", C, 1),
        ("a", r"\sigma^{(1)}(x)", W, 0),
        ("a", r"\partial_x \sigma(x)", W, 0),
    ],
    "words and remarks": [
        ("a", r"\sigma(x)\,[1-\sigma(x)] \quad \text{for every real } x", C, 1),
        ("a", r"\mathrm{sigmoid}(x) - \mathrm{sigmoid}(x)^{2}", C, 1),
        ("c", r"b_j\,\delta_k \quad \textrm{(chain rule)}.", C, 1),
        ("d", r"\delta_k \quad \forall k", C, 1),
        ("d", r"\delta_k w_{jk} \quad \forall k", W, 0),
        ("e", r"\psi_j = g'(z_j)\sum_k w_{jk}\delta_k \quad (j = 1, \dots, J)", C, 1),
        ("c", r"\delta_k b_j.", C, 1),
        ("c", r"\delta_k b_j,", C, 1),
        ("b", r"\delta_k := (c_k - t_k) g'(h_k)", C, 1),
        ("b", r"\delta_k \equiv (c_k - t_k) g'(h_k)", C, 1),
        ("b", r"\delta_k \triangleq (t_k - c_k) g'(h_k)", P, 0.5),
        ("b", r"\delta_k \leftarrow (c_k - t_k) g'(h_k)", C, 1),
        ("c", r"\delta_k b_j \; (\forall k)", C, 1),
        ("c", r"\delta_k b_j\ (k=1,\dots,K)", C, 1),
        ("c", r"\delta_k b_j (\text{chain rule})", C, 1),
        ("c", r"\delta_k b_j \quad (1)", C, 1),
        ("c", r"\delta_k b_j \qquad (2.3)", C, 1),
        ("c", r"\frac{\partial E}{\partial w_{jk}} = \delta_k b_j \in \mathbb{R}", C, 1),
        ("a", r"\sigma'(x) = \sigma(x)(1-\sigma(x)) \le \frac14", C, 1),
        ("c", r"\delta_k b_j, \text{ the product of } \delta_k \text{ and } b_j", C, 1),
        ("c", r"**Answer:** $\delta_k b_j$ where $\delta_k$ is from (b)", C, 1),
        ("c", r"(c)\ \delta_k b_j", C, 1),
        ("c", r"\delta_k b_j \quad \blacksquare", C, 1),
        ("c", r"\cancel{\delta_k w_{jk}}\ \delta_k b_j", C, 1),
    ],
    "delimiters and environments": [
        ("c", r"$\delta_k b_j$", C, 1),
        ("c", r"$$\delta_k b_j$$", C, 1),
        ("c", r"\(\delta_k b_j\)", C, 1),
        ("c", r"\[\delta_k w_{jk}\]", W, 0),
        ("c", r"$\delta_k b_j", C, 1),
        ("d", r"\begin{aligned} \frac{\partial E}{\partial f_k} &= \delta_k \cdot 1 \\ "
              r"&= \delta_k \end{aligned}", C, 1),
        ("d", r"\begin{align*} \frac{\partial E}{\partial f_k} &= \delta_k \\ "
              r"&= \delta_k b_j \end{align*}", P, 0),
        ("b", r"\begin{split} \delta_k &= \frac{\partial E}{\partial c_k} g'(h_k) \\ "
              r"&= (c_k - t_k) g'(h_k) \end{split}", C, 1),
        ("c", r"\begin{aligned}\frac{\partial E}{\partial w_{jk}}&=\delta_k b_j\\"
              r"&=\delta_k w_{jk}\end{aligned}", P, 0),
        ("c", r"\begin{aligned}\frac{\partial E}{\partial w_{jk}}&=\frac{\partial E}{\partial h_k}"
              r"\frac{\partial h_k}{\partial w_{jk}}\\&=\delta_k b_j\end{aligned}", C, 1),
        ("b", r"\begin{aligned}\delta_k &= (c_k - t_k) \\ &\quad \cdot g'(h_k)\end{aligned}", C, 1),
        ("b", r"\begin{aligned}\delta_k &= (c_k - t_k) \cdot \\ &\quad g'(h_k)\end{aligned}", C, 1),
        ("b", r"\begin{aligned}\delta_k &= (c_k - t_k) \\ &\hphantom{=}\, g'(h_k)\end{aligned}",
         C, 1),
        ("e", r"\psi_j = g'(z_j) \sum_k \\ \delta_k w_{jk}", C, 1),
        ("g", r"\begin{gathered} \frac{\partial E}{\partial e_j} = \psi_j \end{gathered}", C, 1),
        ("f", r"\begin{equation*} \frac{\partial E}{\partial u_{ij}} = a_i \psi_j "
              r"\end{equation*}", C, 1),
        ("e", r"\displaystyle\sum_{k=1}^{K}\delta_k w_{jk}\,g'(z_j)", C, 1),
        ("d", r"\left. \delta_k \right.", C, 1),
    ],
    "editor exports": [
        ("c", r"{{\delta }_{k}}{{b}_{j}}", C, 1),
        ("c", r"{{\delta }_{k}}{{z}_{j}}", W, 0),
        ("b", r"{g}'\left( {{h}_{k}} \right)\left( {{c}_{k}}-{{t}_{k}} \right)", C, 1),
        ("e", r"\sum\limits_{k}{{{w}_{jk}}{{\delta }_{k}}}{g}'\left( {{z}_{j}} \right)", C, 1),
        ("c", r"b\_j \delta\_k", C, 1),
        ("c", r"b_j \ast \delta_k", C, 1),
        ("c", r"b_j \cdot{} \delta_k", C, 1),
        ("c", r"b_j \* \delta_k", C, 1),
        ("e", r"g'(z_j) \sum_l \delta_l w_jl", C, 1),
        ("f", r"\psi_j \sum_i a_i u_ij", W, 0),
    ],
    "sums": [
        ("e", r"g'(z_j)\sum_{r} w_{jr}\delta_r", C, 1),
        ("e", r"g'(z_j)\sum_{k'} w_{jk'}\delta_{k'}", C, 1),
        ("e", r"g'(z_j)\sum_{k''} w_{jk''}\delta_{k''}", C, 1),
        ("e", r"g'(z_j)\sum\limits_{k} w_{jk}\delta_k", C, 1),
        ("e", r"g'(z_j)\sum_k^{} w_{jk}\delta_k", C, 1),
        ("e", r"g'(z_j)\sum_{}^{}{w_{jk}\delta_k}", C, 1),
        ("g", r"g'(z_j)\sum w_{jk}\delta_k", C, 1),
        ("e", r"g'(z_j)\sum_{k \in \{1,\ldots,K\}} \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j)(\delta_1 w_{j1} + \dots + \delta_K w_{jK})", C, 1),
        ("e", r"g'(z_j)(w_{j1}\delta_1 + w_{j2}\delta_2 + \cdots + w_{jK}\delta_K)", C, 1),
        ("e", r"g'(z_j)(\delta_1 w_{j1} + \ldots + \delta_J w_{jJ})", W, 0),
        ("e", r"g'(z_j)(\delta_1 w_{j1} + \dots + \delta_k w_{jk})", W, 0),
        ("e", r"g'(z_j)(\delta_1 w_{j1} + \delta_2 w_{j2})", W, 0),
        ("e", r"g'(z_j)\sum_{j'} \delta_k w_{j'k}", W, 0),
        ("e", r"g'(z_j)\Sigma_k \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j) \sum_{k=1,\dots,K} \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j) \sum_{k \in [1, K]} \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j) \sum_{k=1..K} \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j)\sum_{\substack{k=1}}^{K} \delta_k w_{jk}", C, 1),
        ("e", r"g'(z_j)(\delta_1 w_{j1} + \dots + \delta_k w_{jk} + \dots + \delta_K w_{jK})",
         C, 1),
    ],
    "function spellings": [
        ("a", r"\operatorname{sigmoid}(x)\,\operatorname{sigmoid}(-x)", C, 1),
        ("a", r"sigmoid(x)*(1-sigmoid(x))", C, 1),
        ("a", r"e^(-x)/(1+e^(-x))^2", C, 1),
        ("a", r"\operatorname{\sigma}(x)(1-\operatorname{\sigma}(x))", C, 1),
        ("a", r"e^{e^{e^{e^{x}}}}", W, 0),
        ("a", r"\tanh(e^{e^{e^{x}}})", W, 0),
        ("a", r"\frac{\exp(-x)}{(1+\exp(-x))^2}", C, 1),
        ("a", r"\frac{\mathrm{e}^{-x}}{(1+\mathrm{e}^{-x})^2}", C, 1),
        ("a", r"\frac{\mathrm{e}^{x}}{1+\mathrm{e}^{x}}", W, 0),
        ("a", r"\exp\left(-\log(1+e^{-x})-\log(1+e^{x})\right)", C, 1),
        ("a", r"\frac{1}{4}\left(1 - \tanh^2(x/2)\right)", C, 1),
        ("a", r"\frac{1}{4\cosh^2(x/2)}", C, 1),
        ("a", r"\frac{1}{4\cosh^2(x)}", W, 0),
        ("a", r"\frac{1}{4\left(1+\sinh^{2}(x/2)\right)}", C, 1),
        ("a", r"\frac{1}{4}\operatorname{sech}^2(x/2)", C, 1),
        ("a", r"\frac{1}{2}\operatorname{sech}^2(x/2)", W, 0),
        ("a", r"sigma(x)(1 - sigma(x))", C, 1),
    ],
}
ROWS = [(family, *row) for family, rows in READ.items() for row in rows]


@pytest.fixture(scope="module")
def problem():
    return load_problem("backprop")


@pytest.mark.parametrize("family, part, answer, verdict, share", ROWS,
                         ids=[f"{r[0]}: ({r[1]}) {r[2]}" for r in ROWS])
def test_read_as_a_ta_reads_it(problem, family, part, answer, verdict, share) -> None:
    result = grade_answer(problem, part, answer)
    assert result.score == pytest.approx(share * result.max_score), result.feedback
    if verdict == P:  # a partial share, or none with the steps' deduction: not full, not zero
        assert result.verdict.value in ("partial", "incorrect")
    else:
        assert result.verdict.value == verdict, result.feedback


REFUSED = [
    ("c", r"\delta_k \hat{b}_j", r"unknown symbol '\hat{b}'"),  # a hat makes a name of its own
    ("c", r"\delta_k (b_j \text{ hidden})", r"words inside the formula (\text{hidden})"),
    ("a", r"\operatorname{softsign}(x)", r"unknown function \operatorname{softsign}"),
    ("a", r"\sigam(x)(1-\sigma(x))", r"did you mean \sigma?"),
    ("c", r"\delta_k W_{jk}", "did you mean w?"),
    ("c", r"\Delta_k b_j", r"did you mean \delta?"),
    ("e", r"\sum a_i \delta_k", r"\sum needs its index"),
    ("e", r"g'(z_j)\sum_{k=0}^{K} \delta_k w_{jk}", "must start at 1"),
    ("b", r"\sigma(1 - \sigma)", r"\sigma needs an argument"),
    ("b", r"(c_k - t_k)^\sigma", r"\sigma is a function"),
    ("b", r"(c_k - t_k) g'(x) y\Big|_{h_k}", "write the variable the bar sets"),
    ("c", r"\delta_k b_j \le 1", r"states a relation (\le)"),
    ("a", "σ(x) ⊗ x", "unexpected character ⊗ (U+2297)"),
    ("c", "\\delta_k\u202eb_j", "invisible control character U+202E"),
    ("d", r"\delta_k + \dots", r"\dots needs terms on both sides"),
    ("c", r"\nabla E", r"\nabla needs what it differentiates by"),
    ("c", r"\delta^{(2)}_k b_j", r"\delta^{(n)} reads as a layer number"),
    ("c", r"\frac{\delta_k \in b_j}{2}", r"\in is read only in a sum's range"),
]


@pytest.mark.parametrize("part, answer, words", REFUSED, ids=[r[1] for r in REFUSED])
def test_refused_with_a_message_that_names_it(problem, part, answer, words) -> None:
    result = grade_answer(problem, part, answer)
    assert result.verdict.value == "invalid"
    assert result.score == 0
    assert words in result.feedback


ALIASES = Path(__file__).parent / "data" / "specs" / "aliases.toml"


def test_a_spec_may_accept_other_names_off_by_default(problem) -> None:
    """W_{ij} means w_{ij} only where the spec says so; elsewhere it gets a hint."""
    aliased = load_problem(ALIASES)
    assert grade_answer(aliased, "a", r"\frac{\partial E}{\partial W_{ij}} = a_i \Delta_j") \
        .verdict.value == "correct"
    assert grade_answer(aliased, "a", r"W_{ij}").verdict.value == "incorrect"
    assert "did you mean w?" in grade_answer(problem, "c", r"W_{jk}").feedback


# ---------------------------------------------------------------------------- part-local variables

SHADOW = Path(__file__).parent / "data" / "specs" / "shadow.toml"


@pytest.mark.parametrize("part, answer, verdict, words", [
    ("a", r"1 - \tanh^2(s)", C, "Correct."),
    ("a", r"\tanh'(s) = 1 - \tanh(s)^2", C, "Correct."),
    ("a", r"\frac{d}{ds}\tanh(s) = (1 - \tanh s)(1 + \tanh s)", C, "Correct."),
    ("a", r"\operatorname{sech}^2(s)", C, "you used \\operatorname{sech}"),
    ("a", r"1 + \tanh^2(s)", W, ""),
    ("a", r"\tanh'(s)", W, "Circular"),
    ("a", r"1 - \tanh^2(s_j)", W, "Wrong indices"),
    ("b", r"h_j (1 - h_j^2)", C, "Correct."),
    ("b", r"h_j (1 - \tanh^2(s))", X, "s needs its index, as in s_{j}"),
], ids=lambda v: v if isinstance(v, str) and len(v) > 2 else None)
def test_a_part_variable_shadows_a_network_name(part, answer, verdict, words) -> None:
    """In part (a), with variables = ["s"], a bare s is the variable though the network has
    s_j; s_j is still the network's quantity, and in part (b) a bare s means nothing."""
    result = grade_answer(load_problem(SHADOW), part, answer)
    assert result.verdict.value == verdict, result.feedback
    assert words in result.feedback


# ---------------------------------------------------------------------------- non-smooth functions

RELU = Path(__file__).parent / "data" / "specs" / "relu.toml"

STEPS_AND_RELU = [
    # the ReLU's slope at a number z: every way of writing the step
    ("slope", r"\mathbb{1}[z > 0]", C, 1),
    ("slope", r"\mathbb{1}(z>0)", C, 1),
    ("slope", r"\mathbb{1}\left(z>0\right)", C, 1),
    ("slope", r"\mathbf{1}_{z>0}", C, 1),
    ("slope", r"\boldsymbol{1}_{z > 0}", C, 1),
    ("slope", r"\mathbb{1}_{\{z>0\}}", C, 1),
    ("slope", r"\mathbb{1}\{z > 0\}", C, 1),
    ("slope", r"\mathbb{I}[z > 0]", C, 1),
    ("slope", "𝟙[z > 0]", C, 1),
    ("slope", r"1_{z > 0}", C, 1),
    ("slope", r"[z > 0]", C, 1),
    ("slope", r"[0 < z]", C, 1),
    ("slope", r"[z \geq 0]", C, 1),
    ("slope", r"[z \ge 0]", C, 1),
    ("slope", r"\mathbb{1}[z \gt 0]", C, 1),
    ("slope", r"H(z)", C, 1),
    ("slope", r"1 - [z < 0]", C, 1),
    ("slope", r"\operatorname{ReLU}'(z) = [z > 0]", C, 1),
    ("slope", r"\begin{cases} 1 & z > 0 \\ 0 & \text{otherwise} \end{cases}", C, 1),
    ("slope", r"\begin{cases} 1 & \text{if } z > 0 \\ 0 & \text{if } z \leq 0 \end{cases}", C, 1),
    ("slope", r"\begin{cases} 0 & z > 0 \\ 1 & z < 0 \end{cases}", W, 0),
    ("slope", r"[z < 0]", W, 0),
    ("slope", r"\mathbb{1}[z \le 0]", W, 0),
    ("slope", r"H(-z)", W, 0),
    ("slope", r"z\,[z > 0]", W, 0),
    ("slope", r"\operatorname{ReLU}'(z)", W, 0),
    # the ReLU itself
    ("value", r"\max(0, z_j)", C, 1),
    ("value", r"\max\left(0, z_j\right)", C, 1),
    ("value", r"\max\{0, z_j\}", C, 1),
    ("value", r"\max(z_j, 0)", C, 1),
    ("value", r"max(0, z_j)", C, 1),
    ("value", r"\operatorname{ReLU}(z_j)", C, 1),
    ("value", r"\mathrm{ReLU}(z_j)", C, 1),
    ("value", r"\operatorname{relu}(z_j)", C, 1),
    ("value", r"ReLU(z_j)", C, 1),
    ("value", r"relu(z_j)", C, 1),
    ("value", r"z_j\,\mathbb{1}[z_j > 0]", C, 1),
    ("value", r"z_j H(z_j)", C, 1),
    ("value", r"\max(0, -z_j)", W, 0),
    ("value", r"\max(0, z_j) [z_j < 0]", W, 0),
    ("value", r"z_j", W, 0),
    # square brackets as parentheses stay parentheses
    ("value", r"z_j [1 - [z_j < 0]]", C, 1),
    ("value", r"\left[z_j\right] [z_j > 0]", C, 1),
    # the chain rule through the ReLU
    ("psi", r"\operatorname{ReLU}'(z_j) \sum_k \delta_k w_{jk}", C, 1),
    ("psi", r"\mathbb{1}[z_j > 0] \sum_k \delta_k w_{jk}", C, 1),
    ("psi", r"\sum_k \delta_k w_{jk} \cdot [z_j > 0]", C, 1),
    ("psi", r"\sum_k \delta_k w_{jk} \, \mathbb{1}(z_j > 0)", C, 1),
    ("psi", r"H(z_j) \sum_k (h_k - t_k) w_{jk}", C, 1),
    ("psi", r"\sum_k \delta_k w_{jk}", P, 0.5),
    ("psi", r"\max(0, z_j) \sum_k \delta_k w_{jk}", W, 0),
]


@pytest.mark.parametrize("part, answer, verdict, share", STEPS_AND_RELU,
                         ids=[f"({r[0]}) {r[1]}" for r in STEPS_AND_RELU])
def test_relu_and_the_step_in_every_notation(part, answer, verdict, share) -> None:
    """ReLU, \\max(0, z), and the step as \\mathbb{1}[..], \\mathbf{1}_{..}, [..] and H(..),
    graded on a ReLU network (tests/data/specs/relu.toml) numerically and symbolically."""
    result = grade_answer(load_problem(RELU), part, answer)
    assert result.score == pytest.approx(share * result.max_score), result.feedback
    if verdict != P:
        assert result.verdict.value == verdict, result.feedback


NAMED_H = r"""
id = "named-h"
[network]
equations = ['H_k = f_k + \sum_j b_j w_{jk}', 'E = \frac{1}{2} \sum_k H_k^2']
given = ['b_j', 'w_{jk}', 'f_k']
[network.indices]
j = { size = "J" }
k = { size = "K" }
[[parts]]
id = "slope"
points = 1
asks = '''\tanh'(z)'''
variables = ["z"]
reference = '1 - \tanh^2(z)'
"""


def test_h_is_a_quantity_where_the_problem_names_one(tmp_path) -> None:
    """H(z) is the step only when H means nothing else: a problem with a quantity H keeps it."""
    spec = tmp_path / "named.toml"
    spec.write_text(NAMED_H)
    result = grade_answer(load_problem(spec), "slope", r"H(z)")
    assert result.verdict.value == "invalid" and "H needs its index" in result.feedback
    assert grade_answer(load_problem(RELU), "slope", r"H(z)").verdict.value == "correct"


REFUSED_NEW = [
    (RELU, "value", r"\max(z_j, 1)", r"\max is read only as the ReLU, \max(0, z)"),
    (RELU, "value", r"\min(0, z_j)", r"\min (the smaller of two expressions) is not part"),
    (RELU, "slope", r"z[z = 0]", "an indicator of an equality is read only between two index"),
    (RELU, "slope", r"z(z > 0)", "read only after an indicator, as in \\mathbb{1}(z > 0)"),
    (RELU, "slope", r"\mathbb{1}", r"\mathbb{1} needs its condition"),
    (RELU, "slope", r"\mathbb{1}_{z}", r"the subscript of \mathbb{1} is a condition"),
    (RELU, "slope", r"z > 0", "your answer states a relation (>), not a value"),
    (RELU, "slope", r"\frac{z > 0}{2}", "a condition such as z > 0 is read only as an indicator"),
    (RELU, "slope", r"\mathbb{1}\{z > 0\} \{z > 0\}", "read only after an indicator"),
    (RELU, "slope", r"[z \ne 0]", r"\ne is read only between two index letters"),
    (RELU, "slope", r"\operatorname{ReLU6}(z)", r"unknown function \operatorname{ReLU6}"),
    (RELU, "psi", r"\sum_{k > 0} \delta_k w_{jk}", r"write the range of a sum as \sum_{k=1}^{K}"),
]


@pytest.mark.parametrize("spec, part, answer, words", REFUSED_NEW, ids=[r[2] for r in REFUSED_NEW])
def test_near_misses_are_refused_with_a_message_that_names_them(spec, part, answer, words):
    result = grade_answer(load_problem(spec), part, answer)
    assert result.verdict.value == "invalid", result.feedback
    assert result.score == 0
    assert words in result.feedback


# ---------------------------------------------------------------------------- Kronecker delta

KRONECKER = [
    ("i", r"c_k(\delta_{kl} - c_l)", C, 1),
    ("i", r"c_k\delta_{kl} - c_k c_l", C, 1),
    ("i", r"\delta_{lk}c_k - c_l c_k", C, 1),
    ("i", r"c_k \delta_{k,l} - c_k c_l", C, 1),
    ("i", r"c_k\delta_kl - c_kc_l", C, 1),
    ("i", r"c_l(\delta_{kl} - c_k)", C, 1),
    ("i", r"c_k([k=l] - c_l)", C, 1),
    ("i", r"c_k(\mathbb{1}[k = l] - c_l)", C, 1),
    ("i", r"c_k(\mathbb{1}_{k=l} - c_l)", C, 1),
    ("i", r"c_k(\mathbb{1}\{k=l\} - c_l)", C, 1),
    ("i", r"c_k\left(\mathbf{1}_{k=l} - c_l\right)", C, 1),
    ("i", r"-c_k c_l + c_k [k = l]", C, 1),
    ("i", r"-c_k c_l + c_k\,\mathbb{1}(k=l)", C, 1),
    ("i", r"c_k(1 - [k \neq l] - c_l)", C, 1),
    ("i", r"\frac{\partial c_k}{\partial h_l} = c_k(\delta_{kl} - c_l)", C, 1),
    ("i", r"\sum_m \delta_{km} c_m (\delta_{ml} - c_l)", C, 1),
    # the two cases written out
    ("i", r"\begin{cases} c_k(1-c_k) & \text{if } k = l \\ -c_k c_l & \text{if } k \neq l "
          r"\end{cases}", C, 1),
    ("i", r"\frac{\partial c_k}{\partial h_l} = \begin{cases} c_k(1-c_k), & k = l, \\ "
          r"-c_k c_l, & k \ne l. \end{cases}", C, 1),
    ("i", r"\begin{cases} c_k - c_k^2 & k = l \\ -c_k c_l & \text{otherwise} \end{cases}", C, 1),
    ("i", r"\begin{cases} c_k(1+c_k) & k = l \\ -c_k c_l & \text{otherwise} \end{cases}", W, 0),
    ("i", r"\begin{cases} c_k(1-c_k) & k = l \end{cases}", W, 0),
    ("i", r"c_k(1 - c_k)", P, 0.5),
    ("i", r"-c_k c_l", P, 0.5),
    ("i", r"c_k(c_l - \delta_{kl})", W, 0),
    ("i", r"c_k([k \ne l] - c_l)", W, 0),
    ("i", r"c_k(\delta_{kl} - c_k)", W, 0),
    ("i", r"c_l(\delta_{kl} - c_l)", W, 0),
    ("i", r"\frac{\partial c_k}{\partial h_l}", W, 0),
    # the one-index signal \delta_k is still the signal
    ("c", r"\delta_k = c_k - t_k", C, 1),
    ("d", r"\delta_k b_j", C, 1),
    ("d", r"\delta_{k} b_{j}", C, 1),
]


@pytest.mark.parametrize("part, answer, verdict, share", KRONECKER,
                         ids=[f"({r[0]}) {r[1]}" for r in KRONECKER])
def test_kronecker_delta_in_every_notation(part, answer, verdict, share) -> None:
    """softmax (i): \\delta_{kl}, [k = l] and \\mathbb{1}[k = l] are the Kronecker delta, told
    apart from the signal \\delta_k by their two indices."""
    result = grade_answer(load_problem("softmax"), part, answer)
    assert result.score == pytest.approx(share * result.max_score), result.feedback
    if verdict != P:
        assert result.verdict.value == verdict, result.feedback


@pytest.mark.parametrize("problem_id, part, answer, words", [
    ("softmax", "i", r"c_k(\delta_{jl} - c_l)", "a Kronecker delta compares two indices over one "
     "range, but j runs over the hidden units (j = 1..J) and l over the output units"),
    ("softmax", "i", r"c_k(\delta_{k1} - c_l)", "a Kronecker delta compares two index letters"),
    ("softmax", "i", r"c_k(\delta_{kq} - c_l)", "'q' is not an index of this problem"),
    ("softmax", "i", r"c_k([k = 2] - c_l)", "an indicator of an equality is read only between"),
    ("backprop", "c", r"\delta_{jk} b_j", "a Kronecker delta compares two indices over one range"),
], ids=["ranges-differ", "a-unit", "unknown-letter", "a-number", "backprop"])
def test_kronecker_near_misses(problem_id, part, answer, words) -> None:
    result = grade_answer(load_problem(problem_id), part, answer)
    assert result.verdict.value == "invalid", result.feedback
    assert words in result.feedback


# ---------------------------------------------------------------------------- local names

@pytest.mark.parametrize("problem_id,part,answer", [
    ("bce", "a", "\\text{let } u = \\tanh(s)\\text{, then } \\tanh'(s) = 1 - u^2"),
    ("bce", "c", "\\frac{\\partial L}{\\partial m_j} = \\delta_o h_j \\text{ with } "
                 "\\delta_o = y - t"),
    ("bce", "e", "\\delta_j = (y-t)\\,m_j\\,(1-h_j^2)"),
    ("bce", "f", "\\delta_j x_i \\text{ where } \\delta_j = (y-t)m_j(1-h_j^2)"),
])
def test_names_an_answer_defines_for_itself_are_read(problem_id, part, answer) -> None:
    from grader.grading import grade_answer
    from grader.problem import load_problem
    from grader.results import Verdict

    result = grade_answer(load_problem(problem_id), part, answer)
    assert result.verdict is Verdict.CORRECT, result.feedback


@pytest.mark.parametrize("answer,words", [
    ("\\delta_j x_i \\text{ where } \\delta_j = (y-t)m_j(1-h_j)", "Not equal"),  # a wrong value
    ("u_{ij} \\text{ where } u_{ij} = \\frac{\\partial L}{\\partial v_{ij}}", "Circular"),
])
def test_a_defined_name_carries_its_value_right_or_wrong(answer: str, words: str) -> None:
    from grader.grading import grade_answer
    from grader.problem import load_problem

    result = grade_answer(load_problem("bce"), "f", answer)
    assert result.score == 0 and words in result.feedback, result.feedback
