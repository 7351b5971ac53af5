"""Every road a message can take (bot/router.py): explicit acts, out of scope, on-the-spot disputes,
and everything else to the knowledge base. Examples written for these tests, not taken from any
evaluation set."""
from __future__ import annotations

import pytest

from bot import router


@pytest.mark.parametrize("text, act", [
    ("你好", "greet"), ("在吗？", "greet"), ("谢谢你啊", "thanks"), ("好的 谢谢", "thanks"), ("拜拜", "bye"),
    ("你是机器人吗", "identity"), ("转人工", "handoff"), ("我要跟真人说", "handoff"),
    ("叫网格员给我回个电话", "handoff"), ("查进度", "status"), ("我上次登记的事怎么样了", "status"),
    ("删除我的信息", "forget"), ("别留我的记录", "forget"), ("取消", "cancel"), ("不登记了", "cancel"),
    ("帮我调解一下", "mediation"), ("能不能派个人来看看", "mediation"), ("我想申请调解", "mediation"),
    ("好的", "affirm"), ("不用了", "deny"),
])
def test_explicit_acts(text, act):
    assert router.act(text) == act


@pytest.mark.parametrize("text", [
    "老板不给工资怎么办", "欠钱不还", "我老婆不让我见孩子，离婚的时候说好每月见两次",
    "调解收费吗", "我的身份证号被人泄露了怎么办", "打官司请不起律师咋办", "在厂里干了一年多没签合同",
    "网店不给退货", "上个月被骗了三万块还能追回来吗",
])
def test_questions_go_to_the_knowledge_base(text):
    assert router.act(text) is None
    assert not router.out_of_scope(text)


@pytest.mark.parametrize("text", ["帮我写一首诗", "明天天气怎么样", "推荐只股票", "写首关于离婚的歌", "红烧肉怎么做"])
def test_out_of_scope(text):
    assert router.act(text) is None and router.out_of_scope(text)


@pytest.mark.parametrize("text, visit", [
    ("隔壁天天半夜装修 吵得睡不着 说了也不听", True),
    ("楼上漏水一个月了 物业也不管", True),
    ("邻居噪音扰民犯法吗", False),           # a question about the law: answered
    ("去年邻居家的狗咬了我 要赔多少", False),  # harm that is over: answered
])
def test_on_the_spot_disputes(text, visit):
    assert router.needs_visit(text) is visit


def test_traditional_and_full_width_are_normalised():
    assert router.act("謝謝") == "thanks"
    assert router.act("查進度") == "status"
    assert router.normalize("ＡＢＣ，你好！") == "abc你好"
