//! C operators: the `.c` files of a folder (one of them using the C SDK,
//! `guest-sdk/c/wasmstream.h`, carried in this binary), compiled with
//! clang for WASI against bindings wit-bindgen generates for the stage's
//! world, then made a component with the WASI adapter.
//!
//! clang, its WebAssembly runtime and wasi-libc come from the system's
//! packages (Debian's, named in the message when one is missing);
//! wit-bindgen and wasm-tools are installed from crates.io into the tools
//! folder the first time; the adapter is carried in this binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::{Job, OPERATOR_WIT, installed, tools_dir, unpack, world};
use crate::manifest::kinds::StageSettings;

/// The wit-bindgen that writes the bindings, from crates.io (the SDK's
/// Makefile names the same one).
pub(crate) const WIT_BINDGEN: &str = "0.63.0";
/// The wasm-tools that makes the component, from crates.io.
const WASM_TOOLS: &str = "1.263.0";

/// The system's parts a C build needs: (what, where it is looked for,
/// Debian's package).
const SYSTEM: &[(&str, &str, &str)] = &[
    ("clang 19", "/usr/bin/clang-19", "clang-19"),
    ("the WebAssembly linker", "/usr/bin/wasm-ld-19", "lld-19"),
    (
        "clang's WebAssembly runtime",
        "/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a",
        "libclang-rt-19-dev-wasm32",
    ),
    ("wasi-libc", "/usr/lib/wasm32-wasi/libc.a", "wasi-libc"),
];

/// The C SDK's files.
const SDK: &[(&str, &str)] = &[
    (
        "wasmstream.h",
        include_str!("../../../../guest-sdk/c/wasmstream.h"),
    ),
    (
        "wasmstream_unicode.h",
        include_str!("../../../../guest-sdk/c/wasmstream_unicode.h"),
    ),
];

/// Builds the `.c` files of `job`'s folder into its stage's component.
pub(super) fn build(job: &Job<'_>) -> Result<()> {
    let stage = job.stage;
    if job.spec.command.is_some() {
        bail!(
            "stage `{stage}`: `build.command` is for Rust builds; a C build (`lang = \"c\"`) runs clang itself"
        );
    }
    let component = job.component.as_deref().ok_or_else(|| {
        anyhow!("stage `{stage}`: a C build writes the stage's `component`, and it names none")
    })?;
    let sources = sources(&job.workdir)
        .with_context(|| format!("stage `{stage}`: cannot read {}", job.workdir.display()))?;
    if sources.is_empty() {
        bail!(
            "stage `{stage}`: no .c file in {}; a C operator is the .c files of its folder",
            job.workdir.display()
        );
    }
    let mut migrates = false;
    for source in &sources {
        let text = std::fs::read_to_string(source)
            .with_context(|| format!("stage `{stage}`: cannot read {}", source.display()))?;
        migrates |= text.contains("\nWASMSTREAM_MIGRATE(");
    }
    let world = world(stage, job.settings, migrates)?;
    if let Some(missing) = missing(SYSTEM) {
        bail!("stage `{stage}`: {missing}");
    }
    let tools = tools_dir();
    let wit_bindgen = cargo_install(&tools, "wit-bindgen", WIT_BINDGEN, "wit-bindgen-cli", &[])?
        .join("bin/wit-bindgen");
    let wasm_tools = cargo_install(
        &tools,
        "wasm-tools",
        WASM_TOOLS,
        "wasm-tools",
        &["--no-default-features", "--features", "component"],
    )?
    .join("bin/wasm-tools");
    let sdk = unpack(&tools, "c-sdk", SDK)?;
    let wit = unpack(&tools, "wit", &[("operator.wit", OPERATOR_WIT)])?;
    let adapter = adapter(&tools)?;

    let scratch = tools.join(format!(".c-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let built = (|| {
        // Quiet unless it fails: it names each file it writes.
        let bindings = Command::new(&wit_bindgen)
            .arg("c")
            .arg(&wit)
            .args(["--world", world, "--out-dir"])
            .arg(&scratch)
            .output()
            .with_context(|| format!("stage `{stage}`: cannot run {}", wit_bindgen.display()))?;
        if !bindings.status.success() {
            bail!(
                "stage `{stage}`: wit-bindgen failed ({}): {}",
                bindings.status,
                String::from_utf8_lossy(&bindings.stderr)
            );
        }
        let core = scratch.join("core.wasm");
        let bindings = world.replace('-', "_");
        eprintln!(
            "building stage `{stage}`: clang ({world}) {} -> {}",
            job.workdir.display(),
            component.display()
        );
        run(
            stage,
            "clang",
            Command::new(SYSTEM[0].1)
                .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2"])
                .args(["-Wall", "-Wno-unused-function"])
                .arg(format!("-DWS_WORLD={bindings}"))
                .arg(format!("-DWS_KIND={}", kind_macro(job.settings)))
                .arg(format!("-DWS_WORLD_HEADER=\"{bindings}.h\""))
                .arg("-I")
                .arg(&scratch)
                .arg("-I")
                .arg(&sdk)
                .args(&sources)
                .arg(scratch.join(format!("{bindings}.c")))
                .arg(scratch.join(format!("{bindings}_component_type.o")))
                .args(["-Wl,--strip-all", "-o"])
                .arg(&core)
                .current_dir(&job.workdir),
        )?;
        if let Some(folder) = component.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("stage `{stage}`: cannot create {}", folder.display()))?;
        }
        run(
            stage,
            "wasm-tools component new",
            Command::new(&wasm_tools)
                .args(["component", "new"])
                .arg(&core)
                .arg("--adapt")
                .arg(format!("wasi_snapshot_preview1={}", adapter.display()))
                .arg("-o")
                .arg(component),
        )
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    built
}

