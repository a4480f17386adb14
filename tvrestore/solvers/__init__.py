"""tvrestore.solvers."""
