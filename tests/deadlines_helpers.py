"""Shared helpers of the deadlines tests: seeding the registry, a fake sleep, ledger views."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from storage import registry_repo as rr
from storage.db import Database
from storage.registry_models import Deadline, ReminderSend

HEADER = "name,lead_unit,industry_field,route,recommending_unit,approved_on,ends_on,contact_chat_ids"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def record(name: str, approved: date, ends: date, contacts: tuple[int, ...] = (), route: str = "top_down",
           ) -> rr.ConsortiumRecord:
    return rr.ConsortiumRecord(name=name, lead_unit=f"{name}牵头单位", industry_field="新材料", route=route,
                               recommending_unit="", approved_on=approved, ends_on=ends, contact_chat_ids=contacts)


def seed(db: Database, *records: rr.ConsortiumRecord, now: datetime | None = None) -> rr.ImportSummary:
    with db.session() as s:
        return rr.apply_records(s, list(records), now or utc(2026, 1, 1))


def deadline_id(db: Database, name: str, rule_key: str) -> int:
    from sqlalchemy import select

    from storage.registry_models import Consortium

    with db.session() as s:
        return int(s.scalar(select(Deadline.id).join(Consortium).where(Consortium.name == name,
                                                                       Deadline.rule_key == rule_key)) or 0)


def sent_ledger(db: Database) -> list[tuple[int, int, str]]:
    from sqlalchemy import select

    with db.session() as s:
        return [(r.deadline_id, r.recipient, r.stage) for r in
                s.scalars(select(ReminderSend).where(ReminderSend.status == rr.SENT))]


def stage_counts(db: Database) -> Counter[str]:
    return Counter(st.split(":")[0] + (":" + st.split(":")[1][0] if st.startswith("overdue") else "")
                   for _, _, st in sent_ledger(db))


class FakeSleep:
    """Records requested sleeps instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def _unused(*_: Any) -> None:
    pass
