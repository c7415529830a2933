"""Linking quality on short answers (<= 12 words): bench/shortanswers/.

239 short feedback answers across 18 epics (24 fit no epic), quoted from
public GitHub feature requests and is22-dev app reviews (sources and licence
notes in ``bench/shortanswers/README.md``). Each epic is fitted with its
summary and description, as a new user would create it; every answer is
scored with ``SimilarityModel.score`` (top 3), as the ``link`` stage does.

Reported at the review threshold (``SUGGEST``) and the auto-link threshold
(``AUTO_ACCEPT``):

* recall: share of answers with an epic whose right epic is among the
  candidates at or above the threshold;
* precision: share of all candidates (for every answer, those with no epic
  included) that are the right epic;
* auto-links: the same at ``AUTO_ACCEPT``.

Figures for all answers and without the 74 that come from is22-dev (they
overlap the is22-dev benchmark; 28 reuse its labels). ``--show`` prints the
misses and wrong candidates to read.

As the engine does, IDF is computed over the epics and the items (here the
answers; ``--no-background``: epics only).

``--fit-calibration`` fits the short-text calibration (bias, epic coverage,
item coverage, length) on the answers without the is22-dev ones (answers x
epics sharing a term) plus is22-dev's short reviews x judged features
(each pair at ``--is22-weight``, 0.5; 0: the answers alone) and prints
``CAL_SHORT`` to paste into ``similarity/params.py``. Then it reports **held-out**
figures: the 18 epics in three folds of six; for each fold the calibration
is fitted on the short answers of the other two folds (the no-epic answers
dealt round-robin) and the fold's answers are scored with it; and is22-dev
leave-one-app-out (the short calibration fitted without the app's reviews).

    .venv/bin/python bench/shortanswers.py [--show] [--suggest 0.35] [--auto-accept 0.7] [--fit-calibration]
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from demandsync.sync.linking import similarity as simmod
from demandsync.sync.linking.similarity import Candidate, EpicProfile, SimilarityModel, SimilarityParams

DATA = Path(__file__).resolve().parent / "shortanswers"
# Each is22-dev short-review pair counts this much in the joint short-text calibration fit.
IS22_WEIGHT = 0.5


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    epic: str
    source: str

    @property
    def from_is22(self) -> bool:
        return self.source.startswith("is22-dev")


def load(data: Path = DATA) -> tuple[dict[str, EpicProfile], list[Answer]]:
    with open(data / "epics.csv", newline="", encoding="utf-8") as f:
        profiles = {r["key"]: EpicProfile(summary=r["summary"], description=r["description"]) for r in csv.DictReader(f)}
    with open(data / "answers.csv", newline="", encoding="utf-8") as f:
        answers = [Answer(r["id"], r["text"], r["epic"], r["source"]) for r in csv.DictReader(f)]
    return profiles, answers


@dataclass
class Figures:
    answers: int
    with_epic: int
    found: int
    candidates: int
    right: int

    @property
    def recall(self) -> float:
        return self.found / self.with_epic if self.with_epic else float("nan")

    @property
    def precision(self) -> float:
        return self.right / self.candidates if self.candidates else float("nan")


def figures(answers: list[Answer], cands: list[list[Candidate]], threshold: float) -> Figures:
    found = right = n = 0
    for a, cs in zip(answers, cands, strict=True):
        keys = [c.epic_key for c in cs if c.score >= threshold]
        n += len(keys)
        right += sum(1 for k in keys if k == a.epic)
        found += bool(a.epic) and a.epic in keys
    return Figures(len(answers), sum(1 for a in answers if a.epic), found, n, right)


def report(model: SimilarityModel, answers: list[Answer], suggest: float, auto: float, show: bool) -> dict[str, float]:
    cands = model.score([a.text for a in answers], top_k=3, min_score=min(suggest, auto))
    out: dict[str, float] = {}
    for label, keep in (("all answers", lambda a: True), ("without is22-dev", lambda a: not a.from_is22)):
        idx = [i for i, a in enumerate(answers) if keep(a)]
        sub, sub_c = [answers[i] for i in idx], [cands[i] for i in idx]
        s, x = figures(sub, sub_c, suggest), figures(sub, sub_c, auto)
        print(f"{label:<17} ({s.answers} answers, {s.with_epic} with an epic)")
        print(f"  suggest >= {suggest:.2f}: right epic among candidates {s.found:3d}/{s.with_epic} = {s.recall:.3f}   "
              f"candidates right {s.right:3d}/{s.candidates} = {s.precision:.3f}")
        print(f"  auto    >= {auto:.2f}: right epic auto-linked      {x.found:3d}/{x.with_epic} = {x.recall:.3f}   "
              f"auto-links right {x.right:3d}/{x.candidates} = {x.precision:.3f}")
        out.setdefault("recall", s.recall)
        out.setdefault("precision", s.precision)
        out.setdefault("auto_precision", x.precision)
    if show:
        print("\nmisses and wrong candidates (score, epic):")
        for a, cs in zip(answers, cands, strict=True):
            got = [(round(c.score, 2), c.epic_key) for c in cs if c.score >= suggest]
            if (a.epic and a.epic not in [k for _, k in got]) or any(k != a.epic for _, k in got):
                print(f"  {a.id} [{a.epic or '-':>5}] {a.text[:70]!r:<72} {got}")
    return out


def fitted(profiles: dict[str, EpicProfile], answers: list[Answer], params: SimilarityParams, background: bool) -> SimilarityModel:
    """The model as the engine fits it: IDF also over the items (here: the answers)."""
    return SimilarityModel(params).fit(profiles, background=[a.text for a in answers] if background else ())


def answer_pairs(model: SimilarityModel, answers: list[Answer]) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) over short answers x epics sharing a term: X = [raw, item, ln(1+n)]."""
    pf = model.features([a.text for a in answers])
    xs, ys = [], []
    for i, a in enumerate(answers):
        if pf.n_terms[i] > model.params.short_max:
            continue
        for e, k in enumerate(model.epic_keys):
            if pf.raw[i, e] > 0:
                xs.append((pf.raw[i, e], min(pf.item[i, e], 1.0), np.log1p(pf.n_terms[i])))
                ys.append(int(k == a.epic))
    return np.array(xs).reshape(-1, 3), np.array(ys, dtype=int)


