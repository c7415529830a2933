"""Short, shell-safe handles for feedback items: ``exit-survey:k3f9q2ab``.

An item's identity is (source name, the source's id), and those ids hold what
the source put there: spaces, ``|``, quotes, 64-character hashes. Pasted into a
shell they break. A handle is the source name (letters, digits, ``-_.`` only:
config.py enforces it) and the first 8 characters of the lowercase base32 of a
SHA-256 of the identity: stable across runs and stores, typeable, and safe in
any shell. ``link``, ``unlink`` and ``links import`` accept a handle, any
unambiguous prefix of 4+ characters of its code, or the full id as before.

8 base32 characters are 40 bits: two items of one source share a code with
probability about n²/2⁴¹ (under 1 % below 100,000 items of one source). When
they do, the handle is refused as ambiguous and the full id still works.
"""

from __future__ import annotations

import base64
import hashlib
import re

CODE_LENGTH = 8
#: What a handle's code (or a prefix of one) looks like: lowercase base32.
CODE = re.compile(r"^[a-z2-7]{4,%d}$" % CODE_LENGTH)


def item_code(source: str, external_id: str) -> str:
    """The 8-character code of an item.

    >>> item_code("exit-survey", "1234")
    'kf7m24sh'
    """
    # 5 bytes are exactly 8 base32 characters: encoding only those is half the cost of the lot.
    digest = hashlib.sha256(f"{source}\x00{external_id}".encode()).digest()[:5]
    return base64.b32encode(digest).decode("ascii").lower()


def item_handle(source: str, external_id: str) -> str:
    """``SOURCE:CODE``, what ``explain``, ``suggest`` and ``review`` show."""
    return f"{source}:{item_code(source, external_id)}"


def looks_like_code(text: str) -> bool:
    """True when ``text`` could be a handle's code (or a prefix of 4+ characters of one)."""
    return bool(CODE.match(text))
