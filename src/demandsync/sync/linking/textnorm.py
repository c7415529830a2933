"""Text normalisation for linking: fold, tokenise, drop function words, stem.

Feedback is short, informal and typo-ridden ("cant listen offlline!!",
"dark-mode pls"), and epic summaries are terse ("Offline listening"). The
linker therefore compares *stems* (so "listening", "listen", "listened" meet)
and, separately, character n-grams of words (so "offlline"/"offline" and
"darkmode"/"dark mode" still share most of their grams). Everything here is
deterministic and dependency-free, because the similarity model's fingerprint
must not change with what happens to be installed.

The stemmer is a light English suffix stripper, not Porter/Snowball: on the
is22-dev bench it measured the same as Snowball (mean R-precision 0.660 vs
0.657; ``bench/linking.py --stemmer snowball`` with snowballstemmer on the
path), so no dependency is needed. It strips inflections ("listening",
"playlists", "copied") but not "-er" ("seller" is not "sell", "player" is
not "play").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from itertools import chain

__all__ = ["FILLER_WORDS", "GENERIC_WORDS", "STOP_WORDS", "TEXT_BREAK", "fold", "words", "batch_words", "stem", "content_terms", "char_ngrams", "synonyms",
           "lexicon_words", "lexicon_digest"]

_WORD_RE = re.compile(r"[a-z0-9]+")
_APOSTROPHE_RE = re.compile(r"(?<=[a-z])['\u2019](?=[a-z])")

# Function words, plus the filler of product feedback ("app", "please",
# "really", "use"): "the app keeps crashing" says nothing about which epic.
# (Measured: keeping "app" as a term dropped auto-accept precision on
# is22-dev from 0.96 to 0.86, leave-one-app-out.) Generic stop lists
# (sklearn's, NLTK's) also drop "call", "show", "find", "back", "top" or
# "full", the very words epics are named with ("WhatsApp call"). "make" stays
# one: as a word with "create" for its synonym it lifted is22-dev (mean
# R-precision 0.710 -> 0.723, "make a playlist" for "Create playlist of songs";
# an entry chosen by reading is22-dev's misses), but survey answers use it as
# filler ("X would make my day", "make it free"): on bench/run.py's workload the
# automatic similarity links fell 6,163 -> 5,397, so it was taken back.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most my myself no
    nor not of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves
    im ive id ill youre dont doesnt didnt cant cannot wont isnt arent wasnt werent
    hasnt havent couldnt shouldnt wouldnt also get got getting gets like really
    please pls plz thanks thank app apps would could one even still much many lot
    way thing things use using used make made
    """.split()
)


# The wrapping of a request rather than its subject: "Feature request: add
# webhook support" asks for webhooks. These still match an epic that uses
# them, but do not count in how much an item says (the item-side coverage),
# so a short request is not diluted by its politeness.
FILLER_WORDS: frozenset[str] = frozenset(
    """
    feature features request requests requested requesting suggestion add adding added support
    supported option options ability able allow allowing implement implementing possible
    possibility great good nice love cool awesome best better need needs needed want wanted
    wish hope hoping new would should could maybe perhaps hello hi hey ok okay
    provide capability capabilities functionality
    """.split()
)


# Words that name a *kind* of thing in a product rather than the thing: "Dark
# mode" and "Offline mode" are told apart by "dark" and "offline", "Export data"
# and "Import data" by "export" and "import". Such a word can be rare in the
# items (so its IDF is high: "mode" in music-app reviews) and still say little,
# so the model weighs it down (``similarity.GENERIC_SHARE``).
GENERIC_WORDS: frozenset[str] = frozenset(
    """
    mode modes option options setting settings function functions functionality
    feature features button buttons screen screens page pages menu menus tab tabs
    view views data file files system version versions type types tool tools
    thing things stuff
    """.split()
)


def fold(text: str) -> str:
    """Lowercase and strip accents ("Café" -> "cafe"), joining contractions.

    ASCII text (the common case) skips the Unicode decomposition, which is the
    expensive part when 100,000 items are scored.
    """
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    if "'" in text or "\u2019" in text:
        text = _APOSTROPHE_RE.sub("", text)
    return text


def words(text: str) -> list[str]:
    """Folded alphanumeric words, in order, stop words included."""
    return _WORD_RE.findall(fold(text))


#: Between two texts' words in :func:`batch_words` (not a word: no letter or digit).
TEXT_BREAK = "\x01"
#: ASCII byte -> itself when ``_WORD_RE`` keeps it (and TEXT_BREAK), else a space.
_WORD_BYTES = bytes(c if re.fullmatch(r"[a-z0-9\x01]", chr(c)) else 32 for c in range(256))


