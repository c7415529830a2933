"""The floor: the least a client must do to sync the benchmark workload, in the stdlib only.

``bench/run.py`` runs it beside demandsync on an identical sandbox site, in the same benchmark run,
so that "demandsync is N× the floor" survives a noisy machine (both are slowed alike). It does the
spine and nothing more:

* pull: ``csv`` over the Hotjar and Typeform exports, one ``INSERT OR IGNORE`` per response (its
  answers joined, as demandsync's presets map one) into ``sqlite3`` (identity: a hash of the row's
  fixed cells, so overlapping exports count once), and the
  Jira feedback project through ``POST /rest/api/3/search/jql`` (``nextPageToken`` paging,
  incremental by ``updated >=``);
* link: Jira keys in the text and Jira parents (explicit), and admin rule keywords (a word-set
  intersection); **no similarity model**, no quarantine, no config validation, no journal;
* count: requests, requesters, accounts, last requested, sources per epic;
* write: read the epics' five fields, ``PUT`` only the epics whose values differ, one at a time
  over one keep-alive connection (``http.client``).

It reads the workload's own ``demandsync.toml`` (tomllib) for the URL, credentials, rules and the
export globs. Its figures are not demandsync's (no similarity links), so it writes to its own site.

    .venv/bin/python bench/floor.py /tmp/demandsync-bench/demandsync.toml   # prints a JSON report
"""

from __future__ import annotations

import base64
import csv
import hashlib
import http.client
import json
import re
import sqlite3
import sys
import time
import tomllib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KEY = re.compile(r"\b[A-Z][A-Z0-9_]+-\d+\b")
WORD = re.compile(r"[a-z0-9]+")
HOTJAR_FIXED = 9  # Number … Hotjar User ID
ANON = "00000000-0000-0000-0000-000000000000"
FIELDS = {"requests": "Customer requests", "requesters": "Requesters", "accounts": "Accounts",
          "last_requested": "Last requested", "sources": "Demand sources"}


class Jira:
    """One keep-alive connection; JSON in, JSON out."""

    def __init__(self, url: str, email: str, token: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
        auth = base64.b64encode(f"{email}:{token}".encode()).decode()
        self.headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json",
                        "Accept": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {data[:200]!r}")
        return json.loads(data) if data else None

    def search(self, jql: str, fields: list[str]) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        token = None
        while True:
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": 100}
            if token:
                body["nextPageToken"] = token
            page = self.call("POST", "/rest/api/3/search/jql", body)
            issues += page.get("issues") or []
            token = page.get("nextPageToken")
            if not token:
                return issues


def pull_files(db: sqlite3.Connection, base: Path, sources: list[dict[str, Any]]) -> int:
    rows = []
    for src in sources:
        if src.get("kind") != "csv":
            continue
        for path in sorted(base.glob(src["path"])):
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader)
                hotjar = header[0] == "Number"
                for cells in reader:
                    if hotjar:
                        user, when, account = cells[8], cells[2], None
                        answers = [cells[i] for i in range(HOTJAR_FIXED, len(cells), 2)]  # skip "Tags for:"
                    else:
                        col = {h: i for i, h in enumerate(header)}
                        user, when = cells[col["email"]], cells[col["Submit Date (UTC)"]]
                        account = cells[col["company"]] or None
                        answers = [cells[1], cells[2]]
                    # One item a response, its answers joined, as demandsync's presets map it.
                    text = "\n".join(a for a in answers if a.strip())
                    if text:
                        ident = hashlib.sha1(repr(cells[: HOTJAR_FIXED if hotjar else 1]).encode()).hexdigest()
                        who = None if not user or user == ANON else user.lower()
                        rows.append((src["name"], ident, text, who, account, when[:10], None))
    before = db.total_changes
    db.executemany("INSERT OR IGNORE INTO items VALUES (?,?,?,?,?,?,?)", rows)
    return db.total_changes - before


