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

/// Routes whose conditions or rewrites hold control characters (YAML escapes), next to
/// one whose header value holds a TAB (allowed in HTTP field values).
const CONTROL_CHARACTERS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: shop
    gateway: ingress
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
      app: cart
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  serviceDiscovery:
    dns:
      hostname: cart.shop.svc.cluster.local
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: cart
  namespace: shop
spec:
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  routes:
    - name: nul-header
      httpRoute:
        match:
          prefix: /
          headers:
            - name: x-user
              match:
                exact: "a\0b"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
    - name: lf-prefix
      httpRoute:
        match:
          prefix: "/a\nb"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
    - name: soh-path
      httpRoute:
        match:
          path:
            exact: "/x\x01"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
    - name: del-query
      httpRoute:
        match:
          prefix: /q
          queryParameters:
            - name: v
              match:
                exact: "1\x7f"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
    - name: cr-suffix
      httpRoute:
        match:
          prefix: /s
          headers:
            - name: x-s
              match:
                suffix: "\r"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
    - name: tab-header
      httpRoute:
        match:
          prefix: /t
          headers:
            - name: x-t
              match:
                prefix: "a\tb"
        action: {weightedTargets: [{virtualNodeRef: {name: cart}, weight: 1}]}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: cart
  namespace: shop
spec:
  awsName: cart.shop.svc.cluster.local
  provider:
    virtualRouter:
      virtualRouterRef:
        name: cart
---
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    app: cart
  ports:
    - name: http
      port: 8080
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualGateway
metadata:
  name: ingress
  namespace: shop
spec:
  namespaceSelector:
    matchLabels:
      gateway: ingress
  podSelector:
    matchLabels:
      app: ingress
  listeners:
    - portMapping:
        port: 8088
        protocol: http
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: nul-rewrite
  namespace: shop
spec:
  httpRoute:
    match:
      prefix: /cart/
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: cart
      rewrite:
        prefix:
          value: "/api\0/"
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: plain
  namespace: shop
spec:
  httpRoute:
    match:
      prefix: /shop/
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: cart
"#;

#[test]
fn control_characters_in_conditions_and_rewrites_are_reported_not_printed() {
    let c = run(CONTROL_CHARACTERS);
    let yaml = appmesh2istio::render::to_yaml_stream(&c.objects).unwrap();
    for route in [
        "nul-header",
        "lf-prefix",
        "soh-path",
        "del-query",
        "cr-suffix",
        "nul-rewrite",
    ] {
        assert!(
            !yaml.contains(&format!("name: {route}\n")),
            "{route} must not be generated:\n{yaml}"
        );
    }
    assert!(yaml.contains("name: tab-header\n"), "{yaml}");
    assert!(yaml.contains("name: plain\n"), "{yaml}");
    assert!(
        !yaml.contains("\\0") && !yaml.contains("\\x01") && !yaml.contains("\\r"),
        "{yaml}"
    );
    let mut fields: Vec<String> = c
        .report
        .findings()
        .filter(|f| f.message.contains("control character"))
        .map(|f| {
            format!(
                "{} {} {}",
                f.code,
                f.subject,
                f.field.as_deref().unwrap_or("-")
            )
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "AMI2102 VirtualRouter shop/cart spec.routes[0].httpRoute.match.headers[0].match.exact",
            "AMI2102 VirtualRouter shop/cart spec.routes[1].httpRoute.match.prefix",
            "AMI2102 VirtualRouter shop/cart spec.routes[2].httpRoute.match.path.exact",
            "AMI2102 VirtualRouter shop/cart spec.routes[3].httpRoute.match.queryParameters[0].match.exact",
            "AMI2102 VirtualRouter shop/cart spec.routes[4].httpRoute.match.headers[0].match.suffix",
            "AMI2320 GatewayRoute shop/nul-rewrite spec.httpRoute",
        ]
    );
}

/// Found by the loader fuzz target (crates/fuzz/regressions/fuzz_loader/gateway-route-to-invalid-aws-name.yaml):
/// a GatewayRoute to a VirtualService whose awsName is no DNS name routed to that name, and
/// the converter failed with an internal error (exit 4). The route is now not converted,
/// like the VirtualService itself, and the rest of the input is.
#[test]
fn a_gateway_route_to_a_service_whose_host_is_no_dns_name_is_reported_not_printed() {
    let yaml = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    mesh: shop
    gateway: ingress
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
kind: VirtualGateway
metadata:
  name: ingress
  namespace: shop
spec:
  namespaceSelector:
    matchLabels:
      gateway: ingress
  podSelector:
    matchLabels:
      app: ingress
  listeners:
    - portMapping:
        port: 8080
        protocol: http
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: GatewayRoute
metadata:
  name: to-cart
  namespace: shop
spec:
  httpRoute:
    match:
      prefix: /
    action:
      target:
        virtualService:
          virtualServiceRef:
            name: cart
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: cart
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: cart
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  serviceDiscovery:
    dns:
      hostname: cart.shop.svc.cluster.local
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata:
  name: cart
  namespace: shop
spec:
  awsName: "ca`rt.shop.svc.cluster.local"
  provider:
    virtualNode:
      virtualNodeRef:
        name: cart
"#;
    let c = run(yaml);
    let route = c
        .report
        .sources
        .iter()
        .find(|s| s.subject.to_string() == "GatewayRoute shop/to-cart")
        .unwrap();
    assert_eq!(route.fidelity, Fidelity::NotConverted);
    let why = findings_of(&c, "AMI2320");
    assert!(
        why.iter()
            .any(|f| f.starts_with("GatewayRoute shop/to-cart")
                && f.contains("\"ca`rt.shop.svc.cluster.local\", which cannot be an Istio host")),
        "{why:#?}"
    );
    // The node is still converted.
    assert!(
        kinds(&c).contains(&"Sidecar shop/cart".to_owned()),
        "{:?}",
        kinds(&c)
    );
}