def batch_words(texts: Sequence[str | None]) -> list[str]:
    """``words`` of every text in one list, ``TEXT_BREAK`` between one text's words and the next's.

    The same words as ``words`` per text, found faster: ASCII texts (the common case) are folded
    together and split by ``bytes.translate`` and ``str.split`` (C loops), instead of a regex and a
    fold per text (0.12 -> 0.05 s for 31,000 survey answers); others go through ``words``."""
    parts = [text if text.isascii() else " ".join(words(text)) for text in map(_text, texts)]
    joined = TEXT_BREAK.join(parts)
    if joined.count(TEXT_BREAK) != len(parts) - 1:  # a text says TEXT_BREAK itself
        return list(chain.from_iterable([*words(text), TEXT_BREAK] for text in map(_text, texts)))[:-1]
    joined = joined.lower()
    if "'" in joined:  # (the others have no apostrophe left; TEXT_BREAK is not a letter)
        joined = _APOSTROPHE_RE.sub("", joined)
    return joined.encode("ascii").translate(_WORD_BYTES).decode("ascii").replace(TEXT_BREAK, f" {TEXT_BREAK} ").split()


def _text(text: str | None) -> str:
    return text or ""


_VOWELS = frozenset("aeiouy")


def _has_vowel(s: str) -> bool:
    return any(ch in _VOWELS for ch in s)


def _undouble(s: str) -> str:
    # "shopp" -> "shop", "bidd" -> "bid"; but keep "ll"/"ss"/"zz" ("sell", "miss").
    if len(s) >= 3 and s[-1] == s[-2] and s[-1] not in "lsz" and s[-1] not in _VOWELS:
        return s[:-1]
    return s


_SUFFIXES: tuple[tuple[str, str], ...] = (
    # (suffix, replacement), longest first; applied once, then plural/verb endings.
    ("izations", "ize"), ("ization", "ize"), ("fulness", "ful"), ("iveness", "ive"),
    ("ational", "ate"), ("ations", "ate"), ("ation", "ate"), ("nesses", ""),
    ("ness", ""), ("ments", ""), ("ment", ""), ("ities", ""), ("ity", ""),
    ("ingly", ""), ("edly", ""), ("ably", "able"), ("ibly", "ible"), ("fully", "ful"),
    ("ously", "ous"), ("ively", "ive"),
)


def _stem_uncached(w: str) -> str:
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf, rep in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)] + rep
            break
    # plurals
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("es") and len(w) > 4 and w[-3] in "sxz" or w.endswith(("ches", "shes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    # verb endings
    for suf in ("ing", "ed"):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and _has_vowel(w[: -len(suf)]):
            w = _undouble(w[: -len(suf)])
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    # "y"/"i" and a final "e" are dropped so "share"/"sharing" and "copy"/"copied" meet.
    if len(w) > 3 and w[-1] in "ey":
        w = w[:-1]
    if w.endswith("i") and len(w) > 3:
        w = w[:-1]
    return w


_STEM_CACHE: dict[str, str] = {}


def stem(word: str) -> str:
    """Light English stem of one folded word (memoised: vocabularies are small)."""
    s = _STEM_CACHE.get(word)
    if s is None:
        s = _stem_uncached(word)
        if len(_STEM_CACHE) < 500_000:
            _STEM_CACHE[word] = s
    return s


def content_terms(text: str) -> list[str]:
    """Stems of the non-stop words of ``text``, in order."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS and len(w) > 1]


def char_ngrams(word: str, sizes: Iterable[int] = (3, 4, 5)) -> list[str]:
    """Character n-grams of one word padded with spaces, like sklearn's
    ``char_wb`` analyser but per word, so callers can cache them per word."""
    padded = f" {word} "
    out: list[str] = []
    for n in sizes:
        if n > len(padded):
            continue
        out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


def _lexicon_text() -> str:
    return (files("demandsync.sync.linking") / "lexicon.txt").read_text(encoding="utf-8")


@cache
def synonyms() -> Mapping[str, frozenset[str]]:
    """Stem -> the stems of its synonyms, from the lexicon shipped with the
    package (``lexicon.txt``: one group of words naming the same feature a
    line, "shortcut hotkey keybinding").

    Why a shipped list and not a resource: a survey answer says "hotkeys" for
    the epic "Keyboard shortcuts" and shares no word with it; WordNet relates
    neither "night"/"dark" nor "SSO"/"SAML", and a file read at import (never
    fetched) keeps the model deterministic and the install lean."""
    out: dict[str, set[str]] = {}
    for line in _lexicon_text().splitlines():
        line = line.split("#", 1)[0]
        group = {stem(w) for w in words(line)}
        for s in group:
            out.setdefault(s, set()).update(group - {s})
    return {s: frozenset(o) for s, o in out.items() if o}


@cache
def lexicon_words() -> frozenset[str]:
    """The folded words of the lexicon as written: some are two words joined
    ("nightmode"), which an item says as two ("night mode")."""
    return frozenset(w for line in _lexicon_text().splitlines() for w in words(line.split("#", 1)[0]))


@cache
def lexicon_digest() -> str:
    """Digest of the lexicon, for the model's fingerprint: editing it relinks."""
    return hashlib.sha256(_lexicon_text().encode("utf-8")).hexdigest()[:16]
