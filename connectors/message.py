"""The one internal message every channel translates its wire format into."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

KINDS = ("text", "voice", "location", "image", "event")


@dataclass
class InboundMessage:
    resident_key: str            # "{channel}:{channel_user_id}", also the Rasa sender_id
    channel: str                 # wechat | wecom | web | rest | cli
    text: str = ""
    msg_key: Optional[str] = None  # dedup key within the channel (WeChat MsgId, …); None = no dedup
    kind: str = "text"
    event: Optional[str] = None    # for kind == "event": subscribe | unsubscribe | click | …
    lat: Optional[float] = None
    lon: Optional[float] = None
    label: Optional[str] = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind: {self.kind}")
        self.text = (self.text or "").strip()


def channel_of(resident_key: str) -> str:
    return resident_key.split(":", 1)[0] if ":" in resident_key else ""


def user_of(resident_key: str) -> str:
    return resident_key.split(":", 1)[1] if ":" in resident_key else resident_key
