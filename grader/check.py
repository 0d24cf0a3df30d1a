"""The two independent checks of an answer: numeric on the live network, symbolic with SymPy.

``PartChecker`` holds, for one part, several random network instances (random layer sizes and
values; for a generic g the sigmoid, tanh, softplus and arctan in turn) and, built on first use,
small symbolic instances. ``numeric`` compares two expressions on every instance and every value
of their free indices; ``symbolic`` proves their difference is zero with SymPy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

import mpmath
import numpy as np
import sympy

from .errors import EvaluationError
from .expr import Call, Deriv, Expr, Ref, Sample, Sum, map_children, rename_indices, to_latex
from .indices import bound_values, is_compound
from .matrices import COL, ROW
from .network import ACTIVATIONS, PRECISE_DIGITS
from .problem import Part, Problem
from .tensor import Evaluator, Tensor, combine

_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "!=": np.not_equal}
RTOL = 1e-6
ATOL = 1e-9
STABLE_DIFFERENCE = mpmath.mpf("1e-30")  # a difference this large, equal at 50 and 100
#                                          digits, is no rounding error
VANISHED = mpmath.mpf("1e-40")           # at 100 digits, equal values agree this closely
SAMPLES = np.linspace(-3.0, 3.0, 9)


class Agreement(str, Enum):
    EQUAL = "equal"
    SIGMOID_ONLY = "sigmoid-only"   # equal on every sigmoid instance, not on the others
    DIFFERENT = "different"
    NOT_FINITE = "not-finite"       # the answer has no finite value somewhere


@dataclass(frozen=True)
class NumericOutcome:
    agreement: Agreement
    ratio: float | None = None     # answer / target when it is one constant everywhere


class PartChecker:
    """Everything needed to check answers to one part; build once per process and reuse."""

    def __init__(self, problem: Problem, part: Part, seed: int = 446):
        self.problem, self.part = problem, part
        network = problem.network
        activations = ([part.activation] * 3 if part.activation
                       else [*ACTIVATIONS, "sigmoid"])
        self.activations = activations
        self.instances = []
        for n, activation in enumerate(activations):
            rng = np.random.default_rng(seed + n)
            variables = {v: SAMPLES + rng.uniform(-0.2, 0.2, SAMPLES.size)
                         for v in part.variables}
            self.instances.append(network.numeric(seed + 100 * n, activation,
                                                  variables=variables))
        self._symbolic: dict[str, Evaluator] = {}
        self._precise: dict[tuple[int, int], Evaluator] = {}
        # The part's own expressions (the reference, the known mistakes) are evaluated once,
        # like a parsed reference: every answer is compared with them.
        self._pinned: dict[Expr, list[Tensor]] = {}
        self._pinned_symbolic: dict[tuple[str, Expr], Tensor] = {}
        for expr in (part.reference_expr, *(m.expr for m in part.mistakes)):
            try:
                self._pinned[expr] = self.values(expr)
            except EvaluationError:
                pass

    # ------------------------------------------------------------------ numeric
    def values(self, expr: Expr) -> list[Tensor]:
        pinned = self._pinned.get(expr)
        if pinned is not None:
            return pinned
        with np.errstate(all="ignore"):
            return [self.value(instance, expr) for instance in self.instances]

    def value(self, instance: Evaluator, expr: Expr) -> Tensor:
        """``expr`` on one instance, 0 where the part does not ask it (``where = "t < T"``)."""
        value = instance.value(expr)
        if self.part.where is None or self.part.where[0] not in value.axes:
            return value
        letter, op, bound = self.part.where
        values = instance.letter_values(value.axes)
        asked = _COMPARE[op](values(letter), bound_values(bound, values, instance.size_value))
        zero = np.asarray(instance.backend.number(Fraction(0)), dtype=value.array.dtype)
        return Tensor(np.where(asked, value.array, zero), value.axes)

    def numeric(self, answer: Expr, target: Expr) -> NumericOutcome:
        """Compare on every instance; both must have the same free indices."""
        same, ratios, finite = [], [], True
        with np.errstate(all="ignore"):
            for a, t in zip(self.values(answer), self.values(target)):
                if not _comparable(a, t):  # a row for a column, a C x H for an H x C
                    same.append(False)
                    continue
                _, a_arr, t_arr = _broadcast(a, t)
                if not np.all(np.isfinite(a_arr)):
                    finite = False
                close = _close(a_arr, t_arr)
                same.append(bool(np.all(close)))
                mask = np.abs(t_arr) > 1e-6
                ratios.append(a_arr[mask] / t_arr[mask])
        if all(same):
            return NumericOutcome(Agreement.EQUAL)
        if not finite:
            return NumericOutcome(Agreement.NOT_FINITE)
        ratio = None
        joined = np.concatenate([r.ravel() for r in ratios]) if ratios else np.array([])
        if joined.size and np.all(np.abs(joined - joined[0]) <= 1e-6 * abs(joined[0]) + 1e-12):
            ratio = float(joined[0])
        sigmoid = [s for s, act in zip(same, self.activations) if act == "sigmoid"]
        others = [s for s, act in zip(same, self.activations) if act != "sigmoid"]
        if sigmoid and others and all(sigmoid) and not all(others):
            return NumericOutcome(Agreement.SIGMOID_ONLY, ratio)
        return NumericOutcome(Agreement.DIFFERENT, ratio)

    def missing_entry(self, answer: Expr) -> Expr | None:
        """A part of the answer that has no value on some network where the part is asked:
        a step or unit past the end (``\\delta_{T+1}``, a sum up to ``T+1``), else None."""
        candidates = [node for node in answer.walk()
                      if (isinstance(node, Sample) and node.step)
                      or (isinstance(node, Ref) and any(is_compound(i) for i in node.indices))
                      or (isinstance(node, Sum) and node.lower)]
        with np.errstate(all="ignore"):
            for node in candidates:
                for instance in self.instances:
                    try:
                        value = self.value(instance, node)
                    except EvaluationError:
                        continue
                    if value.array.dtype != object and np.isnan(value.array).any():
                        return node
        return None

    def recheck(self, answer: Expr, target: Expr, everywhere: bool = False) -> Agreement | None:
        """Settle a difference the float network sees, with exact-enough arithmetic.

        Every instance where the floats differ is evaluated again from the same random values
        with mpmath, at 50 and at 100 digits. A real difference is the same at both precisions:
        it proves the expressions differ (``DIFFERENT``), with no symbolic work. Rounding noise
        (a huge power minus its expansion) vanishes at 100 digits: if that is all there was,
        the two are ``EQUAL`` on the network. None when it cannot be settled (a division by
        zero, a complex logarithm, a difference that is neither). ``everywhere`` looks at every
        value, not only where the floats differ: a difference below the float tolerance
        (an added 10^{-9}) shows there.
        """
        settled = Agreement.EQUAL
        with np.errstate(all="ignore"):
            for n, (a, t) in enumerate(zip(self.values(answer), self.values(target))):
                if not _comparable(a, t):
                    return Agreement.DIFFERENT
                _, a_arr, t_arr = _broadcast(a, t)
                apart = np.ones(a_arr.shape, bool) if everywhere else ~_close(a_arr, t_arr)
                if not apart.any():
                    continue
                try:
                    found = self._precise_agreement(n, answer, target, apart)
                except (ArithmeticError, ValueError, TypeError, EvaluationError):
                    return None
                if found is not Agreement.EQUAL:
                    return found
        return settled

    def confirmed_different(self, answer: Expr, target: Expr) -> bool:
        """Whether the float network's difference is real (see ``recheck``)."""
        return self.recheck(answer, target) is Agreement.DIFFERENT

    def _differences(self, n: int, answer: Expr, target: Expr, apart: np.ndarray,
                     digits: int) -> list:
        with mpmath.workdps(digits):
            key = (n, digits)
            if key not in self._precise:
                self._precise[key] = self.problem.network.precise(self.instances[n], digits)
            instance = self._precise[key]
            _, a_arr, t_arr = _broadcast(self.value(instance, answer),
                                         self.value(instance, target), object)
            out: list = []
            for position in zip(*np.nonzero(apart)):
                a, t = a_arr[position], t_arr[position]
                if isinstance(a, mpmath.mpc) or isinstance(t, mpmath.mpc):
                    out.append(None)  # a complex value (the log of a negative): no proof
                else:
                    out.append(mpmath.mpf(a) - mpmath.mpf(t))
            return out

    def _precise_agreement(self, n: int, answer: Expr, target: Expr,
                           apart: np.ndarray) -> Agreement | None:
        low = self._differences(n, answer, target, apart, PRECISE_DIGITS)
        high = self._differences(n, answer, target, apart, 2 * PRECISE_DIGITS)
        equal = True
        with mpmath.workdps(2 * PRECISE_DIGITS):
            for d_low, d_high in zip(low, high):
                if d_low is None or d_high is None or not mpmath.isfinite(d_high):
                    return None
                if abs(d_high) > STABLE_DIFFERENCE and \
                        abs(d_low - d_high) <= mpmath.mpf("1e-9") * abs(d_high):
                    return Agreement.DIFFERENT
                if abs(d_high) > VANISHED:
                    equal = False
        return Agreement.EQUAL if equal else None

    def first_difference(self, before: Expr, after: Expr):
        """(activation, {index: value}, before's value, after's value) where they first differ."""
        with np.errstate(all="ignore"):
            for n, (b, a) in enumerate(zip(self.values(before), self.values(after))):
                if not _comparable(a, b):
                    return None
                axes, a_arr, b_arr = _broadcast(a, b)
                close = _close(a_arr, b_arr)
                if np.all(close):
                    continue
                position = np.unravel_index(int(np.argmin(close)), close.shape)
                where = {}
                for axis, i in zip(axes, position):
                    if axis.startswith("#"):  # the sample points of the part's variable
                        variable = self.part.variables[0]
                        samples = self.instances[n].variables[variable].array
                        where[variable] = round(float(samples[i]), 4)
                    else:
                        where[axis] = int(i) + 1
                return (self.activations[n], where, float(b_arr[position]),
                        float(a_arr[position]))
        return None

    def fingerprint(self, expr: Expr) -> str:
        """A short hash of the answer's values on every instance: equal values, equal hash.

        Answers that are the same mathematics in different notation share a fingerprint, so a
        class's wrong answers can be grouped by what they mean rather than how they look.
        """
        digest = hashlib.sha1()
        with np.errstate(all="ignore"):
            for value in self.values(expr):
                axes = tuple(sorted(value.axes))
                array = np.asarray(value.aligned(axes), dtype=float)
                array = np.broadcast_to(array, tuple(
                    value.sizes().get(a, 1) for a in axes))
                digest.update(repr((axes, array.shape)).encode())
                rounded = np.round(array, 6) + 0.0  # six decimals; -0.0 and 0.0 alike
                digest.update(np.ascontiguousarray(rounded).tobytes())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ symbolic
    def symbolic_instance(self, activation: str):
        if activation not in self._symbolic:
            self._symbolic[activation] = self.problem.network.symbolic(
                activation, variables=self.part.variables)
        return self._symbolic[activation]

    def symbolic(self, answer: Expr, target: Expr, activation: str | None = None,
                 expect_equal: bool = True) -> bool:
        """Whether SymPy proves answer - target == 0 (with g generic unless told otherwise).

        ``expect_equal`` is the numeric check's opinion: only then are the slower
        simplifications tried (a difference the numeric check saw is not worth proving zero).
        """
        activation = activation or self.part.activation or "generic"
        instance = self.symbolic_instance(activation)
        if target in self._pinned:  # the reference's symbolic value is worked out once
            key = (activation, target)
            if key not in self._pinned_symbolic:
                self._pinned_symbolic[key] = self.value(instance, target)
            target_value = self._pinned_symbolic[key]
        else:
            target_value = self.value(instance, target)
        answer_value = self.value(instance, answer)
        if not _comparable(answer_value, target_value):
            return False
        difference = combine(np.subtract, answer_value, target_value)
        return all(_is_zero(d, expect_equal) for d in difference.array.flat)


