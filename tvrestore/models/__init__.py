"""tvrestore.models."""
