"""A complete pull marks deleted exactly the stored items it did not see (tracked by row id)."""

from __future__ import annotations

from demandsync.domain import FeedbackItem
from demandsync.sync.store.store import Store


def items(*ids: str, source: str = "s") -> list[FeedbackItem]:
    return [FeedbackItem(source, i, f"text {i}") for i in ids]


def test_only_unseen_stored_items_of_the_source_are_marked_deleted(store: Store) -> None:
    store.upsert_items(items("a", "b", "c", "gone"), {})
    store.upsert_items(items("a", source="other"), {})
    assert store.mark_missing_deleted("s", {"a", "b", "gone"}) == 1  # c was deleted upstream earlier

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
