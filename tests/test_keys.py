"""What counts as a tracker key in text: Jira issue keys and Aha! references, one pattern."""

from __future__ import annotations

import pytest

from demandsync.keys import find_issue_keys, is_issue_key, keys_in


@pytest.mark.parametrize(("text", "keys"), [
    # Jira keys behave as before
    ("see PROD-7 and (PROD-9), /browse/AB_1-12,", ["PROD-7", "PROD-9", "AB_1-12"]),
    ("xPROD-7 PROD-7x PROD-07 P-7 prod-7", []),
    ("PROD-7 PROD-7 again", ["PROD-7"]),
    ("PROD-1-2 is a Jira key followed by -2", ["PROD-1"]),
    # Aha! references: a feature has the Jira shape, an epic/idea a one-letter middle part
    ("feature APP-12, epic APP-E-3 and idea APP-I-7", ["APP-12", "APP-E-3", "APP-I-7"]),
    ("https://acme.aha.io/epics/PRJ1-E-1 and https://acme.aha.io/features/PRJ1-1", ["PRJ1-E-1", "PRJ1-1"]),
    ("APP-e-3 APP-E-03 xAPP-E-3 APP-E-3x", []),
    ("APP-EE-3", ["EE-3"]),  # a two-letter middle part is a Jira key after a dash, as before
])
def test_keys_found_in_text(text: str, keys: list[str]) -> None:
    assert find_issue_keys(text) == keys


def test_is_issue_key_accepts_both_trackers_and_nothing_else() -> None:
    assert [is_issue_key(k) for k in ("PROD-7", "APP-E-3", "APP-I-7", "APP-12")] == [True, True, True, True]
    assert [is_issue_key(k) for k in ("P-7", "APP-E", "APP-E-3 ", "APP--3", "7")] == [False] * 5


def test_keys_in_ignores_non_strings() -> None:
    assert keys_in(["APP-E-3", 4, None, "PROD-2 PROD-2"]) == ["APP-E-3", "PROD-2"]
