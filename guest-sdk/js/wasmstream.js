// Operators for wasmstream in JavaScript.
//
// Write a class for one operator kind, one record (or one key) at a time,
// and export it under the kind's interface name; `wasmstream build` (with
// `lang = "js"`) makes it a WebAssembly component with componentize-js,
// with this file beside the app (an app imports "./wasmstream.js").
//
//     import * as wasmstream from "./wasmstream.js";
//
//     class Upper extends wasmstream.Map {
//       map(record) {
//         return record.withValue(record.valueStr().toUpperCase());
//       }
//     }
//
//     export const map = wasmstream.exportMap(Upper);
//
// The pieces, in order below: errors; `Params`; `Record` and `Emitter`;
// the batch layout (columns to records and back); the kinds and how each
// runs over one call; `text` and `json` helpers read as the Rust SDK
// does; the exports componentize-js calls.

import { ALPHANUMERIC } from "./unicode.js";

// ---- Errors -------------------------------------------------------------

/** Fails the batch: the host reports the stage, the record and this
 * message. Any other exception fails it the same way, its name given. */
export class OperatorError extends Error {}

/** What the host shows for `error`. */
export function describe(error) {
  if (error instanceof OperatorError) return error.message;
  if (error instanceof Error) return error.message ? `${error.name}: ${error.message}` : error.name;
  return String(error);
}

/** An operator failed on record `index` of the call's input. */
export class Failed extends Error {
  constructor(index, message) {
    super(message);
    this.index = index;
  }
}

// ---- Params -------------------------------------------------------------

/** A stage's `params` from the manifest, handed to `init`. */
export class Params {
  constructor(pairs = []) {
    this.pairs = pairs.map(([n, v]) => [String(n), String(v)]);
  }
  /** The value of a parameter, or `fallback` if it was not given. */
  get(name, fallback = undefined) {
    const found = this.pairs.find(([n]) => n === name);
    return found ? found[1] : fallback;
  }
  /** The value of a parameter, or an error naming it. */
  require(name) {
    const value = this.get(name);
    if (value === undefined) throw new Error(`param \`${name}\` is required`);
    return value;
  }
  /** A parameter passed through `convert`; `undefined` if absent; an
   * error naming it and its value if `convert` throws. */
  parse(name, convert) {
    const value = this.get(name);
    if (value === undefined) return undefined;
    try {
      return convert(value);
    } catch (e) {
      throw new Error(`param \`${name}\` = ${JSON.stringify(value)}: ${e.message ?? e}`);
    }
  }
  /** Rejects any parameter not in `known`. */
  only(known) {
    for (const [name] of this.pairs) {
      if (!known.includes(name)) {
        throw new Error(
          known.length === 0
            ? `unknown param \`${name}\`; this operator takes none`
            : `unknown param \`${name}\`; expected one of: ${known.join(", ")}`,
        );
      }
    }
  }
}

// ---- Records --------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Bytes: a Uint8Array as it is, text encoded as UTF-8, any other view
 * of bytes (what the bindings hand over may come from another realm) or
 * an array of byte values as a Uint8Array. */
export function bytes(data) {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) return Uint8Array.from(data);
  throw new TypeError(`expected bytes (a Uint8Array) or a string, got ${Object.prototype.toString.call(data)}`);
}

function text(data, what) {
  try {
    return decoder.decode(data);
  } catch {
    throw new OperatorError(`${what} is not UTF-8`);
  }
}

/** One record: an optional key, a value, an event time (milliseconds
 * since the Unix epoch, a number) and headers ([name, value] pairs), all
 * bytes (Uint8Array). */
export class Record {
  constructor(value, { key = null, timestamp = 0, headers = [] } = {}) {
    this.value = bytes(value);
    this.key = key === null ? null : bytes(key);
    this.timestamp = Number(timestamp);
    this.headers = headers.map(([n, v]) => [bytes(n), bytes(v)]);
  }
  /** The value as text, or an error saying it is not UTF-8. */
  valueStr() {
    return text(this.value, "value");
  }
  /** The key as text (`null` without a key), or an error. */
  keyStr() {
    return this.key === null ? null : text(this.key, "key");
  }
  withKey(key) {
    return new Record(this.value, { key, timestamp: this.timestamp, headers: this.headers });
  }
  withValue(value) {
    return new Record(value, { key: this.key, timestamp: this.timestamp, headers: this.headers });
  }
  withTimestamp(timestamp) {
    return new Record(this.value, { key: this.key, timestamp, headers: this.headers });
  }
  withHeader(name, value) {
    return new Record(this.value, {
      key: this.key,
      timestamp: this.timestamp,
      headers: [...this.headers, [name, value]],
    });
  }
}

