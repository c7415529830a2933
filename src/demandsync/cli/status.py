"""``demandsync status``: what an ops engineer checks when paged.

Reads only the store: last runs, each source's cursor and last error, writes
still pending or failed, and quarantined rows. Nothing secret is stored, and
what is shown passes the config's secret scrubber once more (rows an older
version wrote may predate it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.text import Text

from demandsync.cli.untrusted import LiteralTable as Table
from demandsync.cli.untrusted import clean
from demandsync.config import Config
from demandsync.errors import LockHeld
from demandsync.sync.store.lock import RunLock
from demandsync.sync.store.store import Store, as_utc


def collect_status(config: Config, runs: int = 5) -> dict[str, Any]:
    with Store.open(config.store_url) as store:
        recent = store.runs(runs)
        if any(r["status"] == "running" for r in recent) and _lock_free(store):
            # Marked running, yet nobody holds the run lock: that run was killed.
            for r in recent:
                if r["status"] == "running":
                    r["status"] = "interrupted"
        sources = store.source_states()
        failed = store.journal(run_id=recent[0]["id"], state="failed") if recent else []
        quarantined = Counter(q["source"] for q in store.quarantined())
        items = store.count_items()
    # Scrubbed again on the way out: rows written by an older version may hold what this one masks.
    return config.scrubber.doc({
        "runs": [_run(r) for r in recent],
        "sources": [{"name": s["name"], "kind": s["kind"], "cursor": s["cursor"],
                     "last_ok_at": as_utc(s["last_ok_at"]), "last_error": s["last_error"]} for s in sources],
        "items": items,
        "failed_writes_last_run": [{"epic": w["epic_key"], "field": w["field_id"], "error": w["error"]} for w in failed],
        "quarantined": dict(quarantined),
    })


def _lock_free(store: Store) -> bool:
    """True when no process holds the run lock (taken and released at once)."""
    try:
        with RunLock.acquire(store.engine):
            return True
    except LockHeld:
        return False


def why_failed(status: str, summary: dict[str, Any]) -> str | None:
    """One line on why a run did not end ``ok``: its stopping error, else its failed sources
    and writes; for an interrupted run, that it never finished."""
    if status in ("interrupted", "crashed"):
        return "stopped before finishing (killed, or the machine went down); the next run converges"
    if status in ("ok", "running"):
        return None
    reasons = [f"{e.get('stage') or e.get('epic', '')}: {e['error']}" for e in summary.get("errors") or []
               if e.get("error")]
    reasons += [f"source {name}: {s['error']}" for name, s in (summary.get("sources") or {}).items() if s.get("error")]
    failed = (summary.get("writes") or {}).get("failed", 0)
    if failed and not any(r.startswith("fields") for r in reasons):
        reasons.append(f"{failed} write(s) failed")
    return "; ".join(reasons[:3]) + (f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else "") if reasons else None


def _run(r: dict[str, Any]) -> dict[str, Any]:
    started, finished = as_utc(r["started_at"]), as_utc(r["finished_at"])
    summary = r["summary"] or {}
    status = "interrupted" if r["status"] == "crashed" else r["status"]
    return {
        "id": r["id"], "started_at": started, "status": status, "host": r["host"], "pid": r["pid"],
        "why": why_failed(status, summary),
        "dry_run": r["dry_run"],
        "seconds": round((finished - started).total_seconds(), 1) if started and finished else None,
        "writes": summary.get("writes"), "epics": summary.get("epics"),
        "new_items": sum(s.get("new", 0) for s in (summary.get("sources") or {}).values()),
    }


def render_status(doc: dict[str, Any]) -> list[RenderableType]:
    # Fits 80 columns whole (a cron host's terminal): short headers, no wrapping, causes below.
    runs = Table(title="Recent runs", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("run", "started (UTC)", "secs", "outcome", "new", "writes ok/failed"):
        runs.add_column(col, no_wrap=True)
    why = Text()
    for r in doc["runs"]:
        w = r["writes"] or {}
        runs.add_row(str(r["id"]), f"{r['started_at']:%m-%d %H:%M:%S}", "—" if r["seconds"] is None else str(r["seconds"]),
                     r["status"] + (" (dry run)" if r["dry_run"] else ""), str(r["new_items"]),
                     f"{w.get('applied', 0)}/{w.get('failed', 0)}")
        if r["why"]:  # below the table, whole: a cause folded into a narrow column is unreadable
            why.append(f"run {r['id']} {r['status']}: ", style="bold").append(f"{clean(r['why'])}\n")
    sources = Table(title=f"Sources ({doc['items']} live items)")
    for col in ("source", "kind", "last ok (UTC)", "quarantined", "last error"):
        sources.add_column(col, overflow="fold")
    for s in doc["sources"]:
        ok = f"{s['last_ok_at']:%Y-%m-%d %H:%M}" if s["last_ok_at"] else "never"
        sources.add_row(s["name"], s["kind"], ok, str(doc["quarantined"].get(s["name"], 0)), s["last_error"] or "")
    out: list[RenderableType] = [runs, *([why] if why else []), sources]
    if doc["failed_writes_last_run"]:
        failed = Table(title="Writes that failed in the last run")
        for col in ("epic", "field", "error"):
            failed.add_column(col, overflow="fold")
        for w in doc["failed_writes_last_run"]:
            failed.add_row(w["epic"], w["field"], w["error"] or "")
        out.append(failed)
    return out
