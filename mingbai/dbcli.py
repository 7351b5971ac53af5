"""`mingbai db upgrade|current|downgrade REV`."""
from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai db", description="数据库结构")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade", help="升级到最新 (默认 head)")
    up.add_argument("revision", nargs="?", default="head")
    sub.add_parser("current", help="显示当前版本")
    down = sub.add_parser("downgrade", help="降级到指定版本")
    down.add_argument("revision")
    rev = sub.add_parser("revision", help="(开发) 模型改了以后, 自动生成新的迁移脚本")
    rev.add_argument("-m", "--message", required=True)
    p.add_argument("--url", default=None, help="数据库地址, 默认 DATABASE_URL 或数据目录里的 SQLite")
    args = p.parse_args(argv)

    from alembic import command

    import mingbai.models  # noqa: F401
    from mingbai.db import alembic_config
    from mingbai.settings import get_settings

    if args.cmd == "revision":
        # Compare the models with a scratch SQLite at head, so no real database is touched.
        import tempfile

        from mingbai.db import init_db

        scratch = f"sqlite:///{tempfile.mkdtemp(prefix='mingbai-rev-')}/scratch.db"
        init_db(scratch)
        script = command.revision(alembic_config(scratch), message=args.message, autogenerate=True)
        print(f"已生成: {getattr(script, 'path', script)} (请检查后提交)")
        return 0
    url = args.url or get_settings().db_url
    cfg = alembic_config(url)
    if args.cmd == "upgrade":
        command.upgrade(cfg, args.revision)
        print(f"数据库已升级到 {args.revision}: {url.split('@')[-1]}")
    elif args.cmd == "current":
        command.current(cfg, verbose=False)
    else:
        command.downgrade(cfg, args.revision)
    return 0
