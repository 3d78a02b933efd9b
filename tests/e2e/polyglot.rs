//! Story: an operator author writes operators in Python, JavaScript or C
//! instead of Rust, builds them with `wasmstream build`, and gets the same
//! results as the stock Rust operators; an exception (in C, an error
//! returned) names the record it failed on, a loop is stopped by the CPU
//! budget, and a running pipeline
//! can swap a Rust operator for its Python port without losing a record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{
    Running, batch_files, counts, fixture_in, install, manifest, output_lines, port, run, run_ok,
    scratch, toml_path, wasm,
};

/// Words as the stock split-words defines them (runs of letters, digits,
/// `'` and `_`), counted independently of any operator.
fn independent_count(text: &str) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '\'' || c == '_' {
            word.push(c);
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

/// Lines of text with punctuation, accents, digits and blank lines.
fn corpus(lines: usize) -> String {
    let words = [
        "to",
        "be",
        "or",
        "not",
        "It's",
        "café",
        "naïve_test",
        "42",
        "Zürich",
        "data",
    ];
    let mut text = String::new();
    for line in 0..lines {
        for w in 0..(line % 7) {
            text.push_str(words[(line * 3 + w * w) % words.len()]);
            text.push_str(if w % 3 == 0 { ", " } else { " " });
        }
        text.push('\n');
    }
    text
}

/// A pipeline in `dir` reading the files in `dir/in` through `stages`
/// (TOML) into files in `dir/out`, whose last stage is `last`.
fn pipeline(dir: &Path, extra: &str, stages: &str, last: &str) -> PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "polyglot"
trigger = "available-now"
{extra}

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false
max_batch_records = 40

{stages}

[[sinks]]
id = "out"
kind = "files"
input = "{last}"
path = "out"
"#
        ),
    )
}

/// The languages operators are ported to.
const LANGS: [&str; 3] = ["python", "js", "c"];

/// A stage's operator lines in `lang`: its component, and for JavaScript
/// the memory its engine needs (it starts at about 64 MiB, the default
/// limit).
fn operator(lang: &str, component: &Path) -> String {
    let limits = match lang {
        "js" => "\nlimits = { memory = \"128MiB\" }",
        _ => "",
    };
    format!("component = {}{limits}", toml_path(component))
}

/// Runs the same pipeline with the stock Rust operators and with their
/// ports to `lang` (each `component = {plugin}` line filled in), over
/// `input`; returns each run's batch files.
fn both_ways(
    lang: &str,
    test: &str,
    input: &str,
    stages: &str,
    last: &str,
    plugins: &[&str],
) -> [BTreeMap<String, std::collections::BTreeSet<String>>; 2] {
    let build = |lang: &str| {
        let dir = scratch(&format!("{test}-{lang}"));
        std::fs::create_dir_all(dir.join("in")).unwrap();
        std::fs::write(dir.join("in/input.txt"), input).unwrap();
        let mut stages = stages.to_owned();
        for plugin in plugins {
            let lines = match lang {
                "rust" => operator(lang, &wasm(&plugin.replace('-', "_"))),
                _ => operator(lang, &port(lang, plugin)),
            };
            stages = stages.replace(&format!("component = {{{plugin}}}"), &lines);
        }
        run_ok(&pipeline(&dir, "", &stages, last));
        batch_files(&dir.join("out"))
    };
    [build("rust"), build(lang)]
}

#[test]
fn split_words_in_python_javascript_and_c_counts_exactly_what_rust_counts() {
    for lang in LANGS {
        split_words_counts_as_rust(lang);
    }
}

fn split_words_counts_as_rust(lang: &str) {
    let text = corpus(500);
    let [rust, ported] = both_ways(
        lang,
        "wordcount",
        &text,
        r#"
[[stages]]
id = "words"
kind = "flat_map"
input = "in"
component = {split-words}

[[stages]]
id = "counts"
kind = "count_by_value"
input = "words"
"#,
        "counts",
        &["split-words"],
    );
    assert!(rust.len() > 5, "several batches: {}", rust.len());
    assert_eq!(ported, rust, "{lang}: batch by batch, the same counts");
    let lines = ported.values().flatten().map(String::as_str);
    assert_eq!(counts(lines), independent_count(&text), "{lang}");
}

#[test]
fn json_filter_in_python_javascript_and_c_keeps_exactly_what_rust_keeps() {
    for lang in LANGS {
        json_filter_keeps_as_rust(lang);
    }
}

fn json_filter_keeps_as_rust(lang: &str) {
    let mut input = String::new();
    for i in 0..300 {
        let status = [200, 500, 404][i % 3];
        match i % 10 {
            7 => input.push_str(&format!("{{\"status\": \"{status}\", \"i\": {i}}}\n")),
            8 => input.push_str(&format!(
                "{{\"req\": {{\"status\": {status}}}, \"i\": {i}}}\n"
            )),
            9 => input.push_str("not json at all\n"),
            _ => input.push_str(&format!("{{\"status\": {status}, \"i\": {i}}}\n")),
        }
    }
    let [rust, ported] = both_ways(
        lang,
        "json-filter",
        &input,
        r#"
[[stages]]
id = "errors"
kind = "filter"
input = "in"
component = {json-filter}
params = { field = "status", equals = "500", on_invalid = "drop" }
"#,
        "errors",
        &["json-filter"],
    );
    assert_eq!(ported, rust, "{lang}");
    let kept: usize = ported.values().map(|b| b.len()).sum();
    // Every third record is a 500; those at i % 10 == 8 (nested) and 9
    // (not JSON) are not kept.
    let expected = (0..300)
        .filter(|i| i % 3 == 1 && i % 10 != 8 && i % 10 != 9)
        .count();
    assert_eq!(kept, expected, "{lang}");
}

