"""Residents' 有帮助/没帮助 on the bot's answers, and the 未解答 inbox's material.

Two tables:

- answer_feedback: one row per (resident, bot answer) the resident rated; the latest word wins.
- unanswered_items: one row per resident question the bot could not answer well — a "not sure"
  answer or a fallback (the gateway calls mark_unanswered), a 没帮助 (record_feedback), or a
  handoff a staff member answered (collected from the transcript by collect()). Each item keeps
  the staff answer that followed, if any, and its inbox status (open / done / ignored).

The gateway's calls, after it has recorded the bot's reply with service.record_message:

    feedback.mark_unanswered(resident_key, "unsure", question=text, channel=ch)   # "confident": false
    feedback.mark_unanswered(resident_key, "fallback", question=text, channel=ch) # the bot's fallback

and, for a short message right after an answer (before the bot sees it):

    thanks = feedback.handle_reply(resident_key, text, ch)   # None: not feedback → go on as usual

(or parse_feedback + record_feedback when the gateway wants to decide "right after" itself).
The consoles' 未解答 page (consoles/unanswered.py) groups the open items by similarity and turns a
group into a draft knowledge entry (knowledge.drafts.make_draft: the knowledge base sits above
tickets, which never imports it).
"""
from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Optional

from sqlalchemy import Boolean, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mingbai.db import Base, session_scope
from mingbai.privacy import mask
from tickets.audit import audit
from tickets.clock import local, now as clock_now
from tickets.models import Handoff, Message, Ticket, UTCDateTime, utcnow

log = logging.getLogger(__name__)

KINDS = ("unsure", "fallback", "unhelpful", "handoff")
KIND_LABELS = {"unsure": "没把握", "fallback": "没听懂", "unhelpful": "没帮助", "handoff": "转人工"}
_KIND_ALIASES = {"not_sure": "unsure", "notsure": "unsure", "not sure": "unsure", "low_confidence": "unsure",
                 "nlu_fallback": "fallback", "default_fallback": "fallback", "没把握": "unsure",
                 "没听懂": "fallback", "没帮助": "unhelpful"}
STATUSES = ("open", "done", "ignored")

# Appended by the gateway to an answer if it wants digits as feedback ("1"/"2" only count then).
FEEDBACK_PROMPT = "这个回答对您有帮助吗？回复“有帮助”或“没帮助”（也可回复 1 或 2）。"
THANKS_HELPFUL = "谢谢您的反馈，很高兴能帮上忙！还有别的问题可以接着问。"
THANKS_UNHELPFUL = ("抱歉没能帮上忙，我们已经记下这个问题，工作人员会补充解答。"
                    "着急的话可以回复“转人工”，或拨打12348公共法律服务热线。")
# How long after a bot answer a short reply still counts as feedback on it.
FEEDBACK_WINDOW = timedelta(minutes=30)
# A staff message to the resident within this time after a question is taken as its answer.
STAFF_ANSWER_WINDOW = timedelta(days=7)


class AnswerFeedback(Base):
    """有帮助 / 没帮助 on one bot answer (messages.id; no FK: forget_resident deletes both)."""

    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    answer_message_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    question_message_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    helpful: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_answer_feedback_resident", AnswerFeedback.resident_key, AnswerFeedback.answer_message_id)


class UnansweredItem(Base):
    """A question the bot did not answer well; the 未解答 inbox groups the open ones."""

    __tablename__ = "unanswered_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # one item per bot answer ("ans:<message id>"), per handoff ("handoff:<id>"), else a uuid
    ref: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # unsure | fallback | unhelpful | handoff
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # question and staff_answer are stored masked (mingbai.privacy.mask): only masked text is shown.
    question: Mapped[str] = mapped_column(Text, nullable=False, default="")
    question_message_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    answer_message_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    ticket_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    staff_answer: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    staff_author: Mapped[Optional[str]] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")  # open | done | ignored
    draft_id: Mapped[Optional[str]] = mapped_column(String(80), nullable=True)
    handled_by: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    handled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_unanswered_status", UnansweredItem.status, UnansweredItem.created_at)
Index("ix_unanswered_resident", UnansweredItem.resident_key)


# Parsing short replies ----------------------------------------------------------------------

