"""End to end, one per feature-request API: ``demandsync run`` reads a fake of the vendor over real
loopback HTTP (tests/vendor_fakes.py, documented shapes only) and writes figures onto the sandbox's
Jira epics. Every figure below is worked out by hand in the test's docstring; a second run
writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, run_json
from vendor_fakes import (
    CannyFake,
    HotjarFake,
    PendoFake,
    ProductboardFake,
    UserVoiceFake,
    canny_post,
    canny_user,
    hj_response,
    pb_note,
    pendo_feature,
    uv_suggestion,
)

from demandsync.sandbox.jira import JiraSandbox

REQUESTS, REQUESTERS, ACCOUNTS, VOTES = "customfield_10050", "customfield_10051", "customfield_10052", "customfield_10053"


def write_config(tmp_path: Path, sandbox: JiraSandbox, store_url: str, source: str) -> Path:
    path = tmp_path / "demandsync.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[jira]
url = "{sandbox.url}"
email = "demo@example.com"
api_token = "sandbox-token"
epics = "project = PROD AND issuetype = Epic ORDER BY key"

[jira.fields]
requests = "Customer requests"
requesters = "Requesters"
accounts = "Accounts"
votes = "Votes"

[[sources]]
{source}

[[rules]]
epic = "PROD-1"
keywords = ["sso", "okta"]

[[rules]]
epic = "PROD-2"
keywords = ["export", "csv"]

[linking]
similarity = false
""")
    return path


def figures(sandbox: JiraSandbox, key: str) -> tuple[object, object, object, object]:
    fields = sandbox.state.issue(key)["fields"]
    return fields[REQUESTS], fields[REQUESTERS], fields[ACCOUNTS], fields[VOTES]


def run_twice(config: Path) -> dict[str, object]:
    report = run_json(config)
    assert report["exit_code"] == 0, report
    again = run_json(config)
    assert again["writes"]["planned"] == 0  # type: ignore[index]
    return report


def test_canny(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> None:
    """PROD-1: post p1 (complete; voters Ann/Acme, Bob (no e-mail), Cy/Globex) and p2 (author Dee/Hooli,
    voter Ann): 2 requests; requesters Ann, Bob, Cy, Dee = 4; votes 3 + 1 = 4; accounts Acme, Globex,
    Hooli = 3. The closed post p3 does not count. PROD-2: p4's voters are an admin voting for
    themselves (staff, left out) and Eve, for whom an admin voted: 1 request, 1 requester, 1 vote."""
    fake = CannyFake()
    ann, bob = canny_user("u-ann", "ann@acme.com"), canny_user("u-bob", None)
    cy, dee, eve = canny_user("u-cy", "cy@globex.com"), canny_user("u-dee", "dee@hooli.com"), canny_user("u-eve", "eve@x.io")
    pm = canny_user("u-pm", "pm@vendor.example", admin=True)
    fake.add_post(canny_post("p1", "2026-10-01T00:00:00.000Z", author=ann, status="complete", jira=["PROD-1"]),
                  [ann, bob, cy])
    fake.add_post(canny_post("p2", "2026-10-02T00:00:00.000Z", author=dee, jira=["PROD-1"]), [ann])
    fake.add_post(canny_post("p3", "2026-10-03T00:00:00.000Z", author=eve, status="closed", jira=["PROD-1"]), [eve])
    fake.add_post(canny_post("p4", "2026-10-04T00:00:00.000Z", author=None, jira=["PROD-2"]), [pm])
    fake.votes["p4"].append({"id": "v-eve", "voter": eve, "by": pm, "created": "2026-10-05T00:00:00.000Z"})
    fake.companies = {"u-ann": [{"id": "c1", "name": "Acme"}], "u-cy": [{"id": "c2", "name": "Globex"}],
                      "u-dee": [{"id": "c3", "name": "Hooli"}]}
    with fake.serve() as url:
        config = write_config(tmp_path, sandbox, store_url,
                              f'name = "canny"\nkind = "canny"\nurl = "{url}/api/v1"\napi_key = "{fake.key}"')
        run_twice(config)
    assert figures(sandbox, "PROD-1") == (2, 4, 3, 4)
    assert figures(sandbox, "PROD-2") == (1, 1, 0, 1)
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config))
    assert code == 0 and "3 voters, 3 votes" in stdout and "1 voter, 1 vote" in stdout
    code, stdout, _ = cli("requesters", "PROD-1", "--config", str(config), "--format", "json")
    assert sorted(r["person"] for r in json.loads(stdout)) == ["U-Ann", "U-Bob", "U-Cy", "U-Dee"]


