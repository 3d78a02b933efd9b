//! Story: someone writing an SDK for another language checks it against
//! the contract's conformance kit (`wit/conformance`), and the host holds
//! every stock operator, and each port of one, to the same kit.
//!
//! The kit's cases are one call each: params, an input, and what must
//! come back (or the error naming a record, or `init` refusing). Here
//! they run through the host's real calls into the built components.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmstream::plugin::{CogroupInput, Failure, Limits, ProcessInput, Runtime, StateInput};
use wasmstream::record::{Batch, ByteList};

use crate::support::{port, repo, scratch, wasm};

/// Bytes as the kit writes them: text, or `{"hex": ...}`; `None` for null.
fn data(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.as_bytes().to_vec()),
        Value::Object(hex) => {
            let hex = hex["hex"].as_str().expect("{\"hex\": ...}");
            Some(
                (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
                    .collect(),
            )
        }
        other => panic!("not bytes in the kit: {other}"),
    }
}

fn bytes(value: &Value) -> Vec<u8> {
    data(value).expect("bytes, not null")
}

/// A record as compared: key, value, timestamp, headers.
type Record = (Option<Vec<u8>>, Vec<u8>, i64, Vec<(Vec<u8>, Vec<u8>)>);

fn record(value: &Value) -> Record {
    let headers = value.get("headers").and_then(Value::as_array);
    (
        value.get("key").and_then(data),
        bytes(&value["value"]),
        value.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
        headers
            .into_iter()
            .flatten()
            .map(|pair| (bytes(&pair[0]), bytes(&pair[1])))
            .collect(),
    )
}

fn batch(records: &[Value]) -> Batch {
    let mut batch = Batch::default();
    for r in records.iter().map(record) {
        let index = batch.len() as u32;
        batch.push(r.0.as_deref(), &r.1, r.2);
        for (name, value) in &r.3 {
            batch.header_owners.push(index);
            batch.header_names.push(name);
            batch.header_values.push(value);
        }
    }
    batch
}

fn records_of(batch: &Batch) -> Vec<Record> {
    batch
        .iter()
        .map(|r| {
            (
                r.key.map(<[u8]>::to_vec),
                r.value.to_vec(),
                r.timestamp,
                r.headers
                    .iter()
                    .map(|(n, v)| (n.to_vec(), v.to_vec()))
                    .collect(),
            )
        })
        .collect()
}

fn byte_list(items: impl IntoIterator<Item = Vec<u8>>) -> ByteList {
    let mut list = ByteList::with_capacity(0, 0);
    items.into_iter().for_each(|item| list.push(&item));
    list
}

fn items(list: &ByteList) -> Vec<Vec<u8>> {
    (0..list.len()).map(|i| list.get(i).to_vec()).collect()
}

fn kit_path(name: &str) -> PathBuf {
    repo().join("wit/conformance").join(format!("{name}.json"))
}

