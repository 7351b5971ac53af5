"""Pure parsing helpers for the intake form (dispute_form): no Rasa, no database.

Each helper reads what the resident typed in answer to one question and says whether it is an
answer to that question. The form validation (ValidateDisputeForm in bot/actions/intake.py)
decides what to say back.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Optional

ANYTIME = "随时"       # preferred_time when any time is fine
UNKNOWN_PARTY = "不清楚"  # other_party when the resident does not know who it is

_FILLER = r"(啊|呀|呢|哈|嘛|吧|哦|噢|喔|了|啦|嗯|的)*"


def clean(text: object) -> str:
    """NFKC (full-width digits/letters/punctuation → ASCII), trimmed."""
    return unicodedata.normalize("NFKC", str(text or "")).strip()


def compact(text: object) -> str:
    """Only letters, digits and CJK characters (no spaces or punctuation)."""
    return re.sub(r"[\W_]+", "", clean(text))


_QUESTION_WORDS = re.compile(r"(什么|啥|怎么|咋|为什么|为啥|多少|哪里|哪儿|能不能|可不可以|是不是|要不要|有没有|会不会|行不行|"
                             r"请问|想问|问一下|问问)")


def is_question(text: str) -> bool:
    t = clean(text)
    return bool(re.search(r"[?？]", t) or re.search(r"(吗|么|呢)[\W_]*$", t) or _QUESTION_WORDS.search(t))


# ---------------------------------------------------------------------------- yes / no
_YES = re.compile(rf"^(是|对|是的|对的|对啊|是啊|没错|没错的|就是|就是那|就是这|正确|对头|嗯|嗯嗯|好|好的|是那里|是这里|对是|是对)+{_FILLER}$")
_DENY = re.compile(r"^(不是|不对|错了|搞错了?|弄错了?|说错了?|写错了?|不是那里|不是这里|不是这个|不是那个|不在那|不在那里)"
                   r"(的|啊|呀|了|哦)*[\W_]*(我(是|在|住在?|家在)|应该是|是在|在|是)?")


def is_yes(text: str) -> bool:
    return bool(_YES.match(compact(text)))


def denial(text: str) -> Optional[str]:
    """None when `text` is not a 「不是/不对」; else what follows it (「不对，是石桥村」 → 「石桥村」, may be empty)."""
    t = clean(text)
    m = _DENY.match(t)
    if not m:
        return None
    rest = t[m.end():].strip(" ，,。.!！?？、")
    return rest if compact(rest) else ""


# ---------------------------------------------------------------------------- phone
_PHONE_REFUSAL = re.compile(
    r"(不方便|不想留|不留|不愿意?|不给|不想给|不能给|不告诉|不想说|保密|隐私|没有?(手机|电话|号码)|(手机|电话)(坏了|丢了|没有|停机)|"
    r"不用(留|电话)?|算了|不要|不知道|记不(住|得|清)|别打|不要打|不接电话|微信联系|在这里?(联系|说|回复)|网上联系|发消息|留言)")
_BARE_NO = re.compile(rf"^(没有|没|无|不|不了|不用了|没得|木有){_FILLER}$")


def is_phone_refusal(text: str) -> bool:
    """「不方便留」「不想留电话」「没有」…: the resident does not want to (or cannot) give a number."""
    c = compact(text)
    if not c or re.search(r"\d{5,}", c):
        return False
    return bool(_BARE_NO.match(c) or (len(c) <= 20 and _PHONE_REFUSAL.search(c)))


def local_number_without_area_code(text: str) -> bool:
    """A 7-8 digit number that does not start with 0 or 1: a landline typed without its area code."""
    digits = re.sub(r"[\s\-()]", "", clean(text))
    return bool(re.fullmatch(r"[2-9]\d{6,7}", digits))


# ---------------------------------------------------------------------------- preferred time
_ANYTIME = re.compile(rf"^(我)?(都|全天|一整天|整天)?(随时|随便|都行|都可以|都方便|什么时候都|啥时候都|任何时[间候]|哪天都|几点都|全天|一整天|整天|"
                      rf"时间都|白天晚上都)(都|也)?(可以|行|方便|能|有空|在家|能接|接电话|打|来)?(的|啊|呀|吧|哈|哦|嗯)*$")
_ANYTIME_WORD = re.compile(r"(随时|都行|都可以|都方便|什么时候都|啥时候都|任何时[间候]|哪天都|几点都)")
_NUM = r"[0-9一二三四五六七八九十两]"
_TIME = re.compile(
    r"(今天|明天|后天|大后天|今早|今晚|明早|明晚|明儿|今儿|这两天|这几天|过两天|过几天|改天|下周|这周|本周|下礼拜|这礼拜|"
    r"(下|这|本)个?(星期|礼拜|月)|(周|星期|礼拜)[一二三四五六日天末1-7]|工作日|上班(时间|日)|周末|节假日|假日|平时|平常|"
    r"白天|晚上|夜里|夜间|上午|下午|中午|早上|早晨|清早|傍晚|晌午|午饭|午休|饭后|饭前|下班|放学|收工|凌晨|"
    rf"{_NUM}{{1,3}}(点|时|:\d)|{_NUM}{{1,3}}个?(号|日)|{_NUM}{{1,2}}月|"
    r"马上|现在|立刻|立即|尽快|越快越好|赶紧|早点|有空|空闲|有时间|一会儿?|等会儿?|待会儿?|稍后|随时|都行|都可以|都方便)")


def parse_time(text: str) -> Optional[str]:
    """The preferred contact time, or None when `text` is clearly not one.

    「随时」「都行」「什么时候都可以」 → 「随时」; 「明天下午三点以后」 → kept as typed;
    「查进度」, a question, a long unrelated sentence → None.
    """
    t = clean(text)
    c = compact(t)
    if not c:
        return None
    if _ANYTIME.match(c):
        return ANYTIME
    if not _TIME.search(c):
        return None
    if len(c) > 40:
        return None
    if is_question(t) and not _ANYTIME_WORD.search(c) and len(c) > 12:
        return None  # 「我想问问明天法院上班吗」: a question, not an answer
    return t[:100]


# ---------------------------------------------------------------------------- other party
_UNKNOWN = re.compile(r"(不知道|不清楚|不晓得|不认识|不确定|说不清|说不上来|搞不清|弄不清|不知|没见过|不记得)")
_META_QUESTION = re.compile(r"(什么意思|啥意思|为什么要?问|为啥要?问|问这个|干什么用|干嘛用|有什么用|要说什么|说什么)")


def parse_party(text: str) -> Optional[str]:
    """Who the dispute is with: the text as given, 「不清楚」 when unknown, None when no answer."""
    t = clean(text)
    c = compact(t)
    if not c:
        return None
    if len(c) <= 12 and _UNKNOWN.search(c):
        return UNKNOWN_PARTY
    if _META_QUESTION.search(c) or (is_question(t) and len(c) > 15):
        return None
    return t[:200]


# ---------------------------------------------------------------------------- place
def place_label(names: Iterable[str]) -> str:
    """A readable place from the town down: 清风镇 + 大塘村 + 大塘村第一网格 → 清风镇大塘村第一网格."""
    out = ""
    last = ""
    for name in names:
        if not name:
            continue
        if last and name.startswith(last):
            out = out[: len(out) - len(last)] + name
        else:
            out += name
        last = name
    return out


def place_value(label: str, typed: str) -> str:
    """What the location slot keeps: the matched place, plus the resident's own words when they add
    something (「大塘小学旁边」 → 「清风镇大塘村第一网格（大塘小学旁边）」)."""
    t = clean(typed)
    if not compact(t) or compact(t) in compact(label):
        return label[:200]
    return f"{label}（{t}）"[:200]
