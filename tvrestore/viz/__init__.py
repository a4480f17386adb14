"""tvrestore.viz."""
