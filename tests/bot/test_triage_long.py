"""Long consultations narrate past harm and then ask about the law: no alarm; a present danger inside
a long message still is one. (Examples written for this test.)"""
from __future__ import annotations

import pytest

from bot.emergency import triage

PAST = [
    "我和老公结婚八年了，他脾气一直不好，前几年喝了酒就动手打我，我报过两次警，派出所做过笔录。现在我们已经分居一年了，"
    "孩子跟着我。我想问一下，起诉离婚的话，之前的报警记录能不能当证据？孩子抚养权能不能判给我？",
    "去年冬天我家隔壁的房子着火了，火势蔓延把我家的柴房也烧了，损失了不少东西。消防队来了才扑灭。现在邻居说火不是他家"
    "引起的，不肯赔。请问这种情况我应该找谁赔偿？需要什么证据？",
    "我爸今年七十多了，上个月在村口被一辆电动车撞倒，腿骨折了，住院花了三万多。骑车的是隔壁村的小伙子，当时说好会负责，"
    "现在电话也不接了。交警开了事故认定书，他全责。我们该怎么要赔偿？",
]
NOW = [
    "快来人啊，我跟邻居因为宅基地吵了好多年，今天他拿着斧头站在我家门口，说今天非砍死我不可，我老婆孩子都吓得躲在屋里，"
    "他还在砸门，这种情况能告他吗？",
    "我跟老公闹离婚闹了半年了，他一直不同意。刚才他喝了很多酒回来，把我锁在卧室里，说要跟我同归于尽，现在他在客厅把煤气"
    "打开了，我闻到好大的煤气味，离婚的事以后再说，我现在该怎么办？",
]


@pytest.mark.parametrize("text", PAST)
def test_a_story_of_past_harm_is_answered_not_alarmed(text):
    hit = triage(text, semantic=False)
    assert hit is None or hit["tier"] == "harm_past", hit


@pytest.mark.parametrize("text", NOW)
def test_present_danger_in_a_long_message_still_alarms(text):
    hit = triage(text, semantic=False)
    assert hit and hit["tier"] == "danger_now", hit
