"""The prodgate command: work on saved reports without pytest."""