_NEG = ("没帮助", "没有帮助", "无帮助", "没用", "没有用", "没啥用", "没什么用", "无用", "不管用", "没管用",
        "不对", "不太对", "不准", "答非所问", "不是我问的", "不是这个", "没解决", "没有解决", "不能解决",
        "没看懂", "看不懂", "不明白", "没明白", "不懂", "没懂", "不清楚", "差评", "不满意", "不好", "不行",
        "👎", "✖", "❌")
_POS = ("有帮助", "有用", "管用", "帮助很大", "帮到", "帮了大忙", "解决了", "明白了", "懂了", "清楚了", "知道了",
        "谢谢", "感谢", "多谢", "谢了", "好评", "满意", "很好", "不错", "👍", "👌", "✅", "🙏", "赞")
_NEGATED = re.compile(r"(不|没|无)(太|怎么|什么|啥|大|是很|是太|有)?$")
_STRIP = re.compile(r"[\s\u3000,，.。!！~～…、:：;；'\"“”‘’()（）\[\]【】\ufe0f\u200d]+")
MAX_FEEDBACK_CHARS = 12


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFKC", text or "").strip().lower()
    return _STRIP.sub("", t)


_THANKS_ONLY = ("谢谢", "感谢", "多谢", "谢了", "🙏", "明白了", "懂了", "知道了", "清楚了", "很好", "不错", "赞")


def parse_feedback(text: Optional[str], *, strict: bool = False) -> Optional[bool]:
    """True (有帮助/有用/谢谢有用/👍/1 …), False (没帮助/没用/不对/答非所问/👎/2 …) or None when the
    message is not a short feedback reply (a new question, a longer sentence, 有用吗？).
    strict: a plain 谢谢 / 明白了 does not count (when the bot's last line asked something else,
    e.g. 「需要吗？」 after offering mediation, 好的谢谢 may be a yes to that)."""
    raw = unicodedata.normalize("NFKC", text or "")
    if "?" in raw or "吗" in raw or "么" in raw.replace("什么", "") or "怎" in raw:
        return None  # a question, not a verdict ("有用吗？" "怎么没用")
    t = _norm(text)
    if not t or len(t) > MAX_FEEDBACK_CHARS:
        return None
    if t in ("1", "2"):
        return t == "1"
    if any(k in t for k in _NEG):
        return False
    for k in _POS:
        i = t.find(k)
        if i >= 0:
            if _NEGATED.search(t[:i]):
                return False  # 不太有用, 没什么帮到
            if strict and k in _THANKS_ONLY and not any(p in t for p in _POS if p not in _THANKS_ONLY):
                return None
            return True
    return None


# Storage ------------------------------------------------------------------------------------

# The bot's own follow-ups after an answer (bot/actions/answer.py answer_question): not answers.
_FOLLOW_UPS = tuple(_norm(t) for t in ("有帮助吗", "您可以换个说法再问", "这个问题我可能答不准"))


def _is_prompt(text: str) -> bool:
    """A feedback prompt / follow-up line, sent as a message of its own after the answer."""
    t = _norm(text)
    return t == _norm(FEEDBACK_PROMPT) or t.startswith(_FOLLOW_UPS)


def _last_bot_answer(s: Session, resident_key: str, before_id: Optional[int] = None) -> Optional[Message]:
    """The resident's latest bot message, not counting a separate FEEDBACK_PROMPT message."""
    q = select(Message).where(Message.resident_key == resident_key, Message.direction == "out",
                              Message.author == "bot")
    if before_id:
        q = q.where(Message.id < before_id)
    for m in s.scalars(q.order_by(Message.id.desc()).limit(4)):
        if not _is_prompt(m.text):
            return m
    return None


# A bare yes (to the privacy notice, as the gateway's consent words): the first answer replies
# to the question the resident sent before it, which the gateway kept until consent.
_BARE_YES = {_norm(t) for t in ("同意", "我同意", "同意了", "同意的", "好", "好的", "可以", "行", "是", "ok", "yes", "嗯")}


def _question_before(s: Session, resident_key: str, message_id: int) -> Optional[Message]:
    """The resident's message the answer replied to: the last one before it that is not itself a
    short feedback reply or a bare yes (「同意」 to the privacy notice)."""
    rows = s.scalars(select(Message).where(Message.resident_key == resident_key, Message.direction == "in",
                                           Message.author == "resident", Message.id < message_id)
                     .order_by(Message.id.desc()).limit(5)).all()
    for m in rows:
        if (m.text or "").strip() and parse_feedback(m.text) is None and _norm(m.text) not in _BARE_YES:
            return m
    return rows[0] if rows else None


