"""Retrieval and refusal metrics over a question set (the dev set's YAML format)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.corpus import Corpus


@dataclass
class EvalResult:
    n_in: int = 0
    n_out: int = 0
    hit1: int = 0
    hit3: int = 0
    rr5: float = 0.0
    refused_out: int = 0
    refused_in: int = 0
    clarified_in: int = 0
    clarified_out: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        n_in = max(self.n_in, 1)
        return {
            "hit@1": self.hit1 / n_in,
            "hit@3": self.hit3 / n_in,
            "mrr@5": self.rr5 / n_in,
            "oos_refusal_rate": self.refused_out / max(self.n_out, 1),
            "false_refusal_rate": self.refused_in / n_in,
            "clarified_in": self.clarified_in / n_in,
            "clarified_out": self.clarified_out / max(self.n_out, 1),
        }


def load_questions(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def first_hit(corpus: Corpus, ranked: Sequence[str], gold: Sequence[str]) -> int | None:
    """Rank (0-based) of the first returned clause that equals a gold id or lies under one."""
    for rank, cid in enumerate(ranked):
        if cid in corpus.clauses and any(corpus.is_under(cid, g) for g in gold):
            return rank
    return None


def evaluate(
    corpus: Corpus, questions: dict[str, Any], ask: Callable[[list[str]], Sequence[tuple[Any, ...]]],
) -> EvalResult:
    """``ask`` takes questions and returns (ranked clause ids, refused[, kind]) for each; a ``clarify``
    kind is counted apart (not refused; its ranked topics count as the ranking)."""
    res = EvalResult()
    ins = questions.get("in_scope", [])
    outs = questions.get("out_of_scope", [])
    answers = ask([it["q"] for it in ins] + [str(q) for q in outs])
    for it, (ranked, refused, *kind) in zip(ins, answers[: len(ins)], strict=True):
        res.n_in += 1
        res.clarified_in += kind[:1] == ["clarify"]
        rank = first_hit(corpus, ranked[:5], it["gold"])
        if refused:
            res.refused_in += 1
            rank = None
        if rank == 0:
            res.hit1 += 1
        if rank is not None and rank < 3:
            res.hit3 += 1
        if rank is not None:
            res.rr5 += 1.0 / (rank + 1)
        if rank != 0:
            res.misses.append({"q": it["q"], "gold": it["gold"], "got": ranked[:3], "refused": refused,
                               "kind": kind[0] if kind else ""})
    for q, (ranked, refused, *kind) in zip(outs, answers[len(ins):], strict=True):
        res.n_out += 1
        res.clarified_out += kind[:1] == ["clarify"]
        if refused:
            res.refused_out += 1
        else:
            res.misses.append({"q": q, "gold": None, "got": ranked[:3], "refused": refused, "kind": kind[0] if kind else ""})
    return res
