"""Privacy (issue 19): ``forget`` reaches everything stored and sticks; the managed summary
names no e-mail unless an admin opts in; a comment someone else wrote is never taken over."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import cli, run_json
from test_secrets import store_text

from demandsync.connectors.jira.adf import adf_to_text
from demandsync.domain import Quarantined, marker
from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.store.store import Store

INES = "ines@globex.com"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def notes(config: Path) -> Path:
    return config.parent / "exports" / "sales-call-notes.csv"


def test_forget_erases_everywhere_and_the_person_is_not_reimported(sandbox: JiraSandbox, config: Path,
                                                                   store_url: str) -> None:
    run_json(config)
    store = Store.open(store_url)
    store.quarantine([Quarantined("sales-notes", "sales-call-notes.csv row 9", "no date",
                                  "Date=;Contact email=Ines@Globex.com;Request=call me")], run_id=None)
    store.record_pull("exit-survey", "csv", cursor=None, error=f"ValueError: bad row of {INES}")
    store.close()

    assert INES in store_text(store_url).lower()  # she is there before: the check below can fail
    code, stdout, _ = cli("forget", " Ines@Globex.com", "--config", str(config))
    assert code == 0 and "removed 1 item(s)" in stdout
    assert INES not in store_text(store_url).lower()  # items, quarantine, source errors, run summaries

    # The same export with one new row, then a plain run: Ines stays forgotten.
    notes(config).write_text(notes(config).read_text() + "2026-11-21,Wayne,bruce@wayne.com,pro,SSO too,PROD-1\n")
    report = run_json(config)
    assert report["sources"]["sales-notes"]["forgotten"] == 1
    assert report["sources"]["sales-notes"]["new"] == 1
    fields = sandbox.state.issue("PROD-1")["fields"]
    assert (fields["customfield_10050"], fields["customfield_10051"]) == (6, 5)  # +Bruce, Ines gone
    assert INES not in store_text(store_url).lower()
    # A --full re-read does not bring her back either.
    again = run_json(config, "--full")
    assert again["sources"]["sales-notes"]["forgotten"] == 1 and INES not in store_text(store_url).lower()


def test_forget_keeps_only_a_salted_hash(sandbox: JiraSandbox, config: Path, store_url: str) -> None:
    run_json(config)
    cli("forget", INES, "--config", str(config))
    store = Store.open(store_url)
    try:
        forgotten = store.forgotten_filter()
        assert forgotten(" INES@globex.com") and not forgotten("amy@hooli.com")
        import hashlib

        assert hashlib.sha256(INES.encode()).hexdigest() not in store_text(store_url)
    finally:
        store.close()


def _summary_texts(sandbox: JiraSandbox) -> str:
    out = []
    for issue in sandbox.state.issues():
        for c in sandbox.state.comments(issue):
            out.append(adf_to_text(c["body"]) if isinstance(c["body"], dict) else str(c["body"]))
            out.append(str(c["body"]))  # the raw ADF too: link hrefs (mailto:) live in marks
    return "\n".join(out)


def test_summary_shows_no_email_by_default(sandbox: JiraSandbox, config: Path) -> None:
    notes(config).write_text(notes(config).read_text() +
                             '2026-11-21,Wayne,bruce@wayne.com,pro,"SSO please, write to bruce@wayne.com",PROD-1\n')
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\ntop = 10\n')
    report = run_json(config)
    assert report["summaries"]["created"] == 5
    text = _summary_texts(sandbox)
    assert EMAIL.findall(text) == [] and "mailto:" not in text
    assert "Globex" in text and "(e-mail hidden)" in text  # accounts still named; the address masked


def test_summary_names_nobody_when_requesters_are_off(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\ntop = 10\nshow_requesters = false\n')
    run_json(config)
    text = _summary_texts(sandbox)
    assert EMAIL.findall(text) == [] and "Globex" not in text and "Initech" not in text


def test_summary_shows_emails_when_an_admin_opts_in(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\ntop = 10\nshow_emails = true\n')
    run_json(config)
    assert INES in _summary_texts(sandbox)


def test_a_comment_quoting_the_marker_written_by_someone_else_is_left_alone(sandbox: JiraSandbox,
                                                                            config: Path) -> None:
    issue = sandbox.state.issue("PROD-1")
    quoted = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Why does this say 6? " + marker("PROD-1", "000000000000")}]}]}
    theirs = sandbox.state.add_comment(issue, quoted, {"accountId": "557058:someone-else", "displayName": "Pat PM"})
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\n')
    report = run_json(config)
    assert report["summaries"]["created"] == 5
    found = sandbox.state.comments(issue)
    assert len(found) == 2
    assert found[0]["id"] == theirs["id"] and found[0]["body"] == quoted  # untouched
    assert found[1]["author"]["accountId"] != "557058:someone-else"
    assert "Customer demand" in adf_to_text(found[1]["body"])


def test_a_forgotten_voter_does_not_come_back_with_the_next_pull(tmp_path: Path, store_url: str) -> None:
    """`forget` a Canny voter: the request stays, the voter is gone, and the next full pull (which
    still lists their vote upstream) does not bring them back."""
    from vendor_fakes import CannyFake, canny_post, canny_user

    from demandsync.config import load_config_data
    from demandsync.sync.pull import pull_source

    fake = CannyFake()
    fake.add_post(canny_post("p1", "2024-06-01T00:00:00.000Z", author=canny_user("a1", "ann@acme.com")),
                  [canny_user("a1", "ann@acme.com"), canny_user("u2", "bob@globex.com")])
    with fake.serve() as url:
        data = {"store": {"url": store_url},
                "jira": {"url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t"},
                "sources": [{"name": "canny", "kind": "canny", "url": url + "/api/v1", "api_key": fake.key,
                             "companies": False}]}
        config = load_config_data(data, tmp_path / "demandsync.toml")
        with Store.open(store_url) as store:
            pull_source(config, store, config.settings.sources[0], 1, full=True)
            assert store.forget_requester("bob@globex.com") == 1
            assert _identities(store) == ["ann@acme.com"]
            again = pull_source(config, store, config.settings.sources[0], 2, full=True)
            assert again.error is None and again.changed == 1  # the post came back with bob: bob was dropped
            assert _identities(store) == ["ann@acme.com"]


def _identities(store: Store) -> list[str]:
    import sqlalchemy as sa

    from demandsync.sync.store.store import PEOPLE

    with store.engine.connect() as conn:
        return sorted(str(i) for (i,) in conn.execute(sa.select(PEOPLE.c.identity)))
