"""`mingbai db upgrade|current|downgrade REV`, and the data key of the encrypted columns:
`mingbai db new-key` (print a fresh key), `mingbai db reencrypt` (after putting a new key first in
MINGBAI_DATA_KEY or the key file: rewrite every encrypted value with it, so the old key can go)."""
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
    sub.add_parser("new-key", help="生成一个新的数据密钥 (MINGBAI_DATA_KEY 或密钥文件的一行)")
    sub.add_parser("reencrypt", help="换密钥: 用第一个密钥重新加密所有加密的内容, 之后可删除旧密钥")
    rev = sub.add_parser("revision", help="(开发) 模型改了以后, 自动生成新的迁移脚本")
    rev.add_argument("-m", "--message", required=True)
    p.add_argument("--url", default=None, help="数据库地址, 默认 DATABASE_URL 或数据目录里的 SQLite")
    args = p.parse_args(argv)

    if args.cmd == "new-key":
        from mingbai.crypto_fields import new_key

        print(new_key())
        return 0

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
    if args.cmd == "reencrypt":
        counts = reencrypt_all(url)
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"已用当前密钥重新加密 {sum(counts.values())} 个值" + (f": {detail}" if detail else ""))
        return 0
    cfg = alembic_config(url)
    if args.cmd == "upgrade":
        command.upgrade(cfg, args.revision)
        print(f"数据库已升级到 {args.revision}: {url.split('@')[-1]}")
    elif args.cmd == "current":
        command.current(cfg, verbose=False)
    else:
        command.downgrade(cfg, args.revision)
    return 0


def reencrypt_all(url: str) -> dict[str, int]:
    """Every encrypted column of every table (and Rasa's `events` on the PostgreSQL path) rewritten
    under the current first key. Values other keys of MINGBAI_DATA_KEY can open stay readable
    until then; one that no key opens stops the run (DataKeyError) before anything is lost."""
    from sqlalchemy import inspect

    import mingbai.models  # noqa: F401
    from mingbai.crypto_fields import EncryptedJSON, EncryptedText, is_encrypted, reencrypt, rewrite_column
    from mingbai.db import Base, get_engine

    def again(value):
        return reencrypt(value) if is_encrypted(value) else value

    counts: dict[str, int] = {}
    with get_engine(url).begin() as conn:
        for table in Base.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            for col in table.columns:
                if isinstance(col.type, (EncryptedText, EncryptedJSON)) and len(pk) == 1:
                    counts[f"{table.name}.{col.name}"] = rewrite_column(
                        conn, table.name, col.name, again, pk=pk[0], json_=isinstance(col.type, EncryptedJSON))
        insp = inspect(conn)
        if insp.has_table("events") and {"id", "sender_id", "data"} <= {c["name"] for c in insp.get_columns("events")}:
            counts["events.data"] = rewrite_column(conn, "events", "data", again)
    return counts
