//! label against the real test cluster: each mode on real namespaces, what new pods get
//! afterwards, idempotence, undo (file and annotations), refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use test_cluster::cluster_or_skip;

/// The before state's deployment in `ns` (`<app>-frontend` → its first Deployment).
fn deployment_in(state: &test_cluster::BeforeState, ns: &str) -> String {
    state
        .deployments
        .iter()
        .find(|(n, _)| n == ns)
        .map(|(_, d)| d.clone())
        .unwrap()
}

#[test]
fn default_mode_moves_meshed_namespaces_to_istio_and_undo_restores_them_exactly() {
    let Some(cluster) = cluster_or_skip("default_mode") else {
        return;
    };
    let state = cluster.load_before_state().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    let frontend = state
        .meshed_namespaces
        .iter()
        .find(|n| n.ends_with("-frontend"))
        .unwrap()
        .clone();
    let catalog = state
        .meshed_namespaces
        .iter()
        .find(|n| n.ends_with("-catalog"))
        .unwrap()
        .clone();
    let web = deployment_in(&state, &frontend);
    let pod_labels = template_labels(cluster, &frontend, &web);
    // Before: App Mesh injects a new member pod.
    let before_pod = new_pod(cluster, &frontend, &pod_labels);
    assert!(
        container_names(&before_pod).contains(&"envoy".to_owned()),
        "{before_pod}"
    );
    let before: Vec<(Value, Value)> = [&frontend, &catalog]
        .iter()
        .map(|n| metadata_maps(cluster, n))
        .collect();

    let names = format!("{frontend},{catalog}");
    let run = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &names, "--yes", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The plan table, the result lines, the next step.
    assert!(run.stderr.contains("plan for "), "{}", run.stderr);
    assert!(run.stderr.contains(": 2 to label"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "-{APPMESH_INJECT}=enabled +istio-injection=enabled"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("kept gateway="),
        "the VirtualGateway's label is kept: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("running pod(s) carry App Mesh's envoy until recreated"),
        "{}",
        run.stderr
    );
    for ns in [&frontend, &catalog] {
        assert!(
            run.stderr.contains(&format!("namespace/{ns} labeled\n")),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "kubectl appmesh2istio rollout -n {catalog} -n {frontend}"
        )),
        "{}",
        run.stderr
    );
    let document = run.json();
    assert_eq!(document["kind"], "LabelPlan");
    assert_eq!(document["summary"]["label"], 2);
    let item = document["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == frontend.as_str())
        .unwrap();
    assert_eq!(item["result"], "labeled");
    assert_eq!(item["meshed"], true);
    assert_eq!(item["labelsAdded"], json!({"istio-injection": "enabled"}));
    assert_eq!(item["labelsRemoved"], json!({APPMESH_INJECT: "enabled"}));
    assert!(
        item["pods"]["withAppMeshEnvoy"].as_u64().unwrap() >= 1,
        "{item}"
    );

    // The namespace: App Mesh's label gone, Istio's set, mesh labels kept, previous values recorded.
    let after = labels(cluster, &frontend);
    assert_eq!(
        after.get("istio-injection").map(String::as_str),
        Some("enabled")
    );
    assert!(!after.contains_key(APPMESH_INJECT));
    assert_eq!(
        after.get("mesh").map(String::as_str),
        Some(state.mesh.as_str())
    );
    let annotation = namespace(cluster, &frontend)["metadata"]["annotations"][PREVIOUS]
        .as_str()
        .unwrap()
        .to_owned();
    let recorded: Value = serde_json::from_str(&annotation).unwrap();
    assert_eq!(
        recorded,
        json!({APPMESH_INJECT: "enabled", "istio-injection": null})
    );

    // A pod created now gets Istio's sidecar and not App Mesh's.
    let pod = new_pod(cluster, &frontend, &pod_labels);
    let containers = container_names(&pod);
    assert!(
        containers.contains(&"istio-proxy".to_owned()),
        "{containers:?}"
    );
    assert!(!containers.contains(&"envoy".to_owned()), "{containers:?}");
    assert!(
        !containers.contains(&"proxyinit".to_owned()),
        "{containers:?}"
    );

    // Idempotent: a second run changes nothing.
    let again = label_in(dir.path(), kubeconfig, &["-n", &names, "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains(": 2 unchanged"), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains(&format!("namespace/{frontend} unchanged")),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("nothing to change"),
        "{}",
        again.stderr
    );
    assert_eq!(
        undo_files(dir.path()).len(),
        1,
        "the second run writes no undo file"
    );

    // Undo from the file: labels and annotations byte for byte.
    let file = undo_files(dir.path()).remove(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("kubectl appmesh2istio label --undo"),
        "{text}"
    );
    let undo = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(undo.stderr.contains(": 2 to restore"), "{}", undo.stderr);
    let restored: Vec<(Value, Value)> = [&frontend, &catalog]
        .iter()
        .map(|n| metadata_maps(cluster, n))
        .collect();
    assert_eq!(restored, before);
    let pod = new_pod(cluster, &frontend, &pod_labels);
    assert!(
        container_names(&pod).contains(&"envoy".to_owned()),
        "App Mesh injects again"
    );
    let second = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains(": 2 unchanged"), "{}", second.stderr);
    assert!(
        second.stderr.contains("nothing to undo"),
        "{}",
        second.stderr
    );
    assert_eq!(
        [&frontend, &catalog]
            .iter()
            .map(|n| metadata_maps(cluster, n))
            .collect::<Vec<_>>(),
        before
    );
}

#[test]
fn all_meshed_finds_what_app_mesh_selects_and_annotation_undo_restores_it() {
    let Some(cluster) = cluster_or_skip("all_meshed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    let team = cluster.unique_name("team");
    // Meshed by the injector label (with istio-injection=disabled left from an earlier try),
    // meshed by a Mesh's selector only, and not meshed at all.
    let by_label = cluster
        .fresh_namespace_with_labels(
            "bylabel",
            &[
                ("team", &team),
                (APPMESH_INJECT, "enabled"),
                ("istio-injection", "disabled"),
            ],
        )
        .unwrap();
    let mesh_key = cluster.unique_name("meshsel");
    let by_mesh = cluster
        .fresh_namespace_with_labels("bymesh", &[("team", &team), (&mesh_key, "yes")])
        .unwrap();
    let outside = cluster
        .fresh_namespace_with_labels("outside", &[("team", &team)])
        .unwrap();
    let mesh = cluster.unique_name("mesh");
    create(
        cluster,
        &json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": mesh},
            "spec": {"namespaceSelector": {"matchLabels": {mesh_key.clone(): "yes"}}}}),
    );
    let before: Vec<(Value, Value)> = [&by_label, &by_mesh, &outside]
        .iter()
        .map(|n| metadata_maps(cluster, n))
        .collect();
    let selector = format!("team={team}");

    // Client dry run: the plan only.
    let dry = label_in(
        dir.path(),
        kubeconfig,
        &[
            "--all-meshed",
            "-l",
            &selector,
            "--dry-run=client",
            "-o",
            "yaml",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan: Value = serde_saphyr::from_str(&dry.stdout).unwrap();
    let names: Vec<&str> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let mut expected = vec![by_label.as_str(), by_mesh.as_str()];
    expected.sort();
    assert_eq!(names, expected, "{}", dry.stderr);
    assert!(
        dry.stderr
            .contains("istio-injection=disabled is replaced by istio-injection=enabled"),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stderr
            .contains(&format!("namespace/{by_mesh} labeled (dry run)")),
        "{}",
        dry.stderr
    );
    assert_eq!(undo_files(dir.path()).len(), 0);

    let run = label_in(
        dir.path(),
        kubeconfig,
        &["--all-meshed", "-l", &selector, "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        labels(cluster, &by_label).get("istio-injection").unwrap(),
        "enabled"
    );
    assert_eq!(
        labels(cluster, &by_mesh).get("istio-injection").unwrap(),
        "enabled"
    );
    assert_eq!(
        labels(cluster, &by_mesh).get(&mesh_key).unwrap(),
        "yes",
        "the Mesh's label stays"
    );
    assert_eq!(
        metadata_maps(cluster, &outside),
        before[2],
        "not meshed: never touched"
    );

    // A second --all-meshed still finds them (by the annotation) and changes nothing.
    let again = label_in(
        dir.path(),
        kubeconfig,
        &["--all-meshed", "-l", &selector, "--yes"],
    );
    assert!(again.stderr.contains(": 2 unchanged"), "{}", again.stderr);

    // Undo without a file: from the annotations.
    let undo = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", "-l", &selector, "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(undo.stderr.contains(": 2 to restore"), "{}", undo.stderr);
    let restored: Vec<(Value, Value)> = [&by_label, &by_mesh, &outside]
        .iter()
        .map(|n| metadata_maps(cluster, n))
        .collect();
    assert_eq!(restored, before);
    let second = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", "-l", &selector, "--yes"],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("nothing to undo"),
        "{}",
        second.stderr
    );
}

#[test]
fn revision_mode_removes_istio_injection_and_the_revision_injector_takes_the_pods() {
    let Some(cluster) = cluster_or_skip("revision_mode") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    let revision = cluster.unique_name("canary");
    let ns = cluster
        .fresh_namespace_with_labels(
            "rev",
            &[(APPMESH_INJECT, "enabled"), ("istio-injection", "disabled")],
        )
        .unwrap();

    // Not installed yet: refused with the hint, nothing changed.
    let before = metadata_maps(cluster, &ns);
    let refused = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--revision", &revision, "--yes"],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("AMI4020"), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("istioctl install --set revision={revision}")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(metadata_maps(cluster, &ns), before);
    assert!(undo_files(dir.path()).is_empty());

    cluster
        .injectors()
        .unwrap()
        .register_istio_revision(&revision)
        .unwrap();
    let run = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--revision", &revision, "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = labels(cluster, &ns);
    assert_eq!(after.get("istio.io/rev"), Some(&revision));
    assert!(!after.contains_key("istio-injection"), "{after:?}");
    assert!(!after.contains_key(APPMESH_INJECT), "{after:?}");
    let pod = new_pod(cluster, &ns, &json!({"app": "x"}));
    assert!(
        container_names(&pod).contains(&"istio-proxy".to_owned()),
        "{pod}"
    );
    assert_eq!(
        pod["metadata"]["annotations"]["sidecar.istio.io/status"]
            .as_str()
            .map(|s| s.contains(&revision)),
        Some(true),
        "injected by the revision's injector: {pod}"
    );
    assert!(!container_names(&pod).contains(&"envoy".to_owned()));

    // Undo puts istio-injection=disabled back too.
    let file = undo_files(dir.path()).remove(0);
    let undo = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", file.to_str().unwrap(), "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(metadata_maps(cluster, &ns), before);
}

#[test]
fn ambient_mode_needs_ztunnel_and_cni_and_then_pods_get_no_sidecar() {
    let Some(cluster) = cluster_or_skip("ambient_mode") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    // Istio's own namespace for this test only, so other tests never see ambient installed.
    let istio = cluster.fresh_namespace("istio-amb").unwrap();
    let ns = cluster
        .fresh_namespace_with_labels("amb", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let args = [
        "-n",
        ns.as_str(),
        "--dataplane",
        "ambient",
        "--istio-namespace",
        istio.as_str(),
        "--yes",
    ];
    let refused = label_in(dir.path(), kubeconfig, &args);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("AMI4021"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "DaemonSet {istio}/ztunnel and DaemonSet {istio}/istio-cni-node were not found"
        )),
        "{}",
        refused.stderr
    );
    assert!(labels(cluster, &ns).contains_key(APPMESH_INJECT));

    for (name, app) in [("ztunnel", "ztunnel"), ("istio-cni-node", "istio-cni-node")] {
        create(
            cluster,
            &json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": istio},
                "spec": {"selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}},
                        "spec": {"containers": [{"name": app, "image": format!("docker.io/istio/{app}:1.30.3")}]}}}}),
        );
    }
    let run = label_in(dir.path(), kubeconfig, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = labels(cluster, &ns);
    assert_eq!(
        after.get("istio.io/dataplane-mode").map(String::as_str),
        Some("ambient")
    );
    assert!(!after.contains_key("istio-injection"));
    assert!(!after.contains_key(APPMESH_INJECT));
    let pod = new_pod(cluster, &ns, &json!({"app": "x"}));
    let containers = container_names(&pod);
    assert_eq!(
        containers,
        vec!["app".to_owned()],
        "no sidecar of either mesh: {pod}"
    );
}

