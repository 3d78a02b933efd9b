//! Story: a data engineer joins ad impressions with clicks by ad, per
//! batch and over windows, as Spark's pair DStreams do (`join`,
//! `leftOuterJoin`, `rightOuterJoin`, `fullOuterJoin`, `cogroup`), and
//! checks every batch's output against a join written out by hand here.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{
    batch_texts, kill_again_and_again, manifest, run, run_ok, scratch, toml_path, wasm,
};

/// Impressions per batch and clicks per batch.
const LEFT_PER_BATCH: usize = 12;
const RIGHT_PER_BATCH: usize = 6;
const BATCHES: usize = 10;

/// Impression `i`: an ad out of `a0`..`a10`.
fn impression(i: usize) -> (String, String) {
    let ad = format!("a{}", i * 7 % 11);
    let line = format!(r#"{{"ad":"{ad}","i":{i}}}"#);
    (ad, line)
}

/// Click `j`: an ad out of `a0`..`a12` (`a11` and `a12` never shown).
fn click(j: usize) -> (String, String) {
    let ad = format!("a{}", j * 5 % 13);
    let line = format!(r#"{{"ad":"{ad}","c":{j}}}"#);
    (ad, line)
}

/// The records of `batches` (ids, from 1) of a source taking `per_batch`
/// records a batch.
fn records_of(
    make: fn(usize) -> (String, String),
    per_batch: usize,
    batches: impl Iterator<Item = usize>,
) -> Vec<(String, String)> {
    batches
        .filter(|&b| (1..=BATCHES).contains(&b))
        .flat_map(|b| ((b - 1) * per_batch..b * per_batch).map(make))
        .collect()
}

/// What a join of `left` and `right` writes, by hand: Spark's semantics,
/// printed as the files sink prints `(key,value)` records, sorted.
fn reference(how: &str, left: &[(String, String)], right: &[(String, String)]) -> Vec<String> {
    let mut keys: Vec<&String> = Vec::new();
    for (key, _) in left.iter().chain(right) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = Vec::new();
    for key in keys {
        let mine = |side: &[(String, String)]| -> Vec<String> {
            side.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let (l, r) = (mine(left), mine(right));
        if how == "cogroup" {
            out.push(format!("({key},[[{}],[{}]])", l.join(","), r.join(",")));
            continue;
        }
        for lv in &l {
            for rv in &r {
                out.push(format!("({key},[{lv},{rv}])"));
            }
        }
        if r.is_empty() && (how == "left_outer_join" || how == "full_outer_join") {
            out.extend(l.iter().map(|lv| format!("({key},[{lv},null])")));
        }
        if l.is_empty() && (how == "right_outer_join" || how == "full_outer_join") {
            out.extend(r.iter().map(|rv| format!("({key},[null,{rv}])")));
        }
    }
    out.sort();
    out
}

/// Each batch's lines a files sink wrote into `dir`, sorted (partitions
/// write in any order).
fn written(dir: &Path) -> BTreeMap<u64, Vec<String>> {
    batch_texts(dir)
        .into_iter()
        .map(|(id, text)| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            (id, lines)
        })
        .collect()
}

/// Each cogroup line's values in a set order: like Spark's, a cogroup's
/// values come in no promised order once records have crossed windows'
/// partitions. Other lines stay as they are.
fn unordered(batches: BTreeMap<u64, Vec<String>>) -> BTreeMap<u64, Vec<String>> {
    let line = |line: String| -> String {
        let (key, value) = line[1..line.len() - 1].split_once(',').unwrap();
        let Ok(serde_json::Value::Array(sides)) = serde_json::from_str(value) else {
            return line;
        };
        if !sides.iter().all(|s| s.is_array()) {
            return line;
        }
        let sides: Vec<Vec<String>> = sides
            .iter()
            .map(|side| {
                let values = side.as_array().unwrap().iter();
                let mut values: Vec<String> = values.map(|v| v.to_string()).collect();
                values.sort();
                values
            })
            .collect();
        format!("({key},{sides:?})")
    };
    batches
        .into_iter()
        .map(|(batch, lines)| {
            let mut lines: Vec<String> = lines.into_iter().map(line).collect();
            lines.sort();
            (batch, lines)
        })
        .collect()
}

/// Writes the impressions and clicks into `dir/impressions` and
/// `dir/clicks`.
fn write_inputs(dir: &Path) {
    for (folder, make, per_batch) in [
        ("impressions", impression as fn(usize) -> _, LEFT_PER_BATCH),
        ("clicks", click, RIGHT_PER_BATCH),
    ] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        let lines: Vec<String> = (0..BATCHES * per_batch).map(|i| make(i).1).collect();
        std::fs::write(dir.join(folder).join("in.json"), lines.join("\n") + "\n").unwrap();
    }
}

/// A directory source reading JSON lines from `<dir>/<id>`, `per_batch`
/// a batch, and the stage `<id>`: json-extract keying (and stamping) them
/// with `params`.
fn json_source(id: &str, per_batch: usize, params: &str) -> String {
    format!(
        r#"
[[sources]]
id = "{id}-lines"
kind = "directory"
path = "{id}"
watch = false
max_batch_records = {per_batch}

[[stages]]
id = "{id}"
kind = "map"
input = "{id}-lines"
component = {extract}
params = {{ {params} }}
"#,
        extract = toml_path(&wasm("json_extract"))
    )
}

/// The sources and the maps that key both sides by ad.
fn keyed_sides() -> String {
    json_source("impressions", LEFT_PER_BATCH, "key = \"ad\"")
        + &json_source("clicks", RIGHT_PER_BATCH, "key = \"ad\"")
}

/// A join stage of kind `how` over `left` and `right` in two partitions,
/// written into `out/<id>`.
fn join_stage(id: &str, how: &str, left: &str, right: &str) -> String {
    format!(
        r#"
[[stages]]
id = "{id}"
kind = "{how}"
left = "{left}"
right = "{right}"
parallelism = 2

[[sinks]]
id = "{id}-out"
kind = "files"
input = "{id}"
path = "out/{id}"
"#
    )
}

const HOWS: [&str; 5] = [
    "join",
    "left_outer_join",
    "right_outer_join",
    "full_outer_join",
    "cogroup",
];

#[test]
fn each_join_variant_writes_what_a_join_by_hand_gives_batch_by_batch() {
    let dir = scratch("joins-per-batch");
    write_inputs(&dir);
    let mut text = String::from("[pipeline]\nname = \"joins\"\nbatch_interval = \"10ms\"\n");
    text += &keyed_sides();
    for how in HOWS {
        text += &join_stage(how, how, "impressions", "clicks");
    }
    run_ok(&manifest(&dir, &text));

    for how in HOWS {
        let got = written(&dir.join("out").join(how));
        let expected: BTreeMap<u64, Vec<String>> = (1..=BATCHES)
            .map(|b| {
                let left = records_of(impression, LEFT_PER_BATCH, b..=b);
                let right = records_of(click, RIGHT_PER_BATCH, b..=b);
                (b as u64, reference(how, &left, &right))
            })
            .filter(|(_, lines)| !lines.is_empty())
            .collect();
        assert!(expected.len() >= BATCHES - 1, "the data makes matches");
        assert_eq!(got, expected, "{how}, batch by batch");
    }
}

#[test]
fn joins_over_windows_of_each_side_write_what_a_join_by_hand_gives() {
    let dir = scratch("joins-windowed");
    write_inputs(&dir);
    let mut text =
        String::from("[pipeline]\nname = \"windowed-joins\"\nbatch_interval = \"10ms\"\n");
    text += &keyed_sides();
    // Spark's `impressions.window(20ms).join(clicks.window(40ms))`, and
    // the same over windows sliding by two batches.
    for (id, input, window, slide) in [
        ("impressions-2", "impressions", "20ms", "10ms"),
        ("clicks-4", "clicks", "40ms", "10ms"),
        ("impressions-4-by-2", "impressions", "40ms", "20ms"),
        ("clicks-6-by-2", "clicks", "60ms", "20ms"),
    ] {
        text += &format!(
            "\n[[stages]]\nid = \"{id}\"\nkind = \"window\"\ninput = \"{input}\"\nwindow = \"{window}\"\nslide = \"{slide}\"\nparallelism = 2\n"
        );
    }
    // Every kind over windows sliding by a batch, and one over windows
    // sliding by two.
    for how in HOWS {
        text += &join_stage(&format!("sliding-{how}"), how, "impressions-2", "clicks-4");
    }
    text += &join_stage(
        "hopping",
        "full_outer_join",
        "impressions-4-by-2",
        "clicks-6-by-2",
    );
    run_ok(&manifest(&dir, &text));

    let sliding = |how: &str| written(&dir.join(format!("out/sliding-{how}")));
    let hopping = written(&dir.join("out/hopping"));
    let last = *sliding("join").keys().chain(hopping.keys()).max().unwrap() as usize;
    assert!(last >= BATCHES, "every batch ran");
    let window = |how: &str, left: usize, right: usize, b: usize| {
        let left = records_of(impression, LEFT_PER_BATCH, b.saturating_sub(left - 1)..=b);
        let right = records_of(click, RIGHT_PER_BATCH, b.saturating_sub(right - 1)..=b);
        (b as u64, reference(how, &left, &right))
    };
    let expected = |pairs: Vec<(u64, Vec<String>)>| -> BTreeMap<u64, Vec<String>> {
        pairs.into_iter().filter(|(_, l)| !l.is_empty()).collect()
    };
    for how in HOWS {
        let every = (1..=last).map(|b| window(how, 2, 4, b)).collect();
        assert_eq!(
            unordered(sliding(how)),
            unordered(expected(every)),
            "{how} over windows of 2 and 4 batches"
        );
    }
    let even = (1..=last)
        .filter(|b| b % 2 == 0)
        .map(|b| window("full_outer_join", 4, 6, b))
        .collect();
    assert_eq!(hopping, expected(even), "windows of 4 and 6 sliding by 2");
}

/// The joins of the first test, with one more click that has no key: a
/// line from a third source, which `lowercase` leaves unkeyed, merged
/// into the clicks (so only a run can tell).
fn with_a_keyless_click(dir: &Path, on_error: &str) -> std::path::PathBuf {
    write_inputs(dir);
    std::fs::create_dir_all(dir.join("stray")).unwrap();
    std::fs::write(dir.join("stray/in.txt"), "No Key Here\n").unwrap();
    let sides = keyed_sides().replace("id = \"clicks\"", "id = \"keyed-clicks\"");
    let mut text = format!(
        r#"[pipeline]
name = "keyless"
batch_interval = "10ms"
on_error = "{on_error}"
{sides}
[[sources]]
id = "stray-lines"
kind = "directory"
path = "stray"
watch = false

[[stages]]
id = "stray"
kind = "map"
input = "stray-lines"
component = {lowercase}

[[stages]]
id = "clicks"
kind = "union"
inputs = ["keyed-clicks", "stray"]
"#,
        lowercase = toml_path(&wasm("lowercase"))
    );
    text += &join_stage("joined", "left_outer_join", "impressions", "clicks");
    if on_error == "dead-letter" {
        text += "\n[[sinks]]\nid = \"dead\"\nkind = \"files\"\ninput = \"dead-letters\"\npath = \"dead\"\n";
    }
    manifest(dir, &text)
}

#[test]
fn a_record_without_a_key_fails_the_join_naming_it_or_is_dead_lettered() {
    let dir = scratch("joins-keyless-stop");
    let out = run(&["run", with_a_keyless_click(&dir, "stop").to_str().unwrap()]);
    assert!(!out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("stage `joined`")
            && out
                .stderr
                .contains("a record of the right input has no key")
            && out.stderr.contains("[record: \"no key here\"]"),
        "{}",
        out.stderr
    );

    let dir = scratch("joins-keyless-dead-letter");
    run_ok(&with_a_keyless_click(&dir, "dead-letter"));
    assert_eq!(
        crate::support::output_lines(&dir.join("dead")),
        [
            "no key here wasmstream-stage=joined wasmstream-error=a record of the right input has no key, and a join matches records by key; key them upstream (the stock json-extract takes the key from a JSON field)"
        ]
    );
    let expected: BTreeMap<u64, Vec<String>> = (1..=BATCHES)
        .map(|b| {
            let left = records_of(impression, LEFT_PER_BATCH, b..=b);
            let right = records_of(click, RIGHT_PER_BATCH, b..=b);
            (b as u64, reference("left_outer_join", &left, &right))
        })
        .collect();
    assert_eq!(
        written(&dir.join("out/joined")),
        expected,
        "the other records joined"
    );
}

#[test]
fn a_cogroup_operator_decides_what_each_key_makes() {
    let dir = scratch("joins-cogroup-operator");
    write_inputs(&dir);
    let mut text = String::from("[pipeline]\nname = \"merged\"\nbatch_interval = \"10ms\"\n");
    text += &keyed_sides();
    for how in ["join", "full_outer_join", "cogroup"] {
        text += &join_stage(how, how, "impressions", "clicks").replace(
            "parallelism = 2",
            &format!(
                "parallelism = 2\ncomponent = {}",
                toml_path(&wasm("merge_json"))
            ),
        );
    }
    run_ok(&manifest(&dir, &text));

    // What merge-json makes, by hand: each pair's fields in one object;
    // a key one side lacks gives the other side's records as they are.
    let merged = |how: &str, left: &[(String, String)], right: &[(String, String)]| {
        let inner = |v: &str| v[1..v.len() - 1].to_owned();
        let mut out = Vec::new();
        for line in reference(how, left, right) {
            let (key, pair) = line[1..line.len() - 1].split_once(',').unwrap();
            let pair: Vec<serde_json::Value> = serde_json::from_str(pair).unwrap();
            let [l, r] = [&pair[0], &pair[1]].map(|v| (!v.is_null()).then(|| v.to_string()));
            let value = match (l, r) {
                (Some(l), Some(r)) => format!("{{{},{}}}", inner(&l), inner(&r)),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => unreachable!(),
            };
            out.push(format!("({key},{value})"));
        }
        out.sort();
        out
    };
    for how in ["join", "full_outer_join", "cogroup"] {
        // A cogroup hands merge-json every key, as a full outer join does.
        let keeps = if how == "cogroup" {
            "full_outer_join"
        } else {
            how
        };
        let expected: BTreeMap<u64, Vec<String>> = (1..=BATCHES)
            .map(|b| {
                let left = records_of(impression, LEFT_PER_BATCH, b..=b);
                let right = records_of(click, RIGHT_PER_BATCH, b..=b);
                (b as u64, merged(keeps, &left, &right))
            })
            .filter(|(_, lines)| !lines.is_empty())
            .collect();
        assert_eq!(
            written(&dir.join("out").join(how)),
            expected,
            "{how} through merge-json"
        );
    }
}

/// Event-time records for the interval join: `(batch, ad, time, line)`,
/// `per_batch` a batch, times running on a second a record with up to
/// 6 s of disorder (so some fall behind a 2 s watermark).
fn timed(
    side: &str,
    count: usize,
    per_batch: usize,
    seed: u64,
) -> Vec<(usize, String, i64, String)> {
    let mut jitter = seed;
    (0..count)
        .map(|i| {
            jitter = jitter
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ad = format!("a{}", (jitter >> 33) % 5);
            let time = 1_000_000 + i as i64 * 1000 - ((jitter >> 40) % 6000) as i64;
            let line = format!(r#"{{"ad":"{ad}","{side}":{i},"ts":{time}}}"#);
            (i / per_batch + 1, ad, time, line)
        })
        .collect()
}

#[test]
fn an_interval_join_meets_records_within_its_bounds_and_sends_late_ones_aside() {
    let dir = scratch("joins-interval");
    let (per_batch, count) = (8, 160);
    let impressions = timed("i", count, per_batch, 7);
    let clicks = timed("c", count, per_batch, 11);
    for (folder, records) in [("impressions", &impressions), ("clicks", &clicks)] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        let lines: Vec<&str> = records.iter().map(|r| r.3.as_str()).collect();
        std::fs::write(dir.join(folder).join("in.json"), lines.join("\n") + "\n").unwrap();
    }
    let mut text = String::from("[pipeline]\nname = \"interval\"\nbatch_interval = \"10ms\"\n");
    for id in ["impressions", "clicks"] {
        text += &json_source(id, per_batch, "key = \"ad\", timestamp = \"ts\"");
    }
    for how in ["join", "full_outer_join"] {
        text += &format!(
            r#"
[[stages]]
id = "{how}"
kind = "{how}"
left = "impressions"
right = "clicks"
time = "event"
before = "1s"
after = "5s"
watermark = "2s"
parallelism = 2

[[sinks]]
id = "{how}-out"
kind = "files"
input = "{how}"
path = "out/{how}"

[[sinks]]
id = "{how}-late"
kind = "files"
input = "{how}.late"
path = "late/{how}"
"#
        );
    }
    run_ok(&manifest(&dir, &text));

    // By hand: the watermark each batch runs with is the latest time of
    // the batches before it, less 2 s; a record behind it is late. Every
    // on-time pair within the bounds meets; an outer join writes each
    // on-time record that met none.
    let batches = count / per_batch;
    let mut watermark = vec![i64::MIN; 2];
    let mut latest = None;
    for b in 1..=batches {
        for r in impressions.iter().chain(&clicks).filter(|r| r.0 == b) {
            latest = latest.max(Some(r.2));
        }
        // What batch b + 1 runs with.
        watermark.push(latest.map_or(i64::MIN, |t| t - 2000));
    }
    let on_time = |r: &&(usize, String, i64, String)| r.2 >= watermark[r.0];
    let (lefts, rights): (Vec<_>, Vec<_>) = (
        impressions.iter().filter(on_time).collect(),
        clicks.iter().filter(on_time).collect(),
    );
    let meets = |l: &(usize, String, i64, String), r: &(usize, String, i64, String)| {
        l.1 == r.1 && l.2 - 1000 <= r.2 && r.2 <= l.2 + 5000
    };
    let mut pairs = Vec::new();
    for l in &lefts {
        for r in &rights {
            if meets(l, r) {
                pairs.push(format!("({},[{},{}])", l.1, l.3, r.3));
            }
        }
    }
    let mut misses = Vec::new();
    for l in lefts.iter().filter(|l| !rights.iter().any(|r| meets(l, r))) {
        misses.push(format!("({},[{},null])", l.1, l.3));
    }
    for r in rights.iter().filter(|r| !lefts.iter().any(|l| meets(l, r))) {
        misses.push(format!("({},[null,{}])", r.1, r.3));
    }
    let mut late: Vec<String> = impressions
        .iter()
        .chain(&clicks)
        .filter(|r| r.2 < watermark[r.0])
        .map(|r| format!("({},{})", r.1, r.3))
        .collect();
    late.sort();
    assert!(
        !late.is_empty() && !misses.is_empty() && pairs.len() > 50,
        "the data has all three"
    );

    let all = |dir: &Path| {
        let mut lines = crate::support::output_lines(dir);
        lines.sort();
        lines
    };
    pairs.sort();
    assert_eq!(all(&dir.join("out/join")), pairs, "inner interval join");
    let mut outer = [pairs.clone(), misses].concat();
    outer.sort();
    assert_eq!(
        all(&dir.join("out/full_outer_join")),
        outer,
        "full outer interval join"
    );
    for how in ["join", "full_outer_join"] {
        assert_eq!(
            all(&dir.join("late").join(how)),
            late,
            "{how}: late records aside"
        );
    }
}

/// Lines with the batch they come in and their key.
type Keyed = Vec<(usize, String, String)>;

/// Orders, and a table of customers that changes as they come: batch by
/// batch, `(batch, customer, line)`. In batch 4 customer `c1` is renamed,
/// in batch 6 `c2` is deleted (an empty row), in batch 8 `c3` appears.
fn orders_and_customers() -> (Keyed, Keyed) {
    let orders = (0..60)
        .map(|i| {
            let customer = format!("c{}", i % 4);
            let line = format!(r#"{{"customer":"{customer}","order":{i}}}"#);
            (i / 6 + 1, customer, line)
        })
        .collect();
    let row = |batch: usize, customer: &str, name: &str| {
        let line = format!(r#"{{"customer":"{customer}","row":"{name}"}}"#);
        (batch, customer.to_owned(), line)
    };
    let customers = vec![
        row(1, "c0", "Ada"),
        row(1, "c1", "Grace"),
        row(1, "c2", "Edsger"),
        row(4, "c1", "Grace H."),
        row(6, "c2", ""),
        row(8, "c3", "Barbara"),
    ];
    (orders, customers)
}

#[test]
fn a_stream_meets_a_table_as_it_stands_when_each_record_comes() {
    let dir = scratch("joins-table");
    let (orders, customers) = orders_and_customers();
    // One file per batch for the table, so its changes land in the batch
    // they are meant for; orders six a batch.
    std::fs::create_dir_all(dir.join("orders")).unwrap();
    let lines: Vec<&str> = orders.iter().map(|o| o.2.as_str()).collect();
    std::fs::write(dir.join("orders/in.json"), lines.join("\n") + "\n").unwrap();
    std::fs::create_dir_all(dir.join("customers")).unwrap();
    let mut table_lines = Vec::new();
    for b in 1..=10 {
        let rows: Vec<&str> = customers
            .iter()
            .filter(|c| c.0 == b)
            .map(|c| c.2.as_str())
            .collect();
        // Padding rows for a customer no order has keep the batches in step.
        let padding = format!(r#"{{"customer":"nobody","row":"pad {b}"}}"#);
        for i in 0..3 {
            table_lines.push(
                rows.get(i)
                    .map(|r| r.to_string())
                    .unwrap_or(padding.clone()),
            );
        }
    }
    std::fs::write(dir.join("customers/in.json"), table_lines.join("\n") + "\n").unwrap();
    let mut text = String::from("[pipeline]\nname = \"tables\"\nbatch_interval = \"10ms\"\n");
    text += &json_source("orders", 6, "key = \"customer\"");
    text += &json_source("customers", 3, "key = \"customer\", value = \"row\"");
    for (id, how, global) in [
        ("enriched", "join", false),
        ("all-orders", "left_outer_join", false),
        ("global", "left_outer_join", true),
    ] {
        text += &format!(
            r#"
[[stages]]
id = "{id}"
kind = "{how}"
left = "orders"
table = "customers"
global = {global}
parallelism = 2

[[sinks]]
id = "{id}-out"
kind = "files"
input = "{id}"
path = "out/{id}"
"#
        );
    }
    run_ok(&manifest(&dir, &text));

    // By hand: each batch's table rows first (an empty one deletes), then
    // its orders looked up.
    let mut table: BTreeMap<String, String> = BTreeMap::new();
    let (mut inner, mut outer) = (BTreeMap::new(), BTreeMap::new());
    for b in 1..=10usize {
        for (_, customer, line) in customers.iter().filter(|c| c.0 == b) {
            let name = line
                .split("\"row\":\"")
                .nth(1)
                .unwrap()
                .trim_end_matches("\"}");
            match name.is_empty() {
                true => table.remove(customer),
                false => table.insert(customer.clone(), name.to_owned()),
            };
        }
        for (_, customer, line) in orders.iter().filter(|o| o.0 == b) {
            let row = table.get(customer).map(|n| format!("\"{n}\""));
            let written = format!("({customer},[{line},{}])", row.as_deref().unwrap_or("null"));
            if row.is_some() {
                inner
                    .entry(b as u64)
                    .or_insert_with(Vec::new)
                    .push(written.clone());
            }
            outer.entry(b as u64).or_insert_with(Vec::new).push(written);
        }
    }
    for lines in inner.values_mut().chain(outer.values_mut()) {
        lines.sort();
    }
    assert!(
        outer[&7]
            .iter()
            .any(|l| l.starts_with("(c2,") && l.ends_with(",null])"))
    );
    assert_eq!(
        written(&dir.join("out/enriched")),
        inner,
        "join with a table"
    );
    assert_eq!(
        written(&dir.join("out/all-orders")),
        outer,
        "left outer join with a table"
    );
    assert_eq!(
        written(&dir.join("out/global")),
        outer,
        "the same with a global table"
    );
}

/// A checkpointed pipeline in `dir` with an interval join (impressions
/// and clicks, out of order, some late) and a stream-table join (orders
/// and a table of customers changing and deleting rows), `records` of
/// each, ten a batch.
fn crashy_joins(dir: &Path, records: usize) -> std::path::PathBuf {
    let files: [(&str, Vec<String>); 4] = [
        (
            "impressions",
            timed("i", records, 10, 7)
                .into_iter()
                .map(|r| r.3)
                .collect(),
        ),
        (
            "clicks",
            timed("c", records, 10, 11)
                .into_iter()
                .map(|r| r.3)
                .collect(),
        ),
        (
            "orders",
            (0..records)
                .map(|i| format!(r#"{{"customer":"c{}","order":{i}}}"#, i % 7))
                .collect(),
        ),
        (
            "customers",
            (0..records)
                .map(|i| {
                    let name = if i % 5 == 0 {
                        String::new()
                    } else {
                        format!("name-{i}")
                    };
                    format!(r#"{{"customer":"c{}","row":"{name}"}}"#, i * 3 % 7)
                })
                .collect(),
        ),
    ];
    for (folder, lines) in &files {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join("in.json"), lines.join("\n") + "\n").unwrap();
    }
    let mut text = String::from(
        "[pipeline]\nname = \"crashy-joins\"\nbatch_interval = \"10ms\"\ncheckpoint = { dir = \"checkpoints\", every = 3 }\n",
    );
    for (id, params) in [
        ("impressions", "key = \"ad\", timestamp = \"ts\""),
        ("clicks", "key = \"ad\", timestamp = \"ts\""),
        ("orders", "key = \"customer\""),
        ("customers", "key = \"customer\", value = \"row\""),
    ] {
        text += &json_source(id, 10, params);
    }
    text += r#"
[[stages]]
id = "clicked"
kind = "full_outer_join"
left = "impressions"
right = "clicks"
time = "event"
before = "1s"
after = "5s"
watermark = "2s"
parallelism = 2

[[stages]]
id = "enriched"
kind = "left_outer_join"
left = "orders"
table = "customers"
parallelism = 2
"#;
    for (id, input) in [
        ("clicked", "clicked"),
        ("late", "clicked.late"),
        ("enriched", "enriched"),
    ] {
        text += &format!(
            "\n[[sinks]]\nid = \"{id}-out\"\nkind = \"files\"\ninput = \"{input}\"\npath = \"out/{id}\"\n"
        );
    }
    manifest(dir, &text)
}

/// Every file the sinks wrote under `dir/out`, with its exact contents.
fn all_outputs(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for sink in ["clicked", "late", "enriched"] {
        for (id, text) in batch_texts(&dir.join("out").join(sink)) {
            files.insert(format!("{sink}/{id}"), text);
        }
    }
    files
}

#[test]
fn joins_killed_at_random_moments_write_what_an_uninterrupted_run_writes() {
    let records = 1000;
    let reference = scratch("joins-crash-reference");
    run_ok(&crashy_joins(&reference, records));
    let expected = all_outputs(&reference);
    assert!(
        expected.keys().any(|f| f.starts_with("late/")) && expected.len() > 150,
        "the reference run wrote {} files, some of late records",
        expected.len()
    );

    let dir = scratch("joins-crash-killed");
    let manifest = crashy_joins(&dir, records);
    kill_again_and_again(&manifest, "crashy-joins", 12, (records / 10) as u64);
    let got = all_outputs(&dir);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same output files"
    );
    for (file, text) in &expected {
        assert_eq!(&got[file], text, "{file} differs after 12 kills");
    }
}
