"""The Slack digest: payload, nothing-to-say, and failures that never raise or leak the webhook."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from pydantic import SecretStr

from demandsync.domain import Epic
from demandsync.sync.notify import build_digest, post_digest, previous_figures
from demandsync.sync.requesters import ShippedEpic
from demandsync.sync.store.store import Store

HOOK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
SECRET = SecretStr(HOOK)
EPICS = [Epic("PROD-1", "1", "Single sign-on"), Epic("PROD-2", "2", "CSV <export> & more"),
         Epic("PROD-3", "3", "Dark mode"), Epic("PROD-4", "4", "Slack alerts"), Epic("PROD-5", "5", "API")]
BEFORE = {"PROD-1": {"requests": 10, "requesters": 7}, "PROD-2": {"requests": 4, "requesters": 4},
          "PROD-3": {}, "PROD-4": {"requests": 2, "requesters": 2}, "PROD-5": {"requests": 0}}
AFTER = {"PROD-1": {"requests": 12, "requesters": 8}, "PROD-2": {"requests": 9, "requesters": 6},
         "PROD-3": {"requests": 3, "requesters": 2}, "PROD-4": {"requests": 2, "requesters": 2},
         "PROD-5": {"requests": 1, "requesters": 1}, "PROD-6": {"requests": 0}}
SHIPPED = [ShippedEpic("PROD-9", "Audit log", requesters=17, requests=20, accounts=9)]


def test_payload() -> None:
    payload = build_digest(BEFORE, AFTER, EPICS, SHIPPED, jira_url="https://acme.atlassian.net/")
    assert payload["text"] == "demandsync: 2 epics moved, 2 with new demand, 1 shipped"
    header, moved, new, shipped = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "demandsync digest"}}
    assert moved["type"] == "section" and moved["text"]["type"] == "mrkdwn"
    assert moved["text"]["text"] == (
        "*Demand moved most*\n"
        "• <https://acme.atlassian.net/browse/PROD-2|PROD-2> CSV &lt;export&gt; &amp; more — "
        "9 requests (+5), 6 requesters\n"
        "• <https://acme.atlassian.net/browse/PROD-1|PROD-1> Single sign-on — 12 requests (+2), 8 requesters")
    assert new["text"]["text"] == (
        "*New demand*\n"
        "• <https://acme.atlassian.net/browse/PROD-3|PROD-3> Dark mode — 3 requests from 2 requesters\n"
        "• <https://acme.atlassian.net/browse/PROD-5|PROD-5> API — 1 request from 1 requester")
    assert shipped["text"]["text"] == (
        "*Shipped*\n• <https://acme.atlassian.net/browse/PROD-9|PROD-9> Audit log — 17 requesters to tell "
        "(`demandsync requesters PROD-9`)")


def test_top_limits_each_section() -> None:
    after = {f"E-{i}": {"requests": i, "requesters": 1} for i in range(1, 9)}
    payload = build_digest({"E-0": {"requests": 1}}, after, {}, top=3)
    [_, new] = payload["blocks"]
    assert new["text"]["text"].count("•") == 3 and new["text"]["text"].endswith("…and 5 more")
    assert "*E-8*" in new["text"]["text"]  # no Jira URL: keys in bold


def test_nothing_to_say_posts_nothing() -> None:
    assert build_digest(AFTER, AFTER, EPICS) is None
    assert build_digest({"PROD-1": {}, "PROD-2": {}}, AFTER, EPICS) is None  # first run: the baseline
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK).respond(200, text="ok")
        assert post_digest(SECRET, AFTER, AFTER, EPICS) is False
        assert not route.called


@respx.mock
def test_posts_block_kit_json_to_the_webhook() -> None:
    route = respx.post(HOOK).respond(200, text="ok")
    assert post_digest(SECRET, BEFORE, AFTER, EPICS, SHIPPED) is True
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    body = json.loads(sent.content)
    assert body == build_digest(BEFORE, AFTER, EPICS, SHIPPED)


@pytest.mark.parametrize("answer", [
    httpx.Response(404, text="no_service"),
    httpx.Response(400, text="invalid_payload"),
    httpx.Response(500, text="boom"),
    httpx.ConnectError(f"cannot connect to {HOOK}"),
    httpx.ReadTimeout("timed out"),
])
def test_failures_are_logged_never_raised_and_never_leak_the_url(
        answer: httpx.Response | Exception, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock:
        respx.post(HOOK).mock(side_effect=[answer]) if isinstance(answer, Exception) else \
            respx.post(HOOK).mock(return_value=answer)
        assert post_digest(SECRET, BEFORE, AFTER, EPICS) is False
    assert "Slack digest not sent" in caplog.text
    assert "XXXXsecretXXXX" not in caplog.text and "T000" not in caplog.text
    if isinstance(answer, httpx.Response):
        assert answer.text in caplog.text  # Slack's reason is shown


def test_httpx_request_log_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock:
        respx.post(HOOK).respond(200, text="ok")
        assert post_digest(SECRET, BEFORE, AFTER, EPICS)
    assert "XXXXsecretXXXX" not in caplog.text


def test_refuses_a_non_https_webhook(caplog: pytest.LogCaptureFixture) -> None:
    with respx.mock(assert_all_called=False):
        assert post_digest(SecretStr("http://hooks.slack.com/services/a/b/c"), BEFORE, AFTER, EPICS) is False
    assert "must be an https://" in caplog.text


def test_a_client_can_be_passed_in() -> None:
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, text="ok"))
    with httpx.Client(transport=transport) as client:
        assert post_digest(HOOK, BEFORE, AFTER, EPICS, client=client) is True
        assert not client.is_closed  # the caller's client stays open
    assert len(seen) == 1


def test_previous_figures_come_from_the_store(store: Store) -> None:
    store.save_epics([Epic("PROD-1", "1", "SSO"), Epic("PROD-2", "2", "CSV")])
    assert previous_figures(store) == {"PROD-1": {}, "PROD-2": {}}
    store.save_demand({"PROD-1": {"requests": 3, "requesters": 2}})
    assert previous_figures(store)["PROD-1"] == {"requests": 3, "requesters": 2}
