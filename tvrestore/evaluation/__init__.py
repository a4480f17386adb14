"""tvrestore.evaluation."""
