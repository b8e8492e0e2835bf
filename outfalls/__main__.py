"""``python -m outfalls`` runs the command line."""

from outfalls.cli import main

main()
