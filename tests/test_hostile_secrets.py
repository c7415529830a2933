"""A server that echoes the credentials back (issue 19): nothing of them leaves demandsync.

Some servers quote the request in their error page: a 401 repeating the ``Authorization``
header (the base64 ``Basic`` form of email:token), a 500 dumping the JSON body (Canny's key
travels in it). Each case runs the real command as a subprocess against a loopback echo
server and searches stdout, stderr, ``--json``, ``--log-json``, ``check``, ``status`` and
every text of the store for the secret in its raw, URL-encoded and base64 forms.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from test_secrets import EMAIL, GOOD_TOKEN, cli, forms, make_config, store_text

from demandsync.sandbox.jira import JiraSandbox, demo_state

JIRA_TOKEN = "Ech0ed-Jira+T0ken/5ecret=="
CANNY_KEY = "Ech0ed-Canny-K3y-5ecret-a1b2c3"


class _Echo(BaseHTTPRequestHandler):
    """Answers everything 401 (GET) or 500 (POST), quoting the request's credentials in the body."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        auth = self.headers.get("Authorization") or ""
        decoded = ""
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        said = f"refused {auth!s} ({decoded}; as form: {quote(decoded, safe='')}); you sent {body}"
        status = 500 if self.command == "POST" and body else 401
        payload = json.dumps({"errorMessages": [said], "error": said}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def all_forms(secret: str) -> list[str]:
    return [*forms(secret), quote(secret, safe=""), quote(f"{EMAIL}:{secret}", safe="")]


def assert_clean(text: str, secret: str) -> None:
    unwrapped = "".join(text.split())  # Rich wraps long lines
    for form in all_forms(secret):
        assert form not in text and form not in unwrapped, f"{form[:8]}… leaked:\n{text[-2500:]}"


@pytest.mark.parametrize("args", [("run",), ("run", "--json"), ("run", "--log-json", "-v"), ("check",)],
                         ids=" ".join)
def test_jira_echoing_the_token_in_its_401_leaks_nothing(echo: str, store_url: str, tmp_path: Path,
                                                         args: tuple[str, ...]) -> None:
    config = make_config(tmp_path, echo, store_url, token=JIRA_TOKEN)
    code, output = cli(config, *args)
    assert code == 1, output
    assert "refused" in output and "401" in output  # the server's words still reach the admin
    assert_clean(output, JIRA_TOKEN)
    code, status = cli(config, "status", "--json")
    assert code == 0
    assert_clean(status, JIRA_TOKEN)
    assert_clean(store_text(store_url), JIRA_TOKEN)


def test_canny_echoing_its_key_leaks_nothing(echo: str, store_url: str, tmp_path: Path) -> None:
    with JiraSandbox(demo_state(), email=EMAIL, api_token=GOOD_TOKEN) as sandbox:
        sandbox.start()
        config = make_config(tmp_path, sandbox.url, store_url)
        config.write_text(config.read_text() + f'\n[[sources]]\nname = "canny"\nkind = "canny"\n'
                                               f'url = "{echo}/api/v1"\napi_key = "{CANNY_KEY}"\n')
        outputs = [cli(config, "run", "--json"), cli(config, "run", "--log-json", "-v"), cli(config, "run"),
                   cli(config, "status"), cli(config, "status", "--json")]
    assert [code for code, _ in outputs] == [1, 1, 1, 0, 0]
    run = json.loads(outputs[0][1].split("\n\n")[0] if outputs[0][1].lstrip().startswith("{") else "{}")
    assert run["sources"]["canny"]["error"].startswith("FatalAPIError: HTTP 500")
    assert "***" in run["sources"]["canny"]["error"]  # masked where it was, the rest kept
    for _, text in outputs:
        assert_clean(text, CANNY_KEY)
    assert_clean(store_text(store_url), CANNY_KEY)
