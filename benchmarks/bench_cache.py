"""Pay once: a suite run twice with ``--prodgate-cache`` against the OpenAI loopback server.

The first run calls the server for every case and journals each response; the
second run replays them. Printed: the requests the server saw in each run (goal
for the second: 0), both wall times and their ratio (one run each, measured in
this process, so the ratio is what counts on a shared machine), the saved cost
and the journal's size. The official ``openai`` SDK makes every call.

    python benchmarks/bench_cache.py [--cases 200] [--service-ms 100] [--concurrency N]

With ``--concurrency N`` the cases read ``prodgate_output`` (calls made ahead,
N in flight) instead of calling ``prodgate_model`` one at a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
    client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], api_key="sk-unused", max_retries=0)

    def ask(prompt):
        return client.chat.completions.create(
            model="loopback", messages=[{{"role": "user", "content": prompt}}]
        )

    return Model(
        ask, name="loopback", version="bench",
        pricing=Pricing(input_per_mtok=2.5, output_per_mtok=10.0),
    )
"""

SUITE = """
import pytest

pytestmark = pytest.mark.prodgate(
    "bench", accuracy_floor=0.5, latency_p95_ms=5000, cost_per_call_usd=0.01, cost_cap_usd=0.01
)

@pytest.mark.parametrize("i", range({cases}))
def test_case(prodgate_model, i):
    reply = prodgate_model(f"What is {{i}} + {{i}}?")
    assert reply.choices[0].message.content == str(2 * i)
"""


SUITE_AHEAD = """
import pytest
from pytest_prodgate import load_cases

pytestmark = pytest.mark.prodgate(
    "bench", accuracy_floor=0.5, latency_p95_ms=5000, cost_per_call_usd=0.01, cost_cap_usd=0.01
)

@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_case(prodgate_output, case):
    assert prodgate_output.choices[0].message.content == case.expected
"""


def _server(table: dict[str, str], service_s: float) -> Any:
    spec = importlib.util.spec_from_file_location(
        "prodgate_llm_server", ROOT / "examples" / "llm" / "server.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ChatServer(table, service_time_s=service_s)


def run(project: Path, args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--prodgate",
            "--prodgate-report=r.json",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}"
        )
    return elapsed, json.loads((project / "r.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--service-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=None)
    opts = parser.parse_args()
    table = {f"What is {i} + {i}?": str(2 * i) for i in range(opts.cases)}
    with tempfile.TemporaryDirectory() as tmp, _server(table, opts.service_ms / 1000) as server:
        project = Path(tmp)
        (project / "conftest.py").write_text(CONFTEST.format())
        if opts.concurrency is None:
            (project / "test_bench.py").write_text(SUITE.format(cases=opts.cases))
        else:
            (project / "test_bench.py").write_text(SUITE_AHEAD)
            lines = [
                json.dumps({"id": f"c{i:04d}", "input": q, "expected": a})
                for i, (q, a) in enumerate(table.items())
            ]
            (project / "cases.jsonl").write_text("\n".join(lines) + "\n")
        (project / "pytest.ini").write_text("[pytest]\n")
        env = {**os.environ, "LOOPBACK_URL": server.base_url}
        src = str(ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        cache = ["--prodgate-cache", str(project / "cache")]
        if opts.concurrency is not None:
            cache.append(f"--prodgate-concurrency={opts.concurrency}")
        rows = []
        for name in ("first run (records)", "second run (replays)"):
            before = server.requests
            seconds, report = run(project, cache, env)
            suite = report["suites"][0]
            gates = {g["gate"]: g for g in suite["gates"]}
            rows.append((name, server.requests - before, seconds, suite, gates))
        journal = project / "cache" / "journal.jsonl"
        print(
            f"{opts.cases:,} eval cases, loopback server {opts.service_ms:g} ms service time, "
            "openai SDK, one process, one run each, "
            + (
                "prodgate_model called one at a time"
                if opts.concurrency is None
                else f"prodgate_output at concurrency {opts.concurrency}"
            )
        )
        head = ("run", "requests", "wall s", "fresh $", "saved $")
        print(
            f"  {head[0]:22s} {head[1]:>8s} {head[2]:>8s} {head[3]:>10s} {head[4]:>10s}  p95 gate"
        )
        for name, requests, seconds, suite, gates in rows:
            p95 = gates["latency_p95_ms"]
            fresh = suite.get("fresh_cost_usd") or 0  # the report leaves defaults out
            saved = suite.get("replayed_cost_usd") or 0
            print(
                f"  {name:22s} {requests:8,d} {seconds:8.2f} {fresh:10.6f} "
                f"{saved:10.6f}  {p95['estimate']:.1f} ms "
                f"{p95['verdict']}{' (replayed)' if p95.get('replayed') else ''}"
            )
        first, second = rows[0], rows[1]
        same = [
            (g["estimate"], g["lower"], g["upper"], g["n"], g["verdict"]) for g in first[4].values()
        ] == [
            (g["estimate"], g["lower"], g["upper"], g["n"], g["verdict"])
            for g in second[4].values()
        ]
        print(f"  model calls in the second run: {second[1]}  (goal 0)")
        print(f"  wall-time ratio second / first: {second[2] / first[2]:.3f}")
        print(f"  every gate figure identical in both runs: {same}")
        records = len(journal.read_bytes().splitlines())
        print(f"  journal: {journal.stat().st_size:,} bytes, {records:,} records")


if __name__ == "__main__":
    main()
