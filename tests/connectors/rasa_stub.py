"""A loopback HTTP server speaking Rasa's REST webhook protocol, for gateway-contract tests only
(the end-to-end tests against the real Rasa server belong to the bot area).

POST /webhooks/rest/webhook {"sender", "message", "metadata"} → [{"recipient_id", "text"}, …]
The gateway routes by forced intent (「/ask_legal_question」) with the resident's words in
metadata.text: the stub counts and answers those words, and keeps the intents in `intents`.
GET /conversations/<id>/tracker → no active form.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def default_reply(sender: str, message: str) -> list[str]:
    return [f"关于“{message}”：这是测试回答。"]


class RasaStub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turns: Counter = Counter()          # (sender, resident's words) -> number of turns
        self.intents: Counter = Counter()        # (sender, message as sent, e.g. "/greet") -> turns
        self.delay_s = 0.0
        self.reply: Callable[[str, str], list[str]] = default_reply
        self.forms: dict[str, str] = {}         # sender -> requested slot while a form is open
        self.metadata: list[dict] = []           # metadata of every turn, in order
        self._server: ThreadingHTTPServer | None = None

    def total_turns(self) -> int:
        with self.lock:
            return sum(self.turns.values())

    def start(self) -> str:
        stub = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # One segment per response: no Nagle / delayed-ACK stall on keep-alive connections.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *a):
                pass

            def _send(self, status: int, obj) -> None:
                body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # "/" and "/status" health checks, tracker without events
                if self.path.startswith("/conversations/"):
                    from urllib.parse import unquote

                    sender = unquote(self.path.split("/")[2])
                    slot = stub.forms.get(sender)
                    self._send(200, {"active_loop": {"name": "dispute_form"} if slot else {},
                                     "slots": {"requested_slot": slot}})
                    return
                self._send(200, {"version": "3.6.21", "model_file": "stub"} if self.path.startswith("/status")
                           else "Hello from Rasa: 3.6.21")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if self.path.startswith("/webhooks/rest/webhook"):
                    data = json.loads(raw or b"{}")
                    sender, sent = data.get("sender", ""), data.get("message", "")
                    md = data.get("metadata") or {}
                    message = md.get("text") or sent if isinstance(md, dict) else sent
                    with stub.lock:
                        stub.turns[(sender, message)] += 1
                        stub.intents[(sender, sent)] += 1
                        stub.metadata.append(md if isinstance(md, dict) else {})
                    if stub.delay_s:
                        time.sleep(stub.delay_s)
                    out = [{"recipient_id": sender, **(t if isinstance(t, dict) else {"text": t})}
                           for t in stub.reply(sender, message)]
                    self._send(200, out)
                else:  # tracker events (pause/resume) and the like
                    self._send(200, {"ok": True})

            do_PUT = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
