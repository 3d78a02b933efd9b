// The conformance kit (wit/conformance/*.json in the wasmstream
// repository), run in Node against an operator, outside any component:
//
//     node conformance.js KIT.json [app.js]
//
// A kit names an operator kind and lists cases: params, one call's input,
// and what must come back, or the error that must (the record it names,
// words its message holds), or an `init` that must refuse its params.
// `layout.json` instead pins the contract's columnar layout. Bytes are
// written as JSON text (UTF-8) or as {"hex": "ff00"}.

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import * as w from "./wasmstream.js";

function data(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "object") return Uint8Array.from(Buffer.from(value.hex, "hex"));
  return new TextEncoder().encode(value);
}

function record(r) {
  return new w.Record(data(r.value), {
    key: data(r.key ?? null),
    timestamp: r.timestamp ?? 0,
    headers: (r.headers ?? []).map(([n, v]) => [data(n), data(v)]),
  });
}

/** A comparable form of records, lists and columns. */
function shown(value) {
  return JSON.stringify(value, (_, v) => {
    if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString("hex")}`;
    if (ArrayBuffer.isView(v)) return Array.from(v, (x) => (typeof x === "bigint" ? Number(x) : x));
    if (typeof v === "bigint") return Number(v);
    if (v instanceof w.Record) return { key: v.key, value: v.value, timestamp: v.timestamp, headers: v.headers };
    return v;
  });
}

function byteList(value) {
  return { data: data(value.data), ends: Uint32Array.from(value.ends) };
}

function checkLayout(c) {
  const expected = c.records.map(record);
  const columns = {
    keys: byteList(c.columns.keys),
    hasKey: c.columns["has-key"],
    values: byteList(c.columns.values),
    timestamps: BigInt64Array.from(c.columns.timestamps, BigInt),
    headerOwners: Uint32Array.from(c.columns["header-owners"]),
    headerNames: byteList(c.columns["header-names"]),
    headerValues: byteList(c.columns["header-values"]),
  };
  const problems = [];
  if (shown(w.pack(expected)) !== shown(columns)) problems.push(`packed as ${shown(w.pack(expected))}`);
  if (shown(w.records(columns)) !== shown(expected)) problems.push(`unpacked as ${shown(w.records(columns))}`);
  return problems;
}

function call(kind, operator, input) {
  switch (kind) {
    case "map":
      return w.records(w.runMap(operator, w.pack(input.map(record))));
    case "filter":
      return w.runFilter(operator, w.pack(input.map(record)));
    case "flat-map":
      return w.records(w.runFlatMap(operator, w.pack(input.map(record))));
    case "reduce": {
      const values = input.groups.flatMap((g) => g.values.map(data));
      let end = 0;
      const ends = input.groups.map((g) => (end += g.values.length));
      const keys = w.byteList(input.groups.map((g) => data(g.key)));
      return w.items(w.runReduce(operator, keys, w.byteList(values), ends));
    }
    case "update-state": {
      const values = input.groups.flatMap((g) => (g.values ?? []).map(data));
      let end = 0;
      const ends = input.groups.map((g) => (end += (g.values ?? []).length));
      const out = w.runUpdate(operator, {
        keys: w.byteList(input.groups.map((g) => data(g.key))),
        hasState: input.groups.map((g) => g.state !== null && g.state !== undefined),
        states: w.byteList(input.groups.map((g) => data(g.state ?? "") ?? new Uint8Array(0))),
        timingOut: input.groups.map((g) => g.timing_out ?? false),
        values: w.byteList(values),
        groupEnds: ends,
        batchTime: BigInt(input.batch_time ?? 0),
      });
      return [out.keep, w.items(out.states), w.records(out.output)];
    }
    case "cogroup": {
      const side = (name) => {
        const list = input.groups.flatMap((g) => g[name].map(record));
        let end = 0;
        return [w.pack(list), input.groups.map((g) => (end += g[name].length))];
      };
      const [left, leftEnds] = side("left");
      const [right, rightEnds] = side("right");
      const keys = w.byteList(input.groups.map((g) => data(g.key)));
      return w.records(w.runCogroup(operator, { keys, left, leftEnds, right, rightEnds }));
    }
    case "keyed-process": {
      const run = (name, of) => {
        const flat = input.groups.flatMap((g) => (g[name] ?? []).map(of));
        let end = 0;
        return [flat, input.groups.map((g) => (end += (g[name] ?? []).length))];
      };
      const [recs, recordEnds] = run("records", record);
      const [fired, firedEnds] = run("fired", BigInt);
      const [pending, pendingEnds] = run("pending", BigInt);
      const out = w.runProcess(operator, {
        keys: w.byteList(input.groups.map((g) => data(g.key))),
        hasState: input.groups.map((g) => g.state !== null && g.state !== undefined),
        states: w.byteList(input.groups.map((g) => data(g.state ?? "") ?? new Uint8Array(0))),
        records: w.pack(recs),
        recordEnds,
        fired: BigInt64Array.from(fired),
        firedEnds,
        pending: BigInt64Array.from(pending),
        pendingEnds,
        watermark: input.watermark === undefined ? undefined : BigInt(input.watermark),
        batchTime: BigInt(input.batch_time ?? 0),
      });
      const timers = [];
      let first = 0;
      for (const end of out.timerEnds) {
        timers.push(Array.from(out.timers.slice(first, end), Number));
        first = end;
      }
      return [out.keep, w.items(out.states), timers, w.records(out.output)];
    }
  }
  throw new Error(`unknown kind ${kind}`);
}

function expected(kind, want) {
  if (kind === "map" || kind === "flat-map") return want.map(record);
  if (kind === "filter") return want;
  if (kind === "reduce") return want.map(data);
  if (kind === "cogroup") return want.map(record);
  if (kind === "keyed-process") return [want.keep, want.states.map(data), want.timers, want.records.map(record)];
  return [want.keep, want.states.map(data), want.records.map(record)];
}

function check(kind, cls, c) {
  const operator = new cls();
  let refused = null;
  try {
    operator.init(new w.Params(Object.entries(c.params ?? {})));
  } catch (e) {
    refused = w.describe(e);
  }
  if (c.init_error) {
    if (refused === null) return ["init accepted params it must refuse"];
    const missing = c.init_error.contains.filter((s) => !refused.includes(s));
    return missing.length ? [`init refused with ${JSON.stringify(refused)}, without ${missing}`] : [];
  }
  if (refused !== null) return [`init refused: ${refused}`];
  let got;
  try {
    got = call(kind, operator, c.input);
  } catch (e) {
    if (!(e instanceof w.Failed)) throw e;
    if (!c.error) return [`failed on record ${e.index}: ${e.message}`];
    const problems = [];
    if (e.index !== c.error.record) problems.push(`failed on record ${e.index}, expected ${c.error.record}`);
    const missing = c.error.contains.filter((s) => !e.message.includes(s));
    if (missing.length) problems.push(`error ${JSON.stringify(e.message)} does not say ${missing}`);
    return problems;
  }
  if (c.error) return [`succeeded, expected to fail on record ${c.error.record}`];
  const want = expected(kind, c.output);
  return shown(got) === shown(want) ? [] : [`returned ${shown(got)}, expected ${shown(want)}`];
}

/** Every case of `kit` (parsed JSON): a list of [case, problem]. */
export function run(kit, cls) {
  const problems = [];
  for (const c of kit.cases) {
    const found = kit.kind === "layout" ? checkLayout(c) : check(kit.kind, cls, c);
    for (const p of found) problems.push([c.name, p]);
  }
  return problems;
}

/** Imports an operator's app.js and returns the class it exports. */
export async function loadApp(path) {
  await import(pathToFileURL(path).href);
  if (!w.exported.cls) throw new Error(`${path} exports no operator`);
  return w.exported.cls;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [kitPath, app] = process.argv.slice(2);
  if (!kitPath) {
    console.error("usage: node conformance.js KIT.json [app.js]");
    process.exit(2);
  }
  const kit = JSON.parse(readFileSync(kitPath, "utf8"));
  const problems = run(kit, app ? await loadApp(app) : null);
  for (const [c, p] of problems) console.log(`${kitPath}: ${c}: ${p}`);
  const failing = new Set(problems.map(([c]) => c)).size;
  console.log(`${kitPath}: ${kit.cases.length - failing} of ${kit.cases.length} cases pass`);
  process.exit(problems.length ? 1 : 0);
}
