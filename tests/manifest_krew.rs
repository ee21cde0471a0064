//! The krew manifest against krew's own rules (a port of `validate-krew-manifest`'s
//! structural and platform checks, which krew-index CI runs on every submission) and
//! against the archive `scripts/package.sh` builds here: sha256, bin and LICENSE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use appmesh2istio_tests::{package_archive, plugin_binaries, workspace_root};
use serde_json::{Value, json};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";

/// krew's `allPlatforms()`: the (os, arch) pairs a selector may match.
const SUPPORTED: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// A YAML scalar as the string krew's Go loader makes of it (`arch: 386` is an int in YAML).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn unknown_keys(v: &Value, allowed: &[&str], at: &str, errors: &mut Vec<String>) {
    if let Some(map) = v.as_object() {
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            errors.push(format!("{at}: unknown field '{key}'"));
        }
    }
}

fn is_semver_with_v(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn selector_matches(selector: &Value, os: &str, arch: &str) -> bool {
    let label = |key: &str| match key {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| scalar(v).as_deref() == label(k)));
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let value = e["key"].as_str().and_then(label);
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|vs| vs.iter().filter_map(scalar).collect())
                    .unwrap_or_default();
                let listed = value.is_some_and(|v| values.iter().any(|x| x == v));
                match e["operator"].as_str() {
                    Some("In") => listed,
                    Some("NotIn") => !listed,
                    Some("Exists") => value.is_some(),
                    Some("DoesNotExist") => value.is_none(),
                    _ => false,
                }
            })
        });
    labels_ok && expressions_ok
}

fn validate_selector(selector: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(map) = selector.as_object().filter(|m| !m.is_empty()) else {
        errors.push(format!("{at}.selector: missing or empty"));
        return;
    };
    unknown_keys(
        selector,
        &["matchLabels", "matchExpressions"],
        &format!("{at}.selector"),
        errors,
    );
    if let Some(labels) = map.get("matchLabels") {
        match labels.as_object() {
            Some(m) if !m.is_empty() => {
                for key in m.keys().filter(|k| *k != "os" && *k != "arch") {
                    errors.push(format!(
                        "{at}.selector: selector key '{key}' is not os or arch"
                    ));
                }
            }
            _ => errors.push(format!("{at}.selector.matchLabels: present but empty")),
        }
    }
    if let Some(exprs) = map.get("matchExpressions") {
        match exprs.as_array() {
            Some(list) if !list.is_empty() => {
                for e in list {
                    if !matches!(e["key"].as_str(), Some("os" | "arch")) {
                        errors.push(format!(
                            "{at}.selector: selector key {} is not os or arch",
                            e["key"]
                        ));
                    }
                    if !matches!(
                        e["operator"].as_str(),
                        Some("In" | "NotIn" | "Exists" | "DoesNotExist")
                    ) {
                        errors.push(format!("{at}.selector: bad operator {}", e["operator"]));
                    }
                }
            }
            _ => errors.push(format!("{at}.selector.matchExpressions: present but empty")),
        }
    }
}

