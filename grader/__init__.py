"""Grades LaTeX derivation homework against a live network, numerically and symbolically."""
