//! App Mesh input whose literal translation Istio would refuse (issue 16): the converter
//! must report it as a finding on the App Mesh object and leave it out, never print it as
//! valid and never fail with an internal error (exit 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use appmesh2istio::convert::{Conversion, ConvertOptions, convert};
use appmesh2istio::findings::Fidelity;
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use appmesh2istio::validate::validate_all;

fn run(yaml: &str) -> Conversion {
    let inventory = load_str("input.yaml", yaml, &LoadOptions::default()).unwrap();
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &ConvertOptions::default())
        .unwrap_or_else(|e| panic!("conversion must not fail: {e}: {e:?}"));
    // Whatever is generated passes Istio's rules, CRD bounds included.
    assert_eq!(validate_all(&conversion.objects), vec![]);
    conversion
}

fn node_with_labels(labels: usize) -> String {
    let mut selector = String::new();
    for i in 0..labels {
        selector.push_str(&format!("      label-{i}: v{i}\n"));
    }
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: shop
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: shop
spec:
  namespaceSelector:
    matchLabels:
      mesh: shop
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: cart
  namespace: shop
spec:
  podSelector:
    matchLabels:
{selector}  listeners:
    - portMapping:
        port: 8080
        protocol: http
  serviceDiscovery:
    dns:
      hostname: cart.shop.svc.cluster.local
"#
    )
}

fn kinds(c: &Conversion) -> Vec<String> {
    c.objects
        .iter()
        .map(|o| o.object_ref().to_string())
        .collect()
}

fn findings_of(c: &Conversion, code: &str) -> Vec<String> {
    c.report
        .findings()
        .filter(|f| f.code == code)
        .map(|f| format!("{}: {}", f.subject, f.message))
        .collect()
}

#[test]
fn a_sidecar_with_more_labels_than_istio_allows_is_reported_not_printed() {
    let fits = run(&node_with_labels(256));
    assert!(
        kinds(&fits).contains(&"Sidecar shop/cart".to_owned()),
        "{:?}",
        kinds(&fits)
    );
    assert_eq!(findings_of(&fits, "AMI2124"), Vec::<String>::new());

    let too_many = run(&node_with_labels(257));
    assert!(
        !kinds(&too_many).contains(&"Sidecar shop/cart".to_owned()),
        "{:?}",
        kinds(&too_many)
    );
    assert_eq!(
        findings_of(&too_many, "AMI2124"),
        vec![
            "VirtualNode shop/cart: Sidecar shop/cart is not generated: its spec.workloadSelector.labels has 257 entries; Istio's CRD allows at most 256"
                .to_owned()
        ]
    );
    let node = too_many
        .report
        .sources
        .iter()
        .find(|s| s.subject.to_string() == "VirtualNode shop/cart")
        .unwrap();
    assert_eq!(node.fidelity, Fidelity::NotConverted);
}
