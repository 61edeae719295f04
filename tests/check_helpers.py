"""Shared helpers for the check tests: the profile table and dialog drivers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import App
from bot.core import Incoming, Outcome
from checks.loader import load_yaml

PROFILES = Path(__file__).parent / "check_profiles.yaml"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Kunming


@dataclass
class Profile:
    name: str
    checklist: str
    today: str
    answers: dict[str, Any]
    verdict: str
    statuses: dict[str, str]
    reason_equals: dict[str, str] = field(default_factory=dict)
    reason_contains: dict[str, str] = field(default_factory=dict)
    fix_contains: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)


def profiles() -> list[Profile]:
    data = load_yaml(PROFILES.read_text(encoding="utf-8"))
    out = []
    for row in data["profiles"]:
        base = data["bases"][row["base"]]
        answers = dict(base["answers"])
        answers.update(row.get("set", {}))
        for fact in row.get("unset", []):
            answers.pop(fact, None)
        statuses = dict(base["statuses"])
        statuses.update(row.get("statuses", {}))
        out.append(Profile(row["name"], base["checklist"], str(row.get("today", base["today"])), answers,
                           row["verdict"], statuses, row.get("reason_equals", {}), row.get("reason_contains", {}),
                           row.get("fix_contains", {}), row.get("extra", {})))
    return out


class Chat:
    """One person talking to the bot through ``app.handle``."""

    def __init__(self, app: App, user: int = 5, now: datetime = NOW, first_name: str = "Li") -> None:
        self.app, self.user, self.now, self.first_name = app, user, now, first_name
        self.last: Outcome | None = None
        self.screen: Outcome | None = None  # the latest outcome that showed buttons

    def _seen(self, out: Outcome) -> Outcome:
        self.last = out
        if any(r.buttons for r in out.replies):
            self.screen = out
        return out

    def say(self, text: str) -> Outcome:
        return self._seen(self.app.handle(Incoming(chat_id=self.user, user_id=self.user, text=text,
                                                   first_name=self.first_name, language_code="zh"), self.now))

    def press(self, data: str) -> Outcome:
        return self._seen(self.app.handle(Incoming(chat_id=self.user, user_id=self.user, callback_data=data,
                                                   kind="callback", first_name=self.first_name,
                                                   language_code="zh"), self.now))

    def buttons(self, out: Outcome | None = None) -> list[tuple[str, str]]:
        out = out or self.screen
        assert out is not None
        return [(b.label, b.data) for r in out.replies for row in r.buttons for b in row]

    def button(self, label_part: str, out: Outcome | None = None) -> str:
        hits = [d for label, d in self.buttons(out) if label_part in label]
        assert hits, f"no button with {label_part!r} in {self.buttons(out)}"
        return hits[0]

    def text(self, out: Outcome | None = None) -> str:
        out = out or self.last
        assert out is not None
        return "\n".join(r.text for r in out.replies)