def is22_short_pairs(params: SimilarityParams) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per is22-dev app, (X, y) over its short reviews x judged features sharing a term (as
    :func:`answer_pairs`): the other side of the short-text calibration. Empty without the data."""
    import linking  # bench/linking.py, beside this file

    if not (linking.DEFAULT_DATA / "judgments.csv").is_file():
        return {}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for app in linking.load(linking.DEFAULT_DATA):
        model = linking.fitted(app, params, True)
        pf = model.features(app.texts)
        short = pf.n_terms <= params.short_max
        xs, ys = [], []
        for feat in app.judged:
            e = model.epic_keys.index(feat)
            mask = short & (pf.raw[:, e] > 0)
            xs.append(np.column_stack([pf.raw[mask, e], np.minimum(pf.item[mask, e], 1.0), np.log1p(pf.n_terms[mask])]))
            ys.append(np.array([app.review_ids[i] in app.relevant[feat] for i in np.flatnonzero(mask)], dtype=int))
        out[app.name] = (np.vstack(xs), np.concatenate(ys))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, x22: np.ndarray | None = None, y22: np.ndarray | None = None,
                 is22_weight: float = IS22_WEIGHT) -> tuple[float, float, float, float]:
    """Logistic fit on short-answer pairs, plus is22-dev short-review pairs at ``is22_weight`` each."""
    from sklearn.linear_model import LogisticRegression

    w = np.ones(len(y))
    if x22 is not None and y22 is not None and len(y22):
        x, y, w = np.vstack([x, x22]), np.concatenate([y, y22]), np.concatenate([w, np.full(len(y22), is22_weight)])
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(x, y, sample_weight=w)
    b = lr.coef_[0]
    return (round(float(lr.intercept_[0]), 2), round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2]), 2))


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray | None, np.ndarray | None]:
    return (np.vstack([x for x, _ in parts]), np.concatenate([y for _, y in parts])) if parts else (None, None)


def cross_validate(profiles: dict[str, EpicProfile], answers: list[Answer], args: argparse.Namespace) -> None:
    params = SimilarityParams()
    pool = fitted(profiles, answers, params, args.background)
    train_pool = [a for a in answers if not a.from_is22]
    is22 = is22_short_pairs(params) if args.is22_weight > 0 else {}
    x22, y22 = _stack(list(is22.values()))
    cal = fit_logistic(*answer_pairs(pool, train_pool), x22, y22, args.is22_weight)
    print(f"short-text calibration fitted on the non-is22 short answers"
          f"{f' + is22-dev short reviews (weight {args.is22_weight})' if is22 else ''}: CAL_SHORT = {cal}\n")
    keys = sorted(profiles, key=lambda k: int(k.split("-")[1]))
    fold_of = {k: i % 3 for i, k in enumerate(keys)}
    negatives = [a for a in answers if not a.epic]
    neg_fold = {a.id: i % 3 for i, a in enumerate(negatives)}

    def fold(a: Answer) -> int:
        return fold_of[a.epic] if a.epic else neg_fold[a.id]

    held_answers: list[Answer] = []
    held_cands: list[list[Candidate]] = []
    for f in range(3):
        cal_f = fit_logistic(*answer_pairs(pool, [a for a in train_pool if fold(a) != f]), x22, y22, args.is22_weight)
        model = fitted(profiles, answers, replace(params, calibration_short=cal_f), args.background)
        test = [a for a in answers if fold(a) == f]
        held_answers += test
        held_cands += model.score([a.text for a in test], top_k=3, min_score=min(args.suggest, args.auto_accept))
        print(f"fold {f}: CAL_SHORT {cal_f}, {len(test)} held-out answers")
    print("\nheld-out figures (each answer scored by a calibration fitted without its epic's answers):")
    for label, keep in (("all answers", lambda a: True), ("without is22-dev", lambda a: not a.from_is22)):
        idx = [i for i, a in enumerate(held_answers) if keep(a)]
        sub, sub_c = [held_answers[i] for i in idx], [held_cands[i] for i in idx]
        s_, x_ = figures(sub, sub_c, args.suggest), figures(sub, sub_c, args.auto_accept)
        print(f"  {label:<17} suggest recall {s_.recall:.3f} precision {s_.precision:.3f} ({s_.candidates} candidates)   "
              f"auto recall {x_.recall:.3f} precision {x_.precision:.3f} ({x_.candidates} auto-links)")
    if is22:
        held_out_is22(answer_pairs(pool, train_pool), is22, params, args)
    print()


def held_out_is22(pairs: tuple[np.ndarray, np.ndarray], is22: dict[str, tuple[np.ndarray, np.ndarray]],
                  params: SimilarityParams, args: argparse.Namespace) -> None:
    """is22-dev, leave one app out: the short calibration fitted on the short answers and the
    other three apps' short reviews; the app's R-precision and links scored with it."""
    import linking

    print("\nis22-dev leave-one-app-out (short calibration fitted without the app's reviews; long one as shipped):")
    rps: list[float] = []
    auto, sugg = linking.LinkStats(), linking.LinkStats()
    ns = argparse.Namespace(background=True, auto_accept=args.auto_accept, suggest=args.suggest, top_k=3)
    for app in linking.load(linking.DEFAULT_DATA):
        cal = fit_logistic(*pairs, *_stack([v for k, v in is22.items() if k != app.name]), args.is22_weight)
        p_h = replace(params, calibration_short=cal)
        model = linking.fitted(app, p_h, True)
        app_rps = []
        for feat in app.judged:
            ranked = [app.review_ids[i] for i, _ in model.rank_items(feat, app.texts, limit=len(app.texts))]
            app_rps.append(linking.r_precision_ap(ranked, app.relevant[feat])[0])
        rps += app_rps
        auto.add(linking.link_stats(app, model, ns.auto_accept, ns.top_k))
        sugg.add(linking.link_stats(app, model, ns.suggest, ns.top_k))
        print(f"  {app.name:<9} CAL_SHORT {cal}   R-precision {np.mean(app_rps):.3f}")
    print(f"  mean R-precision {np.mean(rps):.3f}   auto >= {args.auto_accept:.2f}: precision {auto.precision:.3f} "
          f"({auto.count} links)   suggest >= {args.suggest:.2f}: precision {sugg.precision:.3f} recall {sugg.recall:.3f}")


def learning(profiles: dict[str, EpicProfile], answers: list[Answer], args: argparse.Namespace, n_review: int,
             params: SimilarityParams | None = None) -> None:
    """A PM runs ``suggest`` for every epic, reviews its top ``n_review``
    answers, accepts the right ones and rejects the others; the model is
    refitted with the decisions and scores the answers nobody decided."""
    params = params or SimilarityParams()
    plain = fitted(profiles, answers, params, args.background)
    texts = [a.text for a in answers]
    decided: set[int] = set()
    accepted: dict[str, list[str]] = {}
    rejected: dict[str, list[str]] = {}
    for key in profiles:
        for i, _ in plain.rank_items(key, texts, limit=n_review):
            decided.add(i)
            (accepted if answers[i].epic == key else rejected).setdefault(key, []).append(texts[i])
    rest = [i for i in range(len(answers)) if i not in decided]
    sub = [answers[i] for i in rest]
    print(f"learning from decisions: the top {n_review} answers of each epic's `suggest` decided "
          f"({len(decided)} answers); figures on the {len(rest)} others:")
    bg = texts if args.background else ()
    variants = {
        "no decisions": plain,
        "+ accepted": SimilarityModel(params).fit(
            {k: replace(p, accepted_texts=accepted.get(k, [])) for k, p in profiles.items()}, background=bg),
        "+ accepted + rejected": SimilarityModel(params).fit(
            {k: replace(p, accepted_texts=accepted.get(k, []), rejected_texts=rejected.get(k, []))
             for k, p in profiles.items()}, background=bg),
    }
    for label, model in variants.items():
        cands = model.score([a.text for a in sub], top_k=3, min_score=min(args.suggest, args.auto_accept))
        s_, x_ = figures(sub, cands, args.suggest), figures(sub, cands, args.auto_accept)
        print(f"  {label:<22} suggest recall {s_.recall:.3f} precision {s_.precision:.3f}   "
              f"auto recall {x_.recall:.3f} precision {x_.precision:.3f}")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--suggest", type=float, default=simmod.SUGGEST)
    ap.add_argument("--auto-accept", type=float, default=simmod.AUTO_ACCEPT)
    ap.add_argument("--show", action="store_true", help="print misses and wrong candidates")
    ap.add_argument("--fit-calibration", action="store_true", help="fit the calibration; held-out figures")
    ap.add_argument("--is22-weight", type=float, default=IS22_WEIGHT,
                    help="weight of each is22-dev short-review pair in the fit (0: short answers only)")
    ap.add_argument("--no-background", dest="background", action="store_false",
                    help="IDF over the epics only (the engine also counts the items)")
    args = ap.parse_args(argv)
    print("$ " + " ".join([".venv/bin/python", "bench/shortanswers.py", *(argv if argv is not None else sys.argv[1:])]))
    profiles, answers = load(args.data)
    if args.fit_calibration:
        cross_validate(profiles, answers, args)
    model = fitted(profiles, answers, SimilarityParams(), args.background)
    report(model, answers, args.suggest, args.auto_accept, args.show)
    print()
    for n in (3, 5):
        learning(profiles, answers, args, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
