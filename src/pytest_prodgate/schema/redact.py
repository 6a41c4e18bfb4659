"""Secrets stay out of everything the plugin prints or writes (SPEC §18).

Pure and light: no pytest, no pydantic. :func:`redact` is the one redaction
function. It is applied twice: where text is captured (a model error's message,
a case's miss reason) and again by every printer and writer (terminal, JSON
report, JUnit, Markdown step summary) as a last line of defence, so a secret
that reaches a report by another path is still caught.

Replaced by ``[REDACTED]``:

* values that look like API keys: ``sk-…``, ``sk_live_…``, ``pk-…``, ``xox[bp]-…``,
  ``ghp_…``, ``github_pat_…``, ``AKIA…`` (AWS), ``AIza…`` (Google);
* ``Bearer …`` / ``Basic …`` tokens and the value of an ``Authorization:`` or
  ``Proxy-Authorization:`` header;
* the value of ``key=value`` / ``key: value`` / ``"key": "value"`` pairs whose
  key names a secret (``api_key``, ``x-api-key``, ``token``, ``secret``,
  ``password``, ``access_key``, …);
* the value of every environment variable whose name has a ``KEY``, ``TOKEN``,
  ``SECRET``, ``PASSWORD`` or ``PASSWD`` part (``OPENAI_API_KEY``,
  ``GITHUB_TOKEN``) when at least 8 characters long;
* whatever the patterns given with ``--prodgate-redact`` match
  (:func:`add_patterns`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "Redactor",
    "add_patterns",
    "ambiguous_ids",
    "clear_patterns",
    "redact",
    "redact_json",
    "redactor",
    "report_ids",
    "report_tags",
    "safe_repr",
]

REDACTED = "[REDACTED]"

_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_\-]{8,}"
    r"|sk_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|[rp]k_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{16,}"
    r"|github_pat_[A-Za-z0-9_]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{5,}"
    r")"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic|token|digest)\s+)?[^\s\"',;}]+"
)
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")
_SECRET_PAIR = re.compile(
    r"(?i)([\"']?\b[\w\-]*(?:api[_\-]?key|apikey|access[_\-]?key|secret|token|passw(?:or)?d|"
    r"pwd|credentials?|auth[_\-]?key|private[_\-]?key)[\w\-]*[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',;&}]{8,})"
)
#: A superset of what the four patterns above can match, looked for in the casefolded
#: text (casefolding maps what their IGNORECASE matches, "ſ" for "s" included): text
#: without any of these words or prefixes has nothing for them (most texts: a case id,
#: a short reason), so a few substring tests spare four substitutions. Plain ``in``
#: tests beat one regular expression 1.5 to 1 on node ids and blocks of them, whose
#: letters start half its alternatives. tests/test_redact.py checks the superset.
_MAYBE = (
    "sk-", "sk_", "secret", "rk_", "pk_", "passw", "pwd", "private", "xox",
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia", "aiza",
    "api_key", "api-key", "apikey", "access", "auth", "eyj", "bearer", "basic",
    "token", "credential",
)  # fmt: skip


def _maybe(folded: str) -> bool:
    """Whether casefolded ``folded`` holds a :data:`_MAYBE` word (may hold a secret)."""
    for word in _MAYBE:  # noqa: SIM110 - a loop: a third faster than any() on a generator
        if word in folded:
            return True
    return False


_SECRET_ENV_PART = re.compile(r"(?:^|_)(?:API)?(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PAT)(?:_|$)")

_extra: list[re.Pattern[str]] = []
_env_cache: tuple[tuple[tuple[str, str], ...], re.Pattern[str] | None] | None = None


def add_patterns(patterns: Iterable[str]) -> None:
    """Also redact what each regular expression matches (``--prodgate-redact``)."""
    for p in patterns:
        compiled = re.compile(p)
        if compiled.pattern not in {e.pattern for e in _extra}:
            _extra.append(compiled)


def clear_patterns() -> None:
    """Forget the patterns of :func:`add_patterns` (a new session starts clean)."""
    _extra.clear()


def _env_pattern(environ: Mapping[str, str]) -> re.Pattern[str] | None:
    global _env_cache
    items = tuple(
        sorted(
            (k, v) for k, v in environ.items() if len(v) >= 8 and _SECRET_ENV_PART.search(k.upper())
        )
    )
    if _env_cache is not None and _env_cache[0] == items:
        return _env_cache[1]
    values = sorted({v for _, v in items}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None
    _env_cache = (items, pattern)
    return pattern


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret replaced by ``[REDACTED]``; never raises."""
    if not text:
        return text
    return redactor(environ)(text)


def redactor(environ: Mapping[str, str] | None = None) -> Redactor:
    """:func:`redact` with the environment read once, for redacting many texts in one pass."""
    return Redactor(_env_pattern(os.environ if environ is None else environ))


