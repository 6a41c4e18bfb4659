"""1,000 eval cases against the loopback OpenAI server: concurrency, xdist, rate limits.

Run: ``.venv/bin/python benchmarks/bench_concurrency.py [--cases 1000] [--service-ms 100]``

Each scenario is a real ``pytest --prodgate`` subprocess on a generated project
whose ``prodgate_model`` is the official ``openai`` SDK pointed at
``examples/llm/server.py``, served from this process (room for 64 requests in
flight, a fixed service time). The test body reads ``prodgate_output``.

* **instant**: the same suite with a 0 ms service time: the suite's own run
  time (pytest start-up, collection, 1,000 items, gating) with the same flags,
  run right before each scenario so machine load hits both alike.
* **concurrency 1, 8, 32, 64** and **-n 2** (concurrency 1 and 32 per worker):
  wall time against ideal = cases x service / calls in flight, plus the
  instant run's time. Concurrency 1 (with or without -n 2) would take minutes:
  it is *estimated* from a subset (``--subset`` cases): instant(all) +
  (wall(subset) - instant(subset)) x cases / subset. The table says which
  rows are estimates.
* **-n 2 --dist worksteal** (concurrency 32 per worker): as -n 2, and the
  note counts the cases the server answered more than once (a case stolen
  after its call was made ahead on the other worker; goal 0).
* **rate-limited**: the server answers 429 (``Retry-After: service time``)
  to any request above 8 in flight; the suite runs at concurrency 32, so the
  limiter must find 8. Completion time against the ideal for 8 in flight, and
  the number of 429s.

The server runs with TCP_NODELAY (see ``_server_class``).

SPEC §11's goal: concurrency 32 takes at most 1.3 x ideal + instant (the
ratio column is wall / (ideal + instant)). The machine may be shared: the
figures are what one run measured (``--repeat K``: medians of K), not promises.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import os
import openai
import pytest
from pytest_prodgate import Model, Pricing

@pytest.fixture(scope="session")
def prodgate_model():
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], api_key="loopback",
                           max_retries=0, timeout=30.0)
    def ask(q):
        return client.chat.completions.create(
            model="loopback", messages=[{"role": "user", "content": q}])
    return Model(ask, name="loopback", pricing=Pricing(input_per_mtok=1, output_per_mtok=2),
                 timeout_s=30.0, rate_limit_errors=(openai.RateLimitError,))
"""

TEST = """
import os
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate("bench", accuracy_floor=0.5)
CASES = load_cases("cases.jsonl")[: int(os.environ.get("BENCH_CASES", "1000000"))]

@pytest.mark.parametrize("case", CASES)
def test_case(prodgate_output, case):
    assert prodgate_output.choices[0].message.content == case.expected
"""


def _server_class() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_llm_server", ROOT / "examples/llm/server.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ChatServer


