//! The binary without a cluster: offline `-f` mode, output formats (golden files), colour, exit
//! codes and usage errors.
//!
//! Golden files live in `tests/golden/`; regenerate them after an intended change with
//! `APPMESH2ISTIO_UPDATE_GOLDEN=1 cargo test -p kubectl-appmesh2istio-precheck --test cli`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// precheck run from `tests/`, so file names in the report are the stable `fixtures/...`.
fn offline(args: &[&str]) -> Run {
    let mut cmd = precheck();
    cmd.current_dir(tests_dir())
        .args(["-f", "fixtures/payments.yaml"])
        .args(args);
    run(cmd)
}

fn golden(name: &str, actual: &str) {
    let path = tests_dir().join("golden").join(name);
    if std::env::var_os("APPMESH2ISTIO_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    pretty_assertions::assert_eq!(
        expected,
        actual,
        "{} differs; if the change is intended, regenerate with APPMESH2ISTIO_UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn offline_human_report_matches_golden() {
    let run = offline(&[]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    golden("offline.txt", &run.stdout);
}

#[test]
fn offline_json_report_matches_golden() {
    let run = offline(&["-o", "json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    golden("offline.json", &run.stdout);
    let report = run.json();
    assert_eq!(report["source"]["mode"], "files");
    assert_eq!(report["source"]["files"][0], "fixtures/payments.yaml");
    assert!(report.get("api").is_none(), "no API requests offline");
    // What only a cluster can tell is skipped, not passed.
    assert_eq!(check(&report, "AMI3001")["status"], "skipped");
    assert_eq!(
        check(&report, "AMI3303")["skippedReason"],
        "offline (-f): no Pods in the files"
    );
    let f = expect_finding(&report, "AMI3301", "error", "Namespace payments");
    assert_eq!(f["origin"]["source"], "file");
    assert_eq!(f["origin"]["path"], "fixtures/payments.yaml");
    assert_eq!(f["origin"]["line"], 3);
    expect_finding(&report, "AMI3404", "error", "Deployment payments/ledger");
    expect_finding(
        &report,
        "AMI3403",
        "warning",
        "DaemonSet payments/node-agent",
    );
    expect_finding(&report, "AMI3603", "warning", "VirtualNode payments/ledger");
}

#[test]
fn yaml_output_is_the_json_document() {
    let json = offline(&["-o", "json"]).json();
    let run = offline(&["-o", "yaml"]);
    assert_eq!(run.code, 5);
    let yaml: serde_json::Value = serde_saphyr_value(&run.stdout);
    assert_eq!(yaml, json);
}

/// The YAML must read back as the same document a script gets from -o json.
fn serde_saphyr_value(text: &str) -> serde_json::Value {
    let docs = appmesh2istio::load::yaml::parse_documents(text, &Default::default()).unwrap();
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap().document.value
}

#[test]
fn only_skip_and_fail_on_select_what_counts() {
    // Only coexistence: one check category in the report, and its error fails the run.
    let run = offline(&["-o", "json", "--only", "coexistence"]);
    assert_eq!(run.code, 5);
    let report = run.json();
    let names: Vec<&str> = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["coexistence"]);
    // Skipping both error codes: warnings remain, which --fail-on error ignores...
    assert_eq!(offline(&["--skip", "AMI3301,AMI3404"]).code, 0);
    // ...and --fail-on warning does not.
    assert_eq!(
        offline(&[
            "--skip",
            "ami3301",
            "--skip",
            "AMI3404",
            "--fail-on",
            "warning"
        ])
        .code,
        5
    );
    // --only with a category that finds nothing above info.
    assert_eq!(
        offline(&["--only", "conversion-readiness,cluster-access"]).code,
        0
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let coloured = offline(&["--color", "always"]);
    assert!(coloured.stdout.contains("\u{1b}["), "{}", coloured.stdout);
    let plain = offline(&["--color", "never"]);
    assert!(!plain.stdout.contains('\u{1b}'));
    // auto: stdout is a pipe here, so no colour even when NO_COLOR is unset.
    assert!(!offline(&[]).stdout.contains('\u{1b}'));
    let mut cmd = precheck();
    cmd.current_dir(tests_dir()).env("NO_COLOR", "1").args([
        "-f",
        "fixtures/payments.yaml",
        "--color",
        "auto",
    ]);
    assert!(!run(cmd).stdout.contains('\u{1b}'));
}

#[test]
fn max_findings_limits_the_human_report_only() {
    let run = offline(&["--max-findings", "1", "--only", "appmesh"]);
    assert!(
        run.stdout.contains("… and 1 more (-o json lists them all"),
        "{}",
        run.stdout
    );
    let json = offline(&["--max-findings", "1", "--only", "appmesh", "-o", "json"]).json();
    assert_eq!(findings(&json, "AMI3108").len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = precheck();
    cmd.args(["--skip", "AMI0000"]);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown code \"AMI0000\""),
        "{}",
        r.stderr
    );
    let mut cmd = precheck();
    cmd.args(["--only", "mesh"]);
    assert_eq!(run(cmd).code, 2);
    let mut cmd = precheck();
    cmd.args(["--fail-on", "fatal"]);
    assert_eq!(run(cmd).code, 2);
}

#[test]
fn help_is_spelled_for_kubectl() {
    let mut cmd = precheck();
    cmd.arg("--help");
    let r = run(cmd);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("Usage: kubectl appmesh2istio precheck"),
        "{}",
        r.stdout
    );
    for flag in [
        "--kubeconfig",
        "--context",
        "--cluster",
        "--user",
        "-n, --namespace",
        "-A, --all-namespaces",
        "--request-timeout",
        "-f, --filename",
        "--only",
        "--skip",
        "--fail-on",
        "-o, --output",
    ] {
        assert!(r.stdout.contains(flag), "{flag} missing from --help");
    }
    assert!(
        r.stdout
            .contains("5  a check found something at or above --fail-on")
    );
}

#[test]
fn no_cluster_configured_is_exit_code_1_with_a_report() {
    // KUBECONFIG points nowhere and this is not a pod: nothing to connect to.
    let mut cmd = precheck();
    cmd.env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent")
        .args(["-o", "json"]);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["completed"], false);
    let f = &findings(&report, "AMI3001")[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("no cluster configured"),
        "{f:#}"
    );
    // For people: the same as one error on stderr, as kubectl says it; nothing on stdout.
    let mut cmd = precheck();
    cmd.env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent");
    let r = run(cmd);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("no cluster configured"),
        "{}",
        r.stderr
    );
}

