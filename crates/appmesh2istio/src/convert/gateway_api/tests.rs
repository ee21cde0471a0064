//! The stage on whole inputs: what a kept VirtualService leaves behind, and Services of the
//! input that a per-version Service would collide with.

use crate::convert::{ConvertOptions, Target, convert};
use crate::istio::IstioObject;
use crate::load::{LoadOptions, load_str};
use crate::resolve::resolve;

const CLOUD_MAP: &str =
    include_str!("../../../../../tests/fixtures/convert/gwapi-cloud-map-versions/input.yaml");

fn gateway_api(input: &str) -> (Vec<IstioObject>, Vec<(String, String)>) {
    let inventory = load_str("input.yaml", input, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let opts = ConvertOptions {
        target: Target::GatewayApi,
        ..ConvertOptions::default()
    };
    let conversion = convert(&inventory, &resolved, &opts).unwrap();
    let findings = conversion
        .report
        .sources
        .iter()
        .flat_map(|s| &s.findings)
        .map(|f| (f.code.clone(), f.message.clone()))
        .collect();
    (conversion.objects, findings)
}

fn object_refs(objects: &[IstioObject]) -> Vec<String> {
    objects.iter().map(|o| o.object_ref().to_string()).collect()
}

#[test]
fn the_cloud_map_split_gets_a_service_per_version() {
    let (objects, findings) = gateway_api(CLOUD_MAP);
    let refs = object_refs(&objects);
    for expected in [
        "Service howto-k8s-cloudmap/colorteller-blue",
        "Service howto-k8s-cloudmap/colorteller-red",
        "HTTPRoute howto-k8s-cloudmap/colorteller",
    ] {
        assert!(
            refs.iter().any(|r| r == expected),
            "{expected} missing: {refs:?}"
        );
    }
    assert!(
        !refs.iter().any(|r| r.starts_with("VirtualService ")),
        "{refs:?}"
    );
    assert_eq!(findings.iter().filter(|(c, _)| c == "AMI2509").count(), 3);
}

#[test]
fn a_kept_virtual_service_leaves_no_generated_service_behind() {
    // A second route with a scheme match: the whole VirtualService stays, so the per-version
    // Services its first route asked for must not be written.
    let input = CLOUD_MAP.replace(
        "  routes:\n    - name: color-route\n",
        "  routes:\n    - name: secure\n      httpRoute:\n        match:\n          prefix: /secure\n          scheme: https\n        action:\n          weightedTargets:\n            - virtualNodeRef:\n                name: colorteller-red\n              weight: 1\n    - name: color-route\n",
    );
    assert_ne!(input, CLOUD_MAP);
    let (objects, findings) = gateway_api(&input);
    let refs = object_refs(&objects);
    assert!(
        refs.iter()
            .any(|r| r == "VirtualService howto-k8s-cloudmap/colorteller"),
        "{refs:?}"
    );
    assert!(
        !refs
            .iter()
            .any(|r| r.contains("colorteller-blue") && r.starts_with("Service ")),
        "{refs:?}"
    );
    assert!(
        findings
            .iter()
            .any(|(c, m)| c == "AMI2510" && m.contains("scheme match")),
        "{findings:?}"
    );
}

#[test]
fn an_input_service_of_the_same_name_is_never_overwritten() {
    let other_pods = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: colorteller-blue\n  namespace: howto-k8s-cloudmap\nspec:\n  selector:\n    app: something-else\n  ports:\n    - port: 8080\n";
    let (objects, findings) = gateway_api(&format!("{CLOUD_MAP}\n{other_pods}"));
    let refs = object_refs(&objects);
    assert!(
        !refs
            .iter()
            .any(|r| r == "Service howto-k8s-cloudmap/colorteller-blue"),
        "{refs:?}"
    );
    assert!(
        refs.iter()
            .any(|r| r == "VirtualService howto-k8s-cloudmap/colorteller"),
        "{refs:?}"
    );
    assert!(
        findings
            .iter()
            .any(|(c, m)| c == "AMI2510" && m.contains("selects other pods")),
        "{findings:?}"
    );
    // The same Service selecting exactly the version's pods is used as it is.
    let same_pods =
        other_pods.replace("app: something-else", "app: colorteller\n    version: blue");
    let (objects, _) = gateway_api(&format!("{CLOUD_MAP}\n{same_pods}"));
    let refs = object_refs(&objects);
    assert!(
        !refs
            .iter()
            .any(|r| r == "Service howto-k8s-cloudmap/colorteller-blue"),
        "{refs:?}"
    );
    assert!(
        refs.iter()
            .any(|r| r == "HTTPRoute howto-k8s-cloudmap/colorteller"),
        "{refs:?}"
    );
}
