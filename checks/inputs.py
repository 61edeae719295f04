"""What people type, read one way everywhere: dates, counts and amounts (pure, no clock).

One parser each, shared by the registry import, the checklist dialog, the CLI and the Q&A amounts:

- ``parse_date``: 2024-05-10, 2024/5/10, 2024.5.10, 2024年5月10日, date/datetime cells, Excel serial
  day numbers (from a file) → ``date``; ``ValueError`` with a readable cause otherwise.
- ``parse_number``: 3, 1,500,000, 1.5, 两个, 三家, 一百五十, 十二 → ``Decimal`` (units such as 万/亿/w/k
  multiply: 150w → 1,500,000).
- ``parse_amount_wan``: an amount of money in 万元 (the checklists' unit): 150万 → 150, 1,500,000元 → 150,
  0.5亿 → 5000, 100w → 100, 一百五十万 → 150; a bare number is taken as 万元.
- ``funding``: the 2:1 self-raised funding calculator (四、（四）) the checklists and the Q&A share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Context, Decimal, InvalidOperation
from typing import Any

EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_MAX = 2958466  # 9999-12-31
_DATE_RE = re.compile(r"^\s*(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?\s*$")
DATE_FORMS = "YYYY-MM-DD, YYYY/M/D, YYYY.M.D, YYYY年M月D日"


def parse_date(value: Any) -> date:
    """A date as people and spreadsheets write it; ValueError with a readable cause otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < EXCEL_MAX:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError(f"{value!r} is not a date (use {DATE_FORMS})")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date (use {DATE_FORMS})")
    text = value.strip()
    if re.fullmatch(r"\d{5}(\.0+)?", text):  # an Excel serial number that went through CSV
        return EXCEL_EPOCH + timedelta(days=int(float(text)))
    m = _DATE_RE.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a date (use {DATE_FORMS})")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a real date ({exc})") from None


# -- numbers -------------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
              "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_CN_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
CN_NUMERAL = "".join((*_CN_DIGITS, *_CN_SMALL, *_CN_BIG)) + "点"
_UNIT = {"": 1, "万": 10_000, "萬": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "k": 1000, "K": 1000,
         "千": 1000, "百万": 1_000_000, "千万": 10_000_000, "百": 100}
# a number: Arabic (with thousands separators / decimals) or Chinese numerals, then an optional unit
NUMBER_RE = re.compile(
    r"(?P<num>[-−]?\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?|[-−]?\d+(?:\.\d+)?(?:[eE]\d+)?|[" + CN_NUMERAL + r"]+)"
    r"\s*(?P<unit>百万|千万|万|萬|亿|[wWkK](?![A-Za-z])|千|百)?")
_MAX = Decimal("1e15")


