//! Story: an operator author follows the README tutorial: scaffold a new
//! operator, build it with one command, run it.

use crate::support::{run, scratch};

#[test]
fn new_operator_builds_with_one_command_and_runs() {
    let dir = scratch("tutorial");
    let out = run(&["new", "map", "shout", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    let crate_dir = dir.join("shout");
    assert!(
        out.stdout.contains("created map operator `shout`"),
        "{}",
        out.stdout
    );

    let manifest = crate_dir.join("manifest.toml");
    let manifest = manifest.to_str().unwrap();
    let built = run(&["build", manifest]);
    assert!(
        built.status.success(),
        "wasmstream build failed:\n{}",
        built.stderr
    );

    let ran = run(&["run", manifest]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let records: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| !l.starts_with('-') && !l.starts_with("Time:") && !l.is_empty())
        .collect();
    assert_eq!(records, ["HELLO WORLD", "WASM STREAMS"]);
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
