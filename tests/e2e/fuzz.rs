//! Story: the fuzz targets' kept inputs (seeds, and every case a fuzzer
//! found) stay fixed. Each target of `wasmstream::fuzz` replays every file
//! in `tests/fuzz/corpus/<target>/`; a panic there is a regression.
//! `tests/fuzz/run <target> [seconds]` fuzzes further.

use crate::support::repo;

#[test]
fn every_kept_fuzz_input_reads_without_a_panic() {
    let fuzz_crate = std::fs::read_to_string(repo().join("tests/fuzz/Cargo.toml")).unwrap();
    for (name, target) in wasmstream::fuzz::TARGETS {
        assert!(
            fuzz_crate.contains(&format!("name = \"{name}\"")),
            "tests/fuzz/Cargo.toml has no target {name}"
        );
        let dir = repo().join("tests/fuzz/corpus").join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no kept inputs in {}", dir.display());
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            let replayed = std::panic::catch_unwind(|| target(&bytes));
            assert!(replayed.is_ok(), "{} panicked", input.display());
        }
    }
}
