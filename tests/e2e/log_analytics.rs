//! Story: an operations team runs the log-analytics example: access-log
//! lines in a Kafka topic, counted per client IP over a sliding minute and
//! per URL path over five minutes, into an output topic, with the lines
//! that do not parse in a dead-letter topic.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::kafka::{Read, bootstrap, create_topics, fresh_topic, read_all};
use crate::support::{Running, repo, run_ok, scratch};

#[test]
fn log_analytics_example_counts_paths_exactly_and_dead_letters_the_malformed_lines() {
    // The example as shipped, with topics of its own and component paths
    // made absolute so it runs (and keeps its checkpoints) outside the
    // repository.
    let dir = scratch("log-analytics");
    let example = repo().join("examples/log-analytics");
    let topics = [
        ("access-log", fresh_topic("access-log")),
        ("access-counts", fresh_topic("access-counts")),
        ("access-log-dead", fresh_topic("access-log-dead")),
    ];
    create_topics(
        &topics.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        2,
    );
    let release = repo().join("target/wasm32-wasip2/release/");
    for manifest in ["load.toml", "manifest.toml"] {
        let mut text = std::fs::read_to_string(example.join(manifest))
            .unwrap()
            .replace(
                "../../target/wasm32-wasip2/release/",
                release.to_str().unwrap(),
            )
            .replace("127.0.0.1:9092", &bootstrap());
        for (name, fresh) in &topics {
            text = text.replace(
                &format!("topic = \"{name}\""),
                &format!("topic = \"{fresh}\""),
            );
        }
        std::fs::write(dir.join(manifest), text).unwrap();
    }
    let generated = std::process::Command::new("python3")
        .arg(example.join("generate.py"))
        .arg(dir.join("data"))
        .status()
        .unwrap();
    assert!(generated.success());

    run_ok(&dir.join("load.toml"));
    let running = Running::start(
        &["run", dir.join("manifest.toml").to_str().unwrap()],
        Stdio::null(),
    );

    // What the generator counted, path by path, for the windows the
    // watermark closes.
    let expected: BTreeMap<String, i64> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/.expected-paths.json")).unwrap(),
    )
    .unwrap();
    let per_path = |records: &[Read]| -> BTreeMap<String, i64> {
        records
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with('/')))
            .map(|r| {
                let window = format!(
                    "{} {} {}",
                    r.key.as_deref().unwrap(),
                    r.header("window_start").unwrap(),
                    r.header("window_end").unwrap()
                );
                (window, r.value.parse().unwrap())
            })
            .collect()
    };
    let (counts, dead) = (&topics[1].1, &topics[2].1);
    let deadline = Instant::now() + Duration::from_secs(90);
    while per_path(&read_all(counts)).len() < expected.len() || read_all(dead).len() < 6 {
        assert!(Instant::now() < deadline, "the windows never closed");
        running.wait_for_log("batch done");
    }
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    assert_eq!(per_path(&read_all(counts)), expected);
    // Per-IP windows: a minute long, every 10 s.
    let per_ip: Vec<Read> = read_all(counts)
        .into_iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with("10.")))
        .collect();
    assert!(!per_ip.is_empty());
    for record in &per_ip {
        let bound = |name| record.header(name).unwrap().parse::<i64>().unwrap();
        assert_eq!(bound("window_end") - bound("window_start"), 60_000);
        assert_eq!(bound("window_start") % 10_000, 0);
    }
    // Three malformed lines, each rejected by both parsing stages.
    let rejected = read_all(dead);
    assert_eq!(rejected.len(), 6, "{rejected:#?}");
    for stage in ["by-ip", "by-path"] {
        let values: Vec<&str> = rejected
            .iter()
            .filter(|r| r.header("wasmstream-stage") == Some(stage))
            .map(|r| r.value.as_str())
            .collect();
        assert_eq!(values.len(), 3, "{stage} rejected {values:?}");
        assert!(values.contains(&"GET /cart 200"));
    }
    assert!(
        result.stderr.contains("records_dead_lettered=6"),
        "{}",
        result.stderr
    );
}
