"""Misuse gets one precise line naming the test, option, key or file: never an INTERNALERROR."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import RunFn

#: A value shaped like an API key, pasted where a number belongs.
SECRET = "sk-live-Abcdef1234567890"


def _no_crash(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert "Traceback (most recent call last)" not in text


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'prodgate("qa", acuracy_floor=0.9)',
            "unknown keyword 'acuracy_floor' (did you mean 'accuracy_floor'?)",
        ),
        (
            "prodgate(accuracy_floor=1.5)",
            "accuracy_floor=1.5: Input should be less than or equal to 1",
        ),
        (
            "prodgate(accuracy_floor='high')",
            "accuracy_floor='high': Input should be a valid number",
        ),
        (
            "prodgate(cost_per_call_usd=-0.01)",
            "cost_per_call_usd=-0.01: Input should be greater than or equal to 0",
        ),
        ("prodgate(trials=0)", "trials=0: Input should be greater than or equal to 1"),
        ('prodgate("a", "b")', "takes at most one positional argument (the suite name), got 2"),
        ('prodgate("a", suite="b")', "the suite is named twice: 'a' and suite='b'"),
        ("prodgate(suite=3)", "the suite name must be a non-empty string, got 3"),
        (
            "prodgate(slice_floors={'lang:de': 2})",
            "slice_floors[[]'lang:de'[]]=2: Input should be less than or equal to 1",
        ),
        # Values that cannot be printed, or hold a secret (SPEC §18), still name the keyword.
        ("prodgate(accuracy_floor=Unprintable())", "accuracy_floor=<unprintable Unprintable>: *"),
        ("prodgate(slice_floors={'de': Unprintable()})", "slice_floors[[]'de'[]]=<unprintable *"),
        ("prodgate(slice_floors=Unreadable(de=0.5))", "slice_floors=*valid mapping*"),
        (
            f"prodgate(accuracy_floor='{SECRET}')",
            "accuracy_floor='[[]REDACTED[]]': Input should be*",
        ),
        (f"prodgate('{SECRET}', 'b')", "takes at most one *got 2: '[[]REDACTED[]]', 'b'"),
    ],
)
def test_bad_marker_is_an_error_naming_test_and_keyword(
    run: RunFn, project: pytest.Pytester, marker: str, message: str
) -> None:
    project.makepyfile(
        test_suite=f"""
        import pytest

        class Unprintable:
            def __repr__(self):
                raise RuntimeError("no repr")

        class Unreadable(dict):
            def items(self):
                raise RuntimeError("no items")

            __iter__ = keys = items

        @pytest.mark.{marker}
        @pytest.mark.parametrize("i", range(3))
        def test_case(prodgate_model, i):
            prodgate_model(i)

        def test_ordinary():
            pass
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines([f"*test_suite.py::test_case[[]0[]]: prodgate marker: {message}*"])
    assert SECRET not in result.stdout.str() + result.stderr.str()
    _no_crash(result)


def test_the_suite_may_be_named_by_keyword(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(suite="named", accuracy_floor=0.1)
        @pytest.mark.parametrize("i", range(3))
        def test_case(prodgate_model, i):
            prodgate_model(i)
        """
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["named *accuracy_floor*PASS*"])
    _no_crash(result)


@pytest.mark.xdist_modes
def test_conflicting_targets_in_one_suite_name_both_places(
    run: RunFn, project: pytest.Pytester
) -> None:
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.prodgate("shared", accuracy_floor=0.9)
        def test_a(prodgate_model):
            prodgate_model(1)
        """,
        test_b="""
        import pytest

        @pytest.mark.prodgate("shared", accuracy_floor=0.8)
        def test_b(prodgate_model):
            prodgate_model(1)
        """,
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_b.py::test_b: prodgate marker: suite 'shared' declares accuracy_floor=0.8 here "
            "but accuracy_floor=0.9 at test_a.py::test_a (test_a.py:3)*"
        ]
    )
    _no_crash(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prodgate-confidence=1.5"], "--prodgate-confidence=1.5: Input should be less than 1"),
        (
            ["--prodgate-resamples=5"],
            "--prodgate-resamples=5: Input should be greater than or equal to 100",
        ),
        (
            ["--prodgate-max-spend-usd=-1"],
            "--prodgate-max-spend-usd=-1.0: Input should be greater than or equal to 0",
        ),
        (
            ["--prodgate-model=nosuchmodule:fn"],
            "--prodgate-model=nosuchmodule:fn: cannot import 'nosuchmodule': No module named*",
        ),
        (
            ["--prodgate-model=mymodel:nothing"],
            "--prodgate-model=mymodel:nothing: module 'mymodel' has no attribute 'nothing'",
        ),
        (
            ["--prodgate-model=not a spec"],
            "--prodgate-model='not a spec': String should match pattern*",
        ),
        (["--prodgate-baseline=missing.json"], "--prodgate-baseline: *missing.json: no such file"),
    ],
)
def test_bad_option_exits_4_with_one_line(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message}"])
    _no_crash(result)


