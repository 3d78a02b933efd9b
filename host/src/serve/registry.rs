//! The server's registry: tenants, tokens, pipelines and every version
//! deployed, in one redb file. Each change is one transaction, so the
//! registry is consistent whenever the server stops, however it stops.
//!
//! Records are JSON, keyed by name: `tenant/pipeline` for pipelines and
//! `tenant/pipeline/version` (zero-padded) for their plans.

use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::quota::Quota;
use crate::plan::PipelinePlan;

const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const PIPELINES: TableDefinition<&str, &[u8]> = TableDefinition::new("pipelines");
const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("versions");

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tenant {
    /// Its name.
    pub name: String,
    /// What it may use.
    pub quota: Quota,
}

/// A token, as stored: never the secret, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its id, the public half of the token.
    pub id: String,
    /// The tenant it speaks for; `None`: the admin.
    pub tenant: Option<String>,
    /// SHA-256 of the secret half, hex.
    pub hash: String,
}

/// A deployed pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRecord {
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// The version deployed last.
    pub version: u32,
    /// Whether it should be running.
    pub running: bool,
}

/// The registry.
pub struct Registry {
    db: Database,
}

fn pipeline_key(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

fn version_key(tenant: &str, name: &str, version: u32) -> String {
    format!("{tenant}/{name}/{version:010}")
}

impl Registry {
    /// Opens (or creates) the registry at `file`.
    pub fn open(file: &Path) -> Result<Registry> {
        let db = Database::create(file)
            .with_context(|| format!("cannot open the registry {}", file.display()))?;
        let write = db.begin_write()?;
        for table in [TENANTS, TOKENS, PIPELINES, VERSIONS] {
            write.open_table(table)?;
        }
        write.commit()?;
        Ok(Registry { db })
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>> {
        let read = self.db.begin_read()?;
        let table = read.open_table(table)?;
        match table.get(key)? {
            Some(value) => Ok(Some(serde_json::from_slice(value.value())?)),
            None => Ok(None),
        }
    }

    /// Every record of `table` whose key starts with `prefix`.
    fn list<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        prefix: &str,
    ) -> Result<Vec<T>> {
        let read = self.db.begin_read()?;
        let table = read.open_table(table)?;
        let mut found = Vec::new();
        for entry in table.range(prefix..)? {
            let (key, value) = entry?;
            if !key.value().starts_with(prefix) {
                break;
            }
            found.push(serde_json::from_slice(value.value())?);
        }
        Ok(found)
    }

    fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let write = self.db.begin_write()?;
        write
            .open_table(table)?
            .insert(key, serde_json::to_vec(value)?.as_slice())?;
        write.commit()?;
        Ok(())
    }

    /// A tenant.
    pub fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        self.get(TENANTS, name)
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        self.list(TENANTS, "")
    }

    /// Adds or replaces a tenant.
    pub fn put_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.put(TENANTS, &tenant.name, tenant)
    }

    /// A token, by id.
    pub fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.get(TOKENS, id)
    }

    /// Every token.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.list(TOKENS, "")
    }

    /// Stores a new token.
    pub fn put_token(&self, token: &TokenRecord) -> Result<()> {
        self.put(TOKENS, &token.id, token)
    }

    /// Removes a token; whether there was one.
    pub fn remove_token(&self, id: &str) -> Result<bool> {
        let write = self.db.begin_write()?;
        let removed = write.open_table(TOKENS)?.remove(id)?.is_some();
        write.commit()?;
        Ok(removed)
    }

    /// A tenant's pipeline.
    pub fn pipeline(&self, tenant: &str, name: &str) -> Result<Option<PipelineRecord>> {
        self.get(PIPELINES, &pipeline_key(tenant, name))
    }

    /// A tenant's pipelines, or everyone's.
    pub fn pipelines(&self, tenant: Option<&str>) -> Result<Vec<PipelineRecord>> {
        match tenant {
            Some(tenant) => self.list(PIPELINES, &format!("{tenant}/")),
            None => self.list(PIPELINES, ""),
        }
    }

    /// Stores `plan` as the next version of its pipeline, to run; returns
    /// the pipeline as it now is.
    pub fn deploy(&self, tenant: &str, plan: &PipelinePlan) -> Result<PipelineRecord> {
        let key = pipeline_key(tenant, &plan.name);
        let write = self.db.begin_write()?;
        let record = {
            let mut pipelines = write.open_table(PIPELINES)?;
            let last = match pipelines.get(key.as_str())? {
                Some(value) => serde_json::from_slice::<PipelineRecord>(value.value())?.version,
                None => 0,
            };
            let record = PipelineRecord {
                tenant: tenant.to_owned(),
                name: plan.name.clone(),
                version: last + 1,
                running: true,
            };
            pipelines.insert(key.as_str(), serde_json::to_vec(&record)?.as_slice())?;
            let version = version_key(tenant, &plan.name, record.version);
            write
                .open_table(VERSIONS)?
                .insert(version.as_str(), serde_json::to_vec(plan)?.as_slice())?;
            record
        };
        write.commit()?;
        Ok(record)
    }

    /// Marks a pipeline to run or not.
    pub fn set_running(&self, tenant: &str, name: &str, running: bool) -> Result<()> {
        if let Some(mut record) = self.pipeline(tenant, name)? {
            record.running = running;
            self.put(PIPELINES, &pipeline_key(tenant, name), &record)?;
        }
        Ok(())
    }

    /// A version's plan, as deployed (before it is placed).
    pub fn plan(&self, tenant: &str, name: &str, version: u32) -> Result<Option<PipelinePlan>> {
        self.get(VERSIONS, &version_key(tenant, name, version))
    }

    /// Removes a pipeline and all its versions.
    pub fn undeploy(&self, tenant: &str, name: &str) -> Result<()> {
        let write = self.db.begin_write()?;
        {
            write
                .open_table(PIPELINES)?
                .remove(pipeline_key(tenant, name).as_str())?;
            let mut versions = write.open_table(VERSIONS)?;
            let prefix = format!("{}/", pipeline_key(tenant, name));
            let keys: Vec<String> = versions
                .range(prefix.as_str()..)?
                .map_while(|entry| {
                    let key = entry.ok()?.0.value().to_owned();
                    key.starts_with(&prefix).then_some(key)
                })
                .collect();
            for key in keys {
                versions.remove(key.as_str())?;
            }
        }
        write.commit()?;
        Ok(())
    }
}
