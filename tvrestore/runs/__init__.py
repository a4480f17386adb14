"""tvrestore.runs."""
