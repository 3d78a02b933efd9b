//! Stages, resolved: what each does, what it reads, and the components it
//! runs.
//!
//! [`StagePlan`] and [`Step`] take the operator as a type parameter: in a
//! plan it is a [`Component`] (a file, its hash, params and limits: data),
//! once bound it is a loaded [`crate::operator::Operator`]. Benchmarks and
//! unit tests make stages of native operators the same way.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Id, Stream};
use crate::plugin::{Limits, OperatorKind};

/// A stage, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan<Op = Component> {
    /// Its id.
    pub id: Id,
    /// The streams it reads, in order.
    pub inputs: Vec<Stream>,
    /// What it does.
    pub step: Step<Op>,
    /// How many partitions it runs over.
    pub parallelism: usize,
    /// A candidate version of its operator, run beside it for comparison.
    pub shadow: Option<Op>,
    /// A worker's join ([`super::workers`]): both sides come as its one
    /// input, from one repartition topic, each record's side (0 or 1) in
    /// header [`crate::shuffle::SIDE_HEADER`]; the stage parts them again.
    #[serde(default)]
    pub sides_in_header: bool,
}

/// A component as a plan names it: which file (and exactly which bytes),
/// with what params and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// The SHA-256 of its bytes, hex-encoded: the version.
    pub digest: String,
    /// The stage's params, handed to `init`.
    pub params: Vec<(String, String)>,
    /// Memory and CPU per call.
    pub limits: Limits,
}

/// What a component does for its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The stage's operator (`component`).
    Operator,
    /// A windowed reduce's inverse (`inverse`).
    Inverse,
    /// A candidate run beside the operator (`shadow`).
    Shadow,
}

impl Role {
    /// The manifest field that names a component in this role.
    pub fn field(self) -> &'static str {
        match self {
            Role::Operator => "component",
            Role::Inverse => "inverse",
            Role::Shadow => "shadow",
        }
    }
}

/// What a stage does with its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step<Op = Component> {
    /// One record in, one out.
    Map(Op),
    /// Keep or drop.
    Filter(Op),
    /// One in, zero or more out.
    FlatMap(Op),
    /// Exchange by key, then fold each key's values.
    ReduceByKey(Op),
    /// Count each distinct value in the batch (Spark's `countByValue`):
    /// one `(value, count)` record per value, counted by the host.
    CountByValue,
    /// Exchange by key, then update each key's state (kept across batches,
    /// forgotten after `ttl` without records).
    UpdateStateByKey(Op, #[serde(with = "humantime_serde")] Option<Duration>),
    /// Merge the inputs.
    Union,
    /// The records of the last `length` batches, every `slide` batches.
    Window {
        /// Batches the window covers.
        length: u32,
        /// Batches between two emissions.
        slide: u32,
    },
    /// Exchange by key, then fold each key's values over a window.
    ReduceByKeyAndWindow {
        /// Folds values.
        reduce: Op,
        /// Takes values back out (processing time only).
        inverse: Option<Op>,
        /// Which records share a window.
        windowing: Windowing,
    },
    /// Count each distinct value over a window.
    CountByValueAndWindow(Windowing),
    /// Exchange by key, then process each key's records and fired timers
    /// with its state (Flink's keyed process functions), over event time:
    /// records behind the watermark go to the late output.
    ProcessByKey {
        /// The keyed-process operator.
        operator: Op,
        /// How far the watermark trails the latest timestamp seen (ms).
        delay: i64,
    },
    /// Bring two keyed streams together by key: the inputs are the left
    /// and the right side, in that order. With a cogroup operator, it
    /// makes what each key's records make; without, the stage writes JSON
    /// pairs of its own.
    Join {
        /// Which keys it keeps.
        how: JoinHow,
        /// The cogroup operator, if any.
        operator: Option<Op>,
        /// Which records of the two sides meet.
        over: JoinOver,
    },
}

