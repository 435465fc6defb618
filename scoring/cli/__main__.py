"""``python -m scoring.cli``: the command line."""

from scoring.cli import app

app()
