"""Foundation figures: CLI start-up, idle RSS with the default embedder, reply latency.

Run: ``python -m benchmarks.bot_figures``. Prints figures; asserts nothing.
- ``consortium-bot --help`` wall time (target ≤ 0.5 s);
- bot process RSS after start-up with the Q&A service (default embedder) loaded (≤ 350 MB);
- 20 simultaneous users asking questions through the fake Bot API: p50/p95 from update
  to reply (≤ 150 ms p95 on 2 cores).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakebotapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "牵头单位应具备哪些条件？", "成员单位需要具备哪些条件", "企业自筹经费要按什么比例", "联合体一般存续几年",
    "每年什么时候交年度总结", "组建协议由谁签署", "What is the match-funding ratio?", "支持民营企业参与吗",
    "联合体可以调整成员单位吗", "被取消资格有什么限制",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def help_time(runs: int = 5) -> float:
    exe = Path(sys.executable).parent / "consortium-bot"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@contextmanager
def bot_process() -> Iterator[tuple[FakeBotAPI, subprocess.Popen[bytes]]]:
    """The real ``consortium-bot run`` process, talking to a fake Bot API served from this process."""
    import os
    import signal

    from tests.fakebotapi import FakeBotAPI

    with FakeBotAPI() as api, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
        env.update({"TELEGRAM_BOT_TOKEN": "111:BENCH-token-abcdefghijklmnopqrstu",
                    "TELEGRAM_API_BASE_URL": api.base_url, "LOG_LEVEL": "WARNING"})
        exe = Path(sys.executable).parent / "consortium-bot"
        proc = subprocess.Popen([str(exe), "run"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            yield api, proc
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


def distinct_questions() -> list[str]:
    """Questions nobody asked before in this run (the paraphrase set), so no cache helps."""
    import yaml

    path = ROOT / "tests" / "data" / "qa_paraphrases.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [str(it["q"]) for it in data["in_scope"]]


def staggered(users: int = 20, per_user: int = 5, seed: int = 7) -> list[float]:
    """20 users chatting at once, each sending a new question 1–3 s after the previous one
    (random, reproducible schedule), all distinct questions: latency from update to reply."""
    import random

    rng = random.Random(seed)
    pool = distinct_questions()
    schedule = []
    for u in range(users):
        offset = 0.0
        for k in range(per_user):  # each user's questions in order, 1–3 s apart
            offset += rng.uniform(1.0, 3.0)
            schedule.append((offset, u, k))
    schedule.sort()
    with bot_process() as (api, _proc):
        api.send_text(4999, "/start")
        api.wait_reply(4999, 0, "sendMessage", 300)
        start = time.monotonic()
        sent_at: dict[tuple[int, int], float] = {}
        for offset, u, k in schedule:
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent_at[(u, k)] = time.monotonic()
            api.send_text(6000 + u, pool[(u * per_user + k) % len(pool)])
        samples = []
        for (u, k), t0 in sent_at.items():
            call = api.wait_reply(6000 + u, k, "sendMessage", 60)
            samples.append(call.at - t0)
        return samples


def latency(users: int = 20, rounds: int = 5, questions: list[str] | None = None) -> tuple[list[float], float]:
    """Bursts: every user sends a question in the same instant, ``rounds`` times."""
    with bot_process() as (api, proc):
        # warm-up round (loads the Q&A service and its index)
        for u in range(users):
            api.send_text(5000 + u, QUESTIONS[u % len(QUESTIONS)])
        for u in range(users):
            api.wait_reply(5000 + u, 0, "sendMessage", 300)
        time.sleep(2)
        rss = rss_mb(proc.pid)
        samples: list[float] = []
        for r in range(1, rounds + 1):
            time.sleep(1.1)  # Telegram (and the rate limiter) allow one message a second per chat
            sent_at = {}
            for u in range(users):
                chat = 5000 + u
                sent_at[chat] = time.monotonic()
                pool = questions or QUESTIONS
                api.send_text(chat, pool[((r - 1) * users + u) % len(pool)] if questions else
                              QUESTIONS[(u + r) % len(QUESTIONS)])
            for u in range(users):
                chat = 5000 + u
                call = api.wait_reply(chat, r, "sendMessage", 60)
                samples.append(call.at - sent_at[chat])
        return samples, rss


def main() -> None:
    print(f"consortium-bot --help: {help_time() * 1000:.0f} ms (median of 5; target ≤ 500 ms)")
    samples = sorted(staggered())
    print(f"20 users chatting at once (a new distinct question every 1–3 s each, {len(samples)} questions): "
          f"p50 {samples[len(samples) // 2] * 1000:.0f} ms, p95 {samples[int(len(samples) * 0.95) - 1] * 1000:.0f} ms, "
          f"max {samples[-1] * 1000:.0f} ms (target p95 ≤ 150 ms)")
    for label, questions in (("distinct questions (nothing cached)", distinct_questions()),
                             ("10 frequent questions (repeats hit the query cache)", None)):
        samples, rss = latency(questions=questions)
        samples.sort()
        p50 = samples[len(samples) // 2] * 1000
        p95 = samples[int(len(samples) * 0.95) - 1] * 1000
        print(f"bot process RSS, idle after a warm-up round (Q&A service loaded): {rss:.0f} MB (target ≤ 350 MB)")
        print(f"20 simultaneous users, {len(samples)} {label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
              f"max {samples[-1] * 1000:.0f} ms (target p95 ≤ 150 ms)")


if __name__ == "__main__":
    main()
