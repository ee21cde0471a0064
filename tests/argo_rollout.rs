//! Argo Rollouts canaries split by App Mesh move to Istio's host-level splitting (issue 13):
//! Argo's own App Mesh example (`tests/fixtures/argo/`, copied from argoproj/argo-rollouts
//! with its source and licence) converts to a Rollout whose `trafficRouting.istio` names the
//! generated VirtualService and routes that exist in it, with the canary and stable Services
//! that route's destinations are, and the nodes Argo managed lose the run-time hash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;

use appmesh2istio::convert::{Conversion, ConvertOptions, convert};
use appmesh2istio::findings::Fidelity;
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use appmesh2istio_tests::workspace_root;
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = workspace_root().join("tests/fixtures/argo").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(rollout: &str) -> (Conversion, Vec<Value>) {
    let text = format!("{}\n---\n{rollout}", fixture("canary-service.yaml"));
    let inventory = load_str("input.yaml", &text, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default()).unwrap();
    let values = conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    (conversion, values)
}

fn codes(conversion: &Conversion) -> Vec<String> {
    conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.code.starts_with("AMI27"))
        .map(|f| format!("{} {}", f.code, f.subject))
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

#[test]
fn argos_appmesh_example_routes_through_the_generated_virtual_service() {
    let (conversion, objects) = run(&fixture("canary-rollout.yaml"));
    assert_eq!(conversion.report.worst_fidelity(), Fidelity::Exact);
    let rollout = find(&objects, "Rollout", "my-rollout");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["trafficRouting"].get("appMesh"), None);
    assert_eq!(
        canary["trafficRouting"]["istio"],
        json!({"virtualService": {"name": "my-svc", "routes": ["primary"]}})
    );
    assert_eq!(canary["canaryService"], "my-svc-canary");
    assert_eq!(canary["stableService"], "my-svc-stable");
    // Everything else of the Rollout is as written.
    let docs: Vec<Value> = serde_saphyr::from_multiple(&fixture("canary-rollout.yaml")).unwrap();
    let input = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
    for field in ["replicas", "selector", "template"] {
        assert_eq!(rollout["spec"][field], input["spec"][field], "spec.{field}");
    }
    assert_eq!(
        canary["steps"],
        input["spec"]["strategy"]["canary"]["steps"]
    );

    // The route names the Rollout gives are those of the VirtualService, and each route sends
    // to both Services (Argo compares the first DNS label of the hosts).
    let vs = find(&objects, "VirtualService", "my-svc");
    let names: Vec<&str> = vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for route in canary["trafficRouting"]["istio"]["virtualService"]["routes"]
        .as_array()
        .unwrap()
    {
        assert!(
            names.contains(&route.as_str().unwrap()),
            "{route} in {names:?}"
        );
    }
    let hosts: Vec<&str> = vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["destination"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        [
            "my-svc-canary.argo-examples.svc.cluster.local",
            "my-svc-stable.argo-examples.svc.cluster.local"
        ]
    );

    // The nodes Argo managed: no run-time hash; one set of pod-side objects for the pods.
    let sidecar = find(&objects, "Sidecar", "my-vn-canary");
    assert_eq!(
        sidecar["spec"]["workloadSelector"]["labels"],
        json!({"app": "my-app"})
    );
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "Sidecar" && o["metadata"]["name"] == "my-vn-stable"),
        "one Sidecar per pod"
    );
    assert_eq!(
        codes(&conversion),
        [
            "AMI2720 Rollout argo-examples/my-rollout",
            "AMI2721 VirtualNode argo-examples/my-vn-canary",
            "AMI2721 VirtualNode argo-examples/my-vn-stable",
            "AMI2725 VirtualNode argo-examples/my-vn-stable",
            "AMI2723 VirtualRouter argo-examples/my-vrouter",
        ]
    );
}

#[test]
fn services_come_from_the_nodes_dns_names_when_the_rollout_names_none() {
    let text = fixture("canary-rollout.yaml")
        .replace("      canaryService: my-svc-canary\n", "")
        .replace("      stableService: my-svc-stable\n", "");
    assert!(!text.contains("canaryService"));
    let (_, objects) = run(&text);
    let canary = &find(&objects, "Rollout", "my-rollout")["spec"]["strategy"]["canary"];
    assert_eq!(canary["canaryService"], "my-svc-canary");
    assert_eq!(canary["stableService"], "my-svc-stable");
}

#[test]
fn a_route_the_virtual_service_lacks_is_not_converted() {
    let text = fixture("canary-rollout.yaml").replace(
        "            name: my-svc\n",
        "            name: my-svc\n            routes: [secondary]\n",
    );
    let (conversion, objects) = run(&text);
    assert!(!objects.iter().any(|o| o["kind"] == "Rollout"));
    assert_eq!(conversion.report.worst_fidelity(), Fidelity::NotConverted);
    let message = conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .find(|f| f.code == "AMI2722")
        .map(|f| f.message.clone())
        .unwrap();
    assert_eq!(
        message,
        "route secondary is not an HTTP route of VirtualService my-svc (routes: primary)"
    );
}

#[test]
fn a_rollout_app_mesh_does_not_split_is_left_alone() {
    let text = fixture("canary-rollout.yaml").replace("        appMesh:", "        nginx:");
    let (conversion, objects) = run(&text);
    assert!(!objects.iter().any(|o| o["kind"] == "Rollout"));
    assert!(codes(&conversion).contains(&"AMI2724 Rollout argo-examples/my-rollout".to_owned()));
}

#[test]
fn two_nodes_on_one_service_get_a_canary_and_a_stable_copy() {
    // The example with both nodes named by the one Service my-svc, and without the copies.
    let services: Vec<String> = fixture("canary-service.yaml")
        .replace(
            "hostname: my-svc-canary.argo-examples",
            "hostname: my-svc.argo-examples",
        )
        .replace(
            "hostname: my-svc-stable.argo-examples",
            "hostname: my-svc.argo-examples",
        )
        .split("\n---\n")
        .filter(|d| !d.contains("name: my-svc-canary\n") && !d.contains("name: my-svc-stable\n"))
        .map(str::to_owned)
        .collect();
    let rollout = fixture("canary-rollout.yaml")
        .replace("      canaryService: my-svc-canary\n", "")
        .replace("      stableService: my-svc-stable\n", "");
    let text = format!("{}\n---\n{rollout}", services.join("\n---\n"));
    let inventory = load_str("input.yaml", &text, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default()).unwrap();
    assert_eq!(conversion.report.worst_fidelity(), Fidelity::Exact);
    let objects: Vec<Value> = conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    for (name, weight) in [("my-svc-canary", 0), ("my-svc-stable", 100)] {
        let service = find(&objects, "Service", name);
        assert_eq!(service["apiVersion"], "v1");
        assert_eq!(
            service["spec"],
            json!({"ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                   "selector": {"app": "my-app"}})
        );
        let route = &find(&objects, "VirtualService", "my-svc")["spec"]["http"][0];
        assert_eq!(route["name"], "primary");
        assert!(
            route["route"].as_array().unwrap().contains(
                &json!({"destination": {"host": format!("{name}.argo-examples.svc.cluster.local")},
                                  "weight": weight})
            ),
            "{route:#}"
        );
    }
    let canary = &find(&objects, "Rollout", "my-rollout")["spec"]["strategy"]["canary"];
    assert_eq!(canary["canaryService"], "my-svc-canary");
    assert_eq!(canary["stableService"], "my-svc-stable");
    assert!(codes(&conversion).contains(&"AMI2726 Rollout argo-examples/my-rollout".to_owned()));
}
