"""The run's output files: writable, and never one of the run's inputs (SPEC §7, §8).

Before any case runs, every file the run writes (``--prodgate-report``,
``--prodgate-html``, ``--prodgate-comment``, ``prodgate.lock`` with
``--prodgate-lock``, and ``--junitxml``, which the plugin adds rows to) is checked:
each must be creatable beside its target (the atomic write's temporary file) and
none may be the same file as another output, the baseline, ``prodgate.lock``, or lie
in the cache directory. Those are usage errors in ``pytest_configure``.

Datasets are known only after collection. Without xdist the process that
collected raises the usage error there. Under xdist the controller collects
nothing: each worker finds the clash after its collection, deselects every item
(no case runs) and sends the line in ``workeroutput``; the controller then writes
no file and ends the run with exit 4 and that line. At the end of the run every
output is checked once more against every dataset read (one read in a test body
is known only then) before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.plugin.state import OUTPUTS_KEY, REFUSED_KEY, is_worker
from pytest_prodgate.schema.outputs import output_clash, output_problem

__all__ = [
    "check_collected",
    "check_outputs",
    "dataset_clash",
    "refused_by_worker",
    "run_outputs",
]

#: The key of ``workeroutput`` that carries a worker's refusal to the controller.
WORKER_REFUSED = "prodgate_refused"


def run_outputs(config: pytest.Config, settings: Any, raw: dict[str, tuple[Any, str]]) -> None:
    """Record the files this run writes (:data:`OUTPUTS_KEY`), labelled as given."""
    outputs: list[tuple[str, Path]] = []
    if settings.enabled:
        for field in ("report", "html", "comment"):
            path: Path | None = getattr(settings, field)
            if path is not None:
                outputs.append((f"{raw[field][1]}={path}", path))
    if settings.lock:
        from pytest_prodgate.data.sealing import LOCK_NAME

        lock = config.rootpath / LOCK_NAME
        outputs.append((f"--prodgate-lock={lock}", lock))
    config.stash[OUTPUTS_KEY] = outputs


def check_outputs(config: pytest.Config, settings: Any, raw: dict[str, tuple[Any, str]]) -> None:
    """Every file the run will write can be written and destroys no input: exit 4 if not."""
    outputs = config.stash[OUTPUTS_KEY]
    for label, path in outputs:
        problem = output_problem(path)
        if problem is not None:
            raise pytest.UsageError(f"prodgate: {label}: {problem}")
    inputs: list[tuple[str, Path]] = []
    if settings.baseline is not None:
        inputs.append((f"{raw['baseline'][1]}={settings.baseline}", settings.baseline))
    if not settings.lock:  # a lock there, or one made there, gates the next run
        from pytest_prodgate.data.sealing import LOCK_NAME

        lock = config.rootpath / LOCK_NAME
        inputs.append((f"the lock {lock}", lock))
    directories = []
    if settings.cache is not None:
        directories.append((f"{raw['cache'][1]}={settings.cache}", settings.cache))
    problem = output_clash([*outputs, *_junit(config)], inputs, directories)
    if problem is not None:
        raise pytest.UsageError(f"prodgate: {problem}")


def dataset_clash(
    config: pytest.Config,
    datasets: list[str],
    outputs: list[tuple[str, Path]] | None = None,
) -> str | None:
    """The line refusing an output (the run's, or ``outputs``) that is one of ``datasets``
    (absolute paths), if any."""
    if outputs is None:
        outputs = [*config.stash.get(OUTPUTS_KEY, []), *_junit(config)]
    if not outputs or not datasets:
        return None
    inputs = [(f"the dataset {p} this run evaluates", Path(p)) for p in sorted(datasets)]
    problem = output_clash(outputs, inputs)
    return None if problem is None else f"prodgate: {problem}"


def check_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After collection, before any case: refuse an output that is a dataset collection read.

    Without xdist: a usage error (exit 4, one line). On an xdist worker every item
    is deselected and the line goes to the controller (:func:`refused_by_worker`).
    """
    from pytest_prodgate.data.dataset import loaded_datasets

    problem = dataset_clash(config, list(loaded_datasets()))
    if problem is None:
        return
    _refuse(config, problem)
    if not is_worker(config):
        raise pytest.UsageError(problem)
    config.workeroutput[WORKER_REFUSED] = problem  # type: ignore[attr-defined]
    if items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = []


def refused_by_worker(config: pytest.Config, workeroutput: dict[str, Any]) -> None:
    """The controller keeps the first refusal a worker sent."""
    problem = workeroutput.get(WORKER_REFUSED)
    if isinstance(problem, str) and REFUSED_KEY not in config.stash:
        _refuse(config, problem)


def _junit(config: pytest.Config) -> list[tuple[str, Path]]:
    """pytest's ``--junitxml`` file (the plugin adds its gate rows), as an output."""
    xml = getattr(config.option, "xmlpath", None)
    if not xml:
        return []
    path = Path(config.invocation_params.dir, xml)
    return [(f"--junitxml={path}", path)]


def _refuse(config: pytest.Config, problem: str) -> None:
    """This run writes nothing: neither the plugin's files nor pytest's ``--junitxml``
    (written at session end, it would replace the dataset it names)."""
    config.stash[REFUSED_KEY] = problem
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        config.pluginmanager.unregister(xml)
        del config.stash[xml_key]
