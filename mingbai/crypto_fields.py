"""Encryption at rest for the columns that must keep a resident's raw words or contact data.

Staff (the console's audited 「显示原文」, the mediator who calls the contact phone, the printed
agreement) and replays (messages queued while the bot is down, the question held until consent)
need the raw value of these columns, so they are encrypted rather than masked: the transcript,
a ticket's summary / parties / place / phone / preferred time / resolution / notes, the
resident's place label, the outbox texts, the queued turns, the stored replies of a turn, the
WeChat / WeCom access_token, and Rasa's SQL tracker events (bot.tracker_store). Columns staff only
ever see masked store the masked text instead (tickets.feedback). docs/ARCHITECTURE.md "Storage"
lists them.

Fernet (AES-128-CBC + HMAC-SHA256, the `cryptography` package) behind MultiFernet for rotation.
The key, in this order:
  MINGBAI_DATA_KEY       comma-separated Fernet keys: the first encrypts, every one decrypts;
  MINGBAI_DATA_KEY_FILE  a file holding them, one per line (the Rasa processes are handed this);
  MINGBAI_HOME/secrets/data.key, generated once (mode 0600) the first time something is encrypted.
Lose the key and the encrypted columns cannot be read: back it up, apart from the database.

Stored form: ``enc1:`` + the Fernet token. A value without the prefix is read as it is: a row
written before encryption (migration 0006 encrypts those), or a public constant a column keeps
readable so SQL can compare it (e.g. the retention's 「内容已删除」 marker: `EncryptedText(plain=…)`).

Imported by Rasa's own runtime too (SQLAlchemy 1.4, no pydantic-settings): only the standard
library, SQLAlchemy's type API and `cryptography` at module level.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import JSON, Text, TypeDecorator

log = logging.getLogger(__name__)

PREFIX = "enc1:"
KEY_ENV = "MINGBAI_DATA_KEY"
KEY_FILE_ENV = "MINGBAI_DATA_KEY_FILE"
# What a reader gets for a value this key cannot open (lost or wrong key): a readable line, not a
# crash of every page that lists it. Logged as an error.
UNREADABLE = "（无法解密：数据密钥不对或已丢失，见 README「数据密钥」）"


class DataKeyError(RuntimeError):
    """The data key is missing, malformed or cannot open a value (message in Chinese)."""


def _home() -> Path:
    try:
        from mingbai.settings import get_settings
    except ImportError:  # Rasa's runtime: no pydantic-settings there; it is handed the key file
        root = Path(__file__).resolve().parent.parent
        return Path(os.environ.get("MINGBAI_HOME") or root / "var").resolve()
    return Path(get_settings().home)


def key_file() -> Path:
    """Where the key lives when MINGBAI_DATA_KEY is not set."""
    given = os.environ.get(KEY_FILE_ENV, "").strip()
    return Path(given) if given else _home() / "secrets" / "data.key"


def new_key() -> str:
    """A fresh Fernet key (44 characters), e.g. for MINGBAI_DATA_KEY."""
    return Fernet.generate_key().decode("ascii")


def _parse(text: str, where: str) -> list[Fernet]:
    keys = []
    for line in text.replace(",", "\n").splitlines():
        k = line.strip()
        if not k or k.startswith("#"):
            continue
        try:
            keys.append(Fernet(k.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise DataKeyError(f"{where} 里有无效的数据密钥（应是 44 个字符的 Fernet 密钥，"
                               f"可用 `mingbai db new-key` 生成）") from None
    if not keys:
        raise DataKeyError(f"{where} 里没有数据密钥")
    return keys


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless it exists: atomically (link of a finished file), so that
    processes starting together all end up with the one key that won."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # a folder we made holds only keys; one that was there is left as it is
            path.parent.chmod(0o700)
        except OSError:
            pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(new_key() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.info("generated a new data key")
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        tmp.unlink(missing_ok=True)


_lock = threading.Lock()
_cache: dict[tuple[str, str], MultiFernet] = {}


def _fernet(create: bool) -> Optional[MultiFernet]:
    env = os.environ.get(KEY_ENV, "").strip()
    src = ("env", env) if env else ("file", str(key_file()))
    with _lock:
        f = _cache.get(src)
        if f is not None:
            return f
        if src[0] == "env":
            keys = _parse(env, KEY_ENV)
        else:
            path = Path(src[1])
            if not path.exists():
                if not create:
                    return None
                _create_key_file(path)
            keys = _parse(path.read_text(encoding="ascii", errors="replace"), str(path))
        f = _cache[src] = MultiFernet(keys)
        return f


def ensure_key() -> Optional[Path]:
    """Make sure a key exists (`mingbai run` calls this before starting its processes). Returns the
    key file, or None when MINGBAI_DATA_KEY supplies the key."""
    _fernet(create=True)
    return None if os.environ.get(KEY_ENV, "").strip() else key_file()


def reset_key_cache() -> None:
    """Tests switch MINGBAI_HOME / MINGBAI_DATA_KEY; production reads the key once."""
    with _lock:
        _cache.clear()


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(text: Optional[str]) -> Optional[str]:
    """`enc1:<token>`; None and "" stay as they are (they hold nothing)."""
    if text is None or text == "":
        return text
    return PREFIX + _fernet(create=True).encrypt(str(text).encode("utf-8")).decode("ascii")


_last_complaint = [0.0]


def _unreadable(why: str, strict: bool) -> str:
    if strict:
        raise DataKeyError(f"无法解密: {why}")
    if time.monotonic() - _last_complaint[0] > 60:  # once a minute, not once per row
        _last_complaint[0] = time.monotonic()
        source = KEY_ENV if os.environ.get(KEY_ENV, "").strip() else str(key_file())
        log.error("cannot decrypt a stored value (%s): is the data key in %s the one it was written with?",
                  why, source)
    return UNREADABLE


def decrypt(value: Any, *, strict: bool = False) -> Any:
    """The plaintext of an `enc1:` value; any other value is returned unchanged (a row from before
    encryption). With a missing or wrong key: UNREADABLE (logged), or DataKeyError when strict."""
    if not is_encrypted(value):
        return value
    f = _fernet(create=False)
    if f is None:
        return _unreadable("no data key", strict)
    try:
        return f.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        return _unreadable("not this key", strict)


def reencrypt(value: Any) -> Any:
    """`value` under the current first key (rotation); plaintext gets encrypted."""
    if value is None or value == "":
        return value
    return encrypt(decrypt(value, strict=True))


def rewrite_column(conn, table: str, column: str, fn: Callable[[Any], Any], *, pk: str = "id",
                   json_: bool = False, batch: int = 500) -> int:
    """Apply `fn` to every stored (raw, not decrypted) non-NULL value of table.column, in batches
    by primary key, writing back the values it changed. For migrations and key rotation: plain
    Core on a lightweight table, so it works on any revision of the models. Returns rows changed."""
    from sqlalchemy import column as col, select, table as tbl, update

    t = tbl(table, col(pk), col(column, JSON() if json_ else Text()))
    last, changed = None, 0
    while True:
        q = select(t.c[pk], t.c[column]).where(t.c[column].is_not(None)).order_by(t.c[pk]).limit(batch)
        if last is not None:
            q = q.where(t.c[pk] > last)
        rows = conn.execute(q).all()
        for key, value in rows:
            new = fn(value)
            if new != value:
                conn.execute(update(t).where(t.c[pk] == key).values({column: new}))
                changed += 1
        if len(rows) < batch:
            return changed
        last = rows[-1][0]


class EncryptedText(TypeDecorator):
    """A Text column stored encrypted. `plain`: public constants kept readable so that SQL can
    compare with them (`Message.text != PURGED_TEXT`); they say nothing about anyone. Equality
    with any other value cannot be tested in SQL (each encryption differs): compare in Python."""

    impl = Text
    cache_ok = True

    def __init__(self, plain: Iterable[str] = ()):
        super().__init__()
        self.plain = frozenset(plain)

    def process_bind_param(self, value, dialect):
        if value is None or value == "" or value in self.plain:
            return value
        return encrypt(str(value))

    def process_result_value(self, value, dialect):
        return decrypt(value)


class EncryptedJSON(TypeDecorator):
    """A JSON column whose value is stored as one encrypted JSON string (the column's type and
    the rows written before stay JSON: a list read back as a list)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value, dialect):
        if not is_encrypted(value):
            return value
        text = decrypt(value)
        try:
            return json.loads(text)
        except ValueError:  # UNREADABLE
            return None


__all__ = ["EncryptedText", "EncryptedJSON", "encrypt", "decrypt", "reencrypt", "is_encrypted", "ensure_key",
           "rewrite_column",
           "key_file", "new_key", "reset_key_cache", "DataKeyError", "PREFIX", "KEY_ENV", "KEY_FILE_ENV",
           "UNREADABLE"]
