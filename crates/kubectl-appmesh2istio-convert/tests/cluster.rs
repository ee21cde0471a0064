//! convert against the real test API server (kube-apiserver 1.20 + etcd + controller-manager,
//! with the App Mesh and Istio CRDs): reading App Mesh objects from the cluster, and
//! `--apply` / `--undo` with plan, confirmation, conflicts, retries, partial failures and RBAC.
//!
//! Each test works in namespaces of its own. Writes are counted by the fault proxy in front of
//! the API server (its journal sees every request the plugin sends). Tests that put App Mesh
//! objects into the cluster or read all of them hold [`APPMESH_OBJECTS`], so a read of all
//! namespaces sees exactly one test's objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use http::Method;
use pretty_assertions::assert_eq;
use serde_json::Value;
use test_cluster::{Fault, FaultProxy, FaultRule, TestCluster, cluster_or_skip};

static APPMESH_OBJECTS: Mutex<()> = Mutex::new(());

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The plugin, with stdin closed (not a terminal), in `dir`.
fn convert_in(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-appmesh2istio-convert"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `tests/data/<name>` with the fixture's `shop` replaced by `ns` (namespace, mesh, hosts),
/// written into `dir`.
fn manifest(dir: &Path, name: &str, ns: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap();
    let path = dir.join(format!("{ns}-{name}"));
    std::fs::write(&path, text.replace("shop", ns)).unwrap();
    path
}

/// The objects `convert -f` generates for `file`, keyed `Kind namespace/name`.
fn expected_objects(dir: &Path, kubeconfig: &Path, file: &Path) -> BTreeMap<String, Value> {
    converted_objects(dir, kubeconfig, file, 0)
}

/// The objects `convert -f` generates for `file`, which exits with `code` (3: partial).
fn converted_objects(
    dir: &Path,
    kubeconfig: &Path,
    file: &Path,
    code: i32,
) -> BTreeMap<String, Value> {
    let run = convert_in(
        dir,
        kubeconfig,
        &["-f", file.to_str().unwrap(), "-o", "json", "-q"],
    );
    assert_eq!(run.code, code, "{}", run.stderr);
    by_key(run.json()["items"].as_array().unwrap())
}

fn key(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap(),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap()
    )
}

fn by_key(items: &[Value]) -> BTreeMap<String, Value> {
    items.iter().map(|o| (key(o), o.clone())).collect()
}

fn kubectl_name(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let group = api_version.split('/').next().unwrap();
    format!(
        "{}.{group}/{}",
        object["kind"].as_str().unwrap().to_ascii_lowercase(),
        object["metadata"]["name"].as_str().unwrap()
    )
}

