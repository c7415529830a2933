"""Secrets never print (docs/architecture.md, rule 7), least of all when a run fails.

Each case runs the real ``demandsync`` command and sees *all* of its output:
stdout, stderr, ``--json``, ``--log-json`` and ``-v`` logs, and any traceback.
Most run in-process (typer's ``CliRunner``: the same command, its logging set up
on the captured stderr, an escaping exception's traceback added to the output);
the token-from-the-environment case runs as a real subprocess, so the installed
entry point, the process environment and whatever the interpreter itself prints
are covered once. Then the output (and the store's text, which
``status``/``explain`` print later) is searched for every form a secret could
take: the value itself, the Basic-auth header (base64 of ``email:token``), and
the token in base64 alone.

Failures covered: the Jira token refused (401), Jira down (connection refused),
Jira down with a password in the URL's userinfo, and a source's API token
refused while Jira is fine. And ``http://`` Jira URLs are refused unless the
host is loopback or ``[jira] allow_insecure_http = true``; the error names the key.

Jira-down runs retry with back-off; the tests only shrink the back-off base
(1 s -> 0.01 s) so they are fast. Everything else is the product as installed.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import jira_source
from typer.testing import CliRunner

from demandsync.cli.demo import prepare
from demandsync.cli.main import app
from demandsync.connectors.http import client
from demandsync.sandbox.jira import JiraSandbox, demo_state

EMAIL = "demo@example.com"
GOOD_TOKEN = "sandbox-token"
BAD_TOKEN = "wr0ng-Jira-T0ken-5ecret-7f3a9c"
SOURCE_TOKEN = "s0urce-Api-K3y-5ecret-c0ffee"
URL_PASSWORD = "p4ss-In-Url-5ecret-9911"

LAUNCHER = """
import sys
from demandsync.connectors.http import client
client.ApiClient.__init__.__kwdefaults__["backoff_base"] = 0.01  # fast retries; nothing else changes
from demandsync.cli.main import main
sys.argv[0] = "demandsync"
main()
"""

OUTPUT_MODES = [
    ("run",),
    ("run", "--json"),
    ("run", "--log-json"),
    ("run", "-v"),
    ("run", "--json", "--log-json", "-v"),
    ("check",),
    ("fields", "--json"),
]


def forms(secret: str, email: str = EMAIL) -> list[str]:
    """Every shape in which ``secret`` could leak."""
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return [secret, b64(f"{email}:{secret}"), b64(secret), b64(f"{email}:{secret}")[:-2]]


@pytest.fixture(autouse=True)
def _like_a_fresh_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DEMANDSYNC_* from the test environment, the config's directory as cwd, fast retries."""
    for key in [k for k in os.environ if k.startswith("DEMANDSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(client.ApiClient.__init__.__kwdefaults__, "backoff_base", 0.01)


def cli(config: Path, *args: str) -> tuple[int, str]:
    """Run the command in-process; its exit code and everything it printed (stdout, stderr with
    the logs, and the traceback of anything that escaped)."""
    result = CliRunner().invoke(app, [args[0], "--config", str(config), *args[1:]])
    text = result.stdout + "\n" + result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        text += "".join(traceback.format_exception(*result.exc_info))
    return result.exit_code, text


def cli_process(config: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the command as a subprocess; its exit code and everything it printed (stdout + stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEMANDSYNC_")}
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, args[0], "--config", str(config), *args[1:]],
                          capture_output=True, text=True, timeout=120, env={**base, **env},
                          cwd=config.parent)
    return proc.returncode, proc.stdout + "\n" + proc.stderr


def store_text(store_url: str) -> str:
    """Every text the store holds (runs' summaries, source errors, the journal...)."""
    engine = sa.create_engine(store_url)
    chunks = []
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    chunks.append(repr(tuple(row)))
    finally:
        engine.dispose()
    return "\n".join(chunks)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace made one space: Rich wraps long lines anywhere."""
    return " ".join(text.split())


def assert_clean(text: str, *secrets: str) -> None:
    unwrapped = "".join(text.split())  # Rich wraps long lines: a secret could be cut in two
    for secret in secrets:
        for form in forms(secret):
            assert form not in text and form not in unwrapped, f"a secret leaked ({form[:6]}…):\n{text[-3000:]}"


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    with JiraSandbox(demo_state(), email=EMAIL, api_token=GOOD_TOKEN) as sb:
        yield sb


def make_config(tmp_path: Path, jira_url: str, store_url: str, token: str = GOOD_TOKEN) -> Path:
    path = prepare(tmp_path, jira_url)
    text = path.read_text().replace("similarity = true", "similarity = false")
    text = text.replace('url = "sqlite:///demandsync.db"', f'url = "{store_url}"')
    text = text.replace(f'api_token = "{GOOD_TOKEN}"', f'api_token = "{token}"')
    path.write_text(text)
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- failing runs -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", OUTPUT_MODES, ids=" ".join)
def test_refused_jira_token_never_printed(sandbox: JiraSandbox, store_url: str, tmp_path: Path,
                                          args: tuple[str, ...]) -> None:
    config = make_config(tmp_path, sandbox.url, store_url, token=BAD_TOKEN)
    code, output = cli(config, *args)
    assert code == 1, output
    said = one_line(output)
    assert "HTTP 401 from GET" in said and "the credentials were refused" in said, output
    assert_clean(output, BAD_TOKEN)
    if args[0] == "run":
        assert_clean(store_text(store_url), BAD_TOKEN)


def test_refused_token_from_the_environment_never_printed(sandbox: JiraSandbox, store_url: str,
                                                          tmp_path: Path) -> None:
    config = make_config(tmp_path, sandbox.url, store_url)
    code, output = cli_process(config, "run", "--json", "--log-json", "-v",
                               env={"DEMANDSYNC_JIRA__API_TOKEN": BAD_TOKEN})
    assert code == 1 and "401" in output
    assert_clean(output, BAD_TOKEN)


@pytest.mark.parametrize("args", [("run", "--json", "--log-json", "-v"), ("run",), ("check",), ("fields",)],
                         ids=" ".join)
def test_jira_down_never_prints_the_token(store_url: str, tmp_path: Path, args: tuple[str, ...]) -> None:
    config = make_config(tmp_path, f"http://127.0.0.1:{_free_port()}", store_url, token=BAD_TOKEN)
    code, output = cli(config, *args)
    assert code == 1, output
    assert "connection refused" in one_line(output) and "jira.url" in one_line(output), output  # not retried
    assert "Traceback" not in output, output
    assert_clean(output, BAD_TOKEN)


def test_jira_down_with_a_password_in_the_url_never_prints_it(store_url: str, tmp_path: Path) -> None:
    url = f"http://admin:{URL_PASSWORD}@127.0.0.1:{_free_port()}"
    config = make_config(tmp_path, url, store_url, token=BAD_TOKEN)
    for args in (("run", "--json", "--log-json", "-v"), ("run",), ("check",)):
        code, output = cli(config, *args)
        assert code == 1, output
        assert_clean(output, BAD_TOKEN, URL_PASSWORD)
    assert_clean(store_text(store_url), BAD_TOKEN, URL_PASSWORD)


def test_refused_source_api_token_never_printed(sandbox: JiraSandbox, store_url: str, tmp_path: Path) -> None:
    """A feedback source (Jira-as-a-source) whose token is refused: the run reports the source, exits 1."""
    config = make_config(tmp_path, sandbox.url, store_url)
    config.write_text(config.read_text() + jira_source(sandbox.url, name="support-desk", email=EMAIL,
                                                       token=SOURCE_TOKEN, jql="project = PROD ORDER BY key"))
    for args in (("run", "--json", "--log-json", "-v"), ("run",)):
        code, output = cli(config, *args)
        assert code == 1, output
        assert "support-desk" in output and "401" in output
        assert_clean(output, SOURCE_TOKEN, GOOD_TOKEN)
    assert_clean(store_text(store_url), SOURCE_TOKEN, GOOD_TOKEN)


# ---- plain http ---------------------------------------------------------------------------------


def test_plain_http_to_a_remote_jira_is_refused_naming_the_key(store_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, "http://jira.example.com", store_url)
    code, output = cli(config, "run")
    assert code == 2, output
    assert "jira.url" in output and "allow_insecure_http" in output and "https://" in output
    assert "Traceback" not in output


def test_plain_http_is_allowed_on_loopback_or_when_the_admin_says_so(store_url: str, tmp_path: Path) -> None:
    # 127.0.0.2 is not in the loopback allow-list (127.0.0.1, localhost, ::1): it stands in for a remote host.
    sb = JiraSandbox(demo_state(), email=EMAIL, api_token=GOOD_TOKEN)
    url = sb.start(host="127.0.0.2")
    try:
        config = make_config(tmp_path, url, store_url)
        code, output = cli(config, "run")
        assert code == 2 and "allow_insecure_http" in output, output
        config.write_text(config.read_text().replace("[jira]\n", "[jira]\nallow_insecure_http = true\n", 1))
        code, output = cli(config, "run")
        assert code == 0, output
        assert sb.writes  # it really talked to that Jira
    finally:
        sb.stop()
