"""tvrestore.bench."""
