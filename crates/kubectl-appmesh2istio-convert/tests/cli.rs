//! The convert binary as a user runs it: streams, exit codes, formats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn convert() -> Command {
    let mut cmd = Command::cargo_bin("kubectl-appmesh2istio-convert").unwrap();
    // Wide enough that object names in the report table are not wrapped mid-name.
    cmd.env("NO_COLOR", "1").env("COLUMNS", "250");
    cmd
}

#[test]
fn help_reads_as_a_kubectl_plugin() {
    convert()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Usage: kubectl appmesh2istio convert",
        ))
        .stdout(predicate::str::contains("Exit codes:"));
}

#[test]
fn yaml_goes_to_stdout_and_the_report_to_stderr() {
    let out = convert()
        .arg("-f")
        .arg(data("shop.yaml"))
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout.starts_with("---\napiVersion: networking.istio.io/v1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("kind: VirtualService"), "{stdout}");
    assert!(
        stdout.contains("app.kubernetes.io/managed-by: appmesh2istio"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("source objects:"),
        "report must not leak into stdout"
    );
    assert!(
        stderr.contains("source objects:") && stderr.contains("VirtualNode shop/cart-v1"),
        "{stderr}"
    );
}

#[test]
fn stdin_and_json_output() {
    let input = fs::read(data("shop.yaml")).unwrap();
    let out = convert()
        .args(["-f", "-", "-o", "json", "-q"])
        .write_stdin(input)
        .assert()
        .success()
        .get_output()
        .clone();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "VirtualService")
    );
    assert!(
        out.stderr.is_empty(),
        "-q silences the report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_report_wraps_to_columns_when_not_on_a_terminal() {
    let report = |format: &str| {
        let out = Command::cargo_bin("kubectl-appmesh2istio-convert")
            .unwrap()
            .env("NO_COLOR", "1")
            .env("COLUMNS", "80")
            .arg("-f")
            .arg(data("shop.yaml"))
            .args(["--report-format", format])
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    // Default: one line per finding under its source object, prose wrapped at spaces; only
    // a single word longer than the line (here the input's absolute path) may exceed it.
    let lines = report("lines");
    assert!(lines.lines().count() > 10, "{lines}");
    for line in lines.lines() {
        let unbreakable = line.split_whitespace().any(|w| w.chars().count() > 60);
        assert!(
            line.chars().count() <= 80 || unbreakable,
            "line wider than COLUMNS: {line}"
        );
    }
    let finding = lines
        .lines()
        .find(|l| l.trim_start().starts_with("Warning [AMI2206]"))
        .unwrap_or_else(|| panic!("{lines}"));
    assert!(
        finding.starts_with("  Warning [AMI2206] VirtualNode shop/"),
        "{finding}"
    );
    // Identifiers are never broken: every object name of the table report is whole here.
    for name in [
        "VirtualNode shop/cart-v1",
        "Sidecar shop/cart-v1",
        "ServiceEntry shop/aws-apis",
    ] {
        assert!(lines.contains(name), "{name} broken or missing: {lines}");
    }
    // The table is still there on request, within the width too.
    let table = report("table");
    let rows: Vec<&str> = table
        .lines()
        .take_while(|l| !l.is_empty() && !l.contains("source objects"))
        .collect();
    assert!(rows.len() > 3 && rows[1].contains("SOURCE"), "{table}");
    for row in rows {
        assert!(row.chars().count() <= 80, "line wider than COLUMNS: {row}");
    }
}

#[test]
fn show_selects_the_source_objects_in_the_report() {
    let out = convert()
        .arg("-f")
        .arg(data("shop.yaml"))
        .args(["--show", "approximated,not-converted"])
        .output()
        .unwrap();
    let all = convert().arg("-f").arg(data("shop.yaml")).output().unwrap();
    assert_eq!(out.stdout, all.stdout, "--show only changes the report");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let headers: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(" -> "))
        .collect();
    assert!(!headers.is_empty(), "{stderr}");
    for header in &headers {
        assert!(!header.contains("): exact"), "{header}");
    }
    assert!(stderr.contains("shown, --show selects which."), "{stderr}");
}

#[test]
fn same_input_gives_byte_identical_output() {
    let a = convert().arg("-f").arg(data("shop.yaml")).output().unwrap();
    let b = convert().arg("-f").arg(data("shop.yaml")).output().unwrap();
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn strict_is_all_or_nothing() {
    // The health check cannot be carried over exactly: nothing on stdout, so
    // `convert --strict | kubectl apply -f -` applies nothing.
    convert()
        .arg("-f")
        .arg(data("shop.yaml"))
        .arg("--strict")
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("nothing was printed"));
    let exact = convert()
        .arg("-f")
        .arg(data("exact.yaml"))
        .arg("--strict")
        .assert()
        .code(0);
    assert!(String::from_utf8_lossy(&exact.get_output().stdout).contains("kind: VirtualService"));
}

#[test]
fn input_without_app_mesh_objects_exits_1_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = dir.path().join("ns.yaml");
    fs::write(
        &namespace,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    )
    .unwrap();
    convert()
        .arg("-f")
        .arg(&namespace)
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("no App Mesh objects found in")
                .and(predicate::str::contains("ns.yaml")),
        );
    // Empty standard input is the same.
    convert()
        .args(["-f", "-"])
        .write_stdin("")
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "no App Mesh objects found in standard input",
        ));
}

