"""Candidate features for the long-text calibration, measured held out on is22-dev.

Issue 18 asked whether how often and where a review mentions a feature tells its
relevance apart better than the coverage and length alone. The model's long-text
logit is ``bias + raw * coverage + length * ln(1 + n)``; here each candidate is
added as a third input, the logistic is refitted leave-one-app-out (as
``bench/linking.py --fit-calibration`` does for the shipped two) and each judged
feature's reviews are ranked again: short texts keep the scores ``rank_items``
gives them, long texts sharing a term with the feature are scored by the refitted
logistic. ``base`` (no third input) reproduces ``bench/linking.py``'s held-out figure.

Candidates (per review x feature; "name terms" are the stems of the feature's name
in the model's name view, a mention is an item word the model maps to one):

* ``tf``, ``log_tf``: occurrences of the name terms, weighted by their share of
  the name (a review saying the feature three times counts three times);
* ``sat_tf K``: coverage with each term's count saturated BM25-style,
  ``tf (K + 1) / (tf + K)`` (1 for a term said once), replacing the coverage;
* ``focus``: mentions over content words (how much of the review is about it);
* ``first``: position of the first mention over the review's length;
* ``sentence``: the best single sentence's coverage (split on ``.!?`` and newlines);
* ``cue_near``: a request or complaint word ("fix", "can't", "please", "why")
  within five words of a mention; ``praise``: share of praise words ("love", "easy").

    .venv/bin/python bench/linking_features.py [--data DIR] [FEATURE ...]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from linking import DEFAULT_DATA, App, fitted, load, r_precision_ap

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity import SimilarityModel, SimilarityParams

_SENTENCE = re.compile(r"[.!?\n]+")
_TOKEN = re.compile(r"[a-z0-9]+")
CUES = frozenset("""not no cant cannot dont doesnt didnt wont isnt unable fix problem bug crash crashes crashing error
issue please pls plz add wish hope want need needs should would why how missing broken fails failed lost gone""".split())
PRAISE = frozenset("""great good nice love loved loving cool awesome best better easy easier perfect amazing excellent
recommend recommended wonderful fantastic useful convenient helpful handy fun happy favorite""".split())


@dataclass
class Pair:
    """One review x judged feature: what the shipped model says and the candidates' raw material."""

    app: str
    feature: str
    relevant: bool
    score: float  # rank_items' score, kept for short texts
    raw: float
    n: float
    counts: list[tuple[float, int, float]]  # per name term said: (share of the name, occurrences, strength)
    mentions: int
    first: int
    sentence: float
    cue_near: int
    praise: int


def _mentions(model: SimilarityModel, name: np.ndarray, words: list[str]) -> list[bool]:
    new = [w for w in set(words) if w not in model._word_cache]
    if new:
        model._word_terms(new)
    return [any(name[sid] != 0 for sid, _ in model._word_cache[w]) for w in words]


def pairs(app: App, params: SimilarityParams) -> list[Pair]:
    model = fitted(app, params, True)
    pf = model.features(app.texts)
    keys = model.epic_keys
    stop = textnorm.STOP_WORDS
    out = []
    for feat in app.judged:
        e = keys.index(feat)
        name = model._q[e].toarray()[0]
        score = np.zeros(len(app.texts))
        for i, s in model.rank_items(feat, app.texts, limit=len(app.texts)):
            score[i] = s
        for i, (rid, text) in enumerate(zip(app.review_ids, app.texts, strict=True)):
            all_words = _TOKEN.findall(textnorm.fold(text))
            content = [w for w in all_words if w not in stop and len(w) > 1]
            hit = _mentions(model, name, content)
            counts: dict[int, list[float]] = {}
            for w in content:
                for sid, strength in model._word_cache[w]:
                    if name[sid] != 0:
                        c = counts.setdefault(sid, [float(name[sid]), 0, 0.0])
                        c[1] += 1
                        c[2] = max(c[2], strength)
            at = [p for p, w in enumerate(all_words) if w not in stop and len(w) > 1 and _mentions(model, name, [w])[0]]
            sentence = 0.0
            for s in _SENTENCE.split(text):
                x, _, _ = model._encode([s])
                if x.nnz:
                    sentence = max(sentence, float(model._raw(x)[0, e]))
            out.append(Pair(
                app.name, feat, rid in app.relevant[feat], float(score[i]), float(pf.raw[i, e]), float(pf.n_terms[i]),
                [(q, int(k), st) for q, k, st in counts.values()], sum(hit), hit.index(True) if any(hit) else -1,
                sentence, max((sum(w in CUES for w in all_words[max(0, p - 5):p + 6]) for p in at), default=0),
                sum(w in PRAISE for w in all_words)))
    return out