#[test]
fn unreadable_files_exit_1() {
    let r = offline_path("fixtures/does-not-exist.yaml");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does-not-exist.yaml: cannot read"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

fn offline_path(path: &str) -> Run {
    let mut cmd = precheck();
    cmd.current_dir(tests_dir()).args(["-f", path]);
    run(cmd)
}

#[test]
fn stdin_and_namespace_scope_offline() {
    use std::io::Write;
    let text = std::fs::read_to_string(tests_dir().join("fixtures/payments.yaml")).unwrap();
    let mut child = precheck()
        .args(["-f", "-", "-o", "json", "-n", "elsewhere"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"]["files"][0], "-");
    assert_eq!(report["source"]["namespace"], "elsewhere");
    // Everything in the file is in namespace payments: out of scope. The Mesh is cluster-scoped.
    assert!(findings(&report, "AMI3301").is_empty());
    assert!(findings(&report, "AMI3404").is_empty());
    // The conversion saw the whole file but reports only what concerns the namespace.
    let readiness = check(&report, "AMI3501");
    assert_eq!(
        readiness["findings"].as_array().unwrap().len(),
        0,
        "{readiness:#}"
    );
    assert_eq!(
        readiness["details"][0],
        "0 source objects: 0 exact, 0 approximated, 0 not converted; 0 Istio objects would be generated"
    );
    assert_eq!(out.status.code(), Some(0));
}

/// An unreachable API server is one error on stderr, with the server, and a hint (as kubectl
/// prints it), not a report of checks all skipped for the same reason; exit code 1.
#[test]
fn unreachable_cluster_is_one_error_with_the_server_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n\
         current-context: c\n",
    )
    .unwrap();
    let mut cmd = precheck();
    cmd.arg("--kubeconfig").arg(&kubeconfig);
    let human = run(cmd);
    assert_eq!(human.code, 1, "{}\n{}", human.stdout, human.stderr);
    assert_eq!(human.stdout, "");
    let lines: Vec<&str> = human.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", human.stderr);
    assert!(
        lines[0].starts_with("error: cannot reach the API server at https://127.0.0.1:1/")
            && lines[0].contains("Connection refused"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("hint: Check that the kubeconfig"),
        "{}",
        lines[1]
    );
    // Scripts asking for JSON still get the report, with "completed": false.
    let mut cmd = precheck();
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-o", "json"]);
    let json = run(cmd);
    assert_eq!(json.code, 1);
    assert_eq!(json.json()["completed"], false);
}

#[test]
fn tls_coupled_callers_and_backends_are_reported() {
    let mut cmd = precheck();
    cmd.current_dir(tests_dir()).args([
        "-f",
        "fixtures/tls-coupled.yaml",
        "-o",
        "json",
        "--only",
        "workloads",
    ]);
    let report = run(cmd).json();
    let findings: Vec<&serde_json::Value> = report["categories"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().into_iter().flatten())
        .filter(|f| f["code"] == "AMI3420")
        .collect();
    assert_eq!(findings.len(), 1, "{report}");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Deployment front/web, Deployment pay/payments are coupled by App Mesh TLS"
        ),
        "{message}"
    );
    assert!(
        message.contains("front/web → pay/payments (App Mesh TLS on port 8443)"),
        "{message}"
    );
}

#[test]
fn fleet_usage_errors_exit_2() {
    for args in [
        &["--all-contexts", "--context", "a"][..],
        &["--context", "a", "--context", "b", "--parallel", "0"],
        &[
            "--context",
            "a",
            "--context",
            "b",
            "-f",
            "fixtures/payments.yaml",
        ],
        &["--all-contexts", "-f", "fixtures/payments.yaml"],
    ] {
        let mut cmd = precheck();
        cmd.current_dir(tests_dir()).args(args);
        let r = run(cmd);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn completion_knows_the_fleet_flags_and_repeats_context() {
    for (word, flag) in [("--all-c", "--all-contexts\t"), ("--paral", "--parallel\t")] {
        let mut cmd = precheck();
        cmd.args(["__complete", word]);
        let r = run(cmd);
        assert!(r.stdout.starts_with(flag), "{}", r.stdout);
    }
    let mut cmd = precheck();
    cmd.args(["__complete", "--context", "a", "--cont"]);
    assert!(
        run(cmd).stdout.contains("--context\t"),
        "--context is repeatable"
    );
}