def test_productboard(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> None:
    """PROD-2 (feature f1 is connected to PROD-2): notes n1 (customer Ana of Acme), n2 (customer the
    company Globex), n3 (no customer) = 3 requests, 3 requesters (Ana, Globex, one anonymous), 3 votes,
    2 accounts. The archived n4 does not count."""
    fake = ProductboardFake()
    fake.notes = [pb_note("n1", "Need a report"), pb_note("n2", "Reports for finance"),
                  pb_note("n3", "Monthly report"), pb_note("n4", "Old report", archived=True)]
    link = {"type": "link", "target": {"id": "f1", "type": "feature"}}
    fake.relationships = {"n1": [{"type": "customer", "target": {"id": "u1", "type": "user"}}, link],
                          "n2": [{"type": "customer", "target": {"id": "co1", "type": "company"}}, link],
                          "n3": [link], "n4": [link]}
    fake.entities = {"u1": {"name": "Ana", "email": "ana@acme.com"}, "co1": {"name": "Globex"},
                     "co2": {"name": "Acme"}}
    fake.user_company = {"u1": "co2"}
    fake.jira = {"j1": [("f1", "PROD-2")]}
    with fake.serve() as url:
        config = write_config(tmp_path, sandbox, store_url,
                              f'name = "pb"\nkind = "productboard"\nurl = "{url}/v2"\ntoken = "{fake.key}"')
        run_twice(config)
    assert figures(sandbox, "PROD-2") == (3, 3, 2, 3)


def test_pendo_feedback(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> None:
    """PROD-2 (tag): feature 1201 with 1188 merged into it: interested Ana/Acme (on both: once),
    user 504 (deleted: counted by id), Cy/Initech (quantity 0 is interested); Bo said "not
    interested". 1 request, 3 requesters, 3 votes, 2 accounts. PROD-1 (tag): feature 1300, Ana: 1/1/1/1."""
    fake = PendoFake()
    fake.features = [pendo_feature(1201, "Invoice report", tags=["PROD-2"]),
                     pendo_feature(1188, "Invoices report", merged_to=1201),
                     pendo_feature(1300, "Login with Google", tags=["PROD-1"])]
    fake.user(501, "ana@acme.com", "Acme")
    fake.user(502, "bo@globex.com", "Globex")
    fake.user(503, "cy@initech.com", "Initech")
    fake.deleted.add("504")
    for user, feature, quantity in [(501, 1201, 3), (502, 1201, -1), (504, 1201, 2), (501, 1188, 1),
                                    (503, 1188, 0), (501, 1300, 1)]:
        fake.vote(user, feature, quantity)
    fake.page_cap = 2
    with fake.serve() as url:
        config = write_config(tmp_path, sandbox, store_url,
                              f'name = "pendo"\nkind = "pendo_feedback"\nurl = "{url}"\napi_key = "{fake.key}"')
        run_twice(config)
    assert figures(sandbox, "PROD-2") == (1, 3, 2, 3)
    assert figures(sandbox, "PROD-1") == (1, 1, 1, 1)


def test_uservoice(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> None:
    """Linked by rules (UserVoice exposes no Jira link). PROD-2 ("export"/"csv"): 3001 with 3002 merged
    into it; supporters Ana/Acme, Bo/Globex (on both: once), Cy: 1 request, 3 requesters, 3 votes,
    2 accounts. PROD-1 ("sso"): 3003, typed in by an admin (no requester), supported by Bo: 1/1/1/1."""
    fake = UserVoiceFake()
    fake.suggestions = [uv_suggestion(3001, "CSV export of demand", created_by=41),
                        uv_suggestion(3002, "Export to CSV", created_by=43, parent=3001),
                        uv_suggestion(3003, "SSO with Okta", created_by=99)]
    fake.user(41, "ana@acme.com", account="Acme")
    fake.user(42, "bo@globex.com", account="Globex")
    fake.user(43, "cy@initech.com")
    fake.user(99, "pm@vendor.example", admin=True)
    fake.supporters = {3001: [41, 42], 3002: [42, 43], 3003: [42]}
    with fake.serve() as url:
        config = write_config(tmp_path, sandbox, store_url,
                              f'name = "uv"\nkind = "uservoice"\nurl = "{url}/api/v2/admin"\ntoken = "{fake.key}"')
        run_twice(config)
    assert figures(sandbox, "PROD-2") == (1, 3, 2, 3)
    assert figures(sandbox, "PROD-1") == (1, 1, 1, 1)


def test_hotjar(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> None:
    """Each response is an anonymous requester of its own. PROD-2: r1 ("export … CSV") and r3 (only its
    comment says "CSV export") = 2/2/0/2. PROD-1: r2 ("SSO") = 1/1/0/1."""
    fake = HotjarFake()
    fake.responses = [hj_response("r3", "Price is too high", comment="and no CSV export"),
                      hj_response("r2", "SSO with Okta please"),
                      hj_response("r1", "I need to export demand to CSV", comment="weekly")]
    with fake.serve() as url:
        config = write_config(tmp_path, sandbox, store_url,
                              f'name = "hj"\nkind = "hotjar"\nurl = "{url}/v1"\nclient_id = "cid"\n'
                              f'client_secret = "{fake.key}"\nsite_id = "11"\nsurvey_id = "22"')
        run_twice(config)
    assert figures(sandbox, "PROD-2") == (2, 2, 0, 2)
    assert figures(sandbox, "PROD-1") == (1, 1, 0, 1)
