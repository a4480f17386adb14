"""``python -m tvrestore`` runs the command line."""

from tvrestore.cli import main

main()
