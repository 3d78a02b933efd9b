"""Cogroup: what a join makes of two streams of JSON objects; the Python
port of `plugins/merge-json`. Each pair of a key's left and right records
becomes one object with the fields of both (the right one's after the
left one's), stamped with the later of their times; a key with records on
one side only gives those records as they are.

Params (optional): `key`, a field of the merged object that becomes the
output record's key (dots reach into nested objects); by default the
join's key stays.
"""

import wasmstream
from wasmstream import json


def merge(left, right):
    """The fields of `left` then `right`, two JSON objects (checked)."""
    l, r = left.strip()[1:-1].strip(), right.strip()[1:-1].strip()
    return b"{" + l + (b"," if l and r else b"") + r + b"}"


class MergeJson(wasmstream.Cogroup):
    def init(self, params):
        params.only(["key"])
        self.key = params.get("key")

    def key_of(self, join_key, value):
        if self.key is None:
            return join_key
        found = json.field(value, self.key)
        if found is None:
            raise wasmstream.Error(f"the merged object has no field `{self.key}`")
        return found.encode()

    def cogroup(self, key, left, right, out):
        for record in left + right:
            json.fields(record.value, [])
        if not left or not right:
            for record in left + right:
                out.emit(record.with_key(self.key_of(key, record.value)))
            return
        for l in left:
            for r in right:
                merged = merge(l.value, r.value)
                out.emit(
                    wasmstream.Record(
                        merged,
                        key=self.key_of(key, merged),
                        timestamp=max(l.timestamp, r.timestamp),
                    )
                )


Cogroup = wasmstream.export(MergeJson)
