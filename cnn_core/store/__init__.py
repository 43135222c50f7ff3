"""The run store: run folders on disk, their listing, and who may read or change them."""
