//! From a parsed manifest to a plan: paths resolved against the manifest's
//! folder, units parsed, settings checked against the kind they belong
//! to, components hashed, and the stage graph checked for unknown inputs
//! and cycles. Every problem is reported at once, each naming its line
//! and field. Nothing runs here: components are bound afterwards
//! ([`super::bind`]).
//!
//! One file per part of the manifest: [`sources`], [`stages`] (with
//! [`windows`] and [`joins`]) and [`sinks`]; what each stream carries is
//! checked in [`streams`]; the pipeline settings and the graph are here.

mod graph;
mod joins;
mod sinks;
mod sources;
mod stages;
mod streams;
mod trigger;
mod windows;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CheckpointPlan, Id, OnError, PipelinePlan, ReloadPlan, Role, Stream};
use crate::manifest::{
    Collector, LimitsSpec, Manifest, ManifestError, ManifestErrors, Spanned, StageSettings, units,
};
use crate::plugin::{Limits, Runtime};

/// The shortest batch interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The most memory an operator may be given: all a 32-bit WebAssembly
/// instance can address.
const MAX_OPERATOR_MEMORY: usize = 4 << 30;

/// Reads, resolves, checks and binds the manifest at `file`, reporting
/// every problem at once: shape errors in some entries do not hide the
/// other entries' problems, nor do they keep the components of the
/// entries that resolved from being checked. Blocking (it may compile):
/// call it off the async runtime.
pub fn load(file: &Path, runtime: &Runtime) -> Result<super::Bound, ManifestErrors> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ManifestErrors(vec![ManifestError {
            file: file.to_owned(),
            line: None,
            field: String::new(),
            message: format!("cannot read the manifest: {e}"),
        }])
    })?;
    let (manifest, mut errors) = crate::manifest::parse_lenient(file, text);
    let Some(manifest) = manifest else {
        return Err(ManifestErrors(errors));
    };
    let (plan, resolve_errors) = Resolver::new(&manifest).resolve();
    errors.extend(resolve_errors);
    let bound = super::bind(&plan, runtime);
    if let Err(bind_errors) = &bound {
        let mut located = Collector::new(&manifest.file, &manifest.text);
        for e in bind_errors {
            let (span, field) = locate(&manifest, &e.stage, e.field);
            located.push(span, field, e.message.clone());
        }
        errors.extend(located.errors);
    }
    match bound {
        Ok(bound) if errors.is_empty() => Ok(bound),
        _ => {
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(ManifestErrors(errors))
        }
    }
}

/// Resolves and checks `manifest` into a plan, without loading its
/// components.
pub fn resolve(manifest: &Manifest) -> Result<PipelinePlan, ManifestErrors> {
    let (plan, mut errors) = Resolver::new(manifest).resolve();
    if errors.is_empty() {
        return Ok(plan);
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Err(ManifestErrors(errors))
}

/// Where a stage's field is in the manifest: its span and its path
/// (`stages[2].component`).
fn locate(
    manifest: &Manifest,
    stage: &Id,
    field: super::bind::Field,
) -> (Option<Range<usize>>, String) {
    use super::bind::Field;
    let Some(spec) = manifest
        .stages
        .iter()
        .find(|s| s.id.get_ref() == stage.as_str())
    else {
        return (None, format!("stages.{stage}"));
    };
    let span = |value: Option<&Spanned<String>>| value.map(Spanned::span);
    let operator = spec.settings.operator();
    let component = operator.and_then(|op| op.component);
    let (span, name) = match field {
        Field::Component(Role::Operator) => (span(component), "component"),
        Field::Component(Role::Inverse) => match &spec.settings {
            StageSettings::ReduceByKeyAndWindow(s) => (span(s.inverse.as_ref()), "inverse"),
            _ => (None, "inverse"),
        },
        Field::Component(Role::Shadow) => (span(operator.and_then(|op| op.shadow)), "shadow"),
        Field::Params => (
            operator
                .and_then(|op| op.params)
                .map(Spanned::span)
                .or_else(|| span(component)),
            "params",
        ),
    };
    (span, format!("stages[{}].{name}", spec.position))
}

/// Resolves one manifest, collecting every error.
pub(super) struct Resolver<'a> {
    manifest: &'a Manifest,
    errors: Collector<'a>,
}

/// Settings every stage starts from.
#[derive(Clone, Copy)]
struct Defaults {
    parallelism: usize,
    limits: Limits,
    interval: Duration,
}

impl<'a> Resolver<'a> {
    fn new(manifest: &'a Manifest) -> Self {
        Resolver {
            manifest,
            errors: Collector::new(&manifest.file, &manifest.text),
        }
    }

