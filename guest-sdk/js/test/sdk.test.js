// The JavaScript SDK's own tests, run with Node's runner:
//
//     node --test guest-sdk/js/test/
//
// They run the SDK in Node, outside any component: params, records and
// the batch layout, each kind's calls and errors, and the conformance kit
// (wit/conformance) against every stock operator's JavaScript port.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as w from "../wasmstream.js";
import { loadApp, run } from "../conformance.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const kit = (name) => JSON.parse(readFileSync(join(repo, "wit/conformance", `${name}.json`), "utf8"));

test("params are checked with the Rust SDK's messages", () => {
  const params = new w.Params([["feild", "x"], ["limit", "ten"]]);
  assert.throws(() => params.require("field"), { message: "param `field` is required" });
  assert.throws(() => params.only(["field"]), { message: "unknown param `feild`; expected one of: field" });
  assert.throws(() => params.only([]), { message: "unknown param `feild`; this operator takes none" });
  assert.throws(
    () => params.parse("limit", (v) => { if (!/^[0-9]+$/.test(v)) throw new Error("not a number"); return Number(v); }),
    { message: 'param `limit` = "ten": not a number' },
  );
});

class Upper extends w.Map {
  map(record) {
    if (record.valueStr() === "boom") throw new w.OperatorError("cannot shout boom");
    if (record.valueStr() === "bug") return record.missing.value;
    return record.withValue(record.valueStr().toUpperCase());
  }
}

test("an error names its record, and any exception its type", () => {
  const batch = w.pack(["a", "boom"].map((v) => new w.Record(v)));
  assert.throws(() => w.runMap(new Upper(), batch), (e) => e instanceof w.Failed && e.index === 1 && e.message === "cannot shout boom");
  const bug = w.pack([new w.Record("bug")]);
  assert.throws(() => w.runMap(new Upper(), bug), (e) => e.index === 0 && e.message.startsWith("TypeError: "));
});

test("words are Rust's words", () => {
  assert.deepEqual(w.words("It's a wide-open, café_au_lait 42!"), ["It's", "a", "wide", "open", "café_au_lait", "42"]);
  // As in Rust (char::is_alphanumeric): a Devanagari vowel sign joins its
  // word, a virama separates.
  assert.deepEqual(w.words("नमस्ते"), ["नमस", "ते"]);
});

test("the layout is packed and unpacked exactly", () => {
  assert.deepEqual(run(kit("layout")), []);
});

test("every JavaScript port passes its kit", async () => {
  const ports = readdirSync(join(repo, "plugins")).filter((p) => existsSync(join(repo, "plugins", p, "js/app.js")));
  assert.ok(ports.length >= 5, `${ports}`);
  for (const port of ports) {
    const cls = await loadApp(join(repo, "plugins", port, "js/app.js"));
    assert.deepEqual(run(kit(port), cls), [], port);
  }
});

test("a wrong expectation is reported with its case", async () => {
  const wrong = kit("split-words");
  wrong.cases[0].output[0].value = "TO";
  const cls = await loadApp(join(repo, "plugins/split-words/js/app.js"));
  const problems = run(wrong, cls);
  assert.equal(problems.length, 1);
  assert.equal(problems[0][0], "each word keeps its line's key, time and headers");
});

class Doubling extends w.UpdateState {
  update(key) {
    return key.state;
  }

  migrateState(fromVersion, state) {
    if (w.parseInteger(state) < 0) throw new w.OperatorError(`a negative count from ${fromVersion}`);
    return w.formatInteger(w.parseInteger(state) * 2);
  }
}

test("a migrate export converts every state with the live operator, or says why not", () => {
  const exported = w.exportUpdateState(Doubling);
  const migrate = w.exportMigrate(Doubling);
  exported.init([]);
  const states = w.byteList(["1", "21"].map((s) => w.bytes(s)));
  assert.deepEqual(w.items(migrate.migrateState("v1", states)).map((s) => new TextDecoder().decode(s)), ["2", "42"]);
  assert.throws(
    () => migrate.migrateState("v1", w.byteList([w.bytes("-1")])),
    (e) => e === "a negative count from v1",
  );
  assert.throws(() => w.exportMigrate(class NoHook extends w.UpdateState {}), {
    message: "NoHook defines no migrateState(fromVersion, state)",
  });
});
