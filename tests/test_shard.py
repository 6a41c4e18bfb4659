"""``--prodgate-shard=K/N``: which cases a shard runs, what it reports, and bad values."""

from __future__ import annotations

import pytest

from pytest_prodgate.plugin.shard import collected_digest, shard_of

from conftest import RunFn, read_report

SUITE = """
import pytest

@pytest.mark.prodgate("qa", accuracy_floor={floor}, trials=2)
@pytest.mark.parametrize("q", {ids!r})
def test_qa(prodgate_model, q):
    assert prodgate_model(q) == q

def test_ordinary():
    pass
"""
IDS = [f"q{i}" for i in range(24)]


def _cases(report: dict[str, object]) -> dict[str, int]:
    """Case id -> number of trials, over every suite of a report."""
    return {
        c["id"]: len(c["trials"])
        for s in report["suites"]  # type: ignore[attr-defined]
        for c in s["cases"]
    }


def test_shard_of_is_a_fixed_hash_of_suite_and_case_id() -> None:
    # Recorded once: a change of the hash would move cases between shards
    # of runs made by different versions.
    assert [shard_of("qa", f"q{i}", 3) for i in range(8)] == [
        shard_of("qa", f"q{i}", 3) for i in reversed(range(8))
    ][::-1]
    assert shard_of("qa", "q1", 1) == 1
    assert all(1 <= shard_of("s", str(i), 5) <= 5 for i in range(200))
    # the suite is part of the key: one id lands in different shards in different suites
    assert len({shard_of(f"suite{j}", "q1", 4) for j in range(20)}) > 1
    counts = [0, 0, 0]
    for i in range(3000):
        counts[shard_of("qa", f"case-{i}", 3) - 1] += 1
    assert all(900 < n < 1100 for n in counts), counts


def test_collected_digest_ignores_order() -> None:
    keys = {("qa", "t.py::test", f"q{i}") for i in range(5)}
    assert collected_digest(keys) == collected_digest(set(sorted(keys, reverse=True)))
    assert collected_digest(keys) != collected_digest(keys - {("qa", "t.py::test", "q0")})


@pytest.mark.xdist_modes
def test_shards_partition_the_cases_and_keep_trials_together(
    run: RunFn, project: pytest.Pytester, xdist_args: list[str]
) -> None:
    project.makepyfile(test_suite=SUITE.format(floor=0.5, ids=IDS))
    single = run("--prodgate", "--prodgate-model=mymodel:echo", "--prodgate-report=all.json")
    assert single.ret == 0
    seen: dict[str, int] = {}
    for k in (1, 2, 3):
        result = run(
            "--prodgate",
            "--prodgate-model=mymodel:echo",
            f"--prodgate-shard={k}/3",
            f"--prodgate-report=s{k}.json",
        )
        assert result.ret == 0, result.stdout.str()
        report = read_report(project.path / f"s{k}.json")
        cases = _cases(report)
        assert cases, f"shard {k} got no case"
        assert not set(cases) & set(seen)
        seen.update(cases)
        assert set(cases) == {q for q in IDS if shard_of("qa", q, 3) == k}
        shard = report["run"]["shard"]
        assert (shard["index"], shard["total"], shard["collected"]) == (k, 3, len(IDS))
        assert shard["assigned"] == len(cases)
        # ordinary tests run in every shard; the other eval cases are deselected
        # (by each xdist worker: the controller's summary does not count those)
        outcomes = result.parseoutcomes()
        assert outcomes["passed"] == 2 * len(cases) + 1
        if xdist_args != ["-n", "2"]:
            assert outcomes["deselected"] == 2 * (len(IDS) - len(cases))
    assert seen == _cases(read_report(project.path / "all.json"))
    assert set(seen.values()) == {2}