#[test]
fn something_not_converted_prints_the_rest_and_exits_3() {
    // exact.yaml plus one v1beta1 object (not converted): the rest is still printed.
    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed.yaml");
    let exact = fs::read_to_string(data("exact.yaml")).unwrap();
    fs::write(
        &mixed,
        format!(
            "{exact}\n---\napiVersion: appmesh.k8s.aws/v1beta1\nkind: VirtualNode\nmetadata: {{name: old, namespace: shop}}\nspec: {{}}\n"
        ),
    )
    .unwrap();
    let alone = convert()
        .arg("-f")
        .arg(data("exact.yaml"))
        .output()
        .unwrap();
    let out = convert().arg("-f").arg(&mixed).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        out.stdout, alone.stdout,
        "the rest is printed as it would be alone"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("partial: 1 source object not converted"),
        "{stderr}"
    );
    // Everything v1beta1: nothing to print, still partial (not "no App Mesh objects").
    let old = dir.path().join("old.yaml");
    fs::write(
        &old,
        exact.replace("appmesh.k8s.aws/v1beta2", "appmesh.k8s.aws/v1beta1"),
    )
    .unwrap();
    convert()
        .arg("-f")
        .arg(&old)
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty());
}

#[test]
fn bare_envsubst_variables_stop_the_load_like_braced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vars.yaml");
    let exact = fs::read_to_string(data("exact.yaml")).unwrap();
    let (line, column) = exact
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("namespace: shop").map(|c| (i + 1, c + 12)))
        .unwrap();
    fs::write(
        &file,
        exact.replacen("namespace: shop", "namespace: $NAMESPACE", 1),
    )
    .unwrap();
    convert()
        .arg("-f")
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "vars.yaml:{line}:{column}"
        )))
        .stderr(predicate::str::contains("$NAMESPACE"))
        .stderr(predicate::str::contains("envsubst"));
}

