//! Fleet precheck on the real test API server: one kubeconfig with three contexts, two on the
//! test cluster (the admin, and a restricted identity that may only read pods) and one on a
//! closed port. The summary rows, the PrecheckReportList, the exit code (the worst of all),
//! `--all-contexts` (kubeconfig order) and `--parallel 1` (same output) are asserted, and each
//! item against a single-context run of the same context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;
use test_cluster::{TestCluster, cluster_or_skip};

/// A kubeconfig of three contexts, written in the order `down`, `admin`, `viewer` (not
/// alphabetical, to see kubeconfig order kept).
fn fleet_kubeconfig(cluster: &TestCluster, path: &Path, viewer_token: &str, ns: &str) {
    let admin: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(cluster.kubeconfig_path()).unwrap())
            .unwrap();
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": admin["clusters"][0]["cluster"]},
            {"name": "closed", "cluster": {"server": "https://127.0.0.1:1"}},
        ],
        "users": [
            {"name": "admin", "user": admin["users"][0]["user"]},
            {"name": "viewer", "user": {"token": viewer_token}},
        ],
        "contexts": [
            {"name": "down", "context": {"cluster": "closed", "user": "admin"}},
            {"name": "admin", "context": {"cluster": "test", "user": "admin", "namespace": ns}},
            {"name": "viewer", "context": {"cluster": "test", "user": "viewer", "namespace": "default"}},
        ],
        "current-context": "admin",
    });
    std::fs::write(path, serde_json::to_string(&config).unwrap()).unwrap();
}

fn fleet(kubeconfig: &Path, ns: &str, planes: &Planes, extra: &[&str]) -> Run {
    let mut cmd = precheck();
    cmd.arg("--kubeconfig").arg(kubeconfig).args([
        "-n",
        ns,
        "--appmesh-namespace",
        &planes.appmesh,
        "--istio-namespace",
        &planes.istio,
        "--skip",
        "AMI3002",
    ]);
    cmd.args(extra);
    run(cmd)
}

/// Pods of `ns` with App Mesh's sidecar, counted with kubectl (envoy container or proxyinit).
fn meshed_pods(cluster: &TestCluster, ns: &str) -> u64 {
    let pods: Value =
        serde_json::from_str(&kubectl(cluster, &["get", "pods", "-n", ns, "-o", "json"])).unwrap();
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            let names = |key: &str| -> Vec<String> {
                p["spec"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            };
            names("containers").iter().any(|n| n == "envoy")
                || names("initContainers").iter().any(|n| n == "proxyinit")
        })
        .count() as u64
}

