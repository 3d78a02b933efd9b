//! Resolving `[[sinks]]`, and what exactly-once delivery asks of the
//! sources.

use std::path::Path;

use super::Resolver;
use crate::manifest::kinds::KafkaSinkSettings;
use crate::manifest::{SinkSettings, SinkSpec, Spanned};
use crate::plan::{
    CommittedSource, Delivery, KafkaSink, SinkKind, SinkPlan, SourceKind, SourcePlan, Transactions,
};

impl Resolver<'_> {
    pub(super) fn sink(&mut self, spec: &SinkSpec) -> Option<SinkPlan> {
        let i = spec.position;
        let field = |name: &str| format!("sinks[{i}].{name}");
        let input = self.input(&spec.input, field("input"));
        let kind = match &spec.settings {
            SinkSettings::Stdout(stdout) => {
                let max_records = match &stdout.max_records {
                    Some(n) if *n.get_ref() < 0 => {
                        self.error(n, field("max_records"), "must not be negative");
                        10
                    }
                    Some(n) => *n.get_ref() as usize,
                    None => 10,
                };
                SinkKind::Stdout { max_records }
            }
            SinkSettings::Files(files) => {
                let Some(path) = &files.path else {
                    self.error(
                        &spec.kind,
                        field("path"),
                        "a files sink needs `path = \"folder\"`",
                    );
                    return None;
                };
                let text = |v: &Option<Spanned<String>>, default: &str| {
                    v.as_ref()
                        .map_or(default.to_owned(), |v| v.get_ref().clone())
                };
                SinkKind::Files {
                    dir: self.path(path.get_ref()),
                    prefix: text(&files.prefix, "batch"),
                    suffix: text(&files.suffix, "txt"),
                }
            }
            SinkSettings::Kafka(kafka) => {
                let bootstrap = self.required(
                    &kafka.bootstrap,
                    &spec.kind,
                    field("bootstrap"),
                    "a kafka sink needs `bootstrap = \"host:port\"`",
                );
                let topic = self.required(
                    &kafka.topic,
                    &spec.kind,
                    field("topic"),
                    "a kafka sink needs `topic = \"name\"`",
                );
                let mut choice = |value: &Option<Spanned<String>>,
                                  name: &str,
                                  default: &str,
                                  allowed: &[&str]| match value {
                    None => default.to_owned(),
                    Some(v) if allowed.contains(&v.get_ref().as_str()) => v.get_ref().clone(),
                    Some(v) => {
                        self.error(
                            v,
                            field(name),
                            format!("{:?} is not one of {}", v.get_ref(), allowed.join(", ")),
                        );
                        default.to_owned()
                    }
                };
                let acks = choice(&kafka.acks, "acks", "all", &["all", "1", "0"]);
                let compression = choice(
                    &kafka.compression,
                    "compression",
                    "none",
                    &["none", "gzip", "snappy", "lz4", "zstd"],
                );
                let delivery = match kafka.delivery.as_ref().map(|d| (d, d.get_ref().as_str())) {
                    None | Some((_, "at-least-once")) => Delivery::AtLeastOnce,
                    Some((at, "exactly-once")) => self.exactly_once(at, spec, kafka, i)?,
                    Some((at, other)) => {
                        self.error(
                            at,
                            field("delivery"),
                            format!("{other:?} is not one of at-least-once, exactly-once"),
                        );
                        Delivery::AtLeastOnce
                    }
                };
                SinkKind::Kafka(KafkaSink {
                    bootstrap: bootstrap?,
                    topic: topic?,
                    acks,
                    compression,
                    delivery,
                    repartition: false,
                    side: None,
                    key_by_value: false,
                })
            }
        };
        Some(SinkPlan {
            id: self.id(&spec.id)?,
            input: input?,
            kind,
        })
    }

    /// Resolves `delivery = "exactly-once"` on sink `i`. The pipeline must
    /// be checkpointed, so a restart rebuilds exactly the batches it had
    /// run and can tell which of them it already committed; and every
    /// write must wait for all replicas (`acks = "all"`), as transactions
    /// require. Which sources' offsets commit with each batch is settled
    /// once the sources are resolved ([`commit_offsets_in_transactions`]).
    fn exactly_once(
        &mut self,
        at: &Spanned<String>,
        spec: &SinkSpec,
        kafka: &KafkaSinkSettings,
        i: usize,
    ) -> Option<Delivery> {
        let m = self.manifest;
        if m.pipeline.checkpoint.is_none() {
            self.error(
                at,
                format!("sinks[{i}].delivery"),
                "exactly-once delivery needs checkpoints: after a crash the pipeline replays its logged batches, skipping those already committed; add `checkpoint = { dir = \"checkpoints\" }` to [pipeline] or use `delivery = \"at-least-once\"`",
            );
            return None;
        }
        if let Some(acks) = kafka.acks.as_ref().filter(|a| a.get_ref() != "all") {
            self.error(
                acks,
                format!("sinks[{i}].acks"),
                format!(
                    "exactly-once delivery writes in transactions, which need `acks = \"all\"`, not {:?}",
                    acks.get_ref()
                ),
            );
            return None;
        }
        let name = kafka_name(&format!(
            "wasmstream-{}-{}",
            m.pipeline.name.get_ref(),
            spec.id.get_ref()
        ));
        Some(Delivery::ExactlyOnce(Transactions {
            commit_topic: format!("{name}-commits"),
            transactional_id: name,
            sources: Vec::new(),
        }))
    }

    /// No two files sinks write the same folder: their batch files would
    /// overwrite each other's.
    pub(super) fn one_folder_each(&mut self, sinks: &[SinkPlan]) {
        let mut seen: Vec<(&Path, &str)> = Vec::new();
        for sink in sinks {
            let SinkKind::Files { dir, .. } = &sink.kind else {
                continue;
            };
            match seen.iter().find(|(other, _)| *other == dir.as_path()) {
                Some((_, first)) => {
                    let spec = self
                        .manifest
                        .sinks
                        .iter()
                        .find(|s| s.id.get_ref() == sink.id.as_str())
                        .expect("a resolved sink has its entry");
                    let path = match &spec.settings {
                        SinkSettings::Files(files) => files.path.as_ref(),
                        _ => None,
                    };
                    let message = format!(
                        "sinks `{first}` and `{}` both write to {}, so each would overwrite the other's batch files; give each files sink a folder of its own",
                        sink.id,
                        dir.display()
                    );
                    let field = format!("sinks[{}].path", spec.position);
                    match path {
                        Some(path) => self.error(path, field, message),
                        None => self.error(&spec.id, field, message),
                    }
                }
                None => seen.push((dir, sink.id.as_str())),
            }
        }
    }
}

/// Has each exactly-once Kafka sink commit, inside its transactions, the
/// offsets of the Kafka sources on its own cluster (a transaction can only
/// commit offsets there); those sources then stop committing their own,
/// so lag tools see exactly what the transactions committed.
pub(super) fn commit_offsets_in_transactions(sources: &mut [SourcePlan], sinks: &mut [SinkPlan]) {
    for sink in sinks {
        let SinkKind::Kafka(KafkaSink {
            bootstrap,
            delivery: Delivery::ExactlyOnce(transactions),
            ..
        }) = &mut sink.kind
        else {
            continue;
        };
        for source in sources.iter_mut() {
            if let SourceKind::Kafka(kafka) = &mut source.kind
                && kafka.bootstrap == *bootstrap
            {
                kafka.commit_offsets = false;
                transactions.sources.push(CommittedSource {
                    id: source.id.to_string(),
                    topic: kafka.topic.clone(),
                    group: kafka.group.clone(),
                });
            }
        }
    }
}

/// `name` with every character Kafka does not allow in a topic name (or a
/// transactional id) replaced by `_`.
fn kafka_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
