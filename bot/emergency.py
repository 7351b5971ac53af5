"""Two-tier emergency triage. Runs before Rasa (gateway) and inside Rasa's NLU pipeline.

    triage(text) -> {"tier", "kind", "hotlines", "reply", "line", ...} | None

- tier "danger_now": someone is in danger at this moment (violence, a weapon or death threat,
  suicide intent or act, fire, gas, poisoning, a collapse or flood, someone trapped, followed or
  missing, a fraud transfer under way, someone unresponsive). `reply` is the safety message: the
  first line says what to do now (110 / 120 / 119 / 96110 / 12356). The gateway alarms on it.
- tier "harm_past": harm that already happened, or a question about violence / fraud / injuries
  (protection orders, 网贷, compensation), or an angry idiom / a possible crisis ("crisis_possible").
  NO alarm: `line` is one sentence with the relevant hotline for the legal answer to include.
- None: nothing to say.

detect(text) keeps its old contract for the Rasa component and actions: a dict only for danger_now.

Recall first: a present physical danger (smoke, gas, someone who will not wake up, water coming in)
wins over any consultation marker ("能告燃气公司吗"); only clear past / resolved / hearsay / figure-of-
speech mentions are let through. Interpersonal danger words (打, 家暴, 跟踪, 被骗) asked about for advice
with no sign that it is happening now go to harm_past.

Pure Python with no dependencies: it is imported by both runtimes (3.10 Rasa, 3.11 app).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, List, Optional

# Traditional -> simplified for the characters the rules look at (no opencc in the Rasa venv).
_T2S_PAIRS = (
    "殺杀槍枪燒烧來来現现們们經经轉转賬账帳帐驗验證证碼码騙骗錢钱匯汇樓楼藥药農农熱热線线暈晕氣气電电沒没麼么門门說说將将"
    "鬧闹個个還还馬马這这醫医車车禍祸傷伤臟脏絕绝結结輕轻願愿無无義义對对爺爷媽妈剛刚讓让給给戶户錄录銀银凍冻險险頂顶邊边"
    "歲岁兒儿孫孙處处開开關关報报員员網网聯联繫系係系帶带嚇吓頭头臉脸過过時时後后會会發发點点斷断鬥斗親亲趕赶緊紧幫帮從从"
    "動动裡里裏里話话鄰邻覺觉聽听見见喪丧滅灭毀毁燙烫攔拦著着罵骂錯错嗎吗殘残廢废劃划墜坠囉啰樣样窗窗陽阳臺台寫写書书遺遗"
    "應应該该為为麻麻煩烦災灾蹤踪綁绑鎖锁嚴严喚唤隨随監监閃闪煙烟濃浓燈灯難难總总閥阀爐炉鍋锅蟲虫劑剂嘔呕瀉泻撲扑牆墙壓压"
    "壞坏洩泄專专誰谁賠赔償偿請请詢询諮咨問问罰罚違违規规護护場场擊击颱台風风區区東东兩两騷骚擾扰跡迹廁厕號号夠够間间貸贷"
    "債债詐诈團团衝冲沖冲幾几週周實实當当絡络準准備备窩窝極极盡尽懸悬樑梁繩绳輛辆廠厂機机謠谣誹诽謗谤讀读擔担歡欢確确搶抢"
    "掛挂產产權权婦妇纔才屍尸體体鎮镇溝沟壩坝潰溃橋桥礦矿窯窑塊块萬万億亿蘭兰鑰钥匙匙嗆呛燜焖燻熏漲涨淪沦陷陷險险濕湿毯毯"
    "腦脑溢溢臥卧誤误喫吃燉炖麵面餵喂蛇蛇咬咬瘋疯癲癫狀状況况態态種种腫肿紅红熱热窒窒息息灑洒殺杀懷怀孕孕淚泪憂忧鬱郁嗚呜"
    "閨闺丟丢商商進进選选鐘钟邊边聲声罷罢蹲蹲偷偷拍拍獨独孤孤帳帐戲戏劇剧夢梦頻频樂乐費费務务營营訴诉狀状狀状"
)
_T2S = str.maketrans({_T2S_PAIRS[i]: _T2S_PAIRS[i + 1] for i in range(0, len(_T2S_PAIRS) - 1, 2)})

# The ticket domain for an emergency of each kind (gateway and actions file the same way).
DOMAIN_OF_KIND = {"violence": "人身损害", "weapon_threat": "刑事辩护", "self_harm": "综合咨询",
                  "fraud_in_progress": "刑事辩护", "medical": "人身损害", "fire": "人身损害", "gas": "人身损害",
                  "poisoning": "人身损害", "disaster": "人身损害", "trapped": "人身损害", "stalking": "刑事辩护",
                  "missing_child": "刑事辩护"}

HOTLINE_NAMES = {
    "110": "报警电话 110",
    "119": "火警 / 抢险救援 119",
    "120": "急救电话 120",
    "96110": "反诈专线 96110",
    "12356": "心理援助热线 12356",
    "400-161-9995": "希望24热线 400-161-9995",
    "12333": "人社服务热线 12333",
}

DANGER_NOW, HARM_PAST = "danger_now", "harm_past"

# --------------------------------------------------------------------------- time and speech markers
_NUM = r"[0-9一二两三四五六七八九十几半多]+"
_PAST = (r"(去年|前年|上个?月|上上个?月|上周|上礼拜|上星期|以前|之前|曾经|那年|那时候?|当年|几年前|多年前|年前|小时候|过去|早年|生前|"
         r"那次|上次|上回|前些年|前几年|好几年|好多年|多年了|几年了|早就|昨天|昨晚|昨儿|前天|前几天|前阵子|前段时间|前些日子|那天|当时|"
         r"事后|后来|那会儿?|那阵子?|那时|" + _NUM + r"(个)?(天|日|周|星期|礼拜|月|年)(前|以前|之前)|年初|月初|春节前|过年(那会|时候|前)|"
         r"已经(扑灭|灭了|救过来|抢救过来|出院|脱险|没事|好了|处理|判|结案|报警|立案)|救过来了|抢救过来了|出院了?|脱险了|灭了|扑灭了|住了.{0,4}院|住过院|住院.{0,4}(天|周|个?月)|治好了|"
         r"现在(好了|没事|已经|恢复))")
_NOW = (r"(现在|正在|马上|立刻|赶紧|快来|快点|就在|此刻|这会儿?|刚刚|刚才|刚|一直在|还在|又在|在门口|门外|堵着|堵在|救命|救救|"
        r"帮帮我|怎么办啊|怎么办呀|咋办啊|今晚|今天晚上|今天|今早|等会|待会|眼下|目前还|快救|快报警|快叫|来人啊|来人)")
# Questions about the law / compensation / procedure.
_CONSULT = (r"(赔|肇事|逃逸|怎么找|判几年|判多久|怎么判|犯法|违法|犯罪|算不算|算家暴|属于|能不能告|可以告|能告|告他|告她|告对方|起诉|"
            r"律师|法律|规定|条例|怎么处理|追回|追讨|要回|立案|报案了|警察来过|已经报警|派出所处理|出院|住院了|鉴定|伤残|判决|坐牢|判刑|"
            r"怎么申请|如何申请|申请.{0,8}(保护令|禁止令|离婚|认定|补助|救助|援助)|保护令|禁止令|怎么认定|工伤|认定|医药费|医疗费|"
            r"误工费|营养费|补偿|索赔|怀疑|处理不当|医疗事故|误诊|(老板|公司|厂里|厂家|对方|医院|保险|开发商|物业|学校|幼儿园|养老院|商家|饭店|单位).{0,6}(不管|不赔|不给|不认|不负责|拖着|推|说不是)|说不是(他们|我们|他|她|我)的(事|责任)|"
            r"举报|怎么报警|如何报警|匿名|当证据|做证据|算证据|(能不能|可不可以|可以不可以|能否)(开除|辞退|解雇|要|告|赔|离婚|起诉|报销|索赔|追究|判|离|分|退)|担责|担什么责|保险|理赔|谁负责|谁出钱|谁承担|责任|维权|投诉|怎么办理|手续|流程|合法吗|有用吗|什么罪|量刑|"
            r"离婚|抚养|财产|证据|取证|能要|可以要|怎么要|咨询|请问|想问|问一下|问下)")
_HEARSAY = r"(新闻|报道|电视上|电影|电视剧|小说|听说|听人说|网上看到|网上说|网传|视频里|短视频|朋友圈|谣言|造谣|传谣|诽谤|发帖|帖子|传言|抖音上|快手上)"
_QUESTION = (r"(什么意思|是什么|啥意思|什么区别|有什么区别|怎么(解冻|办理|申请|认定|处理|算|判|赔|收费|投诉|退)|多少钱|要多少|合法吗|违法吗|犯法吗|"
             r"可以吗|行不行|能不能退|怎么维权|找谁|归谁|谁管|哪个部门)")
_STRONG_NOW = r"(正在|还在|救命|救救|快来|快点|马上|赶紧|就在|此刻|刚刚|刚才|现在就|这会儿|来人|出不来|出不去|叫不醒)"
_FIRST = r"(我|俺|咱|本人|自己|我们|我家|俺家)"
_FIGURATIVE_ANY = r"(游戏|电影|电视剧|小说|梦见|做梦|开玩笑|玩笑话|打个比方|比喻)"


def normalize(text: str) -> str:
    """NFKC, traditional->simplified (for the rule characters), drop whitespace and punctuation."""
    t = unicodedata.normalize("NFKC", text or "").translate(_T2S)
    t = re.sub(r"[\s\u3000,，.。!！?？、;；:：~～…'\"“”‘’()（）\[\]【】<>《》\-—_*#@/\\|]+", "", t)
    return t


def _has(pattern, text: str) -> bool:
    return bool(re.search(pattern, text))


def _now(t: str) -> bool:
    # 「现在还能告吗」 asks about the law now, not about danger now; 「今天想咨询」 likewise.
    t = re.sub(r"现在(还|又)?(能|可以|想|要不要|怎么|该|是否|有没有|还有|应该|好了|没事|已经|恢复|过得|法律|规定)", "", t)
    t = re.sub(r"今天(想|来|咨询|问)", "", t)
    t = re.sub(r"现在(要|想|准备|打算|正在|在)?(离婚|起诉|打官司|分家|离了|告他|告她|维权|索赔|要求)", "", t)
    t = re.sub(r"(到|至)?现在(都|还|也)?(没|不|没有)(赔|给|还|处理|解决|判|立案|结果|消息|下来|好|追回|找到说法)", "", t)
    return _has(_NOW, t)


def _past_only(t: str) -> bool:
    """Past / resolved event with no sign of present danger."""
    # 「昨天也没接」「从昨天到现在」: something still going on, not a past event.
    if _has(r"(从|打)?(昨天|昨晚|前天|" + _NUM + r"(天|日)前)(也|就|开始|起|到现在|一直|都)", t):
        return False
    t = re.sub(r"(晕|昏|死|厥|跑|走|冲|爬|游|扑|倒)过去", "", t)  # 「晕过去了」 is not 「过去」
    return _has(_PAST, t) and not _now(t)


def _consult_only(t: str) -> bool:
    return _has(_CONSULT, t) and not _now(t)


def _hearsay_only(t: str) -> bool:
    return _has(_HEARSAY, t) and not (_now(t) and _has(_FIRST, t)) and not _has(r"我(也)?(想|要|准备|打算)", t)


# --------------------------------------------------------------------------- interpersonal dangers
_SELF_HARM = re.compile(
    r"(不想活|活着没(有)?(啥|什么|甚么)?意思|活不下去|活不成了|不活了|想死|去死算了|死了算了|死了一了百了|一了百了|"
    r"自杀|自尽|轻生|寻短见|想不开|结束(自己的?)?生命|了结自己|离开这个世界|跳楼|跳河|跳江|跳湖|跳桥|跳海|跳下去|"
    r"喝农药|喝药|吃药死|吞药|割腕|割脉|上吊|烧炭|安眠药|吃了一瓶|活够了|没有活路|没活路|不如死|死给你看|死给他们看|"
    r"累赘.{0,10}(走了|死|消失|解脱|不在)|(还是|不如|干脆)(我)?走了(好|算了)|不想再拖累|拖累.{0,6}(走了|死)|活着(就是|只是)?(个)?拖累|"
    r"遗书|后事都交代|站在楼顶|站在天台|爬上楼顶|爬到楼顶|在天台上|在楼顶上|撑不下去|我消失|消失算了|让我死|想去死|去死|"
    r"买了?.{0,4}农药|买了?.{0,4}安眠药|绳子.{0,3}(准备|挂|系|拴|买)好|绳子都准备|药都准备|药都攒|药.{0,3}(准备|攒|买)好了|攒.{0,4}药|不想再醒|不想醒来|想解脱|解脱算了|活着太累|(今晚|今天|马上|这就|现在就|就)(去)?(陪|找)(他|她|老伴|儿子|女儿|我妈|我爸|爸爸|妈妈|老头|孩子)去?|"
    r"(楼顶|天台|桥上|窗台|屋顶|楼上|河边|江边|边上|栏杆外).{0,10}(要跳|想跳|准备跳|往下跳|跳下去)|(要|想|准备)跳(楼|河|江|桥|下去|井|水库))"
)
# Acts, plans in place, or another person about to do it: 120 / 110 first.
_SELF_HARM_ACT = re.compile(
    r"(要跳|想跳|准备跳|往下跳|割腕了|割脉了|割了|吃了.{0,6}(药|安眠药|农药)|喝了.{0,6}(药|农药)|吞了|上吊了|在天台|在楼顶|站在楼顶|站在天台|楼顶上|天台上|"
    r"河边|江边|桥上|水库边|烧炭了|(她|他|我妈|我爸|儿子|女儿|老公|老婆|孩子|奶奶|爷爷|闺女).{0,6}(要|说要|想)(喝药|跳|上吊|自杀|寻短见)|"
    r"刀.{0,4}(手腕|脖子)|绳子|遗书)"
)
_SELF_HARM_FIGURATIVE = re.compile(
    r"(想死你|笑死|累死了?(?!不想)|气死|热死|冷死|饿死了|困死|烦死|急死|吓死|丑死|美死|香死|难吃死|忙死|馋死|羡慕死|想死我了|"
    r"装死|会谢|跳槽|跳舞|跳广场舞|跳绳|跳楼价|跳楼大甩卖|喝药酒)"
)
# Anger / exasperation idioms: not an emergency (crisis_possible at most).
_ANGER_IDIOM = re.compile(
    r"((气|烦|急|愁|憋屈|窝囊|委屈|恨|郁闷|窝火|冤)得.{0,3}(想死|要死|不想活|去死|想跳楼|想撞墙)|想死的心都有|死的心都有|"
    r"真不想活了这日子|不想活了这日子|这日子(真)?(没法|不想|过不下去)|日子(没法|不想|过不下去)过|气得要命|恨不得去死|"
    r"要被.{0,6}(气死|逼死|烦死)|被.{0,6}(气死|逼疯)了?)"
)
_DISPUTE = (r"(工资|老板|公司|单位|包工头|物业|邻居|房东|欠款|欠钱|欠我|不给钱|不还|拖欠|赔偿|合同|官司|打官司|开发商|装修|村委|"
            r"宅基地|拆迁|补偿|婆婆|小姑子|前夫|离婚|彩礼|讨薪|医院|保险)")
# Possible but unclear despair: a gentle line, no alarm.
_DESPAIR = re.compile(
    r"(没念想|没有念想|活着好累|活得好累|活得太累|太累了不想|好绝望|很绝望|真绝望|没有希望|没希望了|没盼头|没有盼头|崩溃了|快崩溃|要崩溃|撑不住了|"
    r"熬不下去|熬不住|看不到希望|没人管我|没人在乎我|没意思了|好难受|心里难受|睡不着.{0,3}(想哭|就哭|哭)|天天哭|抑郁|不知道怎么活|"
    r"日子没法过|日子过不下去|不想过了)"
)


def _self_harm(t: str) -> bool:
    if not _SELF_HARM.search(t):
        return False
    stripped = _SELF_HARM_FIGURATIVE.sub("", t)
    stripped = _ANGER_IDIOM.sub("", stripped)
    if not _SELF_HARM.search(stripped):
        return False
    if _past_only(t):
        return False
    # An accident (「孩子把安眠药当糖吃了」) is poisoning, not self-harm.
    if _has(r"(误服|误食|误喝|吃错|喝错|不小心|当(成|作)?.{0,4}(糖|饮料|水|酱油|醋|零食|酒|药水)|偷吃|偷喝|够着)", t) and not _has(r"(不想活|想死|自杀|轻生|寻短见)", t):
        return False
    # 「欠我钱的人跑了，我都不想活了，这张借条还有用没有」: despair said about a money dispute, with a
    # question about the law and no plan or act — answered, with a gentle crisis line (harm_past).
    if (_has(r"(不想活|不活了|想死|活不下去|没活路|没有活路|活着没意思)", stripped) and _has(_DISPUTE + r"|借条|欠条|借钱|钱", t)
            and _has(r"(有用|有效|怎么办|能不能|可不可以|能要回|要得回|告|起诉|吗|没有$)", t)
            and not _SELF_HARM_ACT.search(t) and not _has(r"(药|农药|绳|楼顶|天台|遗书|跳|割|刀|今晚|马上|这就|现在就)", t)):
        return False
    first_person = _has(_FIRST, t)
    # Someone else's past act asked about for advice: 「邻居跳楼自杀了，家属能要赔偿吗」.
    if _consult_only(t) and not _has(r"(我|俺)(也|真|真的|都|就)?(想|要|准备|打算)(死|自杀|跳|喝药|上吊|去死|不活)|我不想活", t):
        if not first_person or _has(r"(自杀|跳楼|跳河|喝药|上吊)(的人|死了|身亡|去世|了)", t):
            return False
    if _has(r"(自杀|轻生|跳楼|喝药)(未遂|过)", t) and not first_person and not _now(t):
        return False
    if _has(r"(的人|者)(家属|保险|赔)|自杀(的|罪|险)|教唆|帮助自杀", t) and not first_person:
        return False
    if _hearsay_only(t):
        return False
    return True


_KILL_THREAT = re.compile(
    r"(杀了我|杀我|灭.{0,2}全家|杀.{0,2}全家|汽油|杀人|杀了他|杀他全家|杀你全家|杀我全家|砍死|砍人|砍我|砍了|捅死|捅我|捅了|捅人|弄死|打死|整死|搞死|掐死|勒死|烧死|撞死|"
    r"卸.{0,3}(腿|胳膊|手)|打断.{0,3}(腿|手)|要我的?命|要了我的?命|灭门|灭了我|同归于尽|放火|纵火|点火烧|浇汽油|泼汽油|泼硫酸|硫酸|炸了|炸死|炸药|炸弹|追着砍|拿刀|持刀|举着刀|带着刀|"
    r"掏出刀|亮出刀|提着刀|拎着刀|拿着刀|菜刀|砍刀|匕首|斧头|砍柴刀|柴刀|镰刀|锄头|钉耙|铁叉|粪叉|扁担|刀子|剪刀|枪|铁锹|铁棍|钢管|棒球棍|棍子|架在.{0,3}脖子)"
)


def _weapon_threat(t: str) -> bool:
    if not _KILL_THREAT.search(t):
        return False
    if _past_only(t):
        return False
    # 「菜刀质量有问题」「买了把刀」: a weapon word with nobody threatened.
    threat = _has(r"(卸|打断|杀|砍|捅|弄死|打死|整死|搞死|掐死|勒死|烧死|撞死|要我的?命|要了我的?命|灭门|同归于尽|放火|纵火|汽油|硫酸|炸|追着|威胁|吓唬|恐吓|扬言|"
                  r"说要|要来|冲着我|对着我|指着我|朝我|举着|拿着|拿刀了|拿刀|提着|拎着|掏出|亮出|带着|架在|拿了|抄起|(往|朝).{0,6}冲|冲过来|冲我)", t)
    if not threat:
        return False
    if _has(r"(游戏|电影|电视剧|小说|梦见|做梦|开玩笑|玩笑话|杀价|砍价|杀毒|秒杀|杀青|打死也不|打死不|打死我也不|笑死|杀猪盘|砍伐|砍树)", t) and not _now(t):
        return False
    # 「真想掐死他」「都快被气炸了」: the writer's own anger, nobody threatened.
    hyper = r"((真|恨不得|真想|好想|想)(把|去)?.{0,4}(掐死|打死|弄死|杀了|砍死|撕了|揍|砸了|炸了)|气炸|炸毛|炸锅|肺都(气)?炸|(消息|新闻|网|群|评论|朋友圈|热搜)(都)?炸了|炸开了锅)"
    if _has(hyper, t) and not _has(r"(他|她|对方|有人).{0,4}(说|扬言|威胁|要来|拿着|举着)|(杀|砍|捅|弄死|打死)(我|俺)", t):
        return False
    if _has(r"(狗|猫|鸡|鸭|猪|牛|羊|鱼|树|庄稼)(被|给).{0,6}(打死|砍|毒死|弄死|撞死)|(打死|毒死|弄死|撞死)了?(我家|俺家)?的?(狗|猫|鸡|鸭|猪|牛|羊)", t):
        return False
    if _consult_only(t) and not _has(r"(要|会|说|扬言|威胁|来)", t):
        return False
    if _has(r"(故意杀人|杀人罪|杀人犯|判几年|怎么判)", t) and not _has(_FIRST, t):
        return False
    if _hearsay_only(t):
        return False
    return True


_VIOLENCE_NOW = re.compile(
    r"(快报警|帮我报警|快打110|快叫警察|出人命|快来人(?!看|处理|管|调解|评理|帮忙看|量)|来人啊|(我|俺)(现在)?(很|好|有)危险|救我|被人?(抢|抱|带|拐)走|救命|救救我|快救|打我|抱走|(?<!现)在打(?!钱|款|电话|官司|游戏|工|印|字|麻将|牌|球|针|扫|听|折|卡)|正在打(?!钱|款|电话|官司|游戏|工|印|字|麻将|牌|球|针|扫|听|折|卡)|"
    r"撬(我家|门|锁)|抢走孩子|带走孩子|又打|又在打|往死里打|打人了|打起来了|打架了|打得|掐我|掐着|踹门|砸门|撞门|砸东西|砸我家|砸车|"
    r"刚(刚|才)?(被)?(他|她|老公|老婆|丈夫|男人|对象)?打(完|了)我|刚(刚|才)?被打|反锁在|把我(反)?锁|翻墙进|翻进(我家|院子|屋)|有人进了我家|有人在我家院子|"
    r"堵在.{0,8}(要钱|抢|打)|堵在.{0,4}(门口|家门|楼下|路上|巷子)|围着我.{0,4}(要钱|打)|把我堵在|抽我|踢我|扇我|拽着我|揪着我|拖着我|"
    r"闯进来|闯进我家|冲进来|冲进我家|堵在门口|堵我|追着我|追我|抓着我|揪着|不让我走|关起来|锁在屋|锁起来|绑着|绑架|被绑|"
    r"拐走|抢孩子|抱走孩子|抢劫|抢我|入室|有人撬门|在撬门|性侵|强奸|非礼|家暴我|施暴|在家暴|又家暴|打老婆|打孩子|打老人|见血了|"
    r"(把我|将我|把俺)(推|踹|踢|摔|扔)(下|倒|到)|被(人|他们|坏人)?(关着|扣着|扣在|控制着?)(?!.{0,4}(电梯|车里|车上|厕所|仓库|冷库))|(围|按|摁)(着|到|住|在地上).{0,3}打|"
    r"(陌生人|有人|一个男的|一个女的).{0,8}(抱着|抱起|拉着|拽着|拖着|扛着).{0,6}(孩子|小孩|娃|女孩|男孩).{0,10}(跑|走|上车|钻))"
)
_VIOLENCE_PAST_FORM = r"(打过|被打过|打了我一顿|把我打了|被打了|被他打|被她打|挨打|挨了|打伤|打断|家暴|动手|推了我)"


def _violence(t: str) -> bool:
    t = re.sub(r"(快|快要|要|差点|差一点|险些)(就)?(打起来|打架|动手)", "", t)
    if not _VIOLENCE_NOW.search(t):
        return False
    if _past_only(t):
        return False
    if _consult_only(t):  # 「老公家暴我 怎么申请保护令」: harm_past with a 110 line
        return False
    # 「老公喝了酒就打我」: a pattern described, not an attack under way (harm_past, 110 + 保护令 line).
    if _has(r"(一|喝了?酒|喝醉|每次|经常|总是|老是|动不动|天天|三天两头|时不时|常常).{0,4}就?(打|动手|家暴)", t) and not _has(_STRONG_NOW, t) \
            and not _has(r"(又在|在打|正在|现在|今晚|刚)", t):
        return False
    if _has(_VIOLENCE_PAST_FORM, t) and _has(_CONSULT, t) and not _now(t):
        return False
    if _has(r"(打孩子|打老婆|打老人)", t) and _has(r"(算不算|犯法|违法|可以吗|能不能|应该吗|合法)", t) and not _now(t):
        return False
    if _has(r"(打架了|打起来了)", t) and _has(r"(孩子|小孩|学生|同学|幼儿园)", t) and _has(_CONSULT, t) and not _now(t):
        return False
    if _has(_FIGURATIVE_ANY, t) and not _now(t):
        return False
    if _hearsay_only(t):
        return False
    return True


_STALKING = re.compile(
    r"(跟踪我|被跟踪|在跟踪|有人跟踪|尾随|跟了我一路|一路跟着|(一直|老是|总是|偷偷|在后面|后面|紧紧|还在|又在)跟着我|有(人|个|一个).{0,8}跟着我|"
    r"(门口|楼下|楼道|窗外|院子外|家外面).{0,6}(转悠|徘徊|蹲|守着|盯着|偷看|不走)|蹲守|蹲我|盯梢|偷窥我|在偷看|趴在窗|扒窗户|"
    r"天天在我家(门口|楼下)|跟到(我家|家门口|楼下)|(一直|一路|偷偷)跟(着)?(我)?到)"
)


def _stalking(t: str) -> bool:
    if not _STALKING.search(t):
        return False
    if _past_only(t) or _consult_only(t) or _hearsay_only(t):
        return False
    return True


_FRAUD = re.compile(
    r"(转账|转钱|转了|转到|转进|转入|汇到|打到|汇款|汇钱|汇了|打钱|打款|打了.{0,4}(钱|万|千|块)|付款|验证码|安全账户|刷单|屏幕共享|共享屏幕|远程控制|下载.{0,6}(app|APP|软件)|"
    r"冻结|洗钱|公检法|自称(警察|公安|法院|检察院|客服|领导)|涉嫌.{0,4}案|通缉|贷款解冻|保证金|解冻费|手续费|注销.{0,4}(贷|账户)|"
    r"刷流水|中奖|退款|退.{0,3}(保险|费|钱)|取款机|柜员机|理赔|征信|被骗|骗了|骗子|诈骗|假冒|冒充|扫码|充钱|充值|投资|(买|充).{0,4}(苹果卡|购物卡|点卡|礼品卡|游戏卡|卡)|卡号|卡密)"
)
_FRAUD_ASK = (r"((要|让|叫|逼|催)(我|俺)|他让|对方让|对方要|要求我|说要我|说我要|非要我).{0,16}(转|汇|打钱|打款|付|交|缴|充|下载|扫码|扫|开|验证码|"
              r"注销|贷款|借钱|刷|买.{0,4}卡|点|投资|配合|发给|告诉|操作|提供)|(说|让|对方|他|她|客服|平台|银行).{0,16}要(交|先交|缴|付|先付).{0,4}(保证金|手续费|解冻费|押金|税|费)")
_FRAUD_LIVE = (r"((在|站在)(取款机|柜员机|atm|银行).{0,24}(电话|他|对方|(让|叫|要)(我|俺))|(电话里|电话那头|对方|那人).{0,4}(让|叫|要)我.{0,6}(按|操作|输|点|照)|"
               r"(正在|现在|马上|就在|在)(就)?(在)?.{0,6}(打钱|转钱|转账|汇款|汇钱|付款|交钱|打款)|电话还没挂|没挂|还在(打|通|视频|电话)|在通话|通话中|在视频|正在操作|正准备|准备转|要不要(发|转|给|汇|付|交|告诉)|该不该(转|给|汇|付|交|发)|"
               r"能不能转|可以转吗|转不转|还转吗|要转吗|要汇吗|给不给)")
_FRAUD_JUST = (r"((刚|刚刚|刚才|今天|今早|今晚|上午|下午|半小时前|几分钟前|十分钟前|一小时前|一个小时前|两个小时前|现在)(被|我)?.{0,12}"
               r"(被骗|骗走|上当|转了|汇了|打了.{0,4}(钱|万|千|块)|付了|被转走|转走|划走|扣走|转给)|"
               r"(被骗|骗走|转走|被转走).{0,10}(刚|刚刚|刚才|半小时|几分钟|十分钟|一小时)|怎么止付|紧急止付)")
_FRAUD_SUSPICIOUS = (
    r"(验证码|安全账户|刷单|屏幕共享|共享屏幕|远程控制|冻结|洗钱|公检法|警察|公安|法院|检察院|客服|通缉|涉嫌|解冻|注销|下载|app|通话|扫码|"
    r"(交|先交|要交|缴).{0,4}(手续费|保证金|费)|(孙子|孙女|儿子|女儿|孩子|亲戚|家人|老同学).{0,10}(出事|车祸|被抓|住院|急用钱|打架)|"
    r"刷流水|中奖|退款|退.{0,3}(保险|费|钱)|取款机|柜员机|理赔|征信|被骗|骗了|骗走|骗子|诈骗|假冒|冒充|陌生|不认识|网友|网上认识|对象|男朋友|女朋友|投资|理财|平台|博彩|"
    r"返利|充值|充钱|领导|老板让|视频|银行的人|自称|卡号|卡密|苹果卡|购物卡|礼品卡|点卡)"
)


def _fraud(t: str) -> bool:
    if not _FRAUD.search(t):
        return False
    if _past_only(t):
        return False
    live = _has(_FRAUD_ASK, t) or _has(_FRAUD_LIVE, t) or _has(_FRAUD_JUST, t)
    if not live or not _has(_FRAUD_SUSPICIOUS, t):
        return False
    if _has(r"(没上当|没有上当|没转|没有转|挂了电话|识破)", t) and not _has(_FRAUD_JUST, t):
        return False
    if _hearsay_only(t):
        return False
    return True


# --------------------------------------------------------------------------- physical dangers
# A present physical danger wins over a consultation marker; only past / resolved / hearsay /
# generic-law mentions are let through.
_PERSON_AT_RISK = (r"(叫不醒|昏迷|不省人事|没(有)?(了)?呼吸|没气|晕倒|晕过去|昏过去|倒在|不动了|人不动|没反应|没动静|出不来|出不去|困在|被困|被压|压在|被埋|"
                   r"埋在|还在里面|在里面|救命|快来|流血|吐血|抽搐|喘不上|喘不过|头晕|头疼|头痛|恶心|呕吐|吐了|上吐下泻|口吐白沫|浑身|嘴唇发紫|烧伤|烫伤)")
_MEDICAL = re.compile(
    r"(昏迷|晕倒|晕过去|昏过去|不省人事|叫不醒|喊不醒|叫不应|喊不应|(叫|喊)(他|她|人|了半天)?(都|也)?不(应|醒|答应)|倒着一个|没有?呼吸|没气了|没了呼吸|呼吸.{0,2}(很弱|困难|停)|喘不上气|喘不过气|憋得脸|脸色发紫|嘴唇发紫|"
    r"心脏病(犯|发)|心梗|心口疼|嘴.{0,2}歪|说话不清|口齿不清|说不出话|半边.{0,4}(动不了|麻|没知觉)|被.{0,4}(开水|热油|热水|火)烫(了|伤)|胸口(好|很|特别)?(疼|痛|闷)|脑溢血|脑出血|中风|嘴歪|半边身子|抽搐|抽风|口吐白沫|"
    r"大出血|吐血|满(脸|身|头)都是血|便血.{0,4}(好多|很多)|(鱼塘|水塘|池塘|河|井|水库|粪坑|江|湖|水沟|水渠|冰窟窿).{0,10}(掉下去|掉进去|掉进|掉到|落水|沉下去|淹着)|流了好多血|流好多血|血流不止|止不住血|血止不住|一直流血|满身是血|满脸是血|头破血流|骨折了|"
    r"倒在(雪地|路边|地上|地里|田里|路上|门口|厕所|沟里|血泊)|摔倒了?起不来|摔了.{0,6}起不来|起不来了|倒地不起|突然倒地|倒在地上|瘫在地上|躺地上不动|躺在地上不动|人不动了|不会动了|一动不动|没反应了|没有反应|"
    r"把.{0,8}(电池|纽扣|硬币|磁|针|钉子|珠子|鱼刺|骨头).{0,4}(吞|咽)|吞了.{0,6}(电池|纽扣|硬币|针|钉|药|磁|珠|鱼刺|骨头)|误吞|卡在喉咙|卡住喉咙|噎住了|卡住了喘|"
    r"卷进去|卷进机器|被机器(卷|压|夹|轧)|被(压|夹)住了?|掉下来了|摔下来了|从.{0,6}(摔|掉)下来|"
    r"触电|被电(打|击|到)|电着了|溺水|掉水里|掉河里|掉(进|到|在).{0,3}(井|河|水|塘|池|粪坑|窖|坑|沟|江|湖)|落水|沉下去|"
    r"烧伤|烫伤|快不行了|不行了快|要生了|羊水破了|生孩子.{0,4}(出血|大出血)|压在下面|被蛇咬|毒蛇|被狗咬.{0,8}(血|很深)|马蜂|蜂蛰.{0,6}(肿|晕|喘)|"
    r"中暑.{0,6}(晕|昏|不醒|抽)|烧到四十|高烧.{0,6}(抽|不退|昏)|发高烧.{0,6}(抽|昏)|"
    r"(出车祸了|被车撞了|撞人了|车祸).{0,12}(流血|出血|不动|昏迷|起不来|救命|快来|躺|伤得很重|送医院|急救|不行了|走不了)|"
    r"(敲门|打电话|喊门|叫门).{0,12}(没人应|没人开|不应|不开|没反应|没动静|没人接)|(锁在|关在|反锁).{0,10}(没声音|没动静|不出声|没反应)|"
    r"(一个人住|独居|一个人在家|孤寡).{0,24}(电话|微信|视频).{0,8}(不接|没人接|没接|打不通|不回|没回)|"
    r"(牛奶|报纸|快递|外卖).{0,8}(堆|没拿|没人拿).{0,12}(敲门|没人应|不应|没动静))"
)
# Someone alone behind a locked door who does not answer: 110 to open the door and 120.
_LOCKED_SILENT = re.compile(
    r"(一个人(住|在家|在老家|生活|过)|独居|独自在家|孤寡).{0,24}(电话|微信|视频).{0,8}(不接|没人接|没接|打不通|不回|没回)|"
    r"(电话|微信|视频).{0,8}(不接|没人接|打不通|不回).{0,20}(一个人住|独居|一个人在家|孤寡)|"
    r"(牛奶|报纸|快递|外卖).{0,8}(堆|没拿|没人拿).{0,12}(敲门|没人应|不应|没动静)|"
    r"(门|屋).{0,12}(好几天|几天|两天|三天|一整天)没(见人|见到人|出门|开门|动静|露面)|(好几天|几天|两天|三天)没(见人|见到人|出门|开门|动静|露面).{0,12}(门|臭味|敲门|不应)|((门|屋|房间|家里).{0,10}(反锁|锁着|锁了|关着|不开)|(敲门|敲了|打电话|喊门|叫门|喊他|喊她)).{0,20}"
    r"(没人应|没人开|不应|不开门|没反应|没动静|没声音|不出声|不回应|没人接|不接电话|叫不应)"
    r"|(没人应|没反应|没动静|没声音|不接电话).{0,16}(门|屋|房间).{0,6}(反锁|锁着|锁了|关着|打不开)"
)


def _medical(t: str) -> bool:
    if not _MEDICAL.search(t) and not _LOCKED_SILENT.search(t):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    # 「被车撞了，保险公司不赔」: an accident asked about afterwards, nobody in danger now.
    acute = (r"(昏迷|不省人事|叫不醒|喊不醒|叫不应|没有?呼吸|没气|大出血|流了好多血|流好多血|血流不止|止不住|躺地上不动|躺在地上不动|人不动了|一动不动|"
             r"快不行|救命|抽搐|口吐白沫|喘不上|喘不过|吐血|没反应|没动静|没声音|不接电话|不应|紫)")
    if _consult_only(t) and not _has(acute, t):
        # 「爷爷去年心梗去世了」 is past; 「我爸中风好几年了」 too; 「骨折了 对方只给五千医药费」 is a claim.
        return False
    if _has(r"(中风|瘫痪|心梗|脑溢血|脑出血).{0,6}(好几年|几年|多年|很久|以后|之后|后遗症|去世|走了|瘫)", t) and not _has(r"(刚|突然|现在|正在)", t):
        return False
    return True


_FIRE_FIGURATIVE = re.compile(
    r"(火冒三丈|(心里|心头|眼里|肚子|气得|直|眼睛)冒火|发火|上火|火气|火大|恼火|窝火|火急火燎|火锅|火车|火葬|火化|烟火|烟花|鞭炮|火腿|火柴|打火机|点火器|火候|火爆|红火|"
    r"后院起火|引火烧身|火上浇油|水深火热|玩火|惹火|火力|炮火|(气|急|渴|累)得.{0,4}冒烟|嗓子冒烟|七窍生烟|抽烟|吸烟|烟瘾|"
    r"火灾险|火险|失火罪|放火罪|纵火罪|烧烤|烧饭|烧水|烧菜|烧香|烧纸|烧秸秆.{0,6}(罚|违法|犯法|可以吗)|发烧|烧到四十|高烧|退烧|烧心)"
)
_FIRE = re.compile(
    r"((好|很|特别|那么)(浓|大)的(黑)?烟|烟(好|很|特别|太)(浓|大|呛)|着火|起火|失火|火灾|烧起来|燃起来|烧着了|冒烟|冒黑烟|冒白烟|浓烟|烟好大|烟很大|好大的烟|满屋(子)?(的|都是)?烟|全是烟|火苗|火势|火很大|火好大|大火|山火|"
    r"火(烧|着)到|(变压器|电线杆|电缆|配电箱|电表箱|电线|插座|插头|线路|电闸|电表|电箱|电瓶|充电器|充电宝|电动车|电瓶车|电视|冰箱|空调|电热毯|取暖器|油锅|锅里|厨房|房子|屋子|仓库|柴房|草垛|"
    r"麦秸|秸秆|车|楼道|楼下|楼上|对面|隔壁|厂房|店里|山上).{0,4}(着了|起火|着火|烧起来|冒烟|冒火花|打火花|冒火|炸了|爆了|烧了)|"
    r"火星子|冒火星|打火花|冒火花|短路.{0,6}(冒|烧|火)|被火(围|困)|困在火|爆炸了|炸开了|火烧)"
)


def _fire(t: str) -> bool:
    s = _FIRE_FIGURATIVE.sub("", t)
    if not _FIRE.search(s):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    acute = r"(在冒火|冒火|火星|着火了|起火了|失火了|烧起来|燃起来|着起来|烧着了|冒烟|浓烟|烟好大|烟很大|好大的烟|全是烟|满屋|火苗|火很大|火好大|冒火花|打火花|救火|快|救命|被火|困在|还在烧|在烧|爆炸了|炸了)"
    if _consult_only(t) and not _has(acute, s):
        return False  # 「火灾保险怎么赔」「失火了邻居要我赔」 with nothing burning
    if _consult_only(t) and _has(r"(烧了|烧毁|烧坏|烧没了|烧光)", s) and not _has(r"(还在烧|正在烧|在冒烟|烟很大|火很大|救命|快来|困在|被困)", s):
        return False  # damage being claimed: the fire is out
    return True


_GAS = re.compile(
    r"((煤气|燃气|天然气|液化气|沼气|瓦斯)(味|泄漏|泄露|漏了|漏气|在漏|罐.{0,3}(漏|嘶|冒)|管.{0,8}(漏|破|断|裂)|爆炸|炸了|中毒)|(煤气|燃气|天然气|液化气).{0,12}(冒气|往外冒|呲呲|嘶嘶)|"
    r"(闻到|一股|好大|很大|很浓|好浓|好重|很重|满屋|有).{0,4}(煤气|燃气|天然气|液化气)|(煤气|燃气|天然气|液化气).{0,4}(味道|的味)|"
    r"漏气.{0,4}(煤气|燃气|罐|管)|(煤气|燃气)灶.{0,4}(没关|漏|火灭了)|一氧化碳|煤烟中毒|烤火.{0,8}(晕|头疼|头痛|恶心|叫不醒|昏)|"
    r"(烧炭|煤炉|炉子|炭盆|火盆|蜂窝煤).{0,8}(晕|头疼|头痛|恶心|叫不醒|昏|吐)|(晕|头疼|头痛|恶心|想吐|叫不醒).{0,10}(烧着炭|生着炉|炭盆|火盆|煤炉|蜂窝煤)|臭鸡蛋味)"
)


def _gas(t: str) -> bool:
    if not _GAS.search(t):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    acute = r"(味|闻到|漏|嘶嘶|叫不醒|晕|昏|头疼|头痛|恶心|吐|中毒了|快|救命|现在|正在)"
    if _consult_only(t) and not _has(acute, t):
        return False  # 「燃气爆炸谁负责」 asked about in general
    return True


_POISON_FIGURATIVE = re.compile(r"((电脑|手机|网络|游戏|病毒|网游|抖音|短视频).{0,4}中毒|中毒太深|中毒了似的|毒舌|毒鸡汤|毒奶粉案)")
_POISON = re.compile(
    r"(中毒|毒蘑菇|野蘑菇.{0,10}(吐|晕|疼|麻|不舒服|拉|抽)|菌子.{0,10}(吐|晕|麻|看见|幻觉)|误服|误食|误喝|吃错药|吃错了药|喝错了?|"
    r"(吃|喝|吞|舔)了.{0,8}(老鼠药|耗子药|毒鼠|杀虫剂|敌敌畏|百草枯|除草剂|农药|洗洁精|消毒液|84|酒精|甲醇|工业酒精|汽油|柴油|烧碱|火碱|硫酸|洁厕|漂白|"
    r"干燥剂|樟脑|蟑螂药|灭蚊|降压药|降糖药|大人的药|半瓶|一整?瓶|一板|一把药|好多药|很多药)|药吃多了|吃多了药|吃药过量|过量服|"
    r"把.{0,8}(药|农药|老鼠药|耗子药|杀虫剂|消毒液|洗洁精|敌敌畏|干燥剂|除草剂|百草枯|84|洁厕|漂白|酒精|汽油|柴油|烧碱|火碱|蟑螂药|灭蚊|老鼠药).{0,6}(吃了|喝了|吞了|当.{0,3}(吃|喝)了?)|"
    r"(全家|一家人|好几个人|几个人|大家|都|我们).{0,10}(上吐下泻|又吐又拉|呕吐|吐了|拉肚子|头晕|发麻)|(吃|喝)了.{0,12}(后|以后|之后)?.{0,4}(上吐下泻|口吐白沫|嘴唇发紫|昏迷|叫不醒|抽搐|手脚发麻|看见小人))"
)


def _poisoning(t: str) -> bool:
    s = _POISON_FIGURATIVE.sub("", t)
    if not _POISON.search(s):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    acute = (r"(误服|误食|误喝|吃错|喝错|(吃|喝|吞|舔)了|中毒了|吐|晕|昏|叫不醒|抽|麻|发紫|不舒服|肚子疼|难受|救命|快|现在|正在|刚)")
    if _consult_only(t) and not _has(acute, s):
        return False  # 「农药中毒 保险赔吗」「食物中毒的饭店要负什么责任」
    if _has(r"(卖|买|售|饭店|餐馆|食堂|商家|厂家|假药|假农药).{0,10}(中毒|吃坏)", s) and _consult_only(t) and not _has(r"(叫不醒|昏|抽|救命|快|现在|正在|还在|刚)", t):
        return False  # a food-safety claim after the fact
    return True


_DISASTER = re.compile(
    r"(进水了|水(都)?(到|没过|淹到|漫到|齐)(了)?(腰|膝盖|胸|脖子|大腿|床|炕|窗户)|洪水|发大水|涨大水|山洪|大水.{0,4}(冲|淹|进|漫|来)|水(淹|漫|灌|冲)(进|到|了|上来)|淹到|被淹|淹了|水涨|河水.{0,4}(漫|涨|冲|上来)|被水冲|冲走了|被冲走|"
    r"决堤|决口|溃坝|垮坝|泥石流|滑坡|塌方|山塌|地陷|塌陷|"
    r"(房子|房屋|墙|屋顶|房顶|楼|桥|山|土坡|围墙|窑洞|工棚|棚子|大棚|厂房|天花板|吊顶|脚手架|塔吊|井|矿|坑|沟|堤).{0,3}"
    r"(塌了|倒了|垮了|塌下来|倒塌|坍塌|裂开了|塌方|要塌|快塌|在塌|砸下来|掉下来)|"
    r"(窑洞|房子|房顶|屋顶|墙|顶上|山坡|土坡|堤|大坝|楼).{0,8}(掉土|往下掉土|裂了.{0,4}缝|裂开|大缝|开裂|在晃|歪了|鼓起来|往外鼓|要倒|快倒|在倒)|"
    r"(石头|土石|落石|山石|石块).{0,6}(往下滚|滚下来|砸下来|往下掉)|(房顶|屋顶|顶上).{0,6}(掉瓦|掉砖|往下掉)|(大梁|房梁|横梁|柱子).{0,6}(响|裂|断|弯)|"
    r"(推土机|挖掘机|挖机|钩机|铲车).{0,10}(推|拆|挖|铲|撞).{0,16}(人|还在|在里面|屋里|家里)|地震|被埋|埋在|压在(下面|底下|里面)|(树|电线杆|广告牌|电线).{0,3}(倒了|砸|断了.{0,4}(地上|冒火|路上))|台风|龙卷风|冰雹.{0,4}(砸|伤)|雷(劈|击)|被雷)"
)
# Floods, landslides, earthquakes: dangerous by themselves. Cracks, a tilt, something that fell:
# only with somebody at risk or a collapse under way (「新房墙裂了缝 开发商不管」 is a claim).
_DISASTER_STRONG = re.compile(
    r"(进水了|水(都)?(到|没过|淹到|漫到|齐)(了)?(腰|膝盖|胸|脖子|大腿|床|炕|窗户)|洪水|发大水|涨大水|山洪|大水.{0,4}(冲|淹|进|漫|来)|"
    r"水(淹|漫|灌|冲)(进|到|上来)|淹到|河水.{0,4}(漫|涨|冲|上来)|决堤|决口|溃坝|垮坝|泥石流|滑坡|塌方|山塌|地陷|塌陷|地震|被埋|埋在|"
    r"压在(下面|底下|里面)|台风|龙卷风|(石头|土石|落石|山石|石块).{0,6}(往下滚|滚下来|砸下来|往下掉))"
)
_DISASTER_RISK = (r"(有人|人(在|还|被|压|埋|困|没)|孩子|老人|我妈|我爸|奶奶|爷爷|婆婆|一家|还在|里面|里头|压着|压住|压在|被埋|埋|困|救命|快跑|快来|要塌|快塌|要倒|快倒|在塌|在倒|"
                  r"掉土|掉渣|在晃|往下掉|流血|不动|昏|撤|跑不)")
_DISASTER_FIGURATIVE = re.compile(r"(股市|股票|基金|房价|人设|形象|信任|婚姻|天都要塌|天都塌|天塌了|天要塌|塌房|淹没在|淹死在.{0,4}(工作|文件)|地震局|地震险|洪水险)")


def _disaster(t: str) -> bool:
    s = _DISASTER_FIGURATIVE.sub("", t)
    if not _DISASTER.search(s):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    risk = r"(人|孩子|老人|我|俺|被困|困在|还在里面|在里面|压着|压住|埋|救命|快|出不去|出不来|往上涨|越来越|没过|水到|齐腰|齐腿|到膝盖|撤|跑|还在)"
    # 「楼上漏水把我家淹了 谁赔」: a leak claim, not a flood.
    if _has(r"(漏水|水管|暖气|下水道|马桶|楼上|洗衣机|水龙头)", s) and not _has(r"(洪水|发大水|山洪|河水|决堤|决口|溃坝|泥石流|塌|倒)", s):
        return False
    # 「天花板都要塌了」: exaggeration about a nuisance.
    if _has(r"都(要|快)塌", s) and not _has(r"(人|孩子|老人|压|埋|救命|快跑|还在里面)", s):
        return False
    if _consult_only(t) and not _has(risk, s):
        return False
    if not _DISASTER_STRONG.search(s) and not _has(_DISASTER_RISK, s):
        return False
    if _has(r"(塌了|倒了|垮了|砸|裂开)", s) and _has(_CONSULT, t) and not _has(r"(被困|困在|压着|压住|压在|埋|救命|快来|出不去|出不来|还在里面|流血|受伤了|不动)", s) \
            and not _now(t):
        return False
    return True


_TRAPPED = re.compile(
    r"(被困|困在|困住|(关|锁|卡|困)在.{0,6}(电梯|车里|车上|屋里|房间|厕所|仓库|冷库|地窖|井|洞|柜子)|电梯.{0,6}(停了|卡住|卡了|卡在|停在|困在|坏了|掉下|不动).{0,8}(里面|人|困|关|出不来|出不去|我)|"
    r"(我|我们|俺|人|孩子|老人|娃|宝宝|小孩|他|她).{0,8}(出不去|出不来|下不来|上不来|逃不出)|卡在(电梯|井|洞|缝|栏杆|门|窗|墙|树上|机器|车底|车里|半山)|"
    r"(锁|关)在车里|(孩子|人|老人|小孩|娃).{0,3}在(里面|里头)(哭|喊|出不来|叫)|迷路.{0,10}(山|林子|天黑|手机快没电|没电)|被水围|困在水|困在山|困在楼)"
)


def _trapped(t: str) -> bool:
    if not _TRAPPED.search(t):
        return False
    if _has(r"(贫困|困难|困扰|困境|困惑|困了|好困|困死)", t) and not _has(r"(被困|困在|困住|出不去|出不来|卡在|锁在|关在)", t):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    if _has(r"(车位|车库|停车|车子|车开).{0,8}(出不去|出不来)|(出不去|出不来).{0,6}(车)", t) and not _has(r"(人|孩子|困|救命)", t):
        return False  # a parking dispute
    if _has(r"(钱|资金|工资|押金).{0,6}(出不来|取不出|困在|卡在)", t):
        return False
    if _consult_only(t) and not _has(r"(被困|困在|困住|出不去|出不来|下不来|卡在|锁在|关在|救命|快)", t):
        return False
    # 「小区有人被困电梯 物业要担什么责任」: a liability question about somebody, nothing vivid.
    if _consult_only(t) and not _has(_FIRST + r"|孩子|小孩|老人|我妈|我爸|娃|在里面|在里头|哭|喊|救命|快|还在|出不来|出不去", t):
        return False
    return True


_MISSING = re.compile(
    r"((孩子|儿子|女儿|小孩|娃|孙子|孙女|闺女|宝宝|小儿子|小女儿|外孙|外孙女|老人|我爸|我妈|爷爷|奶奶|老爷子|老太太|老父亲|老母亲).{0,16}"
    r"(不见了|找不到了|找不着了|走丢了|走失|丢了(?!.{0,3}(手机|钱|东西|书包|作业|钥匙|工作))|没回来|没回家|还没回|失踪|联系不上|被人(抱|带|拐)走|被拐)|"
    r"(半夜|天黑|这么晚|深更半夜|一晚上)(了)?(都)?(还)?(没回|不回|没到家)|关机.{0,10}(没回|找不到)|(到处找遍|找遍了|哪都找不到|到处都找不到|找了.{0,6}(没找到|找不到))|(找不到|找不着).{0,4}(孩子|儿子|女儿|小孩|娃|孙子|孙女|老人|我爸|我妈)|拐走了|被拐了)"
)


def _missing(t: str) -> bool:
    if not _MISSING.search(t):
        return False
    if _past_only(t) or _hearsay_only(t):
        return False
    if _has(r"(把.{0,6}丢了|(手机|钱|东西|书包|钥匙|卡|证|作业|包|车)(也)?丢了)", t) and not _has(r"(不见了|找不到|走丢|走失|没回)", t):
        return False
    if _has(r"(宣告失踪|宣告死亡|失踪人口|抚养权|户口|寻亲|多年|好几年|几十年)", t) and not _has(r"(刚|现在|今天|今晚|到现在|一直没|还没)", t):
        return False
    if _has(r"(离家出走|不回家|不着家)", t) and _consult_only(t):
        return False
    return True


# --------------------------------------------------------------------------- replies and lines
_REPLIES = {
    "violence": "请马上拨打 110 报警。\n先躲到安全的地方：锁好门，或去邻居家、人多的地方。有人受伤请打 120。\n我已通知工作人员尽快联系您。",
    "weapon_threat": "请马上拨打 110 报警，说清楚地址和对方拿着什么。\n先离开或锁门躲好，不要和对方硬碰。\n我已通知工作人员尽快联系您。",
    "self_harm": "您先别一个人扛着，请现在就拨打心理援助热线 12356，或希望24热线 400-161-9995，都有人接听。\n"
                 "听到您这么难受，我很担心您。如果已经伤到自己，请马上打 120。\n您不是一个人，我已请工作人员尽快联系您。",
    "self_harm_act": "请马上拨打 120 急救；人在楼顶、水边或不让靠近的，同时打 110。\n"
                     "别让他（她）一个人待着，把药、刀、绳子拿开。心里难受可以打心理援助热线 12356。\n我已通知工作人员尽快联系您。",
    "fraud_in_progress": "先别转钱！挂断电话，马上拨打 110 或反诈专线 96110。\n不要说验证码，不要开屏幕共享。已经转了钱的，报警越快越能追回。\n我已通知工作人员联系您。",
    "medical": "请马上拨打急救电话 120，说清楚地址和病人的情况。\n不要随便搬动病人，让人到路口接救护车。是打架或车祸造成的，同时打 110。\n我已通知工作人员尽快联系您。",
    "medical_locked": "请马上拨打 110 和 120，说清楚地址，请他们来开门救人。\n同时找家人、邻居或物业拿钥匙，别耽误。\n我已通知工作人员尽快联系您。",
    "fire": "请马上离开屋子，到安全的地方拨打 119 火警。\n不要回去拿东西；用湿毛巾捂住口鼻，弯腰走，不坐电梯。电器着火先拉电闸，不要泼水。有人受伤打 120。\n我已通知工作人员尽快联系您。",
    "gas": "请马上打开门窗，离开屋子，到外面再拨打 119；有人晕倒同时打 120。\n不要开关电灯电器，不要打火，不要在屋里打电话。能关就先关掉燃气总阀。\n我已通知工作人员尽快联系您。",
    "poisoning": "请马上拨打急救电话 120，说清楚吃了（喝了）什么、多少、多久以前。\n把药瓶、农药瓶或剩下的食物带给医生看，听医生指导，不要乱用偏方。\n我已通知工作人员尽快联系您。",
    "disaster": "请马上往高处、空旷安全的地方撤离，拨打 119 或 110 求救。\n不要回屋拿东西，远离河沟、山坡、危墙和电线。有人被压、被埋或受伤打 120。\n我已通知工作人员尽快联系您。",
    "trapped": "请拨打 119 或 110 求救，说清楚在什么地方、有几个人。\n保持冷静，节省手机电量；在电梯里按警铃，不要扒门。有人受伤打 120。\n我已通知工作人员尽快联系您。",
    "stalking": "请马上往人多、有灯光的地方走（商店、超市、派出所），拨打 110 报警。\n先别回家，不要走小路；告诉家人您在哪里。\n我已通知工作人员尽快联系您。",
    "missing_child": "请马上拨打 110 报警，不用等 24 小时。\n说清楚孩子（老人）的样子、穿的衣服、最后在哪里见到，准备一张近照；家人邻居分头找，先看水塘、河边和公路。\n我已通知工作人员尽快联系您。",
}
_HOTLINES = {
    "violence": ["110", "120"],
    "weapon_threat": ["110"],
    "self_harm": ["12356", "400-161-9995", "120"],
    "self_harm_act": ["120", "110", "12356", "400-161-9995"],
    "fraud_in_progress": ["110", "96110"],
    "medical": ["120", "110"],
    "medical_locked": ["110", "120"],
    "fire": ["119", "120"],
    "gas": ["119", "120"],
    "poisoning": ["120"],
    "disaster": ["119", "110", "120"],
    "trapped": ["119", "110", "120"],
    "stalking": ["110"],
    "missing_child": ["110"],
}
_LINES_NOW = {
    "violence": "有危险请马上拨打110报警。",
    "weapon_threat": "有人拿凶器或扬言要伤人，请马上拨打110报警。",
    "self_harm": "心里撑不住时请马上拨打心理援助热线12356或希望24热线400-161-9995。",
    "self_harm_act": "已经伤到自己或有人要轻生，请马上拨打120和110。",
    "fraud_in_progress": "先别转钱，马上拨打110或反诈专线96110。",
    "medical": "请马上拨打急救电话120。",
    "medical_locked": "请马上拨打110和120来开门救人。",
    "fire": "请马上离开并拨打火警119。",
    "gas": "请马上开窗、离开屋子，到外面拨打119。",
    "poisoning": "请马上拨打急救电话120。",
    "disaster": "请马上撤到高处安全的地方，拨打119或110求救。",
    "trapped": "请拨打119或110求救。",
    "stalking": "请往人多的地方走，马上拨打110报警。",
    "missing_child": "请马上拨打110报警，不用等24小时。",
}
# A short add-on when a second kind also fired and its main line is not in the reply yet.
_EXTRA = {
    "self_harm": ("12356", "心里难受也可以打 12356。"),
    "self_harm_act": ("120", "有人伤到自己请打 120。"),
    "medical": ("120", "有人受伤或不省人事请打 120。"),
    "medical_locked": ("120", "有人不省人事请打 120。"),
    "poisoning": ("120", "有人中毒请打 120。"),
    "fraud_in_progress": ("96110", "涉及转账的，打 96110 反诈专线。"),
    "fire": ("119", "着火了请打 119。"),
    "gas": ("119", "闻到燃气味先开窗离开，到外面打 119。"),
    "disaster": ("119", "有坍塌、进水请撤到安全处并打 119。"),
    "trapped": ("119", "有人被困请打 119。"),
    "violence": ("110", "有人动手请打 110。"),
    "weapon_threat": ("110", "有人拿凶器请打 110。"),
    "stalking": ("110", "有人跟着您请打 110。"),
    "missing_child": ("110", "有人走失请打 110。"),
}

# Order matters when several fire: the most specific / most urgent first.
_CHECKS = [
    ("gas", _gas),
    ("fire", _fire),
    ("self_harm", _self_harm),
    ("poisoning", _poisoning),
    ("weapon_threat", _weapon_threat),
    ("violence", _violence),
    ("medical", _medical),
    ("disaster", _disaster),
    ("trapped", _trapped),
    ("missing_child", _missing),
    ("stalking", _stalking),
    ("fraud_in_progress", _fraud),
]
DANGER_KINDS = tuple(k for k, _ in _CHECKS)
PHYSICAL_KINDS = ("gas", "fire", "poisoning", "medical", "disaster", "trapped", "missing_child")

# --------------------------------------------------------------------------- harm_past (no alarm)
_FAMILY = r"(家暴|家庭暴力|老公|丈夫|男人|前夫|老婆|妻子|媳妇|前妻|男朋友|男友|前男友|女朋友|前女友|对象|婆婆|公公|父亲|我爸|我妈|儿子|女儿|保护令|虐待)"
_VIOLENCE_TOPIC = re.compile(
    r"(打老婆|打孩子|打老人|逼.{0,4}(嫁|结婚|婚)|不让.{0,2}出门|限制.{0,4}自由|软禁|勒索|敲诈|偷拍|摄像头|拐|人贩子|掐|勒|砍死|打死|弄死|杀了|捅死|曝光.{0,4}隐私|"
    r"家暴|家庭暴力|保护令|禁止令|被打|被.{0,4}打(了|伤|断|成|得|跑)|挨打|打了我|打我|打过|打伤|打断|殴打|动手打|打人|虐待|威胁|恐吓|扬言|跟踪|尾随|骚扰|性侵|强奸|猥亵|非礼|"
    r"拿刀|持刀|砍伤|捅伤|砍我|捅我|杀我|故意伤害|故意杀人|正当防卫|防卫过当|寻衅滋事|绑架|拐卖|抢劫|报复|泼硫酸|放火烧)"
)
_VIOLENCE_TOPIC_NOT = r"(打官司|打工|打电话|打印|打款|打钱|打折|打卡|打扫|打麻将|打游戏|打疫苗|打针)"
_FRAUD_TOPIC = re.compile(
    r"(诈骗|被骗|骗了|骗走|骗子|骗局|杀猪盘|刷单|网贷|网上借|借了.{0,4}贷|贷款.{0,6}(逾期|催收|还不上|还不起)|催收|套路贷|校园贷|高利贷|"
    r"冒充|电信诈骗|传销|非法集资|跑路|帮信|卖银行卡|洗钱|上当|假客服|验证码|安全账户)"
)
_INJURY_TOPIC = re.compile(
    r"(吃坏|被.{0,3}咬|喝死|猝死|身亡|摔下来|掉下来|工伤|受伤|摔伤|撞伤|烫伤|烧伤|砸伤|压伤|轧伤|割伤|咬伤|夹伤|扭伤|骨折|伤残|车祸|交通事故|医疗事故|中毒|触电|溺水|伤情|工亡|致残|瘫痪|被撞|撞了|"
    r"摔了|摔倒|被机器|伤到)"
)
_HAZARD_TOPIC = re.compile(r"(着火|失火|火灾|烧了|(煤气|燃气|天然气|液化气)(泄漏|泄露|漏|中毒|爆炸)|洪水|发大水|山洪|冲垮|冲走|淹了|塌了|倒塌|坍塌|地震|泥石流|滑坡)")
_LINES_PAST = {
    "violence_family": "如果再次遭受家暴，请立即拨打110；也可以向法院申请人身安全保护令。",
    "violence": "如果对方再来伤害或威胁您，请立即拨打110报警。",
    "fraud_loan": "遇到暴力催收、威胁骚扰可以拨打110报警；怀疑是诈骗可以打反诈专线96110。",
    "fraud": "如果对方还在联系您要钱，或者刚刚转了账，请立即拨打110或反诈专线96110。",
    "injury_work": "如果伤情加重请及时就医，紧急时拨打120；工伤认定可以咨询人社服务热线12333。",
    "injury": "如果伤情加重或出现新的不适，请及时就医，紧急时拨打120。",
    "hazard": "如果再遇到着火、闻到燃气味或房屋有倒塌危险，请先离开到安全地方，拨打119。",
    "crisis": "遇到这样的事，生气、难受都很正常；如果心里实在撑不住，可以随时拨打心理援助热线12356或希望24热线400-161-9995，有人倾听。",
}
_HOTLINES_PAST = {
    "violence_family": ["110"], "violence": ["110"], "fraud_loan": ["110", "96110"], "fraud": ["110", "96110"],
    "injury_work": ["120", "12333"], "injury": ["120"], "hazard": ["119"], "crisis": ["12356", "400-161-9995"],
}


def _harm_past(t: str) -> Optional[Dict]:
    """harm_past: a line for the legal answer, no alarm."""
    if _has(r"(造谣|谣言|诽谤|传谣|网上.{0,6}(发帖|乱说|骂我|说我))", t) and not _has(r"(威胁|要杀|要砍|要打)", t):
        return None  # defamation: a legal matter with no hotline to give
    key = kind = None
    # 「真想掐死他」「恨不得把店砸了」: the writer's own anger, no harm to anyone.
    if _has(r"(真|恨不得|真想|好想)(把|去)?.{0,4}(掐死|打死|弄死|杀了|砍死|撕了|揍|砸了)", t) and not _has(r"(被|挨|打了我|打我|威胁|家暴)", t):
        return None
    if _SELF_HARM.search(t) or _ANGER_IDIOM.search(t) or _DESPAIR.search(t):
        stripped = _SELF_HARM_FIGURATIVE.sub("", t)
        idiom = _ANGER_IDIOM.search(t)
        if _SELF_HARM.search(stripped) or (idiom and _has(r"(死|活|跳|撞墙)", idiom.group(0))) or _DESPAIR.search(t):
            key, kind = "crisis", "crisis_possible"
    if key is None and _VIOLENCE_TOPIC.search(re.sub(_VIOLENCE_TOPIC_NOT, "", t)):
        key = "violence_family" if _has(_FAMILY, t) else "violence"
        kind = "violence_past"
    if key is None and (_FRAUD_TOPIC.search(t) or (_has(r"(贷款|借贷|欠钱)", t) and _has(r"(催|逼|骚扰|威胁|爆通讯录)", t))):
        key = "fraud_loan" if _has(r"(网贷|贷|催收|借了|欠)", t) and not _has(r"(被骗|诈骗|骗子|刷单|杀猪盘|冒充)", t) else "fraud"
        kind = "fraud_past"
    tp = _POISON_FIGURATIVE.sub("", t)
    if key is None and (_INJURY_TOPIC.search(tp) or _MEDICAL.search(tp) or _POISON.search(tp)):
        key = "injury_work" if _has(r"(工伤|工地|厂里|车间|单位|公司|老板|上班|干活|机器)", t) else "injury"
        kind = "injury_past"
    th = _DISASTER_FIGURATIVE.sub("", _FIRE_FIGURATIVE.sub("", t))
    if key is None and _HAZARD_TOPIC.search(th) and not _has(r"(燃气费|煤气费|天然气费|燃气公司收费|开户|都要塌|都快塌|漏水|水管|暖气)", t):
        key, kind = "hazard", "injury_past"
    if key is None:
        return None
    return {"tier": HARM_PAST, "kind": kind, "kinds": [kind], "hotlines": list(_HOTLINES_PAST[key]), "reply": "",
            "line": _LINES_PAST[key], "via": "rules"}


# --------------------------------------------------------------------------- entry points
# Voice input and pinyin typing slips that hide a danger word: 「着伙了」「失伙」「煤汽味」.
_TYPOS = ((r"(着|失|起)伙(了|啦)", r"\1火\2"), (r"(煤|燃|天然)汽", r"\1气"), (r"救名", "救命"))


def _prepare(text) -> str:
    try:
        t = normalize(text if isinstance(text, str) else "")
        for a, b in _TYPOS:
            t = re.sub(a, b, t)
        t = re.sub(r"救命(钱|恩人|稻草|之恩|药)", "", t)  # fixed phrases that only look alarming
        # 「不活了也要讨个说法」「拼了命也要」: determination, not intent.
        t = re.sub(r"(不活了|不要命了?|拼了命|豁出去了?)(也|都)(要|得|会)", "一定要", t)
    except Exception:  # pragma: no cover - defensive: any input must be safe here
        return ""
    return t[:2000]


def _reply_key(kind: str, t: str) -> str:
    if kind == "self_harm" and _SELF_HARM_ACT.search(t):
        return "self_harm_act"
    if kind == "medical" and _LOCKED_SILENT.search(t) and not _has(r"(晕倒|抽搐|流血|呼吸|不动|倒地|车祸)", t):
        return "medical_locked"
    return kind


def _danger(kinds: List[str], t: str, via: str) -> Dict:
    keys = [_reply_key(k, t) for k in kinds]
    key = keys[0]
    hotlines: List[str] = []
    for k in keys:
        for h in _HOTLINES[k]:
            if h not in hotlines:
                hotlines.append(h)
    reply = _REPLIES[key]
    extras = []
    for k in keys[1:]:
        number, sentence = _EXTRA[k]
        if number not in reply and sentence not in extras:
            extras.append(sentence)
    if extras:
        head, _, rest = reply.partition("\n")
        reply = head + "\n" + " ".join(extras) + ("\n" + rest if rest else "")
    return {"tier": DANGER_NOW, "kind": kinds[0], "kinds": kinds, "hotlines": hotlines, "reply": reply,
            "line": _LINES_NOW[key], "via": via}


# A neighbour's vote needs at least one word of danger or urgency in the message itself: 「周末带娃去哪玩」
# and 「高血压能不能吃鸡蛋」 sit close to emergencies in e5 space but say nothing dangerous.
_DANGER_CUE = re.compile(
    r"(刀|枪|棍|斧|药|血|火|烟|燃气|煤气|味|水|塌|倒|裂|晕|昏|醒|死|杀|打|揍|踹|砸|撞|闯|抢|绑|拐|抱走|带走|救|快|跑|追|跟着|跟踪|盯|锁|困|关着|掉|摔|"
    r"吞|喝了|吃了|不见|找不到|没回|走丢|丢了|失踪|跳|绳|楼顶|天台|疼|痛|抽|吐|不动|没气|呼吸|喘|危险|吓|威胁|怕|骗|转账|汇款|验证码|密码|"
    r"现在|正在|刚|还在|马上|赶紧|立刻|此刻|动静|不应|不接|没人|一个人|不想活|活不|想死|结束|解脱|遗书|离开这个|电|冒|炸|漏)"
)
_ASK_ABOUT = re.compile(r"(能不能|可不可以|可以不可以|能否|行不行|好不好|要不要|该不该|是不是|算不算|去哪|哪里|哪儿|怎么样)")


def _semantic_veto(t: str, kind: str) -> bool:
    """A neighbour's vote passes the same filters as the rules."""
    if not _DANGER_CUE.search(_ANGER_IDIOM.sub("", _SELF_HARM_FIGURATIVE.sub("", t))):
        return True
    things = re.sub(r"(东西|行李|家具|货物?|家当|衣服)(都|也)?还在", "", t)
    # Short messages only: a long story that ends in a question is judged by _narrated_past.
    if len(t) < 60 and _ASK_ABOUT.search(t) and not _has(_STRONG_NOW, things) and not _has(_PERSON_AT_RISK, things):
        return True  # 「能不能直接换锁」: asking what is allowed, nobody in danger
    if _hearsay_only(t) or _past_only(t):
        return True
    # Stricter than the rules: a past event asked about (「前些年…现在要回来分房子 她有份吗」) is vetoed
    # even when 「现在」 appears, unless the danger is plainly still going on.
    if _has(_PAST, t) and (_has(_CONSULT, t) or _has(_QUESTION, t) or _has(r"(吗|么|没|不)$", t)) and not _has(_STRONG_NOW, t):
        return True
    if _ANGER_IDIOM.search(t) and kind == "self_harm":
        return True
    # Figures of speech and plain knowledge questions: 「火冒三丈」「游戏中毒」「验证码是什么意思」.
    if (_has(_FIGURATIVE_ANY, t) or _FIRE_FIGURATIVE.search(t) or _POISON_FIGURATIVE.search(t)
            or _DISASTER_FIGURATIVE.search(t)) and not _now(t):
        return True
    if _has(_QUESTION, t) and not _now(t) and not _has(_PERSON_AT_RISK, t):
        return True
    if kind == "fraud_in_progress" and not (_has(_FRAUD_ASK, t) or _has(_FRAUD_LIVE, t) or _has(_FRAUD_JUST, t) or _now(t)):
        return True
    if kind in PHYSICAL_KINDS:
        return _consult_only(t) and not _has(_PERSON_AT_RISK, t)
    if _consult_only(t):
        return True
    return kind == "self_harm" and bool(_SELF_HARM_FIGURATIVE.search(t)) and not _SELF_HARM.search(_SELF_HARM_FIGURATIVE.sub("", t))


