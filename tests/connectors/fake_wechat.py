"""A fake WeChat / WeCom API server on loopback: a real HTTP server speaking the token,
customer-service (message/custom/send) and WeCom (gettoken, message/send) endpoints.

Tests script error codes (45015, 48001, 40001 …) and read what was delivered; `token_prefix`
makes the issued access_tokens recognisable (a canary), `echo_request_in_errors` makes scripted
errors quote the request URL with its access_token.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeChatAPI:
    def __init__(self, appid: str, secret: str, corpid: str = "", corpsecret: str = ""):
        self.appid, self.secret = appid, secret
        self.corpid, self.corpsecret = corpid, corpsecret
        self.lock = threading.Lock()
        self.sent: list[dict] = []          # delivered messages: {"api", "touser", "content"}
        self.token_calls = 0
        self.valid_tokens: set[str] = set()
        self.script: list[int] = []         # errcodes for the next send calls, popped in order
        self.send_calls = 0
        self.delay_s = 0.0
        self.token_prefix = "tok-"          # issued tokens are f"{token_prefix}{n}"
        # Scripted errors quote the request line in errmsg, query string (access_token) included,
        # as some gateways' error pages do: what the caller stores or logs must not keep it.
        self.echo_request_in_errors = False
        self._server: ThreadingHTTPServer | None = None

    # -- control --------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def fail_next(self, *codes: int) -> None:
        with self.lock:
            self.script.extend(codes)

    def contents(self, touser: str | None = None) -> list[str]:
        with self.lock:
            return [m["content"] for m in self.sent if touser is None or m["touser"] == touser]

    def wait_for(self, n: int, timeout: float = 15.0, touser: str | None = None) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.contents(touser)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.contents(touser)

    # -- server ---------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # One segment per response: no Nagle / delayed-ACK stall on keep-alive connections.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *a):  # quiet
                pass

            def _json(self, obj: dict) -> None:
                body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                if u.path == "/cgi-bin/token":
                    ok = q.get("appid") == fake.appid and q.get("secret") == fake.secret \
                        and q.get("grant_type") == "client_credential"
                elif u.path == "/cgi-bin/gettoken":
                    ok = q.get("corpid") == fake.corpid and q.get("corpsecret") == fake.corpsecret
                else:
                    self._json({"errcode": 404, "errmsg": "no such api"})
                    return
                if not ok:
                    self._json({"errcode": 40013, "errmsg": "invalid appid or secret"})
                    return
                with fake.lock:
                    fake.token_calls += 1
                    # Refreshing invalidates the previous token, as on the real platform.
                    tok = f"{fake.token_prefix}{fake.token_calls}"
                    fake.valid_tokens = {tok}
                self._json({"access_token": tok, "expires_in": 7200})

            def do_POST(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(n) or b"{}")
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if u.path not in ("/cgi-bin/message/custom/send", "/cgi-bin/message/send"):
                    self._json({"errcode": 404, "errmsg": "no such api"})
                    return
                with fake.lock:
                    fake.send_calls += 1
                    if q.get("access_token") not in fake.valid_tokens:
                        code = 40001
                    elif fake.script:
                        code = fake.script.pop(0)
                    else:
                        code = 0
                    if code == 0:
                        fake.sent.append({"api": u.path, "touser": data.get("touser"),
                                          "content": data.get("text", {}).get("content"),
                                          "agentid": data.get("agentid")})
                msgs = {0: "ok", 40001: "invalid credential, access_token is invalid or not latest",
                        42001: "access_token expired", 45015: "response out of time limit or subscription is canceled",
                        48001: "api unauthorized", -1: "system error"}
                errmsg = msgs.get(code, "error")
                if code and fake.echo_request_in_errors:
                    errmsg += f", request: POST {self.path}"
                self._json({"errcode": code, "errmsg": errmsg})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
