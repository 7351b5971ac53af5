"""`mingbai chat`: a terminal REPL for maintainers.

By default it talks to the running stack (POST /api/v1/messages with the local API token) as
`cli:<sender>`; with --in-process (or when the stack is not running) it calls the gateway directly.
"""
from __future__ import annotations

import argparse
import sys
import uuid


def _remote(url: str, token: str, sender: str, text: str, after: int) -> tuple[list[str], int]:
    import requests

    s = requests.Session()
    s.trust_env = False
    h = {"Authorization": f"Bearer {token}"}
    r = s.post(f"{url}/api/v1/messages", json={"sender": sender, "text": text, "channel": "cli",
                                               "msg_id": uuid.uuid4().hex}, headers=h, timeout=60)
    r.raise_for_status()
    replies = list(r.json().get("replies", []))
    p = s.get(f"{url}/api/v1/messages", params={"sender": sender, "channel": "cli", "after": after},
              headers=h, timeout=10)
    if p.ok:
        for m in p.json().get("messages", []):
            after = max(after, m["id"])
            replies.append(f"[{m.get('author', 'staff')}] {m['text']}")
    return replies, after


def main(argv: list[str]) -> int:
    from mingbai.settings import get_settings

    st = get_settings()
    ap = argparse.ArgumentParser(prog="mingbai chat", description="终端聊天 (maintainers)")
    ap.add_argument("--url", default=f"http://{st.host}:{st.web_port}", help="运行中的网页应用地址")
    ap.add_argument("--sender", default="local", help="居民标识 (resident key cli:<sender>)")
    ap.add_argument("--in-process", action="store_true", help="不经网络，直接调用网关")
    ap.add_argument("-m", "--message", action="append", help="发送一条消息后退出 (可重复)")
    args = ap.parse_args(argv)

    in_process = args.in_process
    if not in_process:
        import requests

        try:
            requests.get(f"{args.url}/healthz", timeout=2, proxies={"http": None, "https": None}).raise_for_status()
        except Exception:
            print(f"（{args.url} 未运行，改为进程内对话）", file=sys.stderr)
            in_process = True
    if in_process:
        from mingbai.db import init_db

        init_db()
    token = st.secret("api_token")
    after = 0

    def turn(text: str) -> list[str]:
        nonlocal after
        if in_process:
            from connectors import gateway, outbound
            from connectors.message import InboundMessage

            rk = f"cli:{args.sender}"
            out = gateway.handle(InboundMessage(rk, "cli", text=text))
            for m in outbound.poll(rk, after):
                after = max(after, m["id"])
                out.append(f"[{m['author']}] {m['text']}")
            return out
        replies, after = _remote(args.url, token, args.sender, text, after)
        return replies

    lines = args.message
    interactive = lines is None
    if interactive:
        print("明白 终端聊天。输入问题回车发送；输入 /quit 退出。")
    try:
        while True:
            if lines is not None:
                if not lines:
                    break
                text = lines.pop(0)
            else:
                try:
                    text = input("你> ")
                except EOFError:
                    break
            text = text.strip()
            if not text:
                continue
            if text in ("/quit", "/exit", "退出"):
                break
            try:
                for r in turn(text):
                    print(f"明白> {r}")
            except Exception as e:
                print(f"出错了: {e}", file=sys.stderr)
                if not interactive:
                    return 1
    except KeyboardInterrupt:
        print()
    return 0
