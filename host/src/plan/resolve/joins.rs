//! What a join needs of its two inputs, checked before anything runs:
//! records that can have keys (not lines straight from a text source),
//! and, over windows, two sides that emit on the same batches (Spark
//! refuses to join DStreams whose slide durations differ).

use std::collections::HashMap;

use super::Resolver;
use crate::plan::{Id, SourceKind, SourcePlan, StagePlan, Step, Stream, Windowing};

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
            if let Step::Join(how, _) = &stage.step {
                self.check_join(&stage.id, how.kind_name(), &stage.inputs, &inputs);
            }
            let shape = Shape::of(&stage.step, &inputs);
            shapes.insert(Stream::Stage(stage.id.clone()), shape);
        }
    }

    fn check_join(&mut self, id: &Id, kind: &str, streams: &[Stream], sides: &[Shape]) {
        let m = self.manifest;
        let Some(spec) = m.stages.iter().find(|s| s.id.get_ref() == id.as_str()) else {
            return;
        };
        let crate::manifest::StageSettings::Join(settings) = &spec.settings else {
            return;
        };
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let named = [("left", &settings.left), ("right", &settings.right)];
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