#[test]
fn missing_injector_is_refused_and_force_labels_anyway() {
    let Some(cluster) = cluster_or_skip("missing_injector") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    let ns = cluster
        .fresh_namespace_with_labels("noinj", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let revision = cluster.unique_name("nowhere");
    let refused = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--revision", &revision, "--yes"],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("every new pod would start with no sidecar"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("plan for"),
        "refused before the plan: {}",
        refused.stderr
    );

    let forced = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--revision", &revision, "--yes", "--force"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("warning: --force: AMI4020"),
        "{}",
        forced.stderr
    );
    assert_eq!(labels(cluster, &ns).get("istio.io/rev"), Some(&revision));
}

#[test]
fn without_a_terminal_and_without_yes_nothing_changes() {
    let Some(cluster) = cluster_or_skip("no_terminal") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = cluster
        .fresh_namespace_with_labels("noyes", &[(APPMESH_INJECT, "enabled")])
        .unwrap();
    let before = metadata_maps(cluster, &ns);
    let run = label_in(dir.path(), cluster.kubeconfig_path(), &["-n", &ns]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("rerun with --yes"), "{}", run.stderr);
    assert!(
        run.stderr.contains(": 1 to label"),
        "the plan was shown: {}",
        run.stderr
    );
    assert_eq!(metadata_maps(cluster, &ns), before);
    assert!(undo_files(dir.path()).is_empty());

    // A server dry run: admitted by the server, nothing stored, no undo file.
    let run = label_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &ns, "--dry-run=server", "--yes", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("namespace/{ns} labeled (server dry run)")),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["dryRun"], "server");
    assert_eq!(run.json()["items"][0]["result"], "labeled");
    assert_eq!(metadata_maps(cluster, &ns), before);
    assert!(undo_files(dir.path()).is_empty());

    // A namespace that does not exist stops the plan, as kubectl label does.
    let missing = cluster.unique_name("absent");
    let run = label_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["-n", &format!("{ns},{missing}"), "--yes"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 namespace(s) not found; nothing was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(metadata_maps(cluster, &ns), before);
}

