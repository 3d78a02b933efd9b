//! JavaScript operators: an `app.js` using the JavaScript SDK (copied in
//! beside it, for local tests; a build always uses the binary's own), built
//! by `wasmstream build` (`build = { lang = "js" }`) into `build/`.

use std::path::Path;

use super::{Kind, manifest};

/// The files of a new JavaScript operator `name`.
pub(super) fn files(kind: Kind, name: &str) -> Vec<(String, String)> {
    let component = Path::new("build").join(format!("{}.wasm", name.replace('-', "_")));
    let mut manifest = manifest(kind, name, &component, r#"{ lang = "js", workdir = "." }"#);
    // SpiderMonkey starts at about 64 MiB, the default limit.
    manifest = manifest.replace(
        "\nbuild = {",
        "\nlimits = { memory = \"128MiB\" }\nbuild = {",
    );
    vec![
        ("app.js".into(), source(kind).into()),
        ("manifest.toml".into(), manifest),
        (
            "package.json".into(),
            format!("{{ \"name\": \"{name}\", \"private\": true, \"type\": \"module\" }}\n"),
        ),
        (
            "wasmstream.js".into(),
            include_str!("../../../../guest-sdk/js/wasmstream.js").into(),
        ),
        (
            "unicode.js".into(),
            include_str!("../../../../guest-sdk/js/unicode.js").into(),
        ),
        (".gitignore".into(), "build/\n".into()),
    ]
}

fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => {
            r#"// A map operator: one record in, one record out.

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.Map {
  map(record) {
    return record.withValue(record.valueStr().toUpperCase());
  }
}

export const map = wasmstream.exportMap(Operator);
"#
        }
        Kind::Filter => {
            r#"// A filter operator: keeps some records, drops the rest.

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.Filter {
  init(params) {
    params.only(["contains"]);
    this.needle = params.get("contains", "");
  }

  filter(record) {
    return record.valueStr().includes(this.needle);
  }
}

export const filter = wasmstream.exportFilter(Operator);
"#
        }
        Kind::FlatMap => {
            r#"// A flat-map operator: one record in, zero or more out.

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.FlatMap {
  flatMap(record, out) {
    for (const word of record.valueStr().split(/\s+/).filter(Boolean)) {
      out.emit(new wasmstream.Record(word, { key: word }));
    }
  }
}

export const flatMap = wasmstream.exportFlatMap(Operator);
"#
        }
        Kind::Reduce => {
            r#"// A reduce operator: an associative combine of two values of one key
// (here: integers, summed).

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.Reduce {
  reduce(key, a, b) {
    return wasmstream.formatInteger(wasmstream.parseInteger(a) + wasmstream.parseInteger(b));
  }
}

export const reduce = wasmstream.exportReduce(Operator);
"#
        }
        Kind::UpdateState => {
            r#"// An update-state operator: a state per key across batches (here: how
// many records each key has had so far, emitted each batch).

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.UpdateState {
  update(key, out) {
    const before = key.state === null ? 0 : wasmstream.parseInteger(key.state);
    const count = wasmstream.formatInteger(before + key.values.length);
    out.emit(new wasmstream.Record(count, { key: key.key }));
    return count;
  }
}

export const updateState = wasmstream.exportUpdateState(Operator);
"#
        }
        Kind::Cogroup => {
            r#"// A cogroup operator: two keyed streams, key by key (here: how many
// records each side has for each key).

import * as wasmstream from "./wasmstream.js";

class Operator extends wasmstream.Cogroup {
  cogroup(key, left, right, out) {
    out.emit(new wasmstream.Record(`${left.length} left, ${right.length} right`, { key }));
  }
}

export const cogroup = wasmstream.exportCogroup(Operator);
"#
        }
        Kind::KeyedProcess => {
            r#"// A keyed-process operator: a state per key with event-time timers
// (here: each key's records are counted until it has been quiet for ten
// seconds of event time, then the count is emitted).

import * as wasmstream from "./wasmstream.js";

const QUIET = 10000;

class Operator extends wasmstream.KeyedProcess {
  process(key, timers, out) {
    let count = key.state === null ? 0 : wasmstream.parseInteger(key.state);
    if (key.fired.length > 0 && count > 0) {
      const timestamp = key.fired.at(-1);
      out.emit(new wasmstream.Record(wasmstream.formatInteger(count), { key: key.key, timestamp }));
      count = 0;
    }
    if (key.records.length > 0) {
      count += key.records.length;
      timers.clear();
      timers.set(Math.max(...key.records.map((r) => r.timestamp)) + QUIET);
    }
    return count > 0 ? wasmstream.formatInteger(count) : null;
  }
}

export const keyedProcess = wasmstream.exportKeyedProcess(Operator);
"#
        }
    }
}
