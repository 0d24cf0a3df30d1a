"""``python -m grader`` runs the command line."""

from .cli import main

main()