def _add_item(s: Session, *, ref: str, kind: str, resident_key: str, channel: str, question: str,
              question_message_id: Optional[int] = None, answer_message_id: Optional[int] = None,
              ticket_id: Optional[int] = None, staff_answer: Optional[str] = None,
              staff_author: Optional[str] = None, when: Optional[datetime] = None) -> Optional[UnansweredItem]:
    """Insert unless an item with the same ref exists (then that one is returned unchanged)."""
    old = s.scalars(select(UnansweredItem).where(UnansweredItem.ref == ref)).first()
    if old is not None:
        return old
    # Stored masked: the inbox, its groups and the drafts it makes only ever show masked text.
    item = UnansweredItem(ref=ref, kind=kind, resident_key=resident_key, channel=channel or "",
                          question=mask((question or "").strip()[:2000]), question_message_id=question_message_id,
                          answer_message_id=answer_message_id, ticket_id=ticket_id,
                          staff_answer=_masked(staff_answer), staff_author=staff_author, status="open",
                          created_at=when or clock_now())
    s.add(item)
    s.flush()
    return item


def _masked(text: Optional[str]) -> Optional[str]:
    return mask(text) if text else text


def _channel(resident_key: str, channel: str) -> str:
    return channel or (resident_key.split(":", 1)[0] if ":" in resident_key else "")


def mark_unanswered(resident_key: str, kind: str = "unsure", question: Optional[str] = None,
                    channel: str = "", answer_message_id: Optional[int] = None) -> Optional[int]:
    """Put a bot reply the bot was not sure of into the 未解答 inbox. Call it after the reply was
    recorded (service.record_message(..., "out", reply, "bot", ch)): the item points at that
    reply (the resident's latest bot message unless answer_message_id is given) and at the
    question before it; `question` overrides the question text (e.g. the text the bot was asked
    when the transcript holds a 转写 or a pending text). kind: "unsure" (knowledge.ask said
    "confident": false) or "fallback" (the bot did not understand). Returns the item id (None
    when the resident is unknown / nothing to mark). The same answer is marked only once."""
    kind = _KIND_ALIASES.get((kind or "").strip().lower(), (kind or "").strip().lower())
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    try:
        with session_scope() as s:
            ans = s.get(Message, answer_message_id) if answer_message_id else _last_bot_answer(s, resident_key)
            if ans is not None and ans.resident_key != resident_key:
                ans = None
            q = _question_before(s, resident_key, ans.id) if ans is not None else None
            text = (question or (q.text if q else "") or "").strip()
            if not text:
                return None
            ref = f"ans:{ans.id}" if ans is not None else f"{kind}:{uuid.uuid4().hex}"
            item = _add_item(s, ref=ref, kind=kind, resident_key=resident_key,
                             channel=_channel(resident_key, channel), question=text,
                             question_message_id=q.id if q else None,
                             answer_message_id=ans.id if ans is not None else None)
            return item.id if item else None
    except Exception:  # never cost the resident an answer
        log.exception("mark_unanswered failed")
        return None