#[test]
fn fleet_of_three_contexts_one_unreachable() {
    let Some(cluster) = cluster_or_skip("fleet_of_three_contexts_one_unreachable") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let state = cluster.load_before_state().unwrap();
    let ns = format!("{}-payments", state.app);
    let identity = cluster.restricted_identity(&ns, "fleet-viewer").unwrap();
    cluster
        .grant(
            &identity,
            Some(&ns),
            vec![test_cluster::rule("", &["pods"], &["get", "list"])],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("fleet");
    fleet_kubeconfig(cluster, &kubeconfig, identity.token(), &ns);
    let contexts = [
        "--context",
        "admin",
        "--context",
        "viewer",
        "--context",
        "down",
    ];

    // Each context alone, as a single precheck: what every item must agree with.
    let single: Vec<Run> = ["admin", "viewer", "down"]
        .iter()
        .map(|c| fleet(&kubeconfig, &ns, &planes, &["--context", c, "-o", "json"]))
        .collect();
    assert_eq!(single[0].code, 5, "{}", single[0].stdout);
    assert_eq!(single[2].code, 1);

    let json_run = fleet(
        &kubeconfig,
        &ns,
        &planes,
        &[&contexts[..], &["-o", "json"]].concat(),
    );
    assert_eq!(
        json_run.code, 1,
        "worst of all: the unreachable context\n{}",
        json_run.stderr
    );
    let list = json_run.json();
    assert_eq!(list["apiVersion"], "appmesh2istio.io/v1alpha1");
    assert_eq!(list["kind"], "PrecheckReportList");
    assert_eq!(list["exitCode"], 1);
    assert_eq!(list["success"], false);
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "viewer", "down"]);
    for (item, alone) in items.iter().zip(&single) {
        let alone = alone.json();
        assert_eq!(item["kind"], "PrecheckReport");
        assert_eq!(item["source"], alone["source"], "{}", item["context"]);
        assert_eq!(item["summary"], alone["summary"], "{}", item["context"]);
        assert_eq!(item["completed"], alone["completed"]);
    }
    let admin = &items[0];
    assert_eq!(admin["exitCode"], single[0].code);
    assert_eq!(admin["verdict"], "blocked");
    assert_eq!(admin["source"]["kubernetesVersion"], "v1.20.2");
    let meshed = meshed_pods(cluster, &ns);
    assert!(meshed > 0);
    assert_eq!(admin["meshedPods"], meshed, "{admin:#}");
    assert!(admin["appmeshObjects"].as_u64().unwrap() > 1, "{admin:#}");
    assert_eq!(
        admin["blockers"], admin["summary"]["findings"]["error"],
        "--fail-on error: blockers are the errors"
    );
    assert_eq!(admin["warnings"], admin["summary"]["findings"]["warning"]);
    let viewer = &items[1];
    assert_eq!(viewer["exitCode"], single[1].code);
    assert_eq!(viewer["meshedPods"], meshed, "it may list pods: {viewer:#}");
    assert!(
        viewer.get("appmeshObjects").is_none(),
        "no App Mesh kind readable: {viewer:#}"
    );
    let down = &items[2];
    assert_eq!(down["verdict"], "not-run");
    assert_eq!(down["exitCode"], 1);
    assert_eq!(down["completed"], false);
    let error = down["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot reach the API server at https://127.0.0.1:1/")
            && error.contains("Connection refused"),
        "{error}"
    );
    assert_eq!(
        list["summary"],
        json!({"contexts": 3, "ready": 0, "blocked": usize::from(single[1].code == 5) + 1, "notRun": 1})
    );

    // -o yaml: the same document.
    let yaml = fleet(
        &kubeconfig,
        &ns,
        &planes,
        &[&contexts[..], &["-o", "yaml"]].concat(),
    );
    assert_eq!(yaml.code, 1);
    let yaml: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(yaml["items"][0]["summary"], list["items"][0]["summary"]);
    assert_eq!(yaml["exitCode"], 1);

    // For people: the table within 80 columns, a row per context in the order given, then each
    // context's report under its heading; the same with --parallel 1.
    let human_run = |extra: &[&str]| {
        let mut cmd = precheck();
        cmd.env("COLUMNS", "80");
        cmd.arg("--kubeconfig").arg(&kubeconfig).args([
            "-n",
            &ns,
            "--appmesh-namespace",
            &planes.appmesh,
            "--istio-namespace",
            &planes.istio,
            "--skip",
            "AMI3002",
        ]);
        cmd.args(contexts).args(extra);
        run(cmd)
    };
    let text = human_run(&[]);
    assert_eq!(text.code, 1);
    let out = &text.stdout;
    assert!(
        out.starts_with(&format!(
            "appmesh2istio precheck of 3 contexts, namespace {ns}\n"
        )),
        "{out}"
    );
    let table: Vec<&str> = out
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("BLOCKERS"))
        .collect();
    assert!(table.iter().all(|l| l.chars().count() <= 80), "{out}");
    let first_cells: Vec<&str> = table
        .iter()
        .filter(|l| l.starts_with('│'))
        .filter_map(|l| l.split('┆').next())
        .map(|c| c.trim_start_matches('│').trim())
        .filter(|c| !c.is_empty() && *c != "CONTEXT")
        .collect();
    assert_eq!(first_cells, ["admin", "viewer", "down"], "{out}");
    let admin_row = table.iter().find(|l| l.contains("│ admin ")).unwrap();
    assert!(
        admin_row.contains("v1.20.2") && admin_row.contains("blocked"),
        "{admin_row}"
    );
    assert!(admin_row.contains(&format!(" {meshed} ")), "{admin_row}");
    // The unreachable context's row carries its error (wrapped within the verdict column).
    let verdicts: String = table
        .iter()
        .filter(|l| l.starts_with('│'))
        .filter_map(|l| l.rsplit('┆').next())
        .flat_map(|c| c.trim_end_matches('│').chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        verdicts.contains("notrun:cannotreachtheAPIserverathttps://127.0.0.1:1/:"),
        "{out}"
    );
    let headings: Vec<&str> = out.lines().filter(|l| l.starts_with("Context ")).collect();
    assert_eq!(
        headings,
        [
            "Context admin (1 of 3)",
            "Context viewer (2 of 3)",
            "Context down (3 of 3)"
        ]
    );
    let down_section = out.split("Context down (3 of 3)").nth(1).unwrap();
    assert!(
        down_section.contains("error: cannot reach the API server at https://127.0.0.1:1/"),
        "{down_section}"
    );
    assert!(out.contains("exit code 1: the worst of all"), "{out}");
    let serial = human_run(&["--parallel", "1"]);
    assert_eq!(serial.code, 1);
    pretty_assertions::assert_eq!(&serial.stdout, out, "--parallel 1 prints the same");

    // Without the unreachable context: the worst of the two single codes.
    let two = fleet(
        &kubeconfig,
        &ns,
        &planes,
        &["--context", "admin", "--context", "viewer", "-o", "json"],
    );
    assert_eq!(
        two.code,
        single[0].code.max(single[1].code),
        "{}",
        two.stderr
    );

    // --all-contexts from $KUBECONFIG: every context, in the kubeconfig's order.
    let mut cmd = precheck();
    cmd.env("KUBECONFIG", &kubeconfig).args([
        "--all-contexts",
        "-n",
        &ns,
        "--appmesh-namespace",
        &planes.appmesh,
        "--istio-namespace",
        &planes.istio,
        "-o",
        "json",
    ]);
    let all = run(cmd);
    assert_eq!(all.code, 1, "{}", all.stderr);
    let names: Vec<String> = all.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["context"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["down", "admin", "viewer"]);
}