/// Every rule broken by `manifest`, read from a file named `file_name`; empty when valid.
fn validate(file_name: &str, m: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(stem) = file_name.strip_suffix(".yaml") else {
        return vec![format!("{file_name}: a manifest file must end in .yaml")];
    };
    unknown_keys(
        m,
        &["apiVersion", "kind", "metadata", "spec"],
        "manifest",
        &mut errors,
    );
    if m["apiVersion"] != API_VERSION {
        errors.push(format!(
            "apiVersion {} is not {API_VERSION}",
            m["apiVersion"]
        ));
    }
    if m["kind"] != "Plugin" {
        errors.push(format!("kind {} is not Plugin", m["kind"]));
    }
    let name = m["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        errors.push(format!("metadata.name '{name}' is not a safe plugin name"));
    }
    let reserved = ["con", "prn", "aux", "nul"];
    let lower = name.to_ascii_lowercase();
    if reserved.contains(&lower.as_str())
        || ((lower.starts_with("com") || lower.starts_with("lpt"))
            && lower.len() == 4
            && lower.as_bytes()[3].is_ascii_digit())
    {
        errors.push(format!("metadata.name '{name}' is a reserved Windows name"));
    }
    if name != stem {
        errors.push(format!(
            "metadata.name '{name}' does not match file name {file_name}"
        ));
    }

    let spec = &m["spec"];
    unknown_keys(
        spec,
        &[
            "version",
            "homepage",
            "shortDescription",
            "description",
            "caveats",
            "platforms",
        ],
        "spec",
        &mut errors,
    );
    let version = spec["version"].as_str().unwrap_or_default();
    if !is_semver_with_v(version) {
        errors.push(format!(
            "spec.version '{version}' is not semver with a leading v"
        ));
    }
    match spec["shortDescription"].as_str() {
        Some(s) if !s.trim().is_empty() && !s.contains(['\r', '\n']) => {}
        _ => errors.push("spec.shortDescription must be present and a single line".into()),
    }
    // Not checked by the validator but required by krew-index review (plugin-manifest.md).
    if spec["description"]
        .as_str()
        .is_none_or(|d| d.trim().is_empty())
    {
        errors.push("spec.description is missing".into());
    }
    if let Some(home) = spec.get("homepage")
        && !home.as_str().is_some_and(|h| h.starts_with("https://"))
    {
        errors.push(format!("spec.homepage {home} is not an https URL"));
    }

    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    if platforms.is_empty() {
        errors.push("spec.platforms: at least one platform is required".into());
    }
    let mut claimed: Vec<Option<usize>> = vec![None; SUPPORTED.len()];
    for (i, p) in platforms.iter().enumerate() {
        let at = format!("spec.platforms[{i}]");
        unknown_keys(
            p,
            &["selector", "uri", "sha256", "files", "bin"],
            &at,
            &mut errors,
        );
        let uri = p["uri"].as_str().unwrap_or_default();
        if !uri.starts_with("https://") || !(uri.ends_with(".tar.gz") || uri.ends_with(".zip")) {
            errors.push(format!("{at}.uri '{uri}' is not an https .tar.gz or .zip"));
        }
        let sha = p["sha256"].as_str().unwrap_or_default();
        if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            errors.push(format!(
                "{at}.sha256 '{sha}' is not 64 lowercase hex digits"
            ));
        }
        let bin = p["bin"].as_str().unwrap_or_default();
        if bin.is_empty() {
            errors.push(format!("{at}.bin is missing"));
        }
        if let Some(files) = p.get("files") {
            match files.as_array() {
                Some(list) if !list.is_empty() => {
                    for f in list {
                        if f["from"].as_str().is_none_or(str::is_empty)
                            || f["to"].as_str().is_none_or(str::is_empty)
                        {
                            errors.push(format!("{at}.files: every entry needs from and to"));
                        }
                    }
                }
                _ => errors.push(format!("{at}.files: present but empty")),
            }
        }
        validate_selector(&p["selector"], &at, &mut errors);
        let mut matched = false;
        for (slot, (os, arch)) in claimed.iter_mut().zip(SUPPORTED) {
            if !selector_matches(&p["selector"], os, arch) {
                continue;
            }
            matched = true;
            if os == "windows" && !bin.ends_with(".exe") {
                errors.push(format!("{at}.bin '{bin}' for windows must end in .exe"));
            }
            match slot {
                Some(first) => errors.push(format!(
                    "spec.platforms[{first}] and [{i}] overlap: both match {os}/{arch}"
                )),
                None => *slot = Some(i),
            }
        }
        if !matched {
            errors.push(format!("{at}.selector matches no supported platform"));
        }
    }
    errors
}

fn read_manifest(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn host_platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (os, arch)
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[test]
fn packaged_manifest_is_valid_and_matches_the_archive_built_here() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let archive = package_archive(&dist);
    let manifest = read_manifest(&dist.join("appmesh2istio.yaml"));
    assert_eq!(
        validate("appmesh2istio.yaml", &manifest),
        Vec::<String>::new()
    );
    assert_eq!(manifest["spec"]["version"], format!("v{VERSION}"));

    // Only this machine's archive was built, so exactly its platform is listed.
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1, "{manifest:#}");
    let platform = &platforms[0];
    let (os, arch) = host_platform();
    assert!(
        selector_matches(&platform["selector"], os, arch),
        "{platform:#}"
    );
    let archive_name = archive.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        archive_name,
        format!("kubectl-appmesh2istio-v{VERSION}-{os}-{arch}.tar.gz")
    );
    let uri = platform["uri"].as_str().unwrap();
    assert!(
        uri.ends_with(&format!("/releases/download/v{VERSION}/{archive_name}")),
        "{uri}"
    );
    assert_eq!(platform["sha256"], sha256(&archive));

    // Unpack as krew does (default `files`: everything into the install dir).
    let installed = tmp.path().join("installed");
    std::fs::create_dir(&installed).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&installed)
        .status()
        .unwrap();
    assert!(untar.success());
    let files: BTreeSet<String> = std::fs::read_dir(&installed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = plugin_binaries().keys().cloned().collect();
    expected.extend([
        "LICENSE".to_owned(),
        "kubectl_complete-appmesh2istio".to_owned(),
    ]);
    assert_eq!(files, expected);

    let bin = platform["bin"].as_str().unwrap();
    assert_eq!(bin, "kubectl-appmesh2istio");
    for name in plugin_binaries()
        .keys()
        .map(String::as_str)
        .chain([bin, "kubectl_complete-appmesh2istio"])
    {
        let mode = std::fs::metadata(installed.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{name} is not executable: {mode:o}");
    }
    // validate-krew-manifest wants a LICENSE-like file in the installed tree.
    assert_eq!(
        std::fs::read(installed.join("LICENSE")).unwrap(),
        std::fs::read(workspace_root().join("LICENSE")).unwrap()
    );

    // The committed manifest is this one, generated from the same template: only the
    // platform list (which archives exist, their sha256) may differ.
    let committed = read_manifest(&workspace_root().join("krew/appmesh2istio.yaml"));
    let without_platforms = |m: &Value| {
        let mut m = m.clone();
        m["spec"].as_object_mut().unwrap().remove("platforms");
        m
    };
    assert_eq!(
        without_platforms(&committed),
        without_platforms(&manifest),
        "krew/appmesh2istio.yaml is out of date: run scripts/package.sh and copy dist/appmesh2istio.yaml"
    );
    let committed_host = committed["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| selector_matches(&p["selector"], os, arch))
        .unwrap_or_else(|| panic!("krew/appmesh2istio.yaml has no {os}/{arch} platform"));
    assert_eq!(committed_host["uri"], platform["uri"]);
    assert_eq!(committed_host["bin"], platform["bin"]);
}

#[test]
fn committed_manifest_is_valid() {
    let path = workspace_root().join("krew/appmesh2istio.yaml");
    let manifest = read_manifest(&path);
    assert_eq!(
        validate("appmesh2istio.yaml", &manifest),
        Vec::<String>::new()
    );
    assert_eq!(manifest["spec"]["version"], format!("v{VERSION}"));
    let caveats = manifest["spec"]["caveats"].as_str().unwrap();
    assert!(
        caveats.contains("kubectl appmesh2istio precheck -n NAMESPACE"),
        "{caveats}"
    );
}

#[test]
fn validator_accepts_the_krew_index_examples() {
    let dir = workspace_root().join("../shared/krew-examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "skipped validator_accepts_the_krew_index_examples: no {}",
            dir.display()
        );
        return;
    };
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            validate(&name, &read_manifest(&path)),
            Vec::<String>::new(),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} examples in {}", dir.display());
}

