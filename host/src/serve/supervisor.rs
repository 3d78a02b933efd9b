//! Runs the server's pipelines: each in a task of its own that binds the
//! version deployed last, runs it, and when it fails marks it failed with
//! the reason and starts it again after an exponentially growing wait,
//! up to [`MAX_RESTARTS`] times. A deploy to a running pipeline is handed
//! to it as a hot reload.
//!
//! A tenant's pipelines share one compile cache (one [`Runtime`]) and one
//! bound on operator calls at once (the threads it may hold); no two
//! tenants share either.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::area::Area;
use super::registry::{Registry, Tenant};
use super::wire::{PipelineInfo, State};
use crate::manifest::ManifestErrors;
use crate::metrics::PipelineMetrics;
use crate::plan::{Bound, PipelinePlan, SourceKind};
use crate::plugin::Runtime;
use crate::reload::Updates;
use crate::scheduler::{self, Figures, Options};
use crate::stage::Calls;

/// Restarts after failures before a pipeline is left failed.
pub const MAX_RESTARTS: u32 = 5;
/// The first wait before a restart; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a restart.
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

type Key = (String, String);
type PlanSender = mpsc::UnboundedSender<Result<Bound, ManifestErrors>>;

/// Why a plan cannot run on the server, every reason.
#[derive(Debug)]
pub enum Unfit {
    /// It is past the tenant's quota.
    Quota(Vec<String>),
    /// It reaches outside the tenant's area, names a component not
    /// uploaded, or a component does not start.
    Plan(Vec<String>),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (Unfit::Quota(errors) | Unfit::Plan(errors)) = self;
        f.write_str(&errors.join("; "))
    }
}

/// A pipeline's task and what it reports.
struct Running {
    stop: watch::Sender<bool>,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

/// What a pipeline's task and the API share.
#[derive(Default)]
struct Shared {
    state: Option<State>,
    reason: Option<String>,
    restarts: u32,
    /// Where a new version goes while it runs.
    updates: Option<PlanSender>,
    /// A new version deployed while it was not running yet, for it to
    /// take as soon as it is.
    pending: Option<Bound>,
    figures: Option<watch::Receiver<Figures>>,
    /// Its Prometheus metrics, this run's.
    metrics: Option<Arc<PipelineMetrics>>,
}

/// What one tenant's pipelines share.
struct TenantShare {
    runtime: Arc<Runtime>,
    calls: Calls,
}

/// The pipelines the server runs.
pub struct Supervisor {
    area: Area,
    registry: Arc<Registry>,
    tenants: Mutex<HashMap<String, Arc<TenantShare>>>,
    running: Mutex<HashMap<Key, Running>>,
}

impl Supervisor {
    /// A supervisor of the pipelines in `registry`, kept in `area`.
    pub fn new(area: Area, registry: Arc<Registry>) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            area,
            registry,
            tenants: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Starts every pipeline the registry says should run: on a restart
    /// each resumes from its checkpoint.
    pub fn resume_all(self: &Arc<Self>) -> Result<usize> {
        let mut started = 0;
        for record in self.registry.pipelines(None)? {
            if record.running {
                self.start(&record.tenant, &record.name);
                started += 1;
            }
        }
        Ok(started)
    }

    /// The tenant's compile cache and bound on calls.
    fn share(&self, tenant: &Tenant) -> Result<Arc<TenantShare>> {
        let mut tenants = self.tenants.lock().expect("tenants poisoned");
        if let Some(share) = tenants.get(&tenant.name) {
            return Ok(share.clone());
        }
        let runtime = Runtime::new(self.area.cache(&tenant.name))?;
        let mut calls = Calls::new(tenant.quota.calls_at_once as usize);
        if let Some(ms) = tenant.quota.cpu_per_second_ms {
            calls = calls.with_cpu_rate(Duration::from_millis(ms));
        }
        let share = Arc::new(TenantShare { runtime, calls });
        tenants.insert(tenant.name.clone(), share.clone());
        Ok(share)
    }

    /// The tenant's runtime: its engine and compile cache.
    pub fn runtime(&self, tenant: &Tenant) -> Result<Arc<Runtime>> {
        Ok(self.share(tenant)?.runtime.clone())
    }

