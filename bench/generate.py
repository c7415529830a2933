"""Seeded, reproducible demandsync workload: epics in the Jira sandbox, feedback in files and Jira.

What one workload holds (``build(out_dir, epics=N, items=M, seed=S)``):

* **Epics**: ``generate_state(N, seed)`` — project PROD, N epics with summaries
  ("Export reports to CSV (#17)") and ADF descriptions.
* **Feedback**, M items over three sources:

  - ``exports/hotjar-exit-survey-2026-0{1,2,3}.csv`` — the ``hotjar-survey``
    preset's layout (nine fixed columns, two questions, a ``Tags for:`` column
    each), 60 % of the items. Like real monthly re-downloads, each export also
    repeats the last 2 % of the previous one (so ``pulled`` > ``new``); about
    10 % of respondents are anonymous (all-zero Hotjar User ID).
  - ``exports/typeform-feedback.csv`` — Typeform's layout (``#`` token, two
    questions, lowercase hidden fields ``email``/``company``/``plan``, Start /
    Submit Date (UTC), Network ID), 35 % of the items.
  - Jira: 5 % of the items as Tasks in project FB of the same sandbox (the
    ``kind = "jira"`` source), a third of them with an epic as ``parent``.

  Every item is one of: names an epic key in its text (``explicit``, 15 %),
  mentions an admin ``[[rules]]`` keyword (``rule``, 20 %), paraphrases one
  epic's summary (``similar``, 45 %), or says nothing linkable (``noise``, 20 %).
  The generator prints the exact mix it wrote.
* ``demandsync.toml`` next to them: store ``sqlite:///bench.db``, the five
  demand fields of the demo, the three sources, 40 rules, similarity on.
* ``delta/``: what scenario 3 adds — 1 % more items (a fourth Hotjar export,
  plus Jira issues added by :func:`add_jira_delta` at run time), every one
  naming one of ``changed_epics`` epics and nothing else, so exactly those
  epics' figures change.

The Jira part lives in the sandbox's memory, not on disk: call
:func:`build_state` with the same arguments to get the identical site.

    .venv/bin/python bench/generate.py --epics 2000 --items 100000 --out /tmp/ds-bench
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demandsync.sandbox.jira import SandboxState, generate_state
from demandsync.sandbox.state import adf, utcnow

EMAIL = "bench@example.com"
TOKEN = "bench-token"
EPIC_PROJECT = "PROD"
FEEDBACK_PROJECT = "FB"

SHARE_HOTJAR, SHARE_TYPEFORM = 0.60, 0.35  # the rest comes from Jira
HOTJAR_FILES = 3
HOTJAR_OVERLAP = 0.02
MIX = (("explicit", 0.15), ("rule", 0.20), ("similar", 0.45), ("noise", 0.20))
N_RULES = 40

#: Distinctive product terms an admin would write rules for (two per rule).
RULE_WORDS = (
    ("okta", "saml"), ("zapier", "make.com"), ("salesforce", "sfdc"), ("hubspot", "hubspot crm"),
    ("gantt", "gantt chart"), ("kanban", "swimlanes"), ("2fa", "two-factor"), ("ldap", "active directory"),
    ("scim", "provisioning"), ("pagerduty", "opsgenie"), ("ms teams", "microsoft teams"), ("discord", "discord bot"),
    ("trello", "trello import"), ("asana", "asana import"), ("notion", "notion embed"), ("figma", "figma embed"),
    ("tableau", "power bi"), ("looker", "looker studio"), ("snowflake", "data warehouse"), ("bigquery", "bq export"),
    ("quickbooks", "qbo"), ("xero", "xero sync"), ("stripe", "stripe billing"), ("paypal", "paypal checkout"),
    ("shopify", "shopify app"), ("zendesk", "zendesk sidebar"), ("intercom", "intercom widget"),
    ("freshdesk", "freshservice"), ("github", "github app"), ("gitlab", "gitlab ci"), ("bitbucket", "bitbucket cloud"),
    ("jenkins", "jenkins plugin"), ("datadog", "datadog metrics"), ("sentry", "sentry alerts"), ("okrs", "okr tracking"),
    ("sla", "sla timers"), ("gdpr", "data residency"), ("hipaa", "baa"), ("soc2", "soc 2"), ("sandbox", "staging env"),
)
FILLER = (
    "We are a team of twelve and this comes up every week.", "Honestly it is the one thing missing.",
    "Our manager asked me to send this.", "Compared to the tool we used before this is a step back.",
    "Otherwise we love the product.", "This would save us hours every month.",
    "Not sure if this is on the roadmap already.", "Happy to jump on a call to explain.",
    "It was promised during the trial.", "Please prioritise, we renew in March.",
    "The workaround with spreadsheets is painful.", "Several colleagues asked for the same.",
)
NOISE = (
    "Too expensive for a small team like ours.", "The onboarding emails were confusing.",
    "I just wanted to look around first.", "Support answered quickly, thanks!",
    "Not the right time for us, maybe next quarter.", "The pricing page does not say what is in each plan.",
    "My boss decides this, not me.", "We are still comparing vendors.", "Loading was slow yesterday afternoon.",
    "", "n/a", "Nothing really.",
)
SIMILAR = (
    "Please add {s}.", "We really need {s}, it is a blocker.", "Any plans for {s}?", "{s} would make my day.",
    "I would book a demo if you had {s}.", "Missing: {s}. Our competitor has it.", "+1 for {s}",
)
EXPLICIT = (
    "Any update on {k}? {f}", "Following up on {k} as discussed with your sales team.", "{k} please!! {f}",
    "We were told {k} ships this quarter. {f}", "Re {k}: still waiting.",
)
RULE = (
    "Do you integrate with {w}? {f}", "Without {w} support we cannot roll this out.", "We live in {w} all day. {f}",
    "Is {w} on the roadmap?", "Our IT requires {w}.",
)
COUNTRIES = ("Germany", "France", "United States", "Japan", "Brazil", "India", "Spain", "Canada", "Poland", "Kenya")
DEVICES = (("desktop", "Chrome 130.0.0", "Windows 11"), ("desktop", "Firefox 131.0", "macOS"),
           ("mobile", "Safari 18.0", "iOS 18"), ("tablet", "Chrome 130.0.0", "Android 14"))
PAGES = ("https://www.example.com/pricing?utm_source=newsletter", "https://www.example.com/demo",
         "https://app.example.com/billing", "https://www.example.com/features")
COMPANIES = [f"{a}{b}" for a in ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
                                 "Cyberdyne", "Soylent", "Wonka", "Vandelay", "Massive", "Aperture", "Oscorp")
             for b in ("", " GmbH", " Inc", " Ltd", " Labs", " Group", " Systems", " AG")]
Q1 = "What is stopping you from booking a demo?"
Q2 = "Anything else we should know?"
TF_Q1 = "What feature would make you use us every day?"
TF_Q2 = "How would you rate us so far?"
ANON = "00000000-0000-0000-0000-000000000000"


@dataclass
class Workload:
    out: str
    epics: int
    items: int
    seed: int
    changed_epics: int
    config: str
    counts: dict[str, int] = field(default_factory=dict)  # by source (rows written, overlap included)
    mix: dict[str, int] = field(default_factory=dict)  # by kind
    jira_items: int = 0
    delta_items: int = 0
    delta_jira: int = 0
    delta_epics: list[str] = field(default_factory=list)
    seconds: float = 0.0


def epic_key(n: int) -> str:
    return f"{EPIC_PROJECT}-{n}"


def rules(n_epics: int) -> list[tuple[str, tuple[str, str]]]:
    """(epic key, keywords) of the admin rules: spread over the epics."""
    n = min(N_RULES, n_epics)
    step = max(1, n_epics // n)
    return [(epic_key(1 + i * step), RULE_WORDS[i]) for i in range(n)]


class Texts:
    """Draws item texts of each kind; the epics' summaries come from the sandbox state."""

    def __init__(self, rng: random.Random, summaries: list[str], n_epics: int) -> None:
        self.rng, self.summaries, self.n_epics = rng, summaries, n_epics
        self.rules = rules(n_epics)
        self.kinds = [k for k, _ in MIX]
        self.weights = [w for _, w in MIX]

    def filler(self) -> str:
        r = self.rng
        return " ".join(r.sample(FILLER, r.randrange(0, 4)))

    def draw(self) -> tuple[str, str, str | None]:
        """(kind, text, epic key for Jira's parent or None)."""
        r = self.rng
        kind = r.choices(self.kinds, self.weights)[0]
        if kind == "explicit":
            key = epic_key(r.randrange(1, self.n_epics + 1))
            return kind, r.choice(EXPLICIT).format(k=key, f=self.filler()).strip(), key
        if kind == "rule":
            _, words = r.choice(self.rules)
            return kind, r.choice(RULE).format(w=r.choice(words), f=self.filler()).strip(), None
        if kind == "similar":
            summary = self.summaries[r.randrange(self.n_epics)].rsplit(" (#", 1)[0].lower()
            text = r.choice(SIMILAR).format(s=summary)
            return kind, (text[0].upper() + text[1:] + " " + self.filler()).strip(), None
        return kind, r.choice(NOISE), None


