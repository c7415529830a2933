"""Theme coherence on is22-dev: do reviews judged relevant to one feature land in one theme?

The inbox groups unlinked feedback into themes (``sync/linking/themes.py``).
Here each app's reviews play the inbox: all 1,250 of them ("all"), or only the
ones the linker would not auto-accept against the app's features ("inbox", the
realistic case: what is left for the PM), or only the judged-relevant ones ("judged":
no noise, three features per app). Only the reviews human judges marked
relevant to one of the app's three judged features can be checked; the others
are clustered too (they are the noise a real inbox holds) but not scored.

Figures over the judged-relevant reviews (a review relevant to two features
counts as a match for either):

- pairwise precision: of the pairs of judged reviews put in one theme, the
  share relevant to a common feature; pairwise recall: of the pairs relevant to
  a common feature, the share put in one theme (themes below ``min_size`` count
  as "not grouped");
- purity: judged reviews in themes whose majority feature is theirs, over
  judged reviews in themes; coverage: judged reviews in any theme;
- chance: the pairwise precision of themes drawn at random (the share of judged
  pairs that share a feature);
- adjusted Rand index of themes vs features (first feature of multi-feature
  reviews; reviews in no theme as singletons).

    .venv/bin/python bench/themes.py [--data DIR] [--sweep]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections import Counter
from pathlib import Path

from sklearn.metrics import adjusted_rand_score

from demandsync.sync.linking import themes as themes_mod
from demandsync.sync.linking.similarity import AUTO_ACCEPT, EpicProfile, SimilarityModel

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "is22-dev"


def load(data: Path) -> dict[str, dict[str, object]]:
    apps: dict[str, dict[str, object]] = {}
    with open(data / "features.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            apps.setdefault(row["app"], {"features": [], "ids": [], "texts": [], "relevant": {}})
            apps[row["app"]]["features"].append(row["feature"])  # type: ignore[union-attr]
    with open(data / "reviews.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            apps[row["app"]]["ids"].append(row["review_id"])  # type: ignore[union-attr]
            apps[row["app"]]["texts"].append(row["text"])  # type: ignore[union-attr]
    with open(data / "judgments.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["relevant"] == "Y":
                rel: dict[str, set[str]] = apps[row["app"]]["relevant"]  # type: ignore[assignment]
                rel.setdefault(row["review_id"], set()).add(row["feature"])
    return apps


def inbox_of(app: dict[str, object]) -> list[int]:
    """Indices of the reviews the linker would leave unlinked (nothing >= AUTO_ACCEPT)."""
    model = SimilarityModel().fit({f: EpicProfile(f) for f in app["features"]})  # type: ignore[attr-defined]
    scored = model.score(app["texts"], top_k=1, min_score=AUTO_ACCEPT)  # type: ignore[arg-type]
    return [i for i, c in enumerate(scored) if not c]


def evaluate(apps: dict[str, dict[str, object]], mode: str, items_per_theme: int) -> dict[str, float]:
    tp = fp = fn = pairs = 0
    pure = in_theme = judged_total = 0
    ari_truth: list[str] = []
    ari_pred: list[str] = []
    n_themes = n_items = 0
    seconds = 0.0
    for name, app in apps.items():
        texts: list[str] = app["texts"]  # type: ignore[assignment]
        ids: list[str] = app["ids"]  # type: ignore[assignment]
        relevant: dict[str, set[str]] = app["relevant"]  # type: ignore[assignment]
        keep = (inbox_of(app) if mode == "inbox" else [i for i, r in enumerate(ids) if r in relevant]
                if mode == "judged" else list(range(len(texts))))
        started = time.perf_counter()
        found = themes_mod.find_themes([texts[i] for i in keep], items_per_theme=items_per_theme)
        seconds += time.perf_counter() - started
        n_themes += len(found)
        n_items += len(keep)
        theme_of: dict[str, int] = {}
        for t, theme in enumerate(found):
            for m in theme.members:
                theme_of[ids[keep[m]]] = t
        judged = [ids[i] for i in keep if ids[i] in relevant]
        judged_total += len(judged)
        for a, b in itertools.combinations(judged, 2):
            together = a in theme_of and theme_of.get(a) == theme_of.get(b)
            same = bool(relevant[a] & relevant[b])
            pairs += 1
            tp += together and same
            fp += together and not same
            fn += (not together) and same
        by_theme: dict[int, list[str]] = {}
        for r in judged:
            if r in theme_of:
                by_theme.setdefault(theme_of[r], []).append(r)
        for members in by_theme.values():
            counts = Counter(f for r in members for f in relevant[r])
            top = counts.most_common(1)[0][0]
            pure += sum(top in relevant[r] for r in members)
            in_theme += len(members)
        for r in judged:
            ari_truth.append(f"{name}/{sorted(relevant[r])[0]}")
            ari_pred.append(f"{name}/{theme_of[r]}" if r in theme_of else f"single/{r}")
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "chance": (tp + fn) / pairs if pairs else 0.0,
        "purity": pure / in_theme if in_theme else 0.0,
        "coverage": in_theme / judged_total if judged_total else 0.0,
        "ari": adjusted_rand_score(ari_truth, ari_pred),
        "themes": n_themes, "items": n_items, "judged": judged_total, "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sweep", action="store_true", help="Try several ITEMS_PER_THEME values.")
    args = parser.parse_args()
    apps = load(args.data)
    sizes = [20, 30, 40, 60] if args.sweep else [themes_mod.ITEMS_PER_THEME]
    print("mode   per-theme  pair-P (chance)  pair-R  purity  coverage   ARI  themes  items  judged  seconds")
    for mode in ("all", "inbox", "judged"):
        for d in sizes:
            r = evaluate(apps, mode, d)
            print(f"{mode:<6} {d:>9}  {r['precision']:.2f}   ({r['chance']:.2f})   {r['recall']:.2f}    {r['purity']:.2f}    "
                  f"{r['coverage']:.2f}    {r['ari']:.2f}  {r['themes']:>6}  {r['items']:>5}  {r['judged']:>6}  "
                  f"{r['seconds']:.2f}")


if __name__ == "__main__":
    main()
