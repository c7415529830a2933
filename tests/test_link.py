"""Linking precedence and incremental relinking, on a real store."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import UTC
from importlib import resources
from pathlib import Path

import pytest
from conftest import retire_unseen

from demandsync.config import LinkingConfig, RuleConfig
from demandsync.domain import Epic, FeedbackItem, ItemToLink
from demandsync.sync.linking import link as link_module
from demandsync.sync.linking.link import AutoLinker, link_items
from demandsync.sync.store.store import Store

EPICS = [
    Epic("PROD-1", "1", "Single sign-on (SAML/SSO) for enterprise"),
    Epic("PROD-2", "2", "Export reports to CSV/Excel"),
    Epic("PROD-3", "3", "Dark mode"),
]
NO_SIMILARITY = LinkingConfig(similarity=False)
SSO_RULE = RuleConfig(epic="PROD-1", keywords=["sso", "single sign-on"])


def add(store: Store, *items: FeedbackItem) -> None:
    store.upsert_items(list(items), store.item_hashes(items[0].source))


def links(store: Store) -> set[tuple[str, str, str, str]]:
    return {(i.external_id, i.epic_key, i.method, i.state)
            for i in store.linked_items(states=("accepted", "suggested", "rejected"))}


def test_explicit_key_in_column_or_text_and_rules_whole_word() -> None:
    linker = AutoLinker(EPICS, [SSO_RULE], NO_SIMILARITY)
    rows = linker.link([
        ItemToLink(1, "s", "please fix", ["PROD-2"]),
        ItemToLink(2, "s", "same as PROD-3, and SSO too", []),
        ItemToLink(3, "s", "lessons learned", []),          # 'sso' inside a word is not a match
        ItemToLink(4, "s", "Single  Sign-On please", []),   # case and spacing do not matter
        ItemToLink(5, "s", "see PROD-99", []),              # not a selected epic
    ])
    got = {(r.item_id, r.epic_key, r.method) for r in rows}
    assert got == {(1, "PROD-2", "explicit"), (2, "PROD-3", "explicit"), (2, "PROD-1", "rule"), (4, "PROD-1", "rule")}


def test_rule_for_unselected_epic_is_reported() -> None:
    linker = AutoLinker(EPICS, [RuleConfig(epic="OPS-1", keywords=["x"])], NO_SIMILARITY)
    assert linker.rules_without_epic == ["OPS-1"]


def test_manual_reject_survives_reruns_and_a_changed_rule(store: Store) -> None:
    add(store, FeedbackItem("s", "a", "we need SSO"), FeedbackItem("s", "b", "SSO now"))
    link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY)
    assert ("a", "PROD-1", "rule", "accepted") in links(store)
    item_a = store.find_item("s", "a")
    assert item_a is not None
    store.decide_link(item_a, "PROD-1", "rejected", note="pm")
    store.decide_link(item_a, "PROD-3", "accepted", note="pm")
    changed_rule = RuleConfig(epic="PROD-1", keywords=["sso", "saml"])
    for rules in ([SSO_RULE], [changed_rule], [changed_rule]):
        stats = link_items(store, EPICS, rules, NO_SIMILARITY)
    assert links(store) == {("a", "PROD-1", "manual", "rejected"), ("a", "PROD-3", "manual", "accepted"),
                            ("b", "PROD-1", "rule", "accepted")}
    assert stats.linked_items == 0  # third pass: nothing stale


def test_only_new_or_changed_items_are_relinked(store: Store) -> None:
    add(store, FeedbackItem("s", "a", "SSO"), FeedbackItem("s", "b", "dark mode"))
    assert link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY).linked_items == 2
    assert link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY).linked_items == 0
    add(store, FeedbackItem("s", "b", "dark mode and SSO"), FeedbackItem("s", "c", "PROD-2"))
    stats = link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY)
    assert stats.linked_items == 2
    assert ("b", "PROD-1", "rule", "accepted") in links(store)
    add(store, FeedbackItem("s", "a", "dark mode"))  # the keyword is gone: so is the rule's link
    assert link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY).linked_items == 1
    assert not {(i, e) for i, e, _, _ in links(store) if i == "a"}
    # a new epic changes the linker: everything is looked at again
    stats = link_items(store, [*EPICS, Epic("PROD-4", "4", "Slack")], [SSO_RULE], NO_SIMILARITY)
    assert stats.relinked_all and stats.linked_items == 3


def test_rule_prefilter_never_changes_what_matches() -> None:
    keyword_sets = (["sso", "single sign-on"], ["dark mode", "night-theme"], ["c++"], ["Ärger"], ["export", "CSV"],
                    ["data"], ["datadog", "2FA"], ["Data Export"], ["#hashtag"])
    rules = [RuleConfig(epic=f"PROD-{n}", keywords=kw) for n, kw in enumerate(keyword_sets, start=1)]
    epics = [Epic(f"PROD-{n}", str(n), "x") for n in range(1, len(keyword_sets) + 1)]
    linker = AutoLinker(epics, rules, NO_SIMILARITY)
    texts = ["We need SSO", "single   sign-on please", "singles sign-on", "sso-ready", "lessons", "Dark  Mode!",
             "night-theme pls", "I write C++ daily", "c++", "Ärger mit dem Export", "csv/excel", "exporting",
             "", "SSO\nnext line", "dark\tmode", "über sso", "SINGLE SIGN-ON and CSV", "sso", "sso_ready", "sso2",
             "xsso", "Datadog alerts", "DATA", "datad", "data-dog", "database", "need 2fa", "2FA2", "a #hashtag",
             "data\nexport", "DaTa ExPoRt", "dat", "ÄRGER", "ärger", "naïve data"]
    # the prefilter scans a batch at once: every text alone, and all of them side by side in one batch
    batched = linker._candidate_rules(texts)
    for text, candidates in zip(texts, batched, strict=True):
        every_rule = {r.epic for r in linker.rules if r.matches("s", text)}
        [alone] = linker._candidate_rules([text])
        assert {r.epic for r in alone if r.matches("s", text)} == every_rule, text
        assert {r.epic for r in candidates if r.matches("s", text)} == every_rule, text
        assert candidates == sorted(candidates, key=linker.rules.index)  # config order: the first rule's keyword wins
    assert {r.epic for r in batched[texts.index("Datadog alerts")]} == {"PROD-7", "PROD-9"}  # not "data": skipped


def test_items_saying_the_same_text_get_links_by_their_own_source_and_hint() -> None:
    """A text is looked at once per batch (``AutoLinker._claims``): what it says is shared, but each
    item's links still follow its own source (a rule for one source only) and its own epic column."""
    rules = [RuleConfig(epic="PROD-1", keywords=["sso"], sources=["canny"]), RuleConfig(epic="PROD-2", keywords=["sso"]),
             RuleConfig(epic="PROD-4", keywords=["dark mode"], sources=["canny"])]
    epics = [Epic(f"PROD-{n}", str(n), "x") for n in range(1, 5)]
    linker = AutoLinker(epics, rules, NO_SIMILARITY)
    text = "SSO and dark mode, like PROD-3"
    links = linker.link([ItemToLink(1, "canny", text, []), ItemToLink(2, "hotjar", text, ["PROD-4"]),
                         ItemToLink(3, "hotjar", text, []), ItemToLink(4, "canny", "nothing", [])])
    assert [(lk.item_id, lk.epic_key, lk.method, lk.note) for lk in links] == [
        (1, "PROD-3", "explicit", None), (1, "PROD-1", "rule", "keyword 'SSO'"), (1, "PROD-2", "rule", "keyword 'SSO'"),
        (1, "PROD-4", "rule", "keyword 'dark mode'"),
        (2, "PROD-4", "explicit", None), (2, "PROD-3", "explicit", None), (2, "PROD-2", "rule", "keyword 'SSO'"),
        (3, "PROD-3", "explicit", None), (3, "PROD-2", "rule", "keyword 'SSO'")]
    later = linker.link([ItemToLink(5, "hotjar", text, []), ItemToLink(6, "canny", text, [])])  # remembered claims
    assert [(lk.item_id, lk.epic_key) for lk in later] == [(5, "PROD-3"), (5, "PROD-2"), (6, "PROD-3"), (6, "PROD-1"),
                                                            (6, "PROD-2"), (6, "PROD-4")]


