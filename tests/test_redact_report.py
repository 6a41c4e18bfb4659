"""The last pass of SPEC §18 on a whole report: every free-text field, for any writer.

Reports this plugin writes are redacted where text is captured; a report written
elsewhere (an older version, another tool, a hand edit) may still hold secrets, and
``prodgate html``, ``prodgate comment``, ``prodgate gate --json`` and ``merge`` must
not repeat them.
"""

from __future__ import annotations

from pytest_prodgate.output.comment import comment
from pytest_prodgate.output.html import html_report
from pytest_prodgate.schema.files import dump_report, redact_report
from report_factory import reports

KEY = "sk-proj-0123456789abcdefABCDEF"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9abcdefgh"


def _with_secrets():  # type: ignore[no-untyped-def]
    report, _ = reports(200, flipped=10)
    suite = report.suites[0]
    suite.gates[0].reason = f"upstream said: invalid key {KEY}"
    suite.notes.append(f"Authorization: {BEARER}")
    case = next(c for c in suite.cases if c.trials and c.trials[0].calls)
    case.trials[0].calls[0].error_message = f"401\nheaders: Authorization: {BEARER}\nkey {KEY}"
    case.error = f"model error: {KEY}"
    report.notes.append(f"api_key={KEY}")
    return report


def test_every_writer_leaves_no_secret_of_a_report_written_elsewhere() -> None:
    for text in (
        comment(_with_secrets()),
        html_report(_with_secrets(), with_plots=False),
        dump_report(redact_report(_with_secrets())),
    ):
        assert KEY not in text
        assert "eyJhbGciOiJIUzI1NiJ9abcdefgh" not in text
    assert dump_report(redact_report(_with_secrets())).count("[REDACTED]") >= 5


def test_redact_report_keeps_everything_else() -> None:
    clean = redact_report(_with_secrets())
    suite = clean.suites[0]
    assert suite.gates[0].reason == "upstream said: invalid key [REDACTED]"
    assert suite.gates[0].verdict == _with_secrets().suites[0].gates[0].verdict
    plain, _ = reports(200, flipped=10)
    assert dump_report(redact_report(plain)) == dump_report(reports(200, flipped=10)[0])


def test_a_note_whose_key_names_a_secret_is_redacted_and_keys_stay_distinct() -> None:
    report, _ = reports(20, flipped=2)
    case = report.suites[0].cases[0]
    case.notes = {
        "api_key": "abcd1234efgh5678",  # nothing in the value alone looks like a key
        "request": {"headers": {"x-api-key": "zyxw9876vuts5432"}},
        f"seen {KEY}": 1,
        "seen sk-proj-zzzzzzzzzzzzzzzzzzzz": 2,  # redacts to the same key as the one above
        "model": "gpt-4o-mini",
    }
    text = dump_report(redact_report(report))
    assert "abcd1234efgh5678" not in text
    assert "zyxw9876vuts5432" not in text
    assert case.notes == {
        "api_key": "[REDACTED]",
        "request": {"headers": {"x-api-key": "[REDACTED]"}},
        "seen [REDACTED]": 1,
        "seen [REDACTED] #2": 2,
        "model": "gpt-4o-mini",
    }
