//! Flagger canaries move from App Mesh to Istio (issue 13): Flagger's own App Mesh examples
//! (`tests/fixtures/flagger/`, copied from fluxcd/flagger with their source and licence)
//! convert to Canaries with `provider: istio` that pass Flagger's Canary CRD schema
//! (`tests/fixtures/flagger/canary-crd.yaml`), the App Mesh objects Flagger generated are
//! reported as managed by their Canary and not converted, and every App Mesh-only setting is
//! reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;

use appmesh2istio::convert::{Conversion, ConvertOptions, convert};
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use appmesh2istio_tests::schema::IstioSchemas;
use appmesh2istio_tests::workspace_root;
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = workspace_root().join("tests/fixtures/flagger").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(files: &[&str], opts: &ConvertOptions) -> (Conversion, Vec<Value>) {
    let text = files
        .iter()
        .map(|f| fixture(f))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let inventory = load_str("input.yaml", &text, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, opts).unwrap_or_else(|e| panic!("{e:?}"));
    let values = conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    (conversion, values)
}

fn canary_schema() -> IstioSchemas {
    IstioSchemas::load(&workspace_root().join("tests/fixtures/flagger/canary-crd.yaml")).unwrap()
}

/// `code subject field: message` of every finding.
fn findings(conversion: &Conversion) -> Vec<String> {
    conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f.code,
                f.subject,
                f.field.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect()
}

fn with_code<'a>(all: &'a [String], code: &str) -> Vec<&'a String> {
    all.iter().filter(|f| f.starts_with(code)).collect()
}

fn canaries(objects: &[Value]) -> Vec<&Value> {
    objects.iter().filter(|o| o["kind"] == "Canary").collect()
}

/// The input document of `file` with `kind`.
fn input_doc(file: &str, kind: &str) -> Value {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&fixture(file)).unwrap();
    docs.into_iter().find(|d| d["kind"] == kind).unwrap()
}

#[test]
fn flaggers_appmesh_examples_become_valid_istio_canaries() {
    let schema = canary_schema();
    for file in [
        "appmesh-canary.yaml",
        "appmesh-abtest.yaml",
        "tutorial-canary.yaml",
    ] {
        let (conversion, objects) = run(&[file], &ConvertOptions::default());
        let found = canaries(&objects);
        assert_eq!(found.len(), 1, "{file}: {objects:#?}");
        let canary = found[0];
        schema
            .validate(canary)
            .unwrap_or_else(|e| panic!("{file}: the Canary fails Flagger's CRD: {e:?}"));
        let input = input_doc(file, "Canary");
        assert_eq!(canary["spec"]["provider"], "istio", "{file}");
        // Kept exactly: target, autoscaler, analysis (metrics, webhooks, match), match, rewrite.
        for field in [
            "targetRef",
            "autoscalerRef",
            "analysis",
            "progressDeadlineSeconds",
        ] {
            assert_eq!(
                canary["spec"][field], input["spec"][field],
                "{file}: spec.{field}"
            );
        }
        for field in ["port", "match", "rewrite", "timeout"] {
            assert_eq!(
                canary["spec"]["service"][field], input["spec"]["service"][field],
                "{file}: spec.service.{field}"
            );
        }
        assert_eq!(canary["spec"]["service"].get("meshName"), None, "{file}");
        assert_eq!(canary["spec"]["service"].get("backends"), None, "{file}");
        assert_eq!(
            canary["spec"]["service"]["retries"],
            json!({"attempts": 3, "perTryTimeout": "5s",
                   "retryOn": "gateway-error,reset,409,refused-stream"}),
            "{file}: App Mesh's gateway-error,client-error,stream-error in Envoy's words"
        );
        let all = findings(&conversion);
        assert_eq!(with_code(&all, "AMI2700").len(), 1, "{file}: {all:#?}");
        assert_eq!(with_code(&all, "AMI2704").len(), 1, "{file}: {all:#?}");
    }
}

