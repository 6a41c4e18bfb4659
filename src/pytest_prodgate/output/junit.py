"""Each gate as a JUnit testcase ``prodgate::SUITE::GATE`` (SPEC §8). Pure: no pytest.

The controller feeds these rows to pytest's ``--junitxml`` writer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from pytest_prodgate.schema.redact import redact
from pytest_prodgate.schema.report import RunReport

__all__ = ["JunitRow", "gate_name", "junit_rows", "redact_junit_file"]


@dataclass(frozen=True)
class JunitRow:
    """One gate as a testcase: failing when its verdict fails the run."""

    nodeid: str
    #: ``prodgate`` and ``SUITE::GATE``: the testcase's file and name.
    location: tuple[str, str]
    outcome: Literal["passed", "failed"]
    #: Verdict, reason and hint: the failure message and the captured section.
    text: str


def gate_name(suite: str, gate: str) -> str:
    """``SUITE::GATE`` as a gate's test id (``prodgate::`` before it): redacted (a slice's
    tag may hold a token), with brackets in the suite name made parentheses.

    pytest reads a ``[`` in a node id as the start of its parameters: in the suite name
    (``x[y]z``, ``team-[REDACTED]``) it split the id in two, and the terminal and
    JUnit showed ``…::accuracy_floor]``. The gate's own brackets (``slice_floor[TAG]``)
    end the id, where they mean what pytest reads.
    """
    name = redact(suite).replace("[", "(").replace("]", ")")
    return f"{name}::{redact(gate)}"


def junit_rows(report: RunReport) -> list[JunitRow]:
    """One row per gate, in table order; none fails in ``mode="report"``."""
    rows = []
    for suite in report.suites:
        for g in suite.gates:
            fails = g.fails_run and report.run.mode == "gate"
            name = gate_name(suite.name, g.gate)
            rows.append(
                JunitRow(
                    nodeid=f"prodgate::{name}",
                    location=("prodgate", name),
                    outcome="failed" if fails else "passed",
                    text=redact(f"{g.verdict}: {g.reason} {g.hint}".strip()),
                )
            )
    return rows


def redact_junit_file(path: str | os.PathLike[str]) -> bool:
    """Redact a JUnit XML file (pytest's, naming tests by node id): every attribute value
    and text, read as XML (so an escaped secret is found, and a secret that spells a tag
    name never touches the markup), written back atomically only when one changed.
    Whether it was.

    Raises:
        OSError: the file cannot be read or replaced.
        xml.etree.ElementTree.ParseError: it is not XML.
    """
    import xml.etree.ElementTree as ET

    from pytest_prodgate.schema.files import write_atomic
    from pytest_prodgate.schema.redact import redactor

    tree = ET.parse(path)
    where: list[tuple[ET.Element, str]] = []  # (element, attribute | ".text" | ".tail")
    texts: list[str] = []
    for el in tree.iter():
        for key, value in el.attrib.items():
            where.append((el, key))
            texts.append(value)
        for part in (".text", ".tail"):
            value = getattr(el, part[1:])
            if value:
                where.append((el, part))
                texts.append(value)
    changed = False
    for (el, key), value, clean in zip(where, texts, redactor().many(texts), strict=True):
        if clean == value:
            continue
        changed = True
        if key in (".text", ".tail"):
            setattr(el, key[1:], clean)
        else:
            el.set(key, clean)
    if changed:
        write_atomic(path, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))
    return changed
