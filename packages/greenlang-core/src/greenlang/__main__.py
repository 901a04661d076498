"""``python -m greenlang`` runs the CLI."""

from greenlang.cli import main

main()
