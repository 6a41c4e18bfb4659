"""Measuring: the model wrapper, per-case recording, the load runner and drills."""