/// What of the system's `parts` is missing, and how to install it.
fn missing(parts: &[(&str, &str, &str)]) -> Option<String> {
    let missing: Vec<_> = parts
        .iter()
        .filter(|(_, path, _)| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let what: Vec<_> = missing.iter().map(|(what, _, _)| *what).collect();
    let packages: Vec<_> = missing.iter().map(|(_, _, package)| *package).collect();
    Some(format!(
        "building C operators needs {}, not found here; on Debian or Ubuntu: apt install {}",
        what.join(", "),
        packages.join(" ")
    ))
}

/// The `.c` files of `dir`, in name order.
fn sources(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "c") && path.is_file() {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}

/// The SDK's name for the stage's kind (`WS_KIND`).
fn kind_macro(settings: &StageSettings) -> &'static str {
    match settings {
        StageSettings::Map(_) => "WS_MAP",
        StageSettings::Filter(_) => "WS_FILTER",
        StageSettings::FlatMap(_) => "WS_FLAT_MAP",
        StageSettings::UpdateStateByKey(_) => "WS_UPDATE_STATE",
        StageSettings::Join(_) => "WS_COGROUP",
        StageSettings::ProcessByKey(_) => "WS_KEYED_PROCESS",
        // reduce_by_key and its window; `world` refused the other kinds.
        _ => "WS_REDUCE",
    }
}

/// Runs one step of the build; its own message is above when it fails.
fn run(stage: &str, what: &str, command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("stage `{stage}`: cannot run {what}"))?;
    if !status.success() {
        bail!("stage `{stage}`: {what} failed ({status}; its message is above)");
    }
    Ok(())
}

/// A tool from crates.io, installed with `cargo install` into `tools` the
/// first time (cargo shows its progress).
fn cargo_install(
    tools: &Path,
    name: &str,
    version: &str,
    krate: &str,
    features: &[&str],
) -> Result<PathBuf> {
    installed(tools, name, version, "crates.io", |dir| {
        let status = Command::new("cargo")
            .args(["install", "--locked", "--root"])
            .arg(dir)
            .args(features)
            .arg(format!("{krate}@{version}"))
            .status();
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => bail!(
                "could not install {krate} {version} from crates.io ({status}; cargo's message is above); C operators need it"
            ),
            Err(e) => bail!(
                "building C operators needs cargo (rustup's toolchain) to install {krate}: {e}"
            ),
        }
    })
}

/// The WASI preview 1 adapter (wasi-libc's imports in terms of WASI
/// preview 2, which the host links), written into `tools` once, named by
/// its hash.
fn adapter(tools: &Path) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER as ADAPTER;
    let hex: String = Sha256::digest(ADAPTER)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = tools.join(format!("wasi-adapter-{hex}.wasm"));
    if !path.is_file() {
        let tmp = tools.join(format!(".wasi-adapter.{}", std::process::id()));
        std::fs::write(&tmp, ADAPTER)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    /// A machine without a part says which, and the package to install.
    #[test]
    fn a_missing_part_is_named_with_its_package() {
        let parts = [
            ("clang 19", "/", "clang-19"),
            ("wasi-libc", "/nowhere/wasm32-wasi/libc.a", "wasi-libc"),
            ("the WebAssembly linker", "/nowhere/wasm-ld-19", "lld-19"),
        ];
        assert_eq!(
            super::missing(&parts).as_deref(),
            Some(
                "building C operators needs wasi-libc, the WebAssembly linker, not found here; on Debian or Ubuntu: apt install wasi-libc lld-19"
            )
        );
        assert_eq!(super::missing(&parts[..1]), None);
    }

    /// The C SDK's own tests install the same wit-bindgen.
    #[test]
    fn the_sdk_makefile_pins_the_same_wit_bindgen() {
        let makefile = include_str!("../../../../guest-sdk/c/Makefile");
        assert!(
            makefile.contains(&format!("WIT_BINDGEN_VERSION = {}\n", super::WIT_BINDGEN)),
            "guest-sdk/c/Makefile names another wit-bindgen than {}",
            super::WIT_BINDGEN
        );
    }
}
