"""``demandsync.toml``: what the admin writes, validated before anything runs.

The file is read with :mod:`tomllib`, then handed to pydantic-settings so any
key can be overridden from the environment (``DEMANDSYNC_`` prefix, ``__``
between levels, e.g. ``DEMANDSYNC_JIRA__API_TOKEN``). Secrets are
:class:`~pydantic.SecretStr`: they print as ``**********``.

Every error names the exact key (``sources[0] (exit-survey).path``) and what to
do, and the CLI exits 2 before touching the store or Jira.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from demandsync.connectors.base import Source, SourceOptions, load_source_class
from demandsync.connectors.http.redaction import Scrubber
from demandsync.errors import ConfigError
from demandsync.figures import FIGURES

#: Whether the config being validated must carry tracker credentials (see ``load_config``).
_NEED_TRACKER: contextvars.ContextVar[bool] = contextvars.ContextVar("need_tracker", default=True)

DEFAULT_CONFIG_NAME = "demandsync.toml"
CONFIG_ENV = "DEMANDSYNC_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Section):
    #: SQLAlchemy URL. A relative SQLite path is relative to the config file.
    url: str = "sqlite:///demandsync.db"

    @field_validator("url")
    @classmethod
    def _usable_url(cls, v: str) -> str:
        """A typo here is one readable line at load time, not a traceback at the first query."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        example = "write sqlite:///demandsync.db or postgresql+psycopg://user@host:5432/dbname"
        try:
            url = make_url(v)
        except ArgumentError:
            raise ValueError(f"{v.split(':', 1)[0]!r}… is not a database URL; {example}") from None
        backend = url.get_backend_name()
        if backend == "postgres":
            raise ValueError(f"'postgres://' is not a SQLAlchemy scheme; {example}")
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r} (SQLite and PostgreSQL are); {example}")
        if backend == "sqlite" and not (url.database or "").strip():
            raise ValueError(f"no database file in the SQLite URL; {example}")
        if backend == "postgresql" and (not url.host and not url.query.get("host") or not url.database):
            raise ValueError(f"a PostgreSQL URL names a host and a database; {example}")
        return v