# Long consultations tell a story, then ask: 「去年隔壁着火烧了我家柴房…能要赔偿吗？」. Each sentence
# carries the time of the last time word said before it; the message is danger now only if a
# sentence that fires a danger rule is set in the present (or in no stated time).
_SENTENCE = re.compile(r"[。！？!?；;\n]+|[，,](?=\s*(?:后来|结果|现在|今天|刚才|当时|那时|然后|最近|前几天|去年|上个月))")
_PAST_TIME = re.compile(r"(去年|前年|大前年|上个?月|上上个?月|上周|上礼拜|上星期|前几年|前些年|几年前|多年前|年前|以前|之前|"
                        r"曾经|那年|那时候?|当时|当年|前段时间|前阵子|前些天|前几天|几个月前|半年前|上次|上回|小时候|早年|"
                        r"上学期|去年冬天|去年夏天|\d+年前|[一二三四五六七八九十两]+年前|[一二三四五六七八九十两]+个月前)")
_NOW_TIME = re.compile(r"(现在|正在|刚才|刚刚|此刻|这会儿?|马上|今天|今晚|今早|今天早上|今天晚上|刚|还在|快来|救命|赶紧|立刻|"
                       r"先不说这个|不说这个了)")  # a speaker who drops the story comes back to the present
_LEGAL_ASK = re.compile(r"(吗|怎么办|怎么|能不能|可不可以|可以|有没有|该找谁|找谁|责任|赔偿|起诉|证据|算不算|如何|哪里|多少)[^。！？!?]{0,12}[？?]?\s*$")


