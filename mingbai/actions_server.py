"""`mingbai serve-actions`: the rasa-sdk action server (bot/actions) on the app runtime.

Equivalent to `python -m rasa_sdk --actions bot.actions -p PORT`, bound to 127.0.0.1 by default.
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
    from mingbai.privacy import setup_logging

    setup_logging(settings.log_level, settings.log_dir / "actions.log")
    from rasa_sdk.__main__ import main_from_args
    from rasa_sdk.endpoint import create_argument_parser

    sdk_args = create_argument_parser().parse_args(["--actions", "bot.actions", "--port", str(args.port),
                                                      "--endpoints", str(PROJECT_ROOT / "bot" / "endpoints.yml")])
    main_from_args(sdk_args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
