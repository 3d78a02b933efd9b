// Flat-map: one record per word of the value, in order; the JavaScript
// port of plugins/split-words. A word is a run of letters, digits, `'` or
// `_`; everything else separates words.
//
// Params:
// - emit = "words" (default): each word becomes the value; the input's
//   key, timestamp and headers are kept.
// - emit = "pairs": each word becomes the key and the value is `1`.

import * as wasmstream from "./wasmstream.js";

class SplitWords extends wasmstream.FlatMap {
  init(params) {
    params.only(["emit"]);
    const emit = params.get("emit", "words");
    if (emit !== "words" && emit !== "pairs") {
      throw new Error(`param \`emit\` = ${JSON.stringify(emit)}: expected "words" or "pairs"`);
    }
    this.pairs = emit === "pairs";
  }

  flatMap(record, out) {
    const words = wasmstream.words(record.valueStr());
    if (this.pairs) {
      for (const word of words) out.emitLike(record, word, "1");
    } else {
      out.emitValues(record, record.key, words);
    }
  }
}

export const flatMap = wasmstream.exportFlatMap(SplitWords);
