"""HotjarSource beyond the shared contract: the comment in the text, limit at most 100, identity by
response id, the newest-id cursor, token refresh.

Fixtures follow the documented response shape {id, answers, comment, tags} (tests/vendor_fakes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
from vendor_fakes import HotjarFake, hj_response

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.hotjar import HotjarOptions, HotjarSource
from demandsync.domain import FeedbackItem
from demandsync.mappings.engine import build_mapper

API = "https://api.hotjar.io/v1"


def source(fake: HotjarFake, tmp_path: Path, *, full: bool = False, **kwargs: Any) -> HotjarSource:
    opts = HotjarOptions(url=API, client_id="cid", client_secret=fake.key, site_id="11", survey_id="22")
    return HotjarSource(opts, SourceContext("hj", tmp_path, full=full), transport=fake.transport(), **kwargs)


def test_answers_and_comment_are_the_text_and_the_response_id_the_identity(tmp_path: Path) -> None:
    fake = HotjarFake()
    fake.responses = [hj_response("7f3c1a90", "I need to export demand to CSV", "8", comment="Weekly, please"),
                      hj_response("7f3c1a8f", "Price is too high", comment="")]
    mapper = build_mapper("hj", "hotjar-api", {})
    got = [mapper.map(r) for r in source(fake, tmp_path).pull({}) if isinstance(r, Record)]
    assert all(isinstance(i, FeedbackItem) for i in got)
    first = got[0]
    assert isinstance(first, FeedbackItem)
    assert (first.external_id, first.text) == ("response:7f3c1a90", "I need to export demand to CSV\n\n8\n\nWeekly, please")
    assert (first.requester, first.created_at, first.people) == (None, None, None)
    assert fake.calls("/responses")[0]["query"] == {"limit": "100"}


def test_limit_is_never_above_100() -> None:
    with pytest.raises(pydantic.ValidationError, match="less than or equal to 100"):
        HotjarOptions(client_id="c", client_secret="s", site_id="1", survey_id="2", page_size=500)


def test_incremental_stops_at_the_newest_response_seen_and_reads_all_if_it_vanished(tmp_path: Path) -> None:
    fake = HotjarFake()
    fake.responses = [hj_response(f"r{i}", f"answer {i}") for i in (3, 2, 1)]
    first = source(fake, tmp_path)
    assert len(list(first.pull({}))) == 3 and first.cursor["newest_id"] == "r3"
    fake.responses.insert(0, hj_response("r4", "answer 4"))
    second = source(fake, tmp_path)
    assert [r.locator for r in second.pull(first.cursor)] == ["hotjar response r4"]
    assert second.cursor["newest_id"] == "r4"
    fake.responses = [r for r in fake.responses if r["id"] != "r4"]  # deleted upstream
    assert len(list(source(fake, tmp_path).pull(second.cursor))) == 3  # never fewer than there are


def test_token_is_refreshed_before_expiry(tmp_path: Path) -> None:
    fake = HotjarFake()
    now = [0.0]
    hj = source(fake, tmp_path, token_clock=lambda: now[0])
    list(hj.pull({}))
    now[0] = 3600 - 30  # inside the leeway: a new token first
    list(hj.pull({}))
    assert len(fake.calls("/oauth/token")) == 2
