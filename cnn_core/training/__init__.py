"""Training a run in the worker process: the loop, the worker, resources, strategies, caches."""