/// Which records of a join's two sides meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinOver {
    /// A batch's records (over windows: a batch of window stages), both
    /// sides exchanged by key.
    Batch,
    /// Event time (Flink's interval join): a left record at `t` meets the
    /// right records at `t - before ..= t + after`, buffered per key until
    /// the watermark passes.
    Interval(Interval),
    /// The right side is a table (Kafka Streams' KStream-KTable join): a
    /// keyed stream of upserts (an empty value deletes its key), kept per
    /// key; each left record meets its key's row as it stands. A global
    /// table is kept whole by every partition, and the left side is not
    /// exchanged.
    Table {
        /// Whether every partition keeps the whole table.
        global: bool,
        /// A row not updated for this long (batch time) is forgotten.
        #[serde(with = "humantime_serde")]
        ttl: Option<Duration>,
    },
}

/// An interval join's bounds, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// How much earlier than a left record a right record may be.
    pub before: i64,
    /// How much later.
    pub after: i64,
    /// How far the watermark trails the latest timestamp seen.
    pub delay: i64,
}

/// Which keys a join keeps, and what it makes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinHow {
    /// A record per pair of left and right values of a key both sides have.
    Inner,
    /// As inner, and each left value of a key the right lacks, alone.
    LeftOuter,
    /// As inner, and each right value of a key the left lacks, alone.
    RightOuter,
    /// As inner, and the values of a key only one side has, alone.
    FullOuter,
    /// One record per key either side has, with all its values of both.
    Cogroup,
}

impl JoinHow {
    /// Every way of joining, as [`JoinHow::kind_name`] names them.
    pub const ALL: [JoinHow; 5] = [
        JoinHow::Inner,
        JoinHow::LeftOuter,
        JoinHow::RightOuter,
        JoinHow::FullOuter,
        JoinHow::Cogroup,
    ];

    /// The stage kind, as a manifest names it: `left_outer_join`.
    pub fn kind_name(self) -> &'static str {
        match self {
            JoinHow::Inner => "join",
            JoinHow::LeftOuter => "left_outer_join",
            JoinHow::RightOuter => "right_outer_join",
            JoinHow::FullOuter => "full_outer_join",
            JoinHow::Cogroup => "cogroup",
        }
    }

    /// Whether a key only the left side has makes output.
    pub fn keeps_left_only(self) -> bool {
        matches!(
            self,
            JoinHow::LeftOuter | JoinHow::FullOuter | JoinHow::Cogroup
        )
    }

    /// Whether a key only the right side has makes output.
    pub fn keeps_right_only(self) -> bool {
        matches!(
            self,
            JoinHow::RightOuter | JoinHow::FullOuter | JoinHow::Cogroup
        )
    }
}

/// How a windowed stage groups records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Windowing {
    /// Processing time: the last `length` batches, emitted every `slide`
    /// batches (when the batch id is a multiple of `slide`).
    Batches {
        /// Batches the window covers.
        length: u32,
        /// Batches between two emissions.
        slide: u32,
    },
    /// Event time: windows over the records' own timestamps.
    EventTime(EventTime),
}

/// Event-time windows, all in milliseconds: windows `[start, start +
/// length)` for every `start` that is a multiple of `slide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTime {
    /// How much time a window covers.
    pub length: i64,
    /// How far apart window starts are (`length` for tumbling windows).
    pub slide: i64,
    /// How far the watermark trails the latest timestamp seen.
    pub delay: i64,
    /// How long after the watermark passes its end a window still takes
    /// records.
    pub lateness: i64,
}

impl<Op> Step<Op> {
    /// The operator, if the step runs one.
    pub fn operator(&self) -> Option<&Op> {
        match self {
            Step::Map(op)
            | Step::Filter(op)
            | Step::FlatMap(op)
            | Step::ReduceByKey(op)
            | Step::UpdateStateByKey(op, _)
            | Step::ReduceByKeyAndWindow { reduce: op, .. }
            | Step::ProcessByKey { operator: op, .. } => Some(op),
            Step::Join { operator, .. } => operator.as_ref(),
            Step::Union
            | Step::CountByValue
            | Step::Window { .. }
            | Step::CountByValueAndWindow(_) => None,
        }
    }

