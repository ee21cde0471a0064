//! Input that once hung, crashed the run as an internal error, or was dropped without a word
//! (issue 16): the binary as a user runs it, with exit codes, stdout and the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn convert() -> Command {
    let mut cmd = Command::cargo_bin("kubectl-appmesh2istio-convert").unwrap();
    cmd.env("NO_COLOR", "1").env("COLUMNS", "250");
    cmd
}

/// A guard against a hang, not a speed test: the quadratic report took minutes for 100,000
/// documents (16,000 already took 24 s in a release build); linear, it takes seconds in a
/// release build and 30 to 75 s in a debug build on a busy machine.
const HANG_GUARD: Duration = Duration::from_secs(180);

/// `count` documents of one line, all refused the same way: every finding lands on the same
/// report entry, which is what made each insertion scan all the earlier ones.
fn api_version_only(count: usize) -> String {
    "apiVersion: appmesh.k8s.aws/v1beta2\n---\n".repeat(count)
}

#[test]
fn a_hundred_thousand_documents_on_one_report_entry_finish() {
    let out = convert()
        .args(["-f", "-", "-q", "--report", "/dev/stdout"])
        .write_stdin(api_version_only(100_000))
        .timeout(HANG_GUARD)
        .assert()
        // Partial: the nameless documents are not converted (and nothing else is there).
        .code(3)
        .get_output()
        .clone();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["notConverted"], 1);
    let findings = report["sources"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 100_000, "one finding per document");
    // Each names its own document: the last one starts on line 199,999.
    assert!(
        findings.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .starts_with("the document at <stdin>:199999 has no kind")),
        "{}",
        findings[findings.len() - 1]
    );
}

/// A VirtualNode in a meshed namespace, with `spec` replaced by the caller's.
fn node_with(spec: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: shop, labels: {{mesh: m}}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {{name: m}}
spec: {{namespaceSelector: {{matchLabels: {{mesh: m}}}}}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {{name: cart, namespace: shop}}
spec:
{spec}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {{name: cart, namespace: shop}}
spec:
  awsName: cart.shop.svc.cluster.local
  provider: {{virtualNode: {{virtualNodeRef: {{name: cart}}}}}}
"
    )
}

const LISTENER: &str = "  listeners: [{portMapping: {port: 8080, protocol: http}}]";

/// Runs convert on `input`; returns the exit code, stdout and the JSON report.
fn run(input: &str) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let file = dir.path().join("input.yaml");
    std::fs::write(&file, input).unwrap();
    let out = convert()
        .arg("-f")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&report)
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        report,
    )
}

/// The finding `code` on VirtualNode shop/cart: its field, and the line of the object (the
/// report entry's origin). The finding itself points at its field, inside the object.
fn finding_on_cart(report: &Value, code: &str) -> Option<(String, u64)> {
    report["sources"].as_array()?.iter().find_map(|s| {
        (s["subject"]["kind"] == "VirtualNode" && s["subject"]["name"] == "cart")
            .then(|| {
                let line = s["origin"]["line"].as_u64().unwrap_or_default();
                s["findings"].as_array()?.iter().find_map(|f| {
                    (f["code"] == code).then(|| {
                        let own = f["origin"]["line"].as_u64().unwrap_or(line);
                        assert!(own >= line && own < line + 10, "{f}");
                        (f["field"].as_str().unwrap_or_default().to_owned(), line)
                    })
                })
            })
            .flatten()
    })
}

/// Issue 16, item 5: values the App Mesh CRD accepts but Istio cannot carry are findings on
/// the App Mesh object, at its file and line, never an internal error (exit 4).
#[test]
fn values_the_crd_accepts_and_istio_refuses_are_findings_not_internal_errors() {
    let cases = [
        (
            format!("  podSelector: {{matchLabels: {{app: {}}}}}\n{LISTENER}", "x".repeat(64)),
            "AMI1120",
            "spec.podSelector.matchLabels",
        ),
        (
            format!("  podSelector: {{matchLabels: {{app: café}}}}\n{LISTENER}"),
            "AMI1120",
            "spec.podSelector.matchLabels",
        ),
        (
            format!("  podSelector: {{matchLabels: {{-bad key: a}}}}\n{LISTENER}"),
            "AMI1120",
            "spec.podSelector.matchLabels",
        ),
        (
            format!(
                "  podSelector: {{matchExpressions: [{{key: app, operator: In, values: [a b]}}]}}\n{LISTENER}"
            ),
            "AMI1120",
            "spec.podSelector.matchExpressions[0].values[0]",
        ),
        (
            format!("{LISTENER}\n  serviceDiscovery: {{dns: {{hostname: ''}}}}"),
            "AMI1121",
            "spec.serviceDiscovery.dns.hostname",
        ),
        (
            format!("{LISTENER}\n  serviceDiscovery: {{dns: {{hostname: cart shop}}}}"),
            "AMI1121",
            "spec.serviceDiscovery.dns.hostname",
        ),
        (
            format!("{LISTENER}\n  serviceDiscovery: {{dns: {{hostname: 10.0.0.1}}}}"),
            "AMI1121",
            "spec.serviceDiscovery.dns.hostname",
        ),
        (
            format!(
                "{LISTENER}\n  serviceDiscovery: {{dns: {{hostname: {}}}}}",
                format!("{}.", "a".repeat(60)).repeat(5)
            ),
            "AMI1121",
            "spec.serviceDiscovery.dns.hostname",
        ),
        (
            format!(
                "{LISTENER}\n  serviceDiscovery: {{awsCloudMap: {{namespaceName: my ns, serviceName: cart}}}}"
            ),
            "AMI1121",
            "spec.serviceDiscovery.awsCloudMap",
        ),
        (
            "  listeners:\n  - portMapping: {port: 8080, protocol: http}\n    connectionPool: {http: {maxConnections: 1, maxPendingRequests: -1}}"
                .to_owned(),
            "AMI1005",
            "spec.listeners[0].connectionPool.http.maxPendingRequests",
        ),
    ];
    for (spec, code, field) in cases {
        let (exit, output, report) = run(&node_with(&spec));
        // A finding, never an internal error (4): partial (3) when the node is not
        // converted, 0 when it is converted with approximations.
        let partial = report["summary"]["notConverted"].as_u64() > Some(0);
        assert_eq!(exit, if partial { 3 } else { 0 }, "{spec}\n{output}");
        assert!(!output.contains("a bug in appmesh2istio"), "{output}");
        assert_eq!(
            finding_on_cart(&report, code),
            Some((field.to_owned(), 10)),
            "{spec}\n{output}"
        );
    }
}

/// Issue 16, item 6: each document kubectl refuses is named, with its line, in the report.
#[test]
fn documents_kubectl_refuses_are_named_in_the_report() {
    let input = "kind: VirtualNode
metadata: {name: a, namespace: shop}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: List
items:
  a: {kind: VirtualNode}
---
apiVersion: AppMesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: b, namespace: shop}
";
    let (exit, output, report) = run(input);
    // Nothing could be read: partial, with each document named.
    assert_eq!(exit, 3, "{output}");
    let findings: Vec<(String, u64)> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["origin"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        vec![
            // The List's `items`, where the problem is written (the List starts at 4).
            ("AMI1007".to_owned(), 6),
            ("AMI1006".to_owned(), 1),
            ("AMI1008".to_owned(), 9)
        ]
    );
    // The table names the file and line of each source.
    assert!(output.contains("input.yaml:9"), "{output}");
    assert!(
        output.contains("the document at ") && output.contains("input.yaml:1 has no apiVersion"),
        "{output}"
    );
}
