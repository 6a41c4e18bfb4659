"""One eval case: :class:`Case`, immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Case"]


def _empty_meta() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Case:
    """One eval case, immutable.

    ``input`` and ``expected`` are the record's values as parsed (JSON values,
    or strings for CSV); the attributes cannot be reassigned, and ``meta`` --
    every other field of the record -- is a read-only mapping. ``source`` is
    the absolute path of the dataset file, ``line`` the 1-based line on which
    the record starts, and ``digest`` the SHA-256 hex of the record's
    canonical JSON (empty for a case built by hand rather than read from a
    file). Cases hash by ``(source, id, digest)``, so they can go in sets even
    when their input is a dict.
    """

    id: str
    input: Any
    expected: Any = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=_empty_meta)
    source: str = ""
    line: int = 0
    digest: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))

    def __hash__(self) -> int:
        return hash((self.source, self.id, self.digest))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled: rebuild from a plain dict.
        return (
            Case,
            (
                self.id,
                self.input,
                self.expected,
                self.tags,
                dict(self.meta),
                self.source,
                self.line,
                self.digest,
            ),
        )
