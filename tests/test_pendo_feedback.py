"""PendoFeedbackSource beyond the shared contract: features and votes paged, a merged feature folded
into its survivor once, a not-interested vote never counted, a deleted user surviving.

Fixtures follow the official Swagger spec's shapes (tests/vendor_fakes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vendor_fakes import PendoFake, pendo_feature

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.pendo_feedback import PendoFeedbackOptions, PendoFeedbackSource
from demandsync.domain import FeedbackItem, Person
from demandsync.mappings.engine import build_mapper

API = "https://api.feedback.us.pendo.io"


def pull(fake: PendoFake, tmp_path: Path, **options: Any) -> list[FeedbackItem]:
    opts = PendoFeedbackOptions.model_validate({"url": API, "api_key": fake.key, **options})
    mapper = build_mapper("pendo", "pendo-feedback", {})
    out = [mapper.map(r) for r in PendoFeedbackSource(opts, SourceContext("pendo", tmp_path),
                                                       transport=fake.transport()).pull({}) if isinstance(r, Record)]
    return [i for i in out if isinstance(i, FeedbackItem)]


def seeded() -> PendoFake:
    fake = PendoFake()
    fake.features = [pendo_feature(1201, "CSV export of demand", tags=["PROD-2", {"Team": "Data"}]),
                     pendo_feature(1188, "Export to CSV", merged_to=1201),
                     pendo_feature(1300, "Dark mode")]
    fake.user(501, "ana@acme.example", "Acme Inc")
    fake.user(502, "bo@globex.example", "Globex")
    fake.user(503, "cy@initech.example", None)
    fake.deleted.add("504")
    fake.vote(501, 1201, 3)
    fake.vote(502, 1201, -1)  # not interested
    fake.vote(501, 1188, 1)  # also on the merged feature: still one voter of the survivor
    fake.vote(503, 1188, 0)
    fake.vote(504, 1300, 2)  # a deleted user
    return fake


def test_features_and_votes_fold_merges_skip_not_interested_and_keep_deleted_users(tmp_path: Path) -> None:
    fake = seeded()
    fake.page_cap = 1  # every list comes one row per page
    got = {i.external_id: i for i in pull(fake, tmp_path)}
    assert sorted(got) == ["1201", "1300"]  # the merged feature is no request of its own
    assert got["1201"].people == [Person("ana@acme.example", "Ana", "ana@acme.example", "Acme Inc", 1, "voter"),
                                  Person("cy@initech.example", "Cy", "cy@initech.example", None, 1, "voter")]
    assert got["1300"].people == [Person("pendo:504", None, None, None, 1, "voter")]
    assert got["1201"].epic_hint == ["PROD-2"] and got["1201"].tags == ["PROD-2", "Team:Data"]
    assert got["1201"].url == "https://feedback.us.pendo.io/app/#/case/1201"
    first = fake.calls("/features")[0]
    assert first["query"] == {"order_by": "created_at", "order_dir": "asc", "start": "0", "limit": "100"}
    assert {c["query"]["feature_id"] for c in fake.calls("/votes")} == {"1201", "1188", "1300"}
    assert all(r["path"] != "/users/502" for r in fake.requests)  # a not-interested user is not even looked up


def test_vote_weight_quantity_counts_each_users_prioritisation_once(tmp_path: Path) -> None:
    got = {i.external_id: i for i in pull(seeded(), tmp_path, vote_weight="quantity")}
    assert [(p.identity, p.weight) for p in got["1201"].people or []] == [("ana@acme.example", 3),
                                                                           ("cy@initech.example", 0)]


def test_eu_host_is_an_option() -> None:
    assert PendoFeedbackOptions(api_key="k", url="https://api.feedback.eu.pendo.io").url.endswith("eu.pendo.io")


def test_a_user_answering_404_still_counts_by_id_with_a_warning(tmp_path: Path, caplog: Any) -> None:
    """404 for ``/users/{id}`` is undocumented (only 410 is): the vote counts by id, and the ops engineer
    sees a warning rather than an info line, so a wave of them (a wrong host?) is noticed."""
    fake = PendoFake()
    fake.features = [pendo_feature(1300, "Dark mode")]
    fake.vote(777, 1300, 1)  # no such user: the fake answers 404
    caplog.set_level("INFO", logger="demandsync")
    got = pull(fake, tmp_path)
    assert got[0].people == [Person("pendo:777", None, None, None, 1, "voter")]
    assert any(r.levelname == "WARNING" and "777" in r.getMessage() and "HTTP 404" in r.getMessage()
               for r in caplog.records)
