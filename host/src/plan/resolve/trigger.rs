//! Resolving `trigger`: when batches are cut, and, for `available-now`,
//! that every source ends.

use super::Resolver;
use crate::manifest::SourceSettings;
use crate::plan::{SourceKind, SourcePlan, Trigger};

impl Resolver<'_> {
    /// The pipeline's trigger. With `available-now`, a directory source
    /// reads the files there at start (it is not watched), a Kafka source
    /// reads up to the ends its partitions had at start, and a source
    /// that never ends is an error.
    pub(super) fn trigger(&mut self, sources: &mut [SourcePlan]) -> Trigger {
        let Some(text) = &self.manifest.pipeline.trigger else {
            return Trigger::Interval;
        };
        let trigger = match text.get_ref().as_str() {
            "interval" => return Trigger::Interval,
            "available-now" => Trigger::AvailableNow,
            other => {
                self.error(
                    text,
                    "pipeline.trigger",
                    format!("{other:?} is not a trigger; use \"interval\" (the default) or \"available-now\""),
                );
                return Trigger::Interval;
            }
        };
        for spec in &self.manifest.sources {
            let Some(source) = sources
                .iter_mut()
                .find(|s| s.id.as_str() == spec.id.get_ref())
            else {
                continue;
            };
            let field = format!("sources[{}]", spec.position);
            let never_ends = match (&mut source.kind, &spec.settings) {
                (SourceKind::Directory { watch, .. }, SourceSettings::Directory(dir)) => {
                    match dir.watch {
                        Some(true) => Some((
                            format!("{field}.watch"),
                            "a watched folder never ends, and trigger = \"available-now\" reads the files there at start and stops; remove `watch`",
                        )),
                        _ => {
                            *watch = false;
                            None
                        }
                    }
                }
                (SourceKind::Kafka(kafka), _) => {
                    kafka.until_start_end = true;
                    None
                }
                (SourceKind::Generator { records: None, .. }, _) => Some((
                    format!("{field}.records"),
                    "a generator without `records` never ends, and trigger = \"available-now\" stops once every source has; set `records`",
                )),
                _ => None,
            };
            if let Some((field, message)) = never_ends {
                self.error(&spec.kind, field, message);
            }
        }
        trigger
    }
}
