"""The policy Q&A in chat: free text and /ask answer from the scheme; /clause shows a clause.

Answers carry 👍/👎 buttons (stored with the question, cited clauses and user) and a
"full text" button per cited clause. The previous turn's topic is kept per chat (``qa`` state)
so that follow-ups such as “那成员单位呢？” are understood.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from bot.core import Button, Ctx, Outcome, Reply, esc
from storage import repo

if TYPE_CHECKING:
    from bot.app import App
    from knowledge.service import Answer, QAService

log = logging.getLogger(__name__)
STATE_KEY = "qa"


def build_service(app: App) -> QAService:
    from knowledge.service import QAService

    s = app.settings
    return QAService.build(s.data_dir, s.embedding_backend, s.embedding_model, s.llm_model)


def _service(ctx: Ctx) -> QAService:
    svc: QAService = ctx.app.service("qa")
    return svc


def _buttons(ctx: Ctx, ans: Answer, answer_id: int) -> list[list[Button]]:
    if ans.kind == "clarify":  # up to three topic buttons; the choice is logged for the knowledge gaps
        return [[Button(label[:60], f"qa:pick:{answer_id}:{cid}")] for cid, label in ans.related[:3]]
    rows = [[Button(ctx.t("qa.btn_up"), f"qa:up:{answer_id}"), Button(ctx.t("qa.btn_down"), f"qa:down:{answer_id}")]]
    for c in ans.citations:
        rows.append([Button(ctx.t("qa.btn_full", label=c.label), f"qa:full:{c.clause}")])
    return rows


def answer_text(ctx: Ctx, question: str) -> Outcome:
    svc = _service(ctx)
    context: dict[str, Any] | None = ctx.get_state(STATE_KEY)
    ans = svc.answer(question, "en" if ctx.lang == "en" else None, context)
    if ans.kind in ("canned", "empty"):
        return Outcome([Reply(esc(ans.lead))])
    if ans.kind == "answer" and ans.context != context:
        ctx.set_state(STATE_KEY, ans.context)
    with ctx.app.db.session() as s:
        answer_id = repo.log_answer(s, ctx.user.id, ctx.msg.chat_id, question, ans.lang, ans.clause_ids,
                                    ans.refused, ctx.now)
    _gap_signal(ctx, question, ans, answer_id)
    return Outcome([Reply(ans.html(), buttons=_buttons(ctx, ans, answer_id))])


def _gap_signal(ctx: Ctx, question: str, ans: Answer, answer_id: int) -> None:
    """Refused / clarify outcomes and quick re-asks go to the knowledge-gaps log (never breaks an answer)."""
    from bot import gaps

    kind = ans.kind if ans.kind in ("answer", "refused", "clarify") else ("refused" if ans.refused else "answer")
    offered = ans.clause_ids if kind != "clarify" else [c for c, _ in ans.related][:3] or ans.ranked[:3]
    try:
        gaps.on_answer(ctx.app.db, ctx.user.id, ctx.msg.chat_id, question, ans.lang, kind, offered, answer_id,
                       ctx.now)
    except Exception:
        log.exception("could not log a knowledge-gap signal")


def on_text(ctx: Ctx) -> Outcome:
    return answer_text(ctx, ctx.msg.text or "")


def ask(ctx: Ctx) -> Outcome:
    if not ctx.args.strip():
        return Outcome([Reply(ctx.t("qa.ask_intro"))])
    return answer_text(ctx, ctx.args)


def _clause_reply(ctx: Ctx, cid: str) -> Reply | None:
    svc = _service(ctx)
    c = svc.clause(cid)
    text = svc.full_clause_text(cid) if c else None
    if c is None or text is None:
        return None
    head = ctx.t("qa.full_title", label=esc(c.label), label_en=esc(c.label_en), title="")
    body = esc(text)
    if len(body) > 3800:
        body = body[:3800] + "……"
    return Reply(f"<b>{head}</b>\n<blockquote>{body}</blockquote>")


def resolve_clause_id(svc: QAService, arg: str) -> str | None:
    from knowledge.retrieve import explicit_refs

    arg = arg.strip().strip("【】[]").replace(" ", "")
    by_lower = {cid.lower(): cid for cid in svc.corpus.ids}
    if arg.lower() in by_lower:
        return by_lower[arg.lower()]
    refs = explicit_refs(arg, svc.corpus)
    return refs[0] if refs else None


def clause(ctx: Ctx) -> Reply:
    arg = ctx.args.strip()
    if not arg:
        return Reply(ctx.t("qa.clause_usage"))
    cid = resolve_clause_id(_service(ctx), arg[:40])
    reply = _clause_reply(ctx, cid) if cid else None
    return reply or Reply(ctx.t("qa.unknown_clause", id=esc(arg[:40])))


_FEEDBACK = re.compile(r"^qa:(up|down):(\d{1,18})$")
_FULL = re.compile(r"^qa:full:([A-Za-z0-9.]{1,20})$")
_PICK = re.compile(r"^qa:pick:(\d{1,18}):([A-Za-z0-9.]{1,20})$")  # clarify: the topic chosen


def on_button(ctx: Ctx) -> Outcome:
    data = ctx.msg.callback_data or ""
    m = _FEEDBACK.match(data)
    if m:
        vote = 1 if m.group(1) == "up" else -1
        with ctx.app.db.session() as s:
            row = repo.get_answer(s, int(m.group(2)))
            ok = row is not None and row.chat_id == ctx.msg.chat_id and repo.record_feedback(
                s, int(m.group(2)), ctx.user.id, vote, ctx.now)
        if ok:
            from bot import gaps

            gaps.on_vote(ctx.app.db, int(m.group(2)), vote, ctx.now)
        return Outcome(toast=ctx.t("qa.thanks_feedback") if ok else ctx.t("core.stale_button"))
    m = _PICK.match(data)
    if m:  # a topic button of a clarify outcome: recorded for the knowledge-gaps view, then shown
        with ctx.app.db.session() as s:
            row = repo.get_answer(s, int(m.group(1)))
        if row is not None and row.chat_id == ctx.msg.chat_id:
            from bot import gaps

            gaps.on_choice(ctx.app.db, int(m.group(1)), m.group(2))
            reply = _clause_reply(ctx, m.group(2))
            if reply is not None:
                return Outcome([reply])
        return Outcome(toast=ctx.t("core.stale_button"))
    m = _FULL.match(data)
    if m:
        reply = _clause_reply(ctx, m.group(1))
        if reply is not None:
            return Outcome([reply])
    return Outcome(toast=ctx.t("core.stale_button"))


def register(app: App) -> None:
    r = app.router
    app.provide("qa", build_service)
    r.fallback = on_text
    r.command("ask", ask, help_key="qa.cmd_ask")
    r.command("clause", clause, help_key="qa.cmd_clause")
    r.callback("qa", on_button)
    r.menu_button("menu.ask", "ask")
