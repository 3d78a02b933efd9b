//! What a tenant may use, and the checks a deployed plan must pass.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::plan::{Delivery, PipelinePlan, SinkKind, SourceKind};

const MIB: u64 = 1024 * 1024;

/// A tenant's quota. Every field has a default; an admin sets them with
/// `wasmstream tenant quota`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// Pipelines deployed at once.
    pub pipelines: u32,
    /// Most linear memory one operator instance may have (its stage's
    /// `limits.memory`), in bytes.
    pub operator_memory: u64,
    /// Longest one operator call may run (its stage's `limits.cpu`), in
    /// milliseconds.
    pub cpu_per_call_ms: u64,
    /// Most per-key state a stateful partition keeps in memory
    /// (`state_memory`), in bytes.
    pub state_memory: u64,
    /// Largest component, in bytes.
    pub component_bytes: u64,
    /// Largest request body (a plan or a component), in bytes.
    pub upload_bytes: u64,
    /// Most records per second each source of each pipeline may read;
    /// a source is capped to it.
    pub records_per_second: Option<u64>,
    /// Operator calls the tenant runs at once, over all its pipelines:
    /// the threads it may hold.
    pub calls_at_once: u32,
    /// CPU time its operator calls may use a second, over all its
    /// pipelines, in milliseconds (1000: one core); calls past it wait.
    /// None: as much as its calls at once can use.
    pub cpu_per_second_ms: Option<u64>,
    /// The Kafka brokers and topics its pipelines may use; none: no Kafka.
    pub kafka: Option<KafkaGrant>,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            pipelines: 20,
            operator_memory: 256 * MIB,
            cpu_per_call_ms: 10_000,
            state_memory: 256 * MIB,
            component_bytes: 32 * MIB,
            upload_bytes: 64 * MIB,
            records_per_second: None,
            calls_at_once: 2,
            cpu_per_second_ms: None,
            kafka: None,
        }
    }
}

/// The Kafka a tenant may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaGrant {
    /// Bootstrap addresses (`host:port`) its sources and sinks may name.
    pub brokers: Vec<String>,
    /// The prefix every topic it reads or writes must have.
    pub topic_prefix: String,
}

impl Quota {
    /// Every way `plan` (of `tenant`, already placed) is past this quota.
    pub fn check(&self, tenant: &str, plan: &PipelinePlan) -> Vec<String> {
        let mut errors = Vec::new();
        let mut past = |what: String, field: &str| {
            errors.push(format!(
                "{what}, past tenant `{tenant}`'s quota (`{field}`)"
            ))
        };
        for (stage, _, component) in plan.components() {
            let field = format!("stages[{}].limits", stage.id);
            if component.limits.memory_bytes as u64 > self.operator_memory {
                past(
                    format!(
                        "{field}.memory is {} MiB, more than {} MiB",
                        component.limits.memory_bytes as u64 / MIB,
                        self.operator_memory / MIB
                    ),
                    "operator_memory",
                );
            }
            if component.limits.cpu.as_millis() as u64 > self.cpu_per_call_ms {
                past(
                    format!(
                        "{field}.cpu is {} ms, more than {} ms",
                        component.limits.cpu.as_millis(),
                        self.cpu_per_call_ms
                    ),
                    "cpu_per_call_ms",
                );
            }
        }
        if plan.state_memory as u64 > self.state_memory {
            past(
                format!(
                    "state_memory is {} MiB, more than {} MiB",
                    plan.state_memory as u64 / MIB,
                    self.state_memory / MIB
                ),
                "state_memory",
            );
        }
        errors.extend(self.check_kafka(tenant, plan));
        errors
    }

    /// The Kafka brokers and topics `plan` names that the quota does not
    /// grant.
    fn check_kafka(&self, tenant: &str, plan: &PipelinePlan) -> Vec<String> {
        let mut uses = Vec::new();
        for source in &plan.sources {
            if let SourceKind::Kafka(kafka) = &source.kind {
                let field = format!("sources[{}]", source.id);
                uses.push((field, kafka.bootstrap.clone(), kafka.topic.clone()));
            }
        }
        for sink in &plan.sinks {
            if let SinkKind::Kafka(kafka) = &sink.kind {
                let field = format!("sinks[{}]", sink.id);
                uses.push((field.clone(), kafka.bootstrap.clone(), kafka.topic.clone()));
                if let Delivery::ExactlyOnce(tx) = &kafka.delivery {
                    let topic = tx.commit_topic.clone();
                    uses.push((
                        format!("{field}.commit_topic"),
                        kafka.bootstrap.clone(),
                        topic,
                    ));
                }
            }
        }
        let Some(grant) = &self.kafka else {
            return uses
                .into_iter()
                .map(|(field, ..)| {
                    format!("{field} uses Kafka, which tenant `{tenant}`'s quota does not grant (`kafka`)")
                })
                .collect();
        };
        let mut errors = Vec::new();
        for (field, bootstrap, topic) in uses {
            for broker in bootstrap.split(',').map(str::trim) {
                if !grant.brokers.iter().any(|b| b == broker) {
                    errors.push(format!(
                        "{field} names broker {broker}, which tenant `{tenant}`'s quota does not grant (`kafka.brokers`)"
                    ));
                }
            }
            if !topic.starts_with(&grant.topic_prefix) {
                errors.push(format!(
                    "{field} names topic `{topic}`, outside tenant `{tenant}`'s topics (`kafka.topic_prefix` is `{}`)",
                    grant.topic_prefix
                ));
            }
        }
        errors
    }

    /// Caps each source of `plan` at the quota's records per second;
    /// says which it capped.
    pub fn cap_sources(&self, tenant: &str, plan: &mut PipelinePlan) -> Vec<String> {
        let Some(per_second) = self.records_per_second else {
            return Vec::new();
        };
        let per_batch = (per_second as f64 * plan.interval.as_secs_f64())
            .ceil()
            .max(1.0) as usize;
        let mut notes = Vec::new();
        for source in &mut plan.sources {
            if source.max_batch_records.is_none_or(|max| max > per_batch) {
                source.max_batch_records = Some(per_batch);
                notes.push(format!(
                    "source `{}` reads at most {per_batch} records a batch: tenant `{tenant}`'s quota is {per_second} records/s",
                    source.id
                ));
            }
        }
        notes
    }
}