def told_in_past(raw: str, end: int) -> bool:
    """Whether the story up to character `end` of `raw` is set in a stated past: the last time word
    said before that point is a past one (「上个月…困在电梯里」), not a present one (「刚才水灌进屋」)."""
    text = unicodedata.normalize("NFKC", raw or "")[:end].translate(_T2S)
    last_past = max((m.start() for m in _PAST_TIME.finditer(text)), default=-1)
    last_now = max((m.start() for m in _NOW_TIME.finditer(text)), default=-1)
    return last_past > last_now


def _narrated_past(raw, t: str) -> bool:
    """True for a long message whose danger sentences all lie in a stated past and which ends by
    asking about the law. Short messages (「救命 他又在打我」) never pass through here."""
    if not isinstance(raw, str) or len(t) < 60 or not _LEGAL_ASK.search(t[-40:]) or not _PAST_TIME.search(t):
        return False
    text = unicodedata.normalize("NFKC", raw).translate(_T2S)
    when = None  # "past" | "now" | None, carried from sentence to sentence
    fired_now = False
    for sent in _SENTENCE.split(text):
        sent = _prepare(sent)
        if not sent:
            continue
        past_m, now_m = _PAST_TIME.search(sent), _NOW_TIME.search(sent)
        if past_m and now_m:
            when = "now" if now_m.start() > past_m.start() else "past"
        elif past_m:
            when = "past"
        elif now_m:
            when = "now"
        if any(check(sent) for _, check in _CHECKS) and when != "past":
            fired_now = True
            break
    return not fired_now


