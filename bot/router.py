"""Which road a resident's message takes: an explicit dialogue act, or the knowledge base.

Rasa is good at dialogue acts and forms and wrong as the gate for "is this a legal question worth
answering" (an unsure intent used to end in 「没太明白」). So the gateway asks this module first:

  act(text)          greet / thanks / bye / identity / handoff / status / forget / cancel /
                     mediation (asks for mediation or someone to come) / affirm / deny — or None
  out_of_scope(text) a request outside law and local public services (a poem, the weather …)
  needs_visit(text)  a live dispute that needs someone on the spot (neighbours, family, land,
                     property management) — the intake form starts right after the answer
  offers_mediation(text, domain)  another party is involved: offer mediation after the answer
Everything else is offered to the knowledge base. Acts are short formulaic phrases, so
hand-written patterns are precise; they are written from what residents type, not from any
evaluation set (the held-out sets in eval/bot/heldout are never read by rules or tests).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

_PUNCT = re.compile(r"[\s。，,.!！?？~～、…：:；;“”\"'‘’（）()【】\[\]《》<>·\-—_]+")
_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def normalize(text: str) -> str:
    """NFKC, simplified characters, no punctuation/spaces, lower case."""
    t = unicodedata.normalize("NFKC", text or "")
    try:
        from knowledge.text import to_simplified

        t = to_simplified(t)
    except Exception:  # the router must work without the knowledge package's extras
        pass
    return _PUNCT.sub("", _EMOJI.sub("", t)).lower()


def _plain(t: str) -> str:
    """Colloquial question words to the standard ones the patterns are written in (咋→怎么, 啥→什么)."""
    return t.replace("咋", "怎么").replace("啥", "什么").replace("哪儿", "哪里")


# ---------------------------------------------------------------------------------------- acts
_FILLER = r"(啊|呀|呢|哈|嘛|吧|哦|噢|喔|了|啦|嗯|亲|小明|小助手|明白|同志|师傅|老师|你们|大家|你|您|小同志|领导)*"
_GREET = re.compile(rf"^(你好|您好|你們好|你们好|大家好|hi|hello|hey|哈喽|哈啰|嗨|喂|在吗|在不在|在么|有人吗|有人在吗|"
                    rf"早上好|上午好|中午好|下午好|晚上好|早|早安|打扰了|请问)+{_FILLER}$")
_THANKS = re.compile(rf"^(好的|好|嗯|明白了|知道了|懂了|晓得了|清楚了|收到|行|ok)?((谢谢|谢了|多谢|感谢|辛苦了|谢谢你|谢谢您|麻烦了|"
                     rf"太感谢了|非常感谢|谢谢啦|3q|thanks|thankyou|你们真好|太好了|好人一生平安){_FILLER})+"
                     rf"(帮(了)?(我)?(大|很大的)?忙了?)?{_FILLER}$")
_BYE = re.compile(rf"^(再见|拜拜|拜|bye|晚安|回头聊|先这样|没事了|没别的事了|不聊了|就这些)+{_FILLER}$")
_OK = re.compile(rf"^(好的|好|嗯|嗯嗯|哦|噢|行|知道了|明白了|懂了|收到|ok|好滴|可以|对|是的|是|要|需要|同意|愿意|麻烦你们了)+{_FILLER}$")
_NO = re.compile(rf"^(不用|不用了|不要|不需要|不了|算了|先不用|暂时不用|没有|没了|不|否|no)+(谢谢|了)?{_FILLER}$")
_IDENTITY = re.compile(r"(你是谁|你是什么|你是机器人|你是真人|是机器人吗|是不是机器人|你们是(哪|什么|政府|官方)|你能(干|做|帮)(什么|啥|我什么)|"
                       r"你会(干|做)?(什么|啥)|有什么用|怎么用你|你叫什么)")
_HANDOFF = re.compile(
    r"(转人工|人工(客服|服务|回复|接待)?$|(找|要|跟|和|同|转)人工|真人|活人|人工吧|(跟|和|同)(人|真人|工作人员)(说|聊|讲|倾)|搵.{0,2}真人|"
    r"(找|叫|要|请|派|让)[^被给]{0,4}(网格员|工作人员|法律明白人|志愿者|律师|专家|村干部|书记|负责人)|"
    r"不会打字|不识字|打字(太)?(慢|费劲|不行|不会)|看不清字|(叫|找|让|派)个?人(跟|和|给|同)(我|俺)(说|讲|聊|打电话|解释)|"
    r"(网格员|调解员|工作人员|律师|法律明白人|负责人).{0,8}(电话|微信|联系方式|加我|打给我|给我打|回电|联系我)|"
    r"(直接|当面).{0,4}(聊|谈|说).{0,6}(律师|人)|(能|可以)(直接)?(打电话|联系|电话).{0,6}(律师|工作人员|人)|不想跟(机器|你)(说|聊)|机器人.{0,12}(看不懂|听不懂|不行|没用))"
)
_STATUS = re.compile(
    r"(查进度|进度|查.{0,3}(工单|单号|案子|申请|登记)|我的(工单|单子|申请|案子|登记)|"
    r"(上次|上回|前几天|前天|昨天|之前|那天|刚才|上个月|早先).{0,10}(报|登记|反映|申请|提交|说|投诉)的.{0,8}(事|问题|情况|纠纷|申请|登记)|"
    r"(登记|申请|反映|报)的.{0,6}(事|问题)?.{0,4}(怎么样|咋样|如何|弄得|办得|处理|有结果|到哪|有信)|"
    r"(登记|申请|工单|案子|投诉).{0,4}(弄|办|处理|搞)得?(怎么样|咋样|如何)|"
    r"(怎么|咋|为啥|为什么)(还|一直)?没(人|有人)?(联系|回复|来|处理|打电话|消息|动静|回音|信儿|下文|结果|音信)|(我|俺)(的|那个|那).{0,8}(单子|工单|案子|登记|申请).{0,8}(有人管|有人处理|怎么样|咋样|到哪|有结果)|说好.{0,8}(来人|联系|回复).{0,6}(怎么|咋|还没)|"
    r"(调解|处理|审核)(结果|进展).{0,4}(出来|有|怎么)|(审核|受理)(通过|过)了(吗|没)|有人(处理|管|受理)(了)?(吗|没有|没)|有回音|有消息了(吗|没))"
)
_FORGET = re.compile(
    r"(删除|删掉|删了|清除|清空|抹掉|销毁|注销|撤回).{0,8}(信息|记录|资料|数据|聊天|对话|内容|说的|个人)|"
    r"(信息|记录|资料|数据|聊天记录).{0,6}(删除|删掉|删了|清除|清空|清掉|清理|抹掉|弄掉|别留|不要留|不要存)|"
    r"(别|不要|不想|不许|不准).{0,3}(留|存|保存|记录|保留).{0,6}(我的|信息|记录|底)|不要留底"
)
_CANCEL = re.compile(rf"^(取消|取消登记|取消调解|不登记了|不调解了|不办了|不弄了|算了|算了吧|先不登记|先不弄了|不用登记了|撤销|"
                     rf"我不想登记了|我不要调解了|退出)+{_FILLER}$")
_MEDIATION = re.compile(
    r"(申请调解|要调解|想调解|(要求|希望|需要|求|盼)(调解|调和|协调)|请.{0,4}调解|帮.{0,6}调解|给.{0,4}调解|调解一下|来调解|去调解|进行调解|通过调解|找.{0,4}调解|"
    r"调和一下|说和|评评理|说道说道|主持公道|做个见证|"
    r"(派|来|叫|找|请).{0,2}(个)?人.{0,6}(看看|看一下|处理|解决|调|管|协调|说|评)|上门.{0,4}(看|处理|调解)|"
    r"快来人看看|来个人|(登记|报|立).{0,3}(个|一下)?(纠纷|矛盾)|协调一下|帮忙协调|出面(处理|协调|调解|解决)?|"
    r"(想|要|来|帮我|给我|申请)登记(一下|一个|个|反映)?(?!结婚|离婚|户口|房|车|出生|死亡|婚|了吗)|登记(一下|一个).{0,6}(纠纷|矛盾|事|反映)|反映一下|"
    r"(请|让|叫|找|要)[^被]{0,6}(来)?(协调|调和|调处)|来人?(看看|看一下|看下|瞧瞧|管管|处理一下)|派人|来一趟|过来看)"
)


_NOT_HANDOFF = re.compile(r"(请不起|找不到|雇不起|没钱请|请律师(要|得|多少)|律师费|律师说)")
_PERSON = re.compile(r"(转人工|真人|活人|人工客服|不会打字|不识字|打字(太)?(慢|费劲|不行|不会))")
# A question about mediation itself (cost, steps, effect) is answered, not an intake.
_ABOUT_MEDIATION = re.compile(r"(调解|协调).{0,8}(要不要钱|收钱|收费|收不收|多少钱|花钱|免费|有用|有效|管用|算数|流程|程序|怎么(走|弄|办)|需要什么|要带|多久|法律效力)")


def act(text: str) -> Optional[str]:
    """An explicit dialogue act, or None when the message should go to the knowledge base."""
    t = normalize(text)
    if not t:
        return None
    if _FORGET.search(t):
        return "forget"
    if len(t) <= 12 and _CANCEL.match(t):
        return "cancel"
    if len(t) <= 20 and _IDENTITY.search(t) and not re.search(r"(转|找|要|跟|叫)(人工|真人)", t):
        return "identity"  # 「你是机器人还是真人」 asks who we are
    if _HANDOFF.search(t) and (_PERSON.search(t) or not _MEDIATION.search(t)) and not _NOT_HANDOFF.search(t):
        return "handoff"
    if _STATUS.search(t) and len(t) <= 40:
        return "status"
    if _MEDIATION.search(t) and not _ABOUT_MEDIATION.search(t):
        return "mediation"
    if len(t) <= 14:
        if _THANKS.match(t):
            return "thanks"
        if _BYE.match(t):
            return "bye"
        if _GREET.match(t):
            return "greet"
        if _NO.match(t):
            return "deny"
        if _OK.match(t):
            return "affirm"
    if len(t) <= 20 and _IDENTITY.search(t):
        return "identity"
    return None


# ---------------------------------------------------------------------------------- out of scope
# Creative and homework requests stay out of scope whatever they are about (a poem about divorce).
_OOS_ALWAYS = re.compile(r"(写(一|个|首|篇|段|几)?(首|篇|段)?.{0,8}(诗|歌|歌词|作文|小说|故事|对联|请假条|演讲稿|文案|情书|祝福语|段子)|"
                         r"作诗|写诗|画(一|个|张|幅).{0,4}(画|图)|讲个笑话|唱(首|个)歌|造.{0,4}句子?|造句|用英语|英语怎么说|翻译成|(孩子|娃|小孩|儿子|女儿)的?(作业|功课)|"
    r"推荐.{0,12}(电视剧|电影|小说|综艺|书|歌))")
_OOS = re.compile(
    r"(写(一|个|首|篇|段|几)?(首|篇)?.{0,4}(诗|歌|词|文章|作文|小说|故事|对联|请假条|检讨|演讲|文案|情书|祝福)|作诗|画(一|个|张|幅)|"
    r"天气|下雨|下雪|气温|几度|台风.{0,4}(路径|来不来)|"
    r"股票|基金|炒股|涨停|比特币|币圈|理财产品.{0,4}(推荐|买哪)|彩票|开什么码|中奖号码|双色球|"
    r"菜谱|怎么做(菜|饭|饺子|红烧)|怎么做好吃|做法|红烧|清蒸|吃什么药|好得快|能不能吃|可以吃吗|金价|油价|汇率|怎么(炒|炖|蒸|包)|(肉|菜|鱼|汤|饭|面|饺子|包子|蛋糕).{0,2}怎么(做|烧|煮)|馅|好吃吗|减肥|膏药|吃什么药|怎么治|偏方|养生|"
    r"怎么养.{0,6}(花|草|兰|鱼|狗|猫|鸟)|养花|烂根|"
    r"笑话|讲个故事|唱(首|个)?歌|陪我聊天|聊聊天|无聊|"
    r"翻译|英语怎么说|作业|数学题|仿写|造句|算一下|编程|写代码|代码|"
    r"星座|算命|八字|风水|运势|解梦|"
    r"明星|演唱会|电影|电视剧|综艺|追剧|游戏|王者荣耀|攻略|球赛|比分|"
    r"旅游|景点|去哪(里)?玩|哪里好玩|机票|火车票.{0,3}(怎么买|几点)|"
    r"手机.{0,4}(卡|坏|怎么设置|没声音)|wifi|网速)"
)
# Words that make a message a legal or public-service matter even when an out-of-scope word appears.
_LEGAL = re.compile(
    r"(法|律师|起诉|告|赔|违法|犯法|合同|纠纷|工资|欠|借|骗|诈骗|偷税|判|罚|拘留|离婚|抚养|赡养|继承|遗产|房|地|邻居|物业|"
    r"投诉|维权|退款|退货|责任|权利|义务|调解|派出所|报警|保险|工伤|受伤|撞|摔|伤|被(?!子|窝|套|单|褥)|侵权|隐私|肖像|著作权|盗版|版权|"
    r"商标|专利|盗用|冒用|违约|定金|押金|补偿|补助|低保|户口|证|公证|司法所|12348|退|唔肯|不肯|不给|不还|抄袭|抄了|剽窃|搬运)"
)


def out_of_scope(text: str) -> bool:
    t = _plain(normalize(text))
    if not t or _MEDIATION.search(t) or (_SPOT_TOPIC.search(t) and _SPOT_LIVE.search(t)):
        return False  # 「一下雨水全往我家院里流 来人看一下」 is a dispute, whatever the weather
    if _OOS_ALWAYS.search(t) and not re.search(r"(抄|盗|侵权|版权|著作权|被人|剽窃|冒名)", t):
        return True
    return bool(_OOS.search(t)) and not _LEGAL.search(t)


# ------------------------------------------------------------------------- disputes on the spot
# Live disputes that a mediator or grid worker must see in person: neighbours, family quarrels,
# land boundaries, property management. A question about the law ("…犯法吗", "…怎么判") is not one.
_SPOT_TOPIC = re.compile(
    r"(邻居|隔壁|楼上|楼下|对门|邻里|院墙|墙|地界|边界|宅基地|地基|排水|下水|化粪池|污水|臭|漏水|渗水|挡光|挡路|堵路|过道|"
    r"噪音|太吵|吵得|吵死|半夜|装修|鸡|鸭|狗|牛|羊|树根|树枝|占(了|我)|物业|业主|小区|停车位|垃圾|"
    r"兄弟|妯娌|婆婆|儿媳|分家|老人没人管|老娘|老爹|父母没人|吵架|闹翻|闹掰|打起来|不对付)"
)
_SPOT_LIVE = re.compile(r"(正在|天天|每天|一直|老是|总是|又|还在|现在|这几天|好几天|半个月|一个月了|不停|还不|也不管|不管|得不行|受不了|满天飞|一下雨|"
                        r"说了.{0,2}(不|也不|没|还)|不听|吵了|闹了|没完|越来越)")
# Harm that is over (an accident, a death, a claim for money) is answered, not visited.
_NOT_SPOT = re.compile(r"(去年|前年|上个月|年前|以前|工地|工伤|死了|没了|去世|赔偿|没赔|车祸|撞)")
_LAW_QUESTION = re.compile(r"(犯法|违法|合法|算不算|怎么判|判几年|能告|可以告|起诉|法律规定|有没有规定|赔多少|怎么赔|要赔|"
                           r"有效吗|能要回|能退|归谁|份额|怎么分|多少钱|几年|时效|怎么算|哪条法|责任|担什么|承担|赔偿)")
_OTHER_PARTY = re.compile(r"(他|她|他们|对方|邻居|老板|公司|厂|单位|房东|租客|物业|老公|老婆|丈夫|妻子|媳妇|前夫|前妻|儿子|女儿|"
                          r"兄弟|姐妹|亲戚|村里|村委|开发商|商家|包工头|司机|朋友|同事|同学)")
ON_SPOT_SUBTYPES = {"邻里纠纷", "物业纠纷", "宅基地/土地"}
MEDIATION_DOMAINS = {"婚姻家庭", "侵权", "房产纠纷", "债权债务", "劳动纠纷", "合同纠纷", "人身损害", "交通事故",
                     "建设工程", "拆迁安置", "抵押担保"}


def needs_visit(text: str) -> bool:
    """A live dispute that needs someone on the spot (the intake form starts after the answer)."""
    t = normalize(text)
    if not _SPOT_TOPIC.search(t) or _LAW_QUESTION.search(t) or _NOT_SPOT.search(t):
        return False
    return bool(_SPOT_LIVE.search(t))


def offers_mediation(text: str, domain: Optional[str]) -> bool:
    """After an answer: another party is involved in a matter mediation can settle."""
    return bool(domain in MEDIATION_DOMAINS and _OTHER_PARTY.search(normalize(text)))


def follow_up(text: str) -> bool:
    """「那要赔多少钱」: a short question that leans on the previous one."""
    t = normalize(text)
    return len(t) <= 14 and bool(re.match(r"^(那|那么|那要|那我|那他|那如果|如果|要是|还有|另外|他要是|对方要是|那还)", t))
