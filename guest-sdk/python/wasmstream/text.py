"""Reading text as the Rust SDK's `text` module does."""

import re

from .errors import Error

_WORD = re.compile(r"[\w']+")


def words(text):
    """The words of `text`, in order: runs of letters, digits, `'` and
    `_`; everything else separates them.

    >>> words("It's a wide-open, café_au_lait 42!")
    ["It's", 'a', 'wide', 'open', 'café_au_lait', '42']

    Letters and digits are Python's (`str.isalnum`), which match Rust's
    for every letter and digit except the combining vowel signs of some
    scripts (Devanagari, say), which Rust counts as letters and Python
    does not.
    """
    return _WORD.findall(text)


def parse_int(data):
    """Decimal integer text (bytes or str, spaces around allowed) as an
    int, or an `Error` quoting it."""
    try:
        text = data.decode() if isinstance(data, (bytes, bytearray)) else data
        stripped = text.strip(" \t\r\n")
        if not stripped or not stripped.lstrip("+-").isascii() or not stripped.lstrip("+-").isdigit():
            raise ValueError
        return int(stripped)
    except (UnicodeDecodeError, ValueError):
        shown = data.decode(errors="replace") if isinstance(data, (bytes, bytearray)) else data
        raise Error(f"{shown!r} is not an integer") from None


def format_int(n):
    """`n` as decimal text bytes."""
    return str(int(n)).encode()
