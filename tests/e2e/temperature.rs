//! Story: an operations engineer runs the temperature example: per-device
//! sliding averages over event time, alerts above a threshold, and the one
//! reading that came too late shown rather than lost.

use crate::support::{example_in, run_ok, scratch};

#[test]
fn temperature_example_alerts_on_the_server_rack_only_and_shows_the_late_reading() {
    let dir = scratch("temperature");
    let manifest = example_in("temperature", &dir);

    let output = run_ok(&manifest);
    let alerts: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| l.contains("ALERT"))
        .collect();
    assert_eq!(alerts.len(), 13, "{}", output.stdout);
    assert!(
        alerts
            .iter()
            .all(|a| a.starts_with("(server-rack,ALERT avg=")),
        "{alerts:#?}"
    );
    assert_eq!(
        alerts[0],
        "(server-rack,ALERT avg=30.49 max=32.20 readings=12) window_start=1735689770000 window_end=1735689830000"
    );
    assert!(
        output.stdout.lines().any(|l| l == "(office,20.9)"),
        "the late reading is shown: {}",
        output.stdout
    );
    assert!(
        output.stderr.contains("records_late=1"),
        "{}",
        output.stderr
    );

    // Every device has a window report; each window covers 60 s.
    let reports = crate::support::output_lines(&dir.join("out/windows"));
    for device in ["boiler-room", "office", "server-rack"] {
        assert!(
            reports
                .iter()
                .any(|r| r.starts_with(&format!("({device},avg="))),
            "no window for {device}"
        );
    }
    assert!(reports.iter().all(|r| {
        let bound = |name: &str| -> i64 {
            r.split(&format!(" {name}="))
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        bound("window_end") - bound("window_start") == 60_000
    }));
}
