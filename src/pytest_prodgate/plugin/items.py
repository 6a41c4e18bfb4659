"""Eval-case items: suite, case id and trial of each, trials as parametrization, conflicts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodgate.plugin.state import (
    EVAL_KEY,
    SPEC_KEY,
    ItemSpec,
    active,
    enabled,
    known_eval_case,
    prodgate_marks,
    settings_of,
)

if TYPE_CHECKING:
    from pytest_prodgate.schema.targets import TargetError, Targets


def _default_suite(item: pytest.Item) -> str:
    assert isinstance(item, pytest.Function)
    parent = item.parent.nodeid if item.parent is not None else ""
    return f"{parent}::{item.originalname}" if parent else item.originalname


def _case_identity(item: pytest.Item, case: Any) -> tuple[str, int]:
    """(case id, trial): the Case's id, else the parametrize id, else the node id.

    Repetitions are trials whatever made them: ``trials=N`` / ``--prodgate-trials``
    and pytest-repeat's ``--count`` / ``@pytest.mark.repeat`` both give one case
    several trials (numbered ``prodgate trial × count + repetition``), never new cases.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.nodeid, 0
    params: dict[str, Any] = callspec.params
    trial = int(params.get(TRIAL_FIXTURE, 0))
    idlist = [str(i) for i in getattr(callspec, "_idlist", None) or callspec.id.split("-")]
    if TRIAL_FIXTURE in params and _trial_id(trial) in idlist:
        idlist.remove(_trial_id(trial))
    if REPEAT_FIXTURE in params:
        step = int(params[REPEAT_FIXTURE])
        count = 1
        for i, part in enumerate(idlist):
            first, _, total = part.partition("-")
            if first == str(step + 1) and total.isdigit():
                count = int(total)
                del idlist[i]
                break
        trial = trial * count + step
    if case is not None:
        return case.id, trial
    ids = "-".join(idlist)
    if not ids:
        return item.nodeid.split("[", 1)[0], trial
    return ids, trial


#: pytest-repeat's parameter (``--count``, ``@pytest.mark.repeat``): its steps are trials.
REPEAT_FIXTURE = "__pytest_repeat_step_number"
TRIAL_FIXTURE = "prodgate_trial"


