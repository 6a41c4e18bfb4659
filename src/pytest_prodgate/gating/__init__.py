"""Gating: from case records and settings to verdicts (the only place that decides)."""
