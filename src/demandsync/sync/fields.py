"""Field resolution: the admin names a field (``customfield_10050`` or "Customer requests"),
the tracker wants an id. Tracker-neutral: works on the :class:`~demandsync.domain.TrackerField`
list any tracker returns.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from demandsync.domain import TrackerField
from demandsync.errors import ConfigError


class FieldLookupError(ConfigError, LookupError):
    """A field named in the config cannot be pinned to one Jira field."""


class UnknownFieldError(FieldLookupError):
    pass


class AmbiguousFieldError(FieldLookupError):
    pass


#: Where each tracker lists its custom fields, for the "no such field" hint. Aha!: the account
#: settings' Customizations section (support.aha.io "Account customization settings"); a field
#: must also be on the record type's layout (aha_openapi.json, /custom_field_definitions).
_SETTINGS = {"Jira": "Jira settings → Issues → Custom fields",
             "Aha!": "Aha! Settings → Account → Customizations (custom fields, and the layout of the record type)"}


def resolve_field(ref: str, fields: Sequence[TrackerField], *, tracker: str = "Jira") -> TrackerField:
    """The field ``ref`` names: an id exactly, else a unique name (exact case
    first, then ignoring case).

    Admins write names ("Customer requests"), Jira wants ids
    (``customfield_10050``). Two fields may share a name, so an ambiguous name
    is refused with both ids rather than guessed.
    """
    ref = ref.strip()
    for f in fields:
        if f.id == ref:
            return f
    for matches in (
        [f for f in fields if f.id.casefold() == ref.casefold()],
        [f for f in fields if f.name == ref],
        [f for f in fields if f.name.casefold() == ref.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(f"{f.id} ({f.type or 'no type'}{', ' + f.custom_type.rsplit(':', 1)[-1] if f.custom_type else ''})" for f in matches)
            raise AmbiguousFieldError(
                f"{tracker} has {len(matches)} fields named {ref!r}: {listed}. "
                f"Use the id instead of the name in the config, e.g. {matches[0].id!r}."
            )
    by_folded = {f.name.casefold(): f for f in fields}
    close = difflib.get_close_matches(ref.casefold(), list(by_folded), n=5, cutoff=0.6)
    hint = (
        "; did you mean " + ", ".join(f"{by_folded[c].name!r} ({by_folded[c].id})" for c in close) + "?"
        if close
        else f"; check the name in {_SETTINGS.get(tracker, tracker + ' settings')}, and that the account can see the field"
    )
    raise UnknownFieldError(f"no {tracker} field has the id or name {ref!r}{hint}")


