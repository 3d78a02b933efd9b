"""Reading text as the Rust SDK's `text` module does."""

import re

from .errors import Error

_WORD = re.compile(r"[\w']+")
# ASCII bytes that separate words, each made a space, for `bytes.split`.
_SEPARATORS = bytes(
    b if chr(b).isalnum() or b in b"'_" else ord(" ") for b in range(128)
) + bytes(range(128, 256))


def words(text):
    """The words of `text`, in order: runs of letters, digits, `'` and
    `_`; everything else separates them. Text in, text out; bytes (UTF-8)
    in, bytes out, an `Error` if they are not UTF-8.

    >>> words("It's a wide-open, café_au_lait 42!")
    ["It's", 'a', 'wide', 'open', 'café_au_lait', '42']
    >>> words(b"to be, or not")
    [b'to', b'be', b'or', b'not']

    Letters and digits are Python's (`str.isalnum`), which match Rust's
    for every letter and digit except the combining vowel signs of some
    scripts (Devanagari, say), which Rust counts as letters and Python
    does not. ASCII bytes take a faster way (separators made spaces, then
    split), with the same words.
    """
    if isinstance(text, str):
        return _WORD.findall(text)
    if text.isascii():
        return text.translate(_SEPARATORS).split()
    try:
        decoded = text.decode()
    except UnicodeDecodeError as e:
        raise Error(f"not UTF-8: {e.reason} at byte {e.start}") from None
    return [w.encode() for w in _WORD.findall(decoded)]


def parse_int(data):
    """Decimal integer text (bytes or str: an optional sign, ASCII digits,
    spaces around allowed) as an int, or an `Error` quoting it, as the
    Rust SDK's `parse_i64` reads it.

    >>> parse_int(b" -42 ")
    -42
    >>> parse_int(b"1_000")
    Traceback (most recent call last):
    wasmstream.errors.Error: '1_000' is not an integer
    """
    raw = data.encode() if isinstance(data, str) else data
    # `int` reads bytes itself, but also takes `_` between digits, which
    # Rust does not.
    if raw.isascii() and b"_" not in raw:
        try:
            return int(raw)
        except ValueError:
            pass
    shown = raw.decode(errors="replace")
    raise Error(f"{shown!r} is not an integer") from None


def format_int(n):
    """`n` as decimal text bytes."""
    return str(int(n)).encode()
