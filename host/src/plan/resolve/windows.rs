//! Resolving a window stage's windowing: lengths checked against the
//! batch interval (processing time) or each other (event time).

use std::time::Duration;

use super::Resolver;
use crate::manifest::kinds::WindowFields;
use crate::manifest::{Spanned, StageSettings, StageSpec, units};
use crate::plan::{EventTime, Windowing};

impl Resolver<'_> {
    /// The windowing of a window stage: lengths checked against the batch
    /// interval (processing time) or each other (event time).
    pub(super) fn windowing(
        &mut self,
        spec: &StageSpec,
        fields: WindowFields<'_>,
        interval: Duration,
    ) -> Option<Windowing> {
        let i = spec.position;
        let field = |f: &str| format!("stages[{i}].{f}");
        let Some(window) = fields.window else {
            self.error(
                &spec.kind,
                field("window"),
                format!("a {} stage needs `window = \"60s\"`", spec.kind.get_ref()),
            );
            return None;
        };
        let length = self.positive_duration(window, field("window"));
        let slide = fields
            .slide
            .map(|slide| (slide, self.positive_duration(slide, field("slide"))));
        let event = self.event_time(fields.time, field("time"))?;
        let length = length?;
        let show = units::show_duration;
        if !event {
            for (name, value) in [
                ("watermark", fields.watermark),
                ("allowed_lateness", fields.allowed_lateness),
            ] {
                if let Some(value) = value {
                    self.error(
                        value,
                        field(name),
                        format!("`{name}` applies to event-time windows; set `time = \"event\"` or remove it"),
                    );
                }
            }
            let slide = match slide {
                Some((at, slide)) => (at, slide?),
                None => (window, interval),
            };
            let mut whole = true;
            for (name, at, d) in [("window", window, length), ("slide", slide.0, slide.1)] {
                if d.as_millis() % interval.as_millis() != 0 {
                    whole = false;
                    let below = d.as_millis() / interval.as_millis() * interval.as_millis();
                    let above = below + interval.as_millis();
                    let nearest = match below {
                        0 => show(Duration::from_millis(above as u64)),
                        _ => format!(
                            "{} or {}",
                            show(Duration::from_millis(below as u64)),
                            show(Duration::from_millis(above as u64))
                        ),
                    };
                    self.error(
                        at,
                        field(name),
                        format!(
                            "{} is not a multiple of the batch interval {}; a processing-time window covers whole batches (try {nearest})",
                            show(d),
                            show(interval)
                        ),
                    );
                }
            }
            if slide.1 > length {
                self.error(
                    slide.0,
                    field("slide"),
                    format!(
                        "the slide {} is longer than the window {}; records between two windows would be in none",
                        show(slide.1),
                        show(length)
                    ),
                );
                return None;
            }
            if !whole {
                return None;
            }
            let batches = |d: Duration| (d.as_millis() / interval.as_millis()) as u32;
            return Some(Windowing::Batches {
                length: batches(length),
                slide: batches(slide.1),
            });
        }
        if let StageSettings::ReduceByKeyAndWindow(s) = &spec.settings
            && let Some(inverse) = &s.inverse
        {
            self.error(
                inverse,
                field("inverse"),
                "an inverse applies to processing-time windows only; each event-time window is folded on its own",
            );
        }
        let slide = match slide {
            Some((at, slide)) => (at, slide?),
            None => (window, length),
        };
        if slide.1 > length || length.as_millis() % slide.1.as_millis() != 0 {
            self.error(
                slide.0,
                field("slide"),
                format!(
                    "the window {} is not a multiple of the slide {}; every record must fall in the same number of windows",
                    show(length),
                    show(slide.1)
                ),
            );
            return None;
        }
        let mut at_least_zero = |value: Option<&Spanned<String>>, name: &str| match value {
            None => Some(0),
            Some(text) => match units::duration(text.get_ref()) {
                Ok(d) => Some(d.as_millis() as i64),
                Err(e) => {
                    self.error(text, field(name), e);
                    None
                }
            },
        };
        let delay = at_least_zero(fields.watermark, "watermark");
        let lateness = at_least_zero(fields.allowed_lateness, "allowed_lateness");
        Some(Windowing::EventTime(EventTime {
            length: length.as_millis() as i64,
            slide: slide.1.as_millis() as i64,
            delay: delay?,
            lateness: lateness?,
        }))
    }

    /// Whether a stage's `time` (its field `field`) chooses event time
    /// (`"event"`) over processing time (`"processing"`, the default).
    pub(super) fn event_time(
        &mut self,
        time: Option<&Spanned<String>>,
        field: String,
    ) -> Option<bool> {
        match time.map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "processing")) => Some(false),
            Some((_, "event")) => Some(true),
            Some((time, other)) => {
                self.error(
                    time,
                    field,
                    format!("{other:?} is not a time; use \"processing\" or \"event\""),
                );
                None
            }
        }
    }

    fn positive_duration(&mut self, text: &Spanned<String>, field: String) -> Option<Duration> {
        match units::duration(text.get_ref()) {
            Ok(d) if d > Duration::ZERO => Some(d),
            Ok(_) => {
                self.error(text, field, "must be longer than 0ms");
                None
            }
            Err(e) => {
                self.error(text, field, e);
                None
            }
        }
    }
}
