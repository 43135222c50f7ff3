"""The typed vocabulary of every stage: what to train (config), what a run stores (records)."""