def test_a_text_scored_in_an_earlier_batch_gets_the_same_links_unscored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Survey answers repeat across the linker's batches: a text is scored once per linker (up to
    ``REMEMBERED_TEXTS`` texts), and every item saying it gets the links scoring it gives."""
    linker = AutoLinker(EPICS, [], LinkingConfig())
    assert linker.model is not None
    scored: list[str] = []
    score = linker.model.score
    monkeypatch.setattr(linker.model, "score", lambda texts, **kw: scored.extend(texts) or score(texts, **kw))
    first = linker.link([ItemToLink(1, "s", "dark mode please", []), ItemToLink(2, "s", "csv export", [])])
    again = linker.link([ItemToLink(3, "s", "csv export", []), ItemToLink(4, "s", "dark mode please", []),
                         ItemToLink(5, "s", "dark theme", [])])
    assert scored == ["dark mode please", "csv export", "dark theme"]
    fresh = AutoLinker(EPICS, [], LinkingConfig()).link([ItemToLink(3, "s", "csv export", []),
                                                         ItemToLink(4, "s", "dark mode please", []),
                                                         ItemToLink(5, "s", "dark theme", [])])
    assert again == fresh and {lk.epic_key for lk in first} == {"PROD-2", "PROD-3"}
    monkeypatch.setattr(link_module, "REMEMBERED_TEXTS", 3)  # full: a new text is scored but not remembered
    linker.link([ItemToLink(6, "s", "sso please", [])])
    linker.link([ItemToLink(7, "s", "sso please", [])])
    assert scored[3:] == ["sso please", "sso please"]


def test_nothing_to_link_never_fits_the_similarity_model(store: Store) -> None:
    add(store, FeedbackItem("s", "a", "SSO"))
    link_items(store, EPICS, [SSO_RULE], LinkingConfig())
    linker = AutoLinker(EPICS, [SSO_RULE], LinkingConfig())
    assert linker.link([]) == [] and linker._model is None
    stats = link_items(store, EPICS, [SSO_RULE], LinkingConfig())
    assert stats.linked_items == 0 and not stats.relinked_all


def test_with_similarity_off_the_models_identity_is_never_asked_for(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin who turns similarity off links by keys and rules alone: the model decides no link,
    so a run must not import it (numpy and scipy, ~0.15-0.45 s of a first run) for its identity, and
    an upgrade of the model must not relink such a store."""
    def asked() -> dict[str, str]:
        raise AssertionError("the similarity model's identity was asked for")

    monkeypatch.setattr(link_module, "_model_identity", asked)
    add(store, FeedbackItem("s", "1", "SSO please"), FeedbackItem("s", "2", "fix PROD-3 soon"),
        FeedbackItem("s", "3", "a dark theme please"))
    assert link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY).linked_items == 3
    assert links(store) == {("1", "PROD-1", "rule", "accepted"), ("2", "PROD-3", "explicit", "accepted")}
    assert link_items(store, EPICS, [SSO_RULE], NO_SIMILARITY).linked_items == 0