def pull_jira(db: sqlite3.Connection, jira: Jira, src: dict[str, Any]) -> int:
    since = db.execute("SELECT value FROM state WHERE key = 'jira'").fetchone()
    jql = src["jql"].replace(" ORDER BY key", "")
    if since:
        jql = f'({jql}) AND updated >= "{since[0]}"'
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    rows = []
    for issue in jira.search(jql + " ORDER BY key", ["summary", "reporter", "created", "parent"]):
        f = issue.get("fields") or {}
        parent = (f.get("parent") or {}).get("key")
        who = ((f.get("reporter") or {}).get("emailAddress") or "").lower() or None
        rows.append((src["name"], issue["key"], f.get("summary") or "", who, None, (f.get("created") or "")[:10], parent))
    before = db.total_changes
    db.executemany("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?)", rows)
    db.execute("INSERT OR REPLACE INTO state VALUES ('jira', ?)", (started,))
    return db.total_changes - before - 1


def count(db: sqlite3.Connection, rules: list[dict[str, Any]], epic_keys: set[str]) -> dict[str, dict[str, Any]]:
    by_word: dict[str, list[str]] = defaultdict(list)
    for rule in rules:
        for word in rule["keywords"]:
            by_word[word.lower()].append(rule["epic"])
    figures: dict[str, dict[str, Any]] = {}
    for source, ident, text, who, account, when, parent in db.execute("SELECT * FROM items"):
        epics = set(KEY.findall(text)) | ({parent} if parent else set())
        epics |= {e for w in set(WORD.findall(text.lower())) & by_word.keys() for e in by_word[w]}
        for epic in epics & epic_keys:
            fig = figures.setdefault(epic, {"items": set(), "people": set(), "accounts": set(), "last": "",
                                            "sources": defaultdict(int)})
            fig["items"].add((source, ident))
            fig["people"].add(who or f"anon:{source}:{ident}")
            if account:
                fig["accounts"].add(account.lower())
            fig["last"] = max(fig["last"], when)
            fig["sources"][source] += 1
    return figures


def main(config_path: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    cfg = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    base = Path(config_path).parent
    db = sqlite3.connect(base / "floor.db")
    db.execute("CREATE TABLE IF NOT EXISTS items (source, id, text, requester, account, created, parent, "
               "PRIMARY KEY (source, id))")
    db.execute("CREATE TABLE IF NOT EXISTS state (key PRIMARY KEY, value)")
    jira_cfg = cfg["jira"]
    jira = Jira(jira_cfg["url"], jira_cfg["email"], jira_cfg["api_token"])
    stages: dict[str, float] = {}  # seconds by part, as bench/run.py times demandsync's stages
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stages[name] = round(now - mark, 3)
        mark = now

    new = pull_files(db, base, cfg["sources"])
    for src in cfg["sources"]:
        if src.get("kind") == "jira":
            new += pull_jira(db, jira, src)
    db.commit()
    lap("pull")
    ids = {f["name"]: f["id"] for f in jira.call("GET", "/rest/api/3/field")}
    field_ids = {fig: ids[name] for fig, name in FIELDS.items()}
    epics = jira.search(jira_cfg["epics"], list(field_ids.values()))
    lap("epics")
    figures = count(db, cfg.get("rules", []), {e["key"] for e in epics})
    lap("link+count")
    puts = 0
    for epic in epics:
        fig = figures.get(epic["key"])
        want = {
            field_ids["requests"]: float(len(fig["items"])) if fig else 0.0,
            field_ids["requesters"]: float(len(fig["people"])) if fig else 0.0,
            field_ids["accounts"]: float(len(fig["accounts"])) if fig else 0.0,
            field_ids["last_requested"]: (fig["last"] or None) if fig else None,
            field_ids["sources"]: " · ".join(f"{s} {n}" for s, n in sorted(fig["sources"].items())) if fig else "",
        }
        have = epic.get("fields") or {}
        changed = {k: v for k, v in want.items() if (have.get(k) or None) != (v or None)}
        if changed:
            jira.call("PUT", f"/rest/api/3/issue/{epic['key']}", {"fields": changed})
            puts += 1
    lap("apply")
    return {"seconds": round(time.perf_counter() - t0, 3), "new_items": new, "epics": len(epics), "puts": puts,
            "stages": stages}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
