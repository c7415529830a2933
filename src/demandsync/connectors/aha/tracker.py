"""Aha!: the tracker demand is written to when a team plans in Aha! rather than Jira.

The figures go onto a product's **features** or its **epics** (``[aha] records``), into
custom fields. Every fact below is from Aha!'s own OpenAPI document
(https://www.aha.io/openapi.json, "generated from actual test responses"; paths as
``P[path].method``) unless marked otherwise.

- Base ``https://<account>.aha.io/api/v1``, ``Authorization: Bearer <API key>``
  (``servers[0].url``; ``components.securitySchemes.ApiKeyAuth``: http bearer). A 401 is
  ``text/html`` with no body schema (``P["/me/assigned"].get.responses.401``), so the
  message is ours: it names Aha!, the 401 and the key to check, never the key.
- Lists page by ``page``/``per_page`` with a top-level
  ``pagination {total_records, total_pages, current_page}``
  (``components.schemas.FeaturesGetResponse.properties.pagination``), read by the shared
  :class:`~demandsync.connectors.http.paginators.PageNumberPaginator`.
- List items are compact (``{id, name, reference_num, created_at, url, resource}``:
  ``P["/products/{product_id}/features"].get`` example; epics the same without
  ``product_id``): we ask for what we need with ``fields=`` (documented on ``/features``
  and ``/epics``; ``P["/features/{feature_id}/workflow_status_times"].get.description``
  says it works on any record list). Not documented for ``/products/{id}/features``, so
  a list item that comes back without ``custom_fields`` is read again one by one with
  ``GET /features/{id}``: a server ignoring ``fields=`` costs requests, never wrong values.
- Custom field definitions are account-wide, by record type:
  ``GET /custom_field_definitions`` → ``{id, key, name, type, custom_fieldable_type}``
  (``P["/custom_field_definitions"].get`` example: ``type`` is a class name such as
  ``CustomFieldDefinitions::SelectConstant``; the type → ``api_type`` pairs DateField→date,
  TextField→string, Select*→string, UrlField→url come from ``P["/screen_definitions"].get``).
  A number field's class name is not in the document (assumed ``NumberField``; any class
  with "Number" in it counts).
- A record's values are ``custom_fields: [{key, name, type, value}]``; a number reads back
  as a decimal string (``"300.0"``: ``P["/competitors/{id}"].get`` example). We turn numbers
  into numbers here, so ``"3.0"`` equals the 3 we would write and a re-run writes nothing.
- Writes: ``PUT /features/{id}`` with ``{"feature": {"custom_fields": {"<key>": value}}}``
  (``components.schemas.FeaturesPutRequest`` allows additional properties; the map form is
  Aha!'s page "Update an idea's custom fields"), ``PUT /epics/{id}`` with ``{"epic": …}``
  (``P["/epics/{id}"].put``). ``{id}`` may be the reference (``APP-12``, ``APP-E-3``):
  https://www.aha.io/api/resources/features/update_a_features_custom_fields. Ids are
  strings, some 19 digits long (``P["/products/{product_id}/ideas"].post`` example): kept as
  strings, never parsed.
- Comments: ``GET/POST /features/{feature_id}/comments`` and ``/epics/{epic_id}/comments``,
  ``PUT /comments/{id}`` with ``{"comment": {"body": html}}`` (``P["/comments/{id}"].put``).
- Released: a feature's ``release.reference_num`` (``P["/features/{id}"].get`` example) and
  the release's ``released`` boolean (``P["/releases/{id}"].get`` example).
- Limits: 300 requests a minute and 20 a second per account, 429 beyond (Databricks'
  Aha! connector docs, https://docs.databricks.com/aws/en/ingestion/lakeflow-connect/aha-troubleshoot;
  the OpenAPI document is silent). The client paces itself under both
  (:class:`~demandsync.connectors.http.RateLimiter`) and the shared retry layer honours
  ``Retry-After`` on the 429s other integrations of the account still cause.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx

from demandsync.connectors.aha.render import html_to_text, summary_html, summary_text
from demandsync.connectors.base import FieldError, Tracker, TrackerField, WriteRejected
from demandsync.connectors.http import (
    ApiClient,
    BearerAuth,
    FatalAPIError,
    RateLimiter,
    Secret,
    iter_items,
    shared_limiter,
)
from demandsync.connectors.http.errors import describe_body
from demandsync.connectors.http.paginators import PageNumberPaginator
from demandsync.domain import Epic, SummaryContent
from demandsync.errors import ConfigError

log = logging.getLogger("demandsync.aha")

Records = Literal["features", "epics"]
#: record kind -> (singular for paths and bodies, ``custom_fieldable_type``)
_KIND: dict[str, tuple[str, str]] = {"features": ("feature", "Feature"), "epics": ("epic", "Epic")}
#: What an Epic needs from a list item besides its custom fields.
RECORD_FIELDS = ("id", "reference_num", "name", "description", "workflow_status", "tags", "product_id", "url",
                 "custom_fields")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def field_type(definition_type: str) -> str:
    """The value type of a custom field from its definition's class name, in the words the
    engine's type checks use (number, date, string, note, option, …).

    >>> [field_type(t) for t in ("CustomFieldDefinitions::NumberField", "CustomFieldDefinitions::DateField",
    ...                          "CustomFieldDefinitions::TextField", "CustomFieldDefinitions::SelectConstant")]
    ['number', 'date', 'string', 'option']
    """
    name = definition_type.rsplit("::", 1)[-1]
    if "Number" in name:
        return "number"
    table = {"DateField": "date", "TextField": "string", "NoteField": "note", "TextArea": "note",
             "UrlField": "url", "ScorecardField": "scorecard"}
    if name in table:
        return table[name]
    if name.startswith("Select"):
        return "option"
    if name.startswith(("Link", "Records::")) or name.endswith("UsersField"):
        return "array"
    return name.lower() or "unknown"


def value_of(raw: Any, kind: str) -> Any:
    """A custom field's value as the engine compares it: numbers as numbers ("3.0" -> 3).

    >>> value_of("3.0", "number"), value_of("2.5", "number"), value_of("", "number"), value_of("P2", "option")
    (3, 2.5, None, 'P2')
    """
    if kind != "number" or raw is None or isinstance(raw, bool):
        return raw
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None if str(raw).strip() == "" else raw
    if not number.is_finite():
        return raw
    return int(number) if number == number.to_integral_value() else float(number)


def account_limiter(url: str, per_second: int, per_minute: int) -> RateLimiter:
    """The pacing shared by everything this process sends to one Aha! account (tracker and Ideas source)."""
    site = httpx.URL(url)
    return shared_limiter(f"aha:{site.host}:{site.port}", [(per_second, 1.0), (per_minute, 60.0)])


class AhaTracker(Tracker):
    """Reads a product's features (or epics) from Aha! and writes demand fields onto them.

    >>> tracker = AhaTracker("https://acme.aha.io", api_key="…", product="APP")  # doctest: +SKIP
    >>> for feature in tracker.epics("APP", ["customer_requests"]):  # doctest: +SKIP
    ...     print(feature.key, feature.values)
    """

    section: ClassVar[str] = "aha"
    display_name: ClassVar[str] = "Aha!"
    credentials_hint: ClassVar[str] = "aha.api_key (or DEMANDSYNC_AHA__API_KEY)"

    @classmethod
    def from_settings(cls, settings: Any) -> AhaTracker:
        """From the validated ``[aha]`` section (:class:`demandsync.config.AhaConfig`)."""
        return cls(
            settings.url, api_key=settings.api_key, product=settings.product, records=settings.records,
            read_timeout=settings.timeout, allow_insecure_http=settings.allow_insecure_http,
            page_size=settings.page_size, max_attempts=settings.max_attempts,
            max_wait_total=settings.max_wait_total,
            rate_limiter=account_limiter(settings.url, settings.requests_per_second, settings.requests_per_minute),
        )

    def __init__(self, url: str, *, api_key: Secret, product: str, records: Records = "features",
                 page_size: int = 100, read_timeout: float = 30.0, allow_insecure_http: bool = False,
                 **client_kwargs: Any) -> None:
        if records not in _KIND:
            raise ValueError(f"records must be 'features' or 'epics', not {records!r}")
        self.url = url.rstrip("/").removesuffix("/api/v1")
        self.client = ApiClient(f"{self.url}/api/v1", auth=BearerAuth(api_key), read_timeout=read_timeout,
                                allow_insecure_http=allow_insecure_http, **client_kwargs)
        self.product = product
        self.records = records
        self.singular, self.fieldable = _KIND[records]
        self.page_size = page_size
        self._types: dict[str, str] | None = None

    # reads

    def fields(self) -> list[TrackerField]:
        """The custom fields defined for this tracker's record type (features or epics)."""
        body = self._get("/custom_field_definitions") or {}
        out = []
        for d in body.get("custom_field_definitions") or []:
            if not isinstance(d, dict) or d.get("custom_fieldable_type") != self.fieldable or not d.get("key"):
                continue
            out.append(TrackerField(id=str(d["key"]), name=str(d.get("name") or d["key"]),
                                    type=field_type(str(d.get("type") or "")), custom=True,
                                    custom_type=str(d.get("type") or "")))
        self._types = {f.id: f.type for f in out}
        self._fields = out
        return out

    def epics(self, selection: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        """Every feature (or epic) of the product ``selection`` names (prefix or id)."""
        types = self._field_types()
        path = f"/products/{quote(selection or self.product, safe='')}/{self.records}"
        pages = PageNumberPaginator(per_page=self.page_size, items_key=self.records)
        try:
            for item in iter_items(self.client, "GET", path, pages, items_key=self.records,
                                   params={"fields": ",".join(RECORD_FIELDS)}):
                if not isinstance(item, dict) or not item.get("reference_num"):
                    log.warning("Aha! listed a %s without a reference number; skipped: %.200r", self.singular, item)
                    continue
                if "custom_fields" not in item:  # fields= ignored: read the whole record
                    item = self._record(str(item["reference_num"]))
                yield self._epic(item, value_fields, types)
        except FatalAPIError as exc:
            if exc.status == 401:
                raise self._unauthorised(exc) from None
            if exc.status == 404:
                raise ConfigError([("aha.product", f"Aha! has no product {selection!r} that this API key can see "
                                                   "(give its reference prefix, e.g. APP, or its id)")]) from None
            raise

    def _epic(self, item: Mapping[str, Any], value_fields: Sequence[str], types: Mapping[str, str]) -> Epic:
        values = {str(cf.get("key")): cf.get("value") for cf in item.get("custom_fields") or [] if isinstance(cf, dict)}
        status = _dict(item.get("workflow_status"))
        ref = str(item["reference_num"])
        description = item.get("description")
        body = description.get("body") if isinstance(description, dict) else description
        return Epic(
            key=ref, id=str(item.get("id") or ""), summary=str(item.get("name") or ""),
            description=html_to_text(body if isinstance(body, str) else None),
            labels=[str(t) for t in item.get("tags") or [] if isinstance(t, str)],
            # Jira's status category words, so `closing.shipped_when = "done"` means the same
            status_category="done" if status.get("complete") is True else ("new" if status else None),
            project=ref.split("-", 1)[0],
            values={fid: value_of(values.get(fid), types.get(fid, "")) for fid in value_fields},
        )

    def _record(self, key: str, fields: str | None = None) -> dict[str, Any]:
        params = {"fields": fields} if fields else None
        body = self._get(f"/{self.records}/{quote(key, safe='')}", params=params) or {}
        record = body.get(self.singular)
        return record if isinstance(record, dict) else {}

    def _field_types(self) -> dict[str, str]:
        if self._types is None:
            self.fields()
        return self._types or {}

    def editable_fields(self, key: str) -> dict[str, str]:
        """Aha! has no edit screen per record: a custom field defined for the record type can be set
        (once it is on the workspace's layout, which the API does not tell per record)."""
        fields = getattr(self, "_fields", None) or self.fields()  # read once per run, not per project
        return {f.id: f.name for f in fields}

    def whoami(self) -> str:
        me = (self._get("/me") or {}).get("user") or {}
        return str(me.get("name") or me.get("email") or me.get("id") or "?")

    def browse_url(self, key: str) -> str:
        return f"{self.url}/{self.records}/{quote(key, safe='')}"

    def released(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` whose release is released: the product's records are listed once with
        ``fields=reference_num,release``, then each distinct release is read (``released``)."""
        wanted = set(keys)
        release_of: dict[str, str] = {}
        pages = PageNumberPaginator(per_page=self.page_size, items_key=self.records)
        for item in iter_items(self.client, "GET", f"/products/{quote(self.product, safe='')}/{self.records}", pages,
                               items_key=self.records, params={"fields": "reference_num,release"}):
            release = _dict(_dict(item).get("release"))
            ref = str(release.get("reference_num") or release.get("id") or "")
            if ref and _dict(item).get("reference_num") in wanted:
                release_of[str(item["reference_num"])] = ref
        shipped: dict[str, bool] = {}
        for ref in dict.fromkeys(release_of.values()):
            body = self._get(f"/releases/{quote(ref, safe='')}") or {}
            shipped[ref] = _dict(body.get("release")).get("released") is True
        return [key for key in keys if key in release_of and shipped[release_of[key]]]

    # writes

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        body = {self.singular: {"custom_fields": dict(values)}}
        try:
            self.client.request("PUT", f"/{self.records}/{quote(key, safe='')}", json=body)
        except FatalAPIError as exc:
            if exc.status == 401:
                raise self._unauthorised(exc) from None
            raise self._rejected(key, exc) from None

    # the managed summary

    def summary_comments(self, key: str) -> Iterator[tuple[str, str, str | None]]:
        pages = PageNumberPaginator(per_page=self.page_size, items_key="comments")
        comments = list(iter_items(self.client, "GET", f"/{self.records}/{quote(key, safe='')}/comments", pages,
                                   items_key="comments"))
        comments.sort(key=lambda c: str(c.get("created_at") or "") if isinstance(c, dict) else "")
        for c in comments:
            if isinstance(c, dict):
                user = _dict(c.get("user"))
                yield str(c.get("id") or ""), html_to_text(c.get("body")), (str(user["id"]) if user.get("id") else None)

    def add_summary_comment(self, key: str, content: SummaryContent, changed_on: date) -> str:
        body = {"comment": {"body": summary_html(content, changed_on)}}
        answer = self.client.request_json("POST", f"/{self.records}/{quote(key, safe='')}/comments", json=body) or {}
        return str((answer.get("comment") or {}).get("id") or "")

    def update_summary_comment(self, key: str, comment_id: str, content: SummaryContent, changed_on: date) -> bool:
        body = {"comment": {"body": summary_html(content, changed_on)}}
        try:
            self.client.request("PUT", f"/comments/{quote(str(comment_id), safe='')}", json=body)
        except FatalAPIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def field_text(self, key: str, field_id: str) -> str:
        for cf in self._record(key, "custom_fields").get("custom_fields") or []:
            if isinstance(cf, dict) and cf.get("key") == field_id:
                value = cf.get("value")
                return html_to_text(value) if isinstance(value, str) else str(value or "")
        return ""

    def write_summary_field(self, key: str, field_id: str, content: SummaryContent, changed_on: date,
                            plain: bool = False) -> None:
        text = summary_text(content, changed_on) if plain else summary_html(content, changed_on)
        self.update(key, {field_id: text})

    def close(self) -> None:
        self.client.close()

    # helpers

    def _get(self, path: str, **kwargs: Any) -> Any:
        try:
            return self.client.request_json("GET", path, **kwargs)
        except FatalAPIError as exc:
            if exc.status == 401:
                raise self._unauthorised(exc) from None
            raise

    def _unauthorised(self, exc: FatalAPIError) -> FatalAPIError:
        return FatalAPIError(
            f"Aha! refused the API key (HTTP 401 from {exc.method} {exc.url}): check aha.api_key "
            "(or DEMANDSYNC_AHA__API_KEY) and that aha.url is your account's https://<account>.aha.io",
            method=exc.method, url=exc.url, status=401, body=None)

    def _rejected(self, key: str, exc: FatalAPIError) -> WriteRejected:
        said = describe_body(exc.body)
        if exc.status == 404:
            message = f"{key} does not exist in Aha!, or this API key may not see it"
        elif exc.status == 403:
            message = f"this Aha! user may not edit {key}: it needs contributor (or owner) rights in the product"
        else:
            message = f"Aha! refused the write: {said or f'HTTP {exc.status}'}"
        return WriteRejected(key, [FieldError("record", message + (f" (Aha! said: {said})" if said and
                                                                  exc.status in (403, 404) else ""))],
                             exc.status or 0)