def test_a_first_run_without_similarity_never_imports_numpy_or_scipy(tmp_path: Path) -> None:
    """What the admin who turns similarity off saves: the linker's numerics are never loaded (a
    process of its own: this one has them from other tests)."""
    code = textwrap.dedent(f"""
        import sys
        from demandsync.config import LinkingConfig, RuleConfig
        from demandsync.domain import Epic, FeedbackItem
        from demandsync.sync.linking.link import link_items
        from demandsync.sync.store.store import Store
        store = Store.open({f"sqlite:///{tmp_path / 'store.db'}"!r})
        store.upsert_items([FeedbackItem("s", "1", "SSO please"), FeedbackItem("s", "2", "a dark theme")],
                           store.item_hashes("s"))
        stats = link_items(store, [Epic("PROD-1", "1", "Single sign-on")],
                           [RuleConfig(epic="PROD-1", keywords=["sso"])], LinkingConfig(similarity=False))
        print(stats.linked_items, sorted(m for m in ("numpy", "scipy") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "2 []"


def test_created_at_in_another_zone_is_stored_as_the_same_instant(store: Store) -> None:
    from datetime import datetime, timedelta, timezone

    berlin = timezone(timedelta(hours=1))
    add(store, FeedbackItem("s", "a", "PROD-1 please", created_at=datetime(2026, 1, 1, 0, 30, tzinfo=berlin)))
    link_items(store, EPICS, [], NO_SIMILARITY)
    [item] = store.linked_items(["PROD-1"])
    assert item.created_at == datetime(2025, 12, 31, 23, 30, tzinfo=UTC)


def test_items_to_link_are_read_a_batch_at_a_time(store: Store) -> None:
    add(store, *[FeedbackItem("s", str(n), f"text {n}", epic_hint=["PROD-1"] if n == 3 else []) for n in range(5)])
    batches = list(store.items_to_link("fp", batch=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [b.epic_hint for batch in batches for b in batch] == [[], [], [], ["PROD-1"], []]


def test_one_definition_of_a_jira_key_everywhere() -> None:
    from demandsync.connectors.base import Record
    from demandsync.keys import find_issue_keys
    from demandsync.mappings.engine import build_mapper

    text = "see P-1, PROD-07, xPROD-8, (PROD-7), /browse/OPS-12. and PROD-7 again"
    assert find_issue_keys(text) == ["PROD-7", "OPS-12"]
    mapper = build_mapper("s", None, {"text": "Text", "epic": "Epic"})
    item = mapper.map(Record({"Text": "hi", "Epic": text}, "f.csv row 2"))
    assert isinstance(item, FeedbackItem) and item.epic_hint == ["PROD-7", "OPS-12"]


def test_decisions_teach_the_linker_and_relink_everything(store: Store) -> None:
    """An accept widens the epic, a reject pushes it back, and either one relinks every
    item on the next run (the PM page, `review` and `links import` all decide through
    Store.decide_link)."""
    epics = [Epic("PROD-3", "3", "Dark mode"), Epic("PROD-5", "5", "Offline mode")]
    add(store, FeedbackItem("s", "a", "midnight palette please"), FeedbackItem("s", "b", "a midnight palette for reading"),
        FeedbackItem("s", "c", "midnight palette"), FeedbackItem("s", "d", "I love this"))
    link_items(store, epics, [], LinkingConfig())
    assert not {e for (i, e, _, _) in links(store) if i == "c"}  # "midnight palette" shares nothing with either
    store.decide_link(store.find_item("s", "a") or 0, "PROD-3", "accepted", note="page")
    store.decide_link(store.find_item("s", "b") or 0, "PROD-3", "accepted", note="review")
    stats = link_items(store, epics, [], LinkingConfig())
    # "I love this" says no word either epic knows: its scores cannot have changed, its links stay
    assert stats.relinked_all and (stats.linked_items, stats.unchanged_items) == (3, 1)
    assert ("c", "PROD-3", "similarity", "suggested") in links(store)  # learned what users call it
    store.decide_link(store.find_item("s", "c") or 0, "PROD-3", "rejected", note="import x.csv")
    assert link_items(store, epics, [], LinkingConfig()).relinked_all


def test_word_weights_count_a_sample_of_items_refreshed_only_when_the_store_doubles(store: Store) -> None:
    from demandsync.sync.linking.link import BACKGROUND_MIN, learned_from

    def answers(lo: int, hi: int) -> list[FeedbackItem]:
        return [FeedbackItem("s", str(n), f"whatsapp is great {n}") for n in range(lo, hi)]

    add(store, *answers(0, BACKGROUND_MIN - 1))
    assert learned_from(store).background == []  # too few items to say which words are common
    add(store, *answers(BACKGROUND_MIN - 1, BACKGROUND_MIN))
    first = learned_from(store).background
    assert sorted(first) == sorted(f"whatsapp is great {n}" for n in range(BACKGROUND_MIN))
    add(store, *answers(BACKGROUND_MIN, 2 * BACKGROUND_MIN - 1))
    assert learned_from(store).background == first  # not doubled: same sample, same fingerprint
    add(store, *answers(2 * BACKGROUND_MIN - 1, 2 * BACKGROUND_MIN))
    assert len(learned_from(store).background) == 2 * BACKGROUND_MIN  # doubled: drawn again


def test_a_new_model_version_relinks_stored_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upgrading demandsync to a model that scores differently must relink what is stored: the
    linker's fingerprint carries the model's version and thresholds, not only its params."""
    from demandsync.sync.linking.similarity import params

    before = AutoLinker(EPICS, [SSO_RULE], LinkingConfig()).fingerprint  # (the model is fitted on first use only)
    assert AutoLinker(EPICS, [SSO_RULE], LinkingConfig()).fingerprint == before  # stable
    monkeypatch.setattr(params, "MODEL_VERSION", params.MODEL_VERSION + "-next")
    assert AutoLinker(EPICS, [SSO_RULE], LinkingConfig()).fingerprint != before


def test_an_upgrade_of_key_or_rule_matching_relinks_the_items_they_claimed(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Items a key or a rule claimed are skipped when only epic texts change; after an upgrade that
    changes how keys or rules match (CLAIM_VERSION), they must be looked at again."""
    from demandsync.sync.linking import link as link_mod

    epics = [Epic("PROD-1", "1", "Single sign-on"), Epic("PROD-2", "2", "Export reports")]
    add(store, FeedbackItem("s", "1", "SSO with okta"), FeedbackItem("s", "2", "PROD-2 please"),
        FeedbackItem("s", "3", "I love this app"))
    link_items(store, epics, [SSO_RULE], LinkingConfig())
    edited = [Epic("PROD-1", "1", "Single sign-on", "log in once"), epics[1]]
    stats = link_items(store, edited, [SSO_RULE], LinkingConfig())  # claimed ones skipped; the third
    assert (stats.linked_items, stats.unchanged_items) == (0, 1)  # says no word the edit changed
    monkeypatch.setattr(link_mod, "CLAIM_VERSION", link_mod.CLAIM_VERSION + "-next")
    assert link_items(store, edited, [SSO_RULE], LinkingConfig()).linked_items == 3


def test_an_edited_epic_relinks_to_exactly_what_a_full_relink_gives(store: Store) -> None:
    """After one epic's text changes, the stored links must be the ones linking every item from
    scratch gives, although only the links that changed are rewritten."""
    from demandsync.sync.linking.link import learned_from

    epics = [Epic("PROD-1", "1", "Single sign-on (SAML/SSO) for enterprise"), Epic("PROD-2", "2", "Export reports"),
             Epic("PROD-3", "3", "Dark mode"), Epic("PROD-4", "4", "Offline listening")]
    texts = ["please add a dark theme", "export my reports to excel", "cant listen offline", "SSO with okta",
             "night mode for reading", "csv export of reports", "download songs for the plane", "PROD-2 please",
             "I love this app", "saml login for our company", "dark colours hurt less", "offline playlists",
             "export to csv and excel", "login with google", "sync my playlists offline", "a darker theme at night"]
    add(store, *[FeedbackItem("s", str(n), t) for n, t in enumerate(texts)])
    rules = [SSO_RULE]
    link_items(store, epics, rules, LinkingConfig())
    edited = [*epics[:2], Epic("PROD-3", "3", "Dark mode", "a darker colour theme for reading at night"), epics[3]]
    stats = link_items(store, edited, rules, LinkingConfig())
    # every item but the two a key or a rule claims ("SSO with okta", "PROD-2 please") is looked at
    # again, or kept because it says no word whose weight or meaning the edit changed
    assert stats.relinked_all and stats.linked_items + stats.unchanged_items == len(texts) - 2
    assert 0 < stats.linked_items < len(texts) - 2

    def stored() -> set[tuple[int, str, str, str, float]]:
        return {(i.item_id, i.epic_key, i.method, i.state, i.score)
                for i in store.linked_items(states=("accepted", "suggested"))}

    fresh = AutoLinker(edited, rules, LinkingConfig(), learned_from(store))
    every_item = [ItemToLink(i, source, t, []) for i, source, _, t in store.item_texts()]
    expected = {(r.item_id, r.epic_key, r.method, r.state, r.score) for r in fresh.link(every_item)}
    assert ("10", "PROD-3") in {(i.external_id, i.epic_key) for i in store.linked_items(states=("suggested", "accepted"))}
    assert stored() == expected
    assert link_items(store, edited, rules, LinkingConfig()).linked_items == 0  # all current, nothing relinked
    # back to the old text: only the items the edit changed are relinked, and the links are right again
    assert 0 < link_items(store, epics, rules, LinkingConfig()).linked_items < len(texts)
    assert stored() == {(r.item_id, r.epic_key, r.method, r.state, r.score)
                        for r in AutoLinker(epics, rules, LinkingConfig(), learned_from(store)).link(every_item)}


def test_the_word_weight_sample_is_spread_evenly_over_the_live_items(store: Store) -> None:
    add(store, *[FeedbackItem("s", str(n), f"text {n}") for n in range(50)])
    retire_unseen(store, "s", {str(n) for n in range(50) if n % 10})  # 0, 10, 20, ... are gone
    live = [i for i, *_ in store.item_texts()]
    assert len(live) == 45
    assert store.item_sample(7) == ([live[int(k * 45 / 7)] for k in range(7)], 45)  # and how many are live
    assert store.item_sample(45) == (live, 45)


def test_the_link_fingerprints_are_those_live_items_carry(store: Store) -> None:
    add(store, *[FeedbackItem("s", str(n), f"text {n}") for n in range(6)])
    ids = [i for i, *_ in store.item_texts()]
    store.replace_auto_links(ids[:2], [], "fp-of-gone-items")
    store.replace_auto_links(ids[2:4], [], "fp-of-live-items")
    retire_unseen(store, "s", {"2", "3", "4", "5"})  # the first two are gone
    assert store.link_fingerprints() == {"fp-of-live-items"}


def test_a_run_links_under_the_models_own_identity_even_with_a_stale_cached_one(store: Store) -> None:
    """The model's identity is cached by the source it came from (so a run with nothing to link
    never imports the model); a cache from another version of the model must not be used, or an
    upgrade that changes scores would leave every stored link as the old model made it."""
    from demandsync.sync.linking.link import learned_from

    add(store, FeedbackItem("s", "1", "a dark theme please"), FeedbackItem("s", "2", "export to csv"))
    link_items(store, EPICS, [SSO_RULE], LinkingConfig())
    own = AutoLinker(EPICS, [SSO_RULE], LinkingConfig(), learned_from(store)).fingerprint
    assert (store.get_meta("linker") or {})["fingerprint"] == own
    assert link_items(store, EPICS, [SSO_RULE], LinkingConfig()).linked_items == 0  # from the cache: same
    store.set_meta("linker_model", {"source": "an older similarity.py", "identity": {"v": "0"}})
    assert link_items(store, EPICS, [SSO_RULE], LinkingConfig()).linked_items == 0
    assert (store.get_meta("linker") or {})["fingerprint"] == own


def test_an_edit_to_any_file_of_the_model_package_recomputes_its_identity(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's identity is cached by a digest of the linking package's files, and the model is a
    package of its own (``similarity/``): a new ``MODEL_VERSION`` in ``similarity/params.py`` must not
    be hidden by that cache, or every stored link would stay as the old model made it. Compiled
    caches (``__pycache__``) are written after the digest is taken and must not count."""
    copy = tmp_path / "linking"
    shutil.copytree(str(resources.files("demandsync.sync.linking")), copy, ignore=shutil.ignore_patterns("__pycache__"))
    computed: list[dict[str, str]] = []
    monkeypatch.setattr(link_module.resources, "files", lambda package: copy)
    monkeypatch.setattr(link_module, "_model_identity", lambda: computed.append({"v": str(len(computed))}) or computed[-1])
    assert link_module.stored_model_identity(store) == {"v": "0"}
    (copy / "similarity" / "__pycache__").mkdir()
    (copy / "similarity" / "__pycache__" / "params.cpython-311.pyc").write_bytes(b"compiled")
    assert link_module.stored_model_identity(store) == {"v": "0"}  # from the cache
    params = copy / "similarity" / "params.py"
    params.write_text(params.read_text().replace('MODEL_VERSION = "', 'MODEL_VERSION = "next-'))
    assert link_module.stored_model_identity(store) == {"v": "1"}


def test_a_rule_match_a_pm_rejected_still_keeps_similarity_off_the_item(store: Store) -> None:
    """An item a rule claims gets no similarity links, even when a PM rejected the rule's link:
    relinking after an epic's text changed must keep it so (the item has no rule link stored,
    only the decision, so it is read again, and must still be checked against the rules)."""
    from demandsync.sync.linking.link import learned_from

    epics = [Epic("PROD-1", "1", "Single sign-on (SAML/SSO) for enterprise"), Epic("PROD-3", "3", "Dark mode")]
    add(store, FeedbackItem("s", "1", "SSO login in dark mode please"), FeedbackItem("s", "2", "a dark theme"))
    link_items(store, epics, [SSO_RULE], LinkingConfig())
    [sso] = [i.item_id for i in store.linked_items(states=("accepted",)) if i.external_id == "1"]
    store.decide_link(sso, "PROD-1", "rejected")
    edited = [epics[0], Epic("PROD-3", "3", "Dark mode", "a dark colour theme for login screens")]
    for run in (epics, edited):
        link_items(store, run, [SSO_RULE], LinkingConfig())
        auto = AutoLinker(run, [SSO_RULE], LinkingConfig(), learned_from(store)).link(
            [ItemToLink(i, s, t, []) for i, s, _, t in store.item_texts()])
        expected = {(r.item_id, r.epic_key, r.method) for r in auto if (r.item_id, r.epic_key) != (sso, "PROD-1")}
        assert {(i.item_id, i.epic_key, i.method) for i in store.linked_items(states=("accepted", "suggested"))
                if i.method != "manual"} == expected
        assert not any(i.item_id == sso and i.method == "similarity" for i in store.linked_items(
            states=("accepted", "suggested")))


def test_relinks_after_edits_and_decisions_equal_a_full_relink_row_by_row(store: Store) -> None:
    """After an epic's text, labels or decisions change, only items whose scores could change are
    looked at (``LinkStats.unchanged_items`` kept their links unread), and the links table is row
    for row what relinking every item from scratch writes: edits that change the weights of common
    words, a label, an accepted and a rejected decision, and an epic removed (every weight changes:
    no shortcut)."""
    import random

    import sqlalchemy as sa

    from demandsync.sync.store.store import ITEMS, LINKS

    def rows() -> list[tuple[object, ...]]:
        with store.begin() as conn:
            return sorted(conn.execute(sa.select(LINKS.c.item_id, LINKS.c.epic_key, LINKS.c.method, LINKS.c.state,
                                                 LINKS.c.score, LINKS.c.note)).all())

    words = ("offline listen songs download dark mode night theme export csv excel report reports sso okta login "
             "notifications notifcation offlline push phone 2fa playlist shuffle darkmode hotkeys keyboard audit log "
             "logs account bulk edit calendar sync google events custom fields the please love app great crash slow "
             "darker PROD-3 single sign-on").split()
    rng = random.Random(3)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(260)]
    # decisions teach only words two of them say and few items do (similarity: "Learning from
    # decisions"): two decisions of each kind about "vinyl"
    vinyl = ["vinyl rips never shuffle", "vinyl export to excel", "vinyl export crashes", "my vinyl rips"]
    texts += vinyl
    add(store, *[FeedbackItem("s", str(n), t) for n, t in enumerate(texts)])
    epics = [Epic("PROD-1", "1", "Single sign-on with Okta", labels=["auth"]),
             Epic("PROD-2", "2", "Export reports to CSV", "Download any report as a spreadsheet."),
             Epic("PROD-3", "3", "Dark mode", "A dark theme for the whole interface."),
             Epic("PROD-4", "4", "Offline listening", "Play downloaded songs without a connection."),
             Epic("PROD-5", "5", "Audit log export"), Epic("PROD-6", "6", "Calendar sync", "Google calendar events"),
             Epic("PROD-7", "7", "Keyboard shortcuts"), Epic("PROD-8", "8", "Playlist shuffle")]
    rules, cfg = [SSO_RULE], LinkingConfig()
    link_items(store, epics, rules, cfg)
    by_text = {t: store.find_item("s", str(n)) or 0 for n, t in reversed(list(enumerate(texts)))}

    def edit(key: str, **changes: object) -> None:
        from dataclasses import replace

        epics[:] = [replace(e, **changes) if e.key == key else e for e in epics]  # type: ignore[arg-type]

    steps = [
        ("common words' weights", lambda: edit("PROD-4", description="Export and download songs, reports and logs.")),
        ("a label", lambda: edit("PROD-7", labels=["hotkeys"])),
        ("an accepted decision", lambda: (store.decide_link(by_text[vinyl[0]], "PROD-8", "accepted"),
                                          store.decide_link(by_text[vinyl[3]], "PROD-8", "accepted"))),
        ("a rejected decision", lambda: (store.decide_link(by_text[vinyl[1]], "PROD-2", "rejected"),
                                         store.decide_link(by_text[vinyl[2]], "PROD-2", "rejected"))),
        # a new item is linked whatever it says (it has no links of the last linker to keep)
        ("an item added with an edit", lambda: (edit("PROD-6", summary="Calendar sync with Outlook"), add(
            store, FeedbackItem("s", "new", "keyboard hotkeys please")))),
        ("an epic removed", lambda: epics.pop(5)),
    ]
    for name, change in steps:
        change()
        stats = link_items(store, epics, rules, cfg)
        after_edit = rows()
        store.set_meta("linker", {})  # forget the last linker and every item's: all are linked again
        with store.begin() as conn:
            conn.execute(sa.update(ITEMS).values(link_fp=None))
        full = link_items(store, epics, rules, cfg)
        assert full.unchanged_items == 0 and full.linked_items == store.count_items(), name
        assert rows() == after_edit, name
        if name == "an epic removed":
            assert stats.unchanged_items == 0, name
        else:
            assert 0 < stats.unchanged_items and 0 < stats.linked_items, name


