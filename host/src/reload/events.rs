//! The record of every version change: started, reloaded, refused, rolled
//! back, promoted, shadow comparisons, and manifest edits that need a
//! restart. Each event is logged and appended, one JSON object a line, to
//! `events.jsonl` in the pipeline's control folder, where
//! `wasmstream status` reads it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::metrics::PipelineMetrics;

/// The events file's name in the control folder.
const FILE: &str = "events.jsonl";

/// The folder beside a manifest where a running pipeline keeps its events
/// and takes commands: `.wasmstream/<pipeline>/`.
pub fn control_dir(manifest: &Path, pipeline: &str) -> PathBuf {
    manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join(".wasmstream")
        .join(pipeline)
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// The pipeline started with this version.
    Started,
    /// A new version went live.
    Reloaded,
    /// A new version failed its checks and never went live.
    Refused,
    /// A new version failed a batch on probation; the old one is back.
    RolledBack,
    /// The shadow version became the live one.
    Promoted,
    /// A shadow version started running beside the live one.
    ShadowStarted,
    /// The shadow version was stopped.
    ShadowStopped,
    /// A shadow version's output compared with the live output.
    Shadow,
    /// A manifest edit to the whole pipeline was applied.
    Changed,
    /// A manifest edit that cannot be applied while running.
    NeedsRestart,
}

/// One change of version, or one refusal of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What happened.
    pub what: What,
    /// The stage, if it concerns one.
    pub stage: Option<String>,
    /// The version concerned (the component's content hash, shortened).
    pub version: Option<String>,
    /// The version live before, for a change.
    pub previous: Option<String>,
    /// The first batch on the version now live.
    pub first_batch: Option<u64>,
    /// The file concerned.
    pub file: Option<String>,
    /// Why, in words.
    pub reason: String,
}

impl What {
    /// Its name in the events file (and the metrics).
    pub fn name(self) -> &'static str {
        match self {
            What::Started => "started",
            What::Reloaded => "reloaded",
            What::Refused => "refused",
            What::RolledBack => "rolled-back",
            What::Promoted => "promoted",
            What::ShadowStarted => "shadow-started",
            What::ShadowStopped => "shadow-stopped",
            What::Shadow => "shadow",
            What::Changed => "changed",
            What::NeedsRestart => "needs-restart",
        }
    }
}

impl Event {
    /// An event happening now.
    pub fn now(what: What, stage: Option<&str>, reason: impl Into<String>) -> Event {
        Event {
            time_ms: crate::source::now_millis(),
            what,
            stage: stage.map(str::to_owned),
            version: None,
            previous: None,
            first_batch: None,
            file: None,
            reason: reason.into(),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let mut line = format!("{:?}", self.what).to_lowercase();
        line = match self.what {
            What::RolledBack => "rolled back".into(),
            What::NeedsRestart => "needs a restart".into(),
            What::ShadowStarted => "shadow started".into(),
            What::ShadowStopped => "shadow stopped".into(),
            _ => line,
        };
        if let Some(stage) = &self.stage {
            line.push_str(&format!(" stage `{stage}`"));
        }
        if let Some(version) = &self.version {
            line.push_str(&format!(" version {version}"));
        }
        if let Some(previous) = &self.previous {
            line.push_str(&format!(" (was {previous})"));
        }
        if let Some(batch) = self.first_batch {
            line.push_str(&format!(" from batch {batch}"));
        }
        if let Some(file) = &self.file {
            line.push_str(&format!(" file {file}"));
        }
        // One line, whatever the reason quotes (a panic message spans two).
        format!("{line}: {}", self.reason.replace('\n', " "))
    }
}

/// The events file of one running pipeline.
pub struct EventLog {
    pipeline: String,
    path: PathBuf,
    file: File,
    /// Where events are counted too, if the pipeline has metrics.
    pub(super) metrics: Option<Arc<PipelineMetrics>>,
}

impl EventLog {
    /// Opens (appending to) the events file in `dir`; counts each event in
    /// `metrics` too, if given.
    pub fn open(
        dir: &Path,
        pipeline: &str,
        metrics: Option<Arc<PipelineMetrics>>,
    ) -> Result<EventLog> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the control folder {}", dir.display()))?;
        let path = dir.join(FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(EventLog {
            pipeline: pipeline.to_owned(),
            path,
            file,
            metrics,
        })
    }

    /// Logs `event` and appends it to the file.
    pub fn record(&mut self, event: Event) {
        if let Some(metrics) = &self.metrics {
            metrics.reload_event(&event);
        }
        let line = event.describe();
        match event.what {
            What::Refused | What::RolledBack | What::NeedsRestart => {
                tracing::warn!(pipeline = %self.pipeline, "{line}")
            }
            _ => tracing::info!(pipeline = %self.pipeline, "{line}"),
        }
        let mut json = serde_json::to_string(&event).expect("an event serializes");
        json.push('\n');
        if let Err(e) = self.file.write_all(json.as_bytes()) {
            tracing::warn!(pipeline = %self.pipeline, "cannot write {}: {e}", self.path.display());
        }
    }
}

/// Every event in the control folder `dir`, oldest first; lines that are
/// not events (a write cut short) are named and skipped.
pub fn read(dir: &Path) -> Result<Vec<Event>> {
    let path = dir.join(FILE);
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut events = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        match serde_json::from_str(&line) {
            Ok(event) => events.push(event),
            Err(e) => eprintln!("{}:{}: not an event ({e}); skipped", path.display(), n + 1),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_has_the_same_name_in_the_file_and_the_metrics() {
        use What::*;
        for what in [
            Started,
            Reloaded,
            Refused,
            RolledBack,
            Promoted,
            ShadowStarted,
            ShadowStopped,
            Shadow,
            Changed,
            NeedsRestart,
        ] {
            let json = serde_json::to_string(&what).unwrap();
            assert_eq!(json, format!("\"{}\"", what.name()));
        }
    }
}
