"""Turn a search result into the resident-facing answer object.

{"answer", "citations": [{"law","article","text"}], "entry_id", "score", "confident", "domain"}
Article text always comes from the corpus, verbatim.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from knowledge.laws import CIVIL_CODE, Article, display_law
from knowledge.search import Result, Searcher
from knowledge.text import MAX_CHARS, classify_input

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 600  # one WeChat text message, comfortably
DISCLAIMER = "温馨提示：以上仅供参考，不能代替律师意见；拿不准可拨打12348法律服务热线。"
NO_ANSWER = ("这个问题我暂时没有把握答准。我可以帮您转给法律明白人（工作人员）来解答，"
             "您也可以拨打12348公共法律服务热线咨询。")
DEFAULT_STEPS = [
    "先和对方协商，保留好聊天记录、收据、照片等证据。",
    "协商不成，可以找村（居）委会或人民调解委员会免费调解。",
    "还解决不了，可以拨打12348咨询，或向法院起诉。",
]
BAD_INPUT = {
    "empty": "您好，请用一两句话说说您遇到的问题，比如「老板拖欠工资怎么办」。",
    "no_text": "没看明白您的意思。请用文字说说遇到了什么事，比如「邻居占了我家宅基地怎么办」。",
    "too_long": f"您发的内容太长了（超过{MAX_CHARS}字）。请用一两句话说说最想问的问题，我好帮您查。",
    "not_chinese": "请用中文说说您遇到的问题，我好帮您查找法律规定。",
    "error": "系统暂时出了点问题，请稍后再问，或拨打12348公共法律服务热线。",
}
CITE_PREFIX = "法律依据："
# Article answers rest on retrieval alone: always offer a person.
OFFER_PERSON = "以上是相关法律规定，仅供参考。情况复杂的话，回复“转人工”，请法律明白人帮您看看；也可拨打12348。"
TRIM_MARK = "……（节选）"


def repealed_note(name: str) -> str:
    return f"《{name}》已于2021年1月1日废止，现在适用《{CIVIL_CODE}》，下面按《{CIVIL_CODE}》回答。"


EXTRA_CITATIONS = 2
OVERRIDE_MARGIN = 0.0


def merge_citations(cited: list[Article], ranked: list) -> tuple[list[Article], list[Article]]:
    """(articles quoted in the answer, all citations) for a curated answer.

    The entry's own articles are quoted (its answer rests on them), in the ranking's order; the
    whole-corpus ranking's best article goes first when it beats every cited one: the entry was often
    written for a neighbouring question (dev set: its first citation was the gold article for 17% of
    questions, the ranking's first for 38%). Up to two more of the ranking's best follow in
    `citations` as related articles, not quoted.
    """
    score = {(h.article.law, h.article.article): h.score for h in ranked}
    cited_keys = {(a.law, a.article) for a in cited}
    best_cited = max((score.get(k, -1.0) for k in cited_keys), default=-1.0)
    # the entry's own articles in the order the ranking puts them (both are the entry's basis)
    quoted = sorted(cited, key=lambda a: -score.get((a.law, a.article), -1.0))
    if ranked:
        top = ranked[0]
        key = (top.article.law, top.article.article)
        if key not in cited_keys and top.score >= best_cited + OVERRIDE_MARGIN:
            quoted = [top.article] + quoted
    seen = {(a.law, a.article) for a in quoted}
    related = []
    for h in ranked[:3]:
        key = (h.article.law, h.article.article)
        if key not in seen and len(related) < EXTRA_CITATIONS:
            seen.add(key)
            related.append(h.article)
    return quoted, quoted + related


def lead_sentence(a: Article) -> str:
    """One plain sentence built only from where the article sits — never a paraphrase of the law."""
    where = ""
    part = (a.chapter or a.section or "").split(" ", 1)
    if len(part) == 2 and part[1].strip():
        where = f"“{part[1].strip()}”部分"
    return f"您说的情况，《{display_law(a.law)}》{where}有规定，最相关的是{a.article}，原文如下："


_steps_cache: dict[str, list[str]] | None = None


def domain_steps(domain: str | None) -> list[str]:
    """Next steps for the domain (knowledge/steps.yml); generic ones when the domain is unknown."""
    global _steps_cache
    if _steps_cache is None:
        import yaml

        path = Path(__file__).resolve().parent / "steps.yml"
        _steps_cache = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return list((_steps_cache or {}).get(domain or "", DEFAULT_STEPS))


def citation_dict(a: Article) -> dict:
    return {"law": a.law, "article": a.article, "text": a.text}


def citation_line(a: Article, limit: int | None = None) -> str:
    """「法律依据：《X》第N条：…」, verbatim; when `limit` is given, whole leading paragraphs only."""
    head = f"{CITE_PREFIX}《{display_law(a.law)}》{a.article}："
    paras = a.text.split("\n")
    full = head + "\n".join(paras)
    if limit is None or len(full) <= limit:
        return full
    kept: list[str] = []
    for p in paras:
        if len(head) + len("\n".join(kept + [p])) + len(TRIM_MARK) > limit:
            break
        kept.append(p)
    if not kept:  # even the first paragraph is long: stop at a sentence end
        room = max(limit - len(head) - len(TRIM_MARK), 20)
        first = paras[0][:room]
        cut = max(first.rfind("。"), first.rfind("；"), first.rfind("，"))
        kept = [first[: cut + 1] if cut > 10 else first]
    return head + "\n".join(kept) + TRIM_MARK


def compose(short: str, articles: list[Article], steps: list[str], note: str | None = None,
            limit: int = MESSAGE_LIMIT, offer: bool = False) -> str:
    """short answer + 法律依据 + 下一步 (+ the offer of a person) + disclaimer, fitted to one message."""
    steps = steps[:4]
    step_block = ("下一步：\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))) if steps else ""
    head = "\n".join(x for x in (note, short) if x)
    tail = OFFER_PERSON if offer else DISCLAIMER

    def assemble(cites: list[str], step_text: str) -> str:
        return "\n\n".join(x for x in [head, *cites, step_text, tail] if x)

    cites = [citation_line(a) for a in articles]
    text = assemble(cites, step_block)
    while len(text) > limit and len(cites) > 1:
        cites.pop()  # the rest stay in `citations`
        text = assemble(cites, step_block)
    if len(text) > limit and cites:
        room = limit - len(assemble([], step_block)) - 2
        if room < 80 and steps:  # keep the law over the third/fourth step
            step_block = "下一步：\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps[:2], 1))
            room = limit - len(assemble([], step_block)) - 2
        cites = [citation_line(articles[0], limit=max(room, 60))]
        text = assemble(cites, step_block)
    return text


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split on blank lines, then lines; a 法律依据 block is kept whole unless it alone is too long."""
    text = (text or "").strip()
    if len(text) <= limit:
        return [text] if text else []
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    pieces: list[str] = []
    for b in blocks:
        if len(b) <= limit:
            pieces.append(b)
            continue
        # An over-long block: break at line ends, then sentence ends.
        cur = ""
        for line in b.split("\n"):
            while len(line) > limit:
                cut = max(line.rfind("。", 0, limit), line.rfind("；", 0, limit))
                cut = cut + 1 if cut > 0 else limit
                if cur:
                    pieces.append(cur)
                    cur = ""
                pieces.append(line[:cut])
                line = line[cut:]
            if cur and len(cur) + 1 + len(line) > limit:
                pieces.append(cur)
                cur = line
            else:
                cur = f"{cur}\n{line}" if cur else line
        if cur:
            pieces.append(cur)
    out: list[str] = []
    for p in pieces:
        if out and len(out[-1]) + 2 + len(p) <= limit:
            out[-1] = f"{out[-1]}\n\n{p}"
        else:
            out.append(p)
    return out


def _reply(answer: str, *, citations=None, entry_id=None, score=0.0, confident=False, domain=None,
           domains=None) -> dict:
    return {"answer": answer, "citations": citations or [], "entry_id": entry_id,
            "score": round(float(score), 4), "confident": bool(confident), "domain": domain,
            "domains": domains or {}}


def build_answer(res: Result, searcher: Searcher, domain: str | None = None) -> dict:
    out = _build_answer(res, searcher, domain)
    # What the knowledge layer knows about the domain: the best entries' domains, weighted.
    out["domains"] = {d: round(w, 3) for d, w in searcher._domain_weights(res.qa, None).items()}
    return out


def _build_answer(res: Result, searcher: Searcher, domain: str | None = None) -> dict:
    c = searcher.c
    note = repealed_note(res.repealed) if res.repealed else None
    corpus = searcher.L.corpus
    top_qa = res.qa[0] if res.qa else None
    guess_domain = domain or (top_qa.entry.domain if top_qa and top_qa.score >= c["tau_qa"] - 0.15 else None)

    qa_ok = bool(top_qa and top_qa.score >= searcher.tau_qa(res.query))
    if res.direct and qa_ok and any((a.law, a.article) in {(c["law"], c["article"]) for c in top_qa.entry.citations}
                                    for a in res.direct):
        res.direct = []  # a curated answer built on that very article says more
    if res.direct:  # asked for an article by number
        a = res.direct[0]
        short = f"您问的是《{display_law(a.law)}》{a.article}，原文如下。"
        return _reply(compose(short, res.direct[:1], [], note), citations=[citation_dict(x) for x in res.direct],
                      score=1.0, confident=True, domain=guess_domain)

    if qa_ok:
        e = top_qa.entry
        quoted, arts = merge_citations([a for a in (corpus.get(ci["law"], ci["article"]) for ci in e.citations) if a],
                                       res.articles)
        return _reply(compose(e.answer, quoted, e.steps, note), citations=[citation_dict(a) for a in arts],
                      entry_id=e.id, score=top_qa.score, confident=True, domain=e.domain)

    top_art = res.articles[0] if res.articles else None
    if top_art and top_art.score >= c["tau_art"]:
        # Second article only when it is nearly as good: one clear basis reads better on a phone.
        arts = [top_art.article] + [h.article for h in res.articles[1:3]
                                    if h.score >= max(c["tau_art"], top_art.score - c.get("second_gap", 0.08))]
        dom = guess_domain or searcher.law_domain.get(top_art.article.law)
        return _reply(compose(lead_sentence(top_art.article), arts[:2], domain_steps(dom), note, offer=True),
                      citations=[citation_dict(a) for a in arts], score=top_art.score, confident=True,
                      domain=dom)

    best = max([h.score for h in res.qa[:1]] + [h.score for h in res.articles[:1]] + [0.0])
    text = "\n".join(x for x in (note, NO_ANSWER) if x)
    return _reply(text, score=best, confident=False, domain=guess_domain)


def ask(text, domain: str | None = None, *, searcher: Searcher | None = None) -> dict:
    """Never raises: bad input and internal errors come back as a polite Chinese reply."""
    try:
        problem, cleaned = classify_input(text)
        if problem:
            return _reply(BAD_INPUT[problem], domain=domain)
        if domain is not None and not isinstance(domain, str):
            domain = None
        if searcher is None:
            from knowledge.search import get_searcher

            searcher = get_searcher()
        res = searcher.search(cleaned, domain=domain)
        return build_answer(res, searcher, domain)
    except Exception:  # the resident must always get a reply
        log.exception("knowledge.ask failed")
        return _reply(BAD_INPUT["error"], domain=domain if isinstance(domain, str) else None)
