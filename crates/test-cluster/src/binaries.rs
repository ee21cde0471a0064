//! Where the control-plane binaries and the shared reference files live, and
//! building the binaries once (through `scripts/test-apiserver.sh`) when absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

/// Overrides the bin dir the script would pick (binaries built elsewhere).
pub const BIN_DIR_ENV: &str = "APPMESH2ISTIO_K8S_BIN_DIR";

pub const CONTROL_PLANE_BINARIES: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kubectl",
];

pub fn workspace_root() -> PathBuf {
    // This crate sits at <root>/crates/test-cluster.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `../shared/` beside the workspace: CRDs and reference material, never copied
/// into the repository.
pub fn shared_dir() -> PathBuf {
    workspace_root().join("..").join("shared")
}

pub fn script_path() -> PathBuf {
    workspace_root().join("scripts").join("test-apiserver.sh")
}

/// Where the App Mesh "before" state lives: the repository's `examples/shop/`, which the
/// README's example and the demo use too.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop")
}

/// The bin dir, from the environment override or the script's cache layout.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let output = Command::new("bash")
        .arg(script_path())
        .arg("bin-dir")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} bin-dir", script_path().display()))?;
    if !output.status.success() {
        bail!("{} bin-dir failed", script_path().display());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    ))
}

pub fn missing_binaries(dir: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|name| !dir.join(name).is_file())
        .map(|name| (*name).to_owned())
        .collect()
}

/// Returns the bin dir with all four binaries, running `ensure` at most once
/// per process (the script itself serialises concurrent builds with flock).
pub fn ensure_control_plane() -> Result<PathBuf, String> {
    static ENSURED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ENSURED
        .get_or_init(|| {
            let dir = bin_dir().map_err(|error| format!("{error:#}"))?;
            if missing_binaries(&dir, &CONTROL_PLANE_BINARIES).is_empty() {
                return Ok(dir);
            }
            if std::env::var_os(BIN_DIR_ENV).is_some() {
                return Err(format!(
                    "{BIN_DIR_ENV}={} lacks {:?}",
                    dir.display(),
                    missing_binaries(&dir, &CONTROL_PLANE_BINARIES)
                ));
            }
            run_script("ensure")
        })
        .clone()
}

/// Returns the bin dir holding kubectl, fetching only kubectl if needed.
pub fn ensure_kubectl() -> Result<PathBuf, String> {
    let dir = bin_dir().map_err(|error| format!("{error:#}"))?;
    if dir.join("kubectl").is_file() {
        return Ok(dir);
    }
    run_script("ensure-kubectl")
}

fn run_script(subcommand: &str) -> Result<PathBuf, String> {
    let script = script_path();
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    eprintln!(
        "test-cluster: running {} {subcommand} (the first build takes about 5 minutes)",
        script.display()
    );
    let output = Command::new("bash")
        .arg(&script)
        .arg(subcommand)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {subcommand} failed with {}",
            script.display(),
            output.status
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let wanted: &[&str] = if subcommand == "ensure" {
        &CONTROL_PLANE_BINARIES
    } else {
        &["kubectl"]
    };
    let missing = missing_binaries(&dir, wanted);
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "{subcommand} finished but {} lacks {missing:?}",
            dir.display()
        ))
    }
}
