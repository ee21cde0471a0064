//! The App Mesh controller's tracing moves to Istio (issue 13): from a controller Deployment
//! fixture (`tests/fixtures/tracing/`), or `--tracing` offline, `convert --install` defines
//! the matching `meshConfig.extensionProviders` entry in the IstioOperator and a mesh-wide
//! Telemetry with App Mesh's sampling; without `--install` it is only reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;

use appmesh2istio::convert::tracing::TracingBackend;
use appmesh2istio::convert::{Conversion, ConvertOptions, convert};
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use appmesh2istio_tests::workspace_root;
use serde_json::{Value, json};

const MESH: &str = "apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: shop}
spec:
  namespaceSelector: {matchLabels: {mesh: shop}}
  egressFilter: {type: ALLOW_ALL}
";

fn controller() -> String {
    let path = workspace_root().join("tests/fixtures/tracing/appmesh-controller-jaeger.yaml");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(extra: &str, opts: &ConvertOptions) -> (Conversion, Vec<Value>) {
    let text = format!("{MESH}---\n{extra}");
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

fn install() -> ConvertOptions {
    ConvertOptions {
        install: true,
        ..ConvertOptions::default()
    }
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn codes(conversion: &Conversion) -> Vec<String> {
    conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.code.starts_with("AMI273"))
        .map(|f| format!("{} {}", f.code, f.subject))
        .collect()
}

#[test]
fn jaeger_from_the_controller_deployment_lands_in_mesh_config_and_a_telemetry() {
    let (conversion, objects) = run(&controller(), &install());
    let operator = of_kind(&objects, "IstioOperator");
    assert_eq!(operator.len(), 1);
    assert_eq!(
        operator[0]["spec"]["meshConfig"]["extensionProviders"],
        json!([{"name": "appmesh-jaeger",
                "zipkin": {"service": "appmesh-jaeger.appmesh-system.svc.cluster.local", "port": 9411}}])
    );
    let telemetry = of_kind(&objects, "Telemetry");
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0]["metadata"]["namespace"], "istio-system");
    assert_eq!(
        telemetry[0]["spec"],
        json!({"tracing": [{"providers": [{"name": "appmesh-jaeger"}], "randomSamplingPercentage": 100}]})
    );
    assert_eq!(
        codes(&conversion),
        ["AMI2730 Deployment appmesh-system/appmesh-controller"]
    );
}

#[test]
fn xray_goes_through_an_opentelemetry_collector_with_its_sampling_rate() {
    let xray = controller()
        .replace("--enable-jaeger-tracing=true", "--enable-xray-tracing=true")
        .replace("--jaeger-port=9411", "--xray-sampling-rate=0.1");
    let (conversion, objects) = run(&xray, &install());
    let provider =
        &of_kind(&objects, "IstioOperator")[0]["spec"]["meshConfig"]["extensionProviders"][0];
    assert_eq!(
        provider,
        &json!({"name": "appmesh-xray",
                "opentelemetry": {"service": "aws-otel-collector.istio-system.svc.cluster.local", "port": 4317}})
    );
    assert_eq!(
        of_kind(&objects, "Telemetry")[0]["spec"]["tracing"][0]["randomSamplingPercentage"],
        json!(10.0)
    );
    assert_eq!(
        codes(&conversion),
        [
            // Warnings first in the report.
            "AMI2731 Deployment appmesh-system/appmesh-controller",
            "AMI2730 Deployment appmesh-system/appmesh-controller"
        ]
    );
}

#[test]
fn offline_the_tracing_option_gives_the_same_and_without_install_it_is_reported() {
    let datadog = ConvertOptions {
        tracing: Some(TracingBackend::Datadog),
        ..install()
    };
    let (_, objects) = run("", &datadog);
    assert_eq!(
        of_kind(&objects, "IstioOperator")[0]["spec"]["meshConfig"]["extensionProviders"],
        json!([{"name": "appmesh-datadog",
                "datadog": {"service": "datadog.appmesh-system.svc.cluster.local", "port": 8126}}])
    );
    assert_eq!(of_kind(&objects, "Telemetry").len(), 1);

    let (conversion, objects) = run(&controller(), &ConvertOptions::default());
    assert!(of_kind(&objects, "Telemetry").is_empty());
    assert!(of_kind(&objects, "IstioOperator").is_empty());
    assert_eq!(
        codes(&conversion),
        ["AMI2732 Deployment appmesh-system/appmesh-controller"]
    );
}

#[test]
fn statsd_and_stats_tags_are_reported() {
    let stats = controller().replace(
        "--enable-stats-tags=false",
        "--enable-stats-tags=true\n        - --enable-statsd=true\n        - --statsd-address=datadog.monitoring",
    );
    let (conversion, _) = run(&stats, &install());
    let messages: Vec<&str> = conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.code == "AMI2733")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].starts_with(
            "--enable-statsd: Envoy sent DogStatsD metrics to datadog.monitoring:8125"
        )
    );
    assert!(messages[1].starts_with("--enable-stats-tags:"));
    // The fixture as rendered (stats tags off, no StatsD) has nothing to report.
    let (conversion, _) = run(&controller(), &install());
    assert!(
        !conversion
            .report
            .sources
            .iter()
            .flat_map(|s| &s.findings)
            .any(|f| f.code == "AMI2733")
    );
}
