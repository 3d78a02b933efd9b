//! JavaScript operators: a folder's `app.js`, built with componentize-js
//! (from npm, installed into the tools cache the first time) against the
//! contract into the stage's component, with the JavaScript SDK
//! (`guest-sdk/js`, carried in this binary) beside it.
//!
//! componentize-js resolves relative imports only, so the build stages
//! the folder's modules and the SDK's (`wasmstream.js`, `unicode.js`) in
//! one folder, and the app imports `./wasmstream.js`; the SDK staged is
//! always this binary's, whatever copy the folder keeps for local tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::{Job, OPERATOR_WIT, installed, tools_dir, unpack, world};

/// The componentize-js release builds are made with, from npm.
const COMPONENTIZE_JS: &str = "0.23.0";

/// The JavaScript SDK's files.
const SDK: &[(&str, &str)] = &[
    (
        "unicode.js",
        include_str!("../../../../guest-sdk/js/unicode.js"),
    ),
    (
        "wasmstream.js",
        include_str!("../../../../guest-sdk/js/wasmstream.js"),
    ),
];

/// Runs componentize-js on a staged app: `node build.mjs APP WIT WORLD OUT`.
const BUILD_SCRIPT: &str = r#"import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";
const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
const { component } = await componentize({ sourcePath, witPath, worldName });
await writeFile(out, component);
"#;

/// Builds `job`'s `app.js` into its stage's component.
pub(super) fn build(job: &Job<'_>) -> Result<()> {
    let stage = job.stage;
    if job.spec.command.is_some() {
        bail!(
            "stage `{stage}`: `build.command` is for Rust builds; a JavaScript build (`lang = \"js\"`) runs componentize-js itself"
        );
    }
    let component = job.component.as_deref().ok_or_else(|| {
        anyhow!(
            "stage `{stage}`: a JavaScript build writes the stage's `component`, and it names none"
        )
    })?;
    let app = job.workdir.join("app.js");
    if !app.is_file() {
        bail!(
            "stage `{stage}`: no app.js in {}; a JavaScript operator is the module app.js",
            job.workdir.display()
        );
    }
    let source = std::fs::read_to_string(&app)
        .with_context(|| format!("stage `{stage}`: cannot read {}", app.display()))?;
    let migrates = source.contains("export const migrate ");
    let world = world(stage, job.settings, migrates)?;
    let tools = tools_dir();
    let installed = install(&tools)?;
    let wit = unpack(&tools, "wit", &[("operator.wit", OPERATOR_WIT)])?;
    let staged = stage_app(&tools, &job.workdir)
        .with_context(|| format!("stage `{stage}`: cannot stage {}", job.workdir.display()))?;
    if let Some(folder) = component.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("stage `{stage}`: cannot create {}", folder.display()))?;
    }
    eprintln!(
        "building stage `{stage}`: componentize-js ({world}) {} -> {}",
        app.display(),
        component.display()
    );
    let status = Command::new("node")
        .arg(installed.join("build.mjs"))
        .arg(staged.join("app.js"))
        .arg(wit.join("operator.wit"))
        .arg(world)
        .arg(std::path::absolute(component)?)
        .status()
        .with_context(|| format!("stage `{stage}`: cannot run node"));
    let _ = std::fs::remove_dir_all(&staged);
    let status = status?;
    if !status.success() {
        bail!(
            "stage `{stage}`: componentize-js could not build {} ({status}; its message is above)",
            app.display()
        );
    }
    Ok(())
}

/// The app folder's modules and the SDK's, in a fresh folder of `tools`.
fn stage_app(tools: &Path, workdir: &Path) -> std::io::Result<PathBuf> {
    let staged = tools.join(format!(".js-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staged);
    std::fs::create_dir_all(&staged)?;
    for entry in std::fs::read_dir(workdir)? {
        let path = entry?.path();
        let module = path
            .extension()
            .is_some_and(|e| e == "js" || e == "mjs" || e == "json");
        if module && path.is_file() {
            std::fs::copy(&path, staged.join(path.file_name().expect("a file")))?;
        }
    }
    for (name, text) in SDK {
        std::fs::write(staged.join(name), text)?;
    }
    Ok(staged)
}

/// componentize-js with its build script, installed with npm into
/// `tools` the first time (npm shows its progress).
fn install(tools: &Path) -> Result<PathBuf> {
    installed(tools, "componentize-js", COMPONENTIZE_JS, "npm", |dir| {
        std::fs::write(
            dir.join("package.json"),
            r#"{ "private": true, "type": "module" }"#,
        )?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .arg(format!(
                "@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
            ))
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => bail!(
                "could not install componentize-js {COMPONENTIZE_JS} from npm ({status}; npm's message is above); JavaScript operators need it"
            ),
            Err(e) => bail!(
                "building JavaScript operators needs Node.js 20 or later with npm (node and npm on the PATH) to install componentize-js: {e}"
            ),
        }
        std::fs::write(dir.join("build.mjs"), BUILD_SCRIPT)?;
        Ok(())
    })
}
