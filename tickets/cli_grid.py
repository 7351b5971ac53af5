"""`mingbai grid import FILE` (YAML or CSV) and `mingbai grid list`."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai grid", description="网格管理")
    sub = p.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="从 YAML/CSV 导入 (按网格码更新)")
    imp.add_argument("file")
    imp.add_argument("--if-empty", action="store_true",
                     help="只在还没有任何网格时导入 (setup uses it: never overwrite a county's own grids)")
    sub.add_parser("list", help="列出全部网格")
    args = p.parse_args(argv)

    from mingbai.db import init_db, session_scope
    from tickets.grids import GridImportError, import_file

    init_db()
    if args.cmd == "import":
        if args.if_empty:
            from sqlalchemy import func, select

            from tickets.models import GridNode

            with session_scope() as s:
                count = s.scalar(select(func.count()).select_from(GridNode))
            if count:
                print(f"已有 {count} 个网格节点，跳过导入 (already imported)")
                return 0
        try:
            r = import_file(args.file)
        except GridImportError as e:
            print(f"导入失败: {e}", file=sys.stderr)
            return 1
        print(f"导入完成: 新增 {r['created']} 个, 更新 {r['updated']} 个")
        return 0
    from sqlalchemy import select

    from tickets.models import GridNode

    with session_scope() as s:
        nodes = {n.id: n for n in s.scalars(select(GridNode).order_by(GridNode.id))}

        def depth(n):
            d = 0
            while n.parent_id:
                n, d = nodes[n.parent_id], d + 1
            return d

        for n in nodes.values():
            print(f"{'  ' * depth(n)}{n.code}\t{n.name}\t{n.level}\t{'、'.join(n.aliases or [])}")
    return 0
