//! What each stream carries, worked out before anything runs, and what
//! stages need of their inputs: a join needs records that can have keys
//! (not lines straight from a text source, unless it reads them from a
//! JSON field) and, over windows, two sides that emit on the same batches
//! (Spark refuses to join DStreams whose slide durations differ); an
//! event-time stage needs records that carry event times (lines straight
//! from a text source carry only when they were read, unless it reads
//! them from a JSON field).

use std::collections::HashMap;

use super::Resolver;
use crate::manifest::StageSettings;
use crate::plan::{Id, JoinOver, SourceKind, SourcePlan, StagePlan, Step, Stream, Windowing};

/// What is known of a stream before it runs.
#[derive(Clone)]
struct Shape {
    /// `Some(why)` when its records are lines as a text source read them,
    /// without keys: the source, as a user would name it.
    unkeyed: Option<String>,
    /// Likewise, when they are lines without event times.
    untimed: Option<String>,
    /// Every how many batches it has records: 1, or a window's slide.
    every: u32,
}

impl Resolver<'_> {
    /// Reports each join whose inputs cannot be joined, and each
    /// event-time stage whose input carries no event times.
    pub(super) fn check_streams(&mut self, sources: &[SourcePlan], stages: &[StagePlan]) {
        let mut shapes: HashMap<Stream, Shape> = HashMap::new();
        for source in sources {
            let why = |kind: &str| Some(format!("the {kind} source `{}`", source.id));
            let (unkeyed, untimed) = match &source.kind {
                SourceKind::Kafka(_) => (None, None),
                SourceKind::Directory { fields, .. } => (
                    fields.key.is_none().then(|| why("directory")).flatten(),
                    fields
                        .timestamp
                        .is_none()
                        .then(|| why("directory"))
                        .flatten(),
                ),
                SourceKind::Socket { .. } => (why("socket"), why("socket")),
                SourceKind::Stdin => (why("stdin"), why("stdin")),
                SourceKind::Generator { .. } => (why("generator"), why("generator")),
            };
            let shape = Shape {
                unkeyed,
                untimed,
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
            if stage.step.watermark_delay().is_some() {
                self.check_event_times(&stage.id, &stage.inputs, &inputs);
            }
            let shape = Shape::of(&stage.step, &inputs);
            shapes.insert(Stream::Stage(stage.id.clone()), shape);
        }
    }

    fn check_event_times(&mut self, id: &Id, streams: &[Stream], shapes: &[Shape]) {
        let m = self.manifest;
        let Some(spec) = m.stages.iter().find(|s| s.id.get_ref() == id.as_str()) else {
            return;
        };
        let (time, field) = match &spec.settings {
            StageSettings::Join(join) => (join.time.as_ref(), "time"),
            StageSettings::ProcessByKey(process) => (process.watermark.as_ref(), "watermark"),
            settings => (settings.window().and_then(|w| w.time), "time"),
        };
        let Some(time) = time else {
            return;
        };
        for (stream, shape) in streams.iter().zip(shapes) {
            let Some(why) = &shape.untimed else {
                continue;
            };
            self.error(
                time,
                format!("stages[{}].{field}", spec.position),
                format!(
                    "event time goes by the records' own timestamps, but `{stream}` has none: its records are lines from {why}{}, stamped with when they were read; give them event times first (the stock json-extract takes one from a JSON field, with `timestamp`; a directory source of JSON lines does, with `timestamp_field`)",
                    through(stream)
                ),
            );
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
        let StageSettings::Join(settings) = &spec.settings else {
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
            self.error(
                at,
                field(name),
                format!(
                    "a {kind} matches records by key, but `{stream}` has none: its records are lines from {why}{}; key them first with a map stage (the stock json-extract takes the key from a JSON field; a directory source of JSON lines does, with `key_field`)",
                    through(stream)
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
        untimed: None,
        every: 1,
    };

    /// What a stage running `step` over `inputs` makes.
    fn of(step: &Step, inputs: &[Shape]) -> Shape {
        let every = inputs.iter().map(|s| s.every).max().unwrap_or(1);
        let windowed = |slide: u32| every.max(slide);
        match step {
            // Records pass through as they are.
            Step::Filter(_) | Step::Window { .. } | Step::Union => Shape {
                unkeyed: all_plain(inputs, |s| &s.unkeyed),
                untimed: all_plain(inputs, |s| &s.untimed),
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
                every: windowed(*slide),
                ..Shape::ANY
            },
            _ => Shape {
                every,
                ..Shape::ANY
            },
        }
    }
}

/// The first input's `why` when every input lacks the same thing.
fn all_plain(inputs: &[Shape], why: impl Fn(&Shape) -> &Option<String>) -> Option<String> {
    if inputs.iter().all(|s| why(s).is_some()) {
        inputs.first().and_then(|s| why(s).clone())
    } else {
        None
    }
}

/// `every batch`, `every 3 batches`.
fn every(batches: u32) -> String {
    match batches {
        1 => "every batch".into(),
        n => format!("every {n} batches"),
    }
}

/// ` through `stream``, for a stage between a text source and its reader.
fn through(stream: &Stream) -> String {
    match stream {
        Stream::Source(_) => String::new(),
        _ => format!(" through `{stream}`"),
    }
}
