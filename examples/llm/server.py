"""A loopback server that speaks the OpenAI chat-completions API, for tests and the example.

Standard library only (``http.server.ThreadingHTTPServer``), no mocks: the
official ``openai`` SDK talks to it over a real socket exactly as it talks to
``api.openai.com``. ``POST /v1/chat/completions`` takes the last message's
``content`` as the prompt, looks the answer up in a table (unknown prompts get
``default``), waits a fixed service time and answers with a ``chat.completion``
object that reports token ``usage`` (prompt and completion tokens counted as
whitespace-separated words, so every figure is deterministic).

What it can be told to do:

* ``capacity=K``: at most K requests are served at once; the rest queue (a
  provider's concurrency). ``None``: no limit.
* ``rate_limit_above=K``: a request that arrives while K are already in flight
  is answered at once with ``429`` and ``Retry-After: retry_after`` (seconds,
  or an HTTP date if you pass one), the way providers shed load.
* ``script=[429, 503, 200, ...]``: the status of each request in arrival order
  (after the script runs out, normal service); scripted errors also carry
  ``Retry-After`` when ``retry_after`` is set.
* ``slow={prompt: seconds}``: extra service time for some prompts (timeouts).
* ``fail={prompt: status}``: a prompt always answered with that status.

It counts what it saw: ``requests`` (all), ``served`` (200s), ``limited``
(429s sent), ``by_prompt`` (requests per prompt) and ``max_in_flight``.

Use::

    with ChatServer({"2+2?": "4"}, service_time_s=0.1) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatServer", "count_tokens"]


def count_tokens(text: str) -> int:
    """The server's token count of ``text``: whitespace-separated words (at least 1)."""
    return max(1, len(text.split()))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    chat: ChatServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # Headers and body go out in two writes: without TCP_NODELAY the second waits for
    # the client's delayed ACK, about 45 ms added to every call.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "loopback", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
            messages = body["messages"]
            prompt = str(messages[-1]["content"])
            model = str(body.get("model", "loopback"))
        except (ValueError, KeyError, IndexError, TypeError):
            self._send(400, {"error": {"message": "bad request body", "type": "invalid_request"}})
            return
        status, payload, headers = self.server.chat.handle(prompt, model)
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, Any], headers: Mapping[str, str] = {}) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class ChatServer:
    """An OpenAI-compatible chat-completions server on ``127.0.0.1`` (see the module docs).

    Start it with ``start()`` or as a context manager; ``base_url`` is what to
    give ``openai.OpenAI(base_url=...)``. Counters are safe to read at any time;
    ``reset_counts()`` zeroes them. Settings may be changed between runs.
    """

    def __init__(
        self,
        table: Mapping[str, str] | None = None,
        *,
        default: str = "I don't know.",
        service_time_s: float = 0.0,
        capacity: int | None = None,
        rate_limit_above: int | None = None,
        retry_after: str | None = "0.05",
        script: Sequence[int] = (),
        slow: Mapping[str, float] | None = None,
        fail: Mapping[str, int] | None = None,
        port: int = 0,
    ) -> None:
        self.table = dict(table or {})
        self.default = default
        self.service_time_s = service_time_s
        self.rate_limit_above = rate_limit_above
        self.retry_after = retry_after
        self.slow = dict(slow or {})
        self.fail = dict(fail or {})
        self._capacity = threading.BoundedSemaphore(capacity) if capacity else None
        self._lock = threading.Lock()
        self._script = list(script)
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset_counts()

    # -- counters -------------------------------------------------------------------

    def reset_counts(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests = 0
            self.served = 0
            self.limited = 0
            self.in_flight = 0
            self.max_in_flight = 0
            self.by_prompt: Counter[str] = Counter()

    def set_script(self, statuses: Sequence[int]) -> None:
        """Statuses for the next requests, in arrival order (then normal service)."""
        with self._lock:
            self._script = list(statuses)

    # -- serving --------------------------------------------------------------------

    def _error(self, status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        kind = {429: "rate_limit_exceeded", 503: "overloaded"}.get(status, "server_error")
        headers = {}
        if status in (429, 503) and self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return status, {"error": {"message": message, "type": kind, "code": kind}}, headers

    def handle(self, prompt: str, model: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one request: ``(status, JSON body, extra headers)``."""
        with self._lock:
            self.requests += 1
            self.by_prompt[prompt] += 1
            scripted = self._script.pop(0) if self._script else None
            limit = self.rate_limit_above
            if scripted is None and limit is not None and self.in_flight >= limit:
                scripted = 429
            if scripted is None or scripted == 200:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            elif scripted == 429:
                self.limited += 1
        if scripted is not None and scripted != 200:
            return self._error(scripted, f"scripted {scripted} (loopback server)")
        try:
            if self._capacity is not None:
                self._capacity.acquire()
            try:
                time.sleep(self.service_time_s + self.slow.get(prompt, 0.0))
            finally:
                if self._capacity is not None:
                    self._capacity.release()
        finally:
            with self._lock:
                self.in_flight -= 1
        if prompt in self.fail:
            return self._error(self.fail[prompt], f"failing prompt {prompt!r}")
        with self._lock:
            self.served += 1
            serial = self.served
        answer = self.table.get(prompt, self.default)
        prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens(answer)
        return (
            200,
            {
                "id": f"chatcmpl-loopback-{serial}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            {},
        )

    # -- lifecycle ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the SDK's ``base_url``."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ChatServer:
        """Listen on a free loopback port (or the one given) and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.chat = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="llm-loopback-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - manual use
    """``python examples/llm/server.py [PORT] [SERVICE_MS]``: serve until Ctrl-C."""

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    service = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.1
    with ChatServer(service_time_s=service, port=port) as server:
        print(f"serving {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
