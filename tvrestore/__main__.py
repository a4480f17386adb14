"""``python -m tvrestore`` runs the command line."""

from tvrestore.cli.app import main

main()