fn plural(kind: &str) -> String {
    match kind {
        "ServiceEntry" => "serviceentries".into(),
        "AuthorizationPolicy" => "authorizationpolicies".into(),
        "Telemetry" => "telemetries".into(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

/// `kind.group` as kubectl takes it.
fn resource(object: &Value) -> String {
    let group = object["apiVersion"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    format!("{}.{group}", plural(object["kind"].as_str().unwrap()))
}

/// The object as stored, or `None` (kubectl as the cluster admin).
fn get(cluster: &TestCluster, object: &Value) -> Option<Value> {
    let ns = object["metadata"]["namespace"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    let out = cluster
        .kubectl()
        .args([
            "get",
            &resource(object),
            name,
            "-n",
            ns,
            "-o",
            "json",
            "--ignore-not-found",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }
}

fn kubectl_apply(cluster: &TestCluster, yaml: &str) {
    let mut child = cluster
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Requests other than GET the proxy saw (SelfSubjectAccessReviews are POSTs too).
fn writes(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// Writes to Istio objects only.
fn istio_writes(proxy: &FaultProxy) -> Vec<String> {
    writes(proxy)
        .into_iter()
        .filter(|w| w.contains("istio.io/"))
        .collect()
}

fn undo_record(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entries(record: &Value, list: &str) -> Vec<String> {
    record[list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}/{}",
                        e["kind"].as_str().unwrap(),
                        e["namespace"].as_str().unwrap(),
                        e["name"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reading from the cluster

#[test]
fn convert_from_the_cluster_matches_convert_of_the_same_objects_from_files() {
    let Some(cluster) =
        cluster_or_skip("convert_from_the_cluster_matches_convert_of_the_same_objects_from_files")
    else {
        return;
    };
    let _guard = APPMESH_OBJECTS.lock().unwrap_or_else(|e| e.into_inner());
    let state = cluster.load_before_state().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The same copy of examples/shop/app.yaml, as files.
    let file = dir.path().join("app.yaml");
    let documents: Vec<String> = state
        .documents
        .iter()
        .map(|d| serde_saphyr::to_string(d).unwrap())
        .collect();
    std::fs::write(&file, documents.join("---\n")).unwrap();
    // The example holds one VirtualNode whose TLS subject check cannot be converted
    // (AMI2209), so both runs are partial: exit 3, the rest printed.
    let from_files = converted_objects(dir.path(), cluster.kubeconfig_path(), &file, 3);
    assert!(from_files.len() > 10, "{from_files:#?}");
    assert!(
        from_files.contains_key(&format!("VirtualService {}-catalog/catalog", state.app)),
        "{:#?}",
        from_files.keys()
    );

    let run = convert_in(dir.path(), cluster.kubeconfig_path(), &["-A", "-o", "json"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("partial: 1 source object not converted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("read from the cluster (context "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("VirtualNode"),
        "the report names the sources: {}",
        run.stderr
    );
    let from_cluster = by_key(run.json()["items"].as_array().unwrap());
    // The shared cluster may hold other tests' namespaces (without App Mesh objects); the
    // objects of this copy's namespaces must be exactly those converted from the files.
    let namespaces: std::collections::BTreeSet<&str> = from_files
        .values()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    let mine: BTreeMap<String, Value> = from_cluster
        .into_iter()
        .filter(|(_, o)| {
            o["metadata"]["namespace"]
                .as_str()
                .is_some_and(|ns| namespaces.contains(ns))
        })
        .collect();
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        from_files.keys().collect::<Vec<_>>()
    );
    assert_eq!(mine, from_files, "the same objects, field for field");

    // -n reads one namespace (Meshes are cluster-scoped and always read): only its objects.
    let ns = format!("{}-payments", state.app);
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "-o", "json", "-q"],
    );
    // payments-v1 (the one object not converted) is in this namespace: still partial.
    assert_eq!(run.code, 3, "{}", run.stderr);
    let items = run.json()["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|o| o["metadata"]["namespace"] == ns.as_str()),
        "{items:#?}"
    );
    assert!(
        items.iter().any(|o| o["kind"] == "PeerAuthentication"),
        "mTLS STRICT on payments: {items:#?}"
    );
}

#[test]
fn a_cluster_without_app_mesh_or_istio_crds_is_a_clear_error() {
    if cluster_or_skip("a_cluster_without_app_mesh_or_istio_crds_is_a_clear_error").is_none() {
        return;
    }
    let bare = TestCluster::start(test_cluster::ClusterOptions::minimal()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = convert_in(dir.path(), bare.kubeconfig_path(), &["--from-cluster"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("the App Mesh CRDs are not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("appmesh.k8s.aws/v1beta2 is not served"),
        "{}",
        run.stderr
    );
    // Applying converted files to a cluster without Istio: refused before any write.
    let file = manifest(dir.path(), "shop.yaml", "default");
    let run = convert_in(
        dir.path(),
        bare.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Istio's CRDs are not installed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// --apply

#[test]
fn apply_creates_the_objects_and_a_second_run_changes_nothing() {
    let Some(cluster) =
        cluster_or_skip("apply_creates_the_objects_and_a_second_run_changes_nothing")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("apply").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    assert!(expected.len() >= 3, "{expected:#?}");

    // Default undo file in the current directory.
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "stdout stays empty without -o: {}",
        run.stdout
    );
    for object in expected.values() {
        assert!(
            run.stderr
                .contains(&format!("{} created\n", kubectl_name(object))),
            "{}",
            run.stderr
        );
        let stored =
            get(cluster, object).unwrap_or_else(|| panic!("{} was not created", key(object)));
        assert_eq!(stored["metadata"]["labels"][MANAGED_BY], "appmesh2istio");
        assert_eq!(stored["spec"], object["spec"], "{}", key(object));
        let managers: Vec<&str> = stored["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["manager"].as_str().unwrap())
            .collect();
        assert_eq!(
            managers,
            vec!["kubectl-appmesh2istio"],
            "server-side apply with the default field manager"
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "verified: {} object(s) read back as applied",
            expected.len()
        )),
        "{}",
        run.stderr
    );
    let undo_files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("appmesh2istio-undo-")
        })
        .collect();
    assert_eq!(undo_files.len(), 1, "{undo_files:?}");
    let name = undo_files[0].file_name().unwrap().to_str().unwrap();
    assert!(
        run.stderr.contains(&format!("undo file: {name}")),
        "{}",
        run.stderr
    );
    let record = undo_record(&undo_files[0]);
    assert_eq!(record["kind"], "UndoRecord");
    assert_eq!(entries(&record, "created").len(), expected.len());
    assert!(
        record["created"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["uid"].is_string()),
        "{record:#?}"
    );

    // Second run: all unchanged, only reads, no undo file.
    proxy.clear_journal();
    let second = dir.path().join("second-undo.yaml");
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "--undo-file",
            second.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for object in expected.values() {
        assert!(
            run.stderr
                .contains(&format!("{} unchanged\n", kubectl_name(object))),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains(&format!("{} unchanged", expected.len())),
        "{}",
        run.stderr
    );
    assert_eq!(
        writes(&proxy),
        Vec::<String>::new(),
        "an unchanged plan sends no write"
    );
    assert!(
        proxy.count(&Method::GET, &ns) >= expected.len(),
        "each object was read"
    );
    assert!(!second.exists(), "nothing applied, no undo file");
}

#[test]
fn a_pre_existing_unmanaged_object_is_refused_without_force_conflicts() {
    let Some(cluster) =
        cluster_or_skip("a_pre_existing_unmanaged_object_is_refused_without_force_conflicts")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("conflict").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let theirs = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: cart, namespace: {ns}, labels: {{team: cart}}}}\n\
         spec: {{hosts: [cart.example.com], http: [{{route: [{{destination: {{host: legacy-cart}}}}]}}]}}\n"
    );
    kubectl_apply(cluster, &theirs);
    let vs = expected
        .values()
        .find(|o| o["kind"] == "VirtualService" && o["metadata"]["name"] == "cart")
        .unwrap();
    let before = get(cluster, vs).unwrap();

    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "--undo-file",
            undo.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(run.stderr.contains("conflict"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not managed by appmesh2istio (managed by kubectl-client-side-apply)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force-conflicts"), "{}", run.stderr);
    let plan = run.json();
    let cart = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "VirtualService")
        .unwrap();
    assert_eq!(cart["action"], "conflict");
    assert_eq!(plan["summary"]["conflict"], 1);
    assert_eq!(writes(&proxy), Vec::<String>::new(), "nothing written");
    assert!(!undo.exists());
    assert_eq!(get(cluster, vs).unwrap()["spec"], before["spec"]);
    for object in expected.values().filter(|o| key(o) != key(vs)) {
        assert!(
            get(cluster, object).is_none(),
            "{} must not be created",
            key(object)
        );
    }
}

#[test]
fn force_conflicts_takes_over_and_undo_restores_the_previous_state() {
    let Some(cluster) =
        cluster_or_skip("force_conflicts_takes_over_and_undo_restores_the_previous_state")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("undo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let theirs = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: cart, namespace: {ns}, labels: {{team: cart}}}}\n\
         spec: {{hosts: [cart.example.com], http: [{{route: [{{destination: {{host: legacy-cart}}}}]}}]}}\n"
    );
    kubectl_apply(cluster, &theirs);
    let vs = expected
        .values()
        .find(|o| o["kind"] == "VirtualService" && o["metadata"]["name"] == "cart")
        .unwrap()
        .clone();
    let before = get(cluster, &vs).unwrap();

    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "--force-conflicts",
            "-q",
            "--undo-file",
            undo.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualservice.networking.istio.io/cart configured\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("takes over an object not managed by appmesh2istio"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("spec.hosts"),
        "the plan names the changed fields: {}",
        run.stderr
    );
    let taken = get(cluster, &vs).unwrap();
    assert_eq!(taken["spec"], vs["spec"]);
    assert_eq!(taken["metadata"]["labels"][MANAGED_BY], "appmesh2istio");
    let record = undo_record(&undo);
    assert_eq!(entries(&record, "updated"), vec![key(&vs)]);
    assert_eq!(record["updated"][0]["previous"]["spec"], before["spec"]);
    assert_eq!(entries(&record, "created").len(), expected.len() - 1);

    // Undo without --yes and without a terminal: refused, nothing changed.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(get(cluster, &vs).unwrap()["spec"], vs["spec"]);

    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap(), "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualservice.networking.istio.io/cart restored\n"),
        "{}",
        run.stderr
    );
    let restored = get(cluster, &vs).unwrap();
    assert_eq!(
        restored["spec"], before["spec"],
        "the previous spec is back"
    );
    assert_eq!(
        restored["metadata"]["labels"], before["metadata"]["labels"],
        "and its labels (no managed-by)"
    );
    assert_eq!(
        restored["metadata"]["uid"], before["metadata"]["uid"],
        "the same object, not a new one"
    );
    for object in expected.values().filter(|o| key(o) != key(&vs)) {
        assert!(
            run.stderr
                .contains(&format!("{} deleted\n", kubectl_name(object))),
            "{}",
            run.stderr
        );
        assert!(
            get(cluster, object).is_none(),
            "{} was created by apply and must be gone",
            key(object)
        );
    }
    // Undo is idempotent: a second run has nothing to do.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap(), "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("nothing to undo"), "{}", run.stderr);
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_written() {
    let Some(cluster) = cluster_or_skip("without_yes_and_without_a_terminal_nothing_is_written")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("noyes").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("refusing to change the cluster without confirmation"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("rerun with --yes"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ACTION"),
        "the plan is shown first: {}",
        run.stderr
    );
    assert_eq!(istio_writes(&proxy), Vec::<String>::new());
    for object in expected.values() {
        assert!(get(cluster, object).is_none(), "{}", key(object));
    }
    let undo_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with("appmesh2istio-undo")
        })
        .count();
    assert_eq!(undo_files, 0);
}

#[test]
fn dry_run_server_and_client_write_nothing() {
    let Some(cluster) = cluster_or_skip("dry_run_server_and_client_write_nothing") else {
        return;
    };
    let ns = cluster.fresh_namespace("dryrun").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);

    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--dry-run=server",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for object in expected.values() {
        assert!(
            run.stderr.contains(&format!(
                "{} created (server dry run)\n",
                kubectl_name(object)
            )),
            "{}",
            run.stderr
        );
        assert!(
            get(cluster, object).is_none(),
            "{} stored by a dry run",
            key(object)
        );
    }
    // Creates are create-only POSTs (issue 16: two concurrent applies must not both create).
    let creates: Vec<String> = istio_writes(&proxy);
    assert_eq!(
        creates.len(),
        expected.len(),
        "one server dry-run create per object: {creates:#?}"
    );
    assert!(
        creates
            .iter()
            .all(|p| p.starts_with("POST ") && p.contains("dryRun=All")),
        "{creates:#?}"
    );
    assert!(!run.stderr.contains("undo file"), "{}", run.stderr);

    // Client dry run: the plan as JSON, reads only.
    proxy.clear_journal();
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--dry-run=client",
            "-o",
            "json",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    assert_eq!(plan["kind"], "ApplyPlan");
    assert_eq!(plan["dryRun"], "client");
    assert_eq!(plan["summary"]["create"], expected.len());
    let items = plan["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["action"] == "create"), "{items:#?}");
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert!(run.stderr.contains("created (dry run)"), "{}", run.stderr);
}

#[test]
fn a_503_on_one_apply_is_retried_and_succeeds() {
    let Some(cluster) = cluster_or_skip("a_503_on_one_apply_is_retried_and_succeeds") else {
        return;
    };
    let ns = cluster.fresh_namespace("retry").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    // Creates are create-only POSTs to the collection (issue 16); the namespace has one
    // VirtualService, cart.
    let path = format!("/namespaces/{ns}/virtualservices");
    assert_eq!(
        expected
            .keys()
            .filter(|k| k.starts_with("VirtualService "))
            .count(),
        1
    );
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(Method::POST)
            .path_contains(&path),
    );
    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "-v",
            "--undo-file",
            undo.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualservice.networking.istio.io/cart created (after 1 retries)"),
        "{}",
        run.stderr
    );
    let attempts: Vec<Option<u16>> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.uri.contains(&path))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        attempts,
        vec![Some(503), Some(201)],
        "one failure, then (the object still absent) the same create again"
    );
    for object in expected.values() {
        assert!(get(cluster, object).is_some(), "{}", key(object));
    }
    assert_eq!(
        entries(&undo_record(&undo), "created").len(),
        expected.len()
    );
}

/// A client error on the second write stops the run there: the first object is applied and
/// in the undo file, the rest is not applied and not in it.
fn stops_at_a_client_error(test: &str, status: u16) {
    let Some(cluster) = cluster_or_skip(test) else {
        return;
    };
    let ns = cluster.fresh_namespace("stop").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    // The apply order, from the plan.
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--dry-run=client",
            "-o",
            "json",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order: Vec<Value> = run.json()["items"].as_array().unwrap().clone();
    assert!(order.len() >= 3, "{order:#?}");
    let failing = &order[1];
    let kind = failing["kind"].as_str().unwrap();
    let name = failing["name"].as_str().unwrap();
    // Creates are create-only POSTs to the collection (issue 16): fail the POST of the second
    // object, letting through those of its kind that come before it.
    let before = order[..1].iter().filter(|i| i["kind"] == kind).count();
    proxy.add_rule(
        FaultRule::new(Fault::Status(status))
            .method(Method::POST)
            .path_contains(&format!("/namespaces/{ns}/{}", plural(kind)))
            .skip(before)
            .always(),
    );
    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &[
            "-f",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "-q",
            "--undo-file",
            undo.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: cannot apply {kind} {ns}/{name}: the API server answered {status}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "stopped at the first error: 1 of {} writes applied",
            order.len()
        )),
        "{}",
        run.stderr
    );
    let first = format!(
        "{} {ns}/{}",
        order[0]["kind"].as_str().unwrap(),
        order[0]["name"].as_str().unwrap()
    );
    assert!(
        run.stderr.contains(&format!("applied: {first}\n")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("not applied: {kind} {ns}/{name}")),
        "{}",
        run.stderr
    );
    let creates = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.uri.contains("istio.io/"))
        .count();
    assert_eq!(creates, 2, "no retry of a client error, nothing after it");
    let first_name = order[0]["name"].as_str().unwrap();
    let patches: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.uri)
        .collect();
    assert!(
        patches.len() == 1 && patches[0].contains(&format!("/{first_name}?")),
        "only the first object's ownership fix-up: {patches:#?}"
    );
    let record = undo_record(&undo);
    assert_eq!(
        entries(&record, "created"),
        vec![first],
        "the undo file lists only what was applied"
    );
    assert_eq!(entries(&record, "updated"), Vec::<String>::new());
    let stored: Vec<bool> = order
        .iter()
        .map(|i| {
            let object = serde_json::json!({"apiVersion": i["apiVersion"], "kind": i["kind"], "metadata": {"namespace": i["namespace"], "name": i["name"]}});
            get(cluster, &object).is_some()
        })
        .collect();
    let mut want = vec![false; order.len()];
    want[0] = true;
    assert_eq!(stored, want);
}

#[test]
fn a_422_on_one_object_stops_the_run_and_the_undo_file_lists_only_what_was_applied() {
    stops_at_a_client_error(
        "a_422_on_one_object_stops_the_run_and_the_undo_file_lists_only_what_was_applied",
        422,
    );
}

#[test]
fn a_403_on_one_object_stops_the_run_and_the_undo_file_lists_only_what_was_applied() {
    stops_at_a_client_error(
        "a_403_on_one_object_stops_the_run_and_the_undo_file_lists_only_what_was_applied",
        403,
    );
}

#[test]
fn an_identity_without_create_rights_gets_a_clear_error_and_nothing_is_written() {
    let Some(cluster) = cluster_or_skip(
        "an_identity_without_create_rights_gets_a_clear_error_and_nothing_is_written",
    ) else {
        return;
    };
    let ns = cluster.fresh_namespace("rbac").unwrap();
    let identity = cluster.restricted_identity(&ns, "reader").unwrap();
    cluster
        .grant(
            &identity,
            Some(&ns),
            vec![
                test_cluster::rule("networking.istio.io", &["*"], &["get", "list"]),
                test_cluster::rule("security.istio.io", &["*"], &["get", "list"]),
                test_cluster::rule("telemetry.istio.io", &["*"], &["get", "list"]),
            ],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let run = convert_in(
        dir.path(),
        identity.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("lacks rights the plan needs; nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "not allowed to create virtualservices.networking.istio.io in namespace {ns}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "not allowed to patch virtualservices.networking.istio.io in namespace {ns}"
        )),
        "{}",
        run.stderr
    );
    for object in expected.values() {
        assert!(get(cluster, object).is_none(), "{}", key(object));
    }
    // Without even the right to read, the plan itself fails and names the object.
    let stranger = cluster.restricted_identity(&ns, "stranger").unwrap();
    let run = convert_in(
        dir.path(),
        stranger.kubeconfig_path(),
        &["-f", file.to_str().unwrap(), "--apply", "--yes", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read ") && run.stderr.contains("403"),
        "{}",
        run.stderr
    );
}

#[test]
fn apply_from_the_cluster_converts_the_live_objects_of_one_namespace() {
    let Some(cluster) =
        cluster_or_skip("apply_from_the_cluster_converts_the_live_objects_of_one_namespace")
    else {
        return;
    };
    let _guard = APPMESH_OBJECTS.lock().unwrap_or_else(|e| e.into_inner());
    let ns = cluster.fresh_namespace("live").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    // The App Mesh objects go into the cluster (the webhook fills in meshRef and awsName).
    let text = std::fs::read_to_string(&file).unwrap();
    kubectl_apply(cluster, &text);
    let undo = dir.path().join("undo.yaml");
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &[
            "-n",
            &ns,
            "--apply",
            "--yes",
            "--undo-file",
            undo.to_str().unwrap(),
        ],
    );
    let stored: Vec<Option<Value>> = expected.values().map(|o| get(cluster, o)).collect();
    // Remove the App Mesh objects (the Mesh is cluster-scoped) before asserting, so that a
    // failure here does not leave them for the test that reads all namespaces.
    let cleanup = cluster
        .kubectl()
        .args([
            "delete",
            "-f",
            file.to_str().unwrap(),
            "--ignore-not-found",
            "--wait=false",
        ])
        .output()
        .unwrap();
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("read from the cluster (context "),
        "{}",
        run.stderr
    );
    for (object, stored) in expected.values().zip(stored) {
        assert!(
            run.stderr
                .contains(&format!("{} created\n", kubectl_name(object))),
            "{}",
            run.stderr
        );
        assert_eq!(stored.unwrap()["spec"], object["spec"], "{}", key(object));
    }
}

// ---------------------------------------------------------------------------------------------
// reading: an expired continue token

/// 501 headless Services in `ns`: the service list is two pages of 500.
fn two_pages_of_services(cluster: &TestCluster, ns: &str) {
    cluster.create_headless_services(ns, 501).unwrap();
}

fn expired_continue_rule(ns: &str) -> FaultRule {
    FaultRule::expired_continue(&format!("/namespaces/{ns}/services"))
}

#[test]
fn an_expired_continue_token_restarts_the_read_and_the_output_is_unchanged() {
    let Some(cluster) =
        cluster_or_skip("an_expired_continue_token_restarts_the_read_and_the_output_is_unchanged")
    else {
        return;
    };
    let ns = cluster.fresh_namespace("expired").unwrap();
    two_pages_of_services(cluster, &ns);
    let dir = tempfile::tempdir().unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let unfaulted = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &ns, "-o", "json"],
    );
    proxy.clear_journal();
    proxy.add_rule(expired_continue_rule(&ns));
    let faulted = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &ns, "-o", "json"],
    );
    assert_eq!(proxy.faults_applied(), 1);
    assert_eq!(faulted.code, unfaulted.code, "{}", faulted.stderr);
    assert_eq!(faulted.stdout, unfaulted.stdout);
    let lists: Vec<(bool, Option<u16>)> = proxy
        .requests()
        .iter()
        .filter(|r| {
            r.uri
                .starts_with(&format!("/api/v1/namespaces/{ns}/services?"))
        })
        .map(|r| (r.uri.contains("continue="), r.status))
        .collect();
    assert_eq!(
        lists,
        vec![
            (false, Some(200)),
            (true, Some(410)),
            (false, Some(200)),
            (true, Some(200)),
        ],
        "the list restarted from its first page"
    );
}

#[test]
fn a_continue_token_that_keeps_expiring_is_a_clear_error_and_nothing_is_printed() {
    let Some(cluster) = cluster_or_skip(
        "a_continue_token_that_keeps_expiring_is_a_clear_error_and_nothing_is_printed",
    ) else {
        return;
    };
    let ns = cluster.fresh_namespace("expiring").unwrap();
    two_pages_of_services(cluster, &ns);
    let dir = tempfile::tempdir().unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    proxy.add_rule(expired_continue_rule(&ns).always());
    let run = convert_in(
        dir.path(),
        proxy.kubeconfig_path(),
        &["-n", &ns, "-o", "json"],
    );
    assert_eq!(proxy.faults_applied(), 3, "the first try and two restarts");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("cannot list services: the list's continue token expired 3 times in a row")
            && run.stderr.contains("410 (Expired)"),
        "{}",
        run.stderr
    );
}
