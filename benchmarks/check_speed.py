"""How fast is the self-assessment? Prints figures; asserts nothing.

    python benchmarks/check_speed.py [--rounds N]

1. ``checks.evaluate`` over full answer sets (target ≤ 1 ms per evaluation);
2. one dialog step through ``app.handle`` (button press → next question) on SQLite;
3. one dialog step through the real python-telegram-bot Application and the fake Bot API
   (press → the edited question arrives), p95 target ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWERS = {
    "lead-unit": {"entity_type": "enterprise", "registered_in_yunnan": True, "industry_leader": True,
                  "research_cooperation": True, "highest_platform_level": "provincial", "consortia_already_led": 0,
                  "requested_funds": 100, "self_raised_funds": 150, "private_enterprise": True,
                  "disqualified_on": "2024-02-29"},
    "member": {"entity_type": "enterprise", "cooperation_basis": True, "in_industry_chain": True,
               "rd_capability": True, "requested_funds": 50, "self_raised_funds": 100, "disqualified_on": None},
    "formation": {"lead_unit_count": 1, "enterprise_members": 5, "university_members": 1, "institute_members": 1,
                  "service_members": 0, "industry_field": "生物医药产业", "has_decision_body": True,
                  "has_advisory_body": True, "has_standing_executive_body": True, "has_funding_rules": True,
                  "has_chief_expert": True, "agreement_clauses": ["goals", "task_division"],
                  "agreement_signed_by_all_legal_reps": True, "agreement_sealed": False,
                  "plan_sections": ["significance", "schedule"], "route": "bottom_up", "local_recommendation": True,
                  "form_sealed": True, "form_attachments_complete": True},
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, samples_s: list[float]) -> str:
    ms = [s * 1000 for s in samples_s]
    return (f"{name:<44} n={len(ms):<5} mean={statistics.fmean(ms):7.3f} ms  p50={pct(ms, 50):7.3f} ms  "
            f"p95={pct(ms, 95):7.3f} ms  max={max(ms):7.3f} ms")


def bench_evaluate(rounds: int) -> None:
    from checks import loader
    from checks.engine import evaluate

    t0 = time.perf_counter()
    lists = loader.load_checklists()
    print(f"loading and validating the 3 checklists (with the scheme's clause ids): "
          f"{(time.perf_counter() - t0) * 1000:.1f} ms")
    today = date(2026, 11, 26)
    for name, answers in ANSWERS.items():
        cl = lists[name]
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            evaluate(cl, answers, today)
            samples.append(time.perf_counter() - t)
        print(line(f"evaluate {name} ({len(cl.conditions)} conditions)", samples))


def bench_handle(rounds: int) -> None:
    from bot.app import build_app
    from bot.config import Settings
    from bot.core import Incoming

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/b.sqlite3", data_dir=Path(tmp),
                            _env_file=None)  # type: ignore[call-arg]
        app = build_app(settings)
        now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
        out = app.handle(Incoming(chat_id=7, user_id=7, text="/check lead-unit"), now)
        data = {b.label: b.data for row in out.replies[0].buttons for b in row}
        answer, dialog = data["企业"], data["企业"].split(":")[1]
        back = f"chk:{dialog}:b:1"
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            app.handle(Incoming(chat_id=7, user_id=7, callback_data=answer, kind="callback"), now)
            samples.append(time.perf_counter() - t)
            app.handle(Incoming(chat_id=7, user_id=7, callback_data=back, kind="callback"), now)
        print(line("dialog step via app.handle (SQLite)", samples))
        typed = []
        app.handle(Incoming(chat_id=7, user_id=7, text="/check formation"), now)
        for i in range(rounds):
            t = time.perf_counter()
            app.handle(Incoming(chat_id=7, user_id=7, text=str(i % 3)), now)
            typed.append(time.perf_counter() - t)
            app.handle(Incoming(chat_id=7, user_id=7, callback_data=f"chk:{_dialog(app)}:b:1", kind="callback"), now)
        print(line("typed answer via app.handle (SQLite)", typed))
        app.db.dispose()


def _dialog(app: object) -> str:
    from storage import repo

    with app.db.session() as s:  # type: ignore[attr-defined]
        return str((repo.get_state(s, 7, "check") or {})["id"])


def bench_telegram(rounds: int) -> None:
    try:
        from tests.conftest import make_settings
        from tests.fakebotapi import FakeBotAPI
        from tests.telegram_helpers import running_bot
    except ImportError as exc:  # pragma: no cover
        print(f"fake Bot API not available: {exc}")
        return
    from bot.app import build_app

    async def run(api: FakeBotAPI, tmp: Path) -> list[float]:
        app = build_app(make_settings(tmp, telegram_bot_token="123456:BENCH-token-abcdefghijklmnopqrstu",
                                      telegram_api_base_url=api.base_url))
        chat = 41
        samples: list[float] = []
        async with running_bot(app, api):
            api.send_text(chat, "/check lead-unit")
            await asyncio.to_thread(api.wait_reply, chat, 0, "sendMessage")
            mid = api.last_message(chat)["message_id"]
            buttons = dict(api.buttons(api.messages[(chat, mid)]))
            answer = buttons["企业"]
            back = f"chk:{answer.split(':')[1]}:b:1"
            for _ in range(rounds):
                for data in (answer, back):
                    before = len(api.calls_of("editMessageText", chat))
                    t = time.perf_counter()
                    api.press(chat, mid, data)
                    await asyncio.to_thread(api.wait_reply, chat, before, "editMessageText")
                    if data == answer:
                        samples.append(time.perf_counter() - t)
        app.db.dispose()
        return samples

    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        samples = asyncio.run(run(api, Path(tmp)))
    print(line("dialog step through the fake Bot API", samples))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    bench_evaluate(args.rounds * 10)
    bench_handle(args.rounds)
    bench_telegram(max(20, args.rounds // 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
