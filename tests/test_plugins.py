"""A third-party source registered the real way: an installed distribution's entry point."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demandsync.config import load_config_data
from demandsync.connectors.base import Record, SourceContext, available_kinds, load_source_class
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

PLUGIN_DIR = Path(__file__).parent / "plugin_example"
JIRA = {"url": "https://acme.atlassian.net", "email": "a@acme.example", "api_token": "t",
        "fields": {"requests": "Demand requests"}}


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[Path]:
    """What ``pip install demandsync-example-source`` leaves behind: a ``*.dist-info``
    with METADATA and entry_points.txt on sys.path, next to the module."""
    site = tmp_path / "site-packages"
    dist = site / "demandsync_example_source-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demandsync-example-source\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[demandsync.connectors]\nexample = demandsync_example_source:ExampleSource\n")
    sys.path[:0] = [str(site), str(PLUGIN_DIR)]
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        for entry in (str(site), str(PLUGIN_DIR)):
            sys.path.remove(entry)
        sys.modules.pop("demandsync_example_source", None)
        importlib.invalidate_caches()


def test_plugin_is_found_loaded_and_pulls(installed_plugin: Path, tmp_path: Path) -> None:
    assert available_kinds()["example"] == "demandsync_example_source:ExampleSource"
    cls = load_source_class("example")
    assert cls.kind == "example" and cls.default_preset == "example-jsonl"
    (tmp_path / "feedback.jsonl").write_text(
        '{"id": "1", "comment": "Export to PDF please", "email": "Ann@Globex.com", "company": "Globex"}\n'
        "not json\n"
        '{"id": "2", "comment": "Dark mode", "email": "bob@initech.com", "company": "Initech"}\n')
    source = cls(cls.Options.model_validate({"path": "feedback.jsonl"}), SourceContext("ex", tmp_path, full=True))
    out = list(source.pull({}))
    assert [type(r) for r in out] == [Record, Quarantined, Record]
    assert out[1].locator == "feedback.jsonl line 2"  # type: ignore[union-attr]
    assert source.cursor == {"lines": 3}
    # The plugin's own preset, registered by loading a config that uses the kind: no [sources.map] needed.
    load_config_data({"jira": JIRA, "sources": [{"name": "ex", "kind": "example", "path": "feedback.jsonl"}]},
                     tmp_path / "demandsync.toml")
    mapper = build_mapper("ex", cls.default_preset, {})
    item = mapper.map(out[0])  # type: ignore[arg-type]
    assert isinstance(item, FeedbackItem)
    assert (item.external_id, item.text, item.requester, item.account) == ("1", "Export to PDF please", "ann@globex.com", "Globex")

    again = cls(cls.Options.model_validate({"path": "feedback.jsonl"}), SourceContext("ex", tmp_path))
    assert list(again.pull(source.cursor)) == []  # incremental: nothing new


def test_unknown_kind_names_the_installed_ones() -> None:
    with pytest.raises(LookupError, match="installed kinds: .*canny.*hotjar.*pendo_feedback.*productboard.*uservoice"):
        load_source_class("nope")


@pytest.mark.parametrize("kind", ["canny", "productboard", "pendo_feedback", "uservoice", "hotjar", "jira"])
def test_builtin_api_sources_load_and_their_presets_exist(kind: str) -> None:
    from demandsync.mappings.presets import load_preset

    cls = load_source_class(kind)
    assert cls.kind == kind
    assert cls.default_preset is not None and load_preset(cls.default_preset).preset == cls.default_preset


def test_jira_preset_maps_a_jira_source_record() -> None:
    """The preset JiraSource names as its default, over the record shape JiraSource._data builds."""
    record = Record(data={
        "id": "10001", "key": "FB-1",
        "fields": {"summary": "Please add SSO", "description_text": "We need Okta.",
                   "reporter": {"accountId": "5b10a2844c20165700ede21g", "emailAddress": "Ann@Globex.com"},
                   "created": "2024-04-30T09:00:00.000+0000", "labels": ["sso", "enterprise"]},
        "epic_keys": ["PROD-7"], "organization": "Globex", "browse_url": "https://acme.atlassian.net/browse/FB-1",
    }, locator="jira issue FB-1")
    item = build_mapper("jira-feedback", "jira", {}).map(record)
    assert isinstance(item, FeedbackItem)
    assert (item.external_id, item.text) == ("FB-1", "Please add SSO\n\nWe need Okta.")
    assert (item.requester, item.account, item.epic_hint, item.tags) == ("ann@globex.com", "Globex", ["PROD-7"], ["sso", "enterprise"])
    assert item.created_at is not None and item.created_at.isoformat() == "2024-04-30T09:00:00+00:00"
    assert item.url == "https://acme.atlassian.net/browse/FB-1"
    no_email = dict(record.data, fields={**record.data["fields"], "reporter": {"accountId": "5b10a"}})
    mapped = build_mapper("jira-feedback", "jira", {}).map(Record(data=no_email, locator="jira issue FB-1"))
    assert isinstance(mapped, FeedbackItem) and mapped.requester == "5b10a"
