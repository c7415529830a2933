"""Speed of the similarity model: fit N epics, score M texts.

Synthetic but shaped like real data (seeded, so runs compare): a Zipfian
vocabulary of pronounceable pseudo-words mixed with English function words;
epics with a 2-6 word summary, a 40-word description, labels and a few
accepted texts; feedback texts of 5-80 words (long tail), some typos.
Target: score 100,000 texts against 2,000 epics in <= 5 s on 2 cores,
peak RSS < 1 GB.

    .venv/bin/python bench/link_speed.py [--epics 2000] [--texts 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from demandsync.sync.linking.similarity import EpicProfile, SimilarityModel

FUNCTION_WORDS = "the a to and i it is in of for my this that with but not can on you be".split()
SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["ing", "er", "ed", "tion", "s"]


def vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words = set()
    while len(words) < size:
        n = int(rng.integers(2, 5))
        words.add("".join(rng.choice(SYLLABLES, n)))
    return sorted(words)


def make_data(n_epics: int, n_texts: int, seed: int) -> tuple[dict[str, EpicProfile], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(rng, 30_000))
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    zipf /= zipf.sum()

    def phrase(n: int) -> str:
        content = vocab[rng.choice(len(vocab), n, p=zipf)]
        fw = rng.choice(FUNCTION_WORDS, n)
        mix = np.where(rng.random(n) < 0.45, fw, content)
        return " ".join(mix)

    profiles = {}
    for i in range(n_epics):
        profiles[f"EP-{i}"] = EpicProfile(
            summary=" ".join(vocab[rng.choice(len(vocab), int(rng.integers(2, 7)), p=zipf)]),
            description=phrase(40),
            labels=list(vocab[rng.choice(len(vocab), 2, p=zipf)]),
            accepted_texts=[phrase(int(rng.integers(5, 30))) for _ in range(int(rng.integers(0, 5)))],
        )
    lengths = np.minimum(5 + rng.geometric(1 / 20, n_texts), 80)
    texts = []
    for n in lengths:
        t = phrase(int(n))
        if rng.random() < 0.2:  # a typo
            k = int(rng.integers(0, len(t)))
            t = t[:k] + t[k + 1 :]
        texts.append(t)
    return profiles, texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=None)
    args = ap.parse_args(argv)
    print("$ " + " ".join([".venv/bin/python", "bench/link_speed.py", *(argv if argv is not None else sys.argv[1:])]))
    t0 = time.perf_counter()
    profiles, texts = make_data(args.epics, args.texts, args.seed)
    gen = time.perf_counter() - t0
    rss_data = peak_rss_mb()
    print(f"generated {args.epics} epics, {len(texts)} texts (mean {np.mean([len(t.split()) for t in texts]):.0f} words) in {gen:.1f}s; peak RSS {rss_data:.0f} MB")

    overrides = {"chunk_size": args.chunk_size} if args.chunk_size is not None else {}
    model = SimilarityModel(**overrides)
    t0 = time.perf_counter()
    model.fit(profiles)
    fit_s = time.perf_counter() - t0
    print(f"fit:   {fit_s:6.2f} s   fingerprint {model.fingerprint()[:12]}")

    t0, c0 = time.perf_counter(), time.process_time()
    cands = model.score(texts, top_k=args.top_k, min_score=0.0)
    score_s, score_cpu = time.perf_counter() - t0, time.process_time() - c0
    linked = sum(1 for c in cands if c)
    print(
        f"score: {score_s:6.2f} s   {len(texts) / score_s:,.0f} items/s   CPU {score_cpu:.2f} s   "
        f"({linked} texts with a candidate)"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (others' work inflates wall time)")

    t0 = time.perf_counter()
    model.rank_items("EP-0", texts, limit=50)
    rank_s = time.perf_counter() - t0
    print(f"rank_items (one epic, all texts): {rank_s:.2f} s")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (after data generation: {rss_data:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
