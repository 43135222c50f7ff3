"""Leaf modules of every stage: user-facing errors, TensorFlow start-up, digests, upload limits."""
