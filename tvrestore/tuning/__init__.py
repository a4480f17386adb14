"""tvrestore.tuning."""
