"""The shared input parsers: dates, counts, amounts, and the 2:1 funding calculator."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from checks.inputs import find_numbers, funding, parse_amount_wan, parse_date, parse_number


@pytest.mark.parametrize("text", ["2024-05-10", "2024/5/10", "2024.5.10", "2024年5月10日", " 2024 年 5 月 10 日 "])
def test_dates_in_every_accepted_form(text: str) -> None:
    assert parse_date(text) == date(2024, 5, 10)


def test_date_cells_and_excel_serials() -> None:
    assert parse_date(datetime(2024, 5, 10, 8, 0)) == date(2024, 5, 10)
    assert parse_date(45422) == date(2024, 5, 10)
    assert parse_date("45422") == date(2024, 5, 10)


@pytest.mark.parametrize("text", ["2024-02-30", "明天", "", "10/5/2024", "2024-5"])
def test_bad_dates_say_why(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date(text)


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("两个", 2), ("三家", 3), ("十二", 12), ("一百五十", 150), ("1,500,000", 1_500_000),
    ("1.5", Decimal("1.5")), ("150w", 1_500_000), ("一万二千", 12_000), ("一五〇", 150),
])
def test_numbers(text: str, value: object) -> None:
    assert parse_number(text) == Decimal(str(value))


@pytest.mark.parametrize(("text", "wan"), [
    ("150", 150), ("150万", 150), ("150万元", 150), ("1,500,000元", 150), ("0.5亿", 5000), ("1.5亿", 15000),
    ("100w", 100), ("一百五十万", 150), ("一百万", 100), ("十万元", 10),
])
def test_amounts_in_wan(text: str, wan: int) -> None:
    assert parse_amount_wan(text) == Decimal(wan)


@pytest.mark.parametrize("text", ["abc", "1e20", "150万200", "", "两三个"])
def test_not_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_numbers_found_in_a_sentence_with_their_units() -> None:
    found = find_numbers("申请80万、自筹120万够不够")
    assert [(n.value, n.unit) for n in found] == [(Decimal(800_000), "万"), (Decimal(1_200_000), "万")]


def test_funding_calculator() -> None:
    f = funding(80, 120)
    assert (f.min_required, f.shortfall, f.holds, f.ratio) == (Decimal(160), Decimal(40), False, "1.5")
    ok = funding(150, 300)
    assert ok.holds and ok.shortfall == 0 and ok.ratio == "2"
    assert funding(100, Decimal("199.99")).ratio == "1.99"  # truncated: never reads as 2 when below
    assert funding(150).min_required == 300 and funding(150).holds is None
    assert funding(0, 10).ratio == "—"