/** Where a flat-map or update-state operator puts the records it makes,
 * in order; packed into the output batch's columns at the end of the call. */
export class Emitter {
  constructor() {
    this.keys = [];
    this.values = [];
    this.timestamps = [];
    this.headers = []; // [first record, count, headers]
  }
  get length() {
    return this.values.length;
  }
  /** Adds `record`. */
  emit(record) {
    this.emitLike(record, record.key, record.value);
  }
  /** Adds a copy of `like` with `key` and `value` in place of its own (its
   * timestamp and headers kept), without building a record. */
  emitLike(like, key, value) {
    if (like.headers.length) this.headers.push([this.values.length, 1, like.headers]);
    this.keys.push(key === null ? null : bytes(key));
    this.values.push(bytes(value));
    this.timestamps.push(like.timestamp);
  }
  /** One copy of `like` per item of `values`, each with `key`. */
  emitValues(like, key, values) {
    if (!values.length) return;
    if (like.headers.length) this.headers.push([this.values.length, values.length, like.headers]);
    const k = key === null ? null : bytes(key);
    for (const value of values) {
      this.keys.push(k);
      this.values.push(bytes(value));
      this.timestamps.push(like.timestamp);
    }
  }
}

// ---- The batch layout (wit/operator.wit, record batch) --------------------

/** The items of a byte list, as Uint8Array views. */
export function items(list) {
  const out = new Array(list.ends.length);
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    const end = list.ends[i];
    out[i] = list.data.subarray(start, end);
    start = end;
  }
  return out;
}

/** A byte list of `values` (Uint8Arrays). */
export function byteList(values) {
  let total = 0;
  const ends = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    total += values[i].length;
    ends[i] = total;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const v of values) {
    data.set(v, at);
    at += v.length;
  }
  return { data, ends };
}

/** The records of `batch`, in order. */
export function records(batch) {
  const keys = items(batch.keys);
  const values = items(batch.values);
  const out = new Array(values.length);
  for (let i = 0; i < out.length; i++) {
    const r = Object.create(Record.prototype);
    r.key = batch.hasKey[i] ? keys[i] : null;
    r.value = values[i];
    r.timestamp = Number(batch.timestamps[i]);
    r.headers = [];
    out[i] = r;
  }
  if (batch.headerOwners.length) {
    const names = items(batch.headerNames);
    const headerValues = items(batch.headerValues);
    for (let h = 0; h < batch.headerOwners.length; h++) {
      out[batch.headerOwners[h]].headers.push([names[h], headerValues[h]]);
    }
  }
  return out;
}

/** The batch an emitter holds, in the contract's columns. */
export function finish(out) {
  const owners = [];
  const names = [];
  const headerValues = [];
  for (const [first, count, headers] of out.headers) {
    for (let r = first; r < first + count; r++) {
      for (const [name, value] of headers) {
        owners.push(r);
        names.push(name);
        headerValues.push(value);
      }
    }
  }
  const empty = new Uint8Array(0);
  return {
    keys: byteList(out.keys.map((k) => k ?? empty)),
    hasKey: out.keys.map((k) => k !== null),
    values: byteList(out.values),
    timestamps: BigInt64Array.from(out.timestamps, (t) => BigInt(t)),
    headerOwners: Uint32Array.from(owners),
    headerNames: byteList(names),
    headerValues: byteList(headerValues),
  };
}

/** `list` (records) in the contract's columns. */
export function pack(list) {
  const out = new Emitter();
  for (const record of list) out.emit(record);
  return finish(out);
}

// ---- The kinds ------------------------------------------------------------

/** What every kind shares: by default an operator takes no params. */
class Operator {
  init(params) {
    params.only([]);
  }
}

