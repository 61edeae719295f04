"""A whole lead-unit self-assessment through the real python-telegram-bot Application and the fake
Bot API, step by step. Prints figures; asserts nothing.

    python benchmarks/check_dialog.py [--rounds N]

Each round is one person (a new chat) going from ``/check`` to the Word report: buttons, typed
numbers ("两个" style and "150万" amounts), the "never" button, the verdict, the report. For every
step: the time from the update entering the fake Bot API to the bot's answer (the edited or new
message, or the document) arriving there — p50 / p95 / max over the rounds (target: p95 ≤ 150 ms on
2 cores). Then ``checks.evaluate`` alone (target: < 1 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH-token-abcdefghijklmnopqrstu"

# (step name, what the person does, the Bot API call that answers it)
#   ("text", words)  types a message;  ("press", label) presses the button whose label contains it
STEPS: list[tuple[str, tuple[str, str], str]] = [
    ("/check → picker", ("text", "/check"), "sendMessage"),
    ("pick lead-unit → Q1", ("press", "牵头单位"), "editMessageText"),
    ("Q1 entity type (button)", ("press", "企业"), "editMessageText"),
    ("Q2 registered (button)", ("press", "是"), "editMessageText"),
    ("Q3 industry leader (button)", ("press", "是"), "editMessageText"),
    ("Q4 cooperation (button)", ("press", "是"), "editMessageText"),
    ("Q5 platform (button)", ("press", "省部级"), "editMessageText"),
    ("Q6 consortia led (typed 零)", ("text", "零"), "sendMessage"),
    ("Q7 requested (typed 100万)", ("text", "100万"), "sendMessage"),
    ("Q8 self-raised (typed 1,500,000元)", ("text", "1,500,000元"), "sendMessage"),
    ("Q9 private (button)", ("press", "是"), "editMessageText"),
    ("Q10 never disqualified → verdict", ("press", "从未"), "editMessageText"),
    ("Word report", ("press", "Word"), "sendDocument"),
]

ANSWERS = {"entity_type": "enterprise", "registered_in_yunnan": True, "industry_leader": True,
           "research_cooperation": True, "highest_platform_level": "provincial", "consortia_already_led": 0,
           "requested_funds": 100, "self_raised_funds": 150, "private_enterprise": True, "disqualified_on": None}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, ms: list[float]) -> str:
    return (f"{name:<38} n={len(ms):<4} p50={pct(ms, 50):7.2f} ms  p95={pct(ms, 95):7.2f} ms  "
            f"max={max(ms):7.2f} ms")


def bench_dialog(rounds: int) -> dict[str, list[float]]:
    from bot.app import build_app
    from tests.conftest import make_settings
    from tests.fakebotapi import FakeBotAPI
    from tests.telegram_helpers import running_bot

    samples: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}

    async def run(api: FakeBotAPI, tmp: Path) -> None:
        app = build_app(make_settings(tmp, telegram_bot_token=TOKEN, telegram_api_base_url=api.base_url,
                                      embedding_backend="hashing", data_dir=tmp))
        async with running_bot(app, api):
            for r in range(rounds + 1):  # round 0 warms up (imports, first queries) and is not counted
                chat = 5000 + r
                for name, (kind, what), method in STEPS:
                    do: Callable[[], object]
                    if kind == "text":
                        do = lambda what=what, chat=chat: api.send_text(chat, what)  # noqa: E731
                    else:
                        mid = api.last_message(chat)["message_id"]
                        data = next(d for label, d in api.buttons(api.messages[(chat, mid)]) if what in label)
                        do = lambda mid=mid, data=data, chat=chat: api.press(chat, mid, data)  # noqa: E731
                    before = len(api.calls_of(method, chat))
                    t = time.perf_counter()
                    do()
                    await asyncio.to_thread(api.wait_reply, chat, before, method)
                    if r:
                        samples[name].append((time.perf_counter() - t) * 1000)
                text = str(api.calls_of("editMessageText", chat)[-1].params.get("text", ""))
                assert "不符合条件" in text, text  # 150 : 100 is below 2 : 1
        app.db.dispose()

    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        asyncio.run(run(api, Path(tmp)))
    return samples


def bench_evaluate(n: int) -> list[float]:
    from checks import loader
    from checks.engine import evaluate

    cl = loader.get("lead-unit")
    today = date(2026, 11, 26)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        evaluate(cl, ANSWERS, today)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="whole checklists to time (default 40)")
    args = parser.parse_args()
    samples = bench_dialog(args.rounds)
    print(f"A whole lead-unit checklist through the fake Bot API, {args.rounds} people one after another:")
    worst = 0.0
    for name, ms in samples.items():
        print("  " + line(name, ms))
        worst = max(worst, pct(ms, 95))
    every = [x for ms in samples.values() for x in ms]
    print("  " + line("every step", every))
    print(f"  worst step p95: {worst:.2f} ms (target ≤ 150 ms)")
    ev = bench_evaluate(5000)
    print(line("evaluate lead-unit (checks.evaluate)", ev) + f"  mean={statistics.fmean(ev):.3f} ms (target < 1 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
