"""Real loopback servers for fault and load tests: the API under uvicorn in a thread, and a tiny HTTP server that
speaks the part of the OpenAI chat API the assistant uses, whose behaviour a test switches at run time (healthy,
slow, malformed JSON, malformed tool calls)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HEALTHY_REPLY = "Option 1 is a good choice for you. Would you like another colour?"


def free_port() -> int:
    """A loopback port nothing listens on (closed again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_api(app: Any, log_level: str = "warning", access_log: bool = False) -> Iterator[str]:
    """Serve a FastAPI app with uvicorn on a free loopback port; yields its base URL. With `access_log`,
    uvicorn's loggers (access lines included) propagate to the root logger, where pytest's caplog sees them."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log,
                            **({"log_config": None} if access_log else {}))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started, "uvicorn did not start within 30 s"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    server: TinyOpenAI

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": self.server.model, "object": "model", "created": 0, "owned_by": "test"}]}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        self.server.requests.append(request)
        mode = self.server.mode
        if mode == "slow":
            time.sleep(self.server.delay_s)
        if mode == "garbage":
            body = b'{"id": "x", "choices": [{"message": {"content": "unterminated'
            if request.get("stream"):
                self._send(200, b"data: {not json at all\n\n", "text/event-stream")
            else:
                self._send(200, body)
            return
        if mode == "bad_tool" and request.get("tools"):
            call = {"id": "call_1", "type": "function",
                    "function": {"name": "no_such_tool", "arguments": "{]] not json"}}
            self._send(200, self._completion({"role": "assistant", "content": None, "tool_calls": [call]},
                                             "tool_calls"))
            return
        text = '<tool_call>{"name": "search_catalog", "arguments": {broken' if mode == "bad_tool" else HEALTHY_REPLY
        if request.get("stream"):
            self._stream(text)
        else:
            self._send(200, self._completion({"role": "assistant", "content": text}, "stop"))

    def _completion(self, message: dict[str, Any], finish: str) -> bytes:
        return json.dumps({"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": self.server.model,
                           "choices": [{"index": 0, "message": message, "finish_reason": finish}]}).encode()

    def _stream(self, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [text[i:i + 8] for i in range(0, len(text), 8)]
        for i, piece in enumerate(pieces):
            delta = {"content": piece} if i else {"role": "assistant", "content": piece}
            chunk = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": self.server.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": self.server.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


class TinyOpenAI(ThreadingHTTPServer):
    """A tiny OpenAI-compatible chat server on loopback. `mode`: "ok" (a short English reply), "slow" (sleeps
    `delay_s` first), "garbage" (malformed JSON / SSE), "bad_tool" (a malformed tool call, and tool-call markup
    as the reply text). Records the request bodies it received."""

    daemon_threads = True

    def __init__(self, port: int = 0, mode: str = "ok", delay_s: float = 5.0, model: str = "tiny"):
        super().__init__(("127.0.0.1", port), _Handler)
        self.mode = mode
        self.delay_s = delay_s
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (…/v1)."""
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> TinyOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()


def demo_subset(directory: Any, words: tuple[str, ...], limit: int) -> tuple[Any, int]:
    """Write the first `limit` demo-catalog products whose title names one of `words` to DIR/catalog.jsonl;
    returns the file and how many products it holds."""
    from assistant.app import DEMO_CATALOG

    rows = [json.loads(line) for line in DEMO_CATALOG.read_text(encoding="utf-8").splitlines()]
    wanted = [r for r in rows if any(w in r["title"].lower() for w in words)][:limit]
    catalog = directory / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in wanted) + "\n", encoding="utf-8")
    return catalog, len(wanted)