class Redactor:
    """:func:`redact` as a callable, with the environment's secrets read once
    (:func:`redactor`); :meth:`many` redacts a list of texts."""

    __slots__ = ("_env",)

    #: Texts :meth:`many` searches at once.
    BLOCK = 512

    def __init__(self, env: re.Pattern[str] | None) -> None:
        self._env = env

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._env is not None:
            text = self._env.sub(REDACTED, text)
        for extra in _extra:
            text = extra.sub(REDACTED, text)
        if not _maybe(text.casefold()):
            return text
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _TOKEN_SHAPES.sub(REDACTED, text)
        return _SECRET_PAIR.sub(
            lambda m: m.group(0) if m.group(2) == REDACTED else m.group(1) + REDACTED, text
        )

    def many(self, texts: Iterable[str]) -> list[str]:
        """Each of ``texts`` redacted, in order.

        The texts are searched :attr:`BLOCK` at a time, joined by newlines, for the
        environment's values and the :data:`_MAYBE` words, both literal: a match in
        one text is a match in the joined block, so a block without one is returned
        as it is, and 100,000 case ids cost a few hundred searches instead of 100,000.
        Patterns of :func:`add_patterns` may anchor or look around, so with any of
        them every text is redacted on its own.
        """
        out = list(texts)
        if _extra:
            return [self(t) for t in out]
        env, block = self._env, self.BLOCK
        for start in range(0, len(out), block):
            part = out[start : start + block]
            joined = "\n".join(part)
            if (env is None or env.search(joined) is None) and not _maybe(joined.casefold()):
                continue
            out[start : start + block] = [self(t) for t in part]
        return out


def safe_repr(value: Any, limit: int = 100) -> str:
    """``repr(value)``, secrets redacted, in at most ``limit`` characters; never raises
    (user values in messages: a marker's argument, a model's output)."""
    try:
        text = redact(repr(value))
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_ids(ids: Iterable[str], clean: Redactor | None = None) -> list[str]:
    """Case ids as a report holds them: redacted, and still distinct.

    Two ids that differ only in a secret would become one; the later ones (in the
    order given, a suite's case order) get `` #2``, `` #3``. Gating pairs a run with
    its baseline on these, so a report read back pairs with the run that wrote it.
    """
    out: list[str] = []
    seen: set[str] = set()
    for base in (clean or redactor()).many(ids):
        rid = base
        k = 2
        while rid in seen:
            rid = f"{base} #{k}"
            k += 1
        seen.add(rid)
        out.append(rid)
    return out


def report_tags(tags: Iterable[str], clean: Redactor | None = None) -> dict[str, str]:
    """Each distinct tag of ``tags`` -> its name in a report: redacted, and still distinct
    (:func:`report_ids`: the later ones, in the order given, get `` #2``, `` #3``).

    Two slices whose tags differ only in a secret (``ACME-1`` and ``ACME-2`` under
    ``--prodgate-redact 'ACME-\\d+'``) stay two slices, in the run and in its report.
    """
    given = list(dict.fromkeys(tags))
    return dict(zip(given, report_ids(given, clean), strict=True))


def ambiguous_ids(ids: Iterable[str]) -> set[str]:
    """The report ids (:func:`report_ids`) that redaction made ambiguous: an id holding
    ``[REDACTED]`` that has a `` #2`` sibling, and its siblings.

    Which raw id became ``X`` and which ``X #2`` depends on which cases ran, so such ids
    name no case across two runs: they are never paired with a baseline.
    """
    given = set(ids)
    out: set[str] = set()
    for rid in given:
        if REDACTED not in rid:
            continue
        base, sep, k = rid.rpartition(" #")
        if sep and k.isdecimal() and base in given:
            out.update((rid, base))
    return out


def redact_json(
    value: Any, clean: Callable[[str], str], clash: Callable[[str], str] | None = None
) -> Any:
    """``value`` (a JSON value: notes, a cached response) with every string in it
    redacted, keys too.

    A string under a key is redacted as the pair ``key: value``, so a secret that its
    key announces (``{"api_key": "..."}``) goes as it would in text. When redaction
    makes two keys of one object equal, ``clash(key)`` gives the later one's key (or
    raises); by default it gets `` #2``, `` #3``, as :func:`report_ids` does.
    """
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, (list, tuple)):
        return [redact_json(v, clean, clash) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for k, v in value.items():
        key = clean(k) if isinstance(k, str) else k
        if key in out:
            if clash is not None:
                key = clash(key)
            else:
                n, base = 2, key
                while key in out:
                    key = f"{base} #{n}"
                    n += 1
        if isinstance(v, str) and isinstance(k, str) and key == k:
            prefix = f"{k}: "
            pair = clean(prefix + v)
            out[key] = pair[len(prefix) :] if pair.startswith(prefix) else clean(v)
        else:
            out[key] = redact_json(v, clean, clash)
    return out