@pytest.mark.parametrize(
    ("value", "message"),
    [("1e400", "'1e400' is not a finite number"), ("lots", "'lots' is not a number")],
)  # fmt: skip
def test_a_number_option_names_the_value_as_written(
    project: pytest.Pytester, value: str, message: str
) -> None:
    # Not "inf": the value the user gave, before float() turned 1e400 into infinity.
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate", f"--prodgate-max-spend-usd={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument --prodgate-max-spend-usd: {message}"])
    _no_crash(result)


@pytest.mark.parametrize(
    "option",
    ["--prodgate-confidence", "--prodgate-mode", "--prodgate-trials", "--prodgate-ci-method"],
)
def test_a_mistyped_option_value_is_named_redacted(project: pytest.Pytester, option: str) -> None:
    # argparse's own "invalid choice" / "invalid int value" would echo the value as given.
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate", f"{option}={SECRET}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument {option}: '[[]REDACTED[]]' is not *"])
    assert SECRET not in result.stdout.str() + result.stderr.str()
    _no_crash(result)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("prodgate_seed = abc", "prodgate_seed (ini): *"),
        ("prodgate_confidence = 2", "prodgate_confidence (ini)=2.0: Input should be less than 1"),
        ("prodgate_mode = loud", "prodgate_mode (ini)='loud': Input should be 'gate' or 'report'"),
        ("prodgate_seed = " + SECRET, "prodgate_seed (ini): *'[[]REDACTED[]]'"),
        (
            "prodgate_ci_method = jackknife",
            "prodgate_ci_method (ini)='jackknife': Input should be*",
        ),
    ],
)
def test_bad_ini_value_exits_4_naming_the_key(
    project: pytest.Pytester, ini: str, message: str
) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message}"])
    _no_crash(result)


