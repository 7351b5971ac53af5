"""Two-tier triage (bot.emergency.triage): danger_now raises the alarm, harm_past only adds a line.

Every test here failed on the rules + bank before triage existed: the old detect() missed physical
dangers without violence words and alarmed on past harm, legal questions and anger idioms.
The sentences are written for these tests; none is taken from eval/.
"""
from __future__ import annotations

import pytest

from bot.emergency import detect, triage

# (text, kind, a hotline that must be offered first-hand)
DANGER_NOW = [
    ("厨房油锅着火了 火窜到柜子上了", "fire", "119"),
    ("电动车在楼道里充电 冒黑烟了", "fire", "119"),
    ("一进屋就闻到好浓的煤气味", "gas", "119"),
    ("孩子把奶奶的安眠药当糖吃了好几颗", "poisoning", "120"),
    ("我爸把敌敌畏当饮料喝了一口", "poisoning", "120"),
    ("河水漫进村里了 水都到腰了", "disaster", "119"),
    ("后墙塌了 我妈压在下面", "disaster", "119"),
    ("电梯卡在半中间 我和孩子被关在里面", "trapped", "119"),
    ("有个男的从车站一路跟着我 我好怕", "stalking", "110"),
    ("我家四岁的孩子在菜市场不见了 到处找不到", "missing_child", "110"),
    ("独居的老姨三天没出门 敲门没人应 门反锁着", "medical", "110"),
    ("我老伴突然倒地 叫不醒", "medical", "120"),
]


@pytest.mark.parametrize("text,kind,hotline", DANGER_NOW, ids=[k for _, k, _ in DANGER_NOW])
def test_each_new_danger_kind_is_caught_by_the_rules(text, kind, hotline):
    hit = triage(text, semantic=False)
    assert hit is not None and hit["tier"] == "danger_now", text
    assert hit["kind"] == kind
    assert hotline in hit["hotlines"] and hotline in hit["reply"]
    first_line = hit["reply"].splitlines()[0]
    assert any(h in first_line for h in ("110", "119", "120", "96110", "12356")), first_line
    assert detect(text, semantic=False)["kind"] == kind  # the old contract keeps working


def test_gas_reply_says_open_windows_and_leave():
    reply = triage("家里燃气管漏气了 嘶嘶响", semantic=False)["reply"]
    assert "开" in reply.splitlines()[0] and "窗" in reply and "离开" in reply and "不要" in reply


@pytest.mark.parametrize("text", [
    "气得想死 老板三个月不给工资",
    "真不想活了这日子 邻居天天往我家门口倒垃圾",
    "想死的心都有了 物业又乱收费",
])
def test_anger_idioms_are_not_alarms_but_offer_a_gentle_line(text):
    hit = triage(text, semantic=False)
    assert detect(text, semantic=False) is None
    assert hit is not None and hit["tier"] == "harm_past" and hit["kind"] == "crisis_possible"
    assert "12356" in hit["line"] and hit["reply"] == ""


@pytest.mark.parametrize("text", ["气死我了 包工头又跑了", "都快被气炸了 车位又被占了", "真想掐死他 账也不给我看"])
def test_plain_anger_says_nothing(text):
    assert detect(text, semantic=False) is None


@pytest.mark.parametrize("text", [
    "怎么申请人身安全保护令",
    "老公经常家暴我 保护令要去哪里申请",
    "前夫以前打过我 现在离婚了还来骚扰 能申请禁止令吗",
])
def test_protection_order_questions_are_harm_past_with_a_110_line(text):
    hit = triage(text, semantic=False)
    assert hit["tier"] == "harm_past" and hit["kind"] == "violence_past"
    assert "110" in hit["line"] and hit["reply"] == ""
    assert detect(text, semantic=False) is None


@pytest.mark.parametrize("text", [
    "老公背着我在网上借了好多网贷 现在催收天天打电话 我该怎么办",
    "媳妇偷偷借了网贷 这个钱我要还吗",
    "网贷逾期了 会不会坐牢",
])
def test_online_loans_and_a_spouses_secret_debt_are_not_danger_now(text):
    hit = triage(text, semantic=False)
    assert hit is None or hit["tier"] == "harm_past"
    assert detect(text, semantic=False) is None