    /// The inverse of a windowed reduce, if it has one.
    pub fn inverse(&self) -> Option<&Op> {
        match self {
            Step::ReduceByKeyAndWindow { inverse, .. } => inverse.as_ref(),
            _ => None,
        }
    }

    /// The kind of operator the step runs, if it runs one.
    pub fn operator_kind(&self) -> Option<OperatorKind> {
        match self {
            Step::Map(_) => Some(OperatorKind::Map),
            Step::Filter(_) => Some(OperatorKind::Filter),
            Step::FlatMap(_) => Some(OperatorKind::FlatMap),
            Step::ReduceByKey(_) | Step::ReduceByKeyAndWindow { .. } => Some(OperatorKind::Reduce),
            Step::UpdateStateByKey(..) => Some(OperatorKind::UpdateState),
            Step::ProcessByKey { .. } => Some(OperatorKind::KeyedProcess),
            Step::Join { operator, .. } => operator.as_ref().map(|_| OperatorKind::Cogroup),
            Step::Union
            | Step::CountByValue
            | Step::Window { .. }
            | Step::CountByValueAndWindow(_) => None,
        }
    }

    /// The kind as a manifest names it: `flat_map`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Step::Map(_) => "map",
            Step::Filter(_) => "filter",
            Step::FlatMap(_) => "flat_map",
            Step::ReduceByKey(_) => "reduce_by_key",
            Step::CountByValue => "count_by_value",
            Step::UpdateStateByKey(..) => "update_state_by_key",
            Step::Union => "union",
            Step::Window { .. } => "window",
            Step::ReduceByKeyAndWindow { .. } => "reduce_by_key_and_window",
            Step::CountByValueAndWindow(_) => "count_by_value_and_window",
            Step::ProcessByKey { .. } => "process_by_key",
            Step::Join { how, .. } => how.kind_name(),
        }
    }

    /// The event-time windowing, if the step windows by event time (and so
    /// has a side output for late records).
    pub fn event_time(&self) -> Option<EventTime> {
        match self {
            Step::ReduceByKeyAndWindow {
                windowing: Windowing::EventTime(e),
                ..
            }
            | Step::CountByValueAndWindow(Windowing::EventTime(e)) => Some(*e),
            _ => None,
        }
    }

    /// How far the step's watermark trails the latest timestamp it has
    /// seen, if it has one (and so a side output for late records).
    pub fn watermark_delay(&self) -> Option<i64> {
        match self {
            Step::Join {
                over: JoinOver::Interval(interval),
                ..
            } => Some(interval.delay),
            Step::ProcessByKey { delay, .. } => Some(*delay),
            step => step.event_time().map(|e| e.delay),
        }
    }

    /// Whether the step is narrow: each record becomes records of its own
    /// partition (none, one or several), and nothing is kept across
    /// batches, so a chain of such steps can run in one task per
    /// partition ([`super::PipelinePlan::chains`]).
    pub fn narrow(&self) -> bool {
        matches!(self, Step::Map(_) | Step::Filter(_) | Step::FlatMap(_))
    }

    /// Whether the step keeps anything across batches.
    pub fn stateful(&self) -> bool {
        matches!(
            self,
            Step::UpdateStateByKey(..)
                | Step::Window { .. }
                | Step::ReduceByKeyAndWindow { .. }
                | Step::CountByValueAndWindow(_)
                | Step::ProcessByKey { .. }
                | Step::Join {
                    over: JoinOver::Interval(_) | JoinOver::Table { .. },
                    ..
                }
        )
    }

    /// Whether its windows count batches (processing time).
    pub fn counts_batches(&self) -> bool {
        matches!(
            self,
            Step::Window { .. }
                | Step::ReduceByKeyAndWindow {
                    windowing: Windowing::Batches { .. },
                    ..
                }
                | Step::CountByValueAndWindow(Windowing::Batches { .. })
        )
    }

    /// The same step with each operator turned into another form (bound,
    /// say): `f` gets each operator and its role, and may fail.
    pub fn try_map<P, E>(
        &self,
        mut f: impl FnMut(&Op, Role) -> Result<P, E>,
    ) -> Result<Step<P>, E> {
        Ok(match self {
            Step::Map(op) => Step::Map(f(op, Role::Operator)?),
            Step::Filter(op) => Step::Filter(f(op, Role::Operator)?),
            Step::FlatMap(op) => Step::FlatMap(f(op, Role::Operator)?),
            Step::ReduceByKey(op) => Step::ReduceByKey(f(op, Role::Operator)?),
            Step::UpdateStateByKey(op, ttl) => Step::UpdateStateByKey(f(op, Role::Operator)?, *ttl),
            Step::Union => Step::Union,
            Step::CountByValue => Step::CountByValue,
            Step::Window { length, slide } => Step::Window {
                length: *length,
                slide: *slide,
            },
            Step::ReduceByKeyAndWindow {
                reduce,
                inverse,
                windowing,
            } => {
                let reduce = f(reduce, Role::Operator);
                let inverse = inverse.as_ref().map(|op| f(op, Role::Inverse));
                Step::ReduceByKeyAndWindow {
                    reduce: reduce?,
                    inverse: inverse.transpose()?,
                    windowing: *windowing,
                }
            }
            Step::CountByValueAndWindow(w) => Step::CountByValueAndWindow(*w),
            Step::ProcessByKey { operator, delay } => Step::ProcessByKey {
                operator: f(operator, Role::Operator)?,
                delay: *delay,
            },
            Step::Join {
                how,
                operator,
                over,
            } => Step::Join {
                how: *how,
                operator: operator
                    .as_ref()
                    .map(|op| f(op, Role::Operator))
                    .transpose()?,
                over: *over,
            },
        })
    }

    /// The step with its operators left out: what it does, whichever
    /// versions run it.
    pub fn shape(&self) -> Step<()> {
        self.try_map(|_, _| Ok::<_, ()>(()))
            .expect("dropping operators cannot fail")
    }
}

