"""How big and how fast the HTML report and the PR comment are, at 1,000 and 100,000 cases.

Run: ``.venv/bin/python benchmarks/bench_reports.py [--sizes 1000 100000] [--flipped 5000]``

Each report is built by ``tests/report_factory.py`` (a suite with slices, misses,
model errors and flipped cases against a baseline, plus a service suite with a
load run and a drill) and gated by the real ``gating.run.regate``; building it
is not timed. Then it prints, per size: the HTML page's size, the time to
render it (median of ``--repeats``; with plots and, apart, without), how many
case rows the page embeds, and the comment's size and render time, with
``--flipped`` cases flipped against the baseline at the largest size (half
regressed, half fixed; the same share at smaller sizes).
The first render with plots includes importing matplotlib; it is printed
apart. Timings on a loaded machine are noisy: compare sizes and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pytest_prodgate.output.comment import LIMIT, comment
from pytest_prodgate.output.html import html_report
from report_factory import reports


def _timed(fn: object, repeats: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--flipped", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    t = time.perf_counter()
    html_report(reports(50, service=True)[0])
    print(f"first render with plots (imports matplotlib): {time.perf_counter() - t:.2f} s\n")
    header = (
        f"{'cases':>8} {'flipped':>8} {'HTML KB':>8} {'render s':>9} {'no-plot s':>10} "
        f"{'rows':>6} {'comment chars':>14} {'comment s':>10}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        # --flipped at the largest size; the same share (5% by default) at smaller ones.
        flipped = args.flipped * n // max(args.sizes)
        current, _ = reports(n, flipped=flipped)
        render, page = _timed(lambda r=current: html_report(r), args.repeats)
        bare, _ = _timed(lambda r=current: html_report(r, with_plots=False), args.repeats)
        took, text = _timed(lambda r=current: comment(r), args.repeats)
        assert len(text) <= LIMIT
        rows = page.count("<tr data-k=")
        print(
            f"{n:>8,} {flipped:>8,} {len(page.encode()) / 1024:>8,.0f} {render:>9.2f} "
            f"{bare:>10.2f} {rows:>6,} {len(text):>14,} {took:>10.3f}"
        )


if __name__ == "__main__":
    main()