/** One record in, one record out. */
export class Map extends Operator {}
/** Keeps or drops each record. */
export class Filter extends Operator {}
/** One record in, zero or more out. */
export class FlatMap extends Operator {}
/** An associative combine of two values of one key. */
export class Reduce extends Operator {
  /** All of a key's values folded, left to right with `reduce`. */
  reduceAll(key, values) {
    let folded = values[0];
    for (let i = 1; i < values.length; i++) {
      try {
        folded = this.reduce(key, folded, values[i]);
      } catch (e) {
        e.wasmstreamPosition = i;
        throw e;
      }
    }
    return folded;
  }
}
/** Per-key state across batches. */
export class UpdateState extends Operator {}
/** Per-key state over event time, with timers (a `process_by_key` stage):
 * define `process(key, timers, out)`, returning the key's new state
 * (bytes) or null to delete it. */
export class KeyedProcess extends Operator {}
/** Two keyed streams' records per key (a join stage with a component):
 * define `cogroup(key, left, right, out)`. */
export class Cogroup extends Operator {}

/** A key's pending timers: event times (ms) at which it is called again
 * once the watermark reaches them. */
export class Timers {
  constructor(pending = []) {
    this.pending = [...new Set(pending.map(Number))].sort((a, b) => a - b);
  }
  /** Sets a timer at `at` (once, however often it is set). */
  set(at) {
    if (!this.pending.includes(Number(at))) {
      this.pending.push(Number(at));
      this.pending.sort((a, b) => a - b);
    }
  }
  /** Deletes the timer at `at`, if there is one. */
  delete(at) {
    this.pending = this.pending.filter((t) => t !== Number(at));
  }
  /** Deletes every timer. */
  clear() {
    this.pending = [];
  }
}

function each(list, call) {
  for (let i = 0; i < list.length; i++) {
    try {
      call(list[i], i);
    } catch (e) {
      throw new Failed(i, describe(e));
    }
  }
}

export function runMap(operator, batch) {
  const out = [];
  each(records(batch), (r) => out.push(operator.map(r)));
  return pack(out);
}

export function runFilter(operator, batch) {
  const keep = [];
  each(records(batch), (r) => keep.push(Boolean(operator.filter(r))));
  return keep;
}

export function runFlatMap(operator, batch) {
  const out = new Emitter();
  each(records(batch), (r) => operator.flatMap(r, out));
  return finish(out);
}

export function runReduce(operator, keys, values, groupEnds) {
  const k = items(keys);
  const v = items(values);
  const folded = [];
  let first = 0;
  for (let g = 0; g < groupEnds.length; g++) {
    const end = groupEnds[g];
    try {
      folded.push(bytes(operator.reduceAll(k[g], v.slice(first, end))));
    } catch (e) {
      throw new Failed(first + (e.wasmstreamPosition ?? 0), describe(e));
    }
    first = end;
  }
  return byteList(folded);
}

export function runUpdate(operator, input) {
  const keys = items(input.keys);
  const states = items(input.states);
  const values = items(input.values);
  const keep = [];
  const newStates = [];
  const out = new Emitter();
  let first = 0;
  for (let g = 0; g < input.groupEnds.length; g++) {
    const end = input.groupEnds[g];
    const update = {
      key: keys[g],
      state: input.hasState[g] ? states[g] : null,
      values: values.slice(first, end),
      timingOut: input.timingOut[g],
      batchTime: Number(input.batchTime),
    };
    let state;
    try {
      state = operator.update(update, out);
    } catch (e) {
      throw new Failed(first, describe(e));
    }
    keep.push(state !== null && state !== undefined);
    newStates.push(state === null || state === undefined ? new Uint8Array(0) : bytes(state));
    first = end;
  }
  return { keep, states: byteList(newStates), output: finish(out) };
}

// ---- Text and JSON, read as the Rust SDK reads them -------------------------