def build_state(epics: int, seed: int, items: int = 0) -> SandboxState:
    """The sandbox site: ``generate_state`` epics plus the FB feedback project (5 % of ``items``)."""
    state = generate_state(n_epics=epics, seed=seed, project=EPIC_PROJECT)
    summaries = [state.issue(epic_key(n))["fields"]["summary"] for n in range(1, epics + 1)]
    rng = random.Random(seed * 7919 + 3)
    texts = Texts(rng, summaries, epics)
    n = _jira_count(items)
    state.add_project(FEEDBACK_PROJECT, "Customer feedback")
    start = datetime(2025, 6, 1, tzinfo=UTC)
    for i in range(n):
        kind, text, key = texts.draw()
        at = start + timedelta(minutes=7 * i)
        _add_feedback(state, rng, text or "(no text)", key if kind == "explicit" and i % 3 == 0 else None, at)
    return state


def _add_feedback(state: SandboxState, rng: random.Random, text: str, parent: str | None, at: datetime) -> None:
    who = rng.randrange(5000)
    reporter = {"accountId": f"557058:{who:08d}", "emailAddress": f"user{who}@{rng.choice(COMPANIES)[:6].lower()}.example",
                "displayName": f"User {who}", "active": True}
    summary = text if len(text) <= 120 else text[:117] + "..."
    state.add_issue(FEEDBACK_PROJECT, summary, issuetype="Task", description=adf(text), parent=parent,
                    created=at, updated=at, values={"reporter": reporter})