impl<Op> StagePlan<Op> {
    /// The components the stage runs, with their roles, to change.
    pub fn components_mut(&mut self) -> Vec<(Role, &mut Op)> {
        let mut found = Vec::new();
        match &mut self.step {
            Step::Map(op)
            | Step::Filter(op)
            | Step::FlatMap(op)
            | Step::ReduceByKey(op)
            | Step::UpdateStateByKey(op, _)
            | Step::ProcessByKey { operator: op, .. }
            | Step::Join {
                operator: Some(op), ..
            } => found.push((Role::Operator, op)),
            Step::ReduceByKeyAndWindow {
                reduce, inverse, ..
            } => {
                found.push((Role::Operator, reduce));
                found.extend(inverse.as_mut().map(|op| (Role::Inverse, op)));
            }
            Step::Union
            | Step::CountByValue
            | Step::Window { .. }
            | Step::CountByValueAndWindow(_)
            | Step::Join { operator: None, .. } => {}
        }
        found.extend(self.shadow.as_mut().map(|op| (Role::Shadow, op)));
        found
    }

    /// The components (operators) the stage runs, with their roles.
    pub fn components(&self) -> impl Iterator<Item = (Role, &Op)> {
        [
            self.step.operator().map(|op| (Role::Operator, op)),
            self.step.inverse().map(|op| (Role::Inverse, op)),
            self.shadow.as_ref().map(|op| (Role::Shadow, op)),
        ]
        .into_iter()
        .flatten()
    }
}
