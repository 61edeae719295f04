"""Answer cards: one per clause, written from the scheme text (``data/cards.yaml``).

A card gives a clause's rule as a one-sentence answer (``gist``, zh/en), its heading in English,
an unofficial English reference translation aligned sentence by sentence with
:func:`knowledge.index.sentences`, the separate points people ask about (``facets``: everyday
questions, a one-sentence answer, the supporting sentence indexes and, for yes/no questions, the
oriented answer) and the structured values the clause states (``facts``).

:func:`load_cards` validates the file against the corpus and raises :class:`CardError` naming the
clause at fault. Pure: no adapters, storage, clock or environment.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from knowledge.corpus import Corpus, load
from knowledge.index import sentences

CARDS_FILE = Path(__file__).parent / "data" / "cards.yaml"


class CardError(ValueError):
    """The cards file does not fit the corpus (the message names the clause)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Polar(_Model):
    """The oriented answer to a facet's yes/no questions (可以 / 不可以 / 原则上不行 …)."""

    zh: str
    en: str


class Facet(_Model):
    """One point people ask about a clause: the questions, the answer, its supporting sentences."""

    q: list[str]
    zh: str
    en: str
    polar: Polar | None = None
    quote: list[int] = []


class Gist(_Model):
    zh: str
    en: str


class Card(_Model):
    clause: str
    gist: Gist
    title_en: str = ""
    en: list[str] = []
    facets: list[Facet] = []
    facts: dict[str, Any] = {}

    def questions(self) -> list[str]:
        """All facet questions, in file order."""
        return [q for f in self.facets for q in f.q]

    def english_text(self) -> str:
        """Everything the card says in English: heading, gist, reference translation, facet answers and the
        English questions (what an English question is matched against word by word)."""
        parts = [self.title_en, self.gist.en, *self.en]
        for f in self.facets:
            parts.append(f.en)
            parts.extend(q for q in f.q if not re.search(r"[\u3400-\u9fff]", q))
        return "\n".join(p for p in parts if p)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (a second card would silently win)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise CardError(f"card {key}: defined twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _parse(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise CardError(f"{path.name}: not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CardError(f"{path.name}: expected a mapping of clause id → card")
    for key in raw:
        if not isinstance(key, str):
            raise CardError(f"card {key!r}: clause ids must be quoted strings (\"4.1\", not 4.1)")
    return raw


def _check(corpus: Corpus, card: Card) -> None:
    cid = card.clause
    clause = corpus.clauses[cid]
    if not card.gist.zh.strip() or not card.gist.en.strip():
        raise CardError(f"card {cid}: empty gist (zh and en are both required)")
    n = len(sentences(clause.text))
    if len(card.en) != n:
        raise CardError(f"card {cid}: en has {len(card.en)} item(s), the clause has {n} sentence(s)")
    for i, facet in enumerate(card.facets, 1):
        if not facet.q or any(not q.strip() for q in facet.q):
            raise CardError(f"card {cid}: facet {i} has no or empty questions")
        if not facet.zh.strip() or not facet.en.strip():
            raise CardError(f"card {cid}: facet {i} has an empty answer")
        bad = [k for k in facet.quote if not 0 <= k < n]
        if bad:
            raise CardError(f"card {cid}: facet {i} quotes sentence(s) {bad}, the clause has {n}")


def load_cards(corpus: Corpus, path: Path = CARDS_FILE) -> dict[str, Card]:
    """The cards of ``path`` by clause id, validated against ``corpus`` (:class:`CardError` otherwise)."""
    out: dict[str, Card] = {}
    for cid, data in _parse(path).items():
        if cid not in corpus.clauses:
            raise CardError(f"card {cid}: no such clause id in the corpus")
        if not isinstance(data, dict):
            raise CardError(f"card {cid}: expected a mapping (gist, title_en, en, facets, facts)")
        try:
            card = Card.model_validate({"clause": cid, **data})
        except ValidationError as exc:
            raise CardError(f"card {cid}: {exc}") from exc
        _check(corpus, card)
        out[cid] = card
    return out


@lru_cache(maxsize=1)
def default_cards() -> dict[str, Card]:
    """The bundled cards for the bundled scheme (loaded once)."""
    return load_cards(load())
