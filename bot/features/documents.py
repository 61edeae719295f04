"""Policy documents in chat: officers upload a DOCX/PDF/TXT/MD file, see a preview, confirm or cancel;
``/docs`` lists the documents with their status (officers get withdraw buttons); ``/diff OLD NEW``.

Uploads share the router's one document handler with the registry import: CSV/XLSX files (and a .txt
that is a registry CSV) go to the registry, documents come here. Buttons use the ``docs`` prefix:
``docs:pub|cancel|nosup:<draft>``, ``docs:sup:<draft>:<target>``, ``docs:wd|wdy:<doc>``.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from bot.core import CALLBACK_LIMIT, OFFICER, Button, Ctx, Handler, Outcome, Reply, esc, split_text
from bot.documents_io import new_document, parse_issued, parse_valid_until, refresh_qa, snippet
from knowledge.docparse import MAX_BYTES, DocumentError, read_document
from knowledge.documents import SCHEME_ID, DocumentMeta, diff, notice_on, status_on, validity
from storage.documents_repo import DocumentConflict, DocumentStore

if TYPE_CHECKING:
    from bot.app import App

STATE_KEY = "docs_draft"
REGISTRY_EXT = (".csv", ".xlsx", ".xlsm", ".xls")
DOCUMENT_EXT = (".docx", ".pdf", ".txt", ".md", ".markdown", ".doc")
PREVIEW_HEADINGS = 6
MAX_DIFF_LINES = 40
MAX_WITHDRAW_BUTTONS = 10
ICONS = {"in_force": "✅", "lapsed": "⌛", "superseded": "🔁", "unknown": "❔"}
_EDIT = re.compile(r"^\s*(标题|title|印发日期|印发时间|印发|issued|有效期至|有效期|valid[ -]?until|取代|supersedes)"
                   r"\s*[:：]\s*(.+?)\s*$", re.I)
_NONE_WORDS = {"无", "没有", "none", "no", "-", "不取代"}


def _today(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.app.settings.tz).date()


def _store(ctx: Ctx) -> DocumentStore:
    return DocumentStore(ctx.app.db)


def _conflict(ctx: Ctx, exc: DocumentConflict) -> str:
    key = f"docs.conflict.{exc.code}"
    params = {k: esc(v) for k, v in exc.params.items()}
    try:
        return ctx.t(key, **params)
    except (KeyError, IndexError):
        return ctx.t("docs.conflict.other", error=esc(str(exc)))


def _status_text(ctx: Ctx, status: str) -> str:
    return ctx.t(f"docs.status.{status}")


# -- upload ------------------------------------------------------------------------------------

def _looks_like_registry(content: bytes) -> bool:
    head = content[:400].decode("utf-8", "ignore").lower()
    return "lead_unit" in head and "name" in head


def _is_document(name: str, content: bytes) -> bool | None:
    """True: a policy document; False: a registry file; None: cannot tell."""
    ext = PurePath(name.lower()).suffix
    if ext in REGISTRY_EXT:
        return False
    if ext == ".txt" and _looks_like_registry(content):
        return False
    if ext in DOCUMENT_EXT or content[:5] == b"%PDF-":
        return True
    return None


def make_dispatch(previous: Handler | None) -> Handler:
    def dispatch(ctx: Ctx) -> Any:
        doc = ctx.msg.document
        kind = _is_document(doc.filename, doc.content) if doc is not None else None
        if kind is False and previous is not None:
            return previous(ctx)
        if kind is None:
            if not ctx.has_role(OFFICER):
                ctx.app.audit(ctx.user.id, "upload", doc.filename if doc else "", False, ctx.now)
                return Reply(ctx.t("docs.refused"))
            return Reply(ctx.t("docs.unknown_type", filename=esc(doc.filename if doc else "")))
        return upload(ctx)

    return dispatch


def upload(ctx: Ctx) -> Reply:
    doc = ctx.msg.document
    if not ctx.has_role(OFFICER):
        ctx.app.audit(ctx.user.id, "upload", doc.filename if doc else "", False, ctx.now)
        return Reply(ctx.t("docs.refused"))
    if doc is None or not doc.content:  # the adapter passes no content for files over its upload limit
        return Reply(ctx.t("docs.too_big_or_empty", limit=MAX_BYTES // 1024 // 1024))
    ctx.app.audit(ctx.user.id, "upload", doc.filename, True, ctx.now)
    try:
        parsed = read_document(doc.content, doc.filename, title=doc.caption.strip())
    except DocumentError as exc:
        params = {"filename": doc.filename, **exc.params}
        return Reply(ctx.t(f"docs.err.{exc.code}", **{k: esc(v) for k, v in params.items()}))
    title = doc.caption.strip() or parsed.title or PurePath(doc.filename).stem
    issued = parsed.issued or _today(ctx)
    new = new_document(parsed, title=title[:300], issued=issued, filename=doc.filename)
    store = _store(ctx)
    old = ctx.get_state(STATE_KEY)
    if old and old.get("id"):
        store.discard(str(old["id"]))
    try:
        meta = store.add(new, parsed.corpus, ctx.now, ctx.user.id, publish=False)
    except DocumentConflict as exc:
        return Reply(_conflict(ctx, exc))
    ctx.set_state(STATE_KEY, {"id": meta.id, "issued_missing": parsed.issued is None, "until_given": False,
                              "pages": parsed.pages, "numbered": parsed.numbered})
    return _preview(ctx, meta.id)


def _preview(ctx: Ctx, draft_id: str, *, edit: bool = False, prefix: str = "") -> Reply:
    store = _store(ctx)
    found = store.get(draft_id, drafts=True)
    info = store.info(draft_id)
    state = ctx.get_state(STATE_KEY) or {}
    if found is None or info is None or info["state"] != "draft":
        return Reply(ctx.t("docs.conflict.not_found", doc_id=esc(draft_id)), edit=edit)
    meta, corpus = found
    headings = []
    for c in corpus.clauses.values():
        if c.id == "preamble":
            continue
        extra = c.title if c.title and c.title not in c.label else snippet(c.text, 24) if not c.title else ""
        headings.append(f"• {esc(c.label)} {esc(extra)}".rstrip())
        if len(headings) >= PREVIEW_HEADINGS:
            break
    pages = ctx.t("docs.preview_pages", n=state.get("pages")) if state.get("pages") else ""
    issued = ctx.t("docs.none") if state.get("issued_missing") else meta.issued_text(ctx.lang)
    text = ctx.t(
        "docs.preview", title=esc(meta.title), issuer=esc(meta.issuer), issued=esc(issued),
        valid_until=esc(ctx.t("docs.none") if state.get("issued_missing") and not state.get("until_given")
                        else meta.valid_until_text(ctx.lang) or ctx.t("docs.no_end")),
        supersedes=esc(meta.supersedes or ctx.t("docs.none")), count=len(corpus.clauses),
        format=esc(str(info["format"]).upper()), pages=pages, headings="\n".join(headings),
    )
    notes = []
    if not state.get("numbered", True):
        notes.append(ctx.t("docs.preview_no_structure"))
    if state.get("issued_missing"):
        notes.append(ctx.t("docs.preview_need_issued"))
    published = store.list()
    if any(m.title == meta.title for m in published):
        same = next(m for m in published if m.title == meta.title)
        notes.append("⚠️ " + ctx.t("docs.conflict.title_exists", title=esc(meta.title), doc_id=esc(same.id)))
    notes.append(ctx.t("docs.preview_edit"))
    buttons = [[Button(ctx.t("docs.btn_publish"), f"docs:pub:{draft_id}"),
                Button(ctx.t("docs.btn_cancel"), f"docs:cancel:{draft_id}")]]
    if meta.supersedes:
        buttons.append([Button(ctx.t("docs.btn_no_supersede"), f"docs:nosup:{draft_id}")])
    else:
        row = []
        for m in sorted(published, key=lambda m: m.issued, reverse=True)[:3]:
            data = f"docs:sup:{draft_id}:{m.id}"
            if len(data.encode()) <= CALLBACK_LIMIT:
                row.append(Button(ctx.t("docs.btn_supersede", doc_id=m.id), data))
        if row:
            buttons.append(row)
    body = (prefix + "\n" if prefix else "") + text + "\n\n" + "\n".join(notes)
    return Reply(body, buttons=buttons, edit=edit)


def edit_draft(ctx: Ctx) -> Reply | None:
    """Interceptor: "标题：…", "印发日期：…", "有效期至：…", "取代：…" while a preview waits."""
    text = ctx.msg.text or ""
    m = _EDIT.match(text)
    if m is None or not ctx.has_role(OFFICER):
        return None
    state = ctx.get_state(STATE_KEY)
    if not state or not state.get("id"):
        return None
    draft_id = str(state["id"])
    field, value = m.group(1).lower(), m.group(2).strip()
    store = _store(ctx)
    found = store.get(draft_id, drafts=True)
    if found is None:
        ctx.set_state(STATE_KEY, None)
        return None
    meta, corpus = found
    changes: dict[str, Any] = {}
    try:
        if field in ("标题", "title"):
            changes["title"] = value.strip("《》")[:300]
        elif field in ("印发日期", "印发时间", "印发", "issued"):
            issued, precision = parse_issued(value)
            changes.update(issued=issued, issued_precision=precision)
            if not state.get("until_given"):
                until, until_precision, years = validity(corpus.text, issued, precision)  # type: ignore[arg-type]
                changes.update(valid_until=until, valid_until_precision=until_precision, validity_years=years)
            state["issued_missing"] = False
        elif field in ("取代", "supersedes"):
            target = None if value.lower() in _NONE_WORDS else value
            if target is not None and target not in {x.id for x in store.list()}:
                return Reply(ctx.t("docs.conflict.supersedes_missing", doc_id=esc(target)))
            changes["supersedes"] = target
        else:
            if value.lower() in _NONE_WORDS:
                changes.update(valid_until=None, valid_until_precision="day")
            else:
                given, given_precision = parse_valid_until(value)
                changes.update(valid_until=given, valid_until_precision=given_precision)
            state["until_given"] = True
    except ValueError as exc:
        return Reply(ctx.t("docs.edit_bad", error=esc(str(exc))))
    store.update_draft(draft_id, **changes)
    ctx.set_state(STATE_KEY, state)
    _ = meta
    return _preview(ctx, draft_id, prefix=ctx.t("docs.edited"))


# -- buttons -----------------------------------------------------------------------------------

def button(ctx: Ctx) -> Outcome:
    parts = (ctx.msg.callback_data or "").split(":")
    action = parts[1] if len(parts) > 1 else ""
    if not ctx.has_role(OFFICER):
        ctx.app.audit(ctx.user.id, f"docs:{action}", ":".join(parts[2:]), False, ctx.now)
        return Outcome(toast=ctx.t("docs.officers_only"))
    if len(parts) < 3:
        return Outcome(toast=ctx.t("core.stale_button"))
    doc_id = parts[2]
    ctx.app.audit(ctx.user.id, f"docs:{action}", doc_id, True, ctx.now)
    store = _store(ctx)
    state = ctx.get_state(STATE_KEY) or {}
    if action in ("pub", "cancel", "sup", "nosup") and state.get("id") != doc_id:
        return Outcome([Reply(ctx.t("docs.conflict.not_found", doc_id=esc(doc_id)))], toast=ctx.t("core.stale_button"))
    if action == "cancel":
        store.discard(doc_id)
        ctx.set_state(STATE_KEY, None)
        return Outcome([Reply(ctx.t("docs.cancelled"), edit=True)])
    if action in ("sup", "nosup"):
        target = parts[3] if action == "sup" and len(parts) > 3 else None
        if target is not None and target not in {m.id for m in store.list()}:
            return Outcome(toast=ctx.t("core.stale_button"))
        try:
            store.update_draft(doc_id, supersedes=target)
        except DocumentConflict as exc:
            return Outcome([Reply(_conflict(ctx, exc))])
        return Outcome([_preview(ctx, doc_id, edit=True)])
    if action == "pub":
        if state.get("issued_missing"):
            return Outcome(toast=ctx.t("docs.need_issued_toast"))
        try:
            meta = store.publish(doc_id, ctx.now)
        except DocumentConflict as exc:
            return Outcome([Reply(_conflict(ctx, exc))])
        ctx.set_state(STATE_KEY, None)
        refresh_qa(ctx.app)
        return Outcome([Reply(_published_text(ctx, store, meta), edit=True)])
    if action == "wd":
        found = store.get(doc_id)
        if found is None or found[0].withdrawn:
            return Outcome(toast=ctx.t("core.stale_button"))
        meta = found[0]
        if meta.id == SCHEME_ID:
            return Outcome([Reply(ctx.t("docs.conflict.bundled"))])
        return Outcome([Reply(ctx.t("docs.withdraw_confirm", title=esc(meta.title), doc_id=esc(meta.id)),
                              buttons=[[Button(ctx.t("docs.btn_withdraw_yes"), f"docs:wdy:{meta.id}"),
                                        Button(ctx.t("docs.btn_cancel"), "docs:noop:x")]])])
    if action == "wdy":
        try:
            meta = store.withdraw(doc_id, ctx.now, ctx.user.id)
        except DocumentConflict as exc:
            return Outcome([Reply(_conflict(ctx, exc), edit=True)])
        refresh_qa(ctx.app)
        return Outcome([Reply(ctx.t("docs.withdrawn", title=esc(meta.title), doc_id=esc(meta.id)), edit=True)])
    if action == "noop":
        return Outcome([Reply(ctx.t("docs.cancelled"), edit=True)])
    return Outcome(toast=ctx.t("core.stale_button"))


def _published_text(ctx: Ctx, store: DocumentStore, meta: DocumentMeta) -> str:
    metas = store.list()
    today = _today(ctx)
    info = store.info(meta.id) or {}
    text = ctx.t("docs.published", title=esc(meta.title), doc_id=esc(meta.id), count=info.get("clauses", 0),
                 status=_status_text(ctx, status_on(meta, today, metas)))
    note = notice_on(meta, today, metas, ctx.lang)
    if note:
        text += "\n" + esc(note)
    if meta.supersedes:
        old = next((m for m in metas if m.id == meta.supersedes), None)
        if old is not None:
            text += "\n" + esc(notice_on(old, today, metas, ctx.lang))
    return text


# -- /docs and /diff ---------------------------------------------------------------------------

def list_docs(ctx: Ctx) -> Reply | list[Reply]:
    store = _store(ctx)
    metas = store.list()
    today = _today(ctx)
    lines = [ctx.t("docs.list_title", today=today.isoformat())]
    buttons: list[list[Button]] = []
    for m in metas:
        status = status_on(m, today, metas)
        sup = ctx.t("docs.list_supersedes", doc_id=esc(m.supersedes)) if m.supersedes else ""
        lines.append(ctx.t("docs.list_line", icon=ICONS[status], doc_id=esc(m.id), title=esc(m.title),
                           issued=esc(m.issued_text(ctx.lang)),
                           valid_until=esc(m.valid_until_text(ctx.lang) or ctx.t("docs.no_end")),
                           status=_status_text(ctx, status), supersedes=sup))
        if ctx.has_role(OFFICER) and m.id != SCHEME_ID and len(buttons) < MAX_WITHDRAW_BUTTONS:
            data = f"docs:wd:{m.id}"
            if len(data.encode()) <= CALLBACK_LIMIT:
                buttons.append([Button(ctx.t("docs.btn_withdraw", doc_id=m.id), data)])
    lines.append("")
    lines.append(ctx.t("docs.list_hint"))
    parts = split_text("\n".join(lines))
    replies = [Reply(p) for p in parts]
    replies[-1].buttons = buttons
    return replies


def diff_docs(ctx: Ctx) -> Reply | list[Reply]:
    args = ctx.args.split()
    if len(args) != 2:
        return Reply(ctx.t("docs.diff_usage"))
    store = _store(ctx)
    docs = []
    for doc_id in args:
        found = store.get(doc_id[:64])
        if found is None:
            return Reply(ctx.t("docs.unknown_doc", doc_id=esc(doc_id[:64])))
        docs.append(found)
    (old_meta, old_c), (new_meta, new_c) = docs
    changes = diff(old_c, new_c)
    shown = [c for c in changes if c.text_changed]
    moved = [c for c in changes if not c.text_changed]
    counts = {"added": 0, "removed": 0, "changed": 0}
    for c in shown:
        counts[c.kind] += 1
    lines = [ctx.t("docs.diff_title", old=esc(old_meta.title), new=esc(new_meta.title), n=len(shown), **counts)]
    if not changes:
        lines.append(ctx.t("docs.diff_none"))
    for c in shown[:MAX_DIFF_LINES]:
        if c.kind == "changed":
            frags = "；".join(f"「{esc(snippet(a, 40))}」→「{esc(snippet(b, 40))}」" for a, b in c.fragments(limit=3))
            label = esc(c.new_label if c.old_label == c.new_label else f"{c.old_label} → {c.new_label}")
            lines.append(ctx.t("docs.diff_changed", label=label, text=frags))
        elif c.kind == "added":
            lines.append(ctx.t("docs.diff_added", label=esc(c.new_label), text=esc(snippet(c.new_text, 80))))
        else:
            lines.append(ctx.t("docs.diff_removed", label=esc(c.old_label), text=esc(snippet(c.old_text, 80))))
    if len(shown) > MAX_DIFF_LINES:
        lines.append(ctx.t("docs.diff_more", n=len(shown) - MAX_DIFF_LINES))
    if moved:
        examples = "，".join(esc(f"{c.old_label}→{c.new_label}") for c in moved[:3])
        lines.append(ctx.t("docs.diff_moved", n=len(moved), examples=examples))
    return [Reply(p) for p in split_text("\n".join(lines))]


def register(app: App) -> None:
    r = app.router
    r.command("docs", list_docs, help_key="docs.cmd_docs")
    r.command("diff", diff_docs, help_key="docs.cmd_diff")
    r.callback("docs", button)
    r.intercept(edit_draft)
    r.document_handler = make_dispatch(r.document_handler)
