"""Comparing runs: which runs are shown, partner models, seed groups, the side-by-side
table, overlaid curves, and two runs image by image."""
