//! Rust operators: a crate using the SDK (`guest-sdk`), built by cargo
//! into a target folder all scaffolds share, so a second operator does
//! not build the SDK and its dependencies again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Kind, manifest};
use crate::cli::build::tools_dir;

/// The files of a new Rust operator `name`; the SDK at `sdk`, else the
/// one this binary was built from.
pub(super) fn files(kind: Kind, name: &str, sdk: Option<&Path>) -> Result<Vec<(String, String)>> {
    let sdk = match sdk {
        Some(sdk) => sdk.to_owned(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk"),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("cannot find the guest SDK at {}; pass --sdk", sdk.display()))?;
    let target = shared_target();
    let component = target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    Ok(vec![
        ("Cargo.toml".into(), cargo_toml(name, &sdk)),
        (".cargo/config.toml".into(), cargo_config(&target)),
        ("src/lib.rs".into(), source(kind)),
        (
            "manifest.toml".into(),
            manifest(kind, name, &component, r#"{ workdir = "." }"#),
        ),
    ])
}

/// The Cargo target folder every scaffolded operator builds into.
fn shared_target() -> PathBuf {
    tools_dir().join("cargo-target")
}

/// Builds for wasm32-wasip2 by default, with Wasm SIMD so byte loops
/// vectorise (see the SDK's `text` module), into the shared target.
fn cargo_config(target: &Path) -> String {
    format!(
        r#"[build]
target = "wasm32-wasip2"
target-dir = {:?}

[target.wasm32-wasip2]
rustflags = ["-C", "target-feature=+simd128"]
"#,
        target.display().to_string()
    )
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
wasmstream-guest = {{ path = "{}" }}

[profile.release]
opt-level = 3
lto = true
codegen-units = 1

# A standalone crate, even when created inside another workspace.
[workspace]
"#,
        sdk.display()
    )
}

fn source(kind: Kind) -> String {
    match kind {
        Kind::Map => r#"//! A map operator: one record in, one record out.

use wasmstream_guest::{Error, Map, Params, Record, export_map};

struct Operator;

impl Map for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        let upper = record.value_str()?.to_uppercase();
        Ok(record.with_value(upper))
    }
}

export_map!(Operator);
"#
        .to_owned(),
        Kind::Filter => r#"//! A filter operator: keeps some records, drops the rest.

use wasmstream_guest::{Error, Filter, Params, Record, export_filter};

struct Operator {
    needle: String,
}

impl Filter for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["contains"])?;
        Ok(Operator { needle: params.get("contains").unwrap_or("").to_owned() })
    }

    fn filter(&mut self, record: &Record<'_>) -> Result<bool, Error> {
        Ok(record.value_str()?.contains(&self.needle))
    }
}

export_filter!(Operator);
"#
        .to_owned(),
        Kind::FlatMap => r#"//! A flat-map operator: one record in, zero or more out.

use wasmstream_guest::{Emitter, Error, FlatMap, Params, Record, export_flat_map};

struct Operator;

impl FlatMap for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error> {
        for word in record.value_str()?.split_whitespace() {
            out.emit(Record::new(word).with_key(word));
        }
        Ok(())
    }
}

export_flat_map!(Operator);
"#
        .to_owned(),
        Kind::Reduce => r#"//! A reduce operator: an associative combine of two values of one key
//! (here: integers, summed).

use wasmstream_guest::{Error, Params, Reduce, export_reduce, text};

struct Operator;

impl Reduce for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn reduce(&mut self, _key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        let sum = text::parse_i64(a)? + text::parse_i64(b)?;
        let mut out = Vec::new();
        text::write_i64(sum, &mut out);
        Ok(out)
    }
}

export_reduce!(Operator);
"#
        .to_owned(),
        Kind::UpdateState => {
            r#"//! An update-state operator: a state per key across batches (here: how
//! many records each key has had so far, emitted each batch).

use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::update_state::KeyUpdate;
use wasmstream_guest::{Emitter, Error, Params, Record, UpdateState, export_update_state};

struct Operator;

impl UpdateState for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn update(&mut self, key: KeyUpdate<'_>, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
        let before = key.state.map(parse_i64).transpose()?.unwrap_or(0);
        let mut count = Vec::new();
        write_i64(before + key.values.len() as i64, &mut count);
        out.emit(Record::new(count.as_slice()).with_key(key.key));
        Ok(Some(count))
    }
}

export_update_state!(Operator);
"#
            .to_owned()
        }
        Kind::Cogroup => r#"//! A cogroup operator: two keyed streams, key by key (here: how many
//! records each side has for each key).

use wasmstream_guest::{Cogroup, Emitter, Error, Params, Record, export_cogroup};

struct Operator;

impl Cogroup for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn cogroup(
        &mut self,
        key: &[u8],
        left: &[Record<'_>],
        right: &[Record<'_>],
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let counts = format!("{} left, {} right", left.len(), right.len());
        out.emit(Record::new(counts).with_key(key));
        Ok(())
    }
}

export_cogroup!(Operator);
"#
        .to_owned(),
        Kind::KeyedProcess => {
            r#"//! A keyed-process operator: a state per key with event-time timers
//! (here: each key's records are counted until it has been quiet for ten
//! seconds of event time, then the count is emitted).

use wasmstream_guest::keyed_process::{KeyEvents, Timers};
use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::{Emitter, Error, KeyedProcess, Params, Record, export_keyed_process};

const QUIET: i64 = 10_000;

struct Operator;

impl KeyedProcess for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn process(
        &mut self,
        key: KeyEvents<'_>,
        timers: &mut Timers,
        out: &mut Emitter,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut count = key.state.map(parse_i64).transpose()?.unwrap_or(0);
        if let Some(&fired) = key.fired.last()
            && count > 0
        {
            let mut text = Vec::new();
            write_i64(count, &mut text);
            out.emit(Record {
                timestamp: fired,
                ..Record::new(text).with_key(key.key)
            });
            count = 0;
        }
        if let Some(last) = key.records.iter().map(|r| r.timestamp).max() {
            count += key.records.len() as i64;
            timers.clear();
            timers.set(last + QUIET);
        }
        Ok((count > 0).then(|| {
            let mut state = Vec::new();
            write_i64(count, &mut state);
            state
        }))
    }
}

export_keyed_process!(Operator);
"#
            .to_owned()
        }
    }
}
