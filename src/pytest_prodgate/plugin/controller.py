"""The controller: aggregates every case's report, gates, and reports the run.

Registered as a plugin only where no xdist worker runs (the whole run without
xdist, the controller with it), so aggregation, gating and file writing happen
exactly once. Under xdist the controller sees workers' reports replayed through
``pytest_runtest_logreport``: the same path as without xdist.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.measure import recording
from pytest_prodgate.plugin.ahead import wasted_calls
from pytest_prodgate.plugin.junit import add_gate_rows
from pytest_prodgate.plugin.state import REFUSED_KEY
from pytest_prodgate.plugin.writing import RunOutputs

if TYPE_CHECKING:
    from pytest_prodgate.gating.aggregate import SuiteData
    from pytest_prodgate.schema.options import Settings
    from pytest_prodgate.schema.report import GateReport, RunInfo, RunReport, ShardInfo


class Controller:
    """Aggregates, gates and reports; registered only where no xdist worker runs."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from pytest_prodgate.gating.aggregate import Aggregator

        self.config = config
        self.settings = settings
        self.aggregator = Aggregator()
        self.report: RunReport | None = None
        self.interrupted = False
        self.warmup_calls = 0
        #: How each xdist worker read each dataset: absolute path -> field-name readings.
        self.dataset_fields: dict[str, list[dict[str, str | None]]] = {}
        self.wasted_calls = 0
        self.started_wall = time.time()
        self.started = time.perf_counter()
        self.baseline: RunReport | None = None
        self.lock: dict[str, Any] | None = None
        self.ledger: str | None = None
        self.finished_items = 0
        self.notes: list[str] = []
        #: The ``--prodgate-shard`` collection records xdist workers sent.
        self.shard_records: list[dict[str, Any]] = []
        self.outputs = RunOutputs(config, settings)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and getattr(report, "prodgate_missed", None):
            from pytest_prodgate.plugin.summary_stats import count_as_missed

            count_as_missed(self.config, report)
        if report.when in ("teardown", "???"):  # "???": xdist's report of a crashed item
            self.finished_items += 1
        # Every other hook has seen them (this one runs last): the aggregator holds
        # them now, so pytest's list of reports does not keep a second copy.
        announce = getattr(report, "prodgate_announce", None)
        if announce is not None:
            self.aggregator.announce(report.nodeid, announce)
            del report.prodgate_announce
        payload = getattr(report, "prodgate_case", None)
        if payload is not None:
            self.aggregator.add(payload)
            del report.prodgate_case

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        if not session.config.option.collectonly:
            _preload()
        try:
            result = yield
        except BaseException as exc:
            # -x / --maxfail end the loop with session.Failed, --sw (stepwise) and
            # shouldstop with session.Interrupted (a KeyboardInterrupt), even after
            # the last item: the run is partial only if items were left unrun. A
            # real Ctrl-C is always partial.
            ctrl_c = isinstance(exc, KeyboardInterrupt) and not isinstance(
                exc, (session.Interrupted, session.Failed)
            )
            self.interrupted = ctrl_c or self.finished_items < session.testscollected
            raise
        stopped = bool(session.shouldstop or session.shouldfail)
        # An xdist worker that crashed with no restart left (--max-worker-restart)
        # ends the loop without a stop: its unrun tests make the run partial too.
        xdist = session.config.pluginmanager.has_plugin("dsession")
        self.interrupted = (stopped or xdist) and self.finished_items < session.testscollected
        if self.interrupted:
            unrun = session.testscollected - self.finished_items
            self.notes.append(
                f"{unrun:,} of {session.testscollected:,} collected tests did not finish "
                "(eval cases that never started are not in this report)"
            )
        from pytest_prodgate.schema.files import paused_gc

        with paused_gc():
            report = self.evaluate()
        if report.fails_run:
            session.testsfailed += 1
        return result

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Give every xdist worker the run's shared spend ledger (only with a cap)."""
        if self.settings.max_spend_usd is None:
            return
        if self.ledger is None:
            import tempfile

            fd, self.ledger = tempfile.mkstemp(prefix="prodgate-spend-", suffix=".txt")
            os.write(fd, b"0.0")
            os.close(fd)
        node.workerinput["prodgate_spend_ledger"] = self.ledger

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.warmup_calls += int(output.get("prodgate_warmup_calls", 0) or 0)
        fields = output.get("prodgate_dataset_fields")
        if isinstance(fields, dict):
            for path, read_with in fields.items():
                self.dataset_fields.setdefault(str(path), []).append(dict(read_with))
        from pytest_prodgate.plugin.outputs import refused_by_worker

        refused_by_worker(self.config, output)
        if output.get("prodgate_shard"):
            self.shard_records.append(output["prodgate_shard"])
        self.wasted_calls += int(output.get("prodgate_wasted_calls", 0) or 0)

    def evaluate(self) -> RunReport:
        """Gate the run (:func:`pytest_prodgate.gating.run.decide`) and keep the report."""
        from pytest_prodgate.gating.run import GatePolicy, decide

        s = self.settings
        policy = GatePolicy(
            s.confidence, s.resamples, s.seed, s.ci_method, s.inconclusive, s.mode, s.cache_latency
        )
        suites = self.aggregator.suites()
        from pytest_prodgate.plugin.early import attach

        attach(self.config, suites, self.baseline)
        integrity = self.integrity(suites)

        def hook(suite: str, gates: list[GateReport]) -> None:
            self.config.hook.pytest_prodgate_gates(config=self.config, suite=suite, gates=gates)

        report = decide(
            suites,
            run=self.run_info(),
            policy=policy,
            baseline=self.baseline,
            baseline_name=str(s.baseline) if s.baseline is not None else None,
            integrity=integrity,
            notes=self.notes,
            on_suite_gates=hook,
        )
        self.config.hook.pytest_prodgate_report(config=self.config, report=report)
        self.report = report
        add_gate_rows(self.config, report)
        return report

    def integrity(self, suites: list[SuiteData]) -> dict[str, list[GateReport]]:
        """TAMPERED / LOOSENED rows per suite when ``prodgate.lock`` exists (SPEC §5)."""
        if self.lock is None:
            return {}
        from pytest_prodgate.plugin.locking import lock_rows

        return lock_rows(
            self.config.rootpath,
            self.lock,
            suites,
            read_by_workers=self.dataset_fields,
            shard=self._shard_record(),
            settings=self.settings,
            notes=self.notes,
        )

    def _shard_record(self) -> dict[str, Any] | None:
        if self.settings.shard is None:
            return None
        from pytest_prodgate.plugin.shard import shard_record

        return shard_record(self.config, self.shard_records)

    def _shard_info(self) -> ShardInfo | None:
        """The report's shard mark; without a collection record, one merge refuses."""
        if self.settings.shard is None:
            return None
        from pytest_prodgate.schema.report import ShardInfo
        from pytest_prodgate.schema.settings import parse_shard

        record = self._shard_record()
        if record is not None:
            return ShardInfo.model_validate(record["info"])
        index, total = parse_shard(self.settings.shard)
        return ShardInfo(index=index, total=total, collected=0, collected_sha256="", assigned=0)

    def run_info(self) -> RunInfo:
        import platform

        from pytest_prodgate._version import __version__
        from pytest_prodgate.schema.report import RunInfo

        s = self.settings
        names = sorted(self.aggregator.models)
        versions = sorted(self.aggregator.model_versions)
        workers = getattr(self.config.option, "numprocesses", None)
        return RunInfo(
            started_at=_iso(self.started_wall),
            finished_at=_iso(time.time()),
            duration_s=round(time.perf_counter() - self.started, 3),
            plugin_version=__version__,
            pytest_version=pytest.__version__,
            python_version=platform.python_version(),
            platform=platform.platform(),
            git_commit=_git_commit(self.config.rootpath),
            seed=s.seed,
            confidence=s.confidence,
            resamples=s.resamples,
            ci_method=s.ci_method,
            mode=s.mode,
            inconclusive=s.inconclusive,
            model_name=", ".join(names) or None,
            model_version=", ".join(versions) or None,
            xdist_workers=workers if isinstance(workers, int) else 0,
            concurrency=s.concurrency,
            calls_wasted=self.wasted_calls + wasted_calls(self.config),
            interrupted=self.interrupted,
            warmup_calls=self.warmup_calls + recording.spend().warmup_calls,
            shard=self._shard_info(),
            cache_dir=str(s.cache) if s.cache is not None and s.cache_mode != "off" else None,
            cache_mode=s.cache_mode if s.cache is not None else None,
            cache_latency=s.cache_latency,
            cache_errors=s.cache_errors and s.cache is not None and s.cache_mode == "use",
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # tryfirst: after -x or Ctrl-C the gates are decided here, before --junitxml
        # writes its file, so the XML holds every prodgate::SUITE::GATE row.
        if self.ledger is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.ledger)
        refused = self.config.stash.get(REFUSED_KEY, None)
        if refused is not None:
            # An output is a dataset this run evaluates: nothing ran, nothing is
            # written. Without xdist the usage error is on its way out already; under
            # xdist the workers deselected every item and sent the line.
            self.report = None
            if session.exitstatus != pytest.ExitCode.USAGE_ERROR:
                sys.stderr.write(f"ERROR: {refused}\n")
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        from pytest_prodgate.schema.files import paused_gc

        with paused_gc():
            if self.report is None:  # the run loop did not finish normally
                self.evaluate()
            assert self.report is not None
            if self.config.option.collectonly:
                return  # nothing was measured: no file is written or replaced
            self.outputs.write(
                self.report, bool(self.aggregator.results), list(self.dataset_fields)
            )
        if self.outputs.not_written and session.exitstatus == pytest.ExitCode.OK:
            # An output that could not be written fails the run, as a harness error
            # does: CI must not go on with the previous run's file (docs/reference.md).
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Every file is written and the table printed: let go of the cases before
        # pytest's last garbage collections (several full passes over every object
        # alive, 1.4 s at 60,000 cases when they still held them).
        from pytest_prodgate.gating.aggregate import Aggregator

        self.aggregator = Aggregator()
        self.report = None
        self.baseline = None

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_prodgate.output.terminal import summary

        report = self.report
        if report is None:
            return
        tr = terminalreporter
        tw = tr._tw
        width = int(getattr(tw, "fullwidth", 0)) or 80

        def paint(text: str, colour: str) -> str:
            return str(tw.markup(text, **{colour: True}))

        entries = summary(report, width, paint if getattr(tw, "hasmarkup", False) else None)
        for i, (sep, text) in enumerate(entries):
            if sep:
                tr.write_sep(sep, text, yellow=not report.suites and sep == "=")
            elif report.suites and i == len(entries) - 1:
                tr.write_line(text, red=report.fails_run, green=not report.fails_run, bold=True)
            else:
                tr.write_line(text)
        if report.fails_run:
            from pytest_prodgate.plugin.summary_stats import mark_run_failed

            mark_run_failed(tr, report)
        self.outputs.tell(tr, report)
        from pytest_prodgate.output.annotations import enabled, gate_annotations

        if enabled(os.environ):
            for line in gate_annotations(report):
                tr.write_line(line)


def _iso(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).isoformat()


def _git_commit(root: Path) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


#: What gating imports (numpy, pydantic, scipy.special): loaded before the first case.
_GATING_MODULES = (
    "pytest_prodgate.gating.run",
    "pytest_prodgate.output.terminal",
    "scipy.special",
)


def _preload() -> None:
    """Import the gating stack before the first case, so the verdict does not wait for it
    after the last one. Not on a thread: a test that forks while another thread holds
    an import lock leaves the child deadlocked. An import that fails here fails again,
    with its message, where gating needs it."""
    import importlib

    for name in _GATING_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
