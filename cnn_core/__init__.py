"""CNN Studio compute core: datasets, models, training, run store, inspection.

Nothing in this package imports streamlit (a test enforces it), and importing
it does not import TensorFlow: modules that need TensorFlow import it inside
the functions that use it, so the Home page renders in well under a second.
"""
