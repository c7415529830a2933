"""Linking quality on is22-dev: real app reviews judged against app features.

Reads the data as a linking problem: every feature of an app is an epic
(summary = feature name, nothing else), every review of that app an item.
For each judged feature we rank all 1,250 reviews of its app with
``SimilarityModel.rank_items`` and report R-precision and average precision
against the pooled judgments (unjudged = not relevant, as in the study).
Then the links ``score`` would create at the recommended thresholds:
precision/recall/count of auto-accepted and suggested links to judged
features (links to unjudged features cannot be checked and are counted
apart).

``--fit-calibration`` refits the logistic calibration on all four apps
(printing the constants to paste into ``similarity/params.py``) and reports
leave-one-app-out figures: calibrate on three apps, evaluate on the fourth,
plus a threshold sweep on those held-out scores (how AUTO_ACCEPT and SUGGEST
were chosen). The wrong auto-links are printed to be read: the judgments are
pooled from lexical tools and miss some. Last, "learning from decisions": a
simulated PM accepts and rejects the top suggestions of every feature and
the rest are ranked again.

As the engine does, IDF counts the app's reviews too (``fit(...,
background=)``); ``--no-background``: over the features only. Options:
``--no-fuzzy``, ``--stemmer snowball`` (needs snowballstemmer importable;
comparison only). ``--fit-calibration`` fits the long-text calibration (texts
of more than ``SHORT_MAX`` content words; short texts have their own, fitted
by ``bench/shortanswers.py``).

    .venv/bin/python bench/linking.py [--data DIR] [--fit-calibration] [--no-background]
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from demandsync.sync.linking import similarity as simmod
from demandsync.sync.linking.similarity import EpicProfile, SimilarityModel, SimilarityParams


def _default_data() -> Path:
    """``shared/realdata/is22-dev`` beside the checkout (or a worktree of it)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "realdata" / "is22-dev").is_dir():
            return parent / "shared" / "realdata" / "is22-dev"
    return Path("/work/shared/realdata/is22-dev")


DEFAULT_DATA = _default_data()


@dataclass
class App:
    name: str
    features: list[str]
    judged: list[str]
    review_ids: list[str]
    texts: list[str]
    relevant: dict[str, set[str]] = field(default_factory=dict)  # feature -> review ids judged Y


