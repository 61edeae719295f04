"""The terminal shell: the same conversation as the Telegram bot, with buttons as numbered choices.

Type a question or a command (/start, /help, /check, /due …). When the last message had
buttons, type a button's number to press it (``#3`` always presses button 3; when the message
waits for a typed answer — a number, a date — a bare number is that answer and buttons need the
``#``). ``/upload PATH`` sends a file (like a document in Telegram;
``/upload PATH | caption`` adds a caption, e.g. a policy document's title), files the bot sends are saved
under ``data/downloads``. ``/quit`` or Ctrl-D ends.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.app import App
from bot.core import Button, Document, Incoming, Outcome, Reply
from bot.i18n import t
from bot.notify import html_to_plain
from storage.clock import utcnow

QUIT = {"/quit", "/exit", "quit", "exit", "退出"}


@dataclass
class ShellSession:
    app: App
    user_id: int = 1
    out: TextIO = field(default_factory=lambda: sys.stdout)
    buttons: list[Button] = field(default_factory=list)
    typed: bool = False  # the last message waits for a typed answer: bare digits are text
    message_id: int = 0
    downloads: Path | None = None
    sent_elsewhere: int = 0

    def send(self, incoming: Incoming) -> Outcome:
        outcome = self.app.handle(incoming, utcnow())
        self.render(outcome)
        return outcome

    def line(self, raw: str) -> Outcome | None:
        text = raw.rstrip("\n")
        stripped = text.strip()
        pressed = stripped[1:] if stripped.startswith("#") else (stripped if not self.typed else "")
        if pressed.isdigit() and self.buttons and 1 <= int(pressed) <= len(self.buttons):
            button = self.buttons[int(pressed) - 1]
            if button.url:
                print(f"  (link) {button.data}", file=self.out)
                return None
            return self.send(Incoming(chat_id=self.user_id, user_id=self.user_id, callback_data=button.data,
                                      kind="callback", message_id=self.message_id))
        if stripped.startswith("/upload"):
            arg, _, caption = stripped[len("/upload"):].partition("|")  # /upload PATH | caption (a title)
            path = Path(arg.strip()).expanduser()
            try:
                content = path.read_bytes()
            except OSError as exc:
                print(f"  cannot read {path}: {exc.strerror or exc}", file=self.out)
                return None
            return self.send(Incoming(chat_id=self.user_id, user_id=self.user_id, kind="document",
                                      document=Document(path.name, content, caption.strip())))
        return self.send(Incoming(chat_id=self.user_id, user_id=self.user_id, text=text))

    def lang(self) -> str:
        from storage.models import User

        with self.app.db.session() as s:
            user = s.get(User, self.user_id)
            return (user.chosen_lang if user is not None else None) or "zh"

    def render(self, outcome: Outcome) -> None:
        if outcome.toast:
            print(f"  ({outcome.toast})", file=self.out)
        shown = False
        for reply in outcome.replies:
            self._print(reply, outcome.lang)
            shown = True
        for chat_id, reply in outcome.others:
            print(f"  → [to chat {chat_id}] {html_to_plain(reply.text)}", file=self.out)
            self.sent_elsewhere += 1
            if reply.notice is not None:
                self.app.after_send(chat_id, 10_000 + self.sent_elsewhere, reply)
        for chat_id, message_id, reply in outcome.edits:
            print(f"  ✎ [chat {chat_id}, message {message_id}] {html_to_plain(reply.text)}", file=self.out)
        if shown:
            self.message_id += 1

    def _print(self, reply: Reply, lang: str = "zh") -> None:
        if reply.text:
            print(html_to_plain(reply.text), file=self.out)
        if reply.document is not None:
            folder = self.downloads or (self.app.settings.data_dir / "downloads")
            folder.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.\-]+", "_", reply.document.filename) or "file"
            path = folder / name
            path.write_bytes(reply.document.content)
            print(f"📎 {path}", file=self.out)
        if reply.buttons:
            self.buttons = [b for row in reply.buttons for b in row]
            self.typed = reply.typed
            mark = "#" if reply.typed else ""
            numbered = [f"[{mark}{i}] {b.label}" for i, b in enumerate(self.buttons, 1)]
            print("  " + "  ".join(numbered), file=self.out)
            if reply.typed:
                print("  " + t("shell.typed_hint", lang), file=self.out)
        elif reply.menu:
            self.buttons = []
            self.typed = False
            labels = [t(key, self.lang()) for key, cmd in self.app.router.menu.items() if cmd in self.app.router.commands]
            if labels:
                print("  " + " | ".join(labels), file=self.out)
        print("", file=self.out)


def run_shell(app: App, user_id: int = 1, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    session = ShellSession(app, user_id=user_id, out=out or sys.stdout)
    interactive = stdin.isatty()
    if interactive:
        print("consortium-bot shell — type a question or /help; a number presses a button; /quit ends.\n",
              file=session.out)
        session.line("/start")
    while True:
        if interactive:
            try:
                raw = input("> ")
            except EOFError:
                break
        else:
            raw = stdin.readline()
            if not raw:
                break
        if raw.strip() in QUIT:
            break
        if not raw.strip():
            continue
        session.line(raw)
    return 0
