"""How a case's outcome is classified (plugin/outcomes.py)."""

from __future__ import annotations

import json

import pytest


def test_model_exception_whose_str_raises_is_a_model_error(pytester: pytest.Pytester) -> None:
    """No INTERNALERROR: the case is a model error with a placeholder message (issue 11)."""
    pytester.makepyfile(
        test_unprintable="""
        import pytest
        from pytest_prodgate import Model

        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no str for you")

        def boom(x):
            raise Unprintable()

        model = Model(boom)

        @pytest.mark.prodgate(accuracy_floor=0.5)
        def test_case():
            model("q")
        """
    )
    result = pytester.runpytest("--prodgate", "--prodgate-report=r.json", "-p", "no:xdist")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert result.parseoutcomes().get("missed") == 1
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    (trial,) = report["suites"][0]["cases"][0]["trials"]
    assert trial["outcome"] == "model_error"
    assert trial["error"] == "Unprintable"
    assert trial["reason"] == "model error: Unprintable: <unprintable exception>"
    assert trial["calls"][0]["error_message"] == "<unprintable Unprintable>"
