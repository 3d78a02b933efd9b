//! Resolving join stages: which two streams, and which records of them
//! meet (a batch's, an event-time interval's, or a table's row). What a
//! join needs of its inputs is checked with the rest of the graph
//! ([`super::streams`]).

use super::Resolver;
use crate::manifest::kinds::JoinSettings;
use crate::manifest::{Spanned, StageSpec, units};
use crate::plan::{Component, Interval, JoinHow, JoinOver, Step, Stream};

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
        let event = self.event_time(settings.time.as_ref(), field("time"))?;
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
        if settings.table.is_none() {
            let table_only = [
                ("global", settings.global.as_ref().map(Spanned::span)),
                ("ttl", settings.ttl.as_ref().map(Spanned::span)),
            ];
            for (name, span) in table_only {
                if let Some(span) = span {
                    self.errors.push(
                        Some(span),
                        field(name),
                        format!("`{name}` applies to a stream-table join; name the table with `table = \"...\"`"),
                    );
                }
            }
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
                    ttl: self.ttl(spec, settings.ttl.as_ref()),
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
    pub(super) fn millis(&mut self, text: Option<&Spanned<String>>, field: String) -> Option<i64> {
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
}
