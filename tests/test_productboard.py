"""ProductboardSource beyond the shared contract: Jira connections in their documented v2 shape,
customers degrading when user/company entities are refused, archived notes, fields.name.

Fixtures follow the documented shapes (tests/vendor_fakes.py; sources in connectors/productboard.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vendor_fakes import ProductboardFake, pb_note

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.productboard import ProductboardOptions, ProductboardSource
from demandsync.domain import FeedbackItem
from demandsync.mappings.engine import build_mapper

API = "https://api.productboard.com/v2"


def pull(fake: ProductboardFake, tmp_path: Path, **options: Any) -> list[FeedbackItem]:
    opts = ProductboardOptions.model_validate({"url": API, "token": fake.key, **options})
    mapper = build_mapper("pb", "productboard", {})
    out = [mapper.map(r) for r in ProductboardSource(opts, SourceContext("pb", tmp_path),
                                                      transport=fake.transport()).pull({}) if isinstance(r, Record)]
    return [i for i in out if isinstance(i, FeedbackItem)]


def seeded() -> ProductboardFake:
    fake = ProductboardFake()
    fake.notes = [pb_note("n1", "Need CSV export"), pb_note("n2", "Old idea", archived=True),
                  pb_note("n3", "Dark mode")]
    fake.relationships = {
        "n1": [{"type": "customer", "target": {"id": "u1", "type": "user"}},
               {"type": "link", "target": {"id": "f1", "type": "feature"}},
               {"type": "link", "target": {"id": "c9", "type": "component"}}],
        "n3": [{"type": "customer", "target": {"id": "co1", "type": "company"}}],
    }
    fake.entities = {"u1": {"name": "Ana", "email": "Ana@Acme.example"}, "co1": {"name": "Globex"},
                     "co2": {"name": "Acme Inc"}}
    fake.user_company = {"u1": "co2"}
    fake.jira = {"j1": [("f1", "PROD-2")], "j2": [("f1", "PROD-2"), ("f7", "PROD-9")]}
    return fake


def test_notes_carry_customer_company_and_jira_keys_of_connected_features(tmp_path: Path) -> None:
    fake = seeded()
    got = {i.external_id: i for i in pull(fake, tmp_path)}
    assert sorted(got) == ["n1", "n3"]  # the archived note does not count
    n1 = got["n1"]
    assert (n1.text.split("\n\n")[0], n1.requester, n1.account, n1.epic_hint) == (
        "Need CSV export", "ana@acme.example", "Acme Inc", ["PROD-2"])
    assert (got["n3"].requester, got["n3"].account) == ("productboard:co1", "Globex")
    assert len(fake.calls("/v2/jira-integrations")) == 1  # discovered both integrations


def test_an_archived_note_is_skipped_even_when_the_list_shows_it(tmp_path: Path) -> None:
    fake = seeded()
    fake.hide_archived = False
    assert sorted(i.external_id for i in pull(fake, tmp_path)) == ["n1", "n3"]


def test_only_the_configured_integrations_are_read(tmp_path: Path) -> None:
    fake = seeded()
    pull(fake, tmp_path, jira_integration_ids=["j1"])
    assert [r["path"] for r in fake.requests if "jira" in r["path"]] == ["/v2/jira-integrations/j1/connections"]


def test_refused_user_and_company_entities_degrade_to_the_customer_id(tmp_path: Path) -> None:
    fake = seeded()
    fake.entities_refused = True  # outside the closed beta since 2025-12-15
    got = {i.external_id: i for i in pull(fake, tmp_path)}
    assert (got["n1"].requester, got["n1"].account) == ("productboard:u1", None)
    assert (got["n3"].requester, got["n3"].account) == ("productboard:co1", None)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValueError, match="plain-http"):
        ProductboardOptions(token="t", url="http://pb-proxy.example.com/v2")
    assert ProductboardOptions(token="t", url="http://127.0.0.1:8080/v2").url.startswith("http://127")
