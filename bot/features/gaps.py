"""/gaps for officers: topics people asked about that the bot could not answer well, with buttons to
open one, see its questions, mark it handled or ignored, or write an answer that becomes an FAQ entry
(previewed; nothing is published before the officer confirms). Buttons use the ``gp`` prefix."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core import OFFICER, Button, Ctx, Outcome, Reply, esc
from bot.gaps import MAX_ANSWER, GapService, GroupView, parse_answer, push_faq
from storage import gaps_repo as gr

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
STATE = "gaps"
LABEL_CHARS = 80
REFRESH_INLINE = 16  # events embedded while an officer waits (one batch); the rest by the background job


def build_service(app: App) -> GapService:
    s = app.settings
    return GapService(app.db, backend=s.embedding_backend, model=s.embedding_model)


def service(ctx: Ctx) -> GapService:
    svc: GapService = ctx.app.service("gaps")
    return svc


def _short(text: str, n: int = LABEL_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return esc(text if len(text) <= n else text[: n - 1] + "…")


def _when(ctx: Ctx, at: datetime | None) -> str:
    return at.astimezone(ctx.app.settings.tz).strftime("%Y-%m-%d %H:%M") if at else "—"


def kinds_text(kinds: dict[str, int], lang: str) -> str:
    from bot.i18n import t

    sep = "，" if lang == "zh" else ", "
    return sep.join(t(f"gaps.kind_{k}", lang, n=n) for k, n in kinds.items() if n) or "—"


# -- views ----------------------------------------------------------------------------------------

def _list(ctx: Ctx, edit: bool = False) -> Reply:
    svc = service(ctx)
    pending = 0
    try:
        svc.refresh(ctx.now, max_new=None if ctx.app.shell else REFRESH_INLINE)  # the shell has no background job
        pending = svc.pending()
    except Exception:  # the model failing must not hide what is already grouped
        log.exception("gaps refresh failed")
    views = [v for v in svc.groups() if v.status == gr.OPEN or v.again]
    top = views[:10]
    note = ("\n" + ctx.t("gaps.pending", n=pending)) if pending else ""
    if not top:
        return Reply(ctx.t("gaps.none") + note, edit=edit)
    lines = [ctx.t("gaps.title", n=len(top), total=len(views))]
    for i, v in enumerate(top, 1):
        again = ctx.t("gaps.again", n=v.again) if v.again else ""
        lines.append(ctx.t("gaps.line", i=i, label=_short(v.label), count=v.count, askers=v.askers,
                           kinds=kinds_text(v.kinds, ctx.lang), last=_when(ctx, v.last_seen), again=again))
    if note:
        lines.append(note.strip())
    btns = [Button(ctx.t("gaps.btn_open", i=i), f"gp:o:{v.id}") for i, v in enumerate(top, 1)]
    rows = [btns[:5], btns[5:]] if len(btns) > 5 else [btns]
    return Reply("\n".join(lines), buttons=rows, edit=edit)


def _card(ctx: Ctx, v: GroupView, edit: bool = True) -> Reply:
    examples = "\n".join(f"• {_short(q, 120)}" for q in v.examples) or "—"
    text = ctx.t("gaps.card", label=_short(v.label, 120), status=ctx.t(f"gaps.status_{v.status}"), count=v.count,
                 askers=v.askers, kinds=kinds_text(v.kinds, ctx.lang), first=_when(ctx, v.first_seen),
                 last=_when(ctx, v.last_seen), examples=examples)
    if v.again:
        text += "\n" + ctx.t("gaps.again", n=v.again).strip(" ·")
    gid = v.id
    rows = [[Button(ctx.t("gaps.btn_answer"), f"gp:a:{gid}"), Button(ctx.t("gaps.btn_examples"), f"gp:e:{gid}")]]
    if v.status == gr.OPEN:
        rows.append([Button(ctx.t("gaps.btn_handled"), f"gp:h:{gid}"), Button(ctx.t("gaps.btn_ignore"), f"gp:i:{gid}")])
    else:
        rows.append([Button(ctx.t("gaps.btn_reopen"), f"gp:r:{gid}")])
    rows.append([Button(ctx.t("gaps.btn_back"), "gp:l")])
    return Reply(text, buttons=rows, edit=edit)


def _open(ctx: Ctx, gid: int) -> Outcome:
    v, exists = service(ctx).group(gid)
    if v is None:
        key = "gaps.empty_group" if exists else "gaps.gone"
        return Outcome([Reply(ctx.t(key))], toast=ctx.t(key)[:190])
    return Outcome([_card(ctx, v)])


def _examples(ctx: Ctx, gid: int) -> Outcome:
    v, exists = service(ctx).group(gid)
    if v is None:
        key = "gaps.empty_group" if exists else "gaps.gone"
        return Outcome([Reply(ctx.t(key))])
    qs = service(ctx).examples(gid)
    text = ctx.t("gaps.examples_title", label=_short(v.label), n=len(qs)) + "\n" + "\n".join(
        f"• {_short(q, 200)}" for q in qs)
    return Outcome([Reply(text, buttons=[[Button(ctx.t("gaps.btn_back"), f"gp:o:{gid}")]])])


def gaps_command(ctx: Ctx) -> Reply:
    if ctx.get_state(STATE):  # /gaps gives up an answer being written
        ctx.set_state(STATE, None)
    return _list(ctx)


# -- writing an answer ----------------------------------------------------------------------------

def _start_answer(ctx: Ctx, gid: int) -> Outcome:
    v, exists = service(ctx).group(gid)
    if v is None:
        key = "gaps.empty_group" if exists else "gaps.gone"
        return Outcome([Reply(ctx.t(key))])
    ctx.set_state(STATE, {"g": gid, "step": "write", "v": v.version})
    return Outcome([Reply(ctx.t("gaps.answer_prompt", label=_short(v.label), max=MAX_ANSWER),
                          buttons=[[Button(ctx.t("gaps.btn_cancel"), "gp:x")]])])


def _corpus() -> Any:
    from knowledge.corpus import load

    return load()


def on_text(ctx: Ctx) -> Outcome | None:
    """The officer's typed answer while a topic waits for one."""
    st = ctx.get_state(STATE)
    if not st or st.get("step") != "write":
        return None
    if not ctx.has_role(OFFICER):
        ctx.set_state(STATE, None)
        return None
    corpus = _corpus()
    draft, err, kw = parse_answer(ctx.msg.text or "", corpus)
    cancel = [[Button(ctx.t("gaps.btn_cancel"), "gp:x")]]
    if draft is None:
        return Outcome([Reply(ctx.t(err, **{k: esc(v) for k, v in kw.items()}), buttons=cancel)])
    gid = int(st["g"])
    v, exists = service(ctx).group(gid)
    if v is None:
        ctx.set_state(STATE, None)
        return Outcome([Reply(ctx.t("gaps.empty_group" if exists else "gaps.gone"))])
    ctx.set_state(STATE, {"g": gid, "step": "preview", "clause": draft.clause, "zh": draft.answer_zh,
                          "en": draft.answer_en, "v": st.get("v")})
    c = corpus.clauses[draft.clause]
    quote = corpus.full_text(draft.clause) or c.text or c.title
    answer = "\n".join(x for x in (esc(draft.answer_zh), esc(draft.answer_en)) if x)
    label = c.shown_label(ctx.lang)
    text = ctx.t("gaps.preview", questions="\n".join(f"• {_short(q, 120)}" for q in v.examples), answer=answer,
                 clause=esc(label), quote=esc(quote[:600] + ("……" if len(quote) > 600 else "")))
    return Outcome([Reply(text, buttons=[[Button(ctx.t("gaps.btn_confirm"), f"gp:c:{gid}"),
                                          Button(ctx.t("gaps.btn_cancel"), "gp:x")]])])


