"""Chinese numerals ⇄ int for article numbers (第一千零七十九条 ⇄ 1079)."""
from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CN = "零一二三四五六七八九"

CN_NUM = "零〇一二三四五六七八九十百千万两"
ARTICLE_RE = re.compile(rf"第([{CN_NUM}0-9]+)条(?:之([{CN_NUM}0-9]+))?")


def cn2int(s: str) -> int:
    """'一千零七十九' -> 1079, '十五' -> 15, '1079' -> 1079. ValueError on junk."""
    s = s.strip()
    if not s:
        raise ValueError("empty numeral")
    if s.isdigit():
        return int(s)
    total, section, num = 0, 0, 0
    for ch in s:
        if ch in _DIGITS:
            num = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit == 10000:
                total += (section + num) * unit
                section = 0
            else:
                section += (num or 1) * unit  # 十五 = 1*10 + 5
            num = 0
        else:
            raise ValueError(f"not a Chinese numeral: {s!r}")
    return total + section + num


def int2cn(n: int) -> str:
    """1079 -> '一千零七十九', 15 -> '十五', 110 -> '一百一十'."""
    if n < 0:
        raise ValueError("negative")
    if n == 0:
        return "零"
    if n >= 10000:
        high, low = divmod(n, 10000)
        rest = int2cn(low) if low else ""
        if low and low < 1000:
            rest = "零" + rest
        return int2cn(high) + "万" + rest
    out = []
    units = [(1000, "千"), (100, "百"), (10, "十"), (1, "")]
    zero = False
    started = False
    for value, name in units:
        d = n // value % 10
        if d == 0:
            if started:
                zero = True
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(_CN[d] + name)
        started = True
    s = "".join(out)
    if s.startswith("一十"):
        s = s[1:]  # 十五, not 一十五
    return s


def article_label(num: int, sub: int = 0) -> str:
    """(1079, 0) -> '第一千零七十九条'; (17, 1) -> '第十七条之一'."""
    return f"第{int2cn(num)}条" + (f"之{int2cn(sub)}" if sub else "")


def parse_article(label: str) -> tuple[int, int]:
    """'第一千零七十九条' / '第1079条' / '1079' / '第十七条之一' -> (num, sub)."""
    label = str(label).strip()
    m = ARTICLE_RE.fullmatch(label)
    if m:
        return cn2int(m.group(1)), cn2int(m.group(2)) if m.group(2) else 0
    if label.isdigit():
        return int(label), 0
    m = re.fullmatch(rf"([{CN_NUM}0-9]+)(?:条)?(?:之([{CN_NUM}0-9]+))?", label)
    if m:
        return cn2int(m.group(1)), cn2int(m.group(2)) if m.group(2) else 0
    raise ValueError(f"not an article number: {label!r}")


def canonical_article(label: str) -> str:
    num, sub = parse_article(label)
    return article_label(num, sub)