#[test]
fn remove_mesh_labels_drops_the_selector_labels_warns_about_objects_left_and_undo_restores_them() {
    let Some(cluster) = cluster_or_skip("remove_mesh_labels") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    // Meshed by a Mesh's namespaceSelector and by App Mesh's injector, with one VirtualNode
    // still in it (App Mesh objects stay until cleanup).
    let mesh_key = cluster.unique_name("meshsel");
    let ns = cluster
        .fresh_namespace_with_labels(
            "rmlabels",
            &[(&mesh_key, "yes"), (APPMESH_INJECT, "enabled")],
        )
        .unwrap();
    let mesh = cluster.unique_name("mesh");
    create(
        cluster,
        &json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": mesh},
            "spec": {"namespaceSelector": {"matchLabels": {mesh_key.clone(): "yes"}}}}),
    );
    create(
        cluster,
        &json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": format!("web.{ns}.svc.cluster.local")}}}}),
    );
    let before = metadata_maps(cluster, &ns);

    // Without the flag the Mesh's label is kept (and said so).
    let plan = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--dry-run=client", "-o", "json"],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stderr.contains("AMI4023"), "{}", plan.stderr);

    let run = label_in(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--remove-mesh-labels", "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("AMI4023: 1 App Mesh object(s) remain in this namespace"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&mesh_key), "{}", run.stderr);
    let after = labels(cluster, &ns);
    assert_eq!(
        after.get("istio-injection").map(String::as_str),
        Some("enabled")
    );
    assert!(!after.contains_key(&mesh_key), "{after:?}");
    assert!(!after.contains_key(APPMESH_INJECT), "{after:?}");

    // The undo file gives back both App Mesh labels, byte for byte.
    let files = undo_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let undo = label_in(
        dir.path(),
        kubeconfig,
        &["--undo", files[0].to_str().unwrap(), "--yes"],
    );
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(metadata_maps(cluster, &ns), before);
}