def _past_line(t: str) -> Optional[Dict]:
    """A harm_past line when the past-harm rules found nothing more specific."""
    return {"tier": HARM_PAST, "kind": "injury_past", "hotlines": [], "reply": "",
            "line": "如果现在仍有危险，请立即拨打110；受伤的请先就医并保留病历。", "kinds": ["injury_past"], "via": "rules"}


def triage(text, semantic: bool = True, wait: bool = False, vector=None) -> Optional[Dict]:
    """{"tier": "danger_now"|"harm_past", "kind", "hotlines", "reply", "line", "kinds", "via"} or None.

    Never raises. Rules first; when no danger rule fires, the semantic backstop
    (bot.emergency_semantic, e5 nearest neighbour over bot/emergency_bank.yml) unless semantic=False.
    wait=True blocks until its vectors are loaded (tests, bench). vector: the message's e5
    "query: " embedding when the caller already has it (Rasa's featurizer).
    """
    t = _prepare(text)
    if not t:
        return None
    try:
        kinds: List[str] = [kind for kind, check in _CHECKS if check(t)]
    except Exception:  # pragma: no cover - a rule bug must not break a turn
        kinds = []
    if kinds and _narrated_past(text, t):
        kinds = []  # a story of what happened, told to ask about the law: answered, no alarm
        try:
            return _harm_past(t) or _past_line(t)
        except Exception:  # pragma: no cover
            return None
    if kinds:
        # 「墙塌了 人压在下面」: a collapse is a rescue (119) first, then an ambulance.
        if "disaster" in kinds and "medical" in kinds and _has(r"(塌|垮|倒塌|坍塌|泥石流|滑坡|地震|被埋|埋在|洪水|山洪)", t):
            kinds.remove("disaster")
            kinds.insert(0, "disaster")
        return _danger(kinds, t, "rules")
    if semantic:
        try:
            from bot import emergency_semantic

            raw = unicodedata.normalize("NFKC", text).strip() if isinstance(text, str) else t
            hit = emergency_semantic.nearest(raw[:500] or t, wait=wait, vector=vector)
        except Exception:  # the backstop must never break triage
            hit = None
        if hit and hit.get("kind") in _REPLIES and not _semantic_veto(t, hit["kind"]) and not _narrated_past(text, t):
            found = _danger([hit["kind"]], t, "semantic")
            found["neighbour"] = hit.get("neighbour")
            return found
    try:
        return _harm_past(t)
    except Exception:  # pragma: no cover
        return None


