"""Helpers of the pages, not pages: cached loading, shared widgets, the Concepts tab.

Streamlit's legacy multipage mode lists only ``pages/*.py``, so nothing in this
sub-package can ever show up as a page (tests/test_navigation.py checks it).
"""
