//! cleanup against the real test API server (kube-apiserver 1.20, etcd, controller-manager, the
//! App Mesh and Istio injector webhooks, the kubelet stand-in): a whole migrated namespace, the
//! gates, finalizers nothing releases, the backup and --restore, idempotence. Each test works
//! in namespaces (and a Mesh) of its own; cluster-wide effects (webhook configurations, the
//! controller, CRDs) are tested in their own test binaries, each with its own cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::*;
use test_cluster::cluster_or_skip;

/// What a restore must give back: the object as the user wrote it and the webhook completed
/// it (spec, labels, annotations), not what the server adds.
fn essence(object: &Value) -> Value {
    json!({
        "kind": object["kind"],
        "name": object["metadata"]["name"],
        "labels": object["metadata"]["labels"],
        "spec": object["spec"],
    })
}

fn by_name(objects: &[Value]) -> std::collections::BTreeMap<String, Value> {
    objects
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                ),
                essence(o),
            )
        })
        .collect()
}

#[test]
fn a_migrated_namespace_is_cleaned_up_the_shared_mesh_kept_a_second_run_changes_nothing_and_restore_gives_it_back()
 {
    let Some(cluster) = cluster_or_skip("full_cleanup") else {
        return;
    };
    let state = cluster.load_before_state().unwrap();
    let ns = format!("{}-catalog", state.app);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    convert_apply(cluster, dir.path(), &ns, 0);
    label_and_restart(cluster, &ns);
    let before = appmesh_objects(cluster, &ns);
    assert!(before.len() >= 3, "{before:?}");
    let istio_before = get_json(cluster, &["virtualservices.networking.istio.io", "-n", &ns]);

    // precheck calls the App Mesh label left on the migrated namespace a leftover (AMI3611).
    let scope = appmesh2istio::cluster::NamespaceScope::One(ns.clone());
    let findings = precheck_findings(cluster, scope.clone());
    assert!(
        findings.contains(&format!("AMI3611 Namespace {ns}")),
        "{findings:?}"
    );

    let backup = dir.path().join("backup.yaml");
    let run = cleanup(
        dir.path(),
        kubeconfig,
        &[
            "-n",
            &ns,
            "--labels",
            "--yes",
            "--timeout",
            "30s",
            "--undo-file",
            backup.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Every App Mesh object of the namespace is gone, referrers first.
    assert_eq!(appmesh_objects(cluster, &ns), Vec::<Value>::new());
    let document = run.json();
    assert_eq!(document["kind"], "CleanupPlan");
    let deleted: Vec<&str> = document["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "delete")
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), before.len(), "{deleted:?}");
    let position = |kind: &str| deleted.iter().position(|k| *k == kind);
    if let (Some(vs), Some(vn)) = (position("VirtualService"), position("VirtualNode")) {
        assert!(vs < vn, "referrers first: {deleted:?}");
    }
    for item in document["items"].as_array().unwrap() {
        if item["action"] == "delete" {
            assert_eq!(item["result"], "deleted", "{item}");
        }
    }
    // The Mesh is used by the other namespaces of the app: kept, and said why.
    let mesh = get_json(cluster, &["meshes.appmesh.k8s.aws", &state.mesh]);
    assert_eq!(mesh["metadata"]["name"], state.mesh.as_str());
    assert!(run.stderr.contains("AMI4213"), "{}", run.stderr);
    let kept = document["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Mesh")
        .unwrap();
    assert_eq!(kept["action"], "keep");
    // The injector label is gone; the mesh label stays (the kept Mesh still selects by it).
    let namespace = get_json(cluster, &["ns", &ns]);
    let labels = namespace["metadata"]["labels"].as_object().unwrap();
    assert!(
        !labels.contains_key("appmesh.k8s.aws/sidecarInjectorWebhook"),
        "{labels:?}"
    );
    assert_eq!(labels["mesh"], state.mesh.as_str());
    assert_eq!(labels["istio-injection"], "enabled");
    let findings = precheck_findings(cluster, scope);
    assert!(
        !findings.iter().any(|f| f.starts_with("AMI3611 Namespace")),
        "{findings:?}"
    );
    // Istio configuration untouched.
    assert_eq!(
        get_json(cluster, &["virtualservices.networking.istio.io", "-n", &ns])["items"]
            .as_array()
            .unwrap()
            .len(),
        istio_before["items"].as_array().unwrap().len()
    );
    // The backup holds clean, re-appliable objects.
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.contains("kind: VirtualNode"), "{text}");
    assert!(!text.contains("resourceVersion"), "{text}");
    assert!(!text.contains("uid:"), "{text}");

    // A second run finds nothing to do and changes nothing.
    let again = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--labels", "--yes", "-o", "json"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to clean up"),
        "{}",
        again.stderr
    );
    let summary = &again.json()["summary"];
    assert_eq!(summary["delete"], 0, "{summary}");
    assert_eq!(summary["unlabel"], 0, "{summary}");
    assert!(
        !dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("appmesh2istio-cleanup-backup")),
        "a run without writes writes no backup"
    );

    // --restore gives back equal objects and the label.
    let restored = cleanup(
        dir.path(),
        kubeconfig,
        &["--restore", backup.to_str().unwrap(), "--yes"],
    );
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert!(
        restored.stderr.contains("not re-created by --restore"),
        "{}",
        restored.stderr
    );
    assert_eq!(by_name(&appmesh_objects(cluster, &ns)), by_name(&before));
    let namespace = get_json(cluster, &["ns", &ns]);
    assert_eq!(
        namespace["metadata"]["labels"]["appmesh.k8s.aws/sidecarInjectorWebhook"],
        "disabled"
    );
    // And restoring again changes nothing.
    let twice = cleanup(
        dir.path(),
        kubeconfig,
        &["--restore", backup.to_str().unwrap(), "--yes"],
    );
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    assert!(
        twice.stderr.contains("nothing to restore"),
        "{}",
        twice.stderr
    );
}

