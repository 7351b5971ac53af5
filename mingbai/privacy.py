"""PII masking (PIPL): phone numbers, 身份证号, bank cards, e-mails, addresses in logs and screens.

Matching runs on NFKC-normalised text, so full-width digits (１３８…), full-width ＠ ＋ － and the
ideographic space cannot hide a number from the patterns. Only the characters that can make up
personal data are normalised; Chinese punctuation (，？（）) is left as the resident wrote it.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import unicodedata

# 18-digit 身份证号 (last may be X) and the old 15-digit form (6 area + 6 birth YYMMDD + 3).
_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{6})(\d{3})(?![0-9A-Za-z])")
# Mobile numbers, optionally with +86 / 0086 / 86, grouped with spaces or dashes: +86 138-1234-5678.
_PHONE = re.compile(r"(?<![\dA-Za-z+])((?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[\s-]?(\d{3,4})[\s-]?(\d{4})(?!\d)")
_CARD = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
_CARD_GROUPED = re.compile(r"(?<!\d)(\d{4})(?:[ -]\d{4}){2,3}[ -](\d{1,4})(?![\d])")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# House numbers after a place word: 幸福路12号3栋2单元501 -> 幸福路**号**栋**单元***
_ADDRESS = re.compile(r"(\d+)(?=\s*(?:号楼|号院|号|栋|幢|单元|室|楼|层|组|排))")
# Dashes NFKC leaves alone but people type in numbers.
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\ufe58"), "-")
_PII_CHARS = re.compile(r"[0-9A-Za-z+\-@._ ]+")
# Credentials that must never reach a log line: query parameters and JSON fields.
_SECRET_PARAM = re.compile(
    r"(?i)((?:access_token|secret|corpsecret|appsecret|token|password|api_token|auth_token)"
    r"[\"']?\s*[=:]\s*[\"']?)([^&\s\"',;)}]+)")


def _fold(ch: str) -> str:
    n = unicodedata.normalize("NFKC", ch)
    if n != ch and _PII_CHARS.fullmatch(n):
        return n
    return ch


def normalise(text: str) -> str:
    """NFKC for the characters that can spell personal data (digits, letters, + - @ . _ space)."""
    if text.isascii():
        return text
    return "".join(_fold(c) for c in text).translate(_DASHES)


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", normalise(phone or ""))
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * len(digits)


def mask(text: str) -> str:
    """Mask personal data in free text; keeps enough to recognise it (138****5678)."""
    if not text:
        return text
    text = normalise(text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    text = _ID15.sub(lambda m: f"{m.group(1)}******{m.group(3)}", text)
    text = _CARD_GROUPED.sub(lambda m: f"{m.group(1)} **** {m.group(2)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _ADDRESS.sub(lambda m: "*" * len(m.group(1)), text)
    return text


def redact_secrets(text: str) -> str:
    """Blank credentials in URLs / payloads (access_token=…, secret=…, token=…)."""
    if not text:
        return text
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}***", text)


def scrub(text: str) -> str:
    """What may go into a log line: secrets redacted, personal data masked."""
    return mask(redact_secrets(text))


class MaskingFilter(logging.Filter):
    """Log filter that masks PII in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = scrub(msg), ()
        return True


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted line: message, exception traceback (SQL parameters in
    IntegrityError texts, URLs in requests errors) and stack info alike."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _same_file(stream, path) -> bool:
    """True when `stream` already writes to `path` (under `mingbai run` a child's stderr is its log file)."""
    try:
        a, b = os.fstat(stream.fileno()), os.stat(path)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except (OSError, ValueError, AttributeError):
        return False


def setup_logging(level: str = "INFO", logfile=None) -> None:
    handlers: list[logging.Handler] = []
    if logfile:
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
    if not (logfile and _same_file(sys.stderr, logfile)):  # else every line would be written twice
        handlers.append(logging.StreamHandler())
    fmt = MaskingFormatter(LOG_FORMAT)
    root = logging.getLogger()
    root.setLevel(level)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(MaskingFilter())
        root.addHandler(h)