def _sat(k: float) -> Callable[[Pair], list[float]]:
    def f(p: Pair) -> list[float]:
        sat = p.raw + sum(q * st * (tf * (k + 1) / (tf + k) - 1) for q, tf, st in p.counts)
        return [sat, np.log1p(p.n)]
    return f


def _plus(extra: Callable[[Pair], float]) -> Callable[[Pair], list[float]]:
    return lambda p: [p.raw, float(np.log1p(p.n)), extra(p)]


FEATURES: dict[str, Callable[[Pair], list[float]]] = {
    "base": lambda p: [p.raw, float(np.log1p(p.n))],
    "tf": _plus(lambda p: sum(q * st * tf for q, tf, st in p.counts)),
    "log_tf": _plus(lambda p: float(np.log1p(sum(q * st * tf for q, tf, st in p.counts)))),
    **{f"sat_tf {k}": _sat(k) for k in (0.5, 1.0, 2.0)},
    "focus": _plus(lambda p: p.mentions / p.n),
    "first": _plus(lambda p: p.first / p.n),
    "sentence": _plus(lambda p: p.sentence),
    "cue_near": _plus(lambda p: float(p.cue_near > 0)),
    "praise": _plus(lambda p: p.praise / p.n),
}


def held_out(data: list[Pair], inputs: Callable[[Pair], list[float]], short_max: int) -> tuple[float, float, list[float]]:
    """Mean R-precision and MAP over the judged features, each app ranked with a logistic fitted on the other three."""
    from sklearn.linear_model import LogisticRegression

    def is_long(p: Pair) -> bool:
        return p.n > short_max and p.raw > 0

    rps, aps = [], []
    for held in dict.fromkeys(p.app for p in data):
        train = [p for p in data if p.app != held and is_long(p)]
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(np.array([inputs(p) for p in train]), [p.relevant for p in train])
        for feat in dict.fromkeys(p.feature for p in data if p.app == held):
            rows = [p for p in data if p.app == held and p.feature == feat]
            long_ = [i for i, p in enumerate(rows) if is_long(p)]
            score = np.array([p.score for p in rows])
            score[long_] = lr.predict_proba(np.array([inputs(rows[i]) for i in long_]))[:, 1]
            order = [i for i in np.argsort(-score, kind="stable").tolist() if score[i] > 0]  # as rank_items lists them
            rp, ap = r_precision_ap([str(i) for i in order], {str(i) for i, p in enumerate(rows) if p.relevant})
            rps.append(rp)
            aps.append(ap)
    return float(np.mean(rps)), float(np.mean(aps)), rps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("features", nargs="*", default=list(FEATURES), help=f"of {', '.join(FEATURES)}")
    args = ap.parse_args(argv)
    params = SimilarityParams()
    apps = load(args.data)
    data = [p for app in apps for p in pairs(app, params)]
    names = [f for app in apps for f in app.judged]
    print(f"{'feature':<12} {'R-prec':>6} {'MAP':>6}   per judged feature: {', '.join(names)}")
    for name in args.features:
        rp, mean_ap, per = held_out(data, FEATURES[name], params.short_max)
        print(f"{name:<12} {rp:>6.3f} {mean_ap:>6.3f}   {' '.join(f'{x:.3f}' for x in per)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
