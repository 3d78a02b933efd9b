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
    }
}
