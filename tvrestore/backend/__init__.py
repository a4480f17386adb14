"""tvrestore.backend."""
