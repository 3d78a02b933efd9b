//! Story: a data engineer runs the ad-clicks example: impressions joined
//! with the clicks on them over event time, and the click-through rate per
//! campaign and minute, checked here against the bundled data by hand.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::support::{example_in, output_lines, repo, run_ok, scratch};

#[test]
fn ad_clicks_example_reports_each_campaigns_click_through_rate_per_minute() {
    let dir = scratch("ad-clicks");
    let manifest = example_in("ad-clicks", &dir);
    let output = run_ok(&manifest);

    // By hand: an impression is clicked if a click on it comes 0 to 30 s
    // after it; per campaign and minute of impression time, the share.
    let events = repo().join("examples/ad-clicks/data/events.json");
    let events = std::fs::read_to_string(events).unwrap();
    let events: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let clicks: HashMap<&str, i64> = events
        .iter()
        .filter(|e| e["clicked"] == 1)
        .map(|e| (e["imp"].as_str().unwrap(), e["click_ts"].as_i64().unwrap()))
        .collect();
    let mut minutes: BTreeMap<(i64, &str), (u32, u32)> = BTreeMap::new();
    for e in events.iter().filter(|e| e["clicked"] == 0) {
        let ts = e["ts"].as_i64().unwrap();
        let clicked = clicks
            .get(e["imp"].as_str().unwrap())
            .is_some_and(|&at| (0..=30_000).contains(&(at - ts)));
        let minute = ts - ts.rem_euclid(60_000);
        let counts = minutes
            .entry((minute, e["campaign"].as_str().unwrap()))
            .or_default();
        counts.0 += 1;
        counts.1 += u32::from(clicked);
    }
    let mut expected: Vec<String> = minutes
        .iter()
        .map(|((minute, campaign), (shown, clicked))| {
            format!(
                "({campaign},avg={:.2} max={}.00 readings={shown}) window_start={minute} window_end={}",
                *clicked as f64 / *shown as f64,
                u32::from(*clicked > 0),
                minute + 60_000
            )
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 15, "three campaigns over five minutes");

    let mut reported = output_lines(&dir.join("out/ctr"));
    reported.sort();
    assert_eq!(reported, expected);
    assert!(output.stdout.contains("(autumn,avg="), "{}", output.stdout);
    assert!(
        output.stderr.contains("records_late=0"),
        "{}",
        output.stderr
    );
}
