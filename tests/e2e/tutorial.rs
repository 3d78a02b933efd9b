//! Story: an operator author follows the README tutorial: scaffold a new
//! operator of any kind, in Rust, Python, JavaScript or C, build it with one
//! command, run it over its sample input.

use crate::support::{run, scratch};

/// What a scaffolded operator prints over its sample input, sorted (keys
/// come in no set order).
fn scaffold_output(lang: &str, kind: &str) -> Vec<String> {
    let dir = scratch(&format!("tutorial-{lang}-{kind}"));
    let name = format!("my-{kind}").replace('_', "-");
    let out = run(&[
        "new",
        kind,
        &name,
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("operator `{name}`")),
        "{}",
        out.stdout
    );
    let manifest = dir.join(&name).join("manifest.toml");
    let manifest = manifest.to_str().unwrap();
    let built = run(&["build", manifest]);
    assert!(
        built.status.success(),
        "wasmstream build of the {lang} {kind} failed:\n{}",
        built.stderr
    );
    let ran = run(&["run", manifest]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let mut lines: Vec<String> = ran
        .stdout
        .lines()
        .filter(|l| !l.starts_with('-') && !l.starts_with("Time:") && !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// What each kind's template makes of its sample input, in any language,
/// sorted.
const TEMPLATES: &[(&str, &[&str])] = &[
    ("map", &["HELLO WORLD", "WASM STREAMS"]),
    ("filter", &["Hello World", "Wasm Streams"]),
    (
        "flat-map",
        &[
            "(Hello,Hello)",
            "(Streams,Streams)",
            "(Wasm,Wasm)",
            "(World,World)",
        ],
    ),
    ("reduce", &["12"]),
    ("update-state", &["(,2)"]),
    // ada has two orders and a user record, bob an order, cy a user.
    (
        "cogroup",
        &[
            "(ada,2 left, 1 right)",
            "(bob,1 left, 0 right)",
            "(cy,0 left, 1 right)",
        ],
    ),
    // Each user's events, counted once the input ends and every timer
    // fires.
    ("keyed-process", &["(ada,2)", "(bob,1)"]),
];

#[test]
fn every_rust_template_builds_with_one_command_and_runs() {
    for (kind, expected) in TEMPLATES {
        assert_eq!(scaffold_output("rust", kind), *expected, "the Rust {kind}");
    }
}

#[test]
fn every_python_template_builds_with_one_command_and_runs() {
    for (kind, expected) in TEMPLATES {
        assert_eq!(
            scaffold_output("python", kind),
            *expected,
            "the Python {kind}"
        );
    }
}

#[test]
fn every_javascript_template_builds_with_one_command_and_runs() {
    for (kind, expected) in TEMPLATES {
        assert_eq!(
            scaffold_output("js", kind),
            *expected,
            "the JavaScript {kind}"
        );
    }
}

#[test]
fn every_c_template_builds_with_one_command_and_runs() {
    for (kind, expected) in TEMPLATES {
        assert_eq!(scaffold_output("c", kind), *expected, "the C {kind}");
    }
}

#[test]
fn new_refuses_to_overwrite() {
    let dir = scratch("tutorial-exists");
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    let out = run(&["new", "filter", "taken", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("taken already exists"),
        "{}",
        out.stderr
    );
}
