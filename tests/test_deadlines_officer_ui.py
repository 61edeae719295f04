"""Officer conveniences: /consortia (paged, search, open buttons), buttons on list entries, /help on
uploading, the shell's --user roles."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from bot.app import App
from bot.core import Incoming, Outcome
from tests.deadlines_helpers import deadline_id, record, seed, utc

ROOT = Path(__file__).resolve().parent.parent
NOW = utc(2026, 12, 24, 2)


def say(app: App, chat: int, text: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, text=text, language_code="zh-hans"), NOW)


def press(app: App, chat: int, data: str) -> Outcome:
    return app.handle(Incoming(chat_id=chat, user_id=chat, callback_data=data, kind="callback", message_id=3), NOW)


def buttons(out: Outcome) -> list[str]:
    return [b.data for r in out.replies for row in r.buttons for b in row]


def test_consortia_list_search_and_open(app: App) -> None:
    seed(app.db, *(record(f"联合体{i:02d}", date(2026, 3, 1), date(2028, 6, 30), (3000 + i,)) for i in range(23)),
         record("绿色铝创新联合体", date(2026, 3, 1), date(2029, 6, 30), (1003,)), now=utc(2026, 3, 1))
    out = say(app, 901, "/consortia")
    text = out.replies[0].text
    assert "创新联合体（24 个）" in text and "第 1/3 页" in text and "待报送" in text
    assert "dl:pg:cs:1" in buttons(out) and len([b for b in buttons(out) if b.startswith("dl:open:")]) == 10
    page3 = press(app, 901, "dl:pg:cs:2")
    assert "第 3/3 页" in page3.replies[0].text and page3.replies[0].edit
    found = say(app, 901, "/consortia 绿色铝")
    assert "包含“绿色铝”的创新联合体（1 个）" in found.replies[0].text
    opened = press(app, 901, buttons(found)[0])
    assert "绿色铝创新联合体" in opened.replies[0].text and "存续期至" in opened.replies[0].text
    dl = deadline_id(app.db, "绿色铝创新联合体", "annual:2026")
    assert f"dl:ls:{dl}" in buttons(opened)
    assert "没有符合条件" in say(app, 901, "/consortia 不存在").replies[0].text
    assert press(app, 3000, "dl:open:1").toast and not press(app, 3000, "dl:open:1").replies


def test_list_entries_have_buttons_that_keep_the_list(app: App) -> None:
    seed(app.db, record("甲联合体", date(2026, 3, 1), date(2028, 6, 30), (1001,)), now=utc(2026, 3, 1))
    dl = deadline_id(app.db, "甲联合体", "annual:2026")
    out = say(app, 901, "/due 30")
    assert f"dl:ls:{dl}" in buttons(out)
    done = press(app, 901, f"dl:ls:{dl}")
    assert "已标记为已报送" in done.replies[0].text and not done.replies[0].edit
    assert [c for c, _ in done.others] == [1001]


def test_help_explains_the_upload_to_officers_only(app: App) -> None:
    assert "上传登记表" in say(app, 901, "/help").replies[0].text
    assert "/consortia" in say(app, 901, "/help").replies[0].text
    assert "上传登记表" not in say(app, 5555, "/help").replies[0].text


def test_shell_user_takes_roles_from_the_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "OFFICER_", "ADMIN_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 's.sqlite3'}", OFFICER_CHAT_IDS="901", ADMIN_CHAT_IDS="900",
               PYTHONPATH=str(ROOT), EMBEDDING_BACKEND="hashing")

    def shell(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "bot.cli", "shell", *args], input="/whoami\n/due\n",
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    applicant = shell("--user", "5555")
    assert "仅限省科技厅工作人员" in applicant and "officer" not in applicant.split("仅限")[0]
    officer = shell("--user", "901")
    assert "30 天内到期" in officer and "admin" not in officer.split("\n\n")[0]
    trusted = shell()
    assert "admin" in trusted and "30 天内到期" in trusted
