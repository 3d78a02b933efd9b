//! Resolving `[[sources]]`.

use std::time::Duration;

use super::Resolver;
use crate::manifest::{SourceSpec, Spanned};
use crate::plan::{KafkaSource, SourceKind, SourcePlan, Start};

impl Resolver<'_> {
    pub(super) fn source(&mut self, spec: &SourceSpec, interval: Duration) -> Option<SourcePlan> {
        let i = spec.position;
        let field = |name: &str| format!("sources[{i}].{name}");
        let set = [
            ("path", spec.path.as_ref().map(Spanned::span)),
            ("watch", spec.watch.map(|_| spec.kind.span())),
            ("address", spec.address.as_ref().map(Spanned::span)),
            ("records", spec.records.as_ref().map(Spanned::span)),
            ("rate", spec.rate.as_ref().map(Spanned::span)),
            (
                "record_bytes",
                spec.record_bytes.as_ref().map(Spanned::span),
            ),
            (
                "max_batch_records",
                spec.max_batch_records.as_ref().map(Spanned::span),
            ),
            ("bootstrap", spec.bootstrap.as_ref().map(Spanned::span)),
            ("topic", spec.topic.as_ref().map(Spanned::span)),
            ("group", spec.group.as_ref().map(Spanned::span)),
            ("start", spec.start.as_ref().map(Spanned::span)),
            (
                "max_rate_per_partition",
                spec.max_rate_per_partition.as_ref().map(Spanned::span),
            ),
        ];
        let applies: Option<&[&str]> = match spec.kind.get_ref().as_str() {
            "directory" => Some(&["path", "watch", "max_batch_records"]),
            "socket" => Some(&["address"]),
            "stdin" => Some(&[]),
            "generator" => Some(&["records", "rate", "record_bytes", "max_batch_records"]),
            "kafka" => Some(&[
                "bootstrap",
                "topic",
                "group",
                "start",
                "max_rate_per_partition",
            ]),
            _ => None,
        };
        self.inapplicable(&set, applies, spec.kind.get_ref(), "source", &field);
        let kind = match spec.kind.get_ref().as_str() {
            "directory" => match &spec.path {
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
                    watch: spec.watch.unwrap_or(true),
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
            "socket" => match &spec.address {
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
            "stdin" => SourceKind::Stdin,
            "kafka" => {
                let bootstrap = self.required(
                    &spec.bootstrap,
                    &spec.kind,
                    field("bootstrap"),
                    "a kafka source needs `bootstrap = \"host:port\"`",
                );
                let topic = self.required(
                    &spec.topic,
                    &spec.kind,
                    field("topic"),
                    "a kafka source needs `topic = \"name\"`",
                );
                let start = match spec.start.as_ref().map(|s| (s, s.get_ref().as_str())) {
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
                let group = spec.group.as_ref().map_or_else(
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
                })
            }
            "generator" => {
                let positive =
                    |this: &mut Self, value: &Option<Spanned<i64>>, name: &str| match value {
                        Some(v) if *v.get_ref() < 1 => {
                            this.error(v, field(name), "must be at least 1");
                            None
                        }
                        Some(v) => Some(*v.get_ref() as u64),
                        None => None,
                    };
                let records = positive(self, &spec.records, "records");
                let rate = positive(self, &spec.rate, "rate");
                let record_bytes =
                    positive(self, &spec.record_bytes, "record_bytes").unwrap_or(100) as usize;
                SourceKind::Generator {
                    records,
                    rate,
                    record_bytes,
                }
            }
            other => {
                self.error(
                    &spec.kind,
                    field("kind"),
                    format!(
                        "unknown source kind {other:?}; use directory, kafka, socket, stdin or generator"
                    ),
                );
                return None;
            }
        };
        let max_batch_records = match (&spec.max_batch_records, &spec.max_rate_per_partition) {
            (Some(n), _) | (_, Some(n)) if *n.get_ref() < 1 => {
                let name = match spec.max_batch_records {
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
