"""Aha! as the tracker, end to end: the CLI against the Aha! sandbox over real loopback HTTP.

Sources: the sandbox's ideas (kind ``aha_ideas``) and a small CSV of sales notes naming Aha!
references. Similarity is off, so every figure below follows from the data by hand:

features (an idea is one request; its people are its voters, a double vote counting 2)
- APP-1  idea APP-I-1 (voters ann/Acme, a proxy vote for Globex, carol; promoted to APP-1) + the note
         "SSO is a blocker (APP-1)" from ann@acme.com/Acme
         -> 2 requests, 3 requesters (ann, the Globex voter, carol), 2 accounts, 4 votes (3 + 1)
- APP-2  idea APP-I-6 (gina/Umbrella, promoted) + the note from amy@hooli.com naming APP-2 -> 2, 2, 2, 2
- APP-3  idea APP-I-4 ("Related to APP-3", bob/Globex voted twice + erin) -> 1 request, 2 requesters,
         1 account, 3 votes
- APP-4  nobody asked; its stale customer_requests "5.0" becomes 0
APP-I-2 is merged into APP-I-1 and APP-I-3 is spam: no request of their own.
epics (an idea promoted to a feature counts for the feature's epic)
- APP-E-1  the note from raj@initech.com/Initech naming APP-E-1, APP-I-1 (promoted to APP-1: ann/Acme, the
           Globex voter, carol; 3 votes) and APP-I-6 (promoted to APP-2, gina/Umbrella, 1 vote)
           -> 3 requests, 5 requesters, 4 accounts, 5 votes
- APP-E-2  idea APP-I-5 ("Part of APP-E-2", no votes, no organisation): its creator is its one
           requester -> 1 request, 1 requester, 0 accounts, 0 votes
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import cli, run_json

from demandsync.connectors.http import RateLimiter
from demandsync.sandbox.aha import AhaSandbox, demo_state

KEY = "aha-sandbox-key"
NOTES = """Date,Customer,Contact email,Request,Epic
2026-10-02,Hooli,amy@hooli.com,"Scheduled exports please",APP-2
2026-10-20,Initech,raj@initech.com,"Enterprise readiness: we need an audit log",APP-E-1
2026-11-03,Acme,ann@acme.com,"SSO is a blocker (APP-1)",
"""

#: record -> (requests, requesters, votes, accounts)
FEATURES = {"APP-1": (2, 3, 4, 2), "APP-2": (2, 2, 2, 2), "APP-3": (1, 2, 3, 1), "APP-4": (0, 0, 0, 0)}
EPICS = {"APP-E-1": (3, 5, 5, 4), "APP-E-2": (1, 1, 0, 0)}
FIGURES = ("customer_requests", "requesters", "votes", "accounts")


class Paced:
    """The account limiter with a fake clock: pacing is checked, nobody waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.limiter: RateLimiter | None = None

    def __call__(self, key: str, limits: list[tuple[int, float]]) -> RateLimiter:
        if self.limiter is None:
            self.limiter = RateLimiter(limits, clock=lambda: self.now, sleep=self._sleep)
        return self.limiter

    def _sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def paced(monkeypatch: pytest.MonkeyPatch) -> Paced:
    fake = Paced()
    monkeypatch.setattr("demandsync.connectors.aha.tracker.shared_limiter", fake)
    return fake


@pytest.fixture
def aha(paced: Paced) -> Iterator[AhaSandbox]:
    with AhaSandbox(demo_state(), api_key=KEY) as sb:
        yield sb


def aha_config(tmp_path: Path, url: str, store_url: str, *, records: str = "features", key: str = KEY,
               extra: str = "") -> Path:
    (tmp_path / "notes.csv").write_text(NOTES)
    path = tmp_path / "demandsync.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[aha]
url = "{url}"
api_key = "{key}"
product = "APP"
records = "{records}"
[aha.fields]
requests = "customer_requests"
requesters = "Requesters"
votes = "votes"
accounts = "Accounts"

