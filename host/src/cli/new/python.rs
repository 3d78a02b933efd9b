//! Python operators: an `app.py` using the Python SDK, built by
//! `wasmstream build` (`build = { lang = "python" }`) into `build/`.

use std::path::Path;

use super::{Kind, manifest};

/// The files of a new Python operator `name`.
pub(super) fn files(kind: Kind, name: &str) -> Vec<(String, String)> {
    let component = Path::new("build").join(format!("{}.wasm", name.replace('-', "_")));
    vec![
        ("app.py".into(), source(kind).into()),
        (
            "manifest.toml".into(),
            manifest(
                kind,
                name,
                &component,
                r#"{ lang = "python", workdir = "." }"#,
            ),
        ),
        (".gitignore".into(), "build/\n__pycache__/\n".into()),
    ]
}

fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => {
            r#""""A map operator: one record in, one record out."""

import wasmstream


class Operator(wasmstream.Map):
    def map(self, record):
        return record.with_value(record.value_str().upper())


Map = wasmstream.export(Operator)
"#
        }
        Kind::Filter => {
            r#""""A filter operator: keeps some records, drops the rest."""

import wasmstream


class Operator(wasmstream.Filter):
    def init(self, params):
        params.only(["contains"])
        self.needle = params.get("contains", "")

    def filter(self, record):
        return self.needle in record.value_str()


Filter = wasmstream.export(Operator)
"#
        }
        Kind::FlatMap => {
            r#""""A flat-map operator: one record in, zero or more out."""

import wasmstream


class Operator(wasmstream.FlatMap):
    def flat_map(self, record, out):
        for word in record.value_str().split():
            out.emit(wasmstream.Record(word, key=word))


FlatMap = wasmstream.export(Operator)
"#
        }
        Kind::Reduce => {
            r#""""A reduce operator: an associative combine of two values of one key
(here: integers, summed)."""

import wasmstream
from wasmstream import text


class Operator(wasmstream.Reduce):
    def reduce(self, key, a, b):
        return text.format_int(text.parse_int(a) + text.parse_int(b))


Reduce = wasmstream.export(Operator)
"#
        }
        Kind::UpdateState => {
            r#""""An update-state operator: a state per key across batches (here: how
many records each key has had so far, emitted each batch)."""

import wasmstream
from wasmstream import text


class Operator(wasmstream.UpdateState):
    def update(self, key, out):
        before = 0 if key.state is None else text.parse_int(key.state)
        count = text.format_int(before + len(key.values))
        out.emit(wasmstream.Record(count, key=key.key))
        return count


UpdateState = wasmstream.export(Operator)
"#
        }
        Kind::Cogroup => {
            r#""""A cogroup operator: two keyed streams, key by key (here: how many
records each side has for each key)."""

import wasmstream


class Operator(wasmstream.Cogroup):
    def cogroup(self, key, left, right, out):
        out.emit(wasmstream.Record(f"{len(left)} left, {len(right)} right", key=key))


Cogroup = wasmstream.export(Operator)
"#
        }
        Kind::KeyedProcess => {
            r#""""A keyed-process operator: a state per key with event-time timers
(here: each key's records are counted until it has been quiet for ten
seconds of event time, then the count is emitted)."""

import wasmstream
from wasmstream import text

QUIET = 10_000


class Operator(wasmstream.KeyedProcess):
    def process(self, key, timers, out):
        count = 0 if key.state is None else text.parse_int(key.state)
        if key.fired and count:
            out.emit(wasmstream.Record(text.format_int(count), key=key.key, timestamp=key.fired[-1]))
            count = 0
        if key.records:
            count += len(key.records)
            timers.clear()
            timers.set(max(r.timestamp for r in key.records) + QUIET)
        return text.format_int(count) if count else None


KeyedProcess = wasmstream.export(Operator)
"#
        }
    }
}
