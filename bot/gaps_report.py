"""What officers take away from the gaps: the weekly digest section, its PNG chart, the XLSX export.

The chart uses matplotlib's Agg backend (no display). Without a Chinese font on the machine the
chart's titles are in English and the top gaps are labelled by their number in the digest text,
so no glyph is ever drawn as a box.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core import Document, esc
from bot.i18n import t
from storage import gaps_repo as gr

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.gaps import GapService, GroupView

DIGEST_MAX = 5
CHART_DAYS = 14
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN", "Droid Sans Fallback")


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def digest_section(svc: GapService, now: datetime, lang: str) -> tuple[str, list[GroupView]]:
    """The digest's gaps section (HTML) and the top five topics the chart shows."""
    from bot.gaps import digest_groups

    new, growing = digest_groups(svc, now)
    lines = [t("gaps.digest_title", lang)]
    if not new and not growing:
        lines.append(t("gaps.digest_none", lang))
    for key, views in (("gaps.digest_new", new), ("gaps.digest_growing", growing)):
        if not views:
            continue
        lines.append(t(key, lang, n=len(views)))
        lines.extend(t("gaps.digest_line", lang, label=esc(_short(v.label)), recent=v.recent, before=v.before)
                     for v in views[:DIGEST_MAX])
    lines.append(t("gaps.digest_hint", lang))
    top = [v for v in svc.groups() if v.status == gr.OPEN or v.again][:5]
    return "\n".join(lines), top


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in CJK_FONTS if n in names), None)


def daily(svc: GapService, now: datetime, tz: ZoneInfo, days: int = CHART_DAYS
          ) -> tuple[list[date], list[int], dict[str, list[int]]]:
    """Per local day of the last ``days``: questions answered or refused, and events by kind."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tz)
    with svc.db.session() as s:
        asked = Counter(a.astimezone(tz).date() for a in gr.answers_since(s, since))
        events = gr.daily_counts(s, since)
    per_kind: dict[str, Counter[date]] = {}
    for at, kind in events:
        per_kind.setdefault(kind, Counter())[at.astimezone(tz).date()] += 1
    dates = [first + timedelta(days=i) for i in range(days)]
    kinds = {k: [per_kind.get(k, Counter())[d] for d in dates] for k in ("refused", "clarify", "disliked")}
    return dates, [asked[d] for d in dates], kinds


def chart_png(svc: GapService, now: datetime, tz: ZoneInfo, lang: str, top: Sequence[GroupView]) -> bytes:
    """One PNG: questions per day, the share refused / clarified / 👎, the top five gaps."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    font = cjk_font()
    zh = lang == "zh" and font is not None
    dates, asked, kinds = daily(svc, now, tz)
    fig = Figure(figsize=(8, 9), dpi=100)
    ax1, ax2, ax3 = fig.subplots(3, 1)
    x = list(range(len(dates)))
    ticks = [d.strftime("%m-%d") for d in dates]
    ax1.bar(x, asked, color="#4e79a7")
    ax1.set_title("每日提问数" if zh else "Questions per day")
    ax1.set_xticks(x, ticks, rotation=45, fontsize=7)
    names = {"refused": "拒答" if zh else "refused", "clarify": "需澄清" if zh else "clarified",
             "disliked": "点踩" if zh else "thumbs down"}
    colors = {"refused": "#e15759", "clarify": "#f28e2b", "disliked": "#76b7b2"}
    bottom = [0.0] * len(dates)
    for k in ("refused", "clarify", "disliked"):
        share = [100.0 * n / a if a else 0.0 for n, a in zip(kinds[k], asked, strict=True)]
        ax2.bar(x, share, bottom=bottom, color=colors[k], label=names[k])
        bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    ax2.set_title("拒答 / 澄清 / 点踩 占提问的比例 (%)" if zh else "Share of questions refused / clarified / thumbs down (%)")
    ax2.set_xticks(x, ticks, rotation=45, fontsize=7)
    ax2.set_ylim(0, max(100.0, *bottom))
    ax2.legend(fontsize=7, loc="upper left", ncols=3, framealpha=0.9)
    labels = [(_short(v.label, 24) if zh else f"#{i}") for i, v in enumerate(top, 1)][::-1]
    bars = ax3.barh(range(len(top)), [v.count for v in top][::-1], color="#59a14f")
    ax3.bar_label(bars, fontsize=8, padding=2)
    ax3.set_yticks(range(len(top)), labels, fontsize=8)
    ax3.set_title("前五个知识盲区（次数）" if zh else "Top five gaps (questions; numbers as in /gaps)")
    if not top:
        ax3.text(0.5, 0.5, "—", ha="center", va="center", transform=ax3.transAxes)
    if font is not None:
        for ax in (ax1, ax2, ax3):
            for item in [ax.title, *ax.get_yticklabels(), *ax.get_xticklabels()]:
                item.set_fontfamily(font)
        legend = ax2.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_fontfamily(font)
    fig.tight_layout()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a missing glyph must never stop a digest
        fig.savefig(buf, format="png")
    return buf.getvalue()


def digest_extra(svc: GapService, now: datetime, tz: ZoneInfo, lang: str) -> tuple[str, Document | None]:
    """The digest's gaps section and the chart to attach (no chart, and no model loaded, when nobody
    asked anything in the chart's days)."""
    since = now - timedelta(days=CHART_DAYS)
    with svc.db.session() as s:
        quiet = not gr.answers_since(s, since) and not gr.daily_counts(s, since)
    if quiet:
        return t("gaps.digest_title", lang) + "\n" + t("gaps.digest_none", lang), None
    svc.refresh(now)
    text, top = digest_section(svc, now, lang)
    png = chart_png(svc, now, tz, lang, top)
    name = f"gaps-{now.astimezone(tz).date().isoformat()}.png"
    caption = "\n".join([t("gaps.chart_caption", lang), *(f"#{i} {esc(_short(v.label, 50))}" for i, v in
                                                           enumerate(top, 1))])
    return text, Document(name, png, caption=caption)


def export_xlsx(views: Sequence[GroupView], svc: GapService, path: Path, tz: ZoneInfo) -> None:
    """A workbook for a meeting: one row per topic, and every question of each (askers never shown)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    def local(at: datetime | None) -> str:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "gaps"
    ws.append(["#", "topic", "status", "count", "askers", "refused", "clarify", "disliked", "reask",
               "first_seen", "last_seen", "examples"])
    for i, v in enumerate(views, 1):
        ws.append([i, v.label, v.status, v.count, v.askers, v.kinds.get("refused", 0), v.kinds.get("clarify", 0),
                   v.kinds.get("disliked", 0), v.kinds.get("reask", 0), local(v.first_seen), local(v.last_seen),
                   "\n".join(v.examples)])
        ws.cell(row=i + 1, column=12).alignment = Alignment(wrap_text=True, vertical="top")
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.column_dimensions["B"].width = 40
    ws.column_dimensions["L"].width = 60
    ws.freeze_panes = "A2"
    qs = wb.create_sheet("questions")
    qs.append(["#", "topic", "question"])
    for i, v in enumerate(views, 1):
        for q in svc.examples(v.id, n=500):
            qs.append([i, v.label, q])
    for cell in qs[1]:
        cell.font = Font(bold=True)
    qs.column_dimensions["B"].width = 40
    qs.column_dimensions["C"].width = 80
    wb.save(path)
