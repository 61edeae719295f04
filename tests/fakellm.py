"""A small OpenAI-compatible chat server for tests: ``POST /v1/chat/completions`` on 127.0.0.1.

Each test scripts it with :meth:`FakeLLM.reply` (content, a status with a body, raw bytes, a delay).
It records every request (path, headers, JSON body) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(content: str, model: str = "fake-model") -> dict[str, Any]:
    """The JSON an OpenAI-compatible server returns for a non-streaming chat completion."""
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1764547200, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def clause_ids(body: dict[str, Any]) -> list[str]:
    """The clause ids the client put in front of the model (【id】 at the start of a line)."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
    return re.findall(r"^【([A-Za-z0-9.]+)】", text, re.M)


@dataclass
class Scripted:
    status: int = 200
    content: str | None = None  # the assistant's text (a completion body)
    raw: bytes | None = None  # or exactly these bytes
    body: dict[str, Any] | None = None  # or this JSON
    delay: float = 0.0


@dataclass
class FakeLLM:
    port: int = 0
    script: Callable[[dict[str, Any]], Scripted] = field(default=lambda body: Scripted(content="【?】"))
    requests: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, content: str | None = None, *, status: int = 200, raw: bytes | None = None,
              body: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        self.script = lambda _body: Scripted(status, content, raw, body, delay)


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            s = fake.script(body)
            if s.delay and fake.stop.wait(s.delay):
                return  # the test ended first: drop the connection
            if s.raw is not None:
                data = s.raw
            elif s.body is not None:
                data = json.dumps(s.body).encode()
            else:
                data = json.dumps(completion(s.content or "", str(body.get("model", "")))).encode()
            self._send(s.status, data)

        def _send(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
