//! Checking a new version before it may go live, off the batch path: it
//! must load (compiled once, cached by content hash), export the stage's
//! kind, accept the stage's params in `init`, and run the last batch's
//! calls without failing. The instances that pass go live, so the swap
//! itself only moves them in.

use std::path::PathBuf;
use std::sync::Arc;

use crate::plugin::{Failure, Instance, Limits, OperatorKind, Plugin, Runtime};
use crate::record::ByteList;
use crate::stage::{Call, WasmOperator};

/// A version to check.
pub struct Candidate {
    /// The stage it is for.
    pub stage: String,
    /// Its component file.
    pub file: PathBuf,
    /// Already loaded (a shadow being promoted, a manifest re-read), or
    /// to be loaded from `file`.
    pub plugin: Option<Arc<Plugin>>,
    /// The kind the stage runs.
    pub kind: OperatorKind,
    /// The stage's params, for `init`.
    pub params: Vec<(String, String)>,
    /// The stage's limits.
    pub limits: Limits,
    /// Each partition's label.
    pub labels: Vec<Arc<str>>,
    /// Each partition's last successful call, to dry-run.
    pub last_calls: Vec<Option<Call>>,
    /// The content hash of the live version, whose states a migrating
    /// candidate converts.
    pub from_version: Option<String>,
    /// Why it is tried, for the event.
    pub reason: String,
}

/// A version that passed, ready to swap in.
pub struct Prepared {
    /// The stage it is for.
    pub stage: String,
    /// The version.
    pub op: Arc<WasmOperator>,
    /// A fresh instance per partition, `init` done.
    pub instances: Vec<Option<Instance>>,
    /// Why it was tried.
    pub reason: String,
}

/// A version that failed its checks.
#[derive(Debug)]
pub struct Refusal {
    /// The stage it was for.
    pub stage: String,
    /// Its file.
    pub file: PathBuf,
    /// Its content hash, if it loaded.
    pub version: Option<String>,
    /// What was wrong.
    pub reason: String,
}

/// Checks `candidate`. Blocking: call it off the async runtime.
pub fn prepare(runtime: &Runtime, candidate: Candidate) -> Result<Prepared, Refusal> {
    let refuse = |version: Option<String>, reason: String| Refusal {
        stage: candidate.stage.clone(),
        file: candidate.file.clone(),
        version,
        reason,
    };
    let plugin = match &candidate.plugin {
        Some(plugin) => plugin.clone(),
        None => runtime
            .load(&candidate.file)
            .map_err(|e| refuse(None, e.reason))?,
    };
    let version = Some(super::short(&plugin.digest()));
    if plugin.kind() != candidate.kind {
        return Err(refuse(
            version,
            format!(
                "it is a {} operator, but stage `{}` runs {} operators",
                plugin.kind(),
                candidate.stage,
                candidate.kind
            ),
        ));
    }
    let instantiate = |label: &Arc<str>| {
        plugin
            .instantiate(label.clone(), candidate.limits, &candidate.params)
            .map_err(|e| match e.failure {
                Failure::InitRejected(why) => {
                    format!("its init rejected the stage's params: {why}")
                }
                other => format!("it failed to start: {other}"),
            })
    };
    // The instance that passes its dry run goes live: the dry run has
    // also warmed it (its memory touched, its code paged in), so the first
    // live batch does not pay for that. Operators keep nothing across
    // batches in their own memory that the host does not hand them, so a
    // dry-run call leaves nothing behind that matters.
    let mut instances = Vec::with_capacity(candidate.labels.len());
    for (p, label) in candidate.labels.iter().enumerate() {
        let mut instance = instantiate(label).map_err(|why| refuse(version.clone(), why))?;
        if let Some(Some(call)) = candidate.last_calls.get(p) {
            // A version that converts state gets its dry run on states it
            // converted itself, as it will live.
            let converted;
            let call = match (call, &candidate.from_version) {
                (Call::UpdateState(input), Some(from))
                    if instance.migrates() && *from != plugin.digest() =>
                {
                    let states = migrate_present(&mut instance, from, input).map_err(|e| {
                        refuse(
                            version.clone(),
                            format!("its migrate-state failed on the last batch's states (partition {p}): {e}"),
                        )
                    })?;
                    converted = Call::UpdateState(crate::plugin::StateInput {
                        states,
                        ..input.clone()
                    });
                    &converted
                }
                (call, _) => call,
            };
            call.on(&mut instance).map_err(|e| {
                refuse(
                    version.clone(),
                    format!("it failed the dry run on the last batch's input (partition {p}): {e}"),
                )
            })?;
        }
        instances.push(Some(instance));
    }
    Ok(Prepared {
        stage: candidate.stage.clone(),
        op: Arc::new(WasmOperator {
            plugin,
            params: candidate.params.clone(),
            limits: candidate.limits,
            stats: Default::default(),
        }),
        instances,
        reason: candidate.reason,
    })
}

/// `input`'s states converted by `instance`, for the keys that have one
/// (the others stay empty).
fn migrate_present(
    instance: &mut Instance,
    from: &str,
    input: &crate::plugin::StateInput,
) -> Result<ByteList, crate::plugin::CallError> {
    let present: Vec<usize> = (0..input.has_state.len())
        .filter(|&i| input.has_state[i])
        .collect();
    let mut old = ByteList::with_capacity(present.len(), input.states.data.len());
    for &i in &present {
        old.push(input.states.get(i));
    }
    let converted = instance.migrate_state(from, &old)?;
    let mut states = ByteList::with_capacity(input.has_state.len(), converted.data.len());
    let mut next = 0;
    for &has in &input.has_state {
        if has {
            states.push(converted.get(next));
            next += 1;
        } else {
            states.push(&[]);
        }
    }
    Ok(states)
}