def record_feedback(resident_key: str, helpful: bool, channel: str = "",
                    answer_message_id: Optional[int] = None) -> Optional[dict]:
    """Store 有帮助/没帮助 against the resident's last bot answer (or `answer_message_id`).
    A second verdict on the same answer replaces the first. 没帮助 also puts the question into
    the 未解答 inbox; a later 有帮助 takes it out again while nobody has handled it.
    Returns {"id", "answer_message_id", "helpful", "item_id"} or None (no bot answer to rate)."""
    helpful = bool(helpful)
    when = clock_now()
    with session_scope() as s:
        ans = s.get(Message, answer_message_id) if answer_message_id else _last_bot_answer(s, resident_key)
        if ans is None or ans.resident_key != resident_key:
            return None
        q = _question_before(s, resident_key, ans.id)
        fb = s.scalars(select(AnswerFeedback).where(AnswerFeedback.resident_key == resident_key,
                                                    AnswerFeedback.answer_message_id == ans.id)).first()
        if fb is None:
            fb = AnswerFeedback(resident_key=resident_key, channel=_channel(resident_key, channel),
                                answer_message_id=ans.id, question_message_id=q.id if q else None,
                                helpful=helpful, created_at=when, updated_at=when)
            s.add(fb)
        else:
            fb.helpful, fb.updated_at = helpful, when
        s.flush()
        item_id = None
        ref = f"ans:{ans.id}"
        if not helpful and q is not None and (q.text or "").strip():
            item = _add_item(s, ref=ref, kind="unhelpful", resident_key=resident_key,
                             channel=_channel(resident_key, channel), question=q.text,
                             question_message_id=q.id, answer_message_id=ans.id, when=when)
            item_id = item.id if item else None
        elif helpful:
            s.execute(delete(UnansweredItem).where(UnansweredItem.ref == ref, UnansweredItem.kind == "unhelpful",
                                                   UnansweredItem.status == "open"))
        return {"id": fb.id, "answer_message_id": ans.id, "helpful": helpful, "item_id": item_id}


def _fresh_bot_message(m: Optional[Message]) -> bool:
    """A bot message of the last FEEDBACK_WINDOW: a feedback reply right after it counts."""
    return (m is not None and m.direction == "out" and m.author == "bot"
            and clock_now() - m.created_at <= FEEDBACK_WINDOW)


def awaiting_feedback(resident_key: str) -> bool:
    """True when a 有帮助/没帮助 sent now would be taken by handle_reply: the resident's latest
    message is a bot answer (or its follow-up line) of the last FEEDBACK_WINDOW. The web chat asks
    this before sending a one-tap 有帮助/没帮助 through the gateway, so that a stale tap never
    reaches the bot as a question."""
    try:
        with session_scope() as s:
            last = s.scalars(select(Message).where(Message.resident_key == resident_key)
                             .order_by(Message.id.desc()).limit(1)).first()
            if not _fresh_bot_message(last) or last.text in (THANKS_HELPFUL, THANKS_UNHELPFUL):
                return False  # rated already: the latest bot message is the thanks
            return _last_bot_answer(s, resident_key, last.id + 1) is not None
    except Exception:
        log.exception("awaiting_feedback failed")
        return False


def handle_reply(resident_key: str, text: str, channel: str = "") -> Optional[str]:
    """The gateway's one call for a possible feedback reply, after it recorded the resident's
    message and before the bot sees it: when `text` is a short 有帮助/没帮助 and the message right
    before it was a bot answer of the last FEEDBACK_WINDOW, store it and return the thank-you
    text to send (and record); otherwise None and the message goes to the bot as usual.
    "1"/"2" count only when that answer carried FEEDBACK_PROMPT (digits also answer menus and
    the 1–5 satisfaction question, which is asked by "system", not "bot")."""
    if parse_feedback(text) is None:
        return None
    try:
        with session_scope() as s:
            mine = s.scalars(select(Message).where(Message.resident_key == resident_key)
                             .order_by(Message.id.desc()).limit(2)).all()
            # mine[0]: this reply (already recorded); mine[1]: what came before it
            prev = mine[1] if len(mine) > 1 and mine[0].direction == "in" else (mine[0] if mine else None)
            if not _fresh_bot_message(prev):
                return None
            if _norm(text) in ("1", "2") and _norm(FEEDBACK_PROMPT)[:8] not in _norm(prev.text):
                return None
            verdict = parse_feedback(text, strict="需要吗" in _norm(prev.text))
            if verdict is None:
                return None
            ans = _last_bot_answer(s, resident_key, prev.id + 1)  # prev, or the answer before the prompt
            if ans is None:
                return None
            answer_id = ans.id
        got = record_feedback(resident_key, verdict, channel, answer_message_id=answer_id)
    except Exception:
        log.exception("feedback failed")
        return None
    if got is None:
        return None
    return THANKS_HELPFUL if verdict else THANKS_UNHELPFUL


def feedback_counts(since: Optional[datetime] = None) -> dict:
    """{"helpful": n, "unhelpful": n} (for reports)."""
    with session_scope() as s:
        q = select(AnswerFeedback.helpful)
        if since is not None:
            q = q.where(AnswerFeedback.created_at >= since)
        c = Counter(bool(h) for h in s.scalars(q))
    return {"helpful": c[True], "unhelpful": c[False]}