def cn_numeral(text: str) -> Decimal | None:
    """一百五十 → 150, 两 → 2, 十二 → 12, 一万二千 → 12000, 三点五 → 3.5, 一五〇 → 150; None when not a numeral."""
    if not text or any(ch not in CN_NUMERAL for ch in text):
        return None
    if "点" in text:
        whole, _, frac = text.partition("点")
        w = cn_numeral(whole) if whole else Decimal(0)
        if w is None or not frac or any(ch not in _CN_DIGITS for ch in frac):
            return None
        return w + Decimal("0." + "".join(str(_CN_DIGITS[ch]) for ch in frac))
    if all(ch in _CN_DIGITS for ch in text) and len(text) > 1:  # digit by digit: 一五〇 (两三 is a range)
        if "两" in text:
            return None
        return Decimal("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None:  # 两三 → ambiguous
                return None
            digit = _CN_DIGITS[ch]
        elif ch in _CN_SMALL:
            section += (1 if digit is None else digit) * _CN_SMALL[ch]
            digit = None
        else:  # 万 / 亿
            section += digit or 0
            total = (total + section) * _CN_BIG[ch] if _CN_BIG[ch] > total else total + section * _CN_BIG[ch]
            section, digit = 0, None
    return Decimal(total + section + (digit or 0))


def _to_decimal(num: str) -> Decimal | None:
    num = num.replace(",", "").replace("，", "").replace("−", "-")
    try:
        value = Decimal(num)
    except InvalidOperation:
        value = cn_numeral(num)  # type: ignore[assignment]
    if value is None or not value.is_finite():
        return None
    return value


@dataclass(frozen=True)
class Number:
    value: Decimal  # units applied (150w → 1500000)
    unit: str  # as written: "", 万, w, 亿, k …
    start: int
    end: int


def find_numbers(text: str) -> list[Number]:
    """Every number in a text with its unit applied (callers decide by context which are amounts)."""
    out: list[Number] = []
    for m in NUMBER_RE.finditer(text):
        num, unit = m.group("num"), m.group("unit") or ""
        if num[0] in CN_NUMERAL and num in ("万", "亿", "千", "百", "十", "点"):
            continue
        if num[0] in CN_NUMERAL and not unit and num[-1] in "万萬亿" and len(num) > 1:  # 一百五十万: 万 is the unit
            num, unit = num[:-1], num[-1]
        value = _to_decimal(num)
        if value is None:
            continue
        out.append(Number(value * _UNIT.get(unit, 1), unit, m.start(), m.end()))
    return out


def parse_number(text: str) -> Decimal:
    """A count or quantity typed alone: 3, 1,500,000, 1.5, 两个, 三家, 一百五十, 150w. ValueError otherwise."""
    t = re.sub(r"\s+", "", str(text))
    t = re.sub(r"(个|家|所|位|人|名|项|次|年|元|块|份|条)$", "", t)
    nums = find_numbers(t)
    if len(nums) != 1 or nums[0].start != 0 or nums[0].end != len(t):
        raise ValueError(f"'{text}' is not a number")
    if abs(nums[0].value) > _MAX:
        raise ValueError(f"'{text}' is too large")
    return nums[0].value


def parse_amount_wan(text: str) -> Decimal:
    """An amount of money typed alone, in 万元: 150 / 150万 / 150万元 / 1,500,000元 / 0.5亿 / 100w / 一百五十万.
    A bare number is 万元 (the unit the question states); a number with 元 alone is yuan."""
    t = re.sub(r"\s+", "", str(text)).replace("人民币", "").replace("RMB", "").replace("CNY", "")
    yuan = t.endswith("元") and not t.endswith("万元") and not t.endswith("亿元")
    t = re.sub(r"(元|块钱|块)$", "", t)
    nums = find_numbers(t)
    if len(nums) != 1 or nums[0].start != 0 or nums[0].end != len(t):
        raise ValueError(f"'{text}' is not an amount")
    n = nums[0]
    if abs(n.value) > _MAX:
        raise ValueError(f"'{text}' is too large")
    if yuan and not n.unit:
        return n.value / 10_000
    return n.value / 10_000 if n.unit else n.value


# -- the 2:1 funding calculator (四、（四）) ----------------------------------------------------------------

_CTX = Context(prec=800)  # exact for any finite float (≤ 309 integer digits) to 4 places


def fmt_decimal(d: Decimal, places: int, rounding: str) -> str:
    """``d`` to ``places`` decimals (rounded as ``rounding``), without trailing zeros."""
    q = Context(prec=_CTX.prec, rounding=rounding).quantize(d, Decimal(1).scaleb(-places))
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Funding:
    """Self-raised funds against the provincial funds requested, at a minimum ratio (2 : 1)."""

    requested: Decimal
    raised: Decimal | None
    ratio_min: Decimal
    min_required: Decimal  # ratio_min × requested
    shortfall: Decimal | None  # how much more must be raised (0 when enough); None when raised unknown
    holds: bool | None  # None when raised unknown

    def amount(self, d: Decimal, up: bool = False) -> str:
        """An amount to 1 元 (4 places of 万元), without trailing zeros; rounded up when ``up``."""
        return fmt_decimal(d, 4, ROUND_CEILING if up else "ROUND_HALF_EVEN")

    @property
    def ratio(self) -> str:
        """raised : requested, truncated to 2 places (never reads as the minimum when below it); — when
        nothing is requested."""
        if self.raised is None or not self.requested:
            return "—"
        exact = _CTX.divide(self.raised, self.requested)
        if self.holds:
            exact = max(exact, self.ratio_min)
        return fmt_decimal(exact, 2, ROUND_DOWN)


def funding(requested: Any, raised: Any = None, ratio_min: Any = 2, tolerance: float = 1e-9) -> Funding:
    """The self-raised funds needed for ``requested`` provincial funds, and whether ``raised`` is enough."""
    req = _dec(requested)
    k = _dec(ratio_min)
    need = _CTX.multiply(k, req)
    if raised is None:
        return Funding(req, None, k, need, None, None)
    got = _dec(raised)
    holds = got >= need or (need - got) <= Decimal(repr(tolerance)) * max(Decimal(1), need)
    short = Decimal(0) if holds else _CTX.subtract(need, got)
    return Funding(req, got, k, need, short, holds)


def _dec(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(int(v)) if isinstance(v, (int, bool)) else Decimal(str(v))
