"""How fast the load runner (measure.load) drives calls, and whether it is the bottleneck.

Run: ``.venv/bin/python benchmarks/bench_load.py [--repeats 5] [--duration 2.0]``

Scenarios (each run ``--repeats`` times, scenarios alternating round-robin so
machine noise spreads evenly; the table shows medians):

* an instant in-process callable (``lambda x: x``), sync, at concurrency 1, 8, 32;
* an instant ``async def`` callable at concurrency 1, 8, 32 (one private loop);
* a loopback HTTP server with zero service time, in a **separate process** (so
  it does not share this process's GIL), driven with keep-alive ``http.client``
  connections (one per worker thread) at concurrency 1, 8, 32, and with an
  ``httpx.AsyncClient`` at concurrency 8 when httpx is installed;
* the check that matters: a model that sleeps 5 ms per call, at concurrency 8,
  against the ideal 8 / 0.005 = 1,600 rps. ``time.sleep(0.005)`` itself
  overshoots a little, so the Little's-law ideal (concurrency / measured mean
  latency) is shown too: the gap between it and the measured rate is the
  runner's own overhead;
* known rates (the checks tests/test_load.py used to assert within 10%, which a
  shared machine cannot keep): a model sleeping 20 ms at concurrency 8 (ideal
  400 rps), an async model sleeping 50 ms at concurrency 16 (ideal 320 rps),
  and an in-process HTTP server with 4 service slots of 25 ms (capacity
  160 rps) driven at concurrency 8 (expect 160) and 2 (expect 80), and with 2
  slots by an ``httpx.AsyncClient`` through ``arun_load`` (expect 80).

"rps" is successful requests per second over the measured window;
"in flight" is the mean number of calls in flight (of the concurrency), and
"saturated" the runner's own flag (it could not keep the calls in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_prodgate.measure.load import LoadResult, run_load

SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """A zero-service-time keep-alive HTTP server in a child process; yields its port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait(5)


class KeepAliveClient:
    """A sync GET with one persistent connection per calling thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()
        self.conns: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def __call__(self, _: Any) -> bytes:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.local.conn = conn
            with self.lock:
                self.conns.append(conn)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        return body

    def close(self) -> None:
        with self.lock:
            for conn in self.conns:
                conn.close()


def instant(x: Any) -> Any:
    return x


async def ainstant(x: Any) -> Any:
    return x


def sleep_5ms(x: Any) -> Any:
    time.sleep(0.005)
    return x


def plain_threads(fn: Callable[[Any], Any], concurrency: int, duration: float) -> float:
    """Requests/s of a hand-written thread loop (no runner): the reference for the runner."""
    counts = [0] * concurrency
    go = threading.Event()
    end = [0.0]

    def loop(k: int) -> None:
        fn(0)  # warm-up: open the connection
        go.wait()
        n = 0
        while time.perf_counter() < end[0]:
            fn(0)
            n += 1
        counts[k] = n

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    end[0] = t0 + duration
    go.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def plain_httpx_gather(port: int, concurrency: int, duration: float) -> float | None:
    """Requests/s of ``asyncio.gather`` over httpx workers (no runner), or None without httpx."""
    try:
        import httpx
    except ImportError:
        return None

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            await asyncio.gather(*[client.get("/") for _ in range(concurrency)])
            t0 = time.perf_counter()
            end = t0 + duration
            n = 0

            async def loop() -> None:
                nonlocal n
                while time.perf_counter() < end:
                    (await client.get("/")).raise_for_status()
                    n += 1

            await asyncio.gather(*[loop() for _ in range(concurrency)])
            return n / (time.perf_counter() - t0)

    return asyncio.run(main())


def httpx_scenario(port: int, duration: float) -> Callable[[], LoadResult] | None:
    try:
        import httpx
    except ImportError:
        return None

    def go() -> LoadResult:
        async def main() -> LoadResult:
            from pytest_prodgate.measure.load import arun_load

            limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits
            ) as client:

                async def get(_: Any) -> bytes:
                    resp = await client.get("/")
                    resp.raise_for_status()
                    return resp.content

                return await arun_load(
                    get, [0], concurrency=8, duration_s=duration, warmup=8, record=False
                )

        return asyncio.run(main())

    return go


class CapacityServer(ThreadingHTTPServer):
    """A loopback HTTP server with exactly ``workers`` service slots of ``service_s`` each.

    Slots are booked on the clock (each request takes the slot that frees first),
    so the capacity is exactly ``workers / service_s`` requests/s.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, workers: int, service_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _CapacityHandler)
        self.free_at = [0.0] * workers
        self.book = threading.Lock()
        self.service_s = service_s

    def serve(self) -> None:
        with self.book:
            now = time.perf_counter()
            k = min(range(len(self.free_at)), key=self.free_at.__getitem__)
            done = max(now, self.free_at[k]) + self.service_s
            self.free_at[k] = done
        time.sleep(max(0.0, done - time.perf_counter()))


