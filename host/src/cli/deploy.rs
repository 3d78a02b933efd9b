//! `wasmstream deploy`: ship a pipeline to a server.
//!
//! The manifest is checked here first, as `validate` would, so its errors
//! show before anything is sent. The plan is then made portable (paths
//! relative to the manifest's folder, each component named by its
//! content hash), each component the server does not have is uploaded,
//! and the plan deployed: a new pipeline starts; a deployed one takes the
//! new plan as a hot reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::CacheArgs;
use super::client::{Client, Connection};
use crate::plan;
use crate::serve::wire::{Deploy, Deployed};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline's manifest (TOML).
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = args.cache.runtime()?;
    let bound = match plan::load(&args.manifest, &runtime) {
        Ok(bound) => bound,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = args.connection.client()?;
    let folder = std::path::absolute(args.manifest.parent().unwrap_or(Path::new(".")))?;
    let (plan, components) = bound.plan.portable(&folder)?;
    let uploaded = upload_missing(&client, &components)?;
    let name = plan.name.clone();
    let deployed: Deployed = client
        .post(
            "/v1/pipelines",
            &Deploy {
                plan: serde_json::to_value(&plan)?,
            },
        )
        .with_context(|| format!("the server refused pipeline `{name}`"))?;
    println!(
        "uploaded {} of {} components ({}); {} already on {}",
        uploaded.count,
        components.len(),
        indicatif::HumanBytes(uploaded.bytes),
        components.len() - uploaded.count,
        client.server()
    );
    let p = &deployed.pipeline;
    println!(
        "pipeline `{}` (tenant `{}`): version {}, {}",
        p.name, p.tenant, p.version, p.state
    );
    match (deployed.changes.is_empty(), deployed.reload) {
        _ if deployed.unchanged => println!("unchanged: the plan is the one deployed last"),
        (true, _) => {}
        (false, true) => println!(
            "hot reload at the next batch boundary: {}",
            deployed.changes.join("; ")
        ),
        (false, false) => println!("changed: {}", deployed.changes.join("; ")),
    }
    for note in &deployed.notes {
        println!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What was sent.
struct Uploaded {
    count: usize,
    bytes: u64,
}

/// Uploads each component the server does not have, with a progress bar.
fn upload_missing(client: &Client, components: &BTreeMap<String, PathBuf>) -> Result<Uploaded> {
    let mut missing = Vec::new();
    for (digest, file) in components {
        if !client.exists(&format!("/v1/components/{digest}"))? {
            let length = std::fs::metadata(file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            missing.push((digest, file, length));
        }
    }
    let total = missing.iter().map(|(_, _, length)| length).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "uploading {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("a valid template"),
    );
    for (digest, file, length) in &missing {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        bar.set_message(name.into_owned());
        let opened =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut reader = bar.wrap_read(opened);
        client
            .upload(&format!("/v1/components/{digest}"), *length, &mut reader)
            .with_context(|| format!("the server refused {}", file.display()))?;
    }
    bar.finish_and_clear();
    Ok(Uploaded {
        count: missing.len(),
        bytes: total,
    })
}
