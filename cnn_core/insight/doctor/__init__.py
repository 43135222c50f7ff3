"""The training doctor: what went wrong in a run, the numbers that show it, and what to try."""
