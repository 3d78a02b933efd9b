//! `wasmstream new`: scaffold an operator project, in Rust ([`rust`]),
//! Python ([`python`]), JavaScript ([`js`]) or C ([`c`]), for any operator
//! kind, with a sample pipeline that builds it with `wasmstream build` and
//! runs it over a sample input.

mod c;
mod js;
mod python;
mod rust;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The operator kind.
    #[arg(value_enum)]
    kind: Kind,
    /// The operator's name; also the folder created (letters, digits, `-`, `_`).
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the folder [default: the current directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Rust: path to the wasmstream-guest SDK crate [default: the one this binary was built from]
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    Map,
    Filter,
    FlatMap,
    Reduce,
    UpdateState,
    /// Two keyed streams, key by key (a `cogroup` or join stage).
    Cogroup,
    /// Per-key state with event-time timers (a `process_by_key` stage).
    KeyedProcess,
}

impl Kind {
    /// The stage kind a manifest names.
    fn stage(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Filter => "filter",
            Kind::FlatMap => "flat_map",
            Kind::Reduce => "reduce_by_key",
            Kind::UpdateState => "update_state_by_key",
            Kind::Cogroup => "cogroup",
            Kind::KeyedProcess => "process_by_key",
        }
    }

    /// What the sample pipeline reads: numbers for a reduce (keyless
    /// records fold into one), JSON lines keyed by user for a cogroup (two
    /// folders, one per side) and with event times for a keyed process,
    /// lines of text for the rest.
    fn sample_input(self) -> Vec<(String, String)> {
        let file = |path: &str, text: &str| (path.to_owned(), text.to_owned());
        match self {
            Kind::Reduce => vec![file("input/sample.txt", "3\n4\n5\n")],
            Kind::Cogroup => vec![
                file(
                    "input/orders/sample.json",
                    "{\"user\":\"ada\",\"item\":\"book\"}\n{\"user\":\"bob\",\"item\":\"pen\"}\n{\"user\":\"ada\",\"item\":\"ink\"}\n",
                ),
                file(
                    "input/users/sample.json",
                    "{\"user\":\"ada\",\"city\":\"Paris\"}\n{\"user\":\"cy\",\"city\":\"Rome\"}\n",
                ),
            ],
            Kind::KeyedProcess => vec![file(
                "input/sample.json",
                "{\"user\":\"ada\",\"ts\":1000}\n{\"user\":\"bob\",\"ts\":2000}\n{\"user\":\"ada\",\"ts\":5000}\n",
            )],
            _ => vec![file("input/sample.txt", "Hello World\nWasm Streams\n")],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
    C,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "{:?} is not a valid operator name; use letters, digits, `-` and `_`",
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
    let mut files = match args.lang {
        Lang::Rust => rust::files(args.kind, &args.name, args.sdk.as_deref())?,
        Lang::Python => python::files(args.kind, &args.name),
        Lang::Js => js::files(args.kind, &args.name),
        Lang::C => c::files(args.kind, &args.name),
    };
    files.extend(args.kind.sample_input());
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files are in a folder"))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "created {} operator `{}` in {} ({})",
        args.kind.stage(),
        args.name,
        root.display(),
        match args.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    );
    let manifest = root.join("manifest.toml");
    println!("build it:  wasmstream build {}", manifest.display());
    println!("run it:    wasmstream run {}", manifest.display());
    Ok(ExitCode::SUCCESS)
}

/// The sample pipeline: the sample input through the operator
/// (`component`, built as `build` says) to the console.
fn manifest(kind: Kind, name: &str, component: &Path, build: &str) -> String {
    let note = match kind {
        Kind::Reduce | Kind::UpdateState => {
            "\n# Lines from files have no key, so they all count as one key here; a\n# real pipeline keys its records in an earlier stage (split-words with\n# emit = \"pairs\", say).\n"
        }
        _ => "",
    };
    let (reads, sources, inputs) = match kind {
        Kind::Cogroup => (
            "the orders and users in input/, by user,",
            r#"[[sources]]
id = "orders"
kind = "directory"
path = "input/orders"
watch = false
key_field = "user"

[[sources]]
id = "users"
kind = "directory"
path = "input/users"
watch = false
key_field = "user"
"#,
            "left = \"orders\"\nright = \"users\"",
        ),
        Kind::KeyedProcess => (
            "the events in input/, by user and in event time,",
            r#"[[sources]]
id = "events"
kind = "directory"
path = "input"
watch = false
key_field = "user"
timestamp_field = "ts"
"#,
            "input = \"events\"\nwatermark = \"0s\"",
        ),
        _ => (
            "input/*.txt",
            r#"[[sources]]
id = "lines"
kind = "directory"
path = "input"
watch = false
"#,
            "input = \"lines\"",
        ),
    };
    format!(
        r#"# Runs the operator over {reads} and prints the result.
[pipeline]
name = "{name}"
trigger = "available-now"
{note}
{sources}
[[stages]]
id = "op"
kind = "{}"
{inputs}
component = {:?}
build = {build}

[[sinks]]
id = "console"
kind = "stdout"
input = "op"
max_records = 100
"#,
        kind.stage(),
        component.display().to_string(),
    )
}
