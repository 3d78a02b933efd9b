"""Reading fields of JSON values as the Rust SDK's `json` module does."""

import json as _json

from .errors import Error

class _Object(list):
    """A JSON object as its (name, value) pairs, in order."""


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _parse(data):
    try:
        text = data.decode() if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as e:
        raise Error(f"value is not a JSON object: not UTF-8: {e.reason} at byte {e.start}") from None
    try:
        # Numbers are kept as written, so `500` and `"500"` read alike,
        # as in the Rust SDK.
        value = _json.loads(
            text, parse_int=str, parse_float=str, parse_constant=_reject_constant,
            object_pairs_hook=_Object,
        )
    except (ValueError, RecursionError) as e:
        raise Error(f"value is not a JSON object: {e}") from None
    if not isinstance(value, _Object):
        raise Error("value is not a JSON object: its top level is not an object")
    return value


def _text(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        # An object or an array.
        return ""
    return value


def _find(pairs, path):
    """The last value at `path` in an object given as pairs: a key holding
    the whole rest of the path, or the first part and then the rest
    inside it; the later one in the object wins (a later object of the
    first part's name replaces the earlier one, as `dict` would)."""
    found = None
    for name, value in pairs:
        if name == path:
            found = (value,)
        elif path.startswith(name + "."):
            # A later object of that name replaces the earlier one,
            # whatever it holds.
            found = _find(value, path[len(name) + 1:]) if isinstance(value, _Object) else None
    return found


def field(data, path):
    """The text of one field of a JSON object (bytes or str), or `None`
    when it has no such field. `path` names a top-level field (`"status"`)
    or one inside nested objects with dots (`"bid.auction"`). Strings
    are returned unescaped; numbers, `true`, `false` and `null` as
    written; objects and arrays as `""`. Raises `Error` when the value is
    not a JSON object.

    >>> field(b'{"status": 500, "nested": {"y": true}}', "status")
    '500'
    >>> field(b'{"status": 500, "nested": {"y": true}}', "nested.y")
    'true'
    """
    found = _find(_parse(data), path)
    return None if found is None else _text(found[0])


def fields(data, paths):
    """`field` for each of `paths`, reading the value once."""
    pairs = _parse(data)
    out = []
    for path in paths:
        found = _find(pairs, path)
        out.append(None if found is None else _text(found[0]))
    return out
