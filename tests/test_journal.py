"""The write journal hands back one id per planned write, in order: apply_plan marks each epic's
writes applied or failed by these ids, so a shuffled id would mark another epic's figure."""

from __future__ import annotations

from demandsync.sync.store.store import Store


def test_planned_writes_get_their_own_ids_in_order(store: Store) -> None:
    run = store.start_run("host", 1, dry_run=False)
    other = store.start_run("host", 2, dry_run=False)
    store.journal_planned(other, [{"epic_key": "X-1", "field_id": "f", "figure": "requests", "old": 0, "new": 1}])
    for batch in (range(1, 1201), range(1201, 1204)):  # a second plan in the same run too
        writes = [{"epic_key": f"PROD-{n}", "field_id": "f", "figure": "requests", "old": None, "new": n}
                  for n in batch]
        ids = store.journal_planned(run, writes)
        store.journal_done(ids[1::2], "applied")
        rows = {r["id"]: r for r in store.journal(run_id=run, limit=5000)}
        assert [(rows[i]["epic_key"], rows[i]["new"]) for i in ids] == [(w["epic_key"], {"v": w["new"]})
                                                                       for w in writes]
        assert [rows[i]["state"] for i in ids] == ["planned", "applied"] * (len(ids) // 2) + ["planned"] * (len(ids) % 2)
    assert [r["epic_key"] for r in store.journal(run_id=other)] == ["X-1"]


def test_a_failed_write_keeps_its_error_and_when(store: Store) -> None:
    """``demandsync status`` shows failed writes with Jira's reason and the time they failed."""
    run = store.start_run("host", 1, dry_run=False)
    ids = store.journal_planned(run, [{"epic_key": f"PROD-{n}", "field_id": "f", "figure": "requests", "old": 1,
                                       "new": {"n": n}} for n in range(1, 1102)])
    store.journal_done(ids[:1100], "failed", "Jira refused the value 'x' for 'Requests' (f): it's; a \"number\"")
    rows = {r["id"]: r for r in store.journal(run_id=run, limit=5000)}
    assert {rows[i]["state"] for i in ids[:1100]} == {"failed"} and rows[ids[-1]]["state"] == "planned"
    assert rows[ids[0]]["error"] == "Jira refused the value 'x' for 'Requests' (f): it's; a \"number\""
    assert rows[ids[0]]["done_at"] is not None and rows[ids[-1]]["done_at"] is None
    assert rows[ids[0]]["done_at"].year >= 2026 and (rows[ids[0]]["old"], rows[ids[5]]["new"]) == ({"v": 1}, {"v": {"n": 6}})
