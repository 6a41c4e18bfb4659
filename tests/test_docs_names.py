"""Every ``pytest_prodgate.…`` name the docs cite can be imported (a renamed module breaks this)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAME = re.compile(r"\bpytest_prodgate(?:\.[A-Za-z_][A-Za-z0-9_]*)+\b(?!\*|_\*)")


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def cited() -> list[tuple[str, str]]:
    names = set()
    for doc in DOCS:
        for match in NAME.finditer(doc.read_text(encoding="utf-8")):
            if not match.group(0).endswith("_"):  # a family such as n_to_resolve_*
                names.add((doc.name, match.group(0)))
    return sorted(names)


def test_the_docs_cite_names() -> None:
    assert len(cited()) > 10  # the pattern finds them


@pytest.mark.parametrize(("doc", "name"), cited())
def test_every_name_the_docs_cite_exists(doc: str, name: str) -> None:
    assert resolves(name), f"{doc} cites {name}, which does not exist"
