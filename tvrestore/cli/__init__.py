"""tvrestore.cli."""
