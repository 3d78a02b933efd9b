//! The admin's commands, and `login`: `tenant create|ls|quota`,
//! `token create|revoke`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::client::{Client, Connection, Saved};
use crate::manifest::units;
use crate::serve::quota::{KafkaGrant, Quota};
use crate::serve::wire::{NewTenant, NewToken, TenantInfo, TokenCreated, Whoami};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (with the default quota, or the settings given).
    Create {
        /// Its name: letters, digits, `-`, `_`, `.`.
        name: String,
        #[command(flatten)]
        quota: QuotaArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the tenants and their quotas.
    Ls {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a tenant's quota, or change the settings given.
    Quota {
        /// The tenant.
        name: String,
        #[command(flatten)]
        quota: QuotaArgs,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a tenant (or, without --tenant, another admin
    /// token); it is shown this once.
    Create {
        /// The tenant it speaks for.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token's id (`wst_<id>_...`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Quota settings to change; the rest stay.
#[derive(Debug, clap::Args)]
pub struct QuotaArgs {
    /// Pipelines deployed at once.
    #[arg(long)]
    pipelines: Option<u32>,
    /// Most memory per operator instance: `64MiB`.
    #[arg(long, value_parser = units::bytes)]
    operator_memory: Option<usize>,
    /// Longest one operator call may run: `2s`.
    #[arg(long, value_parser = units::duration)]
    cpu_per_call: Option<std::time::Duration>,
    /// Most per-key state a partition keeps in memory: `256MiB`.
    #[arg(long, value_parser = units::bytes)]
    state_memory: Option<usize>,
    /// Largest component: `32MiB`.
    #[arg(long, value_parser = units::bytes)]
    component_size: Option<usize>,
    /// Largest upload: `64MiB`.
    #[arg(long, value_parser = units::bytes)]
    upload_size: Option<usize>,
    /// Most records per second a source reads.
    #[arg(long)]
    records_per_second: Option<u64>,
    /// Operator calls the tenant runs at once (threads it holds).
    #[arg(long)]
    calls_at_once: Option<u32>,
    /// CPU time its operators may use a second, over all its pipelines:
    /// `500ms` (half a core).
    #[arg(long, value_parser = units::duration)]
    cpu_per_second: Option<std::time::Duration>,
    /// Kafka brokers it may reach: `host:port,...` (with --topic-prefix).
    #[arg(long, requires = "topic_prefix")]
    kafka_brokers: Option<String>,
    /// The prefix its Kafka topics must have.
    #[arg(long, requires = "kafka_brokers")]
    topic_prefix: Option<String>,
}

impl QuotaArgs {
    fn changes_anything(&self) -> bool {
        self.apply(Quota::default()) != Quota::default()
    }

    fn apply(&self, mut q: Quota) -> Quota {
        if let Some(v) = self.pipelines {
            q.pipelines = v;
        }
        if let Some(v) = self.operator_memory {
            q.operator_memory = v as u64;
        }
        if let Some(v) = self.cpu_per_call {
            q.cpu_per_call_ms = v.as_millis() as u64;
        }
        if let Some(v) = self.state_memory {
            q.state_memory = v as u64;
        }
        if let Some(v) = self.component_size {
            q.component_bytes = v as u64;
        }
        if let Some(v) = self.upload_size {
            q.upload_bytes = v as u64;
        }
        if let Some(v) = self.records_per_second {
            q.records_per_second = Some(v);
        }
        if let Some(v) = self.calls_at_once {
            q.calls_at_once = v;
        }
        if let Some(v) = self.cpu_per_second {
            q.cpu_per_second_ms = Some(v.as_millis() as u64);
        }
        if let (Some(brokers), Some(prefix)) = (&self.kafka_brokers, &self.topic_prefix) {
            q.kafka = Some(KafkaGrant {
                brokers: brokers.split(',').map(|b| b.trim().to_owned()).collect(),
                topic_prefix: prefix.clone(),
            });
        }
        q
    }
}

fn show(t: &TenantInfo) {
    let q = &t.quota;
    let kafka = q.kafka.as_ref().map_or("no".to_owned(), |k| {
        format!("{} (topics `{}*`)", k.brokers.join(","), k.topic_prefix)
    });
    println!(
        "{}: {} of {} pipelines; per operator {} and {} ms a call; state {}; components {}, uploads {}; {} calls at once; CPU a second {}; records/s {}; kafka {kafka}",
        t.name,
        t.pipelines,
        q.pipelines,
        indicatif::HumanBytes(q.operator_memory),
        q.cpu_per_call_ms,
        indicatif::HumanBytes(q.state_memory),
        indicatif::HumanBytes(q.component_bytes),
        indicatif::HumanBytes(q.upload_bytes),
        q.calls_at_once,
        q.cpu_per_second_ms
            .map_or("unlimited".into(), |ms| format!("{ms} ms")),
        q.records_per_second
            .map_or("unlimited".into(), |r| r.to_string()),
    );
}

pub fn tenant(command: TenantCommand) -> Result<ExitCode> {
    match command {
        TenantCommand::Create {
            name,
            quota,
            connection,
        } => {
            let created: TenantInfo = connection.client()?.post(
                "/v1/tenants",
                &NewTenant {
                    name,
                    quota: quota
                        .changes_anything()
                        .then(|| quota.apply(Quota::default())),
                },
            )?;
            show(&created);
        }
        TenantCommand::Ls { connection } => {
            let tenants: Vec<TenantInfo> = connection.client()?.get("/v1/tenants")?;
            tenants.iter().for_each(show);
        }
        TenantCommand::Quota {
            name,
            quota,
            connection,
        } => {
            let client = connection.client()?;
            let tenants: Vec<TenantInfo> = client.get("/v1/tenants")?;
            let tenant = tenants
                .into_iter()
                .find(|t| t.name == name)
                .with_context(|| format!("there is no tenant `{name}`"))?;
            let tenant = match quota.changes_anything() {
                true => client.put(
                    &format!("/v1/tenants/{name}/quota"),
                    &quota.apply(tenant.quota),
                )?,
                false => tenant,
            };
            show(&tenant);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token(command: TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::Create { tenant, connection } => {
            let created: TokenCreated = connection
                .client()?
                .post("/v1/tokens", &NewToken { tenant })?;
            let whose = created
                .tenant
                .map_or("an admin".to_owned(), |t| format!("tenant `{t}`"));
            eprintln!(
                "token {} for {whose} (shown this once; keep it):",
                created.id
            );
            println!("{}", created.token);
        }
        TokenCommand::Revoke { id, connection } => {
            connection.client()?.delete(&format!("/v1/tokens/{id}"))?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server's URL.
    #[arg(long, value_name = "URL", default_value = super::client::DEFAULT_SERVER)]
    server: String,
    /// The token (from `wasmstream serve`'s first start or `token create`).
    #[arg(long, value_name = "TOKEN")]
    token: String,
}

/// Checks the token with the server, then saves both for later commands.
pub fn login(args: LoginArgs) -> Result<ExitCode> {
    let who: Whoami = Client::new(&args.server, &args.token).get("/v1/whoami")?;
    let file = Saved {
        server: Some(args.server.clone()),
        token: Some(args.token),
    }
    .store()?;
    let whom = who
        .tenant
        .map_or("the admin".to_owned(), |t| format!("tenant `{t}`"));
    println!(
        "logged in to {} as {whom}; saved in {}",
        args.server,
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}