#[test]
fn mesh_name_access_log_and_backends_are_dropped_and_reported() {
    let (conversion, objects) = run(&["appmesh-canary.yaml"], &ConvertOptions::default());
    let all = findings(&conversion);
    assert_eq!(
        with_code(&all, "AMI2701"),
        [
            "AMI2701 Canary test/podinfo spec.service.meshName: dropped: Istio has no mesh name \
          (membership comes from sidecar injection); it was \"global\""
        ]
    );
    assert!(
        canaries(&objects)[0]["spec"]["service"]
            .get("meshName")
            .is_none()
    );

    let (conversion, objects) = run(&["tutorial-canary.yaml"], &ConvertOptions::default());
    let all = findings(&conversion);
    assert_eq!(with_code(&all, "AMI2703").len(), 1, "{all:#?}");
    let canary = canaries(&objects)[0];
    assert_eq!(
        canary["metadata"]["annotations"],
        json!({"appmesh2istio.io/source": "Canary test/podinfo"}),
        "the access-log annotation is gone: {canary:#}"
    );
    // The backends are the egress of the primary and canary pods.
    let sidecars: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Sidecar").collect();
    let summary: Vec<(String, Value, Value)> = sidecars
        .iter()
        .map(|s| {
            (
                s["metadata"]["name"].as_str().unwrap().to_owned(),
                s["spec"]["workloadSelector"]["labels"].clone(),
                s["spec"]["egress"][0]["hosts"].clone(),
            )
        })
        .collect();
    let hosts = json!([
        "*/backend1.test.svc.cluster.local",
        "*/backend2.test.svc.cluster.local",
        "istio-system/*"
    ]);
    assert_eq!(
        summary,
        [
            (
                "podinfo-canary".to_owned(),
                json!({"app": "podinfo"}),
                hosts.clone()
            ),
            (
                "podinfo-primary".to_owned(),
                json!({"app": "podinfo-primary"}),
                hosts
            ),
        ]
    );
    let backends = with_code(&all, "AMI2702");
    assert_eq!(backends.len(), 1);
    assert!(
        backends[0]
            .contains("arn:aws:appmesh:eu-west-1:12345678910:mesh/my-mesh/virtualService/backend2"),
        "{backends:?}"
    );
}

#[test]
fn objects_flagger_generated_are_reported_not_converted() {
    let (conversion, objects) = run(
        &["appmesh-canary.yaml", "appmesh-generated.yaml"],
        &ConvertOptions::default(),
    );
    let all = findings(&conversion);
    let managed: Vec<&String> = with_code(&all, "AMI2705");
    let subjects: Vec<&str> = managed
        .iter()
        .map(|f| {
            f.split(" -: ")
                .next()
                .unwrap()
                .trim_start_matches("AMI2705 ")
        })
        .collect();
    assert_eq!(
        subjects,
        [
            "VirtualNode test/podinfo-canary",
            "VirtualNode test/podinfo-primary",
            "VirtualRouter test/podinfo",
            "VirtualRouter test/podinfo-canary",
            "VirtualService test/podinfo",
            "VirtualService test/podinfo-canary",
        ]
    );
    assert!(
        managed
            .iter()
            .all(|f| f.contains("managed by Flagger Canary test/podinfo"))
    );
    // Nothing generated from them: every object comes from the Canary or the client node.
    for object in &objects {
        let source = object["metadata"]["annotations"]["appmesh2istio.io/source"]
            .as_str()
            .unwrap_or("");
        assert!(
            source == "Canary test/podinfo" || source == "VirtualNode test/frontend",
            "{} {} comes from {source:?}",
            object["kind"],
            object["metadata"]["name"]
        );
    }
    // The client still reaches the service.
    let frontend = objects
        .iter()
        .find(|o| o["kind"] == "Sidecar" && o["metadata"]["name"] == "frontend")
        .unwrap();
    assert!(
        frontend["spec"]["egress"][0]["hosts"]
            .as_array()
            .unwrap()
            .contains(&json!("*/podinfo.test.svc.cluster.local")),
        "{frontend:#}"
    );
    assert_eq!(canaries(&objects).len(), 1);
}