    /// Places `uploaded` in `tenant`'s area, checks it against the quota
    /// and binds it (loading each component and running its `init`);
    /// also says what the quota changed. Every problem is reported.
    pub async fn prepare(
        &self,
        tenant: &Tenant,
        uploaded: PipelinePlan,
    ) -> Result<(Bound, Vec<String>), Unfit> {
        let mut plan = self
            .area
            .place(&tenant.name, uploaded)
            .map_err(Unfit::Plan)?;
        let notes = tenant.quota.cap_sources(&tenant.name, &mut plan);
        let errors = tenant.quota.check(&tenant.name, &plan);
        if !errors.is_empty() {
            return Err(Unfit::Quota(errors));
        }
        let failed = |e: String| Unfit::Plan(vec![e]);
        let share = self.share(tenant).map_err(|e| failed(format!("{e:#}")))?;
        let bound = tokio::task::spawn_blocking(move || crate::plan::bind(&plan, &share.runtime))
            .await
            .map_err(|e| failed(format!("binding the plan failed: {e}")))?
            .map_err(|errors| Unfit::Plan(errors.iter().map(|e| e.to_string()).collect()))?;
        Ok((bound, notes))
    }

    /// Hands `bound` to `tenant`'s pipeline as a hot reload: now if it
    /// runs, or as soon as it does if it is starting or backing off.
    /// Whether its task was there to take it.
    pub fn reload(&self, tenant: &str, bound: Bound) -> bool {
        let key = (tenant.to_owned(), bound.plan.name.clone());
        let running = self.running.lock().expect("running poisoned");
        let Some(run) = running.get(&key).filter(|r| !r.task.is_finished()) else {
            return false;
        };
        let mut shared = run.shared.lock().expect("shared poisoned");
        match &shared.updates {
            Some(updates) => {
                let _ = updates.send(Ok(bound));
            }
            None => shared.pending = Some(bound),
        }
        true
    }

    /// Starts `tenant`'s pipeline `name` (the version deployed last),
    /// unless it runs already.
    pub fn start(self: &Arc<Self>, tenant: &str, name: &str) {
        let key = (tenant.to_owned(), name.to_owned());
        let mut running = self.running.lock().expect("running poisoned");
        if running.get(&key).is_some_and(|r| !r.task.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Mutex::new(Shared {
            state: Some(State::Starting),
            ..Shared::default()
        }));
        let task = tokio::spawn(self.clone().supervise(key.clone(), stopped, shared.clone()));
        running.insert(key, Running { stop, shared, task });
    }

    /// Stops `tenant`'s pipeline `name` after its running batch, and
    /// waits for it.
    pub async fn stop(&self, tenant: &str, name: &str) {
        let run = self
            .running
            .lock()
            .expect("running poisoned")
            .remove(&(tenant.to_owned(), name.to_owned()));
        if let Some(run) = run {
            let _ = run.stop.send(true);
            let _ = run.task.await;
        }
    }

    /// Stops every pipeline after its running batch, each writing its
    /// checkpoint, and waits for them all. The registry still says they
    /// run, so the next start resumes them.
    pub async fn shutdown(&self) {
        let runs: Vec<Running> = self
            .running
            .lock()
            .expect("running poisoned")
            .drain()
            .map(|(_, run)| run)
            .collect();
        for run in &runs {
            let _ = run.stop.send(true);
        }
        for run in runs {
            let _ = run.task.await;
        }
    }

    /// What `tenant`'s pipeline is doing, for `ls` and `status`.
    pub fn info(&self, tenant: &str, name: &str, version: u32) -> PipelineInfo {
        let running = self.running.lock().expect("running poisoned");
        let shared = running
            .get(&(tenant.to_owned(), name.to_owned()))
            .map(|r| r.shared.lock().expect("shared poisoned"));
        let (state, reason, restarts, figures) = match &shared {
            Some(s) => (
                s.state.unwrap_or(State::Starting),
                s.reason.clone(),
                s.restarts,
                s.figures.as_ref().map(|f| f.borrow().clone()),
            ),
            None => (State::Stopped, None, 0, None),
        };
        PipelineInfo {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            version,
            state,
            reason,
            restarts,
            figures,
        }
    }

    /// The metrics of the pipelines running or run since the server
    /// started: `tenant`'s, or every tenant's for `None` (the admin).
    pub fn metrics(&self, tenant: Option<&str>) -> Vec<Arc<PipelineMetrics>> {
        let running = self.running.lock().expect("running poisoned");
        let mut metrics: Vec<_> = running
            .iter()
            .filter(|((owner, _), _)| tenant.is_none_or(|t| t == owner))
            .filter_map(|(key, r)| {
                let shared = r.shared.lock().expect("shared poisoned");
                shared.metrics.clone().map(|m| (key.clone(), m))
            })
            .collect();
        metrics.sort_by(|a, b| a.0.cmp(&b.0));
        metrics.into_iter().map(|(_, m)| m).collect()
    }

