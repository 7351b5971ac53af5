"""`mingbai` console command. Each area owns its subcommands; this file only dispatches.

Every area module exposes `main(argv: list[str]) -> int`.
"""
from __future__ import annotations

import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("mingbai.run", "启动 Rasa、动作服务器和网页应用 (start all three processes)"),
    "doctor": ("mingbai.doctor", "检查运行环境并给出修复命令 (check the installation)"),
    "model": ("mingbai.model.cli", "model build|check|tune: e5 向量模型（生成、检查、按问答库微调查询向量）"),
    "rasa": ("mingbai.rasa_runtime", "rasa train|validate|test: 在 Rasa 运行环境中执行"),
    "db": ("mingbai.dbcli", "db upgrade: 升级数据库结构"),
    "kb": ("knowledge.cli", "kb ingest-laws|build|eval: 知识库"),
    "kb-admin": ("knowledge.store", "kb-admin seed|reindex|export|golden|status: 知识库（数据库）维护"),
    "ask": ("knowledge.cli_ask", "ask \"问题\": 法律问答"),
    "classify": ("bot.cli_classify", "classify --input IN.jsonl --output OUT.jsonl: 纠纷分类"),
    "converse": ("connectors.converse", "converse --input IN.jsonl --output OUT.jsonl: 通过运行中的系统对话"),
    "grid": ("tickets.cli_grid", "grid import FILE: 导入网格"),
    "user": ("tickets.cli_user", "user create --role … --grid …: 工作人员账号"),
    "sla": ("tickets.cli_sla", "sla tick|run: SLA 超时升级"),
    "retention": ("tickets.retention", "retention purge [--days N] [--dry-run] | stats: 删除过期数据，只留匿名统计"),
    "chat": ("connectors.terminal", "终端聊天 (terminal chat for maintainers)"),
    "serve-web": ("mingbai.web", "只启动网页应用 (web app only)"),
    "serve-actions": ("mingbai.actions_server", "只启动动作服务器 (action server only)"),
}


def _usage() -> str:
    lines = ["用法: mingbai <命令> [参数]", ""]
    width = max(len(c) for c in COMMANDS)
    for name, (_, helptext) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {helptext}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from mingbai import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"未知命令: {name}\n\n{_usage()}", file=sys.stderr)
        return 2
    from mingbai.settings import SettingsError

    try:
        if name == "model" and rest[:1] == ["tune"]:  # the query adapter lives with the knowledge it reads
            from knowledge.adapter import main as tune_main

            return int(tune_main(rest[1:]) or 0)
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest) or 0)
    except SettingsError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
