"""The one internal message every channel translates its wire format into."""
from __future__ import annotations

import math
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


def valid_lat_lon(lat: float, lon: float) -> bool:
    """Finite and on the globe ("nan", "inf" and 1e999 parse as floats)."""
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def from_wx_fields(m: dict, resident_key: str, channel: str, key: str, raw: dict) -> Optional["InboundMessage"]:
    """Text, voice, location and media messages share one XML shape in WeChat and WeCom.
    Returns None for other kinds (events), which each channel handles itself."""
    from connectors.wxcrypto import Rejected

    mtype = raw.get("MsgType")
    if mtype == "text":
        return InboundMessage(resident_key, channel, text=m.get("Content") or "", msg_key=key, raw=raw)
    if mtype == "voice":  # speech-to-text, when the account turned it on
        return InboundMessage(resident_key, channel, text=m.get("Recognition") or "", kind="voice", msg_key=key, raw=raw)
    if mtype == "location":
        try:
            lat, lon = float(m.get("Location_X")), float(m.get("Location_Y"))
        except (TypeError, ValueError):
            raise Rejected(400, "bad location") from None
        if not valid_lat_lon(lat, lon):
            raise Rejected(400, "bad location")
        return InboundMessage(resident_key, channel, kind="location", lat=lat, lon=lon, label=m.get("Label") or None,
                              msg_key=key, raw=raw)
    if mtype in ("image", "video", "shortvideo", "link", "file"):
        return InboundMessage(resident_key, channel, kind="image", msg_key=key, raw=raw)
    return None