class _CapacityHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: CapacityServer

    def do_GET(self) -> None:
        self.server.serve()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def capacity_server(workers: int, service_s: float) -> Iterator[int]:
    server = CapacityServer(workers, service_s)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def known_rates(duration: float) -> dict[str, tuple[float, Callable[[], LoadResult]]]:
    """``{scenario: (expected rps, run)}``: rates fixed by the model or the server."""

    def sleeper(seconds: float) -> Callable[[Any], Any]:
        def fn(x: Any) -> Any:
            time.sleep(seconds)
            return x

        return fn

    async def asleep_50ms(x: Any) -> Any:
        await asyncio.sleep(0.05)
        return x

    def http(workers: int, c: int) -> Callable[[], LoadResult]:
        def go() -> LoadResult:
            with capacity_server(workers, 0.025) as port:
                client = KeepAliveClient(port)
                try:
                    return run_load(
                        client, [0], concurrency=c, duration_s=duration, warmup=c, record=False
                    )
                finally:
                    client.close()

        return go

    def httpx_capacity() -> LoadResult:
        import httpx

        from pytest_prodgate.measure.load import arun_load

        async def main(port: int) -> LoadResult:
            limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits
            ) as client:

                async def get(_: Any) -> bytes:
                    resp = await client.get("/")
                    resp.raise_for_status()
                    return resp.content

                return await arun_load(
                    get, [0], concurrency=4, duration_s=duration, warmup=4, record=False
                )

        with capacity_server(2, 0.025) as port:
            return asyncio.run(main(port))

    def sync_20ms() -> LoadResult:
        return run_load(sleeper(0.02), [0], concurrency=8, duration_s=duration, warmup=8)

    def async_50ms() -> LoadResult:
        return run_load(asleep_50ms, [0], concurrency=16, duration_s=duration, warmup=16)

    out: dict[str, tuple[float, Callable[[], LoadResult]]] = {
        "model 20 ms/call, c=8": (400.0, sync_20ms),
        "async model 50 ms/call, c=16": (320.0, async_50ms),
        "HTTP 4 slots x 25 ms, c=8": (160.0, http(4, 8)),
        "HTTP 4 slots x 25 ms, c=2": (80.0, http(4, 2)),
    }
    try:
        import httpx  # noqa: F401
    except ImportError:
        pass
    else:
        out["HTTP 2 slots x 25 ms (httpx), c=4"] = (80.0, httpx_capacity)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per timed run")
    args = parser.parse_args()
    dur = args.duration
    n_instant = 200_000

    with http_server() as port:
        clients: list[KeepAliveClient] = []

        def http_run(c: int) -> Callable[[], LoadResult]:
            def go() -> LoadResult:
                client = KeepAliveClient(port)
                clients.append(client)
                try:
                    return run_load(
                        client, [0], concurrency=c, duration_s=dur, warmup=c, record=False
                    )
                finally:
                    client.close()

            return go

        scenarios: dict[str, Callable[[], LoadResult]] = {}
        for c in (1, 8, 32):
            scenarios[f"sync instant, c={c}"] = lambda c=c: run_load(
                instant, [0], concurrency=c, requests=n_instant, warmup=c, record=False
            )
        for c in (1, 8, 32):
            scenarios[f"async instant, c={c}"] = lambda c=c: run_load(
                ainstant, [0], concurrency=c, requests=n_instant, warmup=c, record=False
            )
        for c in (1, 8, 32):
            scenarios[f"HTTP loopback (http.client), c={c}"] = http_run(c)
        hx = httpx_scenario(port, dur)
        if hx is not None:
            scenarios["HTTP loopback (httpx async), c=8"] = hx
        scenarios["model 5 ms/call, c=8"] = lambda: run_load(
            sleep_5ms, [0], concurrency=8, duration_s=dur, warmup=8, record=False
        )

        def plain_http(c: int) -> float:
            client = KeepAliveClient(port)
            try:
                return plain_threads(client, c, dur)
            finally:
                client.close()

        baselines: dict[str, Callable[[], float | None]] = {
            "HTTP loopback (http.client), c=8": lambda: plain_http(8),
            "HTTP loopback (httpx async), c=8": lambda: plain_httpx_gather(port, 8, dur),
            "model 5 ms/call, c=8": lambda: plain_threads(sleep_5ms, 8, dur),
        }

        results: dict[str, list[LoadResult]] = {k: [] for k in scenarios}
        base: dict[str, list[float]] = {k: [] for k in baselines}
        for _ in range(args.repeats):
            for key, fn in scenarios.items():
                results[key].append(fn())
            for key, bfn in baselines.items():
                value = bfn()
                if value is not None:
                    base[key].append(value)

    known = known_rates(dur)
    known_runs: dict[str, list[LoadResult]] = {k: [] for k in known}
    for _ in range(args.repeats):
        for key, (_, kfn) in known.items():
            known_runs[key].append(kfn())

    print(
        f"pytest_prodgate.measure.load benchmark: Python {sys.version.split()[0]}, "
        f"{args.repeats} repeats (medians), timed runs {dur:g} s, instant runs "
        f"{n_instant:,} requests"
    )
    print()
    header = f"{'scenario':38} {'rps':>11} {'in flight':>12} {'saturated':>10} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for key, runs in results.items():
        rps = statistics.median(r.throughput_rps() for r in runs)
        flight = statistics.median(r.mean_in_flight() or 0.0 for r in runs)
        conc = runs[0].concurrency
        sat = sum(r.saturated for r in runs)
        errs = sum(r.errors() for r in runs)
        print(f"{key:38} {rps:11,.0f} {flight:6.2f} of {conc:<3} {sat:>4}/{len(runs):<5} {errs:>7}")

    print()
    print("the same work with a hand-written loop instead of the runner (no per-call records):")
    for key, values in base.items():
        if values and key in results:
            ours = statistics.median(r.throughput_rps() for r in results[key])
            ref = statistics.median(values)
            print(f"  {key:38} {ref:9,.0f} rps   runner/hand-written {ours / ref:.3f}")

    runs = results["model 5 ms/call, c=8"]
    rps = statistics.median(r.throughput_rps() for r in runs)
    mean_lat = statistics.median(statistics.fmean(r.latencies_ms()) for r in runs) / 1000.0
    little = 8 / mean_lat
    print()
    print(
        f"model at 5 ms per call at concurrency 8: measured {rps:,.0f} rps vs ideal 1,600 rps "
        f"(ratio {rps / 1600:.3f})"
    )
    print(
        f"  time.sleep(0.005) took {mean_lat * 1000:.3f} ms on average: Little's-law ideal "
        f"8 / {mean_lat * 1000:.3f} ms = {little:,.0f} rps, measured/ideal {rps / little:.4f}"
    )

    print()
    print("known rates (the runner is not the bottleneck when measured/expected is ~1.0):")
    for key, (expected, _) in known.items():
        runs = known_runs[key]
        rps = statistics.median(r.throughput_rps() for r in runs)
        sat = sum(r.saturated for r in runs)
        print(
            f"  {key:38} {rps:9,.1f} rps vs {expected:,.0f} expected: ratio {rps / expected:.3f}"
            f"   saturated {sat}/{len(runs)}"
        )


if __name__ == "__main__":
    main()
