"""Reading trained runs: predictions, inspection, concepts, embeddings, the doctor, comparisons."""