def _confirm(ctx: Ctx, gid: int) -> Outcome:
    st = ctx.get_state(STATE)
    if not st or st.get("step") != "preview" or st.get("g") != gid:
        return Outcome([Reply(ctx.t("gaps.no_draft"))], toast=ctx.t("gaps.no_draft")[:190])
    version = st.get("v")
    result, data = service(ctx).confirm_answer(gid, str(st["clause"]), str(st.get("zh", "")), str(st.get("en", "")),
                                               ctx.user.id, ctx.now, version if isinstance(version, int) else None)
    ctx.set_state(STATE, None)
    if result == "already":
        status, who, at = data
        msg = ctx.t("gaps.already", who=esc(who if who is not None else "—"), at=_when(ctx, at),
                    status=ctx.t(f"gaps.status_{status}"))
        return Outcome([Reply(msg)], toast=msg[:190])
    if result in ("gone", "empty"):
        key = "gaps.gone" if result == "gone" else "gaps.empty_group"
        return Outcome([Reply(ctx.t(key))], toast=ctx.t(key)[:190])
    publish_faq(ctx.app)
    corpus = _corpus()
    c = corpus.clauses.get(data.clause)
    label = c.shown_label(ctx.lang) if c else data.clause
    msg = ctx.t("gaps.published", n=len(data.questions), clause=esc(label))
    return Outcome([Reply(msg, edit=True)], toast=msg[:190])