def test_without_the_last_models_snapshot_an_edit_relinks_every_unclaimed_item(store: Store) -> None:
    """Items keep their links only against a snapshot of the model that made them: one missing, or
    written for another fingerprint (a run that died between the two writes), means relink all."""
    texts = ["please add a dark theme", "export my reports to excel", "cant listen offline", "I love this app"]
    add(store, *[FeedbackItem("s", str(n), t) for n, t in enumerate(texts)])
    epics = [Epic("PROD-2", "2", "Export reports"), Epic("PROD-3", "3", "Dark mode"), Epic("PROD-4", "4", "Offline")]
    link_items(store, epics, [], LinkingConfig())
    snapshot = store.get_meta("linker_scores") or {}
    store.set_meta("linker_scores", {**snapshot, "fingerprint": "another"})
    edited = [epics[0], Epic("PROD-3", "3", "Dark mode", "a darker colour theme"), epics[2]]
    stats = link_items(store, edited, [], LinkingConfig())
    assert (stats.linked_items, stats.unchanged_items) == (len(texts), 0)
    again = [*edited[:2], Epic("PROD-4", "4", "Offline", "listen without a connection")]
    stats = link_items(store, again, [], LinkingConfig())  # the snapshot is the last model's again
    assert stats.unchanged_items > 0
