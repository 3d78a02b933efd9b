// Cogroup: what a join makes of two streams of JSON objects; the
// JavaScript port of plugins/merge-json. Each pair of a key's left and
// right records becomes one object with the fields of both (the right
// one's after the left one's), stamped with the later of their times; a
// key with records on one side only gives those records as they are.
// Params (optional): `key`, a field of the merged object that becomes the
// output record's key; by default the join's key stays.

import * as wasmstream from "./wasmstream.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The fields of `left` then `right`, two JSON objects (checked). */
function merge(left, right) {
  const inner = (v) => decoder.decode(v).trim().slice(1, -1).trim();
  const [l, r] = [inner(left), inner(right)];
  return encoder.encode(`{${l}${l && r ? "," : ""}${r}}`);
}

class MergeJson extends wasmstream.Cogroup {
  init(params) {
    params.only(["key"]);
    this.key = params.get("key");
  }

  keyOf(joinKey, value) {
    if (this.key === null || this.key === undefined) return joinKey;
    const found = wasmstream.jsonField(value, this.key);
    if (found === null) throw new wasmstream.OperatorError(`the merged object has no field \`${this.key}\``);
    return found;
  }

  cogroup(key, left, right, out) {
    // Each value must be a JSON object (jsonField checks the whole value).
    for (const record of [...left, ...right]) wasmstream.jsonField(record.value, "");
    if (left.length === 0 || right.length === 0) {
      for (const record of [...left, ...right]) out.emitLike(record, this.keyOf(key, record.value), record.value);
      return;
    }
    for (const l of left) {
      for (const r of right) {
        const merged = merge(l.value, r.value);
        const timestamp = Math.max(l.timestamp, r.timestamp);
        out.emit(new wasmstream.Record(merged, { key: this.keyOf(key, merged), timestamp }));
      }
    }
  }
}

export const cogroup = wasmstream.exportCogroup(MergeJson);