def publish_faq(app: App) -> None:
    """Give the Q&A service the stored FAQ (when it is built and takes one)."""
    if not app.has_service("qa"):
        return
    try:
        push_faq(app.service("qa"), app.db)
    except Exception:
        log.exception("could not hand the FAQ to the Q&A service")


# -- buttons --------------------------------------------------------------------------------------

_BUTTON = re.compile(r"^gp:(l|x|[oeahirc]:(\d{1,12}))$")
_STATUS = {"h": gr.HANDLED, "i": gr.IGNORED, "r": gr.OPEN}


def on_button(ctx: Ctx) -> Outcome:
    data = ctx.msg.callback_data or ""
    m = _BUTTON.match(data)
    if m is None:
        return Outcome(toast=ctx.t("core.stale_button"))
    if not ctx.has_role(OFFICER):
        ctx.app.audit(ctx.user.id, "gaps-button", data, False, ctx.now)
        return Outcome([Reply(ctx.t("core.not_allowed"))], toast=ctx.t("core.not_allowed")[:190])
    action = m.group(1)[0]
    if action == "l":
        return Outcome([_list(ctx, edit=True)])
    if action == "x":
        ctx.set_state(STATE, None)
        return Outcome([Reply(ctx.t("gaps.cancelled"))], toast=ctx.t("gaps.cancelled"))
    gid = int(m.group(2))
    if action == "o":
        return _open(ctx, gid)
    if action == "e":
        return _examples(ctx, gid)
    if action == "a":
        return _start_answer(ctx, gid)
    if action == "c":
        return _confirm(ctx, gid)
    status = _STATUS[action]
    if not service(ctx).set_status(gid, status, ctx.user.id, ctx.now):
        return Outcome([Reply(ctx.t("gaps.gone"))], toast=ctx.t("gaps.gone")[:190])
    ctx.app.audit(ctx.user.id, "gaps-" + status, str(gid), True, ctx.now)
    toast = ctx.t("gaps.marked", status=ctx.t(f"gaps.status_{status}"))
    out = _open(ctx, gid)
    out.toast = toast
    return out


def register(app: App) -> None:
    r = app.router
    app.provide("gaps", build_service)
    r.command("gaps", gaps_command, roles={OFFICER}, help_key="gaps.cmd_gaps")
    r.callback("gp", on_button)
    r.intercept(on_text)
    if app.has_service("qa"):  # the stored FAQ goes to the Q&A service as soon as it is built
        app.after_build("qa", lambda qa: push_faq(qa, app.db))
