"""Roles in chat: admins grant or revoke officer, issue one-time invite codes; audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core import ADMIN, OFFICER, Ctx, Outcome, Reply, esc
from bot.i18n import t
from storage import repo

if TYPE_CHECKING:
    from bot.app import App

INVITE_TTL = timedelta(hours=48)
TZ_FMT = "%Y-%m-%d %H:%M"
JOIN_LIMIT = 5  # wrong invite codes a user may try per JOIN_WINDOW (counted in the audit log)
JOIN_WINDOW = timedelta(hours=1)
JOIN_AUDIT = "/join"  # every redemption attempt (/join CODE and the /start CODE deep link)
JOIN_THROTTLED = "/join:throttled"  # attempts refused unseen because of too many wrong codes


def _target(ctx: Ctx) -> int | None:
    arg = ctx.args.strip().split()[0] if ctx.args.strip() else ""
    return int(arg) if arg.lstrip("-").isdigit() and len(arg) <= 20 else None


def grant(ctx: Ctx) -> Reply:
    target = _target(ctx)
    if target is None:
        return ctx.usage(Reply(ctx.t("admin.need_id", command="/grant")))
    with ctx.app.db.session() as s:
        created = repo.grant_role(s, target, OFFICER, ctx.user.id, ctx.now)
    return Reply(ctx.t("admin.granted" if created else "admin.already", id=target))


def revoke(ctx: Ctx) -> Reply:
    target = _target(ctx)
    if target is None:
        return ctx.usage(Reply(ctx.t("admin.need_id", command="/revoke")))
    if target in ctx.app.settings.officer_chat_ids or target in ctx.app.settings.admin_chat_ids:
        return Reply(ctx.t("admin.configured", id=target))
    with ctx.app.db.session() as s:
        removed = repo.revoke_role(s, target, OFFICER)
    return Reply(ctx.t("admin.revoked" if removed else "admin.not_officer", id=target))


def invite(ctx: Ctx) -> Reply:
    with ctx.app.db.session() as s:
        inv = repo.create_invite(s, OFFICER, ctx.user.id, ctx.now, INVITE_TTL)
        code, expires = inv.code, inv.expires_at
    local = expires.astimezone(ctx.app.settings.tz).strftime(TZ_FMT)
    link = f"https://t.me/{ctx.app.bot_username}?start={code}" if ctx.app.bot_username else ""
    return Reply(ctx.t("admin.invite", code=esc(code), expires=local, link=esc(link)))


def redeem(ctx: Ctx, code: str) -> Outcome:
    """Redeem an invite code; every attempt is audited, and wrong codes are throttled per user."""
    code = code.strip()[:64]
    since = ctx.now - JOIN_WINDOW
    with ctx.app.db.session() as s:
        wrong = repo.audit_times(s, ctx.user.id, JOIN_AUDIT, since, allowed=False)
        if len(wrong) >= JOIN_LIMIT:  # refused without looking at the code: guessing gains nothing
            repo.audit(s, ctx.user.id, JOIN_THROTTLED, code, False, ctx.now)
            again = wrong[len(wrong) - JOIN_LIMIT] + JOIN_WINDOW
            local = again.astimezone(ctx.app.settings.tz).strftime("%H:%M")
            return Outcome([Reply(ctx.t("admin.join_throttled", n=JOIN_LIMIT, time=local))])
        role = repo.redeem_invite(s, code, ctx.user.id, ctx.now)
        repo.audit(s, ctx.user.id, JOIN_AUDIT, code, role is not None, ctx.now)
    admins = [a for a in ctx.app.settings.admin_chat_ids if a != ctx.user.id]
    if role is None:
        left = JOIN_LIMIT - len(wrong) - 1
        text = ctx.t("admin.invite_bad")
        others: list[tuple[int, Reply]] = []
        if left > 0:
            text += "\n" + ctx.t("admin.join_left", n=left)
        else:  # this attempt reached the limit: tell the admins once
            note = Reply(t("admin.join_throttled_note", "zh", id=ctx.user.id, name=esc(ctx.msg.first_name),
                           n=JOIN_LIMIT))
            others = [(a, note) for a in admins]
        return Outcome([Reply(text)], others=others)
    ctx.user.roles.add(role)
    note = Reply(t("admin.invite_used_note", "zh", id=ctx.user.id, name=esc(ctx.msg.first_name)))
    return Outcome([Reply(ctx.t("admin.invite_ok"), menu=True)], others=[(a, note) for a in admins])


def join(ctx: Ctx) -> Outcome:
    if not ctx.args.strip():
        return Outcome([Reply(ctx.t("admin.join_usage"))])
    return redeem(ctx, ctx.args.strip().split()[0])


def audit_log(ctx: Ctx) -> Reply:
    with ctx.app.db.session() as s:
        rows = repo.audit_entries(s, 30)
        lines = [
            f"{r.at.astimezone(ctx.app.settings.tz).strftime(TZ_FMT)} {r.user_id} {esc(r.command)} "
            f"{esc(r.args[:40])} {'✓' if r.allowed else '✗'}"
            for r in rows
        ]
    return Reply(ctx.t("admin.audit_head") + "\n" + ("\n".join(lines) or "—"))


def officers(ctx: Ctx) -> Reply:
    ids = ctx.app.officer_chat_ids()
    return Reply(ctx.t("admin.officers", ids=", ".join(str(i) for i in ids) or "—"))


def register(app: App) -> None:
    r = app.router
    admin_only = {ADMIN}
    r.command("grant", grant, roles=admin_only, help_key="admin.cmd_grant")
    r.command("revoke", revoke, roles=admin_only, help_key="admin.cmd_revoke")
    r.command("invite", invite, roles=admin_only, help_key="admin.cmd_invite")
    r.command("audit", audit_log, roles=admin_only, help_key="admin.cmd_audit")
    r.command("officers", officers, roles={OFFICER}, help_key="admin.cmd_officers")
    r.command("join", join, help_key="admin.cmd_join")
