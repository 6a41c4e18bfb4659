"""The redaction prefilter never lets through a text that one of the patterns would change."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_prodgate.schema import redact as r

PATTERNS = (r._TOKEN_SHAPES, r._AUTH_HEADER, r._SCHEME_TOKEN, r._SECRET_PAIR)

#: Pieces of what the patterns look for, in any case, glued with random text.
PIECES = [
    "sk-",
    "sk_live_",
    "sk_test_",
    "pk_live_",
    "rk_test_",
    "xoxb-",
    "xoxp-",
    "ghp_",
    "gho_",
    "github_pat_",
    "AKIA",
    "AIza",
    "eyJ",
    "Authorization",
    "Proxy-Authorization",
    "Bearer",
    "Basic",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "access_key",
    "secret",
    "token",
    "password",
    "passwd",
    "pwd",
    "credentials",
    "auth_key",
    "private-key",
    ": ",
    "=",
    '"',
    "'",
    " ",
    ".",
    "-",
    "_",
]
FILL = st.text(alphabet=string.ascii_letters + string.digits + "_-.=:\"' ", max_size=24)
PIECE = st.sampled_from(PIECES).flatmap(
    lambda p: st.sampled_from([p, p.lower(), p.upper(), p.title()])
)
TEXT = st.lists(st.one_of(PIECE, FILL), max_size=8).map("".join)


@settings(max_examples=3000, deadline=None)
@given(TEXT)
def test_the_prefilter_is_a_superset_of_every_pattern(text: str) -> None:
    if not r._maybe(text.casefold()):
        for pattern in PATTERNS:
            assert pattern.search(text) is None, (pattern.pattern, text)


def test_the_prefilter_passes_what_each_pattern_redacts() -> None:
    secrets = [
        "sk-proj-0123456789abcdef",
        "sk_live_0123456789ab",
        "rk_test_0123456789",
        "xoxb-0123456789-abc",
        "ghp_0123456789abcdefABCD",
        "github_pat_0123456789abcdefXYZ",
        "AKIA0123456789ABCDEF",
        "AIzaSyA0123456789abcdefghij",
        "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl",
        "Authorization: token123",
        "bearer abcdefgh12345",
        "Basic dXNlcjpwYXNzd29yZA==",
        "PASSWORD=hunter2hunter2",
        "Proxy-Authorization: abcdefgh1",
        "credentials=abcdefgh123",
        '"Api-Key": "abcdefgh123"',
        "pwd: abcdefgh123",
    ]
    for text in secrets:
        assert r.redact(text) != text, text  # redacted through the prefilter
    assert (
        r.redact("case-0042 [lang:de] expected 'Paris'") == "case-0042 [lang:de] expected 'Paris'"
    )
    # Glued to a word by "-" or "_" (a parametrize id): still a key; inside a word not.
    assert r.redact("case-sk-ABCDEFGHIJKLMNOPQRSTUV00") == "case-[REDACTED]"
    assert r.redact("task_ghp_0123456789abcdefABCD") == "task_[REDACTED]"
    assert r.redact("desk-12345678abc") == "desk-12345678abc"


def test_environment_values_and_user_patterns_pass_the_first_look() -> None:
    env = {"MY_SERVICE_TOKEN": "hunter2hunter2XYZ"}
    clean = r.redactor(env)
    assert clean("the value hunter2hunter2XYZ leaked") == "the value [REDACTED] leaked"
    for pattern in (r"ACME-\d+", r"(?i)acme-\d+"):  # the second cannot be combined: all run
        r.add_patterns([pattern])
        try:
            assert r.redactor(env)("order ACME-4711 of hunter2hunter2XYZ") == (
                "order [REDACTED] of [REDACTED]"
            )
        finally:
            r.clear_patterns()
    assert r.redactor(env)("order ACME-4711") == "order ACME-4711"


ENV = {"MY_SERVICE_TOKEN": "hunter2hunter2XYZ"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, st.just("key hunter2hunter2XYZ")), max_size=40))
def test_many_gives_what_one_at_a_time_gives(texts: list[str]) -> None:
    clean = r.redactor(ENV)
    old = r.Redactor.BLOCK
    r.Redactor.BLOCK = 7  # several blocks, some clean, some not
    try:
        assert clean.many(texts) == [clean(t) for t in texts]
    finally:
        r.Redactor.BLOCK = old


def test_many_with_user_patterns_redacts_each_text_on_its_own() -> None:
    # An anchored pattern matches the second text alone, never inside a joined block.
    r.add_patterns([r"^ACME-\d+$"])
    try:
        assert r.redactor({}).many(["case 1", "ACME-4711"]) == ["case 1", "[REDACTED]"]
    finally:
        r.clear_patterns()
    assert r.report_ids(["a sk-proj-0123456789abcdef", "a sk-proj-zzzzzzzzzzzzzzzz", "b"]) == [
        "a [REDACTED]",
        "a [REDACTED] #2",
        "b",
    ]
