"""Flat-map: one record per word of the value, in order; the Python port
of `plugins/split-words`. A word is a run of letters, digits, `'` or `_`;
everything else separates words.

Params:
- `emit = "words"` (default): each word becomes the value; the input's
  key, timestamp and headers are kept.
- `emit = "pairs"`: each word becomes the key and the value is `1`, ready
  for `sum`.
"""

import wasmstream
from wasmstream import text


class SplitWords(wasmstream.FlatMap):
    def init(self, params):
        params.only(["emit"])
        emit = params.get("emit", "words")
        if emit not in ("words", "pairs"):
            raise ValueError(f'param `emit` = {emit!r}: expected "words" or "pairs"')
        self.pairs = emit == "pairs"

    def flat_map(self, record, out):
        # Words of the value's bytes, as bytes: no decoding and encoding
        # again; an error if the value is not UTF-8.
        words = text.words(record.value)
        if self.pairs:
            for word in words:
                out.emit_like(record, word, b"1")
        else:
            out.emit_values(record, record.key, words)


FlatMap = wasmstream.export(SplitWords)