class JiraConfig(_Section):
    #: Plain http:// is refused unless the host is loopback or this is true.
    #: (Declared before ``url`` so the url check can see it.)
    allow_insecure_http: bool = False
    url: str
    #: Cloud: email + API token (basic auth).
    email: str | None = None
    api_token: SecretStr | None = None
    #: Data Center / Server: personal access token (bearer auth).
    pat: SecretStr | None = None
    #: "cloud" (REST v3, ADF) or "datacenter" (REST v2, wiki text); "auto" asks serverInfo.
    #: Omitted: email + api_token means Cloud, pat means Data Center.
    deployment: Literal["cloud", "datacenter", "auto"] | None = None
    #: JQL selecting the epics demandsync keeps counts on.
    epics: str = "issuetype = Epic"
    #: demand figure -> Jira field id or exact field name.
    fields: dict[str, str] = Field(default_factory=dict)
    #: Ask Jira not to e-mail watchers about our writes (needs admin rights; falls back).
    notify_users: bool = False
    #: Seconds to wait for one HTTP response.
    timeout: float = Field(30.0, gt=0, le=600)
    #: Issues per search page. Jira's ``maxResults`` is at most 5000 (ids only; fewer when fields are
    #: asked for): https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
    page_size: int = Field(100, ge=1, le=5000)
    #: Epics written at the same time (each epic gets at most one PUT per run).
    write_concurrency: int = Field(4, ge=1, le=16)
    #: Tries per request on 429/5xx/timeouts (Retry-After is honoured between them).
    max_attempts: int = Field(6, ge=1, le=20)
    #: Seconds one request may spend waiting between retries in all; past it the run moves on.
    max_wait_total: float = Field(120.0, ge=0)

    @field_validator("url")
    @classmethod
    def _safe_url(cls, v: str, info: ValidationInfo) -> str:
        return _tracker_url(v, info, "https://acme.atlassian.net")

    @field_validator("fields")
    @classmethod
    def _known_figures(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_figures(v, "a Jira field id (customfield_10050) or exact name")

    @property
    def selection(self) -> str:
        """What :meth:`Tracker.epics` selects by (the JQL), and how messages name it."""
        return self.epics

    @property
    def selection_key(self) -> str:
        return "jira.epics"

    @field_validator("api_token", "pat")
    @classmethod
    def _not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("is empty; give the token, or remove the key (it can come from the environment)")
        return v

    @model_validator(mode="after")
    def _one_auth(self) -> JiraConfig:
        """Credentials, for commands that talk to Jira (``explain``, ``status``, ``forget`` … read
        the store alone: :func:`load_config` ``need_tracker=False`` skips this)."""
        if _NEED_TRACKER.get() and self.pat is None and (self.email is None or self.api_token is None):
            raise ValueError(
                "set email + api_token (Jira Cloud) or pat (Data Center); "
                "the token can come from DEMANDSYNC_JIRA__API_TOKEN"
            )
        return self


def _tracker_url(v: str, info: ValidationInfo, example: str) -> str:
    """A tracker's base URL: http(s), and plain http only where ``allow_insecure_http`` (declared
    before ``url``, so it is in ``info.data``) or the host is loopback; no trailing slash."""
    from demandsync.connectors.http import check_base_url

    if not v.startswith(("https://", "http://")):
        raise ValueError(f"must start with https:// (e.g. {example})")
    check_base_url(v, allow_insecure_http=bool(info.data.get("allow_insecure_http")))
    return v.rstrip("/")


def _check_figures(v: dict[str, str], what: str) -> dict[str, str]:
    """``[<tracker>.fields]``: known figure names, each naming a field."""
    unknown = sorted(set(v) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown demand figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    for figure, ref in v.items():
        if not ref.strip():
            raise ValueError(f"{figure}: give {what}")
    return v


class AhaConfig(_Section):
    """``[aha]``: Aha! as the tracker (instead of ``[jira]``). See ``connectors/aha`` for the API facts."""

    #: Plain http:// is refused unless the host is loopback or this is true.
    allow_insecure_http: bool = False
    #: ``https://<account>.aha.io`` (the API lives under ``/api/v1``).
    url: str
    #: API key (``Authorization: Bearer``); or DEMANDSYNC_AHA__API_KEY. Never printed.
    api_key: SecretStr | None = None
    #: The product (workspace) whose records carry the figures: reference prefix (``APP``) or id.
    product: str
    #: Which records carry the figures: the product's features or its epics.
    records: Literal["features", "epics"] = "features"
    #: demand figure -> custom field key (``customer_requests``) or exact name.
    fields: dict[str, str] = Field(default_factory=dict)
    #: Seconds to wait for one HTTP response.
    timeout: float = Field(30.0, gt=0, le=600)
    #: Records per list page (``per_page``).
    page_size: int = Field(100, ge=1, le=200)
    #: Records written at the same time (each gets at most one PUT per run).
    write_concurrency: int = Field(2, ge=1, le=8)
    #: Tries per request on 429/5xx/timeouts (Retry-After is honoured between them).
    max_attempts: int = Field(6, ge=1, le=20)
    #: Seconds one request may spend waiting between retries in all.
    max_wait_total: float = Field(120.0, ge=0)
    #: Client-side pacing under Aha!'s 20 requests a second and 300 a minute (per account,
    #: shared with every other integration of the account: leave them headroom).
    requests_per_second: int = Field(15, ge=1, le=20)
    requests_per_minute: int = Field(250, ge=1, le=300)

    @field_validator("url")
    @classmethod
    def _safe_url(cls, v: str, info: ValidationInfo) -> str:
        return _tracker_url(v, info, "https://acme.aha.io").removesuffix("/api/v1")

    @field_validator("product")
    @classmethod
    def _product(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("give the product's reference prefix (APP) or id")
        return v.strip()

    @field_validator("fields")
    @classmethod
    def _known_figures(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_figures(v, "an Aha! custom field key (customer_requests) or exact name")

    @model_validator(mode="after")
    def _key_given(self) -> AhaConfig:
        if not _NEED_TRACKER.get():  # a command that reads only the store (see load_config)
            return self
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise ValueError("set api_key (an Aha! API key), or DEMANDSYNC_AHA__API_KEY in the environment")
        return self

    @property
    def selection(self) -> str:
        """What :meth:`Tracker.epics` selects by: the product."""
        return self.product

    @property
    def selection_key(self) -> str:
        return "aha.product"


class SourceConfig(BaseModel):
    """One ``[[sources]]`` table. Keys other than these belong to the connector
    (``path``, ``url``, ``api_key`` …) and are validated by its ``Options``."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    #: Mapping preset (mappings/presets/<name>.toml); auto-detected when omitted.
    preset: str | None = None
    #: our field -> their column(s) / JSON path(s); merged over the preset's map.
    map: dict[str, Any] = Field(default_factory=dict)
    #: false skips the source without removing its items.
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _stable_name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("use letters, digits, '-', '_' or '.' (it is part of every item's identity)")
        return v

    @property
    def connector_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RuleConfig(_Section):
    """Admin link rule: any keyword (case-insensitive, whole word) links to ``epic``."""

    epic: str
    keywords: list[str] = Field(min_length=1)
    #: Only apply to these sources (default: all).
    sources: list[str] | None = None

    @field_validator("epic")
    @classmethod
    def _is_key(cls, v: str) -> str:
        from demandsync.keys import is_issue_key

        if not is_issue_key(v):
            raise ValueError(f"{v!r} is not a Jira issue key like PROD-7")
        return v


class LinkingConfig(_Section):
    #: Link by text similarity at all.
    similarity: bool = True
    #: Score (0..1) at or above which a similarity link counts without review.
    #: 0.70: precision 0.92 on is22-dev app reviews, 0.98 on short answers (bench/linking.py, shortanswers.py).
    auto_accept: float = Field(0.70, ge=0, le=1)
    #: Score at or above which a similarity link goes to the review queue (0.35: short answers find
    #: their epic 74-80 % of the time, 86 % of suggestions right; is22-dev reviews P 0.49, R 0.68).
    suggest: float = Field(0.35, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LinkingConfig:
        if self.suggest > self.auto_accept:
            raise ValueError("suggest must not be above auto_accept")
        return self


class WeightsConfig(_Section):
    #: source name -> weight of each of its items (default 1).
    source: dict[str, float] = Field(default_factory=dict)
    #: item attribute (a key of the mapping's ``extra``) -> value -> weight.
    attribute: dict[str, dict[str, float]] = Field(default_factory=dict)


class DemandConfig(_Section):
    #: Count a requester's e-mail domain as their account when no account is mapped
    #: (free-mail domains such as gmail.com never count).
    email_domain_accounts: bool = False
    #: Recent requests weigh more in ``score``: an item's weight halves every N days (0 = off).
    half_life_days: float = Field(0.0, ge=0)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)


class SummaryConfig(_Section):
    """A managed summary on each epic that demandsync owns and edits in place."""

    enabled: bool = False
    #: "comment": one comment per epic. "field": a text/paragraph field (set ``field``).
    mode: Literal["comment", "field"] = "comment"
    #: Jira field id or exact name receiving the summary (mode = "field" only).
    field: str | None = None
    #: What that field takes on Cloud: "adf" (multi-line Paragraph fields) or "text".
    field_format: Literal["adf", "text"] = "adf"
    #: How many top requests to quote.
    top: int = Field(5, ge=0, le=50)
    #: Name who asked (requester and account) next to each quote; false shows quotes only.
    show_requesters: bool = True
    #: Show e-mail addresses in the summary (requesters, mailto: links, addresses inside quotes).
    #: Off by default: every user who can see the epic reads the comment (docs/deploy.md).
    show_emails: bool = False

    @model_validator(mode="after")
    def _field_for_field_mode(self) -> SummaryConfig:
        if self.enabled and self.mode == "field" and not self.field:
            raise ValueError('mode = "field" needs field = "<Jira field id or name>"')
        return self


class NotifyConfig(_Section):
    #: Slack incoming-webhook URL; the digest is off while it is unset. A secret.
    slack_webhook: SecretStr | None = None
    #: How many epics each digest section lists.
    top: int = Field(5, ge=1, le=50)


class ClosingConfig(_Section):
    #: When an epic counts as shipped: "done" (status category Done) or "released"
    #: (every fix version released).
    shipped_when: Literal["done", "released"] = "done"


class WebConfig(_Section):
    """``demandsync web`` / ``serve --web``: the PM's page."""

    #: Required to listen on anything but loopback: the API then wants ``Authorization: Bearer
    #: <token>`` and the page a login with it. A secret (DEMANDSYNC_WEB__TOKEN).
    token: SecretStr | None = None
    #: The newest unlinked items grouped into themes on /inbox.
    theme_items: int = Field(2000, ge=10, le=20000)


#: The tracker sections a config may have (one of them), each a ``demandsync.trackers`` entry point.
TRACKER_SECTIONS = ("jira", "aha")


class Settings(BaseSettings):
    """The whole config. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix="DEMANDSYNC_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    store: StoreConfig = Field(default_factory=StoreConfig)
    #: Exactly one tracker section: [jira] or [aha].
    jira: JiraConfig | None = None
    aha: AhaConfig | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    demand: DemandConfig = Field(default_factory=DemandConfig)
    summary: SummaryConfig = Field(default_factory=SummaryConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    closing: ClosingConfig = Field(default_factory=ClosingConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment beats the file (init kwargs carry the TOML). The lists ([[sources]],
        # [[rules]]) are overridden by name in load_config_data, not by pydantic-settings.
        return (_ScalarEnv(env_settings), init_settings)

    @model_validator(mode="after")
    def _one_tracker(self) -> Settings:
        given = [name for name in TRACKER_SECTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            which = "both [jira] and [aha]" if given else "neither [jira] nor [aha]"
            raise ValueError(f"the config has {which}: give exactly one tracker section, [jira] (Jira) or "
                             "[aha] (Aha!), to say where the figures are written")
        return self

    @property
    def tracker(self) -> JiraConfig | AhaConfig:
        """The one tracker section ([jira] or [aha])."""
        section = self.jira if self.jira is not None else self.aha
        assert section is not None  # _one_tracker
        return section

    @model_validator(mode="after")
    def _unique_source_names(self) -> Settings:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"two sources are named {s.name!r}; names must be unique")
            seen.add(s.name)
        return self


@dataclass(frozen=True)
class Config:
    """A validated config plus what was derived from where it lives."""

    settings: Settings
    path: Path
    #: Directory relative paths (store, exports) are resolved against.
    base_dir: Path
    #: Connector options, validated by each connector's Options model, by source name.
    source_options: dict[str, SourceOptions]
    source_classes: dict[str, type[Source]]

    @property
    def tracker_name(self) -> str:
        """The ``demandsync.trackers`` entry point (and config section) of the tracker."""
        return "jira" if self.settings.jira is not None else "aha"

    @property
    def store_url(self) -> str:
        return resolve_store_url(self.settings.store.url, self.base_dir)

    def source_key(self, name: str, key: str) -> str:
        """How config errors name ``key`` of the source called ``name``: ``sources[1] (canny).url``."""
        index = next((i for i, s in enumerate(self.settings.sources) if s.name == name), None)
        return f"sources[{index}] ({name}).{key}" if index is not None else f"sources ({name}).{key}"

    @property
    def secrets(self) -> list[str]:
        """Every secret value, so output can be checked/redacted against them."""
        found: list[str] = []
        for model in [self.settings.tracker, self.settings.notify, self.settings.web, *self.source_options.values()]:
            for value in model.__dict__.values():
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
        password = _store_password(self.settings.store.url)
        if password:
            found.append(password)
        return found

    @property
    def scrubber(self) -> Scrubber:
        """Masks every secret of this config, raw, URL-encoded and as a ``Basic`` pair (user:secret
        for every e-mail/user/client id configured beside it): for logs, errors, reports, the store."""
        users: list[str] = []
        for model in [self.settings.jira, *self.source_options.values()]:
            for name in _BASIC_USER_KEYS:
                value = getattr(model, name, None)
                if isinstance(value, str) and value:
                    users.append(value)
        return Scrubber(self.secrets, basic_users=users)


#: Option names holding the user half of a ``Basic`` credential (email:token, client_id:secret).
_BASIC_USER_KEYS = ("email", "username", "user", "client_id")


def _store_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - validated at load; nothing to add otherwise
        return None


def find_config_path(explicit: str | Path | None) -> Path:
    """``--config``, else ``$DEMANDSYNC_CONFIG``, else ``./demandsync.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | Path | None = None, *, need_tracker: bool = True) -> Config:
    """Read, validate and resolve the config. Raises :class:`ConfigError`.

    ``need_tracker=False`` (commands that read only the store) accepts a config without
    tracker credentials."""
    cfg_path = find_config_path(path)
    if not cfg_path.is_file():
        raise ConfigError(
            [("--config", f"no config file at {cfg_path}; copy config.example.toml there and edit it")]
        )
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([("(file)", f"not valid TOML: {exc}")], cfg_path) from None
    return load_config_data(data, cfg_path, need_tracker=need_tracker)


def load_config_data(data: dict[str, Any], cfg_path: Path, *, need_tracker: bool = True) -> Config:
    """Validate already-parsed TOML (tests and the demo build configs in memory)."""
    stray = _other_tracker_env(data, os.environ)
    if stray:
        raise ConfigError(stray, cfg_path)
    token = _NEED_TRACKER.set(need_tracker)
    try:
        data = apply_source_env(data, os.environ)
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, data), cfg_path) from None
    finally:
        _NEED_TRACKER.reset(token)
    base_dir = cfg_path.resolve().parent
    options: dict[str, SourceOptions] = {}
    classes: dict[str, type[Source]] = {}
    problems: list[tuple[str, str]] = []
    for i, src in enumerate(settings.sources):
        where = f"sources[{i}] ({src.name})"
        try:
            cls = load_source_class(src.kind)
        except LookupError as exc:
            problems.append((f"{where}.kind", str(exc)))
            continue
        given = _with_tracker_defaults(src.connector_options, cls, settings)
        try:
            options[src.name] = cls.Options.model_validate(given)
        except ValidationError as exc:
            problems.extend((f"{where}.{key}", msg) for key, msg in _explain(exc, given))
            continue
        classes[src.name] = cls
        if cls.presets is not None:
            from demandsync.mappings.presets import PresetError, add_preset_location

            try:
                add_preset_location(cls.presets)
            except PresetError as exc:
                problems.append((f"{where}.kind", f"{src.kind}: {exc}"))
                continue
        problems.extend((f"{where}.{key}", msg) for key, msg in _mapping_problems(src, cls))
    if problems:
        raise ConfigError(problems, cfg_path)
    return Config(settings, cfg_path, base_dir, options, classes)


def _other_tracker_env(data: Mapping[str, Any], environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """A ``DEMANDSYNC_AHA__…`` variable beside a file with ``[jira]`` (or the reverse) would make a
    second tracker section of its own; name the variable (never its value) instead."""
    in_file = [name for name in TRACKER_SECTIONS if name in data]
    if len(in_file) != 1:
        return []
    return [(var, f"sets a key of [{other}], but this config's tracker is [{in_file[0]}] (one tracker per "
                   "config): unset the variable")
            for var in sorted(environ) for other in TRACKER_SECTIONS
            if other != in_file[0] and var.upper().startswith(f"DEMANDSYNC_{other.upper()}__")]


def _with_tracker_defaults(given: dict[str, Any], cls: type[Source], settings: Settings) -> dict[str, Any]:
    """A source of the tracker's own system (``aha_ideas`` beside ``[aha]``) takes the keys it
    omits (url, api_key, …) from the tracker section: its class names them in ``tracker_defaults``."""
    spec = getattr(cls, "tracker_defaults", None)
    if not spec:
        return given
    section_name, keys = spec
    section = getattr(settings, section_name, None)
    if section is None:
        return given
    return {**{k: getattr(section, k) for k in keys if k not in given and hasattr(section, k)}, **given}


class _ScalarEnv(PydanticBaseSettingsSource):
    """pydantic-settings' environment source without the list sections, which it would turn
    into dicts (``DEMANDSYNC_SOURCES__0__PATH`` -> ``{"0": …}``) and so break the config."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self.inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.inner().items() if k not in _LIST_SECTIONS}


_LIST_SECTIONS = ("sources", "rules")
_SOURCE_ENV = "DEMANDSYNC_SOURCES__"


def env_name(source_name: str) -> str:
    """How a source is named in an environment variable: ``exit-survey`` -> ``EXIT_SURVEY``."""
    return "".join(c if c.isalnum() else "_" for c in source_name).upper()


def apply_source_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Merge ``DEMANDSYNC_SOURCES__<NAME>__<KEY>[__<KEY>…]`` into the ``[[sources]]`` entry
    with that name, so a source's secret can live in the environment
    (``DEMANDSYNC_SOURCES__CANNY__API_KEY``). A variable naming no source is an error."""
    wanted = {k: v for k, v in environ.items() if k.upper().startswith(_SOURCE_ENV)}
    if not wanted:
        return data
    sources = [dict(s) for s in data.get("sources", []) if isinstance(s, dict)]
    by_env = {env_name(str(s.get("name", ""))): s for s in sources}
    problems = []
    for var, value in sorted(wanted.items()):
        name, _, path = var[len(_SOURCE_ENV):].partition("__")
        target = by_env.get(name.upper())
        if target is None or not path:
            problems.append((var, f"names no source; the sources are {', '.join(sorted(by_env)) or 'none'} "
                                  f"(write {_SOURCE_ENV}<NAME>__<KEY>, e.g. {_SOURCE_ENV}CANNY__API_KEY)"))
            continue
        *parents, leaf = [p.lower() for p in path.split("__")]
        node = target
        for part in parents:  # e.g. MAP__TEXT -> [sources.map] text
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    if problems:
        raise ConfigError(problems)
    return {**data, "sources": sources}


def _mapping_problems(src: SourceConfig, cls: type[Source]) -> list[tuple[str, str]]:
    """Check ``preset`` and the keys of ``[sources.map]`` now, not at the first row."""
    from demandsync.mappings.model import FieldMapping
    from demandsync.mappings.presets import PresetError, all_presets, load_preset

    out: list[tuple[str, str]] = []
    preset = src.preset or cls.default_preset
    if preset is not None:
        try:
            load_preset(preset)
        except PresetError:
            out.append(("preset", f"unknown preset {preset!r}; known: {', '.join(sorted(all_presets()))}"))
    for key in sorted(set(src.map) - set(FieldMapping.model_fields)):
        out.append((f"map.{key}", f"unknown field; map one of: {', '.join(FieldMapping.model_fields)}"))
    return out


def resolve_store_url(url: str, base_dir: Path) -> str:
    """Make a relative ``sqlite:///file.db`` relative to the config's directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base_dir / url[len(prefix):]).resolve())
    return url


def _explain(exc: ValidationError, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Turn pydantic's errors into ``(key, message)`` with keys an admin recognises."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        out.append((_key_name(loc, data), _message(err)))
    return out


def _key_name(loc: list[Any], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for p in loc:
        if isinstance(p, int):
            name = node[p].get("name") if isinstance(node, list) and p < len(node) and isinstance(node[p], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{p}]" + (f" ({name})" if name else "")]
        else:
            parts.append(str(p))
        node = node[p] if isinstance(node, (dict, list)) and _has(node, p) else None
    return ".".join(parts) or "(top level)"


def _has(node: dict[str, Any] | list[Any], key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(key, int) and key < len(node)


def _message(err: Mapping[str, object]) -> str:
    kind = str(err.get("type", ""))
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.toml)"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")

