"""Which columns of a survey export are the open answer, and which are not.

An export's text must be the answer to the open question and nothing else: a
respondent's name or company in the text is personal data in the wrong place
and ruins similarity linking, and a 1-5 score or a chosen option is an
attribute (usable as a weight), not feedback. Presets name what the vendor's
layout tells; for the columns it leaves open (``text = { questions = true }``)
this module decides from the header and from the answers in the first rows:

* the header: a name, company or e-mail question; an ``Other`` column (the
  free "other" of the choice question before it); a SurveyMonkey choice
  sub-column (``Question | Slack``);
* the answers: numbers only -> a score; values that repeat (at most 60 % of
  five or more answers are different, none over 80 characters) -> a choice;
  anything else -> free text (people rarely type the same sentence twice).

Every decision carries its reason, which ``demandsync preview`` shows per column.
When the first rows hold too few answers to tell, the column stays text:
dropping a real answer is worse than keeping a stray one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["text", "requester", "account", "attribute", "ignored"]

#: Answers needed before "few distinct values" can mean "a choice".
MIN_ANSWERS_FOR_CHOICE = 5

_NAME = re.compile(
    r"^(?:what(?:'s| is) )?(?:your )?(?:full |first |last |given |family |sur)?name\??$"
    r"|^(?:vorname|nachname|name|nom|prénom|nombre|apellido|nome|cognome|naam)$",
    re.IGNORECASE,
)
_COMPANY = re.compile(
    r"^(?:what(?:'s| is) )?(?:your )?(?:company|organi[sz]ation|employer|business|account|firm)"
    r"(?: name)?\??$|^(?:firma|unternehmen|entreprise|société|empresa|azienda|bedrijf)$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^(?:what(?:'s| is) )?(?:your )?(?:e-?mail|email address|e-mail-adresse|adresse e-mail)\??$",
                    re.IGNORECASE)
_CONTACT = re.compile(r"contact (?:details|info)|phone|telephone|postal address|street address", re.IGNORECASE)
_OTHER = re.compile(r"^other(?: \(please specify\))?(?:#\d+)?$|\| other \(please specify\)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?\d+(?:[.,]\d+)?%?$")
_LIST_SPLIT = re.compile(r"\s*[;,]\s*")


@dataclass(frozen=True, slots=True)
class ColumnRole:
    """What one column became, and why (shown by ``preview``)."""

    column: str
    role: Role | str
    reason: str


def is_other(name: str) -> bool:
    """``Other``, ``Other#2``, ``… | Other (please specify)``: the free answer of a choice question."""
    return bool(_OTHER.search(name.strip()))


def classify(name: str, values: Sequence[str], *, before_other: bool = False, choice_of: str | None = None,
             has_option_ids: bool = False) -> ColumnRole:
    """The role of one column left open by the preset (see module docstring).

    ``values`` are its answers in the first rows; ``before_other``: the next
    column is an ``Other`` column; ``choice_of``: the question whose option this
    sub-column is (SurveyMonkey's second header row); ``has_option_ids``: a
    ``<name> - Option ID`` column follows (Formbricks' choice and ranking questions).
    """
    label = name.strip()
    if _EMAIL.match(label):
        return ColumnRole(name, "requester", "an e-mail question: the requester, not text")
    if _NAME.match(label):
        return ColumnRole(name, "requester", "a name question: the requester's name, not text")
    if _COMPANY.match(label):
        return ColumnRole(name, "account", "a company question: the account, not text")
    if _CONTACT.search(label):
        return ColumnRole(name, "ignored", "contact details: personal data, neither text nor an attribute")
    if choice_of is not None:
        return ColumnRole(name, "attribute", f"an option of the choice question {choice_of!r}")
    if is_other(label):
        return ColumnRole(name, "attribute", "the 'Other' answer of the choice question before it")
    if has_option_ids:
        return ColumnRole(name, "attribute", "a choice or ranking question (it has an 'Option ID' column)")
    if before_other:
        return ColumnRole(name, "attribute", "a choice question (an 'Other' column follows it)")
    answers = [v.strip() for v in values if v.strip()]
    n = len(answers)
    if n == 0:
        return ColumnRole(name, "text", "no answers in the first rows: kept as text")
    if all(_NUMBER.match(a) for a in answers):
        return ColumnRole(name, "attribute", f"all {n} answers in the first rows are numbers: a score")
    distinct = len(set(answers))
    if n >= MIN_ANSWERS_FOR_CHOICE and distinct <= n * 0.6 and max(map(len, answers)) <= 80:
        return ColumnRole(name, "attribute", f"{n} answers but only {distinct} different values: a choice")
    tokens = [t for a in answers for t in _LIST_SPLIT.split(a) if t]
    if (n >= MIN_ANSWERS_FOR_CHOICE and len(tokens) > n and len(set(tokens)) <= max(3, len(tokens) // 4)
            and max(map(len, tokens)) <= 100):
        return ColumnRole(name, "attribute",
                          f"{n} answers drawn from {len(set(tokens))} options: a multiple choice")
    lengths = sorted(len(a) for a in answers)
    return ColumnRole(name, "text", f"free text: {n} answers, {distinct} different, "
                                    f"{lengths[0]}–{lengths[-1]} characters")