    /// Appends a line to a pipeline's log.
    pub fn log(&self, tenant: &str, name: &str, line: &str) {
        let file = self.area.log(tenant, name);
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(file.parent().expect("a log is in a folder"))?;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)?;
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            writeln!(log, "{now} {line}")
        })();
        if let Err(e) = written {
            tracing::warn!(
                tenant,
                pipeline = name,
                "cannot write the pipeline's log: {e}"
            );
        }
    }

    /// A pipeline's task: runs it, and restarts it after failures.
    async fn supervise(
        self: Arc<Self>,
        (tenant, name): Key,
        mut stop: watch::Receiver<bool>,
        shared: Arc<Mutex<Shared>>,
    ) {
        let set = |state: State, reason: Option<String>| {
            let mut shared = shared.lock().expect("shared poisoned");
            shared.state = Some(state);
            shared.reason = reason;
        };
        let mut waits = backon::BackoffBuilder::build(crate::retry::backoff(
            FIRST_BACKOFF,
            LONGEST_BACKOFF,
            None,
        ));
        let mut restarts = 0;
        loop {
            set(State::Starting, None);
            let outcome = self.run_once(&tenant, &name, stop.clone(), &shared).await;
            shared.lock().expect("shared poisoned").updates = None;
            if *stop.borrow() {
                self.log(&tenant, &name, "stopped");
                set(State::Stopped, None);
                return;
            }
            let reason = match outcome {
                Ok(summary) => {
                    self.log(
                        &tenant,
                        &name,
                        &format!(
                            "finished: its sources ended after {} batches ({} records in, {} out)",
                            summary.batches, summary.records_in, summary.records_out
                        ),
                    );
                    set(State::Finished, None);
                    return;
                }
                Err(e) => format!("{e:#}"),
            };
            if restarts >= MAX_RESTARTS {
                self.log(
                    &tenant,
                    &name,
                    &format!("failed: {reason}; restarted {restarts} times, it stays failed until `wasmstream start`"),
                );
                set(State::Failed, Some(reason));
                return;
            }
            restarts += 1;
            let wait = waits.next().unwrap_or(LONGEST_BACKOFF);
            self.log(
                &tenant,
                &name,
                &format!(
                    "failed: {reason}; restarting in {} (restart {restarts} of {MAX_RESTARTS})",
                    humantime::format_duration(wait)
                ),
            );
            set(State::BackingOff, Some(reason));
            shared.lock().expect("shared poisoned").restarts = restarts;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        }
    }

    /// Binds the version deployed last and runs it until it ends.
    async fn run_once(
        &self,
        tenant: &str,
        name: &str,
        stop: watch::Receiver<bool>,
        shared: &Arc<Mutex<Shared>>,
    ) -> Result<crate::summary::Summary> {
        let record = self
            .registry
            .pipeline(tenant, name)?
            .context("it is no longer deployed")?;
        let uploaded = self
            .registry
            .plan(tenant, name, record.version)?
            .with_context(|| format!("version {} is missing from the registry", record.version))?;
        let tenant_record = self
            .registry
            .tenant(tenant)?
            .with_context(|| format!("tenant `{tenant}` is gone"))?;
        let (bound, _) = self
            .prepare(&tenant_record, uploaded)
            .await
            .map_err(|unfit| anyhow::anyhow!("{unfit}"))?;
        // The folders its directory sources read: in the tenant's area,
        // where nothing else would make them.
        for source in &bound.plan.sources {
            if let SourceKind::Directory { path, .. } = &source.kind {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create source `{}`'s folder", source.id))?;
            }
        }
        let share = self.share(&tenant_record)?;
        let (updates, plans) = mpsc::unbounded_channel();
        let (figures, watching) = watch::channel(Figures::default());
        let metrics = Arc::new(PipelineMetrics::new(&bound.plan, Some(tenant)));
        {
            let mut shared = shared.lock().expect("shared poisoned");
            // Deployed since this version was read: the reloader takes it
            // as an edit (nothing, if it is this version after all).
            if let Some(newer) = shared.pending.take() {
                let _ = updates.send(Ok(newer));
            }
            shared.updates = Some(updates);
            shared.figures = Some(watching);
            shared.metrics = Some(metrics.clone());
            shared.state = Some(State::Running);
            shared.reason = None;
        }
        self.log(tenant, name, &format!("running version {}", record.version));
        let options = Options {
            updates: Some(Updates::Pushed(share.runtime.clone(), plans)),
            figures: Some(figures),
            calls: Some(share.calls.clone()),
            metrics: Some(metrics),
            ..Options::new(stop)
        };
        // Every event the pipeline's task logs says whose it is.
        let span = tracing::info_span!("pipeline", tenant, pipeline = name);
        scheduler::run(bound, options).instrument(span).await
    }
}
