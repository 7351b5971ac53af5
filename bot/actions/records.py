"""The resident's own records: 查进度 (the status of their tickets) and 删除我的信息 (forget them)."""
from __future__ import annotations

import asyncio
from typing import Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.actions.common import say

STATUS_NAMES = {"new": "待受理", "open": "待受理", "assigned": "已分派给调解员", "acknowledged": "调解员已接单",
                "in_progress": "处理中", "mediating": "调解中", "escalated": "已上报上级处理",
                "resolved": "已解决", "closed": "已办结", "cancelled": "已撤销"}


class ActionTicketStatus(Action):
    def name(self) -> Text:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        rows = await asyncio.to_thread(services.call, "tickets_for_resident", tracker.sender_id)
        if rows is None:
            say(dispatcher, tracker, "暂时查不到进度，请稍后再试，或说「转人工」。", "status", tickets=[])
            return [SlotSet("last_outcome", "status")]
        if not rows:
            say(dispatcher, tracker, "您还没有登记过事情。要登记纠纷，直接告诉我发生了什么就行。", "status", tickets=[])
            return [SlotSet("last_outcome", "status")]
        lines = ["您登记的事情："]
        brief = []
        for t in rows[:5]:
            status = t.get("status_label") or STATUS_NAMES.get(str(t.get("status")), "处理中")
            who = t.get("assignee")
            who = who.get("name") if isinstance(who, dict) else who
            line = f"· {t.get('number')}（{t.get('domain') or '纠纷'}）：{status}"
            if who:
                line += f"，负责人 {who}"
            lines.append(line)
            brief.append({"number": t.get("number"), "status": t.get("status"), "domain": t.get("domain")})
        say(dispatcher, tracker, "\n".join(lines), "status", tickets=brief, ticket_id=brief[0]["number"],
            domain=brief[0]["domain"])
        return [SlotSet("last_outcome", "status")]


class ActionDeleteData(Action):
    def name(self) -> Text:
        return "action_delete_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        removed = await asyncio.to_thread(services.call, "forget_resident", tracker.sender_id)
        if removed is None:
            say(dispatcher, tracker, "抱歉，删除没有成功，请稍后再试，或说「转人工」请工作人员处理。", "status")
            return []
        say(dispatcher, tracker, "已删除您的个人信息和聊天记录。以后再来，我们会重新问您是否同意保存。", "status",
            deleted=int(removed or 0))
        return [AllSlotsReset(), ActiveLoop(None)]
