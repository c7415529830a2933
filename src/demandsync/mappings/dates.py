"""Reading a date cell the way the admin's map says: its formats, its time zone, its day/month order.

Every created_at becomes an aware UTC datetime. Without ``date_format`` a cell is read as
ISO 8601, then as the common export formats (:data:`DEFAULT_DATE_FORMATS`), a zone suffix
(``GMT+8``) or abbreviation (``AST``) honoured; a slashed date (``01/02/2026``) takes its
day/month order from ``dayfirst`` or from an unambiguous value earlier in the column. A value
that cannot be a real instant quarantines its row (:class:`Skip`); a map that cannot read the
column at all (a date both ways, a zone name the map's ``timezone`` does not use) raises
:class:`MappingError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from demandsync.mappings.errors import MappingError, Skip
from demandsync.mappings.model import FieldMapping

#: "2024-06-15 10:00:00 UTC", "… GMT+8", "… GMT-03:30" (Formbricks and others).
_ZONE_SUFFIX = re.compile(r"\s+(?:UTC|GMT)(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$")
#: "… 11:07:29 AM AST": a zone abbreviation (Google Forms writes the form's zone so).
_ZONE_NAME = re.compile(r"\s+(?!AM$|PM$)([A-Z]{2,5})$")
_SLASHED = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})(.*)$")

#: Tried after ISO 8601 when the map gives no date_format. Slashed day/month
#: dates are handled separately because they can be ambiguous.
DEFAULT_DATE_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %I:%M:%S %p",  # Google Forms/Sheets: 2026/09/27 3:00:00 PM (then GMT+3, read above)
    "%Y/%m/%d %I:%M %p",
    "%Y/%m/%d",
    "%d %b %Y %H:%M",
    "%d/%b/%y %H:%M",  # Jira CSV export
    "%a %b %d %Y",  # JavaScript Date.toDateString()
    "%b %d, %Y %I:%M %p",
)
_SLASHED_TIMES = ("", " %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p")


def parse_date(value: str, column: str, m: FieldMapping, source: str, orders: dict[str, bool]) -> datetime:
    """Parse with the map's formats (or the defaults) and return an aware UTC datetime.

    A value that cannot be a real instant (an offset of 24 hours or more such as
    ``GMT+99``, or a date that leaves the calendar once moved to UTC such as
    ``9999-12-31T23:00:00-05:00``) quarantines its row, never the source.
    """
    if m.date_format is None:
        # Fast path for the common ISO 8601 cell: no zone suffix or abbreviation can
        # end a value fromisoformat accepts, so this is the same reading as below.
        try:
            iso = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return _in_utc(iso if iso.tzinfo is not None else iso.replace(tzinfo=ZoneInfo(m.timezone)), value, column)
    zone: Any = ZoneInfo(m.timezone)
    text = value
    if suffix := _ZONE_SUFFIX.search(text):
        sign, hours, minutes = suffix.groups()
        offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if offset >= timedelta(hours=24):
            raise Skip(f"the date {value!r} in column {column!r} has an offset of {offset} from UTC; "
                       "offsets are less than 24 hours")
        zone = timezone(-offset if sign == "-" else offset)
        text = text[: suffix.start()]
    named = _ZONE_NAME.search(text)
    if named:
        text = text[: named.start()]
    parsed = _with_formats(text, m, column, source, orders)
    if named and parsed is not None and parsed.tzinfo is None:
        _check_zone_name(named.group(1), parsed.replace(tzinfo=zone), value, column, m, source)
    if parsed is None:
        expected = m.date_format or "ISO 8601 (2024-03-04 10:17:29) or a common export format"
        raise Skip(
            f"cannot read the date {value!r} in column {column!r}; expected {expected} "
            f"(set sources.{source}.map.date_format)"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return _in_utc(parsed, value, column)


def utc_date(value: str, column: str, m: FieldMapping, source: str, orders: dict[str, bool]) -> datetime:
    """:func:`parse_date` for a map without ``date_format`` whose zone is UTC, quicker for the
    common ISO 8601 cell: a naive one is UTC as it stands (no zone lookup, no conversion).

    The usual ``2026-01-01 08:00:01`` is read with ``+00:00`` appended: one parse, a tenth of the
    cost of parsing it naive and then ``replace(tzinfo=UTC)`` (~1 µs a row). Only that shape: it has
    no room for a zone of its own, and ``fromisoformat`` reads a date alone *with* an offset as naive.
    """
    if len(value) == 19 and value[16] == ":" and (utc := _naive_utc(value)) is not None:
        return utc
    try:
        iso = datetime.fromisoformat(value)
    except ValueError:
        return parse_date(value, column, m, source, orders)
    return iso.replace(tzinfo=UTC) if iso.tzinfo is None else _in_utc(iso, value, column)


def _naive_utc(value: str) -> datetime | None:
    """``2026-01-01 08:00:01`` (19 characters, a colon at 16: no room for a zone) as that instant in
    UTC, or None for :func:`utc_date` to decide; see there."""
    try:
        utc = datetime.fromisoformat(value + "+00:00")
    except ValueError:
        return None
    return utc if utc.tzinfo is UTC else None


def _in_utc(parsed: datetime, value: str, column: str) -> datetime:
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Skip(f"the date {value!r} in column {column!r} is out of range (before year 1 or after 9999 in UTC)")\
            from None


def _check_zone_name(name: str, when: datetime, value: str, column: str, m: FieldMapping, source: str) -> None:
    """An abbreviation (``AST``) is ambiguous on its own (Atlantic or Arabia?), so
    it is only accepted when the map's ``timezone`` calls that moment so too."""
    if when.tzname() == name:
        return
    raise MappingError(
        f"sources.{source}.map.timezone: the date {value!r} in column {column!r} is in time zone "
        f"{name!r}, but the map's timezone {m.timezone!r} is {when.tzname()!r} then; set timezone to the "
        "form's zone (an IANA name such as 'America/Puerto_Rico' for AST)"
    )


def _with_formats(text: str, m: FieldMapping, column: str, source: str, orders: dict[str, bool]) -> datetime | None:
    if m.date_format is not None:
        formats = [m.date_format] if isinstance(m.date_format, str) else m.date_format
        return _strptime(text, formats)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if slashed := _SLASHED.match(text):
        return _slashed(text, slashed, m, column, source, orders)
    return _strptime(text, DEFAULT_DATE_FORMATS)


def _slashed(text: str, slashed: re.Match[str], m: FieldMapping, column: str, source: str,
             orders: dict[str, bool]) -> datetime | None:
    """``27/09/2026`` or ``9/27/2026``: a part over 12 settles the order for this
    value and is remembered for the column (one file has one locale); only a
    date that could be read both ways needs ``dayfirst`` (or such an earlier row)."""
    first, sep, second, _, _ = slashed.groups()
    a, b = int(first), int(second)
    if a > 12 or b > 12:
        dayfirst = a > 12
        orders.setdefault(column, dayfirst)
    elif a == b:
        dayfirst = True
    elif m.dayfirst is not None:
        dayfirst = m.dayfirst
    elif column in orders:
        dayfirst = orders[column]
    else:
        raise MappingError(
            f"sources.{source}.map.dayfirst: the date {text!r} in column {column!r} could be "
            f"day {a} or month {a}; set dayfirst = true (day/month) or false (month/day), "
            "or a date_format"
        )
    order = "%d{0}%m{0}%Y" if dayfirst else "%m{0}%d{0}%Y"
    return _strptime(text, [order.format(sep) + t for t in _SLASHED_TIMES])


def _strptime(text: str, formats: Sequence[str]) -> datetime | None:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