def add_jira_delta(state: SandboxState, items: int, seed: int, delta_epics: list[str]) -> int:
    """Scenario 3's Jira part: new FB issues (updated now) whose parent is one of ``delta_epics``."""
    rng = random.Random(seed * 31 + 5)
    n = max(len(delta_epics) // 5, _jira_count(items) // 100)
    now = utcnow()
    for i in range(n):
        key = delta_epics[i % len(delta_epics)]
        _add_feedback(state, rng, f"Customer call: they asked again about {key}.", key, now)
    return n


def _jira_count(items: int) -> int:
    return int(items * (1 - SHARE_HOTJAR - SHARE_TYPEFORM))


def build(out: Path, *, epics: int = 2000, items: int = 100_000, seed: int = 1, changed_epics: int = 50,
          jira_url: str = "{jira_url}") -> Workload:
    """Write exports, delta and config under ``out`` (replacing what was there)."""
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    exports, delta = out / "exports", out / "delta"
    for d in (exports, delta):
        d.mkdir(exist_ok=True)
        for old in d.iterdir():
            old.unlink()
    for db in out.glob("bench.db*"):
        db.unlink()
    state = generate_state(n_epics=epics, seed=seed, project=EPIC_PROJECT)  # summaries only
    summaries = [state.issue(epic_key(n))["fields"]["summary"] for n in range(1, epics + 1)]
    rng = random.Random(seed)
    texts = Texts(rng, summaries, epics)
    w = Workload(str(out), epics, items, seed, min(changed_epics, epics), str(out / "demandsync.toml"))
    n_hot = int(items * SHARE_HOTJAR)
    n_tf = int(items * SHARE_TYPEFORM)
    w.jira_items = _jira_count(items)

    per_file = [n_hot // HOTJAR_FILES + (i < n_hot % HOTJAR_FILES) for i in range(HOTJAR_FILES)]
    users = [_hotjar_user(rng) for _ in range(max(10, items // 4))]
    previous: list[list[str]] = []
    for f, n in enumerate(per_file):
        path = exports / f"hotjar-exit-survey-2026-{f + 1:02d}.csv"
        start = datetime(2026, f + 1, 1, 8, 0, 0)
        repeat = previous[-int(len(previous) * HOTJAR_OVERLAP):] if previous and HOTJAR_OVERLAP else []
        rows = [_hotjar_row(rng, texts, users, i + 1 + sum(per_file[:f]), start + timedelta(seconds=i * 17 + 1), w)
                for i in range(n)]
        _write_csv(path, _hotjar_header(), [*repeat, *rows])
        w.counts[path.name] = len(repeat) + len(rows)
        previous = rows
    tf_path = exports / "typeform-feedback.csv"
    start = datetime(2025, 9, 1, 6, 0, 0)
    _write_csv(tf_path, _typeform_header(), (_typeform_row(rng, texts, i, start + timedelta(seconds=i * 23), w)
                                              for i in range(n_tf)))
    w.counts[tf_path.name] = n_tf
    w.counts["jira (FB project)"] = w.jira_items

    # scenario 3: 1 % new items, every one naming one of changed_epics epics
    drng = random.Random(seed + 100)
    w.delta_epics = sorted(drng.sample(range(1, epics + 1), w.changed_epics))
    w.delta_epics = [epic_key(n) for n in w.delta_epics]
    w.delta_jira = max(len(w.delta_epics) // 5, w.jira_items // 100)
    n_delta = max(w.changed_epics, items // 100 - w.delta_jira)
    start = datetime(2026, 4, 1, 8, 0, 0)
    delta_rows = []
    for i in range(n_delta):
        key = w.delta_epics[i % len(w.delta_epics)]
        user = users[drng.randrange(len(users))]
        delta_rows.append(_hotjar_cells(drng, 900_000 + i, start + timedelta(seconds=i * 13 + 1), user,
                                        f"Still waiting for {key}. {drng.choice(FILLER)}", "", "follow-up"))
    _write_csv(delta / "hotjar-exit-survey-2026-04.csv", _hotjar_header(), delta_rows)
    w.delta_items = n_delta + w.delta_jira

    (out / "demandsync.toml").write_text(config_toml(epics, jira_url), encoding="utf-8")
    w.seconds = round(time.perf_counter() - t0, 2)
    (out / "workload.json").write_text(json.dumps(asdict(w), indent=2), encoding="utf-8")
    return w


def config_toml(n_epics: int, jira_url: str, similarity: bool = True) -> str:
    """The benchmark's config; ``similarity=False``: keys and rules only, the floor's kinds of linking."""
    rule_blocks = "\n".join(
        f'[[rules]]\nepic = "{key}"\nkeywords = {json.dumps(list(words))}\n' for key, words in rules(n_epics))
    return f"""# Generated by bench/generate.py: the benchmark's config (same keys as a real install).
[store]
url = "sqlite:///bench.db"

[jira]
url = "{jira_url}"
email = "{EMAIL}"
api_token = "{TOKEN}"
epics = "project = {EPIC_PROJECT} AND issuetype = Epic ORDER BY key"

[jira.fields]
requests = "Customer requests"
requesters = "Requesters"
accounts = "Accounts"
last_requested = "Last requested"
sources = "Demand sources"

[[sources]]
name = "exit-survey"
kind = "csv"
path = "exports/hotjar-exit-survey-*.csv"
preset = "hotjar-survey"

[[sources]]
name = "typeform"
kind = "csv"
path = "exports/typeform-*.csv"
preset = "typeform"
map = {{ account = "company", extra = {{ plan = "plan" }} }}

[[sources]]
name = "jira-feedback"
kind = "jira"
url = "{jira_url}"
email = "{EMAIL}"
api_token = "{TOKEN}"
allow_insecure_http = true
jql = "project = {FEEDBACK_PROJECT} ORDER BY key"
preset = "generic"
[sources.map]
id = "key"
text = ["fields.summary", "fields.description_text"]
requester = "fields.reporter.emailAddress"
created_at = "fields.created"
url = "browse_url"
epic = "epic_keys"

{rule_blocks}
[linking]
similarity = {"true" if similarity else "false"}
"""


# ---- file layouts --------------------------------------------------------------------


def _hotjar_header() -> list[str]:
    return ["Number", "User", "Date Submitted", "Country", "Source URL", "Device", "Browser", "OS",
            "Hotjar User ID", Q1, f"Tags for: {Q1}", Q2, f"Tags for: {Q2}"]


def _hotjar_user(rng: random.Random) -> str:
    if rng.random() < 0.10:
        return ANON
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hotjar_cells(rng: random.Random, number: int, at: datetime, user: str, a1: str, a2: str, tag: str) -> list[str]:
    device, browser, os_ = rng.choice(DEVICES)
    return [str(number), user[:8], at.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(COUNTRIES), rng.choice(PAGES),
            device, browser, os_, user, a1, tag, a2, ""]


def _hotjar_row(rng: random.Random, texts: Texts, users: list[str], number: int, at: datetime, w: Workload) -> list[str]:
    kind, text, _ = texts.draw()
    w.mix[kind] = w.mix.get(kind, 0) + 1
    a2 = rng.choice(NOISE) if rng.random() < 0.15 else ""
    tag = "enterprise" if rng.random() < 0.05 else ""
    return _hotjar_cells(rng, number, at, users[rng.randrange(len(users))], text, a2, tag)


def _typeform_header() -> list[str]:
    return ["#", TF_Q1, TF_Q2, "email", "company", "plan", "Start Date (UTC)", "Submit Date (UTC)", "Network ID"]


def _typeform_row(rng: random.Random, texts: Texts, i: int, at: datetime, w: Workload) -> list[str]:
    kind, text, _ = texts.draw()
    w.mix[kind] = w.mix.get(kind, 0) + 1
    company = rng.choice(COMPANIES)
    person = rng.randrange(max(10, w.items // 6))
    email = f"p{person}@{company.split()[0].lower()}.example" if rng.random() < 0.8 else ""
    token = "%032x" % rng.getrandbits(128)
    return [token, text, str(rng.randrange(1, 11)), email, company, rng.choice(("free", "pro", "enterprise")),
            (at - timedelta(seconds=rng.randrange(30, 600))).strftime("%Y-%m-%d %H:%M:%S"),
            at.strftime("%Y-%m-%d %H:%M:%S"), "%010x" % rng.getrandbits(40)]


def _write_csv(path: Path, header: list[str], rows) -> None:  # noqa: ANN001 - any iterable of rows
    with path.open("w", encoding="utf-8", newline="") as f:
        wr = csv.writer(f, quoting=csv.QUOTE_ALL)
        wr.writerow(header)
        wr.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--changed-epics", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("/tmp/demandsync-bench"))
    args = ap.parse_args(argv)
    w = build(args.out, epics=args.epics, items=args.items, seed=args.seed, changed_epics=args.changed_epics)
    json.dump(asdict(w), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