#[test]
fn validator_rejects_what_krew_rejects() {
    let base = read_manifest(&workspace_root().join("krew/appmesh2istio.yaml"));
    let linux_amd64 = base["spec"]["platforms"][0].clone();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "name",
            Box::new(|m| m["metadata"]["name"] = json!("other")),
            "does not match file name",
        ),
        (
            "unsafe name",
            Box::new(|m| m["metadata"]["name"] = json!("a/b")),
            "not a safe plugin name",
        ),
        (
            "api",
            Box::new(|m| m["apiVersion"] = json!("krew.googlecontainertools.github.com/v1alpha1")),
            "apiVersion",
        ),
        ("kind", Box::new(|m| m["kind"] = json!("Plugins")), "kind"),
        (
            "typo",
            Box::new(|m| m["spec"]["shortdescription"] = json!("x")),
            "unknown field 'shortdescription'",
        ),
        (
            "version",
            Box::new(|m| m["spec"]["version"] = json!("0.1.0")),
            "spec.version",
        ),
        (
            "version zeros",
            Box::new(|m| m["spec"]["version"] = json!("v01.0.0")),
            "spec.version",
        ),
        (
            "short",
            Box::new(|m| m["spec"]["shortDescription"] = json!("two\nlines")),
            "single line",
        ),
        (
            "no short",
            Box::new(|m| {
                m["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("shortDescription");
            }),
            "single line",
        ),
        (
            "no platforms",
            Box::new(|m| m["spec"]["platforms"] = json!([])),
            "at least one platform",
        ),
        (
            "sha",
            Box::new(|m| m["spec"]["platforms"][0]["sha256"] = json!("ABC")),
            "sha256",
        ),
        (
            "uri",
            Box::new(|m| m["spec"]["platforms"][0]["uri"] = json!("https://x/y.rar")),
            "uri",
        ),
        (
            "bin",
            Box::new(|m| {
                m["spec"]["platforms"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("bin");
            }),
            "bin is missing",
        ),
        (
            "files",
            Box::new(|m| m["spec"]["platforms"][0]["files"] = json!([])),
            "files: present but empty",
        ),
        (
            "files entry",
            Box::new(|m| m["spec"]["platforms"][0]["files"] = json!([{"from": "*"}])),
            "needs from and to",
        ),
        (
            "empty selector",
            Box::new(|m| m["spec"]["platforms"][0]["selector"] = json!({})),
            "selector: missing or empty",
        ),
        (
            "empty labels",
            Box::new(|m| m["spec"]["platforms"][0]["selector"] = json!({"matchLabels": {}})),
            "present but empty",
        ),
        (
            "key",
            Box::new(|m| {
                m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = json!("debian")
            }),
            "selector key 'distro'",
        ),
        (
            "unsupported",
            Box::new(|m| {
                m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = json!("plan9")
            }),
            "matches no supported platform",
        ),
        (
            "exe",
            Box::new(|m| {
                m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = json!("windows")
            }),
            "must end in .exe",
        ),
        (
            "overlap",
            Box::new(move |m| {
                let mut wide = linux_amd64.clone();
                wide["selector"] = json!({"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux"]}]});
                m["spec"]["platforms"].as_array_mut().unwrap().push(wide);
            }),
            "overlap: both match linux/amd64",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut m = base.clone();
        mutate(&mut m);
        let errors = validate("appmesh2istio.yaml", &m);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{what}: expected an error containing {expected:?}, got {errors:?}"
        );
    }
    assert!(validate("appmesh2istio.yml", &base)[0].contains("must end in .yaml"));
}
