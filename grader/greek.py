"""The Greek letters, once: their LaTeX command names and the Unicode characters for them.

``LETTERS`` maps a command's name (``sigma`` for ``\\sigma``) to its character; the reader
knows these names, the notation reads these characters (and ``VARIANTS``, other characters for
the same letter), and the printers write them back.
"""

from __future__ import annotations

LETTERS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "varrho": "ϱ",
    "sigma": "σ", "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "ϕ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ",
    "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
NAMES = frozenset(LETTERS)
# Characters read as a letter: each letter's own, and variants students paste for it.
VARIANTS = {"ϵ": "epsilon", "µ": "mu", "ϱ": "rho", "ς": "sigma", "ϑ": "theta", "ϕ": "phi",
            "∆": "Delta"}
BY_CHARACTER = {char: name for name, char in LETTERS.items()
                if not name.startswith("var")} | VARIANTS
