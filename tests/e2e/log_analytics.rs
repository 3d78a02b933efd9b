//! Story: an operations team runs the log-analytics example: access-log
//! lines in a Kafka topic, counted per client IP over a sliding minute and
//! per URL path over five minutes, into an output topic, with the lines
//! that do not parse in a dead-letter topic.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use crate::kafka::{Read, bootstrap, create_topics, fresh_topic, read_all, records_in};
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
    // As the example's `topics` file says: the log in one partition. (The
    // watermark is the latest event time over all partitions, as in Spark;
    // with two, a batch that happened to read further into one would make
    // the other's older records late, and drop them.)
    create_topics(&[&topics[0].1], 1);
    create_topics(&[&topics[1].1, &topics[2].1], 2);
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

    // What the generator counted, path by path and IP by IP, for the
    // windows the watermark closes.
    let expected = |name: &str| -> BTreeMap<String, i64> {
        let file = dir.join("data").join(name);
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    };
    let (paths, ips) = (
        expected(".expected-paths.json"),
        expected(".expected-ips.json"),
    );
    // Records keyed like `kind` (a path starts with '/', an IP with
    // "10."), as "KEY WINDOW_START WINDOW_END" to count.
    let windows = |records: &[Read], kind: &str| -> BTreeMap<String, i64> {
        records
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(kind)))
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
    let closed = "every window closed and every bad line was dead-lettered";
    running.wait_until_within(Duration::from_secs(90), closed, || {
        // Reading a topic is slow on the test broker: count first.
        if records_in(counts) < (paths.len() + ips.len()) as i64 || records_in(dead) < 6 {
            return false;
        }
        let out = read_all(counts);
        windows(&out, "/").len() >= paths.len()
            && windows(&out, "10.").len() >= ips.len()
            && read_all(dead).len() >= 6
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let out = read_all(counts);
    assert_eq!(windows(&out, "/"), paths);
    assert_eq!(windows(&out, "10."), ips);
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
