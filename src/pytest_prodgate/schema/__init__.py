"""The report schema (SPEC §8): what a run writes and what tools read."""
