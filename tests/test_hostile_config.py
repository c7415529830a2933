"""Config mistakes that used to be accepted or crash (issue 19): ranges, blank tokens, store URL
typos (one readable line, exit 2), and local-only commands that needed Jira credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, run_json
from test_config import GOOD, problems, write

from demandsync.sandbox.jira import JiraSandbox


@pytest.mark.parametrize(("line", "key"), [
    ("page_size = 0", "jira.page_size"),
    ("page_size = 5001", "jira.page_size"),
    ("timeout = 0", "jira.timeout"),
    ("timeout = -1", "jira.timeout"),
    ("max_attempts = 0", "jira.max_attempts"),
    ("write_concurrency = 0", "jira.write_concurrency"),
    ("max_wait_total = -5", "jira.max_wait_total"),
])
def test_out_of_range_jira_settings_are_refused_naming_the_key(tmp_path: Path, line: str, key: str) -> None:
    found = problems(tmp_path, GOOD.replace("[jira]\n", f"[jira]\n{line}\n"))
    assert list(found) == [key]


def test_an_empty_pat_or_token_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('email = "ops@acme.com"\napi_token = "s3cr3t-token-value"\n', 'pat = ""\n')
    assert problems(tmp_path, text) == {
        "jira.pat": "is empty; give the token, or remove the key (it can come from the environment)"}
    blank = GOOD.replace('api_token = "s3cr3t-token-value"', 'api_token = "  "')
    assert list(problems(tmp_path, blank)) == ["jira.api_token"]


@pytest.mark.parametrize(("kind", "page_size"), [("canny", 101), ("hotjar", 101), ("uservoice", 101), ("canny", 0)])
def test_source_page_size_above_the_vendor_maximum_is_refused(tmp_path: Path, kind: str, page_size: int) -> None:
    extra = {"canny": 'api_key = "k"', "hotjar": 'client_id = "i"\nclient_secret = "s"\nsite_id = "1"\nsurvey_id = "2"',
             "uservoice": 'subdomain = "acme"\ntoken = "t"'}[kind]
    text = GOOD + f'\n[[sources]]\nname = "v"\nkind = "{kind}"\n{extra}\npage_size = {page_size}\n'
    found = problems(tmp_path, text)
    assert list(found) == ["sources[1] (v).page_size"], found


@pytest.mark.parametrize("url", [
    "postgres://u@db/demand",            # Heroku-style scheme SQLAlchemy does not know
    "postgresql+psycopg://u@/demand",   # no host
    "sqlite:/demandsync.db",            # one slash short
    "mysql://u@db/demand",              # not supported
    "demandsync.db",                    # not a URL
])
def test_store_url_typos_are_one_line_and_exit_2(tmp_path: Path, url: str) -> None:
    config = write(tmp_path, f'[store]\nurl = "{url}"\n' + GOOD)
    for command in ("run", "status", "explain"):
        args = (command, "PROD-1") if command == "explain" else (command,)
        code, stdout, stderr = cli(*args, "--config", str(config))
        assert code == 2, (command, stderr)
        assert "store.url" in stderr and "Traceback" not in stderr and "sqlite:///demandsync.db" in stderr


def test_store_url_password_is_a_secret(tmp_path: Path) -> None:
    from demandsync.config import load_config

    config = load_config(write(tmp_path, '[store]\nurl = "postgresql+psycopg://ds:Pg-Pa55word@db/demand"\n' + GOOD))
    assert "Pg-Pa55word" in config.secrets
    assert config.scrubber.text("could not connect as ds:Pg-Pa55word@db") == "could not connect as ds:***@db"


def test_local_commands_work_without_tracker_credentials(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    text = config.read_text().replace('email = "demo@example.com"\n', "").replace('api_token = "sandbox-token"\n', "")
    assert "api_token" not in text.split("[[sources]]")[0]
    config.write_text(text)
    c = str(config)
    for args in (("explain", "PROD-1"), ("requesters", "PROD-1"), ("status",), ("quarantine",),
                 ("links", "export", "--state", "all"), ("suggest", "PROD-1"), ("forget", "nobody@x.example")):
        code, _, stderr = cli(*args, "--config", c)
        assert code == 0, (args, stderr)
    code, _, stderr = cli("run", "--config", c)  # talking to Jira still needs them
    assert code == 2 and "api_token" in stderr


def test_an_unreachable_store_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    config = write(tmp_path, '[store]\nurl = "postgresql+psycopg://ds:Pg-Pa55@127.0.0.1:1/none"\n' + GOOD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMANDSYNC_")}
    for command in ("run", "status"):
        proc = subprocess.run([sys.executable, "-m", "demandsync.cli.main", command, "--config", str(config)],
                              capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 1, proc.stderr
        said = " ".join(proc.stderr.split())  # one message (Rich wraps it at 80 columns in a pipe)
        assert said.startswith("error: cannot open the store at postgresql+psycopg://ds:***@127.0.0.1:1/none: "
                               "OperationalError: connection failed"), proc.stderr
        assert "Traceback" not in said and said.count("error:") == 1
        assert "Pg-Pa55" not in proc.stderr


def test_status_masks_a_secret_an_older_version_stored(tmp_path: Path, store_url: str) -> None:
    from demandsync.sync.store.store import Store

    config = write(tmp_path, f'[store]\nurl = "{store_url}"\n' + GOOD)
    store = Store.open(store_url)
    store.record_pull("exit-survey", "csv", cursor=None, error="HTTP 401: refused s3cr3t-token-value")
    store.close()
    code, stdout, _ = cli("status", "--json", "--config", str(config))
    assert code == 0 and "s3cr3t-token-value" not in stdout and "refused ***" in stdout
