//! Resolving join stages: which two streams, which records of them meet
//! (a batch's, an event-time interval's, or a table's row), and what a
//! join needs of its inputs, checked before anything runs: records that
//! can have keys (not lines straight from a text source), and, over
//! windows, two sides that emit on the same batches (Spark refuses to join
//! DStreams whose slide durations differ).

use std::collections::HashMap;

use super::Resolver;
use crate::manifest::kinds::JoinSettings;
use crate::manifest::{Spanned, StageSpec, units};
use crate::plan::{
    Component, Id, Interval, JoinHow, JoinOver, SourceKind, SourcePlan, StagePlan, Step, Stream,
    Windowing,
};

/// What is known of a stream before it runs.
#[derive(Clone)]
struct Shape {
    /// `Some(why)` when its records never have keys: the text source they
    /// come from, as a user would name it.
    unkeyed: Option<String>,
    /// Every how many batches it has records: 1, or a window's slide.
    every: u32,
}

impl Resolver<'_> {
    /// A join's streams: `left`, then `right` or `table`.
    pub(super) fn join_inputs(
        &mut self,
        spec: &StageSpec,
        sides: &JoinSettings,
    ) -> Option<Vec<Option<Stream>>> {
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let kind = spec.kind.get_ref();
        let not = |name: &str| {
            format!(
                "a {kind} stage reads `left = \"...\"` and `right = \"...\"` (or `table = \"...\"`), not `{name}`"
            )
        };
        if let Some(input) = &spec.input {
            self.error(input, field("input"), not("input"));
            return None;
        }
        if let Some(inputs) = &spec.inputs {
            self.error(inputs, field("inputs"), not("inputs"));
            return None;
        }
        let second = match (&sides.right, &sides.table) {
            (Some(_), Some(table)) => {
                self.error(
                    table,
                    field("table"),
                    "a join reads `right` or `table`, not both: `table` makes the right side a table of rows by key",
                );
                return None;
            }
            (None, Some(table)) => ("table", Some(table)),
            (right, None) => ("right", right.as_ref()),
        };
        let mut streams = Vec::new();
        for (name, side) in [("left", sides.left.as_ref()), second] {
            match side {
                Some(side) => streams.push(self.input(side, field(name))),
                None => {
                    self.error(
                        &spec.id,
                        field(name),
                        format!(
                            "a {kind} stage needs `{name} = \"...\"` naming a keyed source or stage"
                        ),
                    );
                    streams.push(None);
                }
            }
        }
        Some(streams)
    }

    /// A join stage's step: its kind, which records meet, and its cogroup
    /// `operator`, if any.
    pub(super) fn join(
        &mut self,
        spec: &StageSpec,
        settings: &JoinSettings,
        operator: Option<Component>,
    ) -> Option<Step> {
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let kind = spec.kind.get_ref().as_str();
        let how = JoinHow::ALL.into_iter().find(|h| h.kind_name() == kind);
        let how = how.expect("each join kind is a way of joining");
        let event = match settings.time.as_ref().map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "processing")) => false,
            Some((_, "event")) => true,
            Some((time, other)) => {
                self.error(
                    time,
                    field("time"),
                    format!("{other:?} is not a time; use \"processing\" or \"event\""),
                );
                return None;
            }
        };
        let event_only = [
            ("before", &settings.before),
            ("after", &settings.after),
            ("watermark", &settings.watermark),
        ];
        if !event {
            for (name, value) in event_only {
                if let Some(value) = value {
                    self.error(
                        value,
                        field(name),
                        format!("`{name}` applies to an event-time (interval) join; set `time = \"event\"` or remove it"),
                    );
                }
            }
        }
        if let (Some(global), None) = (&settings.global, &settings.table) {
            self.error(
                global,
                field("global"),
                "`global` applies to a stream-table join; name the table with `table = \"...\"`",
            );
        }
        let over = match (&settings.table, event) {
            (Some(_), true) => {
                let time = settings
                    .time
                    .as_ref()
                    .expect("event time is chosen by `time`");
                self.error(
                    time,
                    field("time"),
                    "a stream-table join looks each record up in the table as it stands; it takes no `time`",
                );
                return None;
            }
            (Some(table), false) => {
                if !matches!(how, JoinHow::Inner | JoinHow::LeftOuter) {
                    self.error(
                        table,
                        field("table"),
                        format!("a stream-table join is `join` or `left_outer_join` (a {kind} needs two streams)"),
                    );
                    return None;
                }
                JoinOver::Table {
                    global: settings.global.as_ref().is_some_and(|g| *g.get_ref()),
                }
            }
            (None, true) => {
                if how == JoinHow::Cogroup {
                    self.error(
                        settings.time.as_ref().expect("event time is chosen by `time`"),
                        field("time"),
                        "an interval join matches records pair by pair; use `join` or an outer join, not `cogroup`",
                    );
                    return None;
                }
                let Some(watermark) = &settings.watermark else {
                    self.error(
                        &spec.id,
                        field("watermark"),
                        "an event-time join needs `watermark = \"...\"`: how far out of order records may come, which decides when buffered records are dropped and outer-join misses written",
                    );
                    return None;
                };
                if settings.before.is_none() && settings.after.is_none() {
                    self.error(
                        &spec.id,
                        field("after"),
                        "an event-time join needs `before` or `after` (or both): how far apart in time a right record may be from a left one",
                    );
                    return None;
                }
                let before = self.millis(settings.before.as_ref(), field("before"));
                let after = self.millis(settings.after.as_ref(), field("after"));
                let delay = self.millis(Some(watermark), field("watermark"));
                JoinOver::Interval(Interval {
                    before: before?,
                    after: after?,
                    delay: delay?,
                })
            }
            (None, false) => JoinOver::Batch,
        };
        Some(Step::Join {
            how,
            operator,
            over,
        })
    }

    /// A duration of zero or more, in milliseconds (0 when not given).
    fn millis(&mut self, text: Option<&Spanned<String>>, field: String) -> Option<i64> {
        let Some(text) = text else {
            return Some(0);
        };
        match units::duration(text.get_ref()) {
            Ok(d) => Some(d.as_millis().min(i64::MAX as u128) as i64),
            Err(e) => {
                self.error(text, field, e);
                None
            }
        }
    }

    /// Reports each join whose inputs cannot be joined.
    pub(super) fn check_joins(&mut self, sources: &[SourcePlan], stages: &[StagePlan]) {
        let mut shapes: HashMap<Stream, Shape> = HashMap::new();
        for source in sources {
            let unkeyed = match &source.kind {
                SourceKind::Kafka(_) => None,
                SourceKind::Directory { .. } => Some("directory"),
                SourceKind::Socket { .. } => Some("socket"),
                SourceKind::Stdin => Some("stdin"),
                SourceKind::Generator { .. } => Some("generator"),
            };
            let shape = Shape {
                unkeyed: unkeyed.map(|kind| format!("the {kind} source `{}`", source.id)),
                every: 1,
            };
            shapes.insert(Stream::Source(source.id.clone()), shape);
        }
        // Stages come in order, each after its inputs.
        for stage in stages {
            let inputs: Vec<Shape> = stage
                .inputs
                .iter()
                .map(|input| shapes.get(input).cloned().unwrap_or(Shape::ANY))
                .collect();
            if let Step::Join { how, over, .. } = &stage.step {
                let per_batch = *over == JoinOver::Batch;
                self.check_join(
                    &stage.id,
                    how.kind_name(),
                    per_batch,
                    &stage.inputs,
                    &inputs,
                );
            }
            let shape = Shape::of(&stage.step, &inputs);
            shapes.insert(Stream::Stage(stage.id.clone()), shape);
        }
    }

    fn check_join(
        &mut self,
        id: &Id,
        kind: &str,
        per_batch: bool,
        streams: &[Stream],
        sides: &[Shape],
    ) {
        let m = self.manifest;
        let Some(spec) = m.stages.iter().find(|s| s.id.get_ref() == id.as_str()) else {
            return;
        };
        let crate::manifest::StageSettings::Join(settings) = &spec.settings else {
            return;
        };
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let second = match &settings.table {
            Some(_) => ("table", &settings.table),
            None => ("right", &settings.right),
        };
        let named = [("left", &settings.left), second];
        for (((name, at), stream), side) in named.iter().zip(streams).zip(sides) {
            let (Some(at), Some(why)) = (at, &side.unkeyed) else {
                continue;
            };
            let through = match stream {
                Stream::Source(_) => String::new(),
                _ => format!(" through `{stream}`"),
            };
            self.error(
                at,
                field(name),
                format!(
                    "a {kind} matches records by key, but `{stream}` has none: its records are lines from {why}{through}; key them first with a map stage (the stock json-extract takes the key from a JSON field)"
                ),
            );
        }
        if let ([left, right], [l, r]) = (streams, sides)
            && per_batch
            && l.every != r.every
        {
            let at = settings.right.as_ref().unwrap_or(&spec.id);
            self.error(
                at,
                field("right"),
                format!(
                    "the left input `{left}` has records {} and the right input `{right}` {}: a join over windows needs both sides to slide alike; give both windows the same `slide`",
                    every(l.every),
                    every(r.every)
                ),
            );
        }
    }
}