def _comparable(a: Tensor, t: Tensor) -> bool:
    """Whether two values can be compared entry by entry: the same rows and columns (for
    vector-matrix answers) and the same size for every index they share."""
    if {x for x in a.axes if x in (ROW, COL)} != {x for x in t.axes if x in (ROW, COL)}:
        return False
    a_sizes, t_sizes = a.sizes(), t.sizes()
    return all(a_sizes[x] == t_sizes[x] for x in a_sizes if x in t_sizes)


def _broadcast(a: Tensor, t: Tensor, dtype=float) -> tuple[tuple[str, ...], np.ndarray,
                                                              np.ndarray]:
    """Both values as arrays over the same axes (t's first)."""
    axes = t.axes + tuple(x for x in a.axes if x not in t.axes)
    a_arr, t_arr = np.broadcast_arrays(a.aligned(axes).astype(dtype),
                                       t.aligned(axes).astype(dtype))
    return axes, a_arr, t_arr


def _close(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Where ``a`` equals the target ``t`` up to the numeric check's tolerance."""
    return np.abs(a - t) <= RTOL * np.maximum(1.0, np.abs(t)) + ATOL


TRANSCENDENTAL = (sympy.exp, sympy.log, sympy.tanh, sympy.atan, sympy.sin, sympy.cos,
                  sympy.cosh, sympy.sinh, sympy.sech)


def _is_zero(expr, thorough: bool) -> bool:
    """Whether SymPy proves ``expr == 0``.

    Polynomials in the network's symbols and g(...), g'(...) are settled by expansion. With
    exponentials (the sigmoid written out), each exp(...) becomes a new symbol, innermost first
    and ``exp(-u)`` as ``1/exp(u)``, which leaves a rational function: it is zero exactly when
    its cancelled form is. That is complete for these expressions and far faster than
    ``simplify``, which can take a minute on a sigmoid network's gradients.
    """
    if isinstance(expr, (int, float)):  # a plain number (an identity matrix's entry)
        return expr == 0
    if expr.has(sympy.Heaviside):
        cases = _step_cases(expr)
        return cases is not None and all(_is_zero(case, thorough) for case in cases)
    if not expr.has(*TRANSCENDENTAL):
        expanded = sympy.expand(expr)
        if expanded == 0:
            return True
        return thorough and sympy.cancel(sympy.together(expanded)) == 0
    if sympy.expand(_calls_as_symbols(expr)) == 0:
        return True  # zero whatever tanh(u), exp(u) are: no identity of theirs is needed
    rational = _exponentials_as_symbols(expr.rewrite(sympy.exp))
    if rational.has(*TRANSCENDENTAL):  # a logarithm or an angle is left: no shortcut
        return thorough and sympy.simplify(expr) == 0
    return sympy.cancel(sympy.together(rational)) == 0


def _calls_as_symbols(expr):
    """``expr`` with each application of a transcendental function, innermost first, made a
    symbol of its own (one per distinct application). A polynomial in those symbols that
    expands to zero is zero for any values they take, so ``expr`` is zero: a sound and quick
    proof for the nested tanh of a recurrence, where rewriting in exponentials swells."""
    symbols: dict = {}
    seen: dict = {}

    def opaque(node):
        if node in seen:
            return seen[node]
        out = node
        if node.args:
            out = node.func(*[opaque(arg) for arg in node.args])
            if isinstance(out, TRANSCENDENTAL):
                out = symbols.setdefault(out, sympy.Dummy())
        seen[node] = out
        return out

    return opaque(expr)


MAX_STEPS = 6  # distinct steps H(u) in one difference: 2^6 cases at most


def _step_cases(expr):
    """``expr`` with each Heaviside step H(u) set to 0 and to 1, in every combination.

    A ReLU is x H(x) and its slope H(x) (``grader.network``), so a difference with steps is zero
    almost everywhere exactly when each case, an expression without steps, is zero: on each
    region where the steps are constant the difference is one of the cases, and a case that
    is zero on an open region is zero everywhere. Steps are first brought to one form per
    argument (H(2u) is H(u), H(-u) is 1 - H(u)), so H(u) and H(-u) are not two free cases.
    The innermost steps are set first and the same step keeps its value everywhere, so a step
    of a ReLU's output, H(z H(z)), is H(z) when H(z) = 1 and H(0) = 0 when H(z) = 0. A
    combination no region has (both H(u) and H(u + 1) zero with u > 0) may make a true
    identity unprovable, never a false one proven: the grader then asks a TA. None when there
    are too many steps to try.
    """
    cases: list = []

    def split(current, assigned: dict) -> bool:
        while True:  # setting an inner step can make an outer one equal to a set step
            settled = current.replace(lambda node: isinstance(node, sympy.Heaviside),
                                      _one_step_form).xreplace(assigned)
            if settled == current:
                break
            current = settled
        inner = sorted((step for step in current.atoms(sympy.Heaviside)
                        if not step.args[0].has(sympy.Heaviside)), key=sympy.default_sort_key)
        if not inner:
            cases.append(current)
            return len(cases) <= 2 ** MAX_STEPS
        step = inner[0]
        return all(split(current, {**assigned, step: sympy.Integer(value)})
                   for value in (0, 1))

    return cases if split(expr, {}) else None


def _one_step_form(step):
    """H(c u) with c > 0 is H(u); H(-u) is 1 - H(u) (equal but at u = 0); H(0) is 0."""
    argument = step.args[0]
    if argument.is_zero:
        return sympy.Integer(0)
    coefficient, rest = argument.as_coeff_Mul()
    if coefficient.is_number and coefficient.is_positive and rest != 1:
        argument = rest
    elif coefficient.is_number and coefficient.is_negative and rest != 1:
        return 1 - sympy.Heaviside(-coefficient * rest, 0)
    if argument.could_extract_minus_sign():
        return 1 - sympy.Heaviside(-argument, 0)
    return sympy.Heaviside(argument, 0)


def _exponentials_as_symbols(expr):
    """Replace every exp(c*u + ...) by a product of powers of fresh symbols, one per term u."""
    symbols: dict = {}

    def symbol_for(term):
        if term not in symbols:
            symbols[term] = sympy.Dummy(f"E{len(symbols)}", positive=True)
        return symbols[term]

    def replace(node):
        if not node.args:
            return node
        node = node.func(*(replace(arg) for arg in node.args))
        if node.func is not sympy.exp:
            return node
        factor = sympy.Integer(1)
        for term in sympy.Add.make_args(sympy.expand(node.args[0])):
            coefficient, rest = term.as_coeff_Mul()
            if rest == 1:
                factor *= sympy.exp(coefficient)
            else:
                factor *= symbol_for(rest) ** coefficient
        return factor

    return replace(expr)


# ---------------------------------------------------------------------- circular answers

def derivative_key(node: Expr, problem: Problem, part: Part) -> str | None:
    """A canonical name for a derivative written in any notation, else None.

    ``\\frac{\\partial E}{\\partial h_k}``, ``\\delta_k`` and, for part (a), ``g'(x)``,
    ``\\sigma'(x)`` and ``\\frac{d}{dx}\\sigma(x)`` each name one derivative; an answer that
    contains the asked one restates the question.
    """
    network = problem.network
    if isinstance(node, Deriv):
        return f"d[{_canonical(node.of, problem, part)}]/d[{_canonical(node.wrt, problem, part)}]"
    if isinstance(node, Ref) and network.dims is not None and not node.indices \
            and node.name in network.dims.signals \
            and not (network.dims.steps and node.name in network.dims.per_sample):
        # a signal vector: dL/ds as written (a per-step one is named with its step, above)
        return derivative_key(network.dims.signals[node.name], problem, part)
    if isinstance(node, Sample) and network.dims is not None \
            and node.arg.name in network.dims.signals and network.dims.samples:
        # \delta_T, \delta_{t+1}: the signal at that step (dL/dh_T, dL/dh_{t+1})
        at_step = rename_indices(network.dims.signals[node.arg.name],
                                 {network.dims.samples: node.index})
        return derivative_key(at_step, problem, part)
    if isinstance(node, Ref) and network.is_signal(node.name):
        slots, definition = network.signals[node.name]
        renamed = rename_indices(definition, dict(zip(slots, node.indices)))
        return derivative_key(renamed, problem, part)
    if isinstance(node, Call) and node.order >= 1:
        inner = Call(node.func, node.order - 1, node.arg)
        return f"d[{_canonical(inner, problem, part)}]/d[{_canonical(node.arg, problem, part)}]"
    return None


def _canonical(expr: Expr, problem: Problem, part: Part) -> str:
    """LaTeX of ``expr`` with the part's fixed activation written as the generic one."""
    activation = problem.network.activation

    def same_function(node: Expr) -> Expr:
        if isinstance(node, Call) and part.activation == "sigmoid" and node.func == "sigma":
            return Call(activation, node.order, same_function(node.arg))
        return map_children(node, same_function)

    return to_latex(same_function(expr))


def restates_question(answer: Expr, problem: Problem, part: Part) -> bool:
    """Whether the answer contains the very derivative the part asks for."""
    asked = derivative_key(part.asks_expr, problem, part)
    if asked is None:
        return False
    return any(derivative_key(node, problem, part) == asked for node in answer.walk())


def unevaluated_derivatives(answer: Expr, problem: Problem) -> list[Deriv]:
    """Derivatives the answer leaves standing, other than a named signal written out.

    ``\\frac{\\partial E}{\\partial h_k}`` is \\delta_k by definition and
    ``\\frac{d g(h_k)}{d h_k}`` is g'(h_k), so they may stand; the chain rule written out but not
    worked out (``\\frac{\\partial h_k}{\\partial w_{jk}}``) may not.
    """
    return [node for node in answer.walk()
            if isinstance(node, Deriv) and not _is_signal_definition(node, problem)
            and not _is_prime(node)]


def _is_prime(node: Deriv) -> bool:
    """``\\frac{d g(h_k)}{d h_k}``: a function's derivative at its argument, g'(h_k) written out."""
    return isinstance(node.of, Call) and node.of.arg == node.wrt


def _is_signal_definition(node: Deriv, problem: Problem) -> bool:
    dims = problem.network.dims
    if dims is not None and node in dims.signals.values():  # dL/ds, the signal delta_2
        return True
    if dims is not None and dims.steps and dims.samples and isinstance(node.wrt, Sample):
        at_step = {dims.samples: node.wrt.index}  # dL/dh_{t+1}: the signal delta_{t+1}
        if any(rename_indices(signal, at_step) == node for signal in dims.signals.values()):
            return True
    for _slots, definition in problem.network.signals.values():
        wrt = definition.wrt
        if isinstance(node.wrt, Ref) and isinstance(wrt, Ref) and node.wrt.name == wrt.name:
            renamed = rename_indices(definition, dict(zip(wrt.indices, node.wrt.indices)))
            if isinstance(renamed, Deriv) and renamed.of == node.of and renamed.wrt == node.wrt:
                return True
    return False
