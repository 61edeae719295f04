"""Reminders through a Bot API stand-in that misbehaves on purpose (tests/fakebotapi.py faults):
flood control, server errors, connections cut before or after Telegram accepted, stalled answers —
per chat and time window. Counts: lost (never delivered nor reported), doubled, reported."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from bot.notify import TelegramNotifier, make_bot
from bot.reminders import RunSummary, plan, run_once
from storage.db import Database
from tests.conftest import make_settings
from tests.deadlines_helpers import record, seed, utc
from tests.fakebotapi import FakeBotAPI

NOW = utc(2026, 12, 24, 1)  # 09:00 in Kunming, 7 days before the annual reports
OFFICER = 901
FLOOD, DOWN, CUT_BEFORE, CUT_AFTER, STALL, BROKEN = 5001, 5002, 5003, 5004, 5005, 5006


async def passes(db: Database, settings, api: FakeBotAPI, times: list) -> list[RunSummary]:  # type: ignore[no-untyped-def]
    out = []
    bot = make_bot(settings, read_timeout=1.0)
    async with bot:
        for t in times:
            out.append(await run_once(db, settings, TelegramNotifier(bot), t, officers=[OFFICER], send_rate=0))
    return out


async def test_faults_lose_nothing_and_double_only_the_message_in_flight(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        settings = make_settings(tmp_path, telegram_bot_token="123:TEST", telegram_api_base_url=api.base_url,
                                 officer_chat_ids=[OFFICER])
        db = Database.from_url(settings.effective_database_url)
        chats = (FLOOD, DOWN, CUT_BEFORE, CUT_AFTER, STALL, 5010, 5011)
        seed(db, *(record(f"联合体{c}", date(2026, 3, 1), date(2029, 6, 30), (c,)) for c in chats))
        expected = {j.recipient for j in plan(db, settings, NOW, [OFFICER]).new}
        api.add_fault("429", FLOOD, times=2, retry_after=1)  # flood control for a while
        api.add_fault("500", DOWN, seconds=3600)  # a chat whose requests fail for an hour
        api.add_fault("drop_before", CUT_BEFORE, times=1)
        api.add_fault("drop_after", CUT_AFTER, times=1)
        api.add_fault("stall", STALL, times=1, stall=1.6)  # slower than the 1 s timeout
        later = [NOW + timedelta(minutes=m) for m in (0, 2, 5, 10)]
        results = await passes(db, settings, api, later)
        # two days later the failing chat is given up and reported in one alert
        results += await passes(db, settings, api, [NOW + timedelta(hours=49)])
        delivered = Counter(c for c, _ in api.delivered if c != OFFICER)
        officer_texts = [x for c, x in api.delivered if c == OFFICER]
    reported = sum(1 for x in officer_texts if "未能送达" in x and str(DOWN) in x)
    lost = {c for c in expected if c != OFFICER and delivered[c] == 0} - ({DOWN} if reported else set())
    doubled = {c: n - 1 for c, n in delivered.items() if n > 1}
    assert lost == set()  # nothing silently dropped
    assert doubled == {CUT_AFTER: 1, STALL: 1}  # the in-flight floor: Telegram had accepted them
    assert reported == 1 and delivered[DOWN] == 0
    assert delivered[FLOOD] == 1 and sum(r.flood_waits for r in results) >= 1
    assert results[0].failed == 0  # a 429 is never a failed attempt
    db.dispose()


async def test_a_chat_in_flood_control_does_not_hold_up_the_others(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        settings = make_settings(tmp_path, telegram_bot_token="123:TEST", telegram_api_base_url=api.base_url,
                                 officer_chat_ids=[OFFICER])
        db = Database.from_url(settings.effective_database_url)
        seed(db, *(record(f"联合体{c}", date(2026, 3, 1), date(2029, 6, 30), (c,)) for c in range(6000, 6010)))
        api.add_fault("429", 6000, times=1, retry_after=2)
        [summary] = await passes(db, settings, api, [NOW])
        order = [c for c, _ in api.delivered if c != OFFICER]
    assert summary.sent == 10 and summary.flood_waits == 1
    assert order[-1] == 6000 and sorted(order) == list(range(6000, 6010))  # the others went first
    db.dispose()
