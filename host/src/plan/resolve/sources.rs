//! Resolving `[[sources]]`.

use std::time::Duration;

use super::Resolver;
use crate::manifest::{SourceSettings, SourceSpec, Spanned};
use crate::plan::{KafkaSource, LineFields, SourceKind, SourcePlan, Start};
use crate::source::MAX_LINE_BYTES;

impl Resolver<'_> {
    pub(super) fn source(&mut self, spec: &SourceSpec, interval: Duration) -> Option<SourcePlan> {
        let i = spec.position;
        let field = |name: &str| format!("sources[{i}].{name}");
        let kind = match &spec.settings {
            SourceSettings::Directory(dir) => match &dir.path {
                Some(path) if !self.path(path.get_ref()).is_dir() => {
                    let resolved = self.path(path.get_ref());
                    self.error(
                        path,
                        field("path"),
                        format!("no such directory: {}", resolved.display()),
                    );
                    return None;
                }
                Some(path) => SourceKind::Directory {
                    path: self.path(path.get_ref()),
                    watch: dir.watch.unwrap_or(true),
                    fields: LineFields {
                        key: self.json_field(&dir.key_field, field("key_field")),
                        timestamp: self.json_field(&dir.timestamp_field, field("timestamp_field")),
                    },
                },
                None => {
                    self.error(
                        &spec.kind,
                        field("path"),
                        "a directory source needs `path = \"folder\"`",
                    );
                    return None;
                }
            },
            SourceSettings::Socket(socket) => match &socket.address {
                Some(address) if address.get_ref().contains(':') => SourceKind::Socket {
                    address: address.get_ref().clone(),
                },
                Some(address) => {
                    self.error(
                        address,
                        field("address"),
                        format!("{:?} is not host:port", address.get_ref()),
                    );
                    return None;
                }
                None => {
                    self.error(
                        &spec.kind,
                        field("address"),
                        "a socket source needs `address = \"host:port\"`",
                    );
                    return None;
                }
            },
            SourceSettings::Stdin(_) => SourceKind::Stdin,
            SourceSettings::Kafka(kafka) => {
                let bootstrap = self.required(
                    &kafka.bootstrap,
                    &spec.kind,
                    field("bootstrap"),
                    "a kafka source needs `bootstrap = \"host:port\"`",
                );
                let topic = self.required(
                    &kafka.topic,
                    &spec.kind,
                    field("topic"),
                    "a kafka source needs `topic = \"name\"`",
                );
                let start = match kafka.start.as_ref().map(|s| (s, s.get_ref().as_str())) {
                    None | Some((_, "latest")) => Start::Latest,
                    Some((_, "earliest")) => Start::Earliest,
                    Some((at, text)) => match text.parse::<i64>() {
                        Ok(ms) if ms >= 0 => Start::Timestamp(ms),
                        _ => {
                            self.error(at, field("start"), format!("{text:?} is not a start; use \"earliest\", \"latest\" or a time in milliseconds since the Unix epoch"));
                            Start::Latest
                        }
                    },
                };
                let group = kafka.group.as_ref().map_or_else(
                    || {
                        format!(
                            "wasmstream-{}-{}",
                            self.manifest.pipeline.name.get_ref(),
                            spec.id.get_ref()
                        )
                    },
                    |g| g.get_ref().clone(),
                );
                SourceKind::Kafka(KafkaSource {
                    bootstrap: bootstrap?,
                    topic: topic?,
                    group,
                    start,
                    commit_offsets: true,
                    // Set by the trigger.
                    until_start_end: false,
                    // Set by `--worker`.
                    worker: false,
                })
            }
            SourceSettings::Generator(generator) => {
                let positive =
                    |this: &mut Self, value: &Option<Spanned<i64>>, name: &str| match value {
                        Some(v) if *v.get_ref() < 1 => {
                            this.error(v, field(name), "must be at least 1");
                            None
                        }
                        Some(v) => Some(*v.get_ref() as u64),
                        None => None,
                    };
                let records = positive(self, &generator.records, "records");
                let rate = positive(self, &generator.rate, "rate");
                let record_bytes = match &generator.record_bytes {
                    Some(v) if !(1..=MAX_LINE_BYTES as i64).contains(v.get_ref()) => {
                        let message = format!(
                            "{} is out of range; use 1 to {MAX_LINE_BYTES} (1MiB, the longest record a source makes)",
                            v.get_ref()
                        );
                        self.error(v, field("record_bytes"), message);
                        100
                    }
                    Some(v) => *v.get_ref() as usize,
                    None => 100,
                };
                SourceKind::Generator {
                    records,
                    rate,
                    record_bytes,
                }
            }
        };
        let (most, per_second) = match &spec.settings {
            SourceSettings::Directory(dir) => (dir.max_batch_records.as_ref(), None),
            SourceSettings::Generator(generator) => (generator.max_batch_records.as_ref(), None),
            SourceSettings::Kafka(kafka) => (None, kafka.max_rate_per_partition.as_ref()),
            SourceSettings::Socket(_) | SourceSettings::Stdin(_) => (None, None),
        };
        let max_batch_records = match (most, per_second) {
            (Some(n), _) | (_, Some(n)) if *n.get_ref() < 1 => {
                let name = match most {
                    Some(_) => "max_batch_records",
                    None => "max_rate_per_partition",
                };
                self.error(n, field(name), "must be at least 1");
                None
            }
            (Some(n), _) => Some(*n.get_ref() as usize),
            // Per partition per batch: the rate over one batch interval.
            (None, Some(rate)) => {
                let per_batch = *rate.get_ref() as f64 * interval.as_secs_f64();
                Some((per_batch.ceil() as usize).max(1))
            }
            (None, None) => None,
        };
        Some(SourcePlan {
            id: self.id(&spec.id)?,
            kind,
            max_batch_records,
        })
    }
}

impl Resolver<'_> {
    /// A field of JSON lines a source names (`key_field`, say): a path of
    /// dot-separated names, none of them empty.
    fn json_field(&mut self, given: &Option<Spanned<String>>, field: String) -> Option<String> {
        let given = given.as_ref()?;
        let path = given.get_ref();
        if path.split('.').any(str::is_empty) {
            self.error(
                given,
                field,
                format!("{path:?} is not a field; name one, with dots between nested names (\"user.id\")"),
            );
            return None;
        }
        Some(path.clone())
    }
}
