//! `convert --apply` leaves exactly the generated spec (issue 16, items 4 and 10): a takeover
//! with `--force-conflicts` removes the fields other managers set and we do not generate,
//! drift added to an object of ours shows in the plan and is fixed, verification compares the
//! whole spec, and undo gives back the previous object exactly, field ownership included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::*;
use test_cluster::cluster_or_skip;

/// A hand-written VirtualService `cart` with fields convert does not generate (exportTo,
/// an extra gateway, a tcp route), written by two managers: `kubectl apply` and `kubectl patch`.
fn hand_written_cart(cluster: &test_cluster::TestCluster, ns: &str) {
    kubectl(
        cluster,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: cart, namespace: {ns}, labels: {{team: cart}}, annotations: {{owner: team-cart}}}}\n\
             spec:\n  hosts: [cart.example.com]\n  gateways: [mesh, {ns}/legacy-gateway]\n  exportTo: ['.']\n\
             \x20 http: [{{route: [{{destination: {{host: legacy-cart}}}}]}}]\n\
             \x20 tcp: [{{match: [{{port: 9000}}], route: [{{destination: {{host: legacy-cart, port: {{number: 9000}}}}}}]}}]\n"
        )),
    );
    kubectl(
        cluster,
        &[
            "patch",
            "virtualservices.networking.istio.io",
            "cart",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"exportTo":[".","istio-system"]}}"#,
        ],
        None,
    );
}

#[test]
fn a_takeover_leaves_exactly_the_generated_spec_and_undo_gives_everything_back() {
    let Some(cluster) = cluster_or_skip(
        "a_takeover_leaves_exactly_the_generated_spec_and_undo_gives_everything_back",
    ) else {
        return;
    };
    let ns = cluster.fresh_namespace("takeover").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let generated = find(&expected, "VirtualService", "cart").clone();
    hand_written_cart(cluster, &ns);
    let before = get(cluster, &generated).unwrap();
    assert_eq!(
        managers(&before),
        vec!["kubectl-client-side-apply", "kubectl-patch"],
        "two managers own its fields"
    );

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
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for field in ["spec.exportTo", "spec.tcp"] {
        assert!(
            run.stderr.contains(&format!("{field} (not generated")),
            "the plan says {field} goes: {}",
            run.stderr
        );
    }
    let item = run.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "VirtualService")
        .unwrap()
        .clone();
    assert_eq!(item["action"], "update");
    assert_eq!(item["adopt"], true);
    assert_eq!(item["result"], "configured");
    let taken = get(cluster, &generated).unwrap();
    assert_eq!(
        taken["spec"], generated["spec"],
        "exactly the generated spec: no exportTo, no extra gateway, no tcp route"
    );
    assert_eq!(
        taken["metadata"]["labels"]["team"], "cart",
        "their labels stay"
    );
    assert_eq!(taken["metadata"]["labels"][MANAGED_BY], "appmesh2istio");
    let spec_owners: Vec<&str> = taken["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"].get("f:spec").is_some())
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(spec_owners, vec![FIELD_MANAGER], "the whole spec is ours");
    for object in expected.values().filter(|o| key(o) != key(&generated)) {
        // Created by a create-only POST, then owned as by a server-side apply (so that the next
        // apply by the same manager does not conflict with the POST's Update entry).
        let stored = get(cluster, object).unwrap();
        let entries: Vec<(&str, &str)> = stored["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap(),
                    m["operation"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, vec![(FIELD_MANAGER, "Apply")], "{}", key(object));
    }
    assert!(
        run.stderr.contains(&format!(
            "verified: {} object(s) read back as applied",
            expected.len()
        )),
        "{}",
        run.stderr
    );
    // A second apply finds nothing to change.
    let again = convert_in(
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
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["summary"]["unchanged"], expected.len());

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
    let restored = get(cluster, &generated).unwrap();
    assert_eq!(restored["spec"], before["spec"], "every field back");
    assert_eq!(restored["metadata"]["labels"], before["metadata"]["labels"]);
    assert_eq!(
        restored["metadata"]["annotations"],
        before["metadata"]["annotations"]
    );
    assert_eq!(restored["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        managers(&restored),
        managers(&before),
        "appmesh2istio no longer owns anything of it"
    );
    let fields = |o: &Value| -> Vec<Value> {
        o["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| json!([m["manager"], m["operation"], m["fieldsV1"]]))
            .collect()
    };
    assert_eq!(
        fields(&restored),
        fields(&before),
        "each field with its previous manager"
    );
    let run = convert_in(
        dir.path(),
        cluster.kubeconfig_path(),
        &["--undo", undo.to_str().unwrap(), "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("nothing to undo"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualservice.networking.istio.io/cart unchanged\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn drift_in_an_applied_object_shows_in_the_plan_and_apply_puts_back_the_generated_spec() {
    let Some(cluster) = cluster_or_skip(
        "drift_in_an_applied_object_shows_in_the_plan_and_apply_puts_back_the_generated_spec",
    ) else {
        return;
    };
    let ns = cluster.fresh_namespace("drift").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = manifest(dir.path(), "shop.yaml", &ns);
    let expected = expected_objects(dir.path(), cluster.kubeconfig_path(), &file);
    let generated = find(&expected, "VirtualService", "cart").clone();
    let apply = |extra: &[&str]| {
        let mut args = vec![file.to_str().unwrap(), "--apply", "-q"];
        args.splice(0..0, ["-f"]);
        args.extend_from_slice(extra);
        convert_in(dir.path(), cluster.kubeconfig_path(), &args)
    };
    let run = apply(&["--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Someone adds a field we do not generate and changes one we do.
    kubectl(
        cluster,
        &[
            "patch",
            "virtualservices.networking.istio.io",
            "cart",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"exportTo":["."],"hosts":["elsewhere.example.com"]}}"#,
        ],
        None,
    );
    let plan = apply(&["--dry-run=client", "-o", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let document = plan.json();
    let cart = document["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "VirtualService")
        .unwrap()
        .clone();
    assert_eq!(cart["action"], "update", "not unchanged: {cart:#?}");
    assert_eq!(
        cart["details"],
        "spec.exportTo (not generated, set by kubectl-patch: removed), spec.hosts (drift, set by kubectl-patch: put back)"
    );
    assert_eq!(
        cart["drift"],
        json!([{"field": "spec.exportTo", "setBy": ["kubectl-patch"], "generated": false},
               {"field": "spec.hosts", "setBy": ["kubectl-patch"], "generated": true}])
    );
    assert!(
        plan.stderr.contains("WARNINGS") && plan.stderr.contains("drift: changed by kubectl-patch"),
        "the table shows the drift: {}",
        plan.stderr
    );
    assert_eq!(document["summary"]["update"], 1);

    let run = apply(&["--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("virtualservice.networking.istio.io/cart configured\n"),
        "{}",
        run.stderr
    );
    let fixed = get(cluster, &generated).unwrap();
    assert_eq!(fixed["spec"], generated["spec"], "the drift is gone");
    let run = apply(&["--dry-run=client", "-o", "json"]);
    assert_eq!(run.json()["summary"]["unchanged"], expected.len());
}
