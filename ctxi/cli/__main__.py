"""``python -m ctxi.cli``: the console script, as the tests and the bench start workers."""

from ctxi.cli import main

main()
