"""The managed summary comment/field, over real HTTP against the Jira sandbox (Cloud flavour).

The store is real (meta keys ``summary:<EPIC>``); the sandbox counts requests per route, so
"untouched" means no POST/PUT reached Jira at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from demandsync.connectors.jira.adf import adf_to_text
from demandsync.connectors.jira.render import summary_adf, summary_wiki, wiki_escape
from demandsync.connectors.jira.tracker import JiraTracker
from demandsync.domain import SUMMARY_FOOTER as FOOTER
from demandsync.domain import find_marker
from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sync.demand import Demand, DemandRules, count_demand
from demandsync.sync.store.store import LinkedItem, Store
from demandsync.sync.summary import items_by_epic, meta_key, summary_content, sync_summaries

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
DAY1, DAY2 = date(2026, 11, 10), date(2026, 11, 11)
LIST = ("GET", "/rest/api/3/issue/{key}/comment")
ADD = ("POST", "/rest/api/3/issue/{key}/comment")
EDIT = ("PUT", "/rest/api/3/issue/{key}/comment/{id}")


def item(n: int, epic: str = "PROD-1", *, who: str | None = None, account: str | None = None,
         text: str = "", votes: int = 1, url: str | None = None, day: int = 1) -> LinkedItem:
    return LinkedItem(epic, n, "survey", f"r{n}", text or f"request number {n}", who, account,
                      datetime(2026, 11, day, 9, 0, tzinfo=UTC), url, votes, {}, "explicit", 1.0, "accepted")


ITEMS = [
    item(1, who="ann@acme.com", account="Acme", text="We need SAML before the renewal", votes=3,
         url="https://feedback.example.com/p/1"),
    item(2, who="bob@globex.com", account="Globex", text="SSO with Okta please", day=3),
    item(3, who="ann@acme.com", account="Acme", text="Again: SAML!", day=5),
    item(4, text="anonymous *survey* answer [x]", day=6),
]


def figures(items: list[LinkedItem], keys: tuple[str, ...] = ("PROD-1", "PROD-2")) -> dict[str, Demand]:
    return count_demand(items, keys, DemandRules(), NOW)


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    with JiraSandbox(demo_state()) as sb:
        yield sb


@pytest.fixture
def tracker(sandbox: JiraSandbox) -> Iterator[JiraTracker]:
    t = JiraTracker(sandbox.url, email=sandbox.email, api_token=sandbox.api_token, allow_insecure_http=True)
    yield t
    t.close()


def comments(sandbox: JiraSandbox, key: str) -> list[dict[str, Any]]:
    return sandbox.state.comments(sandbox.state.issue(key))


def run(tracker: JiraTracker, store: Store, items: list[LinkedItem], today: date = DAY1, **kw: Any):
    demand = figures(items)
    return sync_summaries(tracker, store, list(demand), demand, items_by_epic(items), today=today, **kw)


# -- ADF validity -------------------------------------------------------------------------

_BLOCK = {"paragraph", "heading", "bulletList", "rule"}
_MARKS = {"strong", "em", "code", "link"}


def assert_valid_adf(doc: dict[str, Any]) -> None:
    """The subset of the ADF JSON schema our summary uses, checked strictly."""
    assert doc["type"] == "doc" and doc["version"] == 1 and doc["content"], doc
    for block in doc["content"]:
        _check_block(block)


def _check_block(node: dict[str, Any]) -> None:
    kind = node["type"]
    assert kind in _BLOCK, kind
    assert set(node) <= {"type", "content", "attrs"}, node
    if kind == "rule":
        assert "content" not in node
    elif kind == "heading":
        assert 1 <= node["attrs"]["level"] <= 6
        _check_inline(node["content"])
    elif kind == "paragraph":
        _check_inline(node.get("content", []))
    elif kind == "bulletList":
        assert node["content"], "a bulletList needs at least one listItem"
        for li in node["content"]:
            assert li["type"] == "listItem" and li["content"]
            assert li["content"][0]["type"] == "paragraph"
            for child in li["content"]:
                _check_block(child)


def _check_inline(nodes: list[dict[str, Any]]) -> None:
    for n in nodes:
        assert n["type"] in ("text", "hardBreak"), n
        if n["type"] == "text":
            assert isinstance(n["text"], str) and n["text"], "ADF text nodes must not be empty"
            marks = n.get("marks", [])
            kinds = [m["type"] for m in marks]
            assert set(kinds) <= _MARKS and len(kinds) == len(set(kinds)), kinds
            if "code" in kinds:
                assert set(kinds) <= {"code", "link"}, "code combines with link only"
            for m in marks:
                if m["type"] == "link":
                    assert m["attrs"]["href"].startswith(("https://", "http://", "mailto:"))


def test_adf_is_valid_and_says_what_a_pm_needs() -> None:
    demand = figures(ITEMS)["PROD-1"]
    doc = summary_adf(summary_content("PROD-1", demand, ITEMS, top=5), DAY1)
    assert_valid_adf(doc)
    text = adf_to_text(doc)
    assert "4 requests · 3 requesters · 2 accounts · 6 votes" in text
    assert "Last requested 2026-11-06" in text
    # One line per requester, most votes first; ann's 3-vote request beats her later one.
    assert text.index("We need SAML before the renewal") < text.index("SSO with Okta please")
    assert "Again: SAML!" not in text
    assert "— Acme (3 votes)" in text and "@" not in text  # no e-mail unless an admin opts in
    assert "“anonymous *survey* answer [x]” — anonymous" in text  # ADF needs no escaping
    links = [m["attrs"]["href"] for b in doc["content"] if b["type"] == "bulletList"
             for li in b["content"] for n in li["content"][0]["content"] for m in n.get("marks", [])
             if m["type"] == "link"]
    assert links == ["https://feedback.example.com/p/1"]
    assert FOOTER in text and "2026-11-10" in text
    key, digest = find_marker(text)
    assert key == "PROD-1" and len(digest) == 12


def test_unsafe_urls_are_not_linked_and_names_can_be_hidden() -> None:
    bad = [item(1, who="x@y.com", account="Acme", url="javascript:alert(1)")]
    content = summary_content("PROD-1", figures(bad)["PROD-1"], bad, show_requesters=False)
    assert content.top[0].url is None and content.top[0].who is None
    assert "x@y.com" not in adf_to_text(summary_adf(content, DAY1))


def test_hash_ignores_the_date_but_not_the_content() -> None:
    demand = figures(ITEMS)["PROD-1"]
    a = summary_content("PROD-1", demand, ITEMS)
    assert find_marker(adf_to_text(summary_adf(a, DAY1))) == find_marker(adf_to_text(summary_adf(a, DAY2)))
    fewer = ITEMS[:2]
    b = summary_content("PROD-1", figures(fewer)["PROD-1"], fewer)
    assert a.digest() != b.digest()


def test_wiki_rendering_for_data_center() -> None:
    demand = figures(ITEMS)["PROD-1"]
    wiki = summary_wiki(summary_content("PROD-1", demand, ITEMS, show_emails=True), DAY1)
    lines = wiki.split("\n")
    assert lines[0] == "h3. Customer demand"
    assert lines[1] == "*4 requests* · 3 requesters · 2 accounts · 6 votes"
    assert "h4. Top requests" in lines
    assert "* _“We need SAML before the renewal”_ — ann@acme.com, Acme (3 votes) · " \
           "[source|https://feedback.example.com/p/1]" in lines
    assert "* _“anonymous \\*survey\\* answer \\[x\\]”_ — anonymous" in lines
    assert "----" in lines
    assert lines[-1].startswith(
        "_Last changed by demandsync on 2026-11-10. " + FOOTER + "_ {{demandsync/summary/PROD-1/")
    assert find_marker(wiki)[0] == "PROD-1"
    assert "\n\n\n" not in wiki


def test_wiki_escape() -> None:
    assert wiki_escape("a_b {code} |x| ^y^ ~z~ +u+ !img! ??c?? -s- #1") == (
        "a\\_b \\{code\\} \\|x\\| \\^y\\^ \\~z\\~ \\+u\\+ \\!img\\! \\?\\?c\\?\\? \\-s\\- \\#1")
    assert wiki_escape("PROD-1 on 2026-11-05") == "PROD-1 on 2026-11-05"


# -- lifecycle against the sandbox ------------------------------------------------------------


def test_created_once_then_untouched_then_updated_in_place(
        sandbox: JiraSandbox, tracker: JiraTracker, store: Store) -> None:
    first = run(tracker, store, ITEMS)
    # PROD-2 has no requests: no comment for it.
    assert (first.created, first.updated, first.unchanged, first.skipped, first.failed) == (1, 0, 0, 1, 0)
    assert first.actions == {"PROD-1": "created", "PROD-2": "skipped"}
    [comment] = comments(sandbox, "PROD-1")
    assert comments(sandbox, "PROD-2") == []
    assert_valid_adf(comment["body"])
    meta = store.get_meta(meta_key("PROD-1"))
    assert meta["comment_id"] == comment["id"] and meta["changed_on"] == "2026-11-10"

    sandbox.reset_counters()
    again = run(tracker, store, ITEMS, today=DAY2)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert sum(sandbox.requests.values()) == 0  # decided from the store alone
    assert "2026-11-10" in adf_to_text(comments(sandbox, "PROD-1")[0]["body"])  # the date moves only with content

    more = [*ITEMS, item(5, who="cy@initech.com", account="Initech", text="Okta SSO is a must", votes=7)]
    changed = run(tracker, store, more, today=DAY2)
    assert (changed.created, changed.updated) == (0, 1)
    [edited] = comments(sandbox, "PROD-1")
    assert edited["id"] == comment["id"]
    text = adf_to_text(edited["body"])
    assert "5 requests" in text and "Okta SSO is a must" in text and "2026-11-11" in text
    assert sandbox.requests[ADD] == 0 and sandbox.requests[EDIT] == 1


def test_no_duplicate_after_losing_the_store(sandbox: JiraSandbox, tracker: JiraTracker, store: Store,
                                             tmp_path: Any) -> None:
    run(tracker, store, ITEMS)
    [comment] = comments(sandbox, "PROD-1")
    fresh = Store.open(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        sandbox.reset_counters()
        same = run(tracker, fresh, ITEMS, today=DAY2)
        assert (same.created, same.updated, same.unchanged) == (0, 0, 1)
        assert sandbox.requests[LIST] == 1 and sandbox.requests[ADD] == sandbox.requests[EDIT] == 0
        assert fresh.get_meta(meta_key("PROD-1"))["comment_id"] == comment["id"]  # recovered

        fresh2 = Store.open(f"sqlite:///{tmp_path / 'lost2.db'}")
        try:
            changed = run(tracker, fresh2, ITEMS[:2], today=DAY2)
            assert (changed.created, changed.updated) == (0, 1)
            assert [c["id"] for c in comments(sandbox, "PROD-1")] == [comment["id"]]
        finally:
            fresh2.close()
    finally:
        fresh.close()


def test_marker_survives_among_other_comments_and_is_found_by_any_key(
        sandbox: JiraSandbox, tracker: JiraTracker, store: Store, tmp_path: Any) -> None:
    tracker.add_comment("PROD-1", {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "A human comment."}]}]})
    run(tracker, store, ITEMS)
    ours = comments(sandbox, "PROD-1")[1]
    # The epic was moved from OLD-7: the marker still names the old key.
    body = ours["body"]
    body["content"][-1]["content"][-1]["text"] = body["content"][-1]["content"][-1]["text"].replace(
        "PROD-1", "OLD-7")
    fresh = Store.open(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        result = run(tracker, fresh, ITEMS[:3], today=DAY2)
        assert result.updated == 1 and result.created == 0
        assert len(comments(sandbox, "PROD-1")) == 2
        assert "A human comment." in adf_to_text(comments(sandbox, "PROD-1")[0]["body"])
    finally:
        fresh.close()


def test_comment_deleted_in_jira_is_recreated_on_next_change(
        sandbox: JiraSandbox, tracker: JiraTracker, store: Store) -> None:
    run(tracker, store, ITEMS)
    issue = sandbox.state.issue("PROD-1")
    sandbox.state._comments[issue["id"]].clear()  # someone deleted it
    result = run(tracker, store, ITEMS[:2], today=DAY2)
    assert (result.created, result.updated, result.failed) == (1, 0, 0)
    assert len(comments(sandbox, "PROD-1")) == 1


def test_existing_summary_goes_to_zero_but_no_new_summary_for_zero(
        sandbox: JiraSandbox, tracker: JiraTracker, store: Store) -> None:
    run(tracker, store, ITEMS)
    result = run(tracker, store, [], today=DAY2)  # everything was forgotten/unlinked
    assert result.actions == {"PROD-1": "updated", "PROD-2": "skipped"}
    assert "0 requests" in adf_to_text(comments(sandbox, "PROD-1")[0]["body"])


def test_dry_run_reads_but_writes_nothing(sandbox: JiraSandbox, tracker: JiraTracker, store: Store) -> None:
    result = run(tracker, store, ITEMS, dry_run=True)
    assert result.actions["PROD-1"] == "created"
    assert comments(sandbox, "PROD-1") == [] and store.get_meta(meta_key("PROD-1")) is None
    run(tracker, store, ITEMS)
    result = run(tracker, store, ITEMS[:1], dry_run=True)
    assert result.actions["PROD-1"] == "updated"
    assert "4 requests" in adf_to_text(comments(sandbox, "PROD-1")[0]["body"])


def test_one_failing_epic_does_not_stop_the_others(sandbox: JiraSandbox, tracker: JiraTracker,
                                                   store: Store) -> None:
    items = [*ITEMS, item(9, epic="NOPE-1", who="z@z.com")]
    demand = count_demand(items, ("NOPE-1", "PROD-1"), DemandRules(), NOW)
    result = sync_summaries(tracker, store, ["NOPE-1", "PROD-1"], demand, items_by_epic(items), today=DAY1)
    assert result.failed == 1 and result.created == 1
    assert result.errors[0]["epic"] == "NOPE-1" and "404" in result.errors[0]["error"]


def test_field_mode_writes_adf_into_a_rich_text_field(sandbox: JiraSandbox, tracker: JiraTracker,
                                                      store: Store) -> None:
    # The sandbox validates ADF on the description only, so it stands in for a Paragraph custom field.
    first = run(tracker, store, ITEMS, mode="field", field_id="description")
    assert first.actions["PROD-1"] == "created"
    value = sandbox.state.issue("PROD-1")["fields"]["description"]
    assert_valid_adf(value)
    assert comments(sandbox, "PROD-1") == []
    sandbox.reset_counters()
    assert run(tracker, store, ITEMS, mode="field", field_id="description").actions["PROD-1"] == "unchanged"
    assert sum(sandbox.requests.values()) == 0
    assert run(tracker, store, ITEMS[:2], mode="field", field_id="description").actions["PROD-1"] == "updated"


def test_bad_mode_is_refused(tracker: JiraTracker, store: Store) -> None:
    with pytest.raises(ValueError, match="field_id"):
        run(tracker, store, ITEMS, mode="field")
    with pytest.raises(ValueError, match="mode"):
        run(tracker, store, ITEMS, mode="label")