impl Shape {
    /// A stream nothing is known of: keyed, maybe, and in every batch.
    const ANY: Shape = Shape {
        unkeyed: None,
        every: 1,
    };

    /// What a stage running `step` over `inputs` makes.
    fn of(step: &Step, inputs: &[Shape]) -> Shape {
        let every = inputs.iter().map(|s| s.every).max().unwrap_or(1);
        let windowed = |slide: u32| every.max(slide);
        match step {
            // Records pass through as they are.
            Step::Filter(_) | Step::Window { .. } | Step::Union => Shape {
                unkeyed: inputs
                    .iter()
                    .all(|s| s.unkeyed.is_some())
                    .then(|| inputs.first().and_then(|s| s.unkeyed.clone()))
                    .flatten(),
                every: match step {
                    Step::Window { slide, .. } => windowed(*slide),
                    _ => every,
                },
            },
            Step::ReduceByKeyAndWindow {
                windowing: Windowing::Batches { slide, .. },
                ..
            }
            | Step::CountByValueAndWindow(Windowing::Batches { slide, .. }) => Shape {
                unkeyed: None,
                every: windowed(*slide),
            },
            _ => Shape {
                unkeyed: None,
                every,
            },
        }
    }
}

/// `every batch`, `every 3 batches`.
fn every(batches: u32) -> String {
    match batches {
        1 => "every batch".into(),
        n => format!("every {n} batches"),
    }
}
