"""Filter: keeps records whose value is a JSON object with a field equal
to a given text; the Python port of `plugins/json-filter`.

Params:
- `field` (required): the field to test, e.g. `"status"` (dots reach
  into nested objects).
- `equals` (required): the text to compare with. Numbers and booleans
  compare by how they are written, so `equals = "500"` matches both
  `"status": 500` and `"status": "500"`.
- `on_invalid = "fail" | "drop"` (default `"fail"`): what to do with a
  value that is not a JSON object. `fail` stops the batch, naming the
  record.
"""

import wasmstream
from wasmstream import json


class JsonFilter(wasmstream.Filter):
    def init(self, params):
        params.only(["field", "equals", "on_invalid"])
        on_invalid = params.get("on_invalid", "fail")
        if on_invalid not in ("fail", "drop"):
            raise ValueError(f'param `on_invalid` = {on_invalid!r}: expected "fail" or "drop"')
        self.drop_invalid = on_invalid == "drop"
        self.field = params.require("field")
        self.equals = params.require("equals")

    def filter(self, record):
        try:
            return json.field(record.value, self.field) == self.equals
        except wasmstream.Error:
            if self.drop_invalid:
                return False
            raise


Filter = wasmstream.export(JsonFilter)
