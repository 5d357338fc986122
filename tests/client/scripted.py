"""A real HTTP server on loopback that answers from a script and keeps what it was sent (for failure paths)."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedPDP:
    """Answers each POST with the next ``(status, body)`` of ``script`` (the last one repeats)."""

    def __init__(self, *script: tuple[int, Any]):
        self.script = deque(script)
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append(json.loads(body))
                status, answer = outer.script.popleft() if len(outer.script) > 1 else outer.script[0]
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedPDP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def allow_all(request: dict[str, Any]) -> dict[str, Any]:
    """The answer a PDP allowing every action of ``request`` gives."""
    return {
        "results": [
            {
                "resource": {"id": e["resource"]["id"], "kind": e["resource"]["kind"]},
                "actions": {a: "EFFECT_ALLOW" for a in e["actions"]},
            }
            for e in request["resources"]
        ]
    }
