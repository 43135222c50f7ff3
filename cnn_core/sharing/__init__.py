"""Moving runs elsewhere: bundles (a run as one zip) and model exports (TensorFlow Lite)."""
