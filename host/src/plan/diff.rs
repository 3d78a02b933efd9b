//! What changed between two plans of the same pipeline, as typed changes:
//! what hot reload acts on and reports when a manifest is edited.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Component, Id, PipelinePlan, Role, StagePlan, Step, Stream};

/// One difference between a running plan and an edited one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The batch interval.
    Interval {
        /// Before.
        #[serde(with = "humantime_serde")]
        from: Duration,
        /// After.
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// A pipeline-wide setting that only a restart can change: `sources`,
    /// `checkpoint`, `on_error`, `state_memory`, `backpressure`, `trigger`.
    Setting {
        /// Which.
        name: String,
        /// Before, in words.
        from: String,
        /// After, in words.
        to: String,
    },
    /// A stage was added.
    StageAdded(Id),
    /// A stage was removed.
    StageRemoved {
        /// Which.
        stage: Id,
        /// Whether it kept state, which goes with it.
        stateful: bool,
    },
    /// A stage does something else (its kind or windows), reads other
    /// streams, or runs over another number of partitions.
    Stage {
        /// Which.
        stage: Id,
        /// Whether it keeps state laid out for the old shape.
        stateful: bool,
        /// Before.
        from: Shape,
        /// After.
        to: Shape,
    },
    /// A stage's component in some role: another file or version, other
    /// params or other limits; or one added or taken away (a shadow).
    Component {
        /// Which stage.
        stage: Id,
        /// Which of its components.
        role: Role,
        /// Before.
        from: Option<Component>,
        /// After.
        to: Option<Component>,
    },
    /// A sink was added.
    SinkAdded(Id),
    /// A sink was removed.
    SinkRemoved(Id),
    /// A sink writes elsewhere or reads another stream.
    SinkChanged(Id),
}

/// What a stage does, from what, over how many partitions: a stage
/// without its operators' versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// The step, operators left out.
    pub step: Step<()>,
    /// The streams it reads.
    pub inputs: Vec<Stream>,
    /// Its partitions.
    pub parallelism: usize,
}

impl Shape {
    /// The shape of `stage`.
    pub fn of<Op>(stage: &StagePlan<Op>) -> Shape {
        Shape {
            step: stage.step.shape(),
            inputs: stage.inputs.clone(),
            parallelism: stage.parallelism,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reading {}, parallelism {}",
            show(&self.step),
            list(&self.inputs),
            self.parallelism
        )
    }
}

/// The changes from `running` to `edited`, stages and sinks matched by id.
pub fn diff(running: &PipelinePlan, edited: &PipelinePlan) -> Vec<Change> {
    let mut changes = Vec::new();
    if running.interval != edited.interval {
        changes.push(Change::Interval {
            from: running.interval,
            to: edited.interval,
        });
    }
    // Sources hold positions in their input; their per-batch caps follow
    // from the interval and are left out.
    let sources = |p: &PipelinePlan| {
        let kinds: Vec<_> = p.sources.iter().map(|s| (&s.id, &s.kind)).collect();
        format!("{kinds:?}")
    };
    let settings = [
        ("the sources", sources(running), sources(edited)),
        (
            "the checkpoints",
            format!("{:?}", running.checkpoint),
            format!("{:?}", edited.checkpoint),
        ),
        (
            "on_error",
            format!("{:?}", running.on_error),
            format!("{:?}", edited.on_error),
        ),
        (
            "state_memory",
            running.state_memory.to_string(),
            edited.state_memory.to_string(),
        ),
        (
            "backpressure",
            running.backpressure.to_string(),
            edited.backpressure.to_string(),
        ),
        (
            "trigger",
            format!("{:?}", running.trigger),
            format!("{:?}", edited.trigger),
        ),
    ];
    for (name, from, to) in settings {
        if from != to {
            changes.push(Change::Setting {
                name: name.to_owned(),
                from,
                to,
            });
        }
    }
    for old in &running.stages {
        match edited.stage(&old.id) {
            None => changes.push(Change::StageRemoved {
                stage: old.id.clone(),
                stateful: old.step.stateful(),
            }),
            Some(new) => stage(old, new, &mut changes),
        }
    }
    for new in &edited.stages {
        if running.stage(&new.id).is_none() {
            changes.push(Change::StageAdded(new.id.clone()));
        }
    }
    for old in &running.sinks {
        match edited.sinks.iter().find(|s| s.id == old.id) {
            None => changes.push(Change::SinkRemoved(old.id.clone())),
            Some(new) if new == old => {}
            Some(_) => changes.push(Change::SinkChanged(old.id.clone())),
        }
    }
    for new in &edited.sinks {
        if !running.sinks.iter().any(|s| s.id == new.id) {
            changes.push(Change::SinkAdded(new.id.clone()));
        }
    }
    changes
}