    /// The plan, as far as it resolved, and every error found; a plan
    /// with errors leaves out the entries that failed, so their
    /// neighbours' components can still be checked.
    fn resolve(mut self) -> (PipelinePlan, Vec<ManifestError>) {
        let m = self.manifest;
        let p = &m.pipeline;
        self.name();
        let interval = self.interval();
        let on_error = self.on_error();
        let defaults = Defaults {
            parallelism: self
                .parallelism(p.parallelism.as_ref(), "pipeline.parallelism")
                .unwrap_or(1),
            limits: self.limits(p.limits.as_ref(), Limits::default(), "pipeline.limits"),
            interval,
        };
        self.check_ids();
        let checkpoint = p.checkpoint.as_ref().and_then(|c| self.checkpoint(c));
        let reload = self.reload(p.reload.as_ref());
        let state_memory = self.state_memory();
        let mut sources: Vec<_> = m
            .sources
            .iter()
            .filter_map(|s| self.source(s, interval))
            .collect();
        let trigger = self.trigger(&mut sources);
        let stages = self.stages(defaults);
        self.check_streams(&sources, &stages);
        let mut sinks: Vec<_> = m.sinks.iter().filter_map(|s| self.sink(s)).collect();
        self.one_folder_each(&sinks);
        sinks::commit_offsets_in_transactions(&mut sources, &mut sinks);
        if !m.has("sources") {
            self.errors
                .push(None, "sources", "the pipeline has no [[sources]]");
        }
        if !m.has("sinks") {
            self.errors.push(
                None,
                "sinks",
                "the pipeline has no [[sinks]]; its results would go nowhere",
            );
        }
        let plan = PipelinePlan {
            name: p.name.get_ref().clone(),
            file: m.file.clone(),
            interval,
            trigger,
            on_error,
            sources,
            stages,
            sinks,
            checkpoint,
            state_memory,
            backpressure: p.backpressure.unwrap_or(false),
            reload,
            changelogs: Vec::new(),
        };
        (plan, self.errors.errors)
    }

    /// The pipeline's name is part of the names of its files (state that
    /// spills, Kafka transactions), so it must be an id, never a path.
    fn name(&mut self) {
        let name = &self.manifest.pipeline.name;
        if Id::new(name.get_ref()).is_err() {
            self.error(
                name,
                "pipeline.name",
                format!(
                    "{:?} is not a valid pipeline name; use letters, digits, `_` and `-` (the name is part of file names, so it cannot be a path)",
                    name.get_ref()
                ),
            );
        }
    }

    fn interval(&mut self) -> Duration {
        let Some(text) = &self.manifest.pipeline.batch_interval else {
            return Duration::from_secs(1);
        };
        match units::duration(text.get_ref()) {
            Ok(d) if d >= MIN_INTERVAL => d,
            Ok(d) => {
                self.error(
                    text,
                    "pipeline.batch_interval",
                    format!(
                        "{} ms is below the minimum of {} ms",
                        d.as_millis(),
                        MIN_INTERVAL.as_millis()
                    ),
                );
                MIN_INTERVAL
            }
            Err(e) => {
                self.error(text, "pipeline.batch_interval", e);
                MIN_INTERVAL
            }
        }
    }

    fn on_error(&mut self) -> OnError {
        let m = self.manifest;
        let Some(span) = &m.pipeline.on_error else {
            return OnError::Stop;
        };
        match span.get_ref().as_str() {
            "stop" => OnError::Stop,
            "skip" => OnError::Skip,
            "dead-letter" => {
                let mut read = m
                    .sinks
                    .iter()
                    .map(|s| &s.input)
                    .chain(m.stages.iter().filter_map(|s| s.input.as_ref()));
                if !read.any(|input| input.get_ref() == Stream::DEAD_LETTERS) {
                    self.error(
                        span,
                        "pipeline.on_error",
                        format!(
                            "rejected records go to the stream `{0}`, but no sink reads it; add a sink with `input = \"{0}\"`",
                            Stream::DEAD_LETTERS
                        ),
                    );
                }
                OnError::DeadLetter
            }
            other => {
                self.error(
                    span,
                    "pipeline.on_error",
                    format!("{other:?} is not a policy; use \"stop\", \"skip\" or \"dead-letter\""),
                );
                OnError::Stop
            }
        }
    }

    fn state_memory(&mut self) -> usize {
        const DEFAULT: usize = 256 << 20;
        let Some(text) = &self.manifest.pipeline.state_memory else {
            return DEFAULT;
        };
        match units::bytes(text.get_ref()) {
            Ok(b) if b >= 1 << 20 => b,
            Ok(_) => {
                self.error(text, "pipeline.state_memory", "must be at least 1MiB");
                DEFAULT
            }
            Err(e) => {
                self.error(text, "pipeline.state_memory", e);
                DEFAULT
            }
        }
    }