#[test]
fn running_count_in_python_javascript_and_c_keeps_the_same_state_as_rust() {
    for lang in LANGS {
        running_count_as_rust(lang);
    }
}

fn running_count_as_rust(lang: &str) {
    let text = corpus(300);
    let [rust, ported] = both_ways(
        lang,
        "running-count",
        &text,
        r#"
[[stages]]
id = "pairs"
kind = "flat_map"
input = "in"
component = {split-words}
params = { emit = "pairs" }

[[stages]]
id = "running"
kind = "update_state_by_key"
input = "pairs"
component = {running-count}
"#,
        "running",
        &["split-words", "running-count"],
    );
    assert!(rust.len() > 5, "several batches: {}", rust.len());
    assert_eq!(
        ported, rust,
        "{lang}: batch by batch, the same counts so far"
    );
    // The last count of each word is its count over the whole input.
    let mut last = BTreeMap::new();
    for batch in ported.values() {
        for line in batch {
            let (word, n) = line[1..line.len() - 1].rsplit_once(',').unwrap();
            last.insert(word.to_owned(), n.parse::<i64>().unwrap());
        }
    }
    assert_eq!(last, independent_count(&text), "{lang}");
}

/// A one-stage pipeline over `input` through the `<lang>-faulty` fixture,
/// with a CPU budget of `cpu` (TOML, if any).
fn faulty(lang: &str, test: &str, input: &str, cpu: Option<&str>) -> crate::support::Output {
    let dir = scratch(test);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/input.txt"), input).unwrap();
    let stages = format!(
        r#"
[[stages]]
id = "divide"
kind = "map"
input = "in"
component = {}
limits = {{ memory = "128MiB"{} }}
"#,
        toml_path(&fixture_in(lang, &format!("{lang}-faulty"), "map")),
        cpu.map(|cpu| format!(", cpu = {cpu:?}"))
            .unwrap_or_default(),
    );
    let manifest = pipeline(&dir, "", &stages, "divide");
    run(&["run", manifest.to_str().unwrap()])
}

#[test]
fn an_exception_fails_the_batch_naming_the_stage_and_the_record() {
    for (lang, error) in [
        ("python", "ZeroDivisionError"),
        ("js", "RangeError"),
        ("c", "DivisionByZero"),
    ] {
        let out = faulty(lang, &format!("{lang}-exception"), "4\n5\n0\n10\n", None);
        assert!(!out.status.success(), "{lang}: the batch fails");
        for said in [
            "stage `divide`".to_owned(),
            format!("failed on record 2: {error}"),
            "[record: \"0\"]".to_owned(),
        ] {
            assert!(
                out.stderr.contains(&said),
                "{lang} says {said:?}:\n{}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_looping_operator_is_stopped_by_its_cpu_budget() {
    for lang in LANGS {
        let out = faulty(lang, &format!("{lang}-loop"), "4\nloop\n", Some("300ms"));
        assert!(!out.status.success(), "{lang}: the batch fails");
        assert!(
            out.stderr.contains("stage `divide`")
                && out
                    .stderr
                    .contains("exceeded its CPU budget of 300 ms per call"),
            "{lang}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_running_stage_swaps_rust_split_words_for_the_python_port_and_counts_every_record_once() {
    let dir = scratch("py-reload");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    install(
        &dir.join("op.wasm"),
        &std::fs::read(wasm("split_words")).unwrap(),
    );
    let python = std::fs::read(port("python", "split-words")).unwrap();
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "swapping"
batch_interval = "50ms"
reload = { debounce = "50ms" }

[[sources]]
id = "in"
kind = "directory"
path = "in"

[[stages]]
id = "words"
kind = "flat_map"
input = "in"
component = "op.wasm"

[[stages]]
id = "counts"
kind = "count_by_value"
input = "words"

[[sinks]]
id = "out"
kind = "files"
input = "counts"
path = "out"
"#,
    );
    // Files arrive whole: written aside, then moved into the folder.
    let feed = |name: &str, text: &str| {
        let staging = dir.join(name);
        std::fs::write(&staging, text).unwrap();
        std::fs::rename(&staging, dir.join("in").join(name)).unwrap();
    };
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let counted = || counts(output_lines(&dir.join("out")).iter().map(String::as_str));
    let total = |counts: &BTreeMap<String, i64>| counts.values().sum::<i64>();

    let before = corpus(200);
    feed("a.txt", &before);
    let words_before = total(&independent_count(&before));
    running.wait_until("the first file counted", || {
        total(&counted()) == words_before
    });

    install(&dir.join("op.wasm"), &python);
    running.wait_for_log("reloaded stage `words`");
    let after = corpus(333);
    feed("b.txt", &after);
    let words_after = total(&independent_count(&after));
    running.wait_until("the second file counted", || {
        total(&counted()) == words_before + words_after
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(counted(), independent_count(&(before + &after)));
}
