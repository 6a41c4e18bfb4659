"""Datasets and sealing: reading eval cases and verifying them against prodgate.lock."""