def load(data: Path) -> list[App]:
    apps: dict[str, App] = {}
    with open(data / "features.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            a = apps.setdefault(row["app"], App(row["app"], [], [], [], []))
            a.features.append(row["feature"])
            if row["judged"] == "Y":
                a.judged.append(row["feature"])
                a.relevant[row["feature"]] = set()
    with open(data / "reviews.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            apps[row["app"]].review_ids.append(row["review_id"])
            apps[row["app"]].texts.append(row["text"])
    with open(data / "judgments.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["relevant"] == "Y":
                apps[row["app"]].relevant[row["feature"]].add(row["review_id"])
    return list(apps.values())


def fitted(app: App, params: SimilarityParams, background: bool) -> SimilarityModel:
    model = SimilarityModel(params)
    model.fit({f: EpicProfile(summary=f) for f in app.features}, background=app.texts if background else ())
    return model


def r_precision_ap(ranked_ids: list[str], relevant: set[str]) -> tuple[float, float]:
    r = len(relevant)
    if r == 0:
        return 0.0, 0.0
    hits = 0
    ap = 0.0
    for i, rid in enumerate(ranked_ids, 1):
        if rid in relevant:
            hits += 1
            ap += hits / i
    rprec = sum(1 for rid in ranked_ids[:r] if rid in relevant) / r
    return rprec, ap / r


@dataclass
class LinkStats:
    correct: int = 0
    wrong: int = 0
    unjudged: int = 0
    relevant: int = 0

    @property
    def count(self) -> int:
        return self.correct + self.wrong

    @property
    def precision(self) -> float:
        return self.correct / self.count if self.count else float("nan")

    @property
    def recall(self) -> float:
        return self.correct / self.relevant if self.relevant else float("nan")

    def add(self, o: LinkStats) -> None:
        self.correct += o.correct
        self.wrong += o.wrong
        self.unjudged += o.unjudged
        self.relevant += o.relevant


def link_stats(app: App, model: SimilarityModel, threshold: float, top_k: int) -> LinkStats:
    st = LinkStats(relevant=sum(len(v) for v in app.relevant.values()))
    cands = model.score(app.texts, top_k=top_k, min_score=threshold)
    for rid, cs in zip(app.review_ids, cands):
        for c in cs:
            if c.epic_key in app.relevant:
                if rid in app.relevant[c.epic_key]:
                    st.correct += 1
                else:
                    st.wrong += 1
            else:
                st.unjudged += 1
    return st


def show_wrong(apps: list[App], params: SimilarityParams, args: argparse.Namespace) -> None:
    """Print the auto-links that the judgments call wrong, to read them."""
    print(f"auto-links >= {args.auto_accept:.2f} that the judgments call wrong (read before blaming the model):")
    for app in apps:
        model = fitted(app, params, args.background)
        for rid, text, cs in zip(app.review_ids, app.texts, model.score(app.texts, args.top_k, args.auto_accept)):
            for c in cs:
                if c.epic_key in app.relevant and rid not in app.relevant[c.epic_key]:
                    print(f"  {c.score:.2f} {app.name}/{c.epic_key}: {' '.join(text.split())[:150]}")
    print()


def evaluate(apps: list[App], params: SimilarityParams, args: argparse.Namespace, quiet: bool = False) -> dict[str, float]:
    rows = []
    auto, sugg = LinkStats(), LinkStats()
    for app in apps:
        model = fitted(app, params, args.background)
        for feat in app.judged:
            ranked = model.rank_items(feat, app.texts, limit=len(app.texts))
            ids = [app.review_ids[i] for i, _ in ranked]
            rp, ap = r_precision_ap(ids, app.relevant[feat])
            rows.append((app.name, feat, len(app.relevant[feat]), rp, ap))
        auto.add(link_stats(app, model, args.auto_accept, args.top_k))
        sugg.add(link_stats(app, model, args.suggest, args.top_k))
    if not quiet:
        print(f"{'app':<9} {'feature':<32} {'#rel':>4} {'R-prec':>6} {'AP':>6}")
        for app_name, feat, n, rp, ap in rows:
            print(f"{app_name:<9} {feat:<32} {n:>4} {rp:>6.3f} {ap:>6.3f}")
    mean_rp = float(np.mean([r[3] for r in rows]))
    mean_ap = float(np.mean([r[4] for r in rows]))
    if not quiet:
        print(f"{'MEAN':<9} {'':<32} {'':>4} {mean_rp:>6.3f} {mean_ap:>6.3f}")
        print()
        for name, thr, st in (("auto_accept", args.auto_accept, auto), ("suggest", args.suggest, sugg)):
            print(
                f"{name:<11} >= {thr:.2f}: links to judged features {st.count:4d}  "
                f"precision {st.precision:.3f}  recall {st.recall:.3f} (of {st.relevant} relevant)  "
                f"| links to unjudged features (not evaluable) {st.unjudged}"
            )
    return {
        "rprec": mean_rp, "map": mean_ap,
        "auto_p": auto.precision, "auto_r": auto.recall, "auto_n": auto.count, "auto_u": auto.unjudged,
        "sugg_p": sugg.precision, "sugg_r": sugg.recall, "sugg_n": sugg.count,
    }


def pairs(apps: list[App], params: SimilarityParams, background: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(X, y) per app over judged features x all reviews: X = [raw, ln(1+n)]."""
    out = {}
    for app in apps:
        model = fitted(app, params, background)
        pf = model.features(app.texts)
        keys = model.epic_keys
        xs, ys = [], []
        for feat in app.judged:
            e = keys.index(feat)
            # zero-overlap pairs score 0 by rule; short texts have their own calibration
            mask = (pf.raw[:, e] > 0) & (pf.n_terms > params.short_max)
            x = np.column_stack([pf.raw[:, e], np.log1p(pf.n_terms)])[mask]
            y = np.array([rid in app.relevant[feat] for rid in app.review_ids])[mask]
            xs.append(x)
            ys.append(y)
        out[app.name] = (np.vstack(xs), np.concatenate(ys).astype(int))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=1000)
    lr.fit(x, y)
    b = lr.coef_[0]
    return (round(float(lr.intercept_[0]), 2), round(float(b[0]), 2), round(float(b[1]), 2))


SWEEP = (0.3, 0.35, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def learning(apps: list[App], params: SimilarityParams, args: argparse.Namespace, n_review: int) -> None:
    """A PM reviews the top ``n_review`` suggestions of every judged feature
    (``rank_items``, what ``demandsync suggest`` shows) and decides as the
    judges did: relevant ones accepted, the others rejected. The model is
    refitted with those decisions (accepted only, then accepted and rejected)
    and every feature is evaluated on the reviews nobody decided for it:
    R-precision, and the suggestion queue at ``SUGGEST`` (top 3 per review)."""
    rows: dict[str, list[float]] = {"none": [], "accept": [], "both": []}
    queue = {name: LinkStats() for name in rows}
    for app in apps:
        plain = fitted(app, params, args.background)
        reviewed: dict[str, set[int]] = {}
        accepted: dict[str, list[str]] = {}
        rejected: dict[str, list[str]] = {}
        for feat in app.judged:
            top = [i for i, _ in plain.rank_items(feat, app.texts, limit=n_review)]
            reviewed[feat] = set(top)
            accepted[feat] = [app.texts[i] for i in top if app.review_ids[i] in app.relevant[feat]]
            rejected[feat] = [app.texts[i] for i in top if app.review_ids[i] not in app.relevant[feat]]
        bg = app.texts if args.background else ()
        models = {
            "none": plain,
            "accept": SimilarityModel(params).fit(
                {f: EpicProfile(summary=f, accepted_texts=accepted.get(f, [])) for f in app.features}, background=bg),
            "both": SimilarityModel(params).fit(
                {f: EpicProfile(summary=f, accepted_texts=accepted.get(f, []), rejected_texts=rejected.get(f, []))
                 for f in app.features}, background=bg),
        }
        for name, model in models.items():
            for feat in app.judged:
                rel = {rid for i, rid in enumerate(app.review_ids) if rid in app.relevant[feat] and i not in reviewed[feat]}
                if not rel:
                    continue
                ranked = [app.review_ids[i] for i, _ in model.rank_items(feat, app.texts, limit=len(app.texts))
                          if i not in reviewed[feat]]
                rows[name].append(r_precision_ap(ranked, rel)[0])
            st = LinkStats(relevant=sum(1 for f in app.judged for i, rid in enumerate(app.review_ids)
                                        if rid in app.relevant[f] and i not in reviewed[f]))
            for i, cs in enumerate(model.score(app.texts, top_k=args.top_k, min_score=args.suggest)):
                for c in cs:
                    if c.epic_key in app.relevant and i not in reviewed[c.epic_key]:
                        if app.review_ids[i] in app.relevant[c.epic_key]:
                            st.correct += 1
                        else:
                            st.wrong += 1
            queue[name].add(st)
    print(f"learning from decisions: a PM reviews the top {n_review} suggestions of each judged feature "
          f"(accepts the relevant, rejects the rest); figures on the reviews not decided ({len(rows['none'])} features):")
    for name, label in (("none", "no decisions"), ("accept", "+ accepted"), ("both", "+ accepted + rejected")):
        st = queue[name]
        print(f"  {label:<22} R-prec {np.mean(rows[name]):.3f}   suggest >= {args.suggest:.2f}: "
              f"recall {st.recall:.3f} precision {st.precision:.3f} ({st.count} links)")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--auto-accept", type=float, default=simmod.AUTO_ACCEPT)
    ap.add_argument("--suggest", type=float, default=simmod.SUGGEST)
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--no-background", dest="background", action="store_false",
                    help="IDF over the features only (the engine also counts the items)")
    ap.add_argument("--no-fuzzy", action="store_true", help="no typo/compound matching")
    ap.add_argument("--stemmer", choices=("light", "snowball"), default="light")
    ap.add_argument("--fit-calibration", action="store_true")
    args = ap.parse_args(argv)
    print("$ " + " ".join([".venv/bin/python", "bench/linking.py", *(argv if argv is not None else sys.argv[1:])]))
    print()
    if args.stemmer == "snowball":
        import snowballstemmer  # measurement only; not a dependency

        from demandsync.sync.linking import textnorm

        sb = snowballstemmer.stemmer("english")
        textnorm._stem_uncached = sb.stemWord  # type: ignore[assignment]
        textnorm._STEM_CACHE.clear()
    params = SimilarityParams()
    if args.no_fuzzy:
        params = replace(params, fuzzy=False)
    apps = load(args.data)

    if args.fit_calibration:
        data = pairs(apps, params, args.background)
        x_all = np.vstack([data[a.name][0] for a in apps])
        y_all = np.concatenate([data[a.name][1] for a in apps])
        cal = fit_logistic(x_all, y_all)
        print(f"long-text calibration fitted on all apps: CAL_BIAS={cal[0]} CAL_RAW={cal[1]} CAL_LENGTH={cal[2]}")
        print()
        print("leave-one-app-out (calibration fitted on the other three apps):")
        print(f"{'held out':<9} {'calibration':<30} {'R-prec':>6} {'MAP':>6} {'auto P':>6} {'auto R':>6} {'#auto':>5} {'sugg P':>6} {'sugg R':>6}")
        tot_auto, tot_sugg = LinkStats(), LinkStats()
        rps = []
        held_models: list[tuple[App, SimilarityModel]] = []
        for held in apps:
            rest = [a for a in apps if a is not held]
            cal_h = fit_logistic(np.vstack([data[a.name][0] for a in rest]), np.concatenate([data[a.name][1] for a in rest]))
            p_h = replace(params, calibration=cal_h)
            r = evaluate([held], p_h, args, quiet=True)
            m = fitted(held, p_h, args.background)
            held_models.append((held, m))
            tot_auto.add(link_stats(held, m, args.auto_accept, args.top_k))
            tot_sugg.add(link_stats(held, m, args.suggest, args.top_k))
            rps.append(r["rprec"])
            print(f"{held.name:<9} {str(cal_h):<30} {r['rprec']:>6.3f} {r['map']:>6.3f} {r['auto_p']:>6.3f} {r['auto_r']:>6.3f} {r['auto_n']:>5d} {r['sugg_p']:>6.3f} {r['sugg_r']:>6.3f}")
        print(
            f"{'POOLED':<9} {'':<30} {np.mean(rps):>6.3f} {'':>6} {tot_auto.precision:>6.3f} {tot_auto.recall:>6.3f} {tot_auto.count:>5d} {tot_sugg.precision:>6.3f} {tot_sugg.recall:>6.3f}"
        )
        print()
        print("threshold sweep, leave-one-app-out scores pooled over the four apps (links to judged features, top_k=%d):" % args.top_k)
        print(f"{'score >=':>8} {'#links':>6} {'precision':>9} {'recall':>6} {'#unjudged':>9}")
        for thr in SWEEP:
            st = LinkStats()
            for held, m in held_models:
                st.add(link_stats(held, m, thr, args.top_k))
            print(f"{thr:>8.2f} {st.count:>6d} {st.precision:>9.3f} {st.recall:>6.3f} {st.unjudged:>9d}")
        print()
        params = replace(params, calibration=cal)
        print("with the calibration fitted on all apps:")
    evaluate(apps, params, args)
    print()
    show_wrong(apps, params, args)
    for n in (5, 10, 20):
        learning(apps, params, args, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
