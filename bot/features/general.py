"""/start, /help, /lang and the main menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core import ADMIN, OFFICER, Button, Ctx, Outcome, Reply, as_outcome, esc
from storage import repo

if TYPE_CHECKING:
    from bot.app import App

SCHEME_TITLE = "云南省创新联合体建设管理工作方案（试行）"


def start(ctx: Ctx) -> Outcome:
    join = ctx.app.router.commands.get("join")
    if ctx.args and join is not None:  # deep link: /start <invite code> — what /join does
        return as_outcome(join.handler(ctx))
    text = ctx.t("general.welcome", title=esc(SCHEME_TITLE), name=esc(ctx.msg.first_name or ""))
    return Outcome([Reply(text, menu=True)])


def help_(ctx: Ctx) -> Reply:
    lines = [ctx.t("general.help_intro")]
    for cmd in ctx.app.router.commands_for(ctx.user.roles):
        assert cmd.help_key
        lines.append(f"/{cmd.name} — {esc(ctx.t(cmd.help_key))}")
    if ctx.has_role(OFFICER):
        lines.append("")
        lines.append(ctx.t("general.help_officer_note"))
    return Reply("\n".join(lines), menu=True)


def lang(ctx: Ctx) -> Reply:
    arg = ctx.args.strip().lower()
    choice = {"zh": "zh", "cn": "zh", "中文": "zh", "chinese": "zh", "en": "en", "english": "en", "英文": "en"}.get(arg)
    if choice is None:
        return Reply(ctx.t("general.lang_pick"), buttons=[[Button("中文", "lang:zh"), Button("English", "lang:en")]])
    return _set_lang(ctx, choice)


def _set_lang(ctx: Ctx, choice: str) -> Reply:
    with ctx.app.db.session() as s:
        repo.set_lang(s, ctx.user.id, choice, ctx.now)
    ctx.user.lang = ctx.user.chosen_lang = choice
    return Reply(ctx.t("general.lang_set"), menu=True)


def lang_button(ctx: Ctx) -> Outcome:
    choice = (ctx.msg.callback_data or "").split(":", 1)[-1]
    if choice not in ("zh", "en"):
        return Outcome(toast=ctx.t("core.stale_button"))
    reply = _set_lang(ctx, choice)
    reply.edit = False
    return Outcome([reply], toast=ctx.t("general.lang_set"))


def whoami(ctx: Ctx) -> Reply:
    roles = ", ".join(sorted(ctx.user.roles))
    return Reply(ctx.t("general.whoami", id=ctx.user.id, roles=esc(roles), lang=ctx.lang))


def register(app: App) -> None:
    r = app.router
    r.command("start", start, help_key="general.cmd_start")
    r.command("help", help_, help_key="general.cmd_help", group_ok=True)
    r.command("menu", start)
    r.command("lang", lang, help_key="general.cmd_lang")
    r.command("whoami", whoami, help_key="general.cmd_whoami")
    r.callback("lang", lang_button)
    r.menu_button("menu.help", "help")
    _ = ADMIN