#[test]
fn skip_unreadable_converts_the_rest_and_lists_each_skipped_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(data("exact.yaml"), dir.path().join("a.yaml")).unwrap();
    fs::copy(data("template.yaml"), dir.path().join("b.yaml")).unwrap();
    // The default stops, safely, and names the way out.
    convert()
        .arg("-f")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("b.yaml:5:14"))
        .stderr(predicate::str::contains("--skip-unreadable"));
    let alone = convert()
        .arg("-f")
        .arg(data("exact.yaml"))
        .output()
        .unwrap();
    let report = dir.path().join("report.json");
    let out = convert()
        .arg("-f")
        .arg(dir.path())
        .arg("--skip-unreadable")
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, alone.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let skipped: Vec<&serde_json::Value> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["findings"][0]["code"] == "AMI1050")
        .collect();
    assert_eq!(skipped.len(), 1, "{report:#}");
    assert!(
        skipped[0]["subject"]["name"]
            .as_str()
            .unwrap()
            .ends_with("b.yaml")
    );
    assert_eq!(skipped[0]["fidelity"], "notConverted");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for (flag, value, reason) in [
        ("--cluster-domain", "", "is not a DNS name"),
        ("--cluster-domain", "Cluster Local", "is not a DNS name"),
        ("--ingress-gateway-selector", "istio", "is not KEY=VALUE"),
        (
            "--ingress-gateway-selector",
            "",
            "needs at least one KEY=VALUE",
        ),
        ("--ingress-gateway-selector", "app=in gress", "label value"),
    ] {
        convert()
            .arg("-f")
            .arg(data("exact.yaml"))
            .arg(flag)
            .arg(value)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(reason));
    }
}

#[test]
fn a_template_is_refused_with_its_location_and_nothing_on_stdout() {
    convert()
        .arg("-f")
        .arg(data("template.yaml"))
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("template.yaml:5"))
        .stderr(predicate::str::contains("envsubst"));
}

#[test]
fn missing_input_is_a_clear_error() {
    // Without -f, convert reads the cluster; with no kubeconfig anywhere that is "no input".
    let home = tempfile::tempdir().unwrap();
    convert()
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("no input"));
    convert()
        .args(["-f", "/nonexistent/x.yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("/nonexistent/x.yaml"));
}

#[test]
fn usage_errors_exit_2() {
    convert().arg("--no-such-flag").assert().code(2);
    // Apply flags without --apply, and -f with --from-cluster or --undo, are usage errors.
    for args in [
        &["-f", "x.yaml", "--dry-run=server"][..],
        &["-f", "x.yaml", "--yes"],
        &["-f", "x.yaml", "--force-conflicts"],
        &["-f", "x.yaml", "--from-cluster"],
        &["-f", "x.yaml", "--undo", "u.yaml"],
        &["--apply", "--output-dir", "d"],
        &["--apply", "--dry-run=sometimes"],
    ] {
        convert()
            .args(args)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty());
    }
}

#[test]
fn an_unreachable_cluster_exits_1_with_a_clear_message() {
    // A kubeconfig whose server refuses connections (port 1 on loopback).
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n\
         clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n\
         users: [{name: me, user: {token: t}}]\n\
         contexts: [{name: nowhere, context: {cluster: nowhere, user: me}}]\n",
    )
    .unwrap();
    for args in [&["--from-cluster"][..], &["--apply", "--yes", "-f"]] {
        let mut cmd = convert();
        cmd.arg("--kubeconfig").arg(&kubeconfig).args(args);
        if args.contains(&"-f") {
            cmd.arg(data("exact.yaml"));
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.contains("cannot reach the cluster at https://127.0.0.1:1/ (context nowhere)"),
            "{stderr}"
        );
        assert!(
            stderr.contains("onnection refused"),
            "the cause is named: {stderr}"
        );
    }
}

#[test]
fn output_dir_and_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("istio");
    let report = dir.path().join("report.json");
    convert()
        .arg("-f")
        .arg(data("shop.yaml"))
        .arg("--output-dir")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let kustomization = fs::read_to_string(out.join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("virtualservice_shop_cart.yaml"),
        "{kustomization}"
    );
    assert!(out.join("virtualservice_shop_cart.yaml").is_file());
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(report["kind"], "ConversionReport");
    let sources = report["sources"].as_array().unwrap();
    let vn = sources
        .iter()
        .find(|s| s["subject"]["name"] == "cart-v1")
        .unwrap();
    assert_eq!(vn["fidelity"], "approximated");
}