    fn reload(&mut self, spec: Option<&crate::manifest::ReloadSpec>) -> ReloadPlan {
        let mut plan = ReloadPlan::default();
        let Some(spec) = spec else { return plan };
        plan.watch = spec.watch.unwrap_or(true);
        if let Some(n) = &spec.probation {
            match u32::try_from(*n.get_ref()) {
                Ok(n) => plan.probation = n,
                Err(_) => self.error(
                    n,
                    "pipeline.reload.probation",
                    "must be a number of batches, 0 or more",
                ),
            }
        }
        if let Some(text) = &spec.debounce {
            match units::duration(text.get_ref()) {
                Ok(d) => plan.debounce = d,
                Err(e) => self.error(text, "pipeline.reload.debounce", e),
            }
        }
        plan
    }

    fn checkpoint(&mut self, spec: &crate::manifest::CheckpointSpec) -> Option<CheckpointPlan> {
        let every = match &spec.every {
            None => 10,
            Some(n) if *n.get_ref() < 1 => {
                self.error(n, "pipeline.checkpoint.every", "must be at least 1 batch");
                return None;
            }
            Some(n) => *n.get_ref() as u64,
        };
        // Replay after a crash re-reads each batch's input: a source that
        // cannot read its input again cannot be checkpointed honestly.
        for s in &self.manifest.sources {
            if let kind @ ("socket" | "stdin") = s.kind.get_ref().as_str() {
                self.error(
                    &s.kind,
                    format!("sources[{}].kind", s.position),
                    format!("a {kind} source cannot read its input again after a crash, so a pipeline with `checkpoint` cannot use it; use a directory (or generator) source, or remove `checkpoint`"),
                );
            }
        }
        let dir = self.path(spec.dir.get_ref());
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        if absolute(&self.path(".")).starts_with(absolute(&dir)) {
            self.error(
                &spec.dir,
                "pipeline.checkpoint.dir",
                format!(
                    "{} is the manifest's folder or one above it; checkpoints need a folder of their own, e.g. `dir = \"checkpoints\"`",
                    dir.display()
                ),
            );
            return None;
        }
        Some(CheckpointPlan { dir, every })
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Some(at.span()), field, message);
    }

    /// `relative` resolved against the manifest's folder, without `..`
    /// detours, so messages show the path a user would type.
    fn path(&self, relative: &str) -> PathBuf {
        let base = self.manifest.file.parent().unwrap_or(Path::new("."));
        let mut clean = PathBuf::new();
        for part in base.join(relative).components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir
                    if matches!(
                        clean.components().next_back(),
                        Some(std::path::Component::Normal(_))
                    ) =>
                {
                    clean.pop();
                }
                other => clean.push(other),
            }
        }
        clean
    }

    fn parallelism(&mut self, value: Option<&Spanned<i64>>, field: &str) -> Option<usize> {
        let value = value?;
        match *value.get_ref() {
            n @ 1..=1024 => Some(n as usize),
            n => {
                self.error(value, field, format!("{n} is out of range; use 1 to 1024"));
                None
            }
        }
    }

    fn limits(&mut self, spec: Option<&LimitsSpec>, default: Limits, field: &str) -> Limits {
        let mut limits = default;
        let Some(spec) = spec else { return limits };
        if let Some(memory) = &spec.memory {
            match units::bytes(memory.get_ref()) {
                Ok(b) if (1 << 20..=MAX_OPERATOR_MEMORY).contains(&b) => limits.memory_bytes = b,
                Ok(b) if b < 1 << 20 => {
                    self.error(memory, format!("{field}.memory"), "must be at least 1MiB")
                }
                Ok(_) => self.error(
                    memory,
                    format!("{field}.memory"),
                    "must be at most 4GiB, all that a 32-bit WebAssembly operator can address",
                ),
                Err(e) => self.error(memory, format!("{field}.memory"), e),
            }
        }
        if let Some(cpu) = &spec.cpu {
            match units::duration(cpu.get_ref()) {
                Ok(d) if d >= Duration::from_millis(1) => limits.cpu = d,
                Ok(_) => self.error(cpu, format!("{field}.cpu"), "must be at least 1ms"),
                Err(e) => self.error(cpu, format!("{field}.cpu"), e),
            }
        }
        limits
    }

    /// The value of a setting a kind requires, or an error at `kind`.
    fn required(
        &mut self,
        value: &Option<Spanned<String>>,
        kind: &Spanned<String>,
        field: String,
        missing: &str,
    ) -> Option<String> {
        match value {
            Some(v) if !v.get_ref().is_empty() => Some(v.get_ref().clone()),
            Some(v) => {
                self.error(v, field, "must not be empty");
                None
            }
            None => {
                self.error(kind, field, missing);
                None
            }
        }
    }
}
