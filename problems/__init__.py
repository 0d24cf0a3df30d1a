"""The example problem specs (*.toml), installed as the package ``grader.problems``.

This file only marks the folder as a package, so that ``importlib.resources`` finds the specs
in a built wheel and in an editable install; see ``[tool.setuptools]`` in pyproject.toml.
"""
