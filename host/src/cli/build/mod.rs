//! `wasmstream build`: build the components a manifest's stages name,
//! each in its language (its `build` setting): Rust with a shell command
//! (cargo by default), Python with componentize-py ([`python`]),
//! JavaScript with componentize-js ([`js`]), C with clang and wit-bindgen
//! ([`c`]), each toolchain installed into the user's cache the first time
//! (or, where the system must provide it, named when it is missing).

mod c;
mod js;
mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::manifest::kinds::StageSettings;
use crate::manifest::{self, BuildSpec, Lang};

/// What builds a component when the stage does not say.
pub const DEFAULT_BUILD: &str = "cargo build --release --target wasm32-wasip2";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline manifest (TOML) whose stages to build.
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,
}

/// One stage's build, as its manifest entry asks.
struct Job<'a> {
    stage: &'a str,
    spec: &'a BuildSpec,
    /// Where the build runs.
    workdir: PathBuf,
    settings: &'a StageSettings,
    /// The component the stage loads (what a Python, JavaScript or C
    /// build writes).
    component: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let manifest = match manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let base = manifest
        .file
        .parent()
        .map(|p| p.to_owned())
        .unwrap_or_default();
    let mut built = 0;
    let mut commands: Vec<(&str, PathBuf)> = Vec::new();
    for stage in &manifest.stages {
        let Some(operator) = stage.settings.operator() else {
            continue;
        };
        let Some(spec) = operator.build else {
            continue;
        };
        let job = Job {
            stage: stage.id.get_ref(),
            spec,
            workdir: base.join(spec.workdir.as_deref().unwrap_or(".")),
            settings: &stage.settings,
            component: operator.component.map(|c| base.join(c.get_ref())),
        };
        match spec.lang.unwrap_or(Lang::Rust) {
            Lang::Rust => {
                let command = spec.command.as_deref().unwrap_or(DEFAULT_BUILD);
                // Stages built by one crate are built once.
                if !commands.contains(&(command, job.workdir.clone())) {
                    rust(&job, command)?;
                    commands.push((command, job.workdir));
                }
            }
            Lang::Python => python::build(&job)?,
            Lang::Js => js::build(&job)?,
            Lang::C => c::build(&job)?,
        }
        built += 1;
    }
    if built == 0 {
        eprintln!(
            "no stage in {} has a `build` setting; nothing to build",
            args.manifest.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a Rust stage's build command in its folder.
fn rust(job: &Job<'_>, command: &str) -> Result<()> {
    eprintln!(
        "building stage `{}`: {command} (in {})",
        job.stage,
        job.workdir.display()
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(&job.workdir)
        .status()
        .with_context(|| {
            format!(
                "stage `{}`: cannot run `{command}` in {}",
                job.stage,
                job.workdir.display()
            )
        })?;
    if !status.success() {
        bail!(
            "stage `{}`: `{command}` failed in {} ({status})",
            job.stage,
            job.workdir.display()
        );
    }
    Ok(())
}

/// The world a stage of this kind's component targets: the one exporting
/// its kind's interface (and `migrate` too, for an update-state operator
/// that `migrates`).
fn world(stage: &str, settings: &StageSettings, migrates: bool) -> Result<&'static str> {
    Ok(match settings {
        StageSettings::Map(_) => "map-operator",
        StageSettings::Filter(_) => "filter-operator",
        StageSettings::FlatMap(_) => "flat-map-operator",
        StageSettings::ReduceByKey(_) | StageSettings::ReduceByKeyAndWindow(_) => "reduce-operator",
        StageSettings::UpdateStateByKey(_) if migrates => "migrating-update-state-operator",
        StageSettings::UpdateStateByKey(_) => "update-state-operator",
        StageSettings::ProcessByKey(_) => "keyed-process-operator",
        StageSettings::Join(_) => "cogroup-operator",
        _ => bail!("stage `{stage}`: this kind runs no operator, so there is nothing to build"),
    })
}

/// Where toolchains are installed: `$WASMSTREAM_TOOLS`, else
/// `~/.cache/wasmstream/tools` (the Kafka broker for the tests lives there
/// too). Not under `$WASMSTREAM_CACHE`: a toolchain outlives any one
/// compile cache.
pub(crate) fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WASMSTREAM_TOOLS") {
        return dir.into();
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".cache"),
            None => std::env::temp_dir(),
        },
    };
    cache.join("wasmstream/tools")
}

/// The folder `tools/<name>-<version>` with a toolchain in it, installed
/// by `install` (given the empty folder) the first time. An install is
/// used only once it has finished (a marker file says so), so an
/// interrupted one starts again; two builds installing the same toolchain
/// at once (two `wasmstream build`s, or tests in parallel) take turns on
/// a lock file instead of undoing each other's work. `from` says where it
/// comes from, for the line the user sees while it installs.
pub(crate) fn installed(
    tools: &Path,
    name: &str,
    version: &str,
    from: &str,
    install: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(tools).with_context(|| format!("cannot create {}", tools.display()))?;
    let lock = tools.join(format!(".{name}.lock"));
    let _installing = std::fs::File::create(&lock)
        .and_then(|file| file.lock().map(|()| file))
        .with_context(|| format!("cannot lock {}", lock.display()))?;
    let dir = tools.join(format!("{name}-{version}"));
    let done = dir.join(".installed");
    if done.is_file() {
        return Ok(dir);
    }
    eprintln!(
        "installing {name} {version} from {from} into {} (once)",
        dir.display()
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the unfinished {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    install(&dir)?;
    std::fs::write(&done, version).with_context(|| format!("cannot write {}", done.display()))?;
    Ok(dir)
}

/// The contract, as this binary was built against it, for toolchains
/// that generate bindings from it.
pub(crate) const OPERATOR_WIT: &str = include_str!("../../../../wit/operator.wit");

/// Writes `files` (relative path, text) into a folder of `tools` named
/// `name-<hash of the files>`, once; returns the folder. Files are
/// written into a temporary folder first and moved into place, so a
/// folder that exists is whole.
pub(crate) fn unpack(tools: &Path, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (path, text) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    let hex: String = hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = tools.join(format!("{name}-{hex}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let tmp = tools.join(format!(".{name}-{hex}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        for (path, text) in files {
            let path = tmp.join(path);
            std::fs::create_dir_all(path.parent().expect("files are in a folder"))?;
            std::fs::write(path, text)?;
        }
        match std::fs::rename(&tmp, &dir) {
            // Another build put the same files there first.
            Err(_) if dir.is_dir() => std::fs::remove_dir_all(&tmp),
            other => other,
        }
    };
    write().with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(dir)
}
