"""Case ids and trials of eval-case items (plugin/items.py)."""

from __future__ import annotations

import pytest


def test_case_ids_leave_out_the_trial_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ids="""
        import pytest
        pytestmark = pytest.mark.prodgate(accuracy_floor=0.5, trials=2)

        @pytest.mark.parametrize("b", ["p-q", "trial0"])
        @pytest.mark.parametrize("a", [1])
        def test_x(a, b, prodgate_case):
            print("CASEID", prodgate_case.id, "TRIAL", prodgate_case.suite)

        def test_y(prodgate_case, prodgate_trial):
            print("CASEID", prodgate_case.id, "TRIAL", prodgate_trial)
        """
    )
    result = pytester.runpytest("--prodgate", "-s", "-v", "-p", "no:xdist")
    result.stdout.fnmatch_lines(
        [
            "test_ids.py::test_x[[]trial0-1-p-q[]] CASEID 1-p-q *",
            "test_ids.py::test_x[[]trial0-1-trial0[]] CASEID 1-trial0 *",
            "test_ids.py::test_x[[]trial1-1-p-q[]] CASEID 1-p-q *",
            "test_ids.py::test_x[[]trial1-1-trial0[]] CASEID 1-trial0 *",
            "test_ids.py::test_y[[]trial0[]] CASEID test_ids.py::test_y TRIAL 0*",
            "test_ids.py::test_y[[]trial1[]] CASEID test_ids.py::test_y TRIAL 1*",
        ]
    )
