//! Story: a user (or a server they deploy to) asks what a manifest
//! resolves to. `wasmstream validate --json` prints the plan: paths
//! resolved, each component named by its content hash, the graph in order.

use sha2::{Digest as _, Sha256};

use crate::support::{repo, run};

#[test]
fn validate_json_prints_the_resolved_plan() {
    let out = run(&["validate", "--json", "examples/wordcount/manifest.toml"]);
    assert!(out.status.success(), "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(plan["name"], "wordcount");
    assert_eq!(plan["interval"], "1s");
    let stages = plan["stages"].as_array().expect("stages");
    let ids: Vec<&str> = stages.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["words", "lower", "pairs", "counts"]);

    // The counting stage: an exchange over 4 partitions, its component
    // named by path and by the SHA-256 of the file's bytes.
    let counts = &stages[3];
    assert_eq!(counts["parallelism"], 4);
    assert_eq!(counts["inputs"], serde_json::json!([{ "stage": "pairs" }]));
    let component = &counts["step"]["reduce_by_key"];
    let path = component["path"].as_str().expect("a path");
    assert!(
        path.ends_with("target/wasm32-wasip2/release/sum.wasm"),
        "{path}"
    );
    let bytes = std::fs::read(repo().join(path)).expect("the component file");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(component["digest"], digest.as_str());
    assert_eq!(component["limits"]["cpu"], "1s");
}
