//! `wasmstream status`: what versions a pipeline runs, and every reload,
//! refusal, rollback and promotion it has recorded; with `--workers`,
//! which worker reads which partition of each shared Kafka source, and
//! how far behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};

use crate::plan::SourceKind;
use crate::reload::events::{self, Event, What};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A local pipeline's manifest (TOML), or a deployed pipeline's name.
    #[arg(value_name = "MANIFEST|PIPELINE")]
    target: String,
    /// For a pipeline run with `wasmstream run --worker`: each Kafka
    /// source's consumer group, and per partition the worker that reads it
    /// (the last to commit), its committed offset, end and lag.
    #[arg(long)]
    workers: bool,
    #[command(flatten)]
    connection: super::client::Connection,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let manifest = PathBuf::from(&args.target);
    if args.workers {
        return workers(&manifest);
    }
    if !manifest.is_file() {
        return super::remote::status(&args.target, &args.connection);
    }
    let name = super::pipeline_name(&manifest)?;
    let dir = events::control_dir(&manifest, &name);
    let recorded = events::read(&dir).with_context(|| {
        format!(
            "pipeline `{name}` has recorded no events here; has it been run with `wasmstream run`?"
        )
    })?;
    println!("pipeline `{name}` ({})", dir.join("events.jsonl").display());
    for event in &recorded {
        println!("{}  {}", clock(event.time_ms), event.describe());
    }
    let mut live: BTreeMap<&str, &Event> = BTreeMap::new();
    let mut shadow: BTreeMap<&str, &Event> = BTreeMap::new();
    let mut compared: BTreeMap<&str, &Event> = BTreeMap::new();
    for event in &recorded {
        let Some(stage) = event.stage.as_deref() else {
            continue;
        };
        match event.what {
            What::Started => {
                // A new run: what an earlier run did to its shadows is over.
                shadow.remove(stage);
                compared.remove(stage);
                live.insert(stage, event);
            }
            What::Reloaded | What::RolledBack | What::Promoted => {
                live.insert(stage, event);
                if event.what == What::Promoted {
                    shadow.remove(stage);
                }
            }
            What::ShadowStarted => {
                shadow.insert(stage, event);
            }
            What::ShadowStopped => {
                shadow.remove(stage);
            }
            What::Shadow => {
                compared.insert(stage, event);
            }
            What::Refused | What::NeedsRestart | What::Changed => {}
        }
    }
    println!("live versions:");
    for (stage, event) in &live {
        println!(
            "  {stage}: {} since {} ({})",
            event.version.as_deref().unwrap_or("?"),
            event
                .first_batch
                .map_or_else(|| "the start".to_owned(), |b| format!("batch {b}")),
            event.reason
        );
        if let Some(candidate) = shadow.get(stage) {
            println!(
                "    shadow: {}{}",
                candidate.version.as_deref().unwrap_or("?"),
                compared
                    .get(stage)
                    .map_or_else(String::new, |c| format!("; last comparison: {}", c.reason))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the workers of each Kafka source of `manifest` stand, as the
/// broker has it.
fn workers(manifest: &Path) -> Result<ExitCode> {
    let parsed = crate::manifest::load(manifest).map_err(|e| anyhow!("{e}"))?;
    let mut plan = crate::plan::resolve(&parsed).map_err(|e| anyhow!("{e}"))?;
    plan.as_worker().map_err(|e| anyhow!("{e}"))?;
    for source in &plan.sources {
        let SourceKind::Kafka(spec) = &source.kind else {
            continue;
        };
        if !spec.worker {
            println!(
                "source `{}`: topic `{}` at {}, read whole by every worker (a global table)",
                source.id, spec.topic, spec.bootstrap
            );
            continue;
        }
        let status = crate::connector::kafka::group_status(spec)
            .with_context(|| format!("source `{}`", source.id))?;
        println!(
            "source `{}`: topic `{}` at {}, group `{}`",
            source.id, spec.topic, spec.bootstrap, spec.group
        );
        match &status.members {
            Some((state, members)) => println!(
                "  {state}, {} member(s){}{}",
                members.len(),
                if members.is_empty() { "" } else { ": " },
                members.join(", ")
            ),
            None => println!("  members: the broker does not say"),
        }
        println!(
            "  {:>9}  {:<28} {:>12} {:>12} {:>10}",
            "partition", "worker", "committed", "end", "lag"
        );
        for p in &status.partitions {
            println!(
                "  {:>9}  {:<28} {:>12} {:>12} {:>10}",
                p.partition,
                p.worker.as_deref().unwrap_or("-"),
                p.committed
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                p.end,
                p.lag()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-21T11:40:03.123Z` for milliseconds since the Unix epoch.
fn clock(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_renders_utc() {
        assert_eq!(super::clock(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::clock(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