def forget(s: Session, resident_key: str) -> int:
    """删除我的信息: the resident's feedback and inbox items (drafts already written keep only
    masked text)."""
    n = s.execute(delete(AnswerFeedback).where(AnswerFeedback.resident_key == resident_key)).rowcount or 0
    n += s.execute(delete(UnansweredItem).where(UnansweredItem.resident_key == resident_key)).rowcount or 0
    return n


# Collecting handoffs and staff answers --------------------------------------------------------

_HANDOFF_ASK = re.compile(r"^(转|找|要|请|我要|帮我转|给我转)?(人工|真人|工作人员|客服|明白人|调解员)(服务|客服)?(吧|啊|呀)?$")
COLLECT_DAYS = 90


def _substantive(text: str) -> bool:
    t = _norm(text)
    if len(t) < 4 or _HANDOFF_ASK.match(t) or parse_feedback(text) is not None:
        return False
    return not t.isdigit() and not t.startswith(("[图片]", "[位置]"))


def _staff_messages(s: Session, resident_key: str, after: datetime, until: Optional[datetime],
                    limit: int = 3) -> list[Message]:
    q = select(Message).where(Message.resident_key == resident_key, Message.direction == "out",
                              Message.author.like("staff:%"), Message.created_at >= after)
    if until is not None:
        q = q.where(Message.created_at <= until)
    return list(s.scalars(q.order_by(Message.id).limit(limit)))


def _join_answer(msgs: list[Message]) -> tuple[Optional[str], Optional[str]]:
    if not msgs:
        return None, None
    # Masked: it is stored in the inbox (unanswered_items.staff_answer), which shows it masked.
    return mask("\n".join(m.text.strip() for m in msgs if m.text.strip())[:4000]), msgs[0].author


def collect(now: Optional[datetime] = None) -> dict:
    """Bring the inbox up to date from the transcript: handoffs staff answered become items (or
    give their answer to the open item of the same question), and open items get the staff reply
    that followed them. Idempotent; run when the inbox page opens."""
    now = now or clock_now()
    added = answered = 0
    with session_scope() as s:
        since = now - timedelta(days=COLLECT_DAYS)
        done_refs = set(s.scalars(select(UnansweredItem.ref).where(UnansweredItem.ref.like("handoff:%"))))
        for h in s.scalars(select(Handoff).where(Handoff.started_at >= since).order_by(Handoff.id)):
            if f"handoff:{h.id}" in done_refs or (h.reason or "").startswith("emergency"):
                continue
            if h.ended_at is None and now - h.started_at < timedelta(days=1):
                continue  # still talking: wait for the whole answer
            staff = _staff_messages(s, h.resident_key, h.started_at, h.ended_at)
            if not staff:
                continue
            before = s.scalars(select(Message).where(
                Message.resident_key == h.resident_key, Message.direction == "in", Message.author == "resident",
                Message.created_at >= h.started_at - timedelta(hours=2), Message.id < staff[0].id)
                .order_by(Message.id.desc()).limit(10)).all()
            pre = [m for m in before if m.created_at <= h.started_at and _substantive(m.text)]
            post = [m for m in reversed(before) if m.created_at > h.started_at and _substantive(m.text)]
            q = pre[0] if pre else (post[0] if post else None)
            question = q.text if q else (h.reason if _substantive(h.reason or "") and
                                         not h.reason.startswith("居民") else "")
            if not question:
                continue
            answer, author = _join_answer(staff)
            same = s.scalars(select(UnansweredItem).where(UnansweredItem.question_message_id == q.id)).first() \
                if q is not None else None
            if same is not None:  # the question is in the inbox already: one item, with the answer
                if not same.staff_answer:
                    same.staff_answer, same.staff_author = answer, author
                    same.ticket_id = same.ticket_id or h.ticket_id
                    answered += 1
                continue
            _add_item(s, ref=f"handoff:{h.id}", kind="handoff", resident_key=h.resident_key,
                      channel=_channel(h.resident_key, ""), question=question,
                      question_message_id=q.id if q else None, ticket_id=h.ticket_id, staff_answer=answer,
                      staff_author=author, when=q.created_at if q else h.started_at)
            added += 1
        for item in s.scalars(select(UnansweredItem).where(UnansweredItem.status == "open",
                                                           UnansweredItem.staff_answer.is_(None))):
            staff = _staff_messages(s, item.resident_key, item.created_at, item.created_at + STAFF_ANSWER_WINDOW)
            if staff:
                item.staff_answer, item.staff_author = _join_answer(staff)
                answered += 1
    return {"added": added, "answered": answered}