@pytest.mark.parametrize("text,kind", [
    ("三周前在厂里被机器压伤了手 工伤怎么认定", "injury_past"),
    ("上个月被人打了一顿 对方能赔多少", "violence_past"),
    ("去年被网上刷单骗了两万 还能追回来吗", "fraud_past"),
    ("前年家里失火 保险公司不赔", "injury_past"),
    ("在饭店吃坏了肚子 住了三天院 能让饭店赔吗", "injury_past"),
])
def test_past_harm_gets_a_line_and_no_alarm(text, kind):
    hit = triage(text, semantic=False)
    assert hit["tier"] == "harm_past" and hit["kind"] == kind and hit["line"]
    assert detect(text, semantic=False) is None


@pytest.mark.parametrize("text", [
    "有人在网上造谣说我家出了人命 我能告他吗",
    "故意杀人罪怎么判",
    "小区有人被困电梯 物业要担什么责任",
    "员工自杀未遂 公司能不能开除他",
    "我儿子打游戏中毒了 天天不回家",
    "孩子把手机丢了",
    "楼上漏水 天花板都要塌了",
])
def test_rumours_law_questions_and_figures_of_speech_are_not_danger_now(text):
    assert detect(text, semantic=False) is None


@pytest.mark.parametrize("text,kind", [
    ("煤气味好大 老人叫不醒 能告燃气公司吗", "gas"),
    ("问个事 欠钱不还咋办 哎呀屋里电线冒火花了", "fire"),
    ("孩子刚喝了农药 农药店要负责吗", "poisoning"),
    ("他现在就在门外拿着刀 我能申请保护令吗", "weapon_threat"),
])
def test_present_danger_beats_a_consultation_marker(text, kind):
    hit = triage(text, semantic=False)
    assert hit["tier"] == "danger_now" and hit["kind"] == kind


@pytest.mark.parametrize("text,kind", [
    ("家裡煤氣味好重 頭好暈", "gas"),
    ("閨女在商場走丟了 還沒找到", "missing_child"),
    ("樓下著火了 煙好大", "fire"),
])
def test_traditional_characters(text, kind):
    hit = triage(text, semantic=False)
    assert hit["tier"] == "danger_now" and hit["kind"] == kind


def test_detect_returns_none_for_harm_past_and_keeps_its_shape_for_danger():
    assert triage("之前被老公掐过脖子 现在住娘家了 怎么起诉离婚", semantic=False)["tier"] == "harm_past"
    assert detect("之前被老公掐过脖子 现在住娘家了 怎么起诉离婚", semantic=False) is None
    hit = detect("他又在打我 孩子吓得直哭", semantic=False)
    assert {"kind", "hotlines", "reply"} <= set(hit) and hit["tier"] == "danger_now"


def test_self_harm_act_puts_120_first_and_intent_puts_12356_first():
    act = triage("我刚吃了一整瓶安眠药", semantic=False)
    assert act["kind"] == "self_harm" and act["hotlines"][0] == "120" and "120" in act["reply"].splitlines()[0]
    intent = triage("我真的不想活了", semantic=False)
    assert intent["hotlines"][0] == "12356" and "12356" in intent["reply"].splitlines()[0]


@pytest.mark.parametrize("text", ["", "   ", "😀", "？？", "a" * 5000, None, 123])
def test_odd_input_is_safe(text):
    assert triage(text, semantic=False) is None


def test_the_bank_is_not_an_eval_set():
    from bot import emergency_semantic

    assert all("eval" not in p.parts for p in emergency_semantic.SOURCES)
    kinds = {k for _, k in emergency_semantic.bank_rows() if k}
    assert {"fire", "gas", "poisoning", "disaster", "trapped", "stalking", "missing_child"} <= kinds


def test_the_bank_backstop_catches_phrasings_the_rules_miss_and_respects_filters():
    for text in ("屋里烟呛得睁不开眼 门也打不开", "他把我按在水里 我刚挣脱"):
        assert detect(text, semantic=False) is None  # no rule fires...
        hit = triage(text, wait=True)
        assert hit and hit["tier"] == "danger_now" and hit["via"] == "semantic", text  # ...the bank does
    past = triage("我大姑子前些年被她男人打跑了 现在要回来分房子 她有份吗", wait=True)
    assert past is None or past["tier"] == "harm_past"


def test_bank_vectors_from_the_store_are_the_encoders(fresh_home):
    """The bank is encoded through the training-vector store in the app runtime (setup's two
    processes); its vectors must be the encoder's own, which the Rasa runtime computes directly."""
    import numpy as np

    from bot import emergency_semantic

    texts = [t for t, _ in emergency_semantic.bank_rows()[:40]]
    assert np.array_equal(emergency_semantic._embed_bank(texts), emergency_semantic._embed(texts))
