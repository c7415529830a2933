"""A complete pull marks deleted exactly the stored items it did not see (tracked by row id)."""

from __future__ import annotations

from conftest import retire_unseen

from demandsync.domain import FeedbackItem
from demandsync.sync.store.store import Store


def items(*ids: str, source: str = "s") -> list[FeedbackItem]:
    return [FeedbackItem(source, i, f"text {i}") for i in ids]


def test_only_unseen_stored_items_of_the_source_are_marked_deleted(store: Store) -> None:
    store.upsert_items(items("a", "b", "c", "gone"), {})
    store.upsert_items(items("a", source="other"), {})
    assert retire_unseen(store, "s", {"a", "b", "gone"}) == 1  # c was deleted upstream earlier

    seen = store.seen_items("s")
    for batch in (items("a", "c"), items("new", "a")):  # c comes back; a repeats in a later batch
        store.upsert_items(batch, store.item_hashes("s", (i.external_id for i in batch), seen))
    store.item_hashes("s", ["b"], seen)  # b seen but not stored again (a forgotten person's record)
    assert store.mark_unseen_deleted(seen) == 1
    hashes = store.item_hashes("s")
    assert sorted(hashes) == ["a", "b", "c", "gone", "new"]
    assert [k for k, h in hashes.items() if not h] == ["gone"]  # deleted items' hash is ""
    assert store.item_hashes("other")["a"]  # another source's item is never touched
    assert store.mark_unseen_deleted(store.seen_items("s")) == 4  # a pull that saw nothing: all gone


def test_content_hashes_stay_what_earlier_versions_stored() -> None:
    """An item's content hash decides "unchanged, not re-written": if its form moved, the first run
    after an upgrade would re-write (and relink) every item. Values stored by earlier versions."""
    from datetime import UTC, datetime

    from demandsync.domain import Person
    from demandsync.sync.store.store import item_hash

    plain = FeedbackItem("s", "1", "Dark mode", "ann@x.io", "Acme", datetime(2026, 1, 1, 8, tzinfo=UTC),
                         "https://x.io", ["ux"], ["PRD-1"], 2, {"country": "Peru", "os": "Linux"})
    with_people = FeedbackItem("s", "2", "SSO", None, None, None, None, [], [], 1, {},
                               [Person("bo@x.io", "Bo", "bo@x.io", "Acme", 1, "voter")])
    assert [item_hash(plain), item_hash(with_people)] == [
        "2ede0cb6dcd89de77b51ffede5afe9ef3a3f449c3838f0979207e949a54433cb",
        "a738f41fa2044a5e4d8ddc433db9a7a3568773e8562cc0fb8fc17a45a723904c",
    ]


def test_a_batch_hashes_and_stores_each_extra_as_its_own(store: Store) -> None:
    """A pull remembers each ``extra``'s repr (hashed) and JSON (stored) for its batch: values that are
    equal as keys but not as text (``1``, ``1.0``, ``True``), or that cannot be a key, are each
    hashed and stored as themselves, exactly as :func:`item_hash` and ``json.dumps`` write them."""
    import json

    import sqlalchemy as sa

    from demandsync.domain import Person
    from demandsync.sync.store.store import item_hash

    extras: list[dict[str, object]] = [
        {"n": "1"}, {"n": 1}, {"n": 1.0}, {"n": True}, {"n": "1"}, {"n": 1}, {"n": ["a", 1]}, {"n": ["a", 1]},
        {}, {"a": "x", "b": "y"}, {"b": "y", "a": "x"}, {"a": "x", "b": "y"}, {"q": 'say "hi" \\ ü ✓'},
        {"q": 'say "hi" \\ ü ✓'}, {"n": None}, {"n": {"k": 1}}]
    batch = [FeedbackItem("s", str(n), f"text {n}", extra=e) for n, e in enumerate(extras)]
    batch.append(FeedbackItem("s", "p", "voted", extra={"n": 1},
                              people=[Person("bo@x.io", "Bo", "bo@x.io", None, 1, "voter")]))
    assert store.upsert_items(batch, {}).new == len(batch)
    with store.begin() as conn:
        stored = {ext: (h, extra) for ext, h, extra in conn.execute(sa.text(
            "SELECT external_id, content_hash, CAST(extra AS TEXT) FROM items WHERE source = 's'"))}
    assert {i.external_id: (item_hash(i), json.dumps(i.extra)) for i in batch} == stored
    again = store.upsert_items(batch, store.item_hashes("s"))
    assert (again.new, again.changed, again.unchanged) == (0, 0, len(batch))


def test_a_pull_of_a_new_source_asks_the_store_only_about_ids_it_asked_before(store: Store, monkeypatch) -> None:
    """A source with nothing stored when its pull began can only hold what the pull stored, and a
    pull asks about an id before storing it: the lookup queries only ids asked about before (or
    sharing a bit of the pull's bitset with one: 4 ids among 8 million bits, by chance only).
    A source with stored items is asked about every id."""
    import demandsync.sync.store.items as store_module  # where item_hashes looks _driver_rows up

    queried: list[str] = []
    real = store_module._driver_rows
    monkeypatch.setattr(store_module, "_driver_rows",
                        lambda conn, sql, params: queried.extend(params[1:]) or real(conn, sql, params))
    store.upsert_items(items("a", source="old"), {})
    for source in ("s", "old"):
        seen = store.seen_items(source)
        counts = [store.upsert_items(batch, store.item_hashes(source, [i.external_id for i in batch], seen))
                  for batch in (items("a", "b", source=source), items("c", "a", "a", source=source),
                                items("b", "d", source=source))]
        assert [(c.new, c.unchanged) for c in counts] == ([(2, 0), (1, 2), (1, 1)] if source == "s"
                                                          else [(1, 1), (1, 2), (1, 1)])
        assert sorted(store.item_hashes(source)) == ["a", "b", "c", "d"]
        if source == "s":
            assert sorted(queried) == ["a", "b"]
            queried.clear()
    assert sorted(queried) == ["a", "a", "b", "b", "c", "d"]