/// A server that takes connections and never answers (not even the TLS handshake), on a port
/// of its own for the life of the test binary.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_context_that_never_answers_stops_at_its_timeout() {
    let Some(cluster) = cluster_or_skip("a_context_that_never_answers_stops_at_its_timeout") else {
        return;
    };
    let planes = planes(cluster, true, Some("1.30.3"));
    let state = cluster.load_before_state().unwrap();
    let ns = format!("{}-payments", state.app);
    let admin: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(cluster.kubeconfig_path()).unwrap())
            .unwrap();
    let port = silent_server();
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": admin["clusters"][0]["cluster"]},
            {"name": "silent", "cluster": {"server": format!("https://127.0.0.1:{port}"),
                                           "insecure-skip-tls-verify": true}},
        ],
        "users": [{"name": "admin", "user": admin["users"][0]["user"]}],
        "contexts": [
            {"name": "stalled", "context": {"cluster": "silent", "user": "admin"}},
            {"name": "admin", "context": {"cluster": "test", "user": "admin", "namespace": ns}},
        ],
        "current-context": "admin",
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("fleet");
    std::fs::write(&kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();

    let alone = fleet(
        &kubeconfig,
        &ns,
        &planes,
        &["--context", "admin", "-o", "json"],
    );
    let both = fleet(
        &kubeconfig,
        &ns,
        &planes,
        &[
            "--context",
            "stalled",
            "--context",
            "admin",
            "--context-timeout",
            "3s",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        both.code, 1,
        "the stalled context is not run\n{}",
        both.stderr
    );
    let list = both.json();
    let stalled = &list["items"][0];
    assert_eq!(stalled["context"], "stalled");
    assert_eq!(stalled["verdict"], "not-run");
    assert_eq!(stalled["completed"], false);
    let error = stalled["error"].as_str().unwrap();
    let waited: f64 = error
        .strip_prefix(&format!(
            "cannot reach the API server at https://127.0.0.1:{port}: \
             no answer within --context-timeout 3s (stopped after "
        ))
        .and_then(|rest| rest.strip_suffix(" s)"))
        .unwrap_or_else(|| panic!("{error}"))
        .parse()
        .unwrap();
    assert!(waited >= 3.0, "stopped at the limit, not before: {error}");
    assert_eq!(
        stalled["source"]["server"],
        format!("https://127.0.0.1:{port}")
    );
    // The other context is checked in full, as it is alone.
    let admin_item = &list["items"][1];
    assert_eq!(admin_item["context"], "admin");
    assert_eq!(admin_item["completed"], true);
    assert_eq!(admin_item["summary"], alone.json()["summary"]);
    assert_eq!(admin_item["exitCode"], alone.code);
}
