//! `wasmstream new`: scaffold an operator crate that builds with one
//! command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The operator kind.
    #[arg(value_enum)]
    kind: Kind,
    /// The crate name; also the folder created (letters, digits, `-`, `_`).
    name: String,
    /// Where to create the folder [default: the current directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Path to the wasmstream-guest SDK crate [default: the one this binary was built from]
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Map,
    Filter,
    FlatMap,
    Reduce,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "{:?} is not a valid crate name; use letters, digits, `-` and `_`",
            args.name
        );
    }
    let root = args.dir.clone().unwrap_or_default().join(&args.name);
    if root.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            root.display()
        );
    }
    let sdk = match &args.sdk {
        Some(sdk) => sdk.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk"),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("cannot find the guest SDK at {}; pass --sdk", sdk.display()))?;
    let crate_name = args.name.replace('-', "_");

    let files = [
        ("Cargo.toml", cargo_toml(&args.name, &sdk)),
        (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ("src/lib.rs", source(args.kind)),
        ("manifest.toml", manifest(args.kind, &crate_name)),
        ("input/sample.txt", "Hello World\nWasm Streams\n".to_owned()),
    ];
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files are in a folder"))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "created {} operator `{}` in {}",
        kind_name(args.kind),
        args.name,
        root.display()
    );
    println!("build it:  cd {} && cargo build --release", root.display());
    println!(
        "run it:    wasmstream run {}",
        root.join("manifest.toml").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds for wasm32-wasip2 by default, with Wasm SIMD so byte loops
/// vectorise (see the SDK's `text` module).
const CARGO_CONFIG: &str = r#"[build]
target = "wasm32-wasip2"

[target.wasm32-wasip2]
rustflags = ["-C", "target-feature=+simd128"]
"#;

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => "map",
        Kind::Filter => "filter",
        Kind::FlatMap => "flat_map",
        Kind::Reduce => "reduce_by_key",
    }
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
        Kind::Reduce => r#"//! A reduce operator: an associative combine of two values of one key.

use wasmstream_guest::{Error, Params, Reduce, export_reduce};

struct Operator;

impl Reduce for Operator {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Operator)
    }

    fn reduce(&mut self, _key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        let a: i64 = std::str::from_utf8(a)?.parse()?;
        let b: i64 = std::str::from_utf8(b)?.parse()?;
        Ok((a + b).to_string().into_bytes())
    }
}

export_reduce!(Operator);
"#
        .to_owned(),
    }
}

fn manifest(kind: Kind, crate_name: &str) -> String {
    let wasm = format!("target/wasm32-wasip2/release/{crate_name}.wasm");
    let (stage_input, extra) = match kind {
        // A reduce needs keyed records: key each line by itself, value 1.
        Kind::Reduce => (
            "lines",
            "\n# Each line is its own key here; a real pipeline keys records in an earlier stage.\n",
        ),
        _ => ("lines", ""),
    };
    format!(
        r#"# Runs the operator over input/*.txt and prints the result.
[pipeline]
name = "{crate_name}"
batch_interval = "100ms"
{extra}
[[sources]]
id = "lines"
kind = "directory"
path = "input"
watch = false

[[stages]]
id = "op"
kind = "{}"
input = "{stage_input}"
component = "{wasm}"
build = {{ workdir = "." }}

[[sinks]]
id = "console"
kind = "stdout"
input = "op"
max_records = 100
"#,
        kind_name(kind)
    )
}
