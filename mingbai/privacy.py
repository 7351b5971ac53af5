"""PII masking (PIPL): phone numbers, 身份证号, bank cards, addresses in logs and screens."""
from __future__ import annotations

import logging
import re

_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})-?(\d{3,4})(\d{4})(?!\d)")
_CARD = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
# House numbers after a place word: 幸福路12号3栋2单元501 -> 幸福路**号**栋**单元***
_ADDRESS = re.compile(r"(\d+)(?=\s*(?:号楼|号院|号|栋|幢|单元|室|楼|层|组|排))")


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * len(digits)


def mask(text: str) -> str:
    """Mask personal data in free text; keeps enough to recognise it (138****5678)."""
    if not text:
        return text
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _ADDRESS.sub(lambda m: "*" * len(m.group(1)), text)
    return text


class MaskingFilter(logging.Filter):
    """Log filter that masks PII in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = mask(msg), ()
        return True


def setup_logging(level: str = "INFO", logfile=None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if logfile:
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(MaskingFilter())
        root.addHandler(h)