# Grouping -----------------------------------------------------------------------------------

_GREETING = re.compile(r"^(你好|您好|请问|打扰一下|麻烦问一下|想问一下|问一下|我想问一下|我想问|问下|咨询一下)+")
# TF-IDF cosine (characters and character pairs) to a group's centre. With the knowledge base's
# questions as background for the IDF, rewordings of one question score 0.4–0.55 and different
# questions that share words (邻居…宅基地 / 邻居…狗) stay under 0.3.
SIMILARITY = 0.35


def _cluster_text(text: str) -> str:
    t = _norm(mask(text or ""))
    t = re.sub(r"[*\d]+", "", t)
    return _GREETING.sub("", t) or t


def _bigrams(t: str) -> set[str]:
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def cluster(texts: list[str], threshold: float = SIMILARITY,
            background: Optional[Iterable[str]] = None) -> list[list[int]]:
    """Greedy grouping: each text joins the group whose centre it is most similar to (cosine of
    character 1–2-gram TF-IDF vectors ≥ threshold), else starts a new group. Returns lists of
    indexes into `texts`, in input order. The IDF is fitted on `background` plus the texts: the
    knowledge base's questions (knowledge.drafts.questions(), passed in by the caller: tickets
    does not import knowledge), so that 怎么办 weighs little however few items the inbox holds.
    Without scikit-learn: character-bigram Jaccard."""
    norm = [_cluster_text(t) or "?" for t in texts]
    if not norm:
        return []
    try:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        bg = [_cluster_text(t) for t in background or ()]
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit(bg + norm)
        X = vec.transform(norm).toarray()
        groups: list[list[int]] = []
        centres: list = []
        for i, v in enumerate(X):
            best, best_sim = -1, threshold
            for g, c in enumerate(centres):
                n = np.linalg.norm(c)
                sim = float(v @ c / n) if n else 0.0
                if sim >= best_sim:
                    best, best_sim = g, sim
            if best < 0:
                groups.append([i])
                centres.append(v.copy())
            else:
                groups[best].append(i)
                centres[best] = centres[best] + v
        return groups
    except ImportError:  # pragma: no cover - scikit-learn is in the app's requirements
        grams = [_bigrams(t) for t in norm]
        groups = []
        for i, gi in enumerate(grams):
            best, best_sim = -1, threshold * 0.75
            for g, members in enumerate(groups):
                sim = max(len(gi & grams[j]) / max(1, len(gi | grams[j])) for j in members)
                if sim >= best_sim:
                    best, best_sim = g, sim
            (groups[best].append(i) if best >= 0 else groups.append([i]))
        return groups


def _domain_hint(s: Session, ticket_ids: Iterable[Optional[int]]) -> Optional[str]:
    ids = [t for t in ticket_ids if t]
    if not ids:
        return None
    doms = Counter(d for d in s.scalars(select(Ticket.domain).where(Ticket.id.in_(ids))) if d != "综合咨询")
    return doms.most_common(1)[0][0] if doms else None