/// The changes of one stage present in both plans.
fn stage(old: &StagePlan, new: &StagePlan, changes: &mut Vec<Change>) {
    let id = &old.id;
    let (from, to) = (Shape::of(old), Shape::of(new));
    let same_step = from.step == to.step;
    if from != to {
        changes.push(Change::Stage {
            stage: id.clone(),
            stateful: old.step.stateful(),
            from,
            to,
        });
    }
    // A stage that does something else runs other operators: the shape
    // change says so; only its shadow is compared on its own.
    let roles: &[Role] = match same_step {
        true => &[Role::Operator, Role::Inverse, Role::Shadow],
        false => &[Role::Shadow],
    };
    for &role in roles {
        let find = |s: &StagePlan| {
            s.components()
                .find(|(r, _)| *r == role)
                .map(|(_, c)| c.clone())
        };
        let (from, to) = (find(old), find(new));
        if from != to {
            changes.push(Change::Component {
                stage: id.clone(),
                role,
                from,
                to,
            });
        }
    }
}

/// What a change asks of a running pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A new batch interval, applied at a boundary unless a window counts
    /// batches.
    Retime,
    /// A new graph, applied at a boundary: stages and sinks added,
    /// removed or rewired where no state depends on the old shape.
    Replan,
    /// A new operator version or shadow, checked and swapped in like a
    /// changed file.
    Version,
    /// Positions or state laid out for the running plan would not fit:
    /// it waits for a restart.
    Restart,
}

impl Change {
    /// What this change asks of a running pipeline.
    pub fn effect(&self) -> Effect {
        match self {
            Change::Interval { .. } => Effect::Retime,
            Change::Setting { .. } => Effect::Restart,
            Change::Stage { stateful, .. } => match stateful {
                true => Effect::Restart,
                false => Effect::Replan,
            },
            // Only a windowed reduce has an inverse, and its window
            // contents were folded by the old one.
            Change::Component {
                role: Role::Inverse,
                ..
            } => Effect::Restart,
            Change::Component { .. } => Effect::Version,
            Change::StageAdded(_)
            | Change::StageRemoved { .. }
            | Change::SinkAdded(_)
            | Change::SinkRemoved(_)
            | Change::SinkChanged(_) => Effect::Replan,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = |c: &Option<Component>| match c {
            Some(c) => format!("{}", c.path.display()),
            None => "none".to_owned(),
        };
        match self {
            Change::Interval { from, to } => write!(
                f,
                "the batch interval ({} ms → {} ms)",
                from.as_millis(),
                to.as_millis()
            ),
            Change::Setting { name, from, to } => write!(f, "{name} ({from} → {to})"),
            Change::StageAdded(id) => write!(f, "stage `{id}` added"),
            Change::StageRemoved {
                stage,
                stateful: true,
            } => write!(f, "stage `{stage}` removed, and its state dropped"),
            Change::StageRemoved { stage, .. } => write!(f, "stage `{stage}` removed"),
            Change::Stage {
                stage,
                stateful,
                from,
                to,
            } => {
                write!(f, "stage `{stage}` ({from} → {to})")?;
                match stateful {
                    true => f.write_str(", whose state is laid out for the old one"),
                    false => Ok(()),
                }
            }
            Change::Component {
                stage,
                role,
                from,
                to,
            } => write!(
                f,
                "stage `{stage}`'s {} ({} → {})",
                role.field(),
                file(from),
                file(to)
            ),
            Change::SinkAdded(id) => write!(f, "sink `{id}` added"),
            Change::SinkRemoved(id) => write!(f, "sink `{id}` removed"),
            Change::SinkChanged(id) => write!(f, "sink `{id}` changed"),
        }
    }
}

/// A step without its operators, in words.
fn show(step: &Step<()>) -> String {
    match step {
        Step::UpdateStateByKey((), None) => "update_state_by_key".to_owned(),
        Step::UpdateStateByKey((), Some(ttl)) => {
            format!("update_state_by_key with ttl {} ms", ttl.as_millis())
        }
        Step::Window { length, slide } => format!("window of {length} batches every {slide}"),
        Step::ReduceByKeyAndWindow {
            inverse, windowing, ..
        } => format!(
            "reduce_by_key_and_window {windowing:?}{}",
            match inverse {
                Some(()) => ", with an inverse",
                None => "",
            }
        ),
        Step::CountByValueAndWindow(w) => format!("count_by_value_and_window {w:?}"),
        other => other.kind_name().to_owned(),
    }
}

fn list(streams: &[Stream]) -> String {
    streams
        .iter()
        .map(Stream::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