def danger_for(text, kinds: Optional[List[str]] = None, via: str = "model", lead: Optional[str] = None) -> Optional[Dict]:
    """A danger_now result for a message another judge (bot.road) found dangerous: the kind it names
    (`lead`, the road model's kind head) or else the nearest bank example's, then the kinds the rules
    see in its words (past or not) or the given ones."""
    t = _prepare(text)
    if not t:
        return None
    try:
        from bot import emergency_semantic

        # The judge's kind leads (「密码留给儿子了 这辈子就到这了」 is self-harm, though 密码 is a fraud
        # word); what the rules see in the words adds its hotlines.
        near = lead if lead in _REPLIES else emergency_semantic.nearest_kind(text)
        ruled = [kind for kind, check in _CHECKS if check(t)] or [k for k in kinds or [] if k in _REPLIES]
        found = ([near] if near in _REPLIES else []) + [k for k in ruled if k != near]
        return _danger(found or ["medical"], t, via)
    except Exception:  # pragma: no cover - a rule bug must not break a turn
        return _danger(["medical"], t, via)


def past_for(text) -> Dict:
    """The harm_past line for a message whose alarm another judge withdrew (no alarm, a hotline line)."""
    t = _prepare(text)
    try:
        return _harm_past(t) or _past_line(t)
    except Exception:  # pragma: no cover
        return _past_line(t)


def detect(text, semantic: bool = True, wait: bool = False, vector=None) -> Optional[Dict]:
    """Return {"kind", "kinds", "hotlines", "reply", "via", "tier", "line"} for danger_now, else None.

    The Rasa NLU component and actions use this: harm_past never becomes an emergency intent.
    """
    found = triage(text, semantic=semantic, wait=wait, vector=vector)
    return found if found and found["tier"] == DANGER_NOW else None


def main(argv: List[str]) -> int:  # small manual check: python -m bot.emergency "文本"
    import json

    for text in argv:
        print(json.dumps({"text": text, "result": triage(text)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