fn read_kit(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read the kit");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs every case of kit `name` against `component`; returns what went
/// wrong, one line per problem.
fn run_kit(name: &str, component: &Path) -> Vec<String> {
    run_kit_at(&kit_path(name), component)
}

fn run_kit_at(path: &Path, component: &Path) -> Vec<String> {
    let kit = read_kit(path);
    let kind = kit["kind"].as_str().expect("kind");
    let runtime = Runtime::new(repo().join("target/e2e-cache")).expect("a runtime");
    let plugin = runtime.load(component).expect("the component loads");
    let mut problems = Vec::new();
    for case in kit["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("a name");
        let params: Vec<(String, String)> = case
            .get("params")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().expect("text params").to_owned()))
            .collect();
        let mut problem = |text: String| problems.push(format!("{name}: {text}"));
        let contains = |want: &Value, message: &str| -> Vec<String> {
            want["contains"]
                .as_array()
                .expect("contains")
                .iter()
                .map(|w| w.as_str().expect("text").to_owned())
                .filter(|w| !message.contains(w.as_str()))
                .collect()
        };
        // JavaScript's engine starts at about 64 MiB.
        let limits = Limits {
            memory_bytes: 256 << 20,
            ..Limits::default()
        };
        let instance = plugin.instantiate(name.into(), limits, &params);
        let mut instance = match (instance, case.get("init_error")) {
            (Ok(_), Some(_)) => {
                problem("init accepted params it must refuse".into());
                continue;
            }
            (Err(e), Some(want)) => {
                let message = match &e.failure {
                    Failure::InitRejected(message) => message.clone(),
                    other => format!("{other}"),
                };
                let missing = contains(want, &message);
                if !missing.is_empty() {
                    problem(format!(
                        "init refused with {message:?}, without {missing:?}"
                    ));
                }
                continue;
            }
            (Err(e), None) => {
                problem(format!("init refused: {e}"));
                continue;
            }
            (Ok(instance), None) => instance,
        };
        let input = &case["input"];
        let got: Result<Value, Failure> = match kind {
            "map" | "flat-map" => {
                let input = batch(input.as_array().expect("records"));
                let out = match kind {
                    "map" => instance.map(&input),
                    _ => instance.flat_map(&input),
                };
                out.map(|b| Value::from(format!("{:?}", records_of(&b))))
                    .map_err(|e| e.failure)
            }
            "filter" => instance
                .filter(&batch(input.as_array().expect("records")))
                .map(Value::from)
                .map_err(|e| e.failure),
            "reduce" => {
                let groups = input["groups"].as_array().expect("groups");
                let keys = byte_list(groups.iter().map(|g| bytes(&g["key"])));
                let mut ends = Vec::new();
                let mut values = Vec::new();
                for group in groups {
                    values.extend(
                        group["values"]
                            .as_array()
                            .expect("values")
                            .iter()
                            .map(bytes),
                    );
                    ends.push(values.len() as u32);
                }
                instance
                    .reduce(&keys, &byte_list(values), &ends)
                    .map(|out| Value::from(format!("{:?}", items(&out))))
                    .map_err(|e| e.failure)
            }
            "update-state" => {
                let groups = input["groups"].as_array().expect("groups");
                let mut ends = Vec::new();
                let mut values = Vec::new();
                for group in groups {
                    let given = group.get("values").and_then(Value::as_array);
                    values.extend(given.into_iter().flatten().map(bytes));
                    ends.push(values.len() as u32);
                }
                let state = |g: &Value| g.get("state").and_then(data);
                let flag = |g: &Value, name: &str| g.get(name).and_then(Value::as_bool);
                let call = StateInput {
                    keys: byte_list(groups.iter().map(|g| bytes(&g["key"]))),
                    has_state: groups.iter().map(|g| state(g).is_some()).collect(),
                    states: byte_list(groups.iter().map(|g| state(g).unwrap_or_default())),
                    timing_out: groups
                        .iter()
                        .map(|g| flag(g, "timing_out").unwrap_or(false))
                        .collect(),
                    values: byte_list(values),
                    group_ends: ends,
                    batch_time: input.get("batch_time").and_then(Value::as_i64).unwrap_or(0),
                };
                instance
                    .update_state(&call)
                    .map(|out| {
                        Value::from(format!(
                            "{:?}",
                            (out.keep, items(&out.states), records_of(&out.output))
                        ))
                    })
                    .map_err(|e| e.failure)
            }
            "cogroup" => {
                let groups = input["groups"].as_array().expect("groups");
                let side = |name: &str| -> (Batch, Vec<u32>) {
                    let mut records = Vec::new();
                    let mut ends = Vec::new();
                    for group in groups {
                        records.extend(group[name].as_array().expect("records").iter().cloned());
                        ends.push(records.len() as u32);
                    }
                    (batch(&records), ends)
                };
                let ((left, left_ends), (right, right_ends)) = (side("left"), side("right"));
                let call = CogroupInput {
                    keys: byte_list(groups.iter().map(|g| bytes(&g["key"]))),
                    left,
                    left_ends,
                    right,
                    right_ends,
                };
                instance
                    .cogroup(&call)
                    .map(|b| Value::from(format!("{:?}", records_of(&b))))
                    .map_err(|e| e.failure)
            }
            "keyed-process" => {
                let groups = input["groups"].as_array().expect("groups");
                let list = |g: &Value, name: &str| -> Vec<Value> {
                    g.get(name)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                };
                let (mut records, mut record_ends) = (Vec::new(), Vec::new());
                let (mut fired, mut fired_ends, mut pending, mut pending_ends) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for group in groups {
                    records.extend(list(group, "records"));
                    record_ends.push(records.len() as u32);
                    fired.extend(
                        list(group, "fired")
                            .iter()
                            .map(|t| t.as_i64().expect("a time")),
                    );
                    fired_ends.push(fired.len() as u32);
                    pending.extend(
                        list(group, "pending")
                            .iter()
                            .map(|t| t.as_i64().expect("a time")),
                    );
                    pending_ends.push(pending.len() as u32);
                }
                let state = |g: &Value| g.get("state").and_then(data);
                let call = ProcessInput {
                    keys: byte_list(groups.iter().map(|g| bytes(&g["key"]))),
                    has_state: groups.iter().map(|g| state(g).is_some()).collect(),
                    states: byte_list(groups.iter().map(|g| state(g).unwrap_or_default())),
                    records: batch(&records),
                    record_ends,
                    fired,
                    fired_ends,
                    pending,
                    pending_ends,
                    watermark: input.get("watermark").and_then(Value::as_i64),
                    batch_time: input.get("batch_time").and_then(Value::as_i64).unwrap_or(0),
                };
                instance
                    .process(&call)
                    .map(|out| {
                        let mut timers = Vec::new();
                        let mut from = 0;
                        for &end in &out.timer_ends {
                            timers.push(out.timers[from..end as usize].to_vec());
                            from = end as usize;
                        }
                        Value::from(format!(
                            "{:?}",
                            (
                                out.keep,
                                items(&out.states),
                                timers,
                                records_of(&out.output)
                            )
                        ))
                    })
                    .map_err(|e| e.failure)
            }
            other => panic!("unknown kind {other}"),
        };
        let want = case.get("output").map(|output| match kind {
            "map" | "flat-map" | "cogroup" => Value::from(format!(
                "{:?}",
                output
                    .as_array()
                    .expect("records")
                    .iter()
                    .map(record)
                    .collect::<Vec<_>>()
            )),
            "filter" => output.clone(),
            "reduce" => Value::from(format!(
                "{:?}",
                output
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(bytes)
                    .collect::<Vec<_>>()
            )),
            "keyed-process" => Value::from(format!(
                "{:?}",
                (
                    output["keep"]
                        .as_array()
                        .expect("keep")
                        .iter()
                        .map(|k| k.as_bool().expect("a flag"))
                        .collect::<Vec<_>>(),
                    output["states"]
                        .as_array()
                        .expect("states")
                        .iter()
                        .map(bytes)
                        .collect::<Vec<_>>(),
                    output["timers"]
                        .as_array()
                        .expect("timers")
                        .iter()
                        .map(|ts| {
                            ts.as_array()
                                .expect("a key's timers")
                                .iter()
                                .map(|t| t.as_i64().expect("a time"))
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>(),
                    output["records"]
                        .as_array()
                        .expect("records")
                        .iter()
                        .map(record)
                        .collect::<Vec<_>>(),
                )
            )),
            _ => Value::from(format!(
                "{:?}",
                (
                    output["keep"]
                        .as_array()
                        .expect("keep")
                        .iter()
                        .map(|k| k.as_bool().expect("a flag"))
                        .collect::<Vec<_>>(),
                    output["states"]
                        .as_array()
                        .expect("states")
                        .iter()
                        .map(bytes)
                        .collect::<Vec<_>>(),
                    output["records"]
                        .as_array()
                        .expect("records")
                        .iter()
                        .map(record)
                        .collect::<Vec<_>>(),
                )
            )),
        });
        match (got, want, case.get("error")) {
            (Ok(got), Some(want), _) if got == want => {}
            (Ok(got), Some(want), _) => problem(format!("returned {got}, expected {want}")),
            (Ok(_), None, _) => problem("succeeded, expected to fail".into()),
            (Err(Failure::Rejected { record, message }), _, Some(want)) => {
                let expected = want["record"].as_u64().map(|r| r as u32);
                if record != expected {
                    problem(format!(
                        "failed on record {record:?}, expected {expected:?}"
                    ));
                }
                let missing = contains(want, &message);
                if !missing.is_empty() {
                    problem(format!("error {message:?} does not say {missing:?}"));
                }
            }
            (Err(failure), _, _) => problem(format!("failed: {failure}")),
        }
    }
    problems
}

/// The stock operators the kit covers, by kit and crate.
const KITS: &[(&str, &str)] = &[
    ("split-words", "split_words"),
    ("json-filter", "json_filter"),
    ("running-count", "running_count"),
    ("lowercase", "lowercase"),
    ("count-by-value", "count_by_value"),
    ("sum", "sum"),
    ("subtract", "subtract"),
    ("json-extract", "json_extract"),
    ("access-log", "access_log"),
    ("stats", "stats"),
    ("stats-report", "stats_report"),
    ("session-tracker", "session_tracker"),
    ("merge-json", "merge_json"),
    ("event-sessions", "event_sessions"),
];

/// The stock operators every other language has a port of (one of each
/// kind but reduce, whose stock operators are one-liners).
const PORTED: [&str; 5] = [
    "split-words",
    "json-filter",
    "running-count",
    "merge-json",
    "event-sessions",
];

#[test]
fn every_stock_operator_passes_its_conformance_kit() {
    let problems: Vec<String> = KITS
        .iter()
        .flat_map(|(kit, crate_name)| {
            run_kit(kit, &wasm(crate_name))
                .into_iter()
                .map(move |p| format!("{kit}: {p}"))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every port to `lang` through the same kits, built into components.
fn ports_pass(lang: &str) {
    let problems: Vec<String> = PORTED
        .iter()
        .flat_map(|kit| {
            run_kit(kit, &port(lang, kit))
                .into_iter()
                .map(move |p| format!("{lang} {kit}: {p}"))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_python_port_passes_the_same_kit_inside_its_component() {
    ports_pass("python");
}

#[test]
fn every_javascript_port_passes_the_same_kit_inside_its_component() {
    ports_pass("js");
}

#[test]
fn every_c_port_passes_the_same_kit_inside_its_component() {
    ports_pass("c");
}

#[test]
fn a_wrong_expectation_in_a_kit_is_reported_with_its_case() {
    // The runner itself can fail: a kit whose expected output is wrong.
    let dir = scratch("conformance-wrong");
    let mut kit = read_kit(&kit_path("split-words"));
    kit["cases"][0]["output"][0]["value"] = Value::from("TO");
    std::fs::write(dir.join("kit.json"), kit.to_string()).unwrap();
    let problems = run_kit_at(&dir.join("kit.json"), &wasm("split_words"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("each word keeps its line's key, time and headers: returned"));
}

#[test]
fn the_host_carries_batches_in_the_layout_the_kit_pins() {
    let kit = read_kit(&kit_path("layout"));
    for case in kit["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("a name");
        let packed = batch(case["records"].as_array().expect("records"));
        let columns = &case["columns"];
        let list = |field: &str| {
            let list = &columns[field];
            let ends: Vec<u32> = list["ends"]
                .as_array()
                .expect("ends")
                .iter()
                .map(|e| e.as_u64().expect("an offset") as u32)
                .collect();
            ByteList {
                data: bytes(&list["data"]),
                ends,
            }
        };
        let numbers = |field: &str| -> Vec<i64> {
            columns[field]
                .as_array()
                .expect("numbers")
                .iter()
                .map(|n| n.as_i64().expect("a number"))
                .collect()
        };
        let expected = Batch {
            keys: list("keys"),
            has_key: columns["has-key"]
                .as_array()
                .expect("flags")
                .iter()
                .map(|f| f.as_bool().expect("a flag"))
                .collect(),
            values: list("values"),
            timestamps: numbers("timestamps"),
            header_owners: numbers("header-owners")
                .into_iter()
                .map(|n| n as u32)
                .collect(),
            header_names: list("header-names"),
            header_values: list("header-values"),
        };
        let columns_of = |b: &Batch| {
            format!(
                "{:?}",
                (
                    (&b.keys.data, &b.keys.ends, &b.has_key),
                    (&b.values.data, &b.values.ends, &b.timestamps),
                    (&b.header_owners, &b.header_names.data, &b.header_names.ends),
                    (&b.header_values.data, &b.header_values.ends),
                )
            )
        };
        assert_eq!(columns_of(&packed), columns_of(&expected), "{name}: packed");
        let want: Vec<Record> = case["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(record)
            .collect();
        assert_eq!(records_of(&expected), want, "{name}: unpacked");
    }
}
