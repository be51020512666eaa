"""``python -m segmint.cli``: the same as the ``segmint`` command."""

from segmint.cli import main

main()
