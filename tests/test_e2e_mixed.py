"""End to end with every kind of source at once: survey exports, sales notes,
Canny (a fake of its API over loopback HTTP, tests/vendor_fakes.py) and Jira
itself as a feedback source, onto the sandbox epics.

The point a PM cares about: one person who asked in several places counts
once in ``requesters``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli, jira_source
from vendor_fakes import CannyFake, canny_post, canny_user

from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sandbox.state import adf

REQUESTS, REQUESTERS, ACCOUNTS = "customfield_10050", "customfield_10051", "customfield_10052"
CANNY_KEY = "canny-e2e-key-4411"


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    """The demo site plus a FEED project where support files customer asks."""
    state = demo_state()

    def person(email: str) -> dict[str, object]:
        return {"accountId": email.split("@")[0], "emailAddress": email, "displayName": email}

    state.add_issue("FEED", "Customer wants SAML login", issuetype="Task", parent="PROD-1",
                    description=adf("Globex asks again for single sign-on."),
                    values={"reporter": person("ines@globex.com")})
    state.add_issue("FEED", "Night theme for the dashboard", issuetype="Task",
                    description=adf("Several users find the UI too bright."),
                    values={"reporter": person("zoe@acme.org"),
                            "issuelinks": [{"type": {"name": "Relates"}, "outwardIssue": {"key": "PROD-3"}}]})
    state.add_issue("FEED", "Excel export of invoices", issuetype="Task",
                    values={"reporter": person("amy@hooli.com")})
    with JiraSandbox(state, email="demo@example.com", api_token="sandbox-token") as sb:
        sb.start()
        yield sb


@pytest.fixture
def canny() -> Iterator[str]:
    fake = CannyFake()
    fake.key = CANNY_KEY
    post = canny_post("p1", "2026-10-30T10:00:00.000Z", author=None, title="SSO with Okta", jira=["PROD-1"])
    fake.add_post(post, [canny_user("u1", "INES@globex.com"), canny_user("u2", "newbie@initech.com")])
    fake.companies = {"u1": [{"id": "c1", "name": "Globex", "monthlySpend": 900.0}],
                      "u2": [{"id": "c2", "name": "Initech", "monthlySpend": 300.0}]}
    with fake.serve() as url:
        yield f"{url}/api/v1"


def test_one_person_asking_in_three_places_counts_once(sandbox: JiraSandbox, canny: str, config: Path) -> None:
    config.write_text(config.read_text() + f"""
[[sources]]
name = "canny"
kind = "canny"
url = "{canny}"
api_key = "{CANNY_KEY}"
""" + jira_source(sandbox.url))
    code, stdout, stderr = cli("run", "--config", str(config), "--json")
    report = json.loads(stdout)
    assert code == 0, stderr
    assert report["sources"]["canny"]["new"] == 1 and report["sources"]["support"]["new"] == 3
    issue = sandbox.state.issue("PROD-1")["fields"]
    # demo sources give PROD-1 6 requests from 5 people (tests/test_e2e.py EXPECTED);
    # + FEED-1 (ines@globex.com, already counted via sales notes) + the Canny post (one request)
    # whose 2 voters are INES@globex.com again and newbie@initech.com
    assert issue[REQUESTS] == 8
    assert issue[REQUESTERS] == 6
    assert issue[ACCOUNTS] == 2  # Globex, Initech: the same companies, from Canny too
    # an issue link and an admin rule link the other two support tickets
    assert sandbox.state.issue("PROD-3")["fields"][REQUESTS] == 1
    assert sandbox.state.issue("PROD-2")["fields"][REQUESTS] == 5
    assert CANNY_KEY not in stdout + stderr
    # nothing new upstream: nothing written
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    assert code == 0 and json.loads(stdout)["writes"]["planned"] == 0


def test_full_run_reconciles_what_was_deleted_upstream(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text() + jira_source(sandbox.url))
    assert cli("run", "--config", str(config))[0] == 0
    assert sandbox.state.issue("PROD-3")["fields"][REQUESTS] == 1  # FEED-2, by its issue link
    sandbox.state.delete_issue("FEED-2")
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    assert code == 0 and json.loads(stdout)["sources"]["support"]["deleted"] == 0  # incremental: cannot know
    assert sandbox.state.issue("PROD-3")["fields"][REQUESTS] == 1
    code, stdout, _ = cli("run", "--config", str(config), "--json", "--full")
    report = json.loads(stdout)
    assert code == 0 and report["sources"]["support"]["deleted"] == 1
    assert report["sources"]["exit-survey"]["deleted"] == 0  # every export is still there
    assert sandbox.state.issue("PROD-3")["fields"][REQUESTS] == 0
