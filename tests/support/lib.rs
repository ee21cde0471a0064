//! Helpers shared by the cross-crate tests.

pub mod schema;

// ---- kubectl and the plugin binaries (plugin_*.rs, manifest_*.rs) ----

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root, the parent of this package's directory.
pub fn workspace_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests
        .parent()
        .map_or_else(|| tests.to_path_buf(), Path::to_path_buf)
}

/// Whether a missing prerequisite (kubectl, a cluster) must fail a test instead of
/// skipping it: in CI nothing may be skipped silently.
pub fn prerequisites_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("APPMESH2ISTIO_REQUIRE_CLUSTER").is_ok_and(|v| v == "1")
}

/// The kubectl the tests run: `$KUBECTL` if set, else the one
/// `scripts/test-apiserver.sh ensure-kubectl` provides (Debian's 1.20.2, cached), else
/// `kubectl` on PATH. Looked up once per test binary.
pub fn kubectl_binary() -> Option<PathBuf> {
    static KUBECTL: OnceLock<Option<PathBuf>> = OnceLock::new();
    KUBECTL.get_or_init(locate_kubectl).clone()
}

fn locate_kubectl() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECTL").filter(|k| !k.is_empty()) {
        return Some(PathBuf::from(k));
    }
    let script = workspace_root().join("scripts/test-apiserver.sh");
    if script.is_file() {
        match Command::new("bash")
            .arg(&script)
            .arg("ensure-kubectl")
            .output()
        {
            Ok(out) if out.status.success() => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let kubectl = stdout
                    .lines()
                    .rev()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(|dir| Path::new(dir).join("kubectl"));
                match kubectl {
                    Some(k) if k.is_file() => return Some(k),
                    _ => eprintln!("note: {} printed no bin dir with kubectl", script.display()),
                }
            }
            Ok(out) => eprintln!(
                "note: {} ensure-kubectl failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("note: cannot run {}: {e}", script.display()),
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|k| k.is_file())
}

/// kubectl for `test`, or `None` after a one-line notice so that the test can return
/// early. Panics instead when [`prerequisites_required`].
pub fn kubectl_or_skip(test: &str) -> Option<PathBuf> {
    let kubectl = kubectl_binary();
    if kubectl.is_none() {
        let msg = format!(
            "{test}: no kubectl ($KUBECTL, scripts/test-apiserver.sh ensure-kubectl, PATH)"
        );
        assert!(
            !prerequisites_required(),
            "{msg}; required because CI=true or APPMESH2ISTIO_REQUIRE_CLUSTER=1"
        );
        eprintln!("skipped {msg}");
    }
    kubectl
}

/// Every kubectl the plugin tests run under: [`kubectl_binary`] (Debian's 1.20, older than
/// every EKS version in support) and a current one (`scripts/test-apiserver.sh
/// ensure-current-kubectl`: Debian trixie's binary package, cached), so that the plugin
/// mechanics are checked on both ends. With `$KUBECTL` set, only that one. Empty after a
/// one-line notice when none is found; panics instead when [`prerequisites_required`], also
/// when only the current one is missing.
pub fn kubectls_or_skip(test: &str) -> Vec<PathBuf> {
    let Some(first) = kubectl_or_skip(test) else {
        return Vec::new();
    };
    if std::env::var_os("KUBECTL").is_some_and(|k| !k.is_empty()) {
        return vec![first];
    }
    match current_kubectl() {
        Some(current) => vec![first, current],
        None => {
            let msg = format!(
                "{test}: no current kubectl (scripts/test-apiserver.sh ensure-current-kubectl)"
            );
            assert!(
                !prerequisites_required(),
                "{msg}; required because CI=true or APPMESH2ISTIO_REQUIRE_CLUSTER=1"
            );
            eprintln!("only kubectl 1.20 checked: {msg}");
            vec![first]
        }
    }
}

fn current_kubectl() -> Option<PathBuf> {
    static CURRENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CURRENT
        .get_or_init(|| {
            let script = workspace_root().join("scripts/test-apiserver.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("ensure-current-kubectl")
                .output()
                .ok()?;
            if !out.status.success() {
                eprintln!(
                    "note: {} ensure-current-kubectl failed ({}): {}",
                    script.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None;
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let dir = stdout
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())?;
            Some(Path::new(dir).join("kubectl")).filter(|k| k.is_file())
        })
        .clone()
}

/// Builds every workspace binary once per test binary (debug profile, through the same
/// cargo that runs the tests) and returns the `kubectl-appmesh2istio*` executables by
/// file stem.
pub fn plugin_binaries() -> &'static BTreeMap<String, PathBuf> {
    static BINARIES: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BINARIES.get_or_init(build_plugin_binaries)
}

fn build_plugin_binaries() -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // cargo gives a test the variables of its package (CARGO_MANIFEST_DIR, CARGO_PKG_NAME,
    // ...). Build scripts such as ring's rerun when those differ, so passing them on would
    // rebuild half the dependency tree on every test run, and again on the next build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || [
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref())
        {
            build.env_remove(key.as_ref());
        }
    }
    // cargo reports where it put each executable, whatever CARGO_TARGET_DIR says.
    let out = build
        .current_dir(workspace_root())
        .args([
            "build",
            "--workspace",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        out.status.success(),
        "cargo build --workspace --bins failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut binaries = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(exe) = message.get("executable").and_then(|e| e.as_str()) else {
            continue;
        };
        let exe = PathBuf::from(exe);
        if let Some(stem) = exe.file_stem().and_then(|s| s.to_str())
            && stem.starts_with("kubectl-appmesh2istio")
        {
            binaries.insert(stem.to_owned(), exe);
        }
    }
    assert!(
        binaries.contains_key("kubectl-appmesh2istio"),
        "cargo built no kubectl-appmesh2istio: {binaries:?}"
    );
    binaries
}

/// Runs `scripts/package.sh archive` on [`plugin_binaries`] with `out` as output
/// directory and returns the archive it wrote; `out/appmesh2istio.yaml` is its manifest.
pub fn package_archive(out: &Path) -> PathBuf {
    let binaries = plugin_binaries();
    let dirs: std::collections::BTreeSet<_> =
        binaries.values().filter_map(|p| p.parent()).collect();
    let [bin_dir] = dirs.into_iter().collect::<Vec<_>>()[..] else {
        panic!("the plugin binaries are not in one directory: {binaries:?}");
    };
    // A fresh directory, so that an archive left by an earlier run cannot be picked up.
    if out.exists() {
        std::fs::remove_dir_all(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    }
    let run = Command::new("bash")
        .arg(workspace_root().join("scripts/package.sh"))
        .arg("archive")
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/package.sh: {e}"));
    assert!(
        run.status.success(),
        "scripts/package.sh archive failed ({}):\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let archives: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    let [archive] = &archives[..] else {
        panic!("expected one archive in {}: {archives:?}", out.display());
    };
    archive.clone()
}
