"""Rule-based emergency triage. Runs before Rasa (gateway) and inside Rasa's NLU pipeline.

Recall first: a missed emergency is a severity-1 bug, so rules fire on any plausible present
danger; only clear past-tense / third-party / figure-of-speech mentions are let through.
Pure Python with no dependencies: it is imported by both runtimes (3.10 Rasa, 3.11 app).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, List, Optional

# Traditional -> simplified for the characters the rules look at (no opencc in the Rasa venv).
_T2S = str.maketrans(
    "殺槍燒來現們經轉賬帳驗證碼騙錢匯樓藥農熱線暈氣電沒麼門說將鬧個還馬這醫車禍傷臟絕結輕願無義對爺媽剛讓給戶錄銀凍險頂邊歲兒孫處開關報員網聯繫係帶嚇頭臉過時後會發點斷鬥親趕緊幫從動邊裡裏話還們鄰居覺聽見喪滅毀燙爆炸攔著罵錯嗎呢殘廢們劃腕墜囉從樣覺窗陽臺臺寫書遺應該為麻煩",
    "杀枪烧来现们经转账帐验证码骗钱汇楼药农热线晕气电没么门说将闹个还马这医车祸伤脏绝结轻愿无义对爷妈刚让给户录银冻险顶边岁儿孙处开关报员网联系系带吓头脸过时后会发点断斗亲赶紧帮从动边里里话还们邻居觉听见丧灭毁烫爆炸拦着骂错吗呢残废们划腕坠啰从样觉窗阳台台写书遗应该为麻烦",
)

HOTLINE_NAMES = {
    "110": "报警电话 110",
    "120": "急救电话 120",
    "96110": "反诈专线 96110",
    "12356": "心理援助热线 12356",
    "400-161-9995": "希望24热线 400-161-9995",
}

_PAST = r"(去年|前年|上个?月|上上个?月|上周|上礼拜|上星期|以前|之前|曾经|那年|那时候?|当年|几年前|多年前|年前|小时候|过去|早年|生前|几个月前|半年前|那次|上次|前些年|前几年|好几年|好多年|多年了|几年了|早就)"
_NOW = r"(现在|正在|马上|立刻|赶紧|快来|快点|就在|此刻|这会儿?|刚刚|刚才|刚|一直在|还在|又在|在门口|门外|堵着|堵在|救命|救救|帮帮我|怎么办啊|今晚|今天晚上|等会|待会)"
# Speech about others' past events or the law in general: hard negatives.
_CONSULT = r"(赔|肇事|逃逸|怎么找|赔多少|判几年|判多久|怎么判|犯法吗|违法吗|算不算|能不能告|可以告|起诉|律师|法律规定|怎么处理|追回|立案|报案了|警察来过|已经报警|派出所处理|出院|住院了|鉴定|伤残|判决)"

_SELF_HARM = re.compile(
    r"(不想活|活着没(有)?(啥|什么|甚么)?意思|活不下去|活不成了|不活了|想死|去死算了|死了算了|死了一了百了|一了百了|"
    r"自杀|自尽|轻生|寻短见|想不开|结束(自己的?)?生命|了结自己|离开这个世界|跳楼|跳河|跳江|跳湖|跳桥|跳海|"
    r"喝农药|喝药|吃药死|吞药|割腕|割脉|上吊|烧炭|安眠药|吃了一瓶|活够了|没有活路|没活路|不如死|死给你看|死给他们看|"
    r"累赘.{0,10}(走了|死|消失|解脱|不在)|(还是|不如|干脆)(我)?走了(好|算了)|不想再拖累|拖累.{0,6}(走了|死)|活着(就是|只是)?(个)?拖累|"
    r"遗书|后事都交代|站在楼顶|站在天台|爬上楼顶|爬到楼顶|在天台上|在楼顶上|撑不下去|我消失|消失算了|让我死|想去死|去死|买了?.{0,4}农药|买了?.{0,4}安眠药|绳子都准备|药都准备)"
)
_SELF_HARM_FIGURATIVE = re.compile(r"(想死你|笑死|累死了?(?!不想)|气死|热死|冷死|饿死了|困死|烦死|急死|吓死|丑死|美死|香死|难吃死|忙死)")
_THIRD_PARTY = re.compile(r"(他|她|他们|邻居|同事|朋友|亲戚|儿子|女儿|孩子|老公|老婆|丈夫|妻子|媳妇|爸|妈|爷爷|奶奶|哥|姐|弟|妹|员工|工人|学生|病人|村民|家属|某人|一个人|有人)")

_KILL_THREAT = re.compile(
    r"(杀了我|杀我|灭.{0,2}全家|杀.{0,2}全家|汽油|杀人|杀了他|杀他全家|杀你全家|杀我全家|砍死|砍人|砍我|砍了|捅死|捅我|捅了|捅人|弄死|打死|整死|搞死|掐死|勒死|烧死|"
    r"要我的?命|要了我的?命|灭门|灭了我|同归于尽|放火|纵火|点火烧|浇汽油|泼汽油|泼硫酸|硫酸|炸了|炸死|炸药|炸弹|追着砍|拿刀|持刀|举着刀|带着刀|"
    r"掏出刀|亮出刀|提着刀|拎着刀|拿着刀|菜刀|砍刀|匕首|斧头|砍柴刀|刀子|枪|铁锹|铁棍|钢管|棒球棍)"
)
_WEAPON = re.compile(r"(刀|枪|斧|铁锹|铁棍|钢管|棍子|棒子|汽油|硫酸|炸药|炸弹|锄头|镰刀|砖头)")
_VIOLENCE_NOW = re.compile(
    r"(救命|救救我|快救|打我|(?<!现)在打(?!钱|款|电话|官司|游戏|工)|正在打(?!钱|款|电话|官司|游戏|工)|撬(我家|门|锁)|抱走|抢走孩子|带走孩子|又打|又在打|往死里打|打人了|打起来了|打架了|打得|掐我|掐着|踹门|砸门|撞门|砸东西|砸我家|砸车|"
    r"刚(刚|才)?(被)?(他|她|老公|老婆|丈夫|男人|对象)?打(完|了)我|刚(刚|才)?被打|反锁在|把我(反)?锁|翻墙进|翻进(我家|院子|屋)|有人进了我家|有人在我家院子|"
    r"堵在.{0,8}(要钱|抢|打)|围着我.{0,4}(要钱|打)|"
    r"闯进来|闯进我家|冲进来|冲进我家|堵在门口|堵我|追着我|追我|抓着我|揪着|不让我走|关起来|锁在屋|锁起来|绑着|绑架|被绑|"
    r"拐走|抢孩子|抱走孩子|抢劫|抢我|入室|有人撬门|在撬门|性侵|强奸|非礼|家暴我|施暴|在家暴|又家暴|打老婆|打孩子|打老人)"
)
_FRAUD = re.compile(
    r"(转账|转钱|转了|汇款|汇钱|汇了|打钱|打款|打了.{0,4}(钱|万|千|块)|付款|验证码|安全账户|刷单|屏幕共享|共享屏幕|远程控制|下载.{0,6}(app|APP|软件)|"
    r"冻结|洗钱|公检法|自称(警察|公安|法院|检察院|客服|领导)|涉嫌.{0,4}案|通缉|贷款解冻|保证金|解冻费|手续费|注销.{0,4}(贷|账户)|"
    r"网贷|刷流水|中奖|退款|理赔|征信|被骗|骗了|骗子|诈骗|假冒|冒充)"
)
_FRAUD_NOW = re.compile(
    r"(正在|现在|马上|要我|让我|叫我|逼我|催我|他让|对方让|对方要|刚刚|刚才|刚转|刚打|刚汇|刚被|刚付|还在(打|通|视频|电话)|电话还没挂|没挂|在通话|在视频|"
    r"该不该转|要不要转|能不能转|可以转吗|转不转|还转吗|我转了|已经转了|今天|今早|今晚|一小时前|半小时前|几分钟前|十分钟前|"
    r"怎么止付|快帮|赶紧|着急)"
)
_MEDICAL = re.compile(
    r"(昏迷|晕倒|晕过去|昏过去|不省人事|叫不醒|没有?呼吸|没气了|没了呼吸|喘不上气|喘不过气|心脏病(犯|发)|心梗|脑溢血|脑出血|中风|抽搐|抽风|口吐白沫|"
    r"大出血|流了好多血|流好多血|血流不止|一直流血|满身是血|满脸是血|头破血流|骨折了|摔倒了?起不来|倒地不起|躺地上不动|躺在地上不动|人不动了|不会动了|"
    r"吞了.{0,6}(电池|纽扣|硬币|针|钉|药|农药|磁|珠)|误吞|卡在喉咙|卡住喉咙|噎住了|喝了.{0,4}(农药|洗洁精|消毒液|敌敌畏|百草枯|除草剂)|"
    r"卷进去|卷进机器|被机器(卷|压|夹|轧)|被(压|夹)住了?|"
    r"煤气中毒|一氧化碳|触电|溺水|掉水里|掉河里|掉进井|食物中毒|误服|吃错药|喝了农药|喝了药|烧伤|烫伤|快不行了|不行了快|要生了|羊水破了|压在下面|被埋|(出车祸了|被车撞了|撞人了|车祸).{0,12}(流血|出血|不动|昏迷|起不来|救命|快来|躺|伤得很重|送医院|急救|不行了))"
)


def normalize(text: str) -> str:
    """NFKC, traditional->simplified (for the rule characters), drop whitespace and punctuation."""
    t = unicodedata.normalize("NFKC", text or "").translate(_T2S)
    t = re.sub(r"[\s\u3000,，.。!！?？、;；:：~～…'\"“”‘’()（）\[\]【】<>《》\-—_*#@/\\|]+", "", t)
    return t


def _has(pattern: str | re.Pattern, text: str) -> bool:
    return bool(re.search(pattern, text))


def _semantic_veto(t: str, kind: str) -> bool:
    if _is_past_consult(t) or (_has(_CONSULT, t) and not _has(_NOW, t)):
        return True
    return kind == "self_harm" and bool(_SELF_HARM_FIGURATIVE.search(t))


def _is_past_consult(t: str) -> bool:
    """Past event, asked about for advice, with no sign of present danger."""
    # 「现在还能告吗」 asks about the law now, not about danger now.
    t_now = re.sub(r"现在(还|又)?(能|可以|想|要不要|怎么|该|是否|有没有|还有|应该)", "", t)
    return _has(_PAST, t) and not _has(_NOW, t_now)


def _self_harm(t: str) -> bool:
    m = _SELF_HARM.search(t)
    if not m:
        return False
    # 「想死你了」「累死了」: figures of speech, unless a real self-harm phrase is also there.
    stripped = _SELF_HARM_FIGURATIVE.sub("", t)
    if _has(_CONSULT, t):
        stripped = stripped.replace("想死的心都有", "")
    if not _SELF_HARM.search(stripped):
        return False
    if _is_past_consult(t):
        return False
    # Someone else's past act asked about for advice: 「邻居跳楼自杀了，家属能要赔偿吗」.
    first_person = _has(r"(我|俺|咱|本人|自己)", t)
    if not first_person and _has(_CONSULT, t) and not _has(_NOW, t):
        return False
    if _has(r"(新闻|报道|电视|电影|小说|听说|网上看到|视频里)", t) and not _has(r"我(也)?(想|要|准备|打算)", t):
        return False
    return True


def _weapon_threat(t: str) -> bool:
    if not _KILL_THREAT.search(t):
        return False
    if _is_past_consult(t):
        return False
    # 「菜刀质量有问题」「买了把刀」: a weapon word with nobody threatened.
    threat = _has(r"(杀|砍|捅|弄死|打死|整死|搞死|掐死|勒死|烧死|要我的?命|要了我的?命|灭门|同归于尽|放火|纵火|汽油|硫酸|炸|追着|威胁|吓唬|恐吓|扬言|说要|要来|冲着我|对着我|指着我|朝我|举着|拿着|提着|拎着|掏出|亮出|带着)", t)
    if not threat:
        return False
    if _has(r"(游戏|电影|电视剧|小说|梦见|做梦|开玩笑|玩笑话|杀价|砍价|杀毒|秒杀|杀青|打死也不|打死不|打死我也不|笑死)", t) and not _has(_NOW, t):
        return False
    if _has(_CONSULT, t) and not _has(_NOW, t) and not _has(r"(要|会|说|扬言|威胁|来)", t):
        return False
    return True


def _violence(t: str) -> bool:
    if not _VIOLENCE_NOW.search(t):
        return False
    if _is_past_consult(t):
        return False
    # 「被打过」「打过我」 with a consultation and no present danger.
    if _has(r"(打过|被打过|打了我一顿|把我打了|被打了|被他打|挨打)", t) and _has(_CONSULT, t) and not _has(_NOW, t):
        return False
    if _has(r"(打孩子|打老婆|打老人)", t) and _has(r"(算不算|犯法|违法|可以吗|能不能|应该吗|合法)", t) and not _has(_NOW, t):
        return False
    if _has(r"(打架了|打起来了)", t) and _has(r"(孩子|小孩|学生|同学|幼儿园)", t) and _has(_CONSULT, t) and not _has(_NOW, t):
        return False
    if _has(r"(游戏|电影|电视剧|小说|梦见|做梦)", t) and not _has(_NOW, t):
        return False
    return True


def _fraud(t: str) -> bool:
    if not _FRAUD.search(t):
        return False
    if _is_past_consult(t):
        return False
    if not _FRAUD_NOW.search(t):
        return False
    # 「今天去银行转账手续费多少」: a transfer with nothing suspicious.
    suspicious = _has(
        r"(验证码|安全账户|刷单|屏幕共享|共享屏幕|远程控制|冻结|洗钱|公检法|警察|公安|法院|检察院|客服|通缉|涉嫌|解冻|注销|网贷|下载|app|通话|(交|先交|要交|缴).{0,4}(手续费|保证金|费)|"
        r"(孙子|孙女|儿子|女儿|孩子|亲戚|家人|老同学).{0,10}(出事|车祸|被抓|住院|急用钱|打架)|"
        r"刷流水|中奖|退款|理赔|征信|被骗|骗了|骗子|诈骗|假冒|冒充|陌生|不认识|网友|对象|男朋友|女朋友|投资|理财|平台|博彩|返利|充值|领导|老板让|视频)",
        t,
    )
    if not suspicious:
        return False
    return True


def _medical(t: str) -> bool:
    if not _MEDICAL.search(t):
        return False
    if _is_past_consult(t):
        return False
    # 「被车撞了，保险公司不赔」: an accident asked about afterwards, nobody in danger now.
    if _has(r"(出车祸了|被车撞了|撞人了|骨折了|烧伤|烫伤|摔倒了)", t) and _has(_CONSULT + r"|保险|理赔|责任|谁负责|谁出|医药费|医疗费|误工费", t) and not _has(
        r"(昏迷|不省人事|没有?呼吸|没气|大出血|流了好多血|流好多血|血流不止|躺地上不动|躺在地上不动|人不动了|叫不醒|快不行|救命|现在|正在|快来|马上)", t
    ):
        return False
    return True


_REPLIES = {
    "violence": "危险！请马上拨打 110 报警。先躲到安全的地方（锁好门，或去邻居家、人多的地方）。如果有人受伤，打 120。我已通知工作人员尽快联系您。",
    "weapon_threat": "危险！请马上拨打 110 报警，说清楚地址和对方拿着什么。先离开或锁门躲好，不要和对方硬碰。我已通知工作人员尽快联系您。",
    "self_harm": "听到您这么难受，我很担心您。请马上打心理援助热线 12356，或希望24热线 400-161-9995，都有人接听。如果已经伤到自己，请马上打 120。您不是一个人，我已请工作人员尽快联系您。",
    "fraud_in_progress": "先别转钱！这很可能是诈骗。请马上挂断对方电话，不要说验证码。已经转了钱的，立刻打 110 报警或反诈专线 96110，越快越能追回。我已通知工作人员联系您。",
    "medical": "请马上拨打急救电话 120，说清楚地址和病人的情况。如果是打架或车祸造成的，同时打 110。我已通知工作人员尽快联系您。",
}
_HOTLINES = {
    "violence": ["110", "120"],
    "weapon_threat": ["110"],
    "self_harm": ["12356", "400-161-9995", "120"],
    "fraud_in_progress": ["110", "96110"],
    "medical": ["120", "110"],
}
# Order matters when several fire: the most specific first.
_CHECKS = [
    ("self_harm", _self_harm),
    ("weapon_threat", _weapon_threat),
    ("violence", _violence),
    ("medical", _medical),
    ("fraud_in_progress", _fraud),
]


def detect(text: str, semantic: bool = True, wait: bool = False, vector=None) -> Optional[Dict]:
    """Return {"kind", "hotlines", "reply", "via"} for an emergency, else None. Never raises.

    Rules first; when none fires, the semantic backstop (bot.emergency_semantic, e5 nearest
    neighbour) unless semantic=False. wait=True blocks until its vectors are loaded (tests, bench).
    vector: the message's e5 "query: " embedding when the caller already has it (Rasa's featurizer).
    """
    try:
        t = normalize(text)
        # Fixed phrases that only look alarming.
        t = re.sub(r"救命(钱|恩人|稻草|之恩)", "", t)
    except Exception:  # pragma: no cover - defensive: any input must be safe here
        return None
    if not t or len(t) > 2000:
        t = t[:2000]
    if not t:
        return None
    kinds: List[str] = [kind for kind, check in _CHECKS if check(t)]
    via = "rules"
    if not kinds and semantic:
        try:
            from bot import emergency_semantic

            hit = emergency_semantic.nearest(t, wait=wait, vector=vector)
        except Exception:  # the backstop must never break triage
            hit = None
        # A neighbour's vote passes the same filters as the rules: past events asked about for
        # advice, and figures of speech, are not emergencies.
        if hit and hit.get("kind") in _REPLIES and not _semantic_veto(t, hit["kind"]):
            kinds, via = [hit["kind"]], "semantic"
    if not kinds:
        return None
    kind = kinds[0]
    hotlines: List[str] = []
    for k in kinds:
        for h in _HOTLINES[k]:
            if h not in hotlines:
                hotlines.append(h)
    reply = _REPLIES[kind]
    extra = [k for k in kinds[1:] if k != kind]
    if "self_harm" in extra and kind != "self_harm":
        reply += " 心里难受也可以打 12356。"
    if "medical" in extra and "120" not in reply:
        reply += " 有人受伤请打 120。"
    if "fraud_in_progress" in extra and "96110" not in reply:
        reply += " 涉及转账的，打 96110 反诈专线。"
    return {"kind": kind, "kinds": kinds, "hotlines": hotlines, "reply": reply, "via": via}


def main(argv: List[str]) -> int:  # small manual check: python -m bot.emergency "文本"
    import json

    for text in argv:
        print(json.dumps({"text": text, "result": detect(text)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