def make_project(where: Path, cases: int) -> dict[str, str]:
    (where / "conftest.py").write_text(CONFTEST)
    (where / "test_bench.py").write_text(TEST)
    table = {f"question {i}": f"answer {i}" for i in range(cases)}
    lines = [
        json.dumps({"id": f"c{i:04d}", "input": q, "expected": a})
        for i, (q, a) in enumerate(table.items())
    ]
    (where / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return table


def run(where: Path, url: str, cases: int, *args: str) -> float:
    env = {**os.environ, "LOOPBACK_URL": url, "BENCH_CASES": str(cases)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["--prodgate", "--prodgate-resamples=1000", *args]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(args)} failed ({out.returncode}):\n"
            f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=100)
    parser.add_argument("--service-ms", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; medians")
    a = parser.parse_args()
    service = a.service_ms / 1000.0
    chat_server = _server_class()
    rows: list[tuple[str, float, float, float, str]] = []

    with tempfile.TemporaryDirectory(prefix="prodgate-bench-") as tmp:
        where = Path(tmp)
        table = make_project(where, a.cases)
        server = chat_server(table, service_time_s=0.0, capacity=64).start()
        url = server.base_url

        def timed(cases: int, service_s: float, *args: str) -> tuple[float, int]:
            server.service_time_s = service_s
            server.reset_counts()
            wall = run(where, url, cases, *args)
            return wall, server.requests

        instant: dict[str, float] = {}

        def add(label: str, in_flight: int, args: list[str], subset: bool = False) -> None:
            """Run the scenario right after its instant twin (same flags, 0 ms service).

            With ``--repeat K`` the pair runs K times; each figure is the median.
            """
            bases, walls, notes = [], [], []
            for _ in range(a.repeat):
                base, _ = timed(a.cases, 0.0, *args)
                if subset:
                    base_sub, _ = timed(a.subset, 0.0, *args)
                    wall_sub, n = timed(a.subset, service, *args)
                    wall = base + (wall_sub - base_sub) * a.cases / a.subset
                    note = f"estimated from {a.subset} cases"
                else:
                    wall, n = timed(a.cases, service, *args)
                    parts = []
                    if server.limited:
                        parts.append(f"{server.limited} x 429, {n} requests")
                    twice = server.served - len(server.by_prompt)
                    if "worksteal" in args or twice:
                        parts.append(f"{twice} cases answered twice")
                    note = "; ".join(parts)
                bases.append(base)
                walls.append(wall)
                notes.append(note)
            base, wall = statistics.median(bases), statistics.median(walls)
            note = notes[0] if len(set(notes)) == 1 else " | ".join(notes)
            instant[label] = base
            ideal = a.cases * service / in_flight
            rows.append((label, wall, ideal, base, note))
            print(f"  {label}: wall {wall:.1f} s, ideal {ideal:.2f} s + instant {base:.1f} s, "
                  f"ratio {wall / (ideal + base):.2f} {note}  (walls {walls}, instants {bases})",
                  flush=True)  # fmt: skip

        add("concurrency 1", 1, ["--prodgate-concurrency=1"], subset=True)
        for c in (8, 32, 64):
            add(f"concurrency {c}", c, [f"--prodgate-concurrency={c}"])
        add("-n 2, concurrency 1", 2, ["-n", "2", "--prodgate-concurrency=1"], subset=True)
        add("-n 2, concurrency 32", 64, ["-n", "2", "--prodgate-concurrency=32"])
        add(
            "-n 2 worksteal, concurrency 32",
            64,
            ["-n", "2", "--dist", "worksteal", "--prodgate-concurrency=32"],
        )
        server.rate_limit_above = 8
        server.retry_after = f"{service:g}"
        add("rate-limited above 8, concurrency 32", 8, ["--prodgate-concurrency=32"])
        server.stop()

    print(f"{a.cases} cases, service {a.service_ms:g} ms, server room for 64 in flight"
          + (f"; medians of {a.repeat} runs per row" if a.repeat > 1 else ""))  # fmt: skip
    print("each scenario is run right after its instant twin (0 ms service, same flags)")
    head = f"{'scenario':<38}{'wall s':>9}{'ideal s':>9}{'+instant':>10}{'ratio':>8}  note"
    print(head)
    print("-" * len(head))
    c1 = rows[0][1]
    for label, wall, ideal, base, note in rows:
        ratio = wall / (ideal + base)
        print(f"{label:<38}{wall:>9.1f}{ideal:>9.2f}{ideal + base:>10.1f}{ratio:>8.2f}  {note}")
    print()
    by = {r[0]: r[1] for r in rows}
    print(f"speed-up of concurrency 32 over concurrency 1: {c1 / by['concurrency 32']:.1f}x; "
          f"over -n 2 alone: {by['-n 2, concurrency 1'] / by['concurrency 32']:.1f}x")  # fmt: skip
    c32 = next(r for r in rows if r[0] == "concurrency 32")
    bound = 1.3 * c32[2] + c32[3]
    print(f"goal (SPEC 11): concurrency 32 within 1.3 x ideal + instant = {bound:.1f} s: "
          f"wall {c32[1]:.1f} s, {'met' if c32[1] <= bound else 'NOT met'}")  # fmt: skip
    print(f"rate-limited: {rows[-1][4]}; completion "
          f"{by['rate-limited above 8, concurrency 32']:.1f} s vs ideal for 8 in flight "
          f"{a.cases * service / 8:.1f} s + instant "
          f"{instant['rate-limited above 8, concurrency 32']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
