//! Story: a data engineer runs the bundled wordcount example and gets the
//! exact count of every word in the sample text.

use std::collections::BTreeMap;

use crate::support::{counts, repo, run_ok};

/// Counts words the way the example defines them (runs of letters, digits,
/// `'` and `_`, lowercased), written independently of the plugins.
fn independent_count(text: &str) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '\'' || c == '_' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn wordcount_example_prints_exact_counts() {
    let data = repo().join("examples/wordcount/data");
    let mut text = String::new();
    for file in std::fs::read_dir(&data).unwrap() {
        text.push_str(&std::fs::read_to_string(file.unwrap().path()).unwrap());
        text.push('\n');
    }
    let expected = independent_count(&text);

    let out = run_ok(&repo().join("examples/wordcount/manifest.toml"));
    let printed = counts(out.stdout.lines().filter(|l| l.starts_with('(')));

    assert_eq!(printed, expected);
    assert_eq!(printed["what"], 8, "the sample's most frequent word");
    assert!(
        out.stdout.contains("Time: "),
        "pprint shows each batch's time:\n{}",
        out.stdout
    );
    assert!(!out.stdout.contains("more)"), "every count is printed");
}
