"""Output: renderings of a run report (terminal, Markdown, JUnit, JSON)."""
