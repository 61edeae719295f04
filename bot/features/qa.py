"""The policy Q&A in chat: free text and /ask answer from the scheme; /clause shows a clause.

Answers carry 👍/👎 buttons (stored with the question, cited clauses and user) and a
"full text" button per cited clause. The previous turn's topic is kept per chat (``qa`` state)
so that follow-ups such as “那成员单位呢？” are understood.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.config import LLM_PROVIDERS
from bot.core import Button, Ctx, Outcome, Reply, esc
from bot.errors import UserError
from storage import repo
from storage.db import savepoint

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from sqlalchemy.orm import Session

    from bot.app import App
    from bot.config import Settings
    from knowledge.service import Answer, QAService

log = logging.getLogger(__name__)
STATE_KEY = "qa"
CLOUD_LLM_ENDPOINTS = {LLM_PROVIDERS[p] for p in ("openai", "deepseek", "dashscope")}


def build_service(app: App) -> QAService:
    from bot.documents_io import build_kwargs
    from knowledge.service import QAService

    s = app.settings
    # the published documents (bundled scheme first), when the service takes them
    extra = build_kwargs(QAService.build, app.db)
    svc = QAService.build(s.data_dir, s.embedding_backend, s.embedding_model, chroma=chroma_connect(s), **extra)
    svc.llm = chat_model(s)
    return svc


CHROMA_TIMEOUT_SECONDS = 5.0


def chroma_connect(s: Settings) -> Callable[[], Any] | None:
    """The function that connects to the Chroma server of ``CHROMA_URL`` (None: the embedded index in
    DATA_DIR). A server that does not answer its heartbeat is one line (:class:`UserError`), not a traceback."""
    server = s.chroma_server()
    if server is None:
        return None
    host, port, ssl = server
    url = s.chroma_url

    def connect() -> Any:
        import httpx

        try:  # Chroma's own client waits without a time limit: ask first, with one
            r = httpx.get(f"{url}/api/v2/heartbeat", timeout=CHROMA_TIMEOUT_SECONDS)
            r.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise UserError(f"the Chroma server at CHROMA_URL={url} answers its heartbeat with HTTP "
                            f"{exc.response.status_code}: is it a Chroma 1.x server?") from None
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise UserError(f"cannot reach the Chroma server at CHROMA_URL={url} ({reason}): start it (e.g. "
                            f"chroma run --path DIR --host {host} --port {port}) or leave CHROMA_URL empty to "
                            "use the embedded index in DATA_DIR") from None
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            return chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                       settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as exc:  # it answered the heartbeat but not the client (version, tenant)
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise UserError(f"the Chroma server at CHROMA_URL={url} refused the client: {reason}") from None

    return connect


def chat_model(s: Settings) -> BaseChatModel | None:
    """The optional LLM that rewrites answer leads (docs/llm.md), or None: off, or it cannot be built
    (one warning line; answers stay extractive). The API key is never logged."""
    try:
        endpoint = s.llm_endpoint()
    except ValueError as exc:  # settings validated at load; kept for Settings built without validation
        log.warning("LLM off, answers stay extractive: %s", exc)
        return None
    if endpoint is None:
        return None
    base_url, model, api_key = endpoint
    if not api_key and base_url in CLOUD_LLM_ENDPOINTS:
        log.warning("LLM off, answers stay extractive: %s needs LLM_API_KEY", base_url)
        return None
    try:
        from knowledge.llm import make_chat_model

        llm = make_chat_model(base_url, model, api_key, s.llm_timeout_seconds)
    except Exception as exc:  # provider package missing or a value it refuses
        reason = " ".join((str(exc).replace(api_key, "***") if api_key else str(exc)).split())[:200]
        log.warning("LLM off, answers stay extractive: cannot build %s at %s: %s", model, base_url, reason)
        return None
    log.info("LLM rewrites answer leads: %s at %s (timeout %g s)", model, base_url, s.llm_timeout_seconds)
    return llm


def _service(ctx: Ctx) -> QAService:
    svc: QAService = ctx.app.service("qa")
    return svc


def _today(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.app.settings.tz).date()


def _clause_buttons(ctx: Ctx, ans: Answer, answer_id: int) -> list[list[Button]]:
    """The cited clause's full text, then the further clauses (not quoted: one tap away); for a clarify
    outcome the topics (the choice is logged for the knowledge gaps)."""
    rows: list[list[Button]] = []
    if ans.kind == "clarify":
        return [[Button(f"❓ {o.label}"[:60], f"qa:pick:{answer_id}:{o.clause}")] for o in ans.options]
    for c in ans.citations:
        rows.append([Button(ctx.t("qa.btn_full", label=c.shown_label(ctx.lang)), f"qa:full:{c.key or c.clause}")])
    for cid, label in ans.related:
        rows.append([Button(ctx.t("qa.btn_more", label=label), f"qa:full:{cid}")])
    return rows[:5]


def _feedback_row(ctx: Ctx, answer_id: int, vote: int = 0) -> list[Button]:
    up, down = ctx.t("qa.btn_up"), ctx.t("qa.btn_down")
    if vote:
        up, down = (f"✅ {up}", down) if vote > 0 else (up, f"✅ {down}")
    return [Button(up, f"qa:up:{answer_id}"), Button(down, f"qa:down:{answer_id}")]


def _reply(ctx: Ctx, question: str, ans: Answer, *, remember: bool = False) -> Outcome:
    """The answer with its buttons. ``remember``: keep ``ans.context`` as the chat's follow-up context.
    Its writes are one transaction: the context, the answer log and the knowledge-gap signal."""
    if ans.kind in ("canned", "empty"):
        if remember:
            ctx.set_state(STATE_KEY, ans.context)
        return Outcome([Reply(esc(ans.lead))])
    with ctx.app.db.session() as s:
        if remember:
            ctx.set_state(STATE_KEY, ans.context, s)
        answer_id = repo.log_answer(s, ctx.user.id, ctx.msg.chat_id, question, ans.lang, ans.clause_ids,
                                    ans.refused, ctx.now)
        _gap_signal(ctx, s, question, ans, answer_id)
    buttons = [_feedback_row(ctx, answer_id), *_clause_buttons(ctx, ans, answer_id)]
    return Outcome([Reply(ans.html(), buttons=buttons)])


def answer_text(ctx: Ctx, question: str) -> Outcome:
    svc = _service(ctx)
    context: dict[str, Any] | None = ctx.get_state(STATE_KEY)
    ans = svc.answer(question, "en" if ctx.lang == "en" else None, context, today=_today(ctx))
    return _reply(ctx, question, ans, remember=ans.kind == "answer" and ans.context != context)


def _gap_signal(ctx: Ctx, s: Session, question: str, ans: Answer, answer_id: int) -> None:
    """Refused / clarify outcomes and quick re-asks go to the knowledge-gaps log, in the answer's
    transaction but inside a savepoint: a failure there is logged and undoes only the signal (it never
    breaks an answer)."""
    from bot import gaps

    kind = ans.kind if ans.kind in ("answer", "refused", "clarify") else ("refused" if ans.refused else "answer")
    offered = ans.clause_ids if kind != "clarify" else [o.clause for o in ans.options] or ans.ranked[:3]
    try:
        with savepoint(s):
            gaps.record_answer(s, ctx.user.id, ctx.msg.chat_id, question, ans.lang, kind, offered, answer_id,
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
    out = f"<b>{head}</b>\n<blockquote>{body}</blockquote>"
    english = svc.translation(cid) if ctx.lang == "en" else ""
    if english and len(out) + len(english) < 3900:
        out += f"\n<i>{esc(ctx.t('qa.translation_title'))}</i>\n<blockquote>{esc(english)}</blockquote>"
    return Reply(out)


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
_FULL = re.compile(r"^qa:full:([A-Za-z0-9.:_-]{1,40})$")
_PICK = re.compile(r"^qa:pick:(\d{1,18}):([A-Za-z0-9.:_-]{1,40})$")  # clarify: the answer and the topic chosen


def on_button(ctx: Ctx) -> Outcome:
    data = ctx.msg.callback_data or ""
    m = _FEEDBACK.match(data)
    if m:
        vote = 1 if m.group(1) == "up" else -1
        with ctx.app.db.session() as s:
            row = repo.get_answer(s, int(m.group(2)))
            ok = row is not None and row.chat_id == ctx.msg.chat_id and repo.record_feedback(
                s, int(m.group(2)), ctx.user.id, vote, ctx.now)
            clauses = list(row.clauses or []) if ok and row is not None else []
        if not ok:
            return Outcome(toast=ctx.t("core.stale_button"))
        from bot import gaps

        gaps.on_vote(ctx.app.db, int(m.group(2)), vote, ctx.now)
        # the message keeps its text; its buttons now show the choice (one vote per user, changeable)
        svc = _service(ctx)
        buttons = [_feedback_row(ctx, int(m.group(2)), vote)]
        buttons += [[Button(ctx.t("qa.btn_full", label=c.shown_label(ctx.lang)), f"qa:full:{cid}")]
                    for cid in clauses[:1] if (c := svc.clause(cid)) is not None]
        return Outcome([Reply("", buttons=buttons, edit=True)], toast=ctx.t("qa.thanks_feedback"))
    m = _PICK.match(data)
    if m:  # a "您是想问" topic: recorded for the knowledge-gaps view, then answered with that clause
        with ctx.app.db.session() as s:
            row = repo.get_answer(s, int(m.group(1)))
        if row is not None and row.chat_id == ctx.msg.chat_id:
            from bot import gaps

            gaps.on_choice(ctx.app.db, int(m.group(1)), m.group(2))
            ans = _service(ctx).answer_clause(m.group(2), "en" if ctx.lang == "en" else "zh", _today(ctx))
            if ans is not None:
                return _reply(ctx, ans.question, ans)
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
