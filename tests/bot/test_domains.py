"""bot.domains.combine: the classifier's and the knowledge base's votes on a message's domain."""
from __future__ import annotations

from bot.domains import combine


def test_without_a_knowledge_base_vote_the_classifier_decides():
    cls = {"domain": "劳动纠纷", "confidence": 0.7, "scores": {"劳动纠纷": 0.7, "建设工程": 0.2}}
    assert combine(cls)["domain"] == "劳动纠纷"
    assert combine(cls, {})["domain"] == "劳动纠纷"
    assert combine({"domain": "侵权", "confidence": 0.9})["domains"] == ["侵权"]


def test_the_knowledge_base_settles_an_unsure_classifier_but_not_a_sure_one():
    unsure = {"domain": "合同纠纷", "confidence": 0.4, "scores": {"合同纠纷": 0.4, "债权债务": 0.35}}
    assert combine(unsure, {"债权债务": 1.0})["domain"] == "债权债务"
    sure = {"domain": "婚姻家庭", "confidence": 0.9, "scores": {"婚姻家庭": 0.9, "债权债务": 0.05}}
    assert combine(sure, {"债权债务": 1.0})["domain"] == "婚姻家庭"


def test_a_close_second_domain_is_reported_a_distant_one_is_not():
    two = combine({"domain": "婚姻家庭", "confidence": 0.5, "scores": {"婚姻家庭": 0.5, "债权债务": 0.4}})
    assert two["domains"] == ["婚姻家庭", "债权债务"]
    one = combine({"domain": "婚姻家庭", "confidence": 0.8, "scores": {"婚姻家庭": 0.8, "债权债务": 0.1}})
    assert one["domains"] == ["婚姻家庭"]


def test_a_specific_domain_close_to_the_general_one_is_what_the_matter_is_about():
    cls = {"domain": "综合咨询", "confidence": 0.45, "scores": {"综合咨询": 0.45, "婚姻家庭": 0.4}}
    assert combine(cls)["domain"] == "婚姻家庭"
    far = {"domain": "综合咨询", "confidence": 0.8, "scores": {"综合咨询": 0.8, "婚姻家庭": 0.1}}
    assert combine(far)["domain"] == "综合咨询"
