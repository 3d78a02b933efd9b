//! Python operators: a folder's `app.py`, built with componentize-py
//! against the contract into the stage's component, with the Python SDK
//! (`guest-sdk/python`, carried in this binary so that it always matches
//! the contract) on its path.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::{Job, OPERATOR_WIT, installed, tools_dir, unpack, world};

/// The componentize-py release builds are made with, from PyPI.
const COMPONENTIZE_PY: &str = "0.25.1";

/// The Python SDK's files.
const SDK: &[(&str, &str)] = &[
    sdk_file!("__init__.py"),
    sdk_file!("batch.py"),
    sdk_file!("component.py"),
    sdk_file!("conformance.py"),
    sdk_file!("errors.py"),
    sdk_file!("json.py"),
    sdk_file!("kinds.py"),
    sdk_file!("params.py"),
    sdk_file!("record.py"),
    sdk_file!("text.py"),
];

macro_rules! sdk_file {
    ($name:literal) => {
        (
            concat!("wasmstream/", $name),
            include_str!(concat!("../../../../guest-sdk/python/wasmstream/", $name)),
        )
    };
}
use sdk_file;

/// Builds `job`'s `app.py` into its stage's component.
pub(super) fn build(job: &Job<'_>) -> Result<()> {
    let stage = job.stage;
    if job.spec.command.is_some() {
        bail!(
            "stage `{stage}`: `build.command` is for Rust builds; a Python build (`lang = \"python\"`) runs componentize-py itself"
        );
    }
    let component = job.component.as_deref().ok_or_else(|| {
        anyhow!("stage `{stage}`: a Python build writes the stage's `component`, and it names none")
    })?;
    let app = job.workdir.join("app.py");
    if !app.is_file() {
        bail!(
            "stage `{stage}`: no app.py in {}; a Python operator is the module app.py",
            job.workdir.display()
        );
    }
    let source = std::fs::read_to_string(&app)
        .with_context(|| format!("stage `{stage}`: cannot read {}", app.display()))?;
    let migrates = source
        .lines()
        .any(|l| l.starts_with("Migrate ") || l.starts_with("Migrate="));
    let world = world(stage, job.settings, migrates)?;
    let tools = tools_dir();
    let componentize = install(&tools)?;
    let sdk = unpack(&tools, "python-sdk", SDK)?;
    let wit = unpack(&tools, "wit", &[("operator.wit", OPERATOR_WIT)])?;
    if let Some(folder) = component.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("stage `{stage}`: cannot create {}", folder.display()))?;
    }
    eprintln!(
        "building stage `{stage}`: componentize-py ({world}) {} -> {}",
        app.display(),
        component.display()
    );
    let status = Command::new(&componentize)
        .arg("-d")
        .arg(&wit)
        .args(["-w", world, "componentize", "app", "-p", "."])
        .arg("-p")
        .arg(&sdk)
        .arg("-o")
        .arg(std::path::absolute(component)?)
        .current_dir(&job.workdir)
        .status()
        .with_context(|| format!("stage `{stage}`: cannot run {}", componentize.display()))?;
    if !status.success() {
        bail!(
            "stage `{stage}`: componentize-py could not build {} ({status}; its message is above)",
            app.display()
        );
    }
    Ok(())
}

/// componentize-py, installed into a virtual environment under `tools`
/// the first time (pip shows its progress).
fn install(tools: &Path) -> Result<PathBuf> {
    let venv = installed(tools, "componentize-py", COMPONENTIZE_PY, "PyPI", |venv| {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status();
        match made {
            Ok(status) if status.success() => {}
            Ok(status) => bail!(
                "building Python operators needs Python 3 with its venv module to install componentize-py, and `python3 -m venv` failed ({status}); on Debian: apt install python3-venv"
            ),
            Err(e) => bail!(
                "building Python operators needs Python 3 (python3 on the PATH) to install componentize-py: {e}"
            ),
        }
        let status = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "on",
            ])
            .arg(format!("componentize-py=={COMPONENTIZE_PY}"))
            .status()
            .context("cannot run pip")?;
        if !status.success() {
            bail!(
                "could not install componentize-py {COMPONENTIZE_PY} from PyPI ({status}; pip's message is above); Python operators need it"
            );
        }
        Ok(())
    })?;
    Ok(venv.join("bin/componentize-py"))
}