#[test]
fn the_gates_block_while_an_envoy_pod_remains_and_force_says_so() {
    let Some(cluster) = cluster_or_skip("gates_block") else {
        return;
    };
    let state = cluster.load_before_state().unwrap();
    let ns = format!("{}-payments", state.app);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    // The example's payments namespace holds the VirtualNode whose caller check convert cannot
    // carry (AMI2209): the rest is applied, exit code 3 (partial).
    convert_apply(cluster, dir.path(), &ns, appmesh2istio::exit::PARTIAL);
    let before = appmesh_objects(cluster, &ns);

    let run = cleanup(dir.path(), kubeconfig, &["-n", &ns, "--yes", "-o", "json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("AMI4201"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("kubectl appmesh2istio rollout -n {ns}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AMI4203"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("kubectl appmesh2istio label -n {ns}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    let gates = run.json()["gates"].as_array().unwrap().clone();
    assert!(
        gates
            .iter()
            .any(|g| g["code"] == "AMI4201" && g["subject"]["kind"] == "Pod"),
        "{gates:?}"
    );
    assert_eq!(
        appmesh_objects(cluster, &ns).len(),
        before.len(),
        "nothing deleted"
    );

    // --force skips them, loudly, and (here, a client dry run) still changes nothing.
    let forced = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--force", "--dry-run=client"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("AMI4205"), "{}", forced.stderr);
    assert!(forced.stderr.contains("SKIPPED"), "{}", forced.stderr);
    assert!(
        forced.stderr.contains("deleted (dry run)"),
        "{}",
        forced.stderr
    );
    assert_eq!(appmesh_objects(cluster, &ns).len(), before.len());

    // Without a terminal and without --yes: refused, nothing changed.
    let refused = cleanup(dir.path(), kubeconfig, &["-n", &ns, "--force"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(appmesh_objects(cluster, &ns).len(), before.len());
}

/// A namespace of its own with a Mesh of its own, labelled for Istio, holding one VirtualNode
/// with App Mesh's finalizer and another one, and an ARN in its status.
fn finalizer_fixture(cluster: &test_cluster::TestCluster) -> (String, String) {
    let mesh = cluster.unique_name("fin-mesh");
    let ns = cluster
        .fresh_namespace_with_labels("fin", &[("mesh", &mesh), ("istio-injection", "enabled")])
        .unwrap();
    apply(
        cluster,
        &format!(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: {mesh}\nspec:\n  namespaceSelector:\n    matchLabels:\n      mesh: {mesh}\n"
        ),
    );
    apply(
        cluster,
        &format!(
            "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata:\n  name: stuck\n  namespace: {ns}\n  finalizers:\n  - finalizers.appmesh.k8s.aws/aws-appmesh-resources\n  - example.com/keep-me\nspec: {{}}\n"
        ),
    );
    let arn = format!("arn:aws:appmesh:eu-west-1:111122223333:mesh/{mesh}/virtualNode/stuck_{ns}");
    patch_status(
        cluster,
        "virtualnodes",
        "VirtualNode",
        &ns,
        "stuck",
        json!({"virtualNodeARN": arn}),
    );
    (ns, mesh)
}

#[test]
fn app_mesh_finalizers_hang_and_remove_finalizers_releases_only_them_and_lists_the_arns() {
    let Some(cluster) = cluster_or_skip("finalizers") else {
        return;
    };
    let (ns, _mesh) = finalizer_fixture(cluster);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();

    // No controller releases the finalizer: the object hangs, and is listed with its finalizers.
    let run = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--yes", "--timeout", "2s"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("AMI4210"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("finalizers.appmesh.k8s.aws/aws-appmesh-resources, example.com/keep-me"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--remove-finalizers"), "{}", run.stderr);
    let stuck = get_json(
        cluster,
        &["virtualnodes.appmesh.k8s.aws", "stuck", "-n", &ns],
    );
    assert!(stuck["metadata"]["deletionTimestamp"].is_string());

    // --remove-finalizers: only App Mesh's goes; ours stays; the ARN is listed and scripted.
    let script = dir.path().join("aws.sh");
    let run = cleanup(
        dir.path(),
        kubeconfig,
        &[
            "-n",
            &ns,
            "--yes",
            "--timeout",
            "2s",
            "--remove-finalizers",
            "--aws-script",
            script.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    let stuck = get_json(
        cluster,
        &["virtualnodes.appmesh.k8s.aws", "stuck", "-n", &ns],
    );
    assert_eq!(
        stuck["metadata"]["finalizers"],
        json!(["example.com/keep-me"])
    );
    assert!(run.stderr.contains("AMI4211"), "{}", run.stderr);
    let arn_part = format!("virtualNode/stuck_{ns}");
    assert!(run.stderr.contains(&arn_part), "{}", run.stderr);
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("aws appmesh delete-virtual-node --region 'eu-west-1'"),
        "{text}"
    );
    assert!(
        text.contains(&format!("--virtual-node-name 'stuck_{ns}'")),
        "{text}"
    );
    assert!(
        !run.stderr.contains("deleted in AWS"),
        "never claims AWS deletions"
    );
    // It is still terminating (our finalizer), so the run says so.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.json()["finalizersRemoved"],
        json!([format!("VirtualNode {ns}/stuck")])
    );

    // Its owner releases the other finalizer: gone; a further run has nothing to do.
    kubectl(
        cluster,
        &[
            "patch",
            "virtualnodes.appmesh.k8s.aws",
            "stuck",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    let again = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--yes", "--timeout", "5s"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(appmesh_objects(cluster, &ns), Vec::<Value>::new());
}

#[test]
fn template_annotations_are_left_without_restart_and_removed_with_it() {
    let Some(cluster) = cluster_or_skip("labels_restart") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path();
    let (ns, _mesh) = small_migrated(cluster, dir.path(), "restart", 1);
    // A workload on Istio whose pod template still carries an App Mesh annotation.
    apply(
        cluster,
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-0\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web-0\n  template:\n    metadata:\n      labels:\n        app: web-0\n      annotations:\n        appmesh.k8s.aws/cpuRequest: 50m\n        team.example.com/owner: shop\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/web:1\n"
        ),
    );
    kubectl(
        cluster,
        &[
            "rollout",
            "status",
            "deployment/web-0",
            "-n",
            &ns,
            "--timeout",
            "120s",
        ],
    );
    let generation =
        |c| get_json(c, &["deployment", "web-0", "-n", &ns])["metadata"]["generation"].clone();
    let before = generation(cluster);

    // --labels alone: the annotation is listed (AMI4214) and left, the pods are not restarted.
    let run = cleanup(dir.path(), kubeconfig, &["-n", &ns, "--labels", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("AMI4214")
            && run
                .stderr
                .contains("appmesh.k8s.aws/cpuRequest left in its pod template"),
        "{}",
        run.stderr
    );
    let d = get_json(cluster, &["deployment", "web-0", "-n", &ns]);
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["appmesh.k8s.aws/cpuRequest"],
        "50m"
    );
    assert_eq!(generation(cluster), before);

    // With --restart: only App Mesh's key goes, the others stay, and the pods roll.
    let run = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--labels", "--restart", "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = get_json(cluster, &["deployment", "web-0", "-n", &ns]);
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    assert!(
        annotations.get("appmesh.k8s.aws/cpuRequest").is_none(),
        "{annotations}"
    );
    assert_eq!(annotations["team.example.com/owner"], "shop");
    assert_ne!(
        generation(cluster),
        before,
        "a template change rolls the pods"
    );

    // Nothing left: a second run changes nothing.
    let again = cleanup(
        dir.path(),
        kubeconfig,
        &["-n", &ns, "--labels", "--restart", "--yes"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to clean up"),
        "{}",
        again.stderr
    );
}
