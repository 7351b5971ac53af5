"""The domain of a message from two witnesses: the classifier and the knowledge base.

On long consultations (several facts, the question at the end) the classifier alone was right
for about half; the knowledge base's best-matching entries know their domains too. The scores are
mixed (KB_WEIGHT) and a second domain is reported when it is close to the first — a divorce with
a hidden loan is 婚姻家庭 and 债权债务.
"""
from __future__ import annotations

from typing import Optional

# The knowledge base's vote weighs less since the classifier learned residents' messages (session 13):
# each tuning split dev6 – dev10 read by a classifier fitted without it, 753 answers and intakes, weight
# 0 / 0.3 / 0.5 / 0.7 → 0.900 / 0.900 / 0.894 / 0.891 (with the older classifier 0.5 was best).
KB_WEIGHT = 0.3
SECOND_RATIO = 0.6  # a second domain counts when its score is at least this share of the first
GENERAL = "综合咨询"
SPECIFIC_RATIO = 0.7  # 综合咨询 is the fallback: a specific domain this close to it is what the matter is about


def combine(cls: dict, kb_domains: Optional[dict] = None) -> dict:
    """{"domain", "domains", "confidence"} from classify() output and ask()["domains"]."""
    scores: dict[str, float] = {}
    for d, p in (cls.get("scores") or {cls.get("domain"): cls.get("confidence") or 0.0}).items():
        if d:
            scores[d] = scores.get(d, 0.0) + (1 - KB_WEIGHT) * float(p)
    for d, w in (kb_domains or {}).items():
        if d:
            scores[d] = scores.get(d, 0.0) + KB_WEIGHT * float(w)
    if not scores:
        return {"domain": cls.get("domain"), "domains": [cls.get("domain")] if cls.get("domain") else [],
                "confidence": float(cls.get("confidence") or 0.0)}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if ranked[0][0] == GENERAL and len(ranked) > 1 and ranked[1][1] >= SPECIFIC_RATIO * ranked[0][1]:
        # 「想请调解员来说和，兄弟几个为老娘养老吵翻了」: the procedure words pull to 综合咨询, the matter is family.
        ranked[0], ranked[1] = ranked[1], ranked[0]
    best, top = ranked[0]
    domains = [best] + [d for d, s in ranked[1:2] if s >= SECOND_RATIO * top]
    return {"domain": best, "domains": domains, "confidence": round(top, 4)}
