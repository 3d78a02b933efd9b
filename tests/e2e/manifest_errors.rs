//! Story: a user makes a mistake in a manifest. `wasmstream validate` (and
//! `run`) names the file, the line and the field, for every mistake at once.
//!
//! Each bad manifest lives in `tests/manifests/` beside the exact error it
//! must produce (`<name>.err`).

use crate::support::{repo, run};

fn expect_error(name: &str) {
    let manifest = format!("tests/manifests/{name}.toml");
    let expected = std::fs::read_to_string(repo().join(format!("tests/manifests/{name}.err")))
        .expect("expected error file");
    let out = run(&["validate", &manifest]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "validate should exit 2 on {manifest}; stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.stderr, expected, "wrong error for {manifest}");
}

macro_rules! bad_manifests {
    ($($test:ident => $file:literal,)*) => {$(
        #[test]
        fn $test() {
            expect_error($file);
        }
    )*};
}

bad_manifests! {
    unknown_field_is_named_with_its_line => "unknown-field",
    missing_plugin_file_is_named => "missing-plugin-file",
    component_of_the_wrong_kind_is_refused => "wrong-kind",
    interval_below_10ms_is_refused => "invalid-interval",
    cycle_between_stages_is_refused => "cycle",
    unknown_input_lists_the_known_ones => "unknown-input",
    params_rejected_by_init_are_reported => "params-rejected",
    file_that_is_not_a_component_is_named => "not-a-component",
    window_lengths_must_fit_the_batch_interval => "window-not-a-multiple",
    kafka_settings_are_checked => "kafka-settings",
    exactly_once_needs_checkpoints => "exactly-once-settings",
    exactly_once_needs_acks_from_all_replicas => "exactly-once-acks",
    reload_settings_and_shadows_are_checked => "reload-settings",
    dead_letters_need_a_reader => "dead-letter-unread",
    every_error_is_reported_at_once => "many-errors",
    toml_syntax_error_has_its_line => "syntax",
    missing_source_directory_is_named => "missing-directory",
    settings_for_another_kind_are_reported => "setting-for-another-kind",
    // Issue 11, holes 6, 7, 10 and 13.
    sizes_a_manifest_sets_have_upper_bounds => "sizes-out-of-bounds",
    a_pipeline_name_is_an_id_not_a_path => "pipeline-name-path",
    two_sinks_cannot_write_the_same_folder => "sinks-same-folder",
    the_checkpoint_folder_is_one_of_its_own => "checkpoint-dir-root",
    // Issue 16: a join's two sides, keyed and sliding alike; event times.
    joins_and_event_time_stages_get_the_inputs_they_need => "join-inputs",
}

#[test]
fn run_refuses_a_bad_manifest_with_the_same_errors() {
    let out = run(&["run", "tests/manifests/cycle.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        out.stderr,
        std::fs::read_to_string(repo().join("tests/manifests/cycle.err")).unwrap()
    );
}

#[test]
fn a_good_manifest_validates() {
    let out = run(&["validate", "examples/wordcount/manifest.toml"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "examples/wordcount/manifest.toml: ok: pipeline `wordcount`, 1 sources, 4 stages (words → lower → pairs fused), 1 sinks, batch interval 1000 ms\n"
    );
}

#[test]
fn every_subcommand_has_help() {
    // Every subcommand the top-level help lists, so a new one is covered
    // without editing this test.
    let top = run(&["--help"]);
    assert!(top.status.success(), "--help: {}", top.stderr);
    let listed: Vec<&str> = top
        .stdout
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a Commands: section")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|&name| name != "help")
        .collect();
    for expected in ["run", "validate", "new", "build", "status", "promote"] {
        assert!(
            listed.contains(&expected),
            "{expected} is not listed: {listed:?}"
        );
    }
    for name in listed {
        let command = [name, "--help"];
        let out = run(&command);
        assert!(out.status.success(), "{command:?}: {}", out.stderr);
        assert!(
            out.stdout.contains("Usage: wasmstream"),
            "{command:?} printed:\n{}",
            out.stdout
        );
    }
}
