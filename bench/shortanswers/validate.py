"""Validates epics.csv / answers.csv of the short-answer benchmark."""

import collections
import csv
import os
import sys

D = os.path.dirname(os.path.abspath(__file__))
epics = list(csv.DictReader(open(os.path.join(D, "epics.csv"))))
ans = list(csv.DictReader(open(os.path.join(D, "answers.csv"))))
errs = []
keys = [e["key"] for e in epics]
if len(keys) != len(set(keys)):
    errs.append("duplicate epic keys")
for e in epics:
    if not e["summary"].strip() or not e["description"].strip():
        errs.append(f"epic {e['key']} missing summary/description")
ids = [a["id"] for a in ans]
if len(ids) != len(set(ids)):
    errs.append("duplicate answer ids")
texts = collections.Counter(a["text"].strip().lower() for a in ans)
for t, n in texts.items():
    if n > 1:
        errs.append(f"duplicate text: {t!r}")
per = collections.Counter()
for a in ans:
    n = len(a["text"].split())
    if n > 12:
        errs.append(f"{a['id']} has {n} words: {a['text']!r}")
    if n == 0:
        errs.append(f"{a['id']} empty text")
    if not a["source"].strip():
        errs.append(f"{a['id']} has no source")
    if a["epic"] and a["epic"] not in keys:
        errs.append(f"{a['id']} references unknown epic {a['epic']}")
    per[a["epic"]] += 1
for k in keys:
    if per[k] < 5:
        errs.append(f"epic {k} has only {per[k]} answers")
linked = sum(v for k, v in per.items() if k)
print(f"epics: {len(keys)}")
print(f"answers: {len(ans)} (linked to an epic: {linked}, no epic: {per['']})")
print(
    "words per answer: max",
    max(len(a["text"].split()) for a in ans),
    "mean %.1f" % (sum(len(a["text"].split()) for a in ans) / len(ans)),
)
src = collections.Counter("is22-dev" if a["source"].startswith("is22") else "github" for a in ans)
print("by source:", dict(src))
for e in epics:
    print(f"  {e['key']:6} {per[e['key']]:3}  {e['summary']}")
if len(ans) < 150:
    errs.append("fewer than 150 answers")
if per[""] < 20:
    errs.append("fewer than 20 no-epic answers")
if not 16 <= len(keys) <= 25:
    errs.append("epic count outside 16-25")
print("\n".join(["ERRORS:"] + errs) if errs else "OK: all checks passed")
sys.exit(1 if errs else 0)