@pytest.mark.xdist_modes
def test_no_model_configured_is_a_clear_setup_error(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.prodgate(accuracy_floor=0.5)
        def test_case(prodgate_model):
            prodgate_model(1)
        """
    )
    result = run("--prodgate")
    assert result.ret == 1
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*prodgate_model: no model configured: pass --prodgate-model*"])
    result.stdout.fnmatch_lines(["*accuracy_floor*INCOMPLETE*"])
    _no_crash(result)


@pytest.mark.xdist_modes
def test_prodgate_case_outside_an_eval_case(run: RunFn, project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite="""
        def test_plain(prodgate_case):
            pass
        """
    )
    result = run("--prodgate")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*prodgate_case is only available in eval cases*"])
    _no_crash(result)


def test_every_option_is_validated(project: pytest.Pytester) -> None:
    # A typo in an option is caught even without --prodgate (it would do nothing).
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate-seed=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: prodgate: --prodgate-seed=-3: Input should be greater*"])


def test_one_option_table_feeds_options_ini_keys_and_settings(pytester: pytest.Pytester) -> None:
    from pytest_prodgate.schema.options import OPTIONS
    from pytest_prodgate.schema.settings import Settings

    assert {o.field for o in OPTIONS} == set(Settings.model_fields)
    config = pytester.parseconfig()
    inis = {o.ini_key for o in OPTIONS if o.ini_key}
    assert inis == {k for k in config._parser._inidict if k.startswith("prodgate_")}
    for o in OPTIONS:
        assert config.getoption(o.dest) is None  # every option falls back to its ini key
        assert o.flag.startswith("--prodgate")
        assert o.ini_key in (None, o.dest)
    help_text = pytester.runpytest("--help").stdout.str()
    assert "prodgate: gate CI" in help_text
    assert all(o.flag in help_text for o in OPTIONS)
    assert "default for --prodgate-confidence" in help_text


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "prodgate_model = nosuchmodule:fn",
            "prodgate_model (ini)=nosuchmodule:fn: cannot import 'nosuchmodule': No module*",
        ),
        (
            "prodgate_model = mymodel:nothing",
            "prodgate_model (ini)=mymodel:nothing: module 'mymodel' has no attribute 'nothing'",
        ),
        (
            "prodgate_baseline = missing.json",
            "prodgate_baseline (ini): *missing.json: no such file",
        ),
        ("prodgate_trials = 0", "prodgate_trials (ini)=0: Input should be greater than or equal*"),
    ],
)
def test_bad_ini_path_or_model_names_the_key_not_the_option(
    project: pytest.Pytester, ini: str, message: str
) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    project.makepyfile(test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: prodgate: {message}"])
    assert "--prodgate-model" not in result.stderr.str()
    assert "--prodgate-baseline" not in result.stderr.str()
    _no_crash(result)


@pytest.mark.parametrize(
    ("body", "raised"),
    [("import sys\nsys.exit(3)\n", "SystemExit: 3"), ("1 / 0\n", "ZeroDivision*")],
)
def test_model_module_that_exits_or_raises_at_import_is_a_usage_error(
    project: pytest.Pytester, body: str, raised: str
) -> None:
    project.makepyfile(exiting=body, test_suite="def test_x(): pass")
    result = project.runpytest("--prodgate", "--prodgate-model=exiting:fn")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: prodgate: --prodgate-model=exiting:fn: importing 'exiting' raised {raised}"]
    )
    _no_crash(result)


def test_model_module_next_to_the_ini_file_is_found_from_another_directory(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nprodgate_model = nearby_model:echo\n")
    pytester.makepyfile(nearby_model="def echo(x):\n    return x\n")
    sub = pytester.mkdir("sub")
    sub.joinpath("test_suite.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.prodgate(accuracy_floor=0.0)\n"
        "def test_case(prodgate_model):\n"
        "    assert prodgate_model(1) == 1\n"
    )
    # Run from sub/: only the rootdir (searched by the plugin) holds nearby_model.py.
    code = "import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--prodgate", "-p", "no:cacheprovider", "-p", "no:xdist", "."],
        cwd=sub,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_every_item_of_a_conflicting_parametrized_test_fails_setup(
    run: RunFn, project: pytest.Pytester
) -> None:
    # Conflicts are compared once per suite and marker set: each item still gets its own.
    project.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.prodgate("shared", accuracy_floor=0.9)
        @pytest.mark.parametrize("i", range(2))
        def test_a(prodgate_model, i):
            prodgate_model(i)

        @pytest.mark.prodgate("shared", accuracy_floor=0.8)
        @pytest.mark.parametrize("i", range(3))
        def test_b(prodgate_model, i):
            prodgate_model(i)

        @pytest.mark.prodgate("other", accuracy_floor=0.8)
        @pytest.mark.parametrize("i", range(2))
        def test_c(prodgate_model, i):
            prodgate_model(i)
        """,
    )
    result = run("--prodgate", "--prodgate-model=mymodel:echo")
    assert result.ret == 1
    result.assert_outcomes(passed=4, errors=3)
    result.stdout.fnmatch_lines(
        [
            f"*test_a.py::test_b[[]{i}[]]: prodgate marker: suite 'shared' declares "
            "accuracy_floor=0.8 here but accuracy_floor=0.9 at test_a.py::test_a[[]0[]] "
            "(test_a.py:3)*"
            for i in range(3)
        ],
        consecutive=False,
    )
    _no_crash(result)
