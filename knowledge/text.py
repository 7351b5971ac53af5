"""Input normalisation: traditional→simplified, full-width→half-width, no emoji, capped length."""
from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1000  # longer than this: ask the resident to say it in a sentence or two
SEARCH_CHARS = 300  # what the retrievers look at

try:  # pinned in requirements/app.lock
    from opencc import OpenCC

    _cc = OpenCC("t2s")

    def to_simplified(text: str) -> str:
        return _cc.convert(text)
except Exception:  # pragma: no cover - fallback when the package is missing
    # The commonest traditional characters residents type (subset; opencc is the real path).
    _T = ("這個們來時為說國會對後們過還與經樣當發開們問題們讓麼資給闆錢裡動長點將進應無關實員種們間題學機電"
          "車東聽話從樣見處親戶傳氣費錄賠償護權責務業勞協議證據請輸廳區縣鄉鎮農醫療婦離婚繼產屬騙詐網買賣價"
          "萬歲歷條約辦書報單們號碼該訴訟審執則規範記錄裝壞險濟愛聯導鬥爭歸壓軟將會計專辯們態歡舊聲體們隊陽陰")
    _S = ("这个们来时为说国会对后们过还与经样当发开们问题们让么资给板钱里动长点将进应无关实员种们间题学机电"
          "车东听话从样见处亲户传气费录赔偿护权责务业劳协议证据请输厅区县乡镇农医疗妇离婚继产属骗诈网买卖价"
          "万岁历条约办书报单们号码该诉讼审执则规范记录装坏险济爱联导斗争归压软将会计专辩们态欢旧声体们队阳阴")
    _MAP = str.maketrans(dict(zip(_T, _S)))

    def to_simplified(text: str) -> str:
        return text.translate(_MAP)


_CJK = re.compile(r"[\u3400-\u9fff]")
_WORDISH = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_SPACE = re.compile(r"\s+")


def _keep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat in ("So", "Cs", "Co", "Cn", "Sk"):
        return False  # emoji, pictographs, private use, unassigned
    if cat in ("Mn", "Me") and ch not in "\u3099\u309a":
        return False  # variation selectors, keycap combiners
    if cat == "Cf":
        return False  # ZWJ etc.
    return True


def normalize(text) -> str:
    """Clean text for retrieval. Never raises."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = unicodedata.normalize("NFKC", text)  # full-width letters/digits/punctuation → half-width
    text = "".join(ch for ch in text if _keep(ch))
    text = _SPACE.sub(" ", text).strip()
    return to_simplified(text)


def classify_input(raw) -> tuple[str, str]:
    """-> (problem, cleaned) where problem is '' (fine), 'empty', 'too_long', 'no_text', 'not_chinese'."""
    raw = "" if raw is None else raw if isinstance(raw, str) else str(raw)
    cleaned = normalize(raw)
    if not cleaned:
        return ("empty" if not raw.strip() else "no_text"), cleaned
    if len(cleaned) > MAX_CHARS:
        return "too_long", cleaned
    if not _WORDISH.search(cleaned):
        return "no_text", cleaned
    if not _CJK.search(cleaned):
        return "not_chinese", cleaned
    return "", cleaned[:SEARCH_CHARS]