function alphanumeric(cp) {
  let lo = 0;
  let hi = ALPHANUMERIC.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ALPHANUMERIC[2 * mid]) hi = mid - 1;
    else if (cp > ALPHANUMERIC[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

function wordChar(cp) {
  if (cp < 128) {
    return (
      (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 39 || cp === 95
    );
  }
  return alphanumeric(cp);
}

const ASCII = /^[\x00-\x7f]*$/;
const ASCII_WORD = /[A-Za-z0-9_']+/g;

/** The words of `text` (a string), in order: runs of letters, digits, `'`
 * and `_` (letters and digits exactly as Rust's `char::is_alphanumeric`).
 * ASCII text takes a regular expression (the engine's own code, not a
 * loop of JavaScript); other text is walked a character at a time. */
function words(input) {
  if (ASCII.test(input)) return input.match(ASCII_WORD) ?? [];
  const out = [];
  let start = -1;
  let i = 0;
  for (const c of input) {
    const cp = c.codePointAt(0);
    if (wordChar(cp)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push(input.slice(start, i));
      start = -1;
    }
    i += c.length;
  }
  if (start >= 0) out.push(input.slice(start));
  return out;
}

/** Decimal integer text (bytes or a string: an optional sign, ASCII
 * digits, spaces around allowed) as a number, or an error quoting it. */
function parseInteger(data) {
  const s = typeof data === "string" ? data : new TextDecoder().decode(data);
  const t = s.trim();
  if (/^[+-]?[0-9]+$/.test(t)) return Number(t);
  throw new OperatorError(`${JSON.stringify(s)} is not an integer`);
}

function formatInteger(n) {
  return encoder.encode(String(n));
}

export const textHelpers = { words, parseInteger, formatInteger };
export { words, parseInteger, formatInteger };

/** The text of one field of a JSON object (bytes or a string), or `null`
 * when it has no such field; dots reach into nested objects (a key that
 * holds the dot matches too; the later one in the object wins). Strings
 * come back unescaped; numbers, `true`, `false` and `null` as written;
 * objects and arrays as "". */
export function jsonField(data, path) {
  let text;
  try {
    text = typeof data === "string" ? data : decoder.decode(data);
    // Checks the whole value; `scan` then reads it as written.
    JSON.parse(text);
  } catch (e) {
    throw new OperatorError(`value is not a JSON object: ${e.message ?? e}`);
  }
  const top = scan(text);
  if (!top.pairs) {
    throw new OperatorError("value is not a JSON object: its top level is not an object");
  }
  const found = find(top.pairs, path);
  if (found === undefined) return null;
  const [v] = found;
  if (typeof v === "string") return v;
  return v.raw ?? "";
}

/** Valid JSON text as written: objects as `{pairs}` ([name, value] in
 * order), arrays as `{array}`, strings unescaped, anything else as
 * `{raw}` (a number, `true`, `false` or `null`, its own text). */
function scan(text) {
  let i = 0;
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = () => {
    space();
    if (text[i] === "{") {
      i++;
      const pairs = [];
      space();
      if (text[i] === "}") {
        i++;
        return { pairs };
      }
      for (;;) {
        space();
        const name = string();
        space();
        i++; // the colon
        pairs.push([name, value()]);
        space();
        if (text[i++] === "}") return { pairs };
      }
    }
    if (text[i] === "[") {
      i++;
      space();
      if (text[i] === "]") {
        i++;
        return { array: true };
      }
      for (;;) {
        value();
        space();
        if (text[i++] === "]") return { array: true };
      }
    }
    if (text[i] === '"') return string();
    const start = i;
    while (i < text.length && !",}] \t\n\r".includes(text[i])) i++;
    return { raw: text.slice(start, i) };
  };
  return value();
}

function find(pairs, path) {
  let found;
  for (const [name, value] of pairs) {
    if (name === path) found = [value];
    // A later object of that name replaces the earlier one, whatever it holds.
    else if (path.startsWith(name + ".")) {
      found = value.pairs ? find(value.pairs, path.slice(name.length + 1)) : undefined;
    }
  }
  return found;
}

export function runCogroup(operator, input) {
  const keys = items(input.keys);
  const left = records(input.left);
  const right = records(input.right);
  const out = new Emitter();
  let l = 0;
  let r = 0;
  for (let g = 0; g < keys.length; g++) {
    const lEnd = input.leftEnds[g];
    const rEnd = input.rightEnds[g];
    // The key's first record: its first left one, else its first right one.
    const first = l < lEnd ? l : left.length + r;
    try {
      operator.cogroup(keys[g], left.slice(l, lEnd), right.slice(r, rEnd), out);
    } catch (e) {
      throw new Failed(first, describe(e));
    }
    l = lEnd;
    r = rEnd;
  }
  return finish(out);
}

export function runProcess(operator, input) {
  const keys = items(input.keys);
  const states = items(input.states);
  const all = records(input.records);
  const keep = [];
  const newStates = [];
  const timers = [];
  const timerEnds = [];
  const out = new Emitter();
  const watermark = input.watermark === undefined || input.watermark === null ? null : Number(input.watermark);
  let r = 0;
  let f = 0;
  let q = 0;
  for (let g = 0; g < keys.length; g++) {
    const [rEnd, fEnd, qEnd] = [input.recordEnds[g], input.firedEnds[g], input.pendingEnds[g]];
    const key = {
      key: keys[g],
      state: input.hasState[g] ? states[g] : null,
      records: all.slice(r, rEnd),
      fired: Array.from(input.fired.slice(f, fEnd), Number),
      watermark,
      batchTime: Number(input.batchTime),
    };
    const pending = new Timers(Array.from(input.pending.slice(q, qEnd), Number));
    let state;
    try {
      state = operator.process(key, pending, out);
    } catch (e) {
      throw new Failed(r, describe(e));
    }
    keep.push(state !== null && state !== undefined);
    newStates.push(state === null || state === undefined ? new Uint8Array(0) : bytes(state));
    timers.push(...pending.pending);
    timerEnds.push(timers.length);
    [r, f, q] = [rEnd, fEnd, qEnd];
  }
  return {
    keep,
    states: byteList(newStates),
    timers: BigInt64Array.from(timers, (t) => BigInt(t)),
    timerEnds: Uint32Array.from(timerEnds),
    output: finish(out),
  };
}

// ---- What componentize-js calls -------------------------------------------

let live = null;

/** The operator class and kind the app exported: what the conformance kit
 * runs when the app is imported outside a component (`conformance.js`). */
export const exported = { cls: null, kind: null };

function exporting(kind, cls) {
  exported.cls = cls;
  exported.kind = kind;
}

function init(cls, params) {
  try {
    const operator = new cls();
    operator.init(new Params(params));
    live = operator;
  } catch (e) {
    throw describe(e);
  }
}

function call(run, ...args) {
  try {
    return run(live, ...args);
  } catch (e) {
    if (e instanceof Failed) throw { record: e.index, message: e.message };
    throw { record: undefined, message: describe(e) };
  }
}

/** The `map` export for a `Map` class. */
export function exportMap(cls) {
  exporting("map", cls);
  return { init: (p) => init(cls, p), map: (b) => call(runMap, b) };
}
/** The `filter` export for a `Filter` class. */
export function exportFilter(cls) {
  exporting("filter", cls);
  return { init: (p) => init(cls, p), filter: (b) => call(runFilter, b) };
}
/** The `flatMap` export for a `FlatMap` class. */
export function exportFlatMap(cls) {
  exporting("flat-map", cls);
  return { init: (p) => init(cls, p), flatMap: (b) => call(runFlatMap, b) };
}
/** The `reduce` export for a `Reduce` class. */
export function exportReduce(cls) {
  exporting("reduce", cls);
  return { init: (p) => init(cls, p), reduce: (k, v, g) => call(runReduce, k, v, g) };
}
/** The `updateState` export for an `UpdateState` class. */
export function exportUpdateState(cls) {
  exporting("update-state", cls);
  return { init: (p) => init(cls, p), update: (input) => call(runUpdate, input) };
}
/** The `keyedProcess` export for a `KeyedProcess` class. */
export function exportKeyedProcess(cls) {
  exporting("keyed-process", cls);
  return { init: (p) => init(cls, p), process: (input) => call(runProcess, input) };
}
/** The `cogroup` export for a `Cogroup` class. */
export function exportCogroup(cls) {
  exporting("cogroup", cls);
  return { init: (p) => init(cls, p), cogroup: (input) => call(runCogroup, input) };
}
/** The `migrate` export for an `UpdateState` class that defines
 * `migrateState(fromVersion, state)` (returning the state, bytes, in this
 * version's format): export it beside `updateState`, as
 * `export const migrate = wasmstream.exportMigrate(C)`, and the build
 * targets the world that converts an earlier version's states when this
 * one takes over in a running pipeline. */
export function exportMigrate(cls) {
  if (typeof cls.prototype.migrateState !== "function") {
    throw new TypeError(`${cls.name} defines no migrateState(fromVersion, state)`);
  }
  return {
    migrateState: (fromVersion, states) => {
      try {
        return byteList(items(states).map((state) => bytes(live.migrateState(fromVersion, state))));
      } catch (e) {
        throw describe(e);
      }
    },
  };
}
