"""The ``prodgate_*`` fixtures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.state import MODEL_FN_KEY, ItemSpec, settings_of, trial_of

if TYPE_CHECKING:
    from pytest_prodgate.measure import recording
    from pytest_prodgate.measure.model import Model


@pytest.fixture(scope="session")
def prodgate_model(pytestconfig: pytest.Config) -> Model:
    """The model under test, a :class:`pytest_prodgate.Model`.

    Built from ``--prodgate-model`` / ini ``prodgate_model``; override this fixture in
    your ``conftest.py`` to wrap your own client (see ``conftest.example.py``).
    """
    from pytest_prodgate.measure.model import Model

    fn = pytestconfig.stash.get(MODEL_FN_KEY, None)
    if fn is None:
        pytest.fail(
            "prodgate_model: no model configured: pass --prodgate-model=package.module:callable, "
            "set ini prodgate_model, or override the prodgate_model fixture in conftest.py",
            pytrace=False,
        )
    if isinstance(fn, Model):
        return fn
    return Model(fn, name=settings_of(pytestconfig).model)


class CaseHandle:
    """The current eval case (fixture ``prodgate_case``): its data and what to record on it."""

    def __init__(self, spec: ItemSpec, recorder: recording.CaseRecorder, case: Any) -> None:
        self._spec = spec
        self._recorder = recorder
        #: The :class:`pytest_prodgate.Case` this item runs, when it came from ``load_cases``.
        self.case = case

    @property
    def id(self) -> str:
        """The case id (pairs this case with the baseline's).

        When several test functions of one named suite use the same id, the report
        qualifies it as ``path::function[id]`` to keep those cases apart.
        """
        return self._spec.case_id

    @property
    def suite(self) -> str:
        """The suite this case is gated in."""
        return self._spec.suite

    @property
    def tags(self) -> tuple[str, ...]:
        """The slices this case belongs to."""
        return tuple(self._recorder.tags)

    def score(self, value: float) -> None:
        """Record a graded score in [0, 1] instead of pass = 1.0 / miss = 0.0."""
        self._recorder.set_score(value)

    def tag(self, *slices: str) -> None:
        """Add this case to slices (gated by ``slice_floors``)."""
        self._recorder.add_tags(*slices)

    def add_cost(self, usd: float) -> None:
        """Add cost (USD) that no wrapped model call reported, e.g. a judge model's."""
        self._recorder.add_cost(usd)

    def note(self, key: str, value: Any) -> None:
        """Keep a value in the report (JSON-able values as they are, others as repr)."""
        self._recorder.note(key, value)


class LoadRunner:
    """Fixture ``prodgate_load``: drive a model concurrently and record the run on the case.

    ``prodgate_load(fn, inputs, concurrency=8, requests=500)`` (``concurrency`` is
    required; give ``requests`` or ``duration_s=3.0``);
    ``warmup=N`` calls first, unmeasured; ``timeout_s`` per call. Threads for sync
    callables, one private event loop for async ones (``await prodgate_load.arun(...)``
    runs on the test's own loop instead). Latencies under load feed the suite's
    latency gates only with ``count_latency=True``.
    """

    def __init__(self, nodeid: str) -> None:
        self._nodeid = nodeid

    def _record(self, result: Any, count_latency: bool) -> None:
        from pytest_prodgate.measure import recording

        rec = recording.current_case()
        if rec is not None:
            with rec.lock:
                rec.load_runs.append({**result.to_dict(), "count_latency": count_latency})

    def _fail(self, exc: Exception) -> Any:
        pytest.fail(f"{self._nodeid}: prodgate_load: {exc}", pytrace=False)

    def __call__(self, fn: Any, inputs: Any, *, count_latency: bool = False, **options: Any) -> Any:
        from pytest_prodgate.measure.load import run_load

        try:
            result = run_load(fn, inputs, record=False, **options)
        except (TypeError, ValueError) as exc:
            self._fail(exc)
        self._record(result, count_latency)
        return result

    async def arun(
        self, fn: Any, inputs: Any, *, count_latency: bool = False, **options: Any
    ) -> Any:
        """The same on the running event loop (for async tests)."""
        from pytest_prodgate.measure.load import arun_load

        try:
            result = await arun_load(fn, inputs, record=False, **options)
        except (TypeError, ValueError) as exc:
            self._fail(exc)
        self._record(result, count_latency)
        return result


@pytest.fixture
def prodgate_load(request: pytest.FixtureRequest) -> LoadRunner:
    """A load runner for throughput gates (see :class:`LoadRunner`)."""
    return LoadRunner(request.node.nodeid)


@pytest.fixture
def prodgate_drill(request: pytest.FixtureRequest) -> Any:
    """Time recovery drills: ``with prodgate_drill("bad-deploy") as d: ... d.wait_until(...)``.

    Returns a factory of :class:`pytest_prodgate.drill.Drill` context managers; each
    finished drill is recorded on the case and feeds the suite's ``recovery_s`` gate.
    Misuse (no recovery step, bad arguments) fails the test with a message naming it.
    """
    from pytest_prodgate.measure.drill import Drill, DrillError

    nodeid = request.node.nodeid

    class _Drill(Drill):
        def __exit__(self, *exc_info: Any) -> Any:
            try:
                return super().__exit__(*exc_info)
            except DrillError as exc:
                pytest.fail(f"{nodeid}: prodgate_drill: {exc}", pytrace=False)

    def make(name: str = "drill", *, poll_interval_s: float = 0.05) -> Drill:
        try:
            return _Drill(name, poll_interval_s=poll_interval_s)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"{nodeid}: prodgate_drill: {exc}", pytrace=False)

    return make


@pytest.fixture
def prodgate_trial(request: pytest.FixtureRequest) -> int:
    """Which trial of its case this item is (0-based; always 0 with one trial)."""
    return int(getattr(request, "param", 0))


@pytest.fixture
def prodgate_case(request: pytest.FixtureRequest) -> CaseHandle:
    """The current eval case: ``.score(x)``, ``.tag(*slices)``, ``.add_cost(usd)``, ``.note()``."""
    item = request.node
    state = trial_of(item)
    if state is None or not isinstance(item, pytest.Item):
        pytest.fail(
            f"{request.node.nodeid}: prodgate_case is only available in eval cases "
            "(tests marked @pytest.mark.prodgate) run with --prodgate",
            pytrace=False,
        )
    from pytest_prodgate.plugin.items import item_spec

    spec = item_spec(item)
    return CaseHandle(spec, state.recorder, spec.case)


@pytest.fixture
def prodgate_output(request: pytest.FixtureRequest, prodgate_model: Any) -> Any:
    """The response of ``prodgate_model`` to this case's input, called ahead of the case.

    The calls of all planned cases run ahead, up to ``--prodgate-concurrency`` in
    flight (SPEC §11); each is recorded on its case exactly as a direct call is.
    An exception of the call is raised as the test's call and scored as a model error.
    """
    from pytest_prodgate.plugin.ahead import output_for

    return output_for(request, prodgate_model)