def groups(status: str = "open", *, limit: int = 500, threshold: float = SIMILARITY,
           background: Optional[Iterable[str]] = None) -> list[dict]:
    """The inbox: items of `status` grouped by similar questions, biggest and newest first.
    `background`: texts for the similarity weights (see `cluster`).
    Each group: {"key", "ids", "count", "residents", "kinds": {label: n}, "latest",
    "questions": [{"text" (masked), "count", "at"}], "question" (the most typical, masked),
    "staff_answer", "staff_author", "domain", "draft_id"}."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    with session_scope() as s:
        items = list(s.scalars(select(UnansweredItem).where(UnansweredItem.status == status)
                               .order_by(UnansweredItem.created_at.desc(), UnansweredItem.id.desc()).limit(limit)))
        out = []
        for idx in cluster([it.question for it in items], threshold, background):
            members = [items[i] for i in idx]
            qs: dict[str, dict] = {}
            for it in members:
                text = mask(it.question)
                q = qs.setdefault(text, {"text": text, "count": 0, "at": it.created_at})
                q["count"] += 1
                q["at"] = max(q["at"], it.created_at)
            ranked = sorted(qs.values(), key=lambda q: (-q["count"], -q["at"].timestamp()))
            answered = [it for it in members if it.staff_answer]
            out.append({
                "key": f"g{min(it.id for it in members)}", "ids": sorted(it.id for it in members),
                "count": len(members), "residents": len({it.resident_key for it in members}),
                "kinds": dict(Counter(KIND_LABELS.get(it.kind, it.kind) for it in members)),
                "latest": max(it.created_at for it in members).isoformat(),
                "questions": [{**q, "at": q["at"].isoformat()} for q in ranked],
                "question": ranked[0]["text"],
                "staff_answer": answered[0].staff_answer if answered else None,
                "staff_author": answered[0].staff_author if answered else None,
                "domain": _domain_hint(s, (it.ticket_id for it in members)),
                "draft_id": next((it.draft_id for it in members if it.draft_id), None),
            })
    out.sort(key=lambda g: g["latest"], reverse=True)
    out.sort(key=lambda g: g["count"], reverse=True)
    return out


def set_status(item_ids: Iterable[int], status: str, actor: str, *, draft_id: Optional[str] = None) -> int:
    """Mark a group's items done / ignored (or open again). Returns how many changed."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return 0
    when = clock_now()
    with session_scope() as s:
        n = 0
        for it in s.scalars(select(UnansweredItem).where(UnansweredItem.id.in_(ids))):
            it.status = status
            it.handled_by, it.handled_at = (None, None) if status == "open" else (actor, when)
            if draft_id:
                it.draft_id = draft_id
            n += 1
        audit(s, actor, f"unanswered_{status}", subject=draft_id, detail={"items": ids})
        return n


# Draft knowledge entries ----------------------------------------------------------------------

class DraftError(ValueError):
    """A refusal with a Chinese message."""


def drafts_dir() -> Path:
    from mingbai.settings import get_settings

    return get_settings().home / "kb_drafts"


def draft_entry(item_ids: Iterable[int], *, domain: str, answer: str, question: Optional[str] = None,
                subtype: Optional[str] = None, steps: Iterable[str] = (), entry_id: Optional[str] = None) -> dict:
    """The knowledge entry (knowledge/qa.py format) a group of items makes: question = `question`
    or the group's most typical one, paraphrases = the group's other questions (masked)."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise DraftError("没有选中问题。")
    answer = (answer or "").strip()
    if not answer:
        raise DraftError("请先写好解答（可以用工作人员当时的回复）。")
    if not (domain or "").strip():
        raise DraftError("请选择领域。")
    with session_scope() as s:
        items = list(s.scalars(select(UnansweredItem).where(UnansweredItem.id.in_(ids))
                               .order_by(UnansweredItem.created_at.desc())))
    if not items:
        raise DraftError("这些问题已经不在了，请刷新页面。")
    counts = Counter(mask(it.question).strip() for it in items if it.question.strip())
    texts = [t for t, _ in counts.most_common()]
    main = mask((question or "").strip()) or (texts[0] if texts else "")
    if not main:
        raise DraftError("没有可用的问题文字。")
    paraphrases = [t for t in texts if t != main]
    eid = entry_id or f"draft-{local(clock_now()):%Y%m%d}-{ids[0]}"
    return {"id": eid, "domain": domain.strip(), "subtype": (subtype or "").strip() or None,
            "question": main, "paraphrases": paraphrases, "answer": answer,
            "steps": [x.strip() for x in steps if x and x.strip()], "citations": [], "status": "draft",
            "version": 1}


__all__ = [
    "AnswerFeedback", "UnansweredItem", "parse_feedback", "record_feedback", "mark_unanswered", "handle_reply",
    "awaiting_feedback",
    "collect", "groups", "cluster", "set_status", "draft_entry", "drafts_dir", "forget", "feedback_counts",
    "FEEDBACK_PROMPT", "THANKS_HELPFUL", "THANKS_UNHELPFUL", "DraftError",
]