[[sources]]
name = "ideas"
kind = "aha_ideas"

[[sources]]
name = "sales-notes"
kind = "csv"
path = "notes.csv"
[sources.map]
text = "Request"
requester = "Contact email"
account = "Customer"
created_at = "Date"
epic = "Epic"

[linking]
similarity = false
{extra}
""")
    return path


def values(aha: AhaSandbox, kind: str, refs: list[str]) -> dict[str, tuple[Any, ...]]:
    return {ref: tuple(aha.state.value(kind, ref, f) for f in FIGURES) for ref in refs}


def shown(expected: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str, ...]]:
    """The figures as Aha! keeps number fields: decimal strings ("3.0")."""
    return {ref: tuple(f"{n}.0" for n in figures) for ref, figures in expected.items()}


def puts(aha: AhaSandbox) -> int:
    return sum(n for (method, _), n in aha.requests.items() if method in ("PUT", "POST"))


def test_figures_land_on_features_and_a_rerun_writes_nothing(aha: AhaSandbox, tmp_path: Path, store_url: str,
                                                               paced: Paced) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    report = run_json(config)
    assert report["exit_code"] == 0, report["errors"]
    assert report["sources"]["ideas"]["pulled"] == 4  # merged APP-I-2 and spam APP-I-3 are no request
    # Aha! keeps numbers as decimal strings: what the next run reads back
    assert values(aha, "features", list(FEATURES)) == shown(FEATURES)
    assert report["writes"] == {"planned": 16, "applied": 16, "failed": 0}
    assert dict(aha.writes) == {"APP-1": 1, "APP-2": 1, "APP-3": 1, "APP-4": 1}  # one PUT per record
    stale = next(w for w in report["plan"] if w["epic"] == "APP-4" and w["field"] == "customer_requests")
    assert (stale["old"], stale["new"]) == (5, 0)
    # three ideas have votes: one page of the account's votes beats three per-idea requests
    assert aha.requests[("GET", "/api/v1/ideas/endorsements")] == 1
    assert aha.requests[("GET", "/api/v1/ideas/{id}/endorsements")] == 0
    # every request went through the account's pacing
    assert paced.limiter is not None and len(paced.limiter._sent) == sum(aha.requests.values())

    aha.reset_counters()
    again = run_json(config)
    assert again["exit_code"] == 0 and again["writes"] == {"planned": 0, "applied": 0, "failed": 0}
    assert puts(aha) == 0


def test_figures_land_on_epics(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url, records="epics")
    report = run_json(config)
    assert report["exit_code"] == 0, report["errors"]
    assert values(aha, "epics", list(EPICS)) == shown(EPICS)
    assert values(aha, "features", ["APP-1"]) == {"APP-1": (None, None, None, None)}
    aha.reset_counters()
    assert run_json(config)["writes"]["planned"] == 0 and puts(aha) == 0


def test_a_dry_run_plans_and_writes_nothing(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    report = run_json(config, "--dry-run")
    assert report["dry_run"] is True and report["writes"] == {"planned": 16, "applied": 0, "failed": 0}
    assert {(w["epic"], w["field"], w["new"]) for w in report["plan"] if w["epic"] == "APP-1"} == {
        ("APP-1", "customer_requests", 2), ("APP-1", "requesters", 3), ("APP-1", "votes", 4),
        ("APP-1", "accounts", 2)}
    assert puts(aha) == 0 and aha.state.value("features", "APP-4", "customer_requests") == "5.0"
    code, stdout, _ = cli("run", "--config", str(config), "--dry-run")
    assert code == 0 and "dry run: nothing written" in stdout


def test_a_wrong_key_is_named_and_never_shown(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    secret = "wrong-key-4f1d9c"
    config = aha_config(tmp_path, aha.url, store_url, key=secret)
    code, stdout, stderr = cli("run", "--config", str(config), "--json")
    report = json.loads(stdout)
    assert code == 1 and report["errors"][0]["stage"] == "aha"
    assert "Aha! refused the API key (HTTP 401" in report["errors"][0]["error"]
    assert "aha.api_key" in report["errors"][0]["error"]
    # `check` in a real process: the 401 ends it with one line on stderr (exit 1), no traceback
    proc = subprocess.run([sys.executable, "-m", "demandsync.cli.main", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    out2, err2 = proc.stdout, proc.stderr
    assert proc.returncode == 1 and "Aha! refused the API key (HTTP 401" in out2 and "Traceback" not in err2
    assert "fix: check aha.api_key (or DEMANDSYNC_AHA__API_KEY)" in out2
    code, out3, err3 = cli("status", "--config", str(config), "--json")
    everything = stdout + stderr + out2 + err2 + out3 + err3
    assert secret not in everything
    assert puts(aha) == 0


def test_429s_are_survived(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    aha.fail_next, aha.fail_writes, aha.retry_after = 4, 3, 0  # the first 4 reads and 3 writes are throttled
    report = run_json(aha_config(tmp_path, aha.url, store_url))
    assert aha.faults[429] == 7
    assert report["exit_code"] == 0 and report["writes"] == {"planned": 16, "applied": 16, "failed": 0}
    assert values(aha, "features", list(FEATURES)) == shown(FEATURES)
    assert dict(aha.writes) == {"APP-1": 1, "APP-2": 1, "APP-3": 1, "APP-4": 1}  # a throttled PUT is not a write


def test_check_fields_and_explain(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    code, stdout, stderr = cli("check", "--config", str(config))
    # the one ✗: the sales note naming epic APP-E-1 counts for nothing while the figures live on features
    assert code == 1, stdout + stderr
    assert "✓ aha! credentials: connected as Demo Admin" in stdout
    assert "requesters -> Requesters (requesters)" in stdout
    assert "✓ epics: 4 selected by aha.product" in stdout
    assert "✗ explicit key APP-E-1: APP-E-1 is named in 2 item(s) but not selected by aha.product" in stdout
    assert "10 ok, 1 failed" in stdout
    code, stdout, _ = cli("fields", "--config", str(config), "--json")
    found = {f["id"]: f for f in json.loads(stdout)}
    assert found["customer_requests"] == {"id": "customer_requests", "name": "Customer requests", "type": "number",
                                          "custom": True}
    assert found["priority"]["type"] == "option" and len(found) == 8  # feature fields only
    bad = config.read_text().replace('accounts = "Accounts"', 'accounts = "Priority"')
    config.write_text(bad)
    code, stdout, _ = cli("check", "--config", str(config))
    assert code == 2 and "aha.fields.accounts" in stdout and "needs a number field" in stdout
    config.write_text(bad.replace('accounts = "Priority"', 'accounts = "Acounts"'))
    code, stdout, _ = cli("check", "--config", str(config))
    assert code == 2 and "aha.fields.accounts" in stdout and "no Aha! field" in stdout and "'Accounts'" in stdout

    config.write_text(bad.replace('accounts = "Priority"', 'accounts = "Accounts"'))
    run_json(config)
    code, stdout, _ = cli("explain", "APP-1", "--config", str(config), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["summary"] == "Single sign-on (SAML, Okta)"
    assert sorted((i["source"], i["requester"], i["account"], i["method"]) for i in doc["items"]) == [
        ("ideas", "ann@acme.com", "Acme", "explicit"), ("sales-notes", "ann@acme.com", "Acme", "explicit")]
    assert [i["item_id"] for i in doc["items"] if i["source"] == "ideas"] == ["58056975"]


def test_a_wrong_product_is_a_config_error(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    config.write_text(config.read_text().replace('product = "APP"', 'product = "NOPE"'))
    code, _, stderr = cli("run", "--config", str(config))
    assert code == 2 and "aha.product" in stderr and "no product 'NOPE'" in stderr


def test_the_summary_is_an_escaped_aha_comment_kept_in_place(aha: AhaSandbox, tmp_path: Path,
                                                             store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url, extra="[summary]\nenabled = true\n")
    report = run_json(config)
    assert report["summaries"] == {"created": 3, "updated": 0, "unchanged": 0, "failed": 0}
    app3 = aha.state.find("features", "APP-3")
    (cid,) = app3["_comments"]
    body = aha.state.comments[cid]["body"]
    assert "Send alerts to Slack &lt;#channels&gt; &amp; DMs" in body and "<#channels>" not in body
    assert "<strong>1 request</strong> · 2 requesters · 1 account · 3 votes" in body
    assert "demandsync/summary/APP-3/" in body
    assert aha.state.find("features", "APP-4")["_comments"] == []  # nobody asked: no comment
    aha.reset_counters()
    again = run_json(config)
    assert again["summaries"] == {"created": 0, "updated": 0, "unchanged": 3, "failed": 0} and puts(aha) == 0


def test_the_summary_in_a_note_field(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    extra = '[summary]\nenabled = true\nmode = "field"\nfield = "Demand summary"\n'
    config = aha_config(tmp_path, aha.url, store_url, extra=extra)
    assert run_json(config)["summaries"]["created"] == 3
    note = aha.state.value("features", "APP-1", "demand_summary")
    assert note.startswith("<h3>Customer demand</h3><p><strong>2 requests</strong>")
    assert run_json(config)["summaries"]["unchanged"] == 3


def test_demo_against_the_aha_sandbox(paced: Paced) -> None:
    code, stdout, stderr = cli("demo", "--tracker", "aha", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["first"]["writes"] == {"planned": 22, "applied": 22, "failed": 0}
    assert doc["second"]["writes"] == {"planned": 0, "applied": 0, "failed": 0}
    app1 = doc["first"]["demand"]["APP-1"]  # 4 exit-survey answers + idea APP-I-1 (3 voters, one also answered)
    assert {k: app1[k] for k in ("requests", "requesters", "accounts", "votes")} == {
        "requests": 5, "requesters": 6, "accounts": 2, "votes": 7}


def test_check_names_a_product_aha_does_not_have(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    config.write_text(config.read_text().replace('product = "APP"', 'product = "NOPE"'))
    code, stdout, stderr = cli("check", "--config", str(config))
    assert code == 2 and "✓ aha! credentials: connected as Demo Admin" in stdout
    assert "aha.product: Aha! has no product 'NOPE' that this API key can see" in stdout + stderr


def test_preview_maps_ideas_with_the_sources_own_preset(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    code, stdout, _ = cli("preview", "ideas", "--config", str(config), "--rows", "2")
    assert code == 0
    assert "│ aha idea APP-I-1 │ aha-ideas │" in stdout
    assert "│ 58056975 │" in stdout and "│ 58056978 │" in stdout
    assert "no preset was given" not in stdout


def test_a_manual_link_to_an_aha_feature_counts(aha: AhaSandbox, tmp_path: Path, store_url: str) -> None:
    config = aha_config(tmp_path, aha.url, store_url)
    run_json(config)
    assert aha.state.value("features", "APP-4", "customer_requests") == "0.0"
    code, stdout, _ = cli("link", "ideas:58056979", "APP-4", "--config", str(config))  # APP-I-5, offline mode
    assert code == 0 and "linked to APP-4" in stdout
    assert run_json(config)["writes"]["applied"] == 2  # requests, requesters; no votes, no account: both stay 0
    assert values(aha, "features", ["APP-4"]) == shown({"APP-4": (1, 1, 0, 0)})
    code, _, stderr = cli("link", "ideas:58056975", "APP-99", "--config", str(config))
    assert code == 2 and "aha.product selects the epics" in stderr
