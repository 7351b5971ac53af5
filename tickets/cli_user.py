"""`mingbai user create --role … --grid … --username … --password …`, `user token`, `user list`."""
from __future__ import annotations

import argparse
import getpass
import sys


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai user", description="工作人员账号")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="新建账号")
    c.add_argument("--username", required=True)
    c.add_argument("--password", help="至少 8 位; 不给则提示输入")
    c.add_argument("--role", required=True, help="网格员 / 人民调解员 / 法律明白人 / 管理员")
    c.add_argument("--grid", help="绑定的网格/村/镇/县的编码, 如 QF01")
    c.add_argument("--name", default="", help="显示姓名")
    c.add_argument("--domains", default="", help="擅长的纠纷类别, 逗号分隔, 如 劳动纠纷,婚姻家庭")
    c.add_argument("--duty", default="08:30-17:30", help="值班时间 (北京时间), 如 08:30-17:30 或 00:00-24:00")
    c.add_argument("--days", default="1-5", help="值班日: 1-5 = 周一至周五, 1-7 = 每天")
    c.add_argument("--notify", default=None, help="接收提醒的账号, 如 wecom:zhangsan")
    c.add_argument("--token", action="store_true", help="同时生成一个 API 令牌")
    t = sub.add_parser("token", help="为账号生成 API 令牌 (Bearer)")
    t.add_argument("--username", required=True)
    t.add_argument("--name", default="api")
    sub.add_parser("list", help="列出账号")
    args = p.parse_args(argv)

    from mingbai.db import init_db
    from tickets.users import UserError, create_user, issue_token

    init_db()
    try:
        if args.cmd == "create":
            pw = args.password or getpass.getpass("密码: ")
            domains = [d.strip() for d in args.domains.replace("，", ",").split(",") if d.strip()]
            u = create_user(args.username, pw, args.role, args.grid, display_name=args.name, domains=domains,
                            duty=args.duty, days=args.days, notify_key=args.notify)
            print(f"已创建 {u['username']} ({u['role']}, {u['grid'] or '全县'})")
            if args.token:
                print(f"API 令牌 (只显示这一次): {issue_token(args.username)}")
        elif args.cmd == "token":
            print(issue_token(args.username, args.name))
        else:
            from sqlalchemy import select

            from mingbai.db import session_scope
            from tickets.models import StaffUser
            from tickets.users import user_dict

            with session_scope() as s:
                for u in s.scalars(select(StaffUser).order_by(StaffUser.id)):
                    d = user_dict(s, u)
                    print(f"{d['username']}\t{d['role']}\t{d['node_code'] or '-'}\t{d['duty']}\t{','.join(d['domains'])}")
    except UserError as e:
        print(f"错误: {e}", file=sys.stderr)
        return 1
    return 0
