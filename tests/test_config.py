"""Config: what an admin sees when the TOML is wrong, and env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from demandsync.config import Config, ConfigError, load_config

GOOD = """
[jira]
url = "https://acme.atlassian.net"
email = "ops@acme.com"
api_token = "s3cr3t-token-value"
epics = "project = PROD AND issuetype = Epic"
[jira.fields]
requests = "Customer requests"

[[sources]]
name = "exit-survey"
kind = "csv"
path = "exports/*.csv"
[sources.map]
text = ["Q1"]

[[rules]]
epic = "PROD-7"
keywords = ["sso"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "demandsync.toml"
    p.write_text(text, encoding="utf-8")
    return p


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return dict(info.value.problems)


def test_good_config_resolves_store_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.store_url == f"sqlite:///{tmp_path.resolve() / 'demandsync.db'}"
    assert cfg.settings.sources[0].name == "exit-survey"


def test_secret_never_shows_in_repr_or_dump(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert "s3cr3t-token-value" not in repr(cfg.settings)
    assert "s3cr3t-token-value" not in str(cfg.settings.model_dump())
    assert cfg.secrets == ["s3cr3t-token-value"]


def test_env_overrides_a_nested_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMANDSYNC_JIRA__API_TOKEN", "from-env")
    monkeypatch.setenv("DEMANDSYNC_JIRA__EPICS", "project = OPS")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.settings.jira.api_token is not None
    assert cfg.settings.jira.api_token.get_secret_value() == "from-env"
    assert cfg.settings.jira.epics == "project = OPS"
    assert cfg.settings.jira.email == "ops@acme.com"  # the rest still comes from the file


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMANDSYNC_CONFIG", str(write(tmp_path, GOOD)))
    assert load_config().path == tmp_path / "demandsync.toml"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file at"):
        load_config(tmp_path / "nope.toml")


def test_unknown_figure_names_the_key(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace('requests = "Customer requests"', 'requets = "X"'))
    assert "unknown demand figure(s) requets" in found["jira.fields"]


def test_typo_in_connector_key_names_source_and_key(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace('path = "exports/*.csv"', 'path = "exports/*.csv"\npth = "x"'))
    assert "unknown key" in found["sources[0] (exit-survey).pth"]


def test_missing_auth_and_bad_rule_key_are_both_reported(tmp_path: Path) -> None:
    text = GOOD.replace('api_token = "s3cr3t-token-value"\n', "").replace('epic = "PROD-7"', 'epic = "prod seven"')
    found = problems(tmp_path, text)
    assert "api_token" in found["jira"]
    assert "is not a Jira issue key" in found["rules[0].epic"]


def test_unknown_kind_lists_installed_kinds(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace('kind = "csv"', 'kind = "surveymonky"'))
    assert "unknown source kind 'surveymonky'" in found["sources[0] (exit-survey).kind"]
    assert "csv" in found["sources[0] (exit-survey).kind"]


def test_duplicate_source_names_rejected(tmp_path: Path) -> None:
    text = GOOD + '\n[[sources]]\nname = "exit-survey"\nkind = "csv"\npath = "b.csv"\n'
    with pytest.raises(ConfigError, match="two sources are named 'exit-survey'"):
        load_config(write(tmp_path, text))


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[jira\nurl="))


def test_unknown_preset_and_map_key_are_named_at_load(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "csv"', 'kind = "csv"\npreset = "hotjar-surveys"').replace('text = ["Q1"]', 'text = ["Q1"]\ntxt = "Q2"')
    found = problems(tmp_path, text)
    assert "unknown preset 'hotjar-surveys'" in found["sources[0] (exit-survey).preset"]
    assert "hotjar-survey" in found["sources[0] (exit-survey).preset"]
    assert "unknown field" in found["sources[0] (exit-survey).map.txt"]


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).parent.parent / "config.example.toml"
    cfg = load_config(example)
    assert cfg.settings.jira.fields["requests"] == "Customer requests"


def test_plain_http_jira_is_refused_unless_loopback_or_allowed(tmp_path: Path) -> None:
    insecure = GOOD.replace("https://acme.atlassian.net", "http://jira.acme.internal")
    found = problems(tmp_path, insecure)
    assert "refusing plain-http" in found["jira.url"] and "allow_insecure_http" in found["jira.url"]
    load_config(write(tmp_path, insecure.replace('epics = "', 'allow_insecure_http = true\nepics = "')))
    load_config(write(tmp_path, GOOD.replace("https://acme.atlassian.net", "http://127.0.0.1:8089")))


def test_a_source_key_comes_from_the_environment_by_source_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD + '\n[[sources]]\nname = "canny"\nkind = "canny"\napi_key = "from-file"\n'
    monkeypatch.setenv("DEMANDSYNC_SOURCES__CANNY__API_KEY", "canny-from-env")
    monkeypatch.setenv("DEMANDSYNC_SOURCES__EXIT_SURVEY__MAP__TEXT", "Q9")
    cfg = load_config(write(tmp_path, text))
    assert cfg.source_options["canny"].api_key.get_secret_value() == "canny-from-env"  # type: ignore[attr-defined]
    assert cfg.settings.sources[0].map == {"text": "Q9"}
    assert "canny-from-env" in cfg.secrets  # so logs scrub it too


def test_an_environment_variable_naming_no_source_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMANDSYNC_SOURCES__0__PATH", "x.csv")
    found = problems(tmp_path, GOOD)
    assert "names no source; the sources are EXIT_SURVEY" in found["DEMANDSYNC_SOURCES__0__PATH"]


# -- [aha] instead of [jira] ------------------------------------------------------------

_AHA = """
[aha]
url = "https://acme.aha.io"
api_key = "aha-key-123"
product = "APP"
records = "epics"
[aha.fields]
requests = "customer_requests"
votes = "Votes"
"""

_JIRA = """
[jira]
url = "https://acme.atlassian.net"
email = "ops@acme.com"
api_token = "t"
"""


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "demandsync.toml"
    path.write_text(text)
    return load_config(path)


def test_an_aha_config_names_its_tracker_and_keeps_its_key_secret(tmp_path: Path) -> None:
    cfg = _load(tmp_path, _AHA)
    assert cfg.tracker_name == "aha"
    aha = cfg.settings.tracker
    assert (aha.url, aha.product, aha.records, aha.selection) == ("https://acme.aha.io", "APP", "epics", "APP")
    assert aha.fields == {"requests": "customer_requests", "votes": "Votes"}
    assert cfg.secrets == ["aha-key-123"]
    assert "aha-key-123" not in repr(cfg.settings)


@pytest.mark.parametrize("line", ["timeout = 0", "timeout = -1", "timeout = 601"])
def test_an_aha_timeout_out_of_range_is_refused_naming_the_key(tmp_path: Path, line: str) -> None:
    """As [jira]'s: 0 would time every request out at once (then retry it), not refuse the config."""
    assert list(problems(tmp_path, _AHA.replace("[aha]\n", f"[aha]\n{line}\n"))) == ["aha.timeout"]


def test_the_aha_key_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMANDSYNC_AHA__API_KEY", "from-env")
    cfg = _load(tmp_path, _AHA.replace('api_key = "aha-key-123"\n', ""))
    assert cfg.settings.tracker.api_key is not None
    assert cfg.settings.tracker.api_key.get_secret_value() == "from-env"


@pytest.mark.parametrize(("text", "message"), [
    (_AHA + _JIRA, "both [jira] and [aha]"),
    ("[store]\nurl = 'sqlite:///x.db'\n", "neither [jira] nor [aha]"),
])
def test_exactly_one_tracker_section(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    assert message in str(exc.value) and "[jira] (Jira) or [aha] (Aha!)" in str(exc.value)


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('url = "https://acme.aha.io"', 'url = "http://acme.aha.io"', "aha.url", "refusing plain-http"),
    ('api_key = "aha-key-123"\n', "", "aha", "set api_key"),
    ('records = "epics"', 'records = "ideas"', "aha.records", "'features' or 'epics'"),
    ('requests = "customer_requests"', 'requestz = "customer_requests"', "aha.fields", "unknown demand figure"),
    ('product = "APP"', 'product = " "', "aha.product", "reference prefix"),
])
def test_aha_config_errors_name_the_key(tmp_path: Path, old: str, new: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, _AHA.replace(old, new))
    assert any(k == key and message in m for k, m in exc.value.problems), exc.value.problems


def test_plain_http_to_a_loopback_aha_is_allowed(tmp_path: Path) -> None:
    cfg = _load(tmp_path, _AHA.replace("https://acme.aha.io", "http://127.0.0.1:8123/api/v1"))
    assert cfg.settings.tracker.url == "http://127.0.0.1:8123"


def test_a_variable_for_the_other_tracker_is_named_not_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMANDSYNC_AHA__API_KEY", "stray-secret-9")
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, _JIRA)
    assert exc.value.problems == [("DEMANDSYNC_AHA__API_KEY", "sets a key of [aha], but this config's tracker is "
                                                              "[jira] (one tracker per config): unset the variable")]
    assert "stray-secret-9" not in str(exc.value)