#[test]
fn no_provider_follows_flaggers_mesh_provider() {
    // Flagger's own App Mesh overlay, with a Canary that names no provider.
    let mut canary = input_doc("appmesh-canary.yaml", "Canary");
    canary["spec"].as_object_mut().unwrap().remove("provider");
    let text = serde_saphyr::to_string(&canary).unwrap();
    let convert_with = |extra: &str, opts: &ConvertOptions| {
        let inventory = load_str(
            "in.yaml",
            &format!("{text}\n---\n{extra}"),
            &LoadOptions::default(),
        )
        .unwrap();
        let resolved = resolve(&inventory);
        convert(&inventory, &resolved, opts).unwrap()
    };
    let seen = convert_with(
        &fixture("flagger-deployment.yaml"),
        &ConvertOptions::default(),
    );
    assert_eq!(
        seen.objects.iter().filter(|o| o.kind() == "Canary").count(),
        1
    );
    let all = findings(&seen);
    assert!(
        with_code(&all, "AMI2700")[0]
            .contains("Flagger's -mesh-provider=appmesh on Deployment appmesh-system/flagger"),
        "{all:#?}"
    );
    let unknown = convert_with("", &ConvertOptions::default());
    assert!(unknown.objects.is_empty());
    assert_eq!(with_code(&findings(&unknown), "AMI2707").len(), 1);
    let offline = convert_with(
        "",
        &ConvertOptions {
            flagger_mesh_provider: Some("appmesh".into()),
            ..ConvertOptions::default()
        },
    );
    assert_eq!(offline.objects.len(), 1);
    let istio = convert_with(
        "",
        &ConvertOptions {
            flagger_mesh_provider: Some("istio".into()),
            ..ConvertOptions::default()
        },
    );
    assert!(istio.objects.is_empty());
    assert_eq!(with_code(&findings(&istio), "AMI2710").len(), 1);
}

#[test]
fn metric_templates_and_the_load_tester_are_reported() {
    let template = r#"
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: appmesh-error-rate, namespace: test}
spec:
  provider: {type: prometheus, address: "http://appmesh-prometheus.appmesh-system:9090"}
  query: |
    100 - sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="{{ namespace }}",
      envoy_response_code!~"5.*"}[{{ interval }}])) * 100 /
      sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="{{ namespace }}"}[{{ interval }}]))
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: istio-latency, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus.istio-system:9090"}
  query: histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket[1m])) by (le))
"#;
    let input = format!(
        "{template}\n---\n{}",
        fixture("loadtester-virtualnode.yaml")
    );
    let inventory = load_str("in.yaml", &input, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default()).unwrap();
    let all = findings(&conversion);
    let metrics = with_code(&all, "AMI2706");
    assert_eq!(metrics.len(), 1, "{all:#?}");
    assert!(metrics[0].starts_with("AMI2706 MetricTemplate test/appmesh-error-rate spec.query:"));
    assert!(metrics[0].contains("envoy_cluster_upstream_rq -> istio_requests_total"));
    let tester = with_code(&all, "AMI2709");
    assert_eq!(tester.len(), 1, "{all:#?}");
    assert!(tester[0].contains("VirtualNode test/flagger-loadtester"));
    assert!(tester[0].contains("podinfo, podinfo-canary"));
    assert!(tester[0].contains("appmesh.enabled=false"));
}

#[test]
fn the_crd_check_catches_what_flagger_would_refuse() {
    let schema = canary_schema();
    let (_, objects) = run(&["appmesh-canary.yaml"], &ConvertOptions::default());
    let mut canary = canaries(&objects)[0].clone();
    assert!(schema.validate(&canary).is_ok());
    canary["spec"]["service"]["retries"]["attempts"] = json!("three");
    canary["spec"]["service"]["portz"] = json!(80);
    let errors = schema.validate(&canary).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn an_incomplete_canary_is_not_converted() {
    let mut canary = input_doc("appmesh-canary.yaml", "Canary");
    canary["spec"]["service"]
        .as_object_mut()
        .unwrap()
        .remove("port");
    let inventory = load_str(
        "in.yaml",
        &serde_saphyr::to_string(&canary).unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default()).unwrap();
    assert!(conversion.objects.is_empty());
    let all = findings(&conversion);
    assert_eq!(
        with_code(&all, "AMI2708"),
        [
            "AMI2708 Canary test/podinfo spec.service.port: missing or not a port number; Flagger's CRD \
          requires it, so the Canary is not converted"
        ]
    );
}