def _trial_id(trial: int) -> str:
    return f"trial{trial}"


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each eval case N times (``trials=N`` or ``--prodgate-trials``) as separate items.

    First of all parametrizations, so the trial's id leads the item's (``test[trial0-...]``).
    """
    if not enabled(metafunc.config):
        return
    from pytest_prodgate.schema.targets import TargetError, parse_marker_args

    settings = settings_of(metafunc.config)
    markers = [(m.args, m.kwargs) for m in prodgate_marks(metafunc.definition)]
    if not markers:
        return
    try:
        _, targets = parse_marker_args(markers)
    except TargetError:
        return  # reported per test at setup
    trials = targets.trials or settings.trials
    if trials > 1:
        if TRIAL_FIXTURE not in metafunc.fixturenames:
            metafunc.fixturenames.append(TRIAL_FIXTURE)
        metafunc.parametrize(
            TRIAL_FIXTURE, range(trials), indirect=True, ids=[_trial_id(i) for i in range(trials)]
        )


def item_spec(item: pytest.Item, marks: list[pytest.Mark] | None = None) -> ItemSpec:
    """Parse an eval case's markers once; errors are kept for setup to report.

    ``marks``: the item's :func:`prodgate_marks`, when the caller has them already.
    """
    spec = item.stash.get(SPEC_KEY, None)
    if spec is not None:
        return spec
    case = case_of(item)
    case_id, trial = _case_identity(item, case)
    if marks is None:
        marks = prodgate_marks(item)
    nodeid = item.nodeid
    parsed, gates = _parse_cached(item.config, marks)
    # One string per test function, not one per item (a 100,000-case run keeps them all).
    function = sys.intern(nodeid.split("[", 1)[0])
    if isinstance(parsed, BaseException):
        spec = ItemSpec(_default_suite(item), case_id, trial, None, str(parsed), case, function)
    else:
        name, targets = parsed
        spec = ItemSpec(
            name or _default_suite(item), case_id, trial, targets, None, case, function, gates
        )
    spec.nodeid = nodeid
    item.stash[SPEC_KEY] = spec
    return spec


PARSED_KEY = pytest.StashKey[dict[str, "tuple[str | None, Targets] | TargetError"]]()
#: The same parses by the marks' identities: ``(the marks, kept alive; the parse; what
#: its targets declare)``.
PARSED_BY_ID_KEY = pytest.StashKey[
    dict[
        tuple[int, ...],
        "tuple[list[pytest.Mark], tuple[str | None, Targets] | TargetError, dict[str, Any]]",
    ]
]()


def _parse_cached(
    config: pytest.Config, marks: list[pytest.Mark]
) -> tuple[tuple[str | None, Targets] | TargetError, dict[str, Any]]:
    """Parse markers once per distinct set: a parametrized test's items share them.

    ``(the parse or its error, what the targets declare)``. Looked up first by the
    marks' identities (a parametrized test's items hold the same mark objects; the
    cache keeps them alive, so an id is never reused), then by their ``repr`` (equal
    marks of other tests).
    """
    by_id = config.stash.setdefault(PARSED_BY_ID_KEY, {})
    ids = tuple(map(id, marks))
    hit = by_id.get(ids)
    if hit is not None:
        return hit[1], hit[2]
    from pytest_prodgate.schema.targets import TargetError, parse_marker_args

    markers = [(m.args, m.kwargs) for m in marks]
    cache = config.stash.setdefault(PARSED_KEY, {})
    try:
        key = repr(markers)
    except Exception:  # a value whose __repr__ raises: parsed uncached, its error named
        key = None
    if key is None or key not in cache:
        try:
            parsed: tuple[str | None, Targets] | TargetError = parse_marker_args(markers)
        except TargetError as exc:
            parsed = exc
        if key is not None:
            cache[key] = parsed
    else:
        parsed = cache[key]
    gates = {} if isinstance(parsed, BaseException) else declared(config, parsed[1])
    by_id[ids] = (marks, parsed, gates)
    return parsed, gates


DECLARED_KEY = pytest.StashKey[dict[int, dict[str, Any]]]()


def declared(config: pytest.Config, targets: Targets) -> dict[str, Any]:
    """``targets.declared()``, once per parsed marker set (the parse cache keeps each alive)."""
    cache = config.stash.setdefault(DECLARED_KEY, {})
    got = cache.get(id(targets))
    if got is None:
        got = cache[id(targets)] = targets.declared()
    return got


def active_spec(item: pytest.Item) -> ItemSpec | None:
    """The item's spec if it is an eval case of a ``--prodgate`` run, else ``None``.

    :func:`~pytest_prodgate.plugin.state.active` and :func:`item_spec` in one: a
    spec is only ever made for an eval case, so a stored one answers both.
    """
    spec = item.stash.get(SPEC_KEY, None)
    if spec is not None:
        return spec if enabled(item.config) else None
    return item_spec(item) if active(item) else None


def _eval_marks(
    item: pytest.Item, parents: dict[int, list[pytest.Mark]]
) -> list[pytest.Mark] | None:
    """The item's ``prodgate`` marks if it is an eval case (else ``None``), noting which it is.

    :func:`~pytest_prodgate.plugin.state.is_eval_case` with the marks it looks for
    kept, so that :func:`item_spec` does not walk the item's nodes a second time.
    """
    known = known_eval_case(item)
    if known is not None:
        return [] if known else None
    marks = prodgate_marks(item, parents) if isinstance(item, pytest.Function) else []
    if not marks:
        item.stash[EVAL_KEY] = False
    return marks or None


def find_conflicts(items: list[pytest.Item]) -> dict[str, str]:
    """Cases of one suite that declare another target for a gate than an earlier case.

    Also parses every eval case's markers (:func:`item_spec`) and notes each
    conflict on its spec. Items of one suite with one parsed marker set (a
    parametrized test's) declare the same values, so they get the same answer:
    the gates are compared once per suite and marker set.
    """
    first: dict[tuple[str, str], tuple[Any, str]] = {}
    conflicts: dict[str, str] = {}
    answers: dict[tuple[str, int], str | None] = {}
    parents: dict[int, list[pytest.Mark]] = {}
    for item in items:
        marks = _eval_marks(item, parents)
        if marks is None:
            continue
        spec = item_spec(item, marks or None)
        if spec.targets is None:
            continue
        nodeid = item.nodeid
        key = (spec.suite, id(spec.targets))
        if key in answers:
            found = answers[key]
        else:
            found = None
            path, lineno, _ = item.location
            location = f"{nodeid} ({path}:{(lineno or 0) + 1})"
            for gate, value in spec.declared.items():
                seen = first.setdefault((spec.suite, gate), (value, location))
                if seen[0] != value and found is None:
                    found = (
                        f"suite {spec.suite!r} declares {gate}={value!r} here but "
                        f"{gate}={seen[0]!r} at {seen[1]}; one suite has one target per gate "
                        "(give one of them another suite name)."
                    )
            answers[key] = found
        if found is not None and nodeid not in conflicts:
            conflicts[nodeid] = found
            spec.conflict = found
    return conflicts


def case_of(item: pytest.Item) -> Any:
    from pytest_prodgate.data.dataset import Case

    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        if isinstance(value, Case):
            return value
    return None