def test_shard_assignment_does_not_depend_on_the_other_cases(project: pytest.Pytester) -> None:
    args = ("-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo")
    project.makepyfile(test_suite=SUITE.format(floor=0.5, ids=IDS))
    project.runpytest(*args, "--prodgate-shard=2/3", "--prodgate-report=a.json")
    fewer = [*list(reversed(IDS[5:])), "extra1", "extra2"]
    project.makepyfile(test_suite=SUITE.format(floor=0.5, ids=fewer))
    project.runpytest(*args, "--prodgate-shard=2/3", "--prodgate-report=b.json")
    a, b = (set(_cases(read_report(project.path / f))) for f in ("a.json", "b.json"))
    assert a & set(fewer) == b - {"extra1", "extra2"}


def test_a_shard_reports_shard_verdicts_and_never_fails_on_a_gate(
    project: pytest.Pytester,
) -> None:
    misses = [f"miss{i}" for i in range(12)]
    project.makepyfile(test_suite=SUITE.format(floor=0.99, ids=misses))
    args = ("-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:upper")
    unsharded = project.runpytest(*args)
    assert unsharded.ret == 1  # the floor fails the run ...
    for k in (1, 2):
        result = project.runpytest(*args, f"--prodgate-shard={k}/2", f"--prodgate-report=s{k}.json")
        assert result.ret == 0, result.stdout.str()  # ... but not a shard
        result.stdout.fnmatch_lines(
            [
                "qa*accuracy_floor*SHARD",
                "qa accuracy_floor SHARD: shard */2: measured on this shard's cases only*",
            ]
        )
        report = read_report(project.path / f"s{k}.json")
        assert report["verdict"] == "SHARD"
        assert report["fails_run"] is False
        gate = report["suites"][0]["gates"][0]
        assert gate["estimate"] == 0.0  # the figures are still measured
        assert (gate["verdict"], gate["fails_run"]) == ("SHARD", False)


def test_the_shard_may_come_from_the_ini_key(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE.format(floor=0.5, ids=IDS[:4]))
    args = ("-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo")
    result = project.runpytest(*args, "-o", "prodgate_shard=1/2")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["qa*accuracy_floor*SHARD"])
    bad = project.runpytest(*args, "-o", "prodgate_shard=3/2")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: prodgate: prodgate_shard*3/2*K must be between 1 and N=2*"])


def test_a_shard_still_fails_on_a_failing_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite=SUITE.format(floor=0.5, ids=IDS[:4]) + "\ndef test_broken():\n    assert 0\n"
    )
    result = project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        "--prodgate-shard=1/2",
    )  # fmt: skip
    assert result.ret == 1
    assert result.parseoutcomes()["failed"] == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0/3", "--prodgate-shard='0/3': Value error, K must be between 1 and N=3, not 0"),
        ("4/3", "--prodgate-shard='4/3': Value error, K must be between 1 and N=3, not 4"),
        ("abc", "--prodgate-shard='abc': Value error, expected K/N, two whole numbers*"),
        ("1/0", "--prodgate-shard='1/0': Value error, N must be at least 1, not 0"),
        ("-1/3", "--prodgate-shard='-1/3': Value error, expected K/N*"),
    ],
)
def test_bad_shard_value_is_a_usage_error_before_any_case_runs(
    project: pytest.Pytester, value: str, message: str
) -> None:
    project.makepyfile(
        test_suite=SUITE.format(floor=0.5, ids=IDS[:3]),
        conftest="def pytest_runtest_setup(item):\n    raise SystemExit('a case ran')\n",
    )
    result = project.runpytest(
        "-p", "no:cacheprovider", "--prodgate", "--prodgate-model=mymodel:echo",
        f"--prodgate-shard={value}",
    )  # fmt: skip
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message}"])
    assert "a case ran" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_shard_with_lock_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE.format(floor=0.5, ids=IDS[:3]))
    result = project.runpytest("-p", "no:cacheprovider", "--prodgate-lock", "--prodgate-shard=1/2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: prodgate: --prodgate-shard with --prodgate-lock: *"])
