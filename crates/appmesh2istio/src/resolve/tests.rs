use super::*;
use crate::load::{LoadOptions, load_str};

fn inventory(yaml: &str) -> Inventory {
    let inv = load_str("test.yaml", yaml, &LoadOptions::default()).unwrap();
    assert!(
        inv.findings.is_empty(),
        "input findings: {:?}",
        inv.findings
    );
    inv
}

/// `(code, subject, field)` of every finding, in order.
fn codes(r: &Resolved<'_>) -> Vec<(String, String, Option<String>)> {
    r.findings
        .iter()
        .map(|f| (f.code.clone(), f.subject.to_string(), f.field.clone()))
        .collect()
}

fn code_list<'r>(r: &'r Resolved<'_>) -> Vec<&'r str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

fn key(ns: &str, name: &str) -> NsName {
    NsName::new(ns, name)
}

fn namespace(name: &str, labels: &str) -> String {
    format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {labels}\n")
}

fn mesh(name: &str, selector: &str) -> String {
    format!(
        "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: {name}\nspec:\n  {selector}\n"
    )
}

fn object(kind: &str, ns: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec: {spec}\n"
    )
}

#[test]
fn aws_name_defaults_follow_the_webhook() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualNode", "ns", "vn", "{}"),
        object("VirtualService", "ns", "vs", "{provider: {virtualNode: {virtualNodeRef: {name: vn}}}}"),
        object("VirtualRouter", "ns", "vr", "{}"),
        object("VirtualGateway", "ns", "vg", "{namespaceSelector: {}}"),
        object("GatewayRoute", "ns", "gr", "{httpRoute: {match: {prefix: /}, action: {target: {virtualService: {virtualServiceRef: {name: vs}}}}}}"),
        object("VirtualService", "ns", "named", "{awsName: named.example.com, provider: {virtualNode: {virtualNodeRef: {name: vn}}}}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.meshes["m"].aws_name, "m");
    assert_eq!(r.virtual_nodes[&key("ns", "vn")].aws_name, "vn_ns");
    assert_eq!(r.virtual_services[&key("ns", "vs")].aws_name, "vs.ns");
    assert_eq!(r.virtual_services[&key("ns", "vs")].host(), "vs.ns");
    assert_eq!(r.virtual_routers[&key("ns", "vr")].aws_name, "vr_ns");
    assert_eq!(r.virtual_gateways[&key("ns", "vg")].aws_name, "vg_ns");
    assert_eq!(r.gateway_routes[&key("ns", "gr")].aws_name, "gr_ns");
    assert_eq!(
        r.virtual_services[&key("ns", "named")].aws_name,
        "named.example.com"
    );
    assert_eq!(
        r.aws_name(&ObjectRef::new("VirtualNode", Some("ns"), "vn")),
        Some("vn_ns")
    );
    assert_eq!(r.aws_name(&ObjectRef::new("Mesh", None, "m")), Some("m"));
    assert_eq!(
        r.virtual_service_by_host("named.example.com")
            .map(|v| v.common.key.name.as_str()),
        Some("named")
    );
    let explicit = inventory(&mesh("m2", "awsName: aws-m2"));
    assert_eq!(resolve(&explicit).meshes["m2"].aws_name, "aws-m2");
}

#[test]
fn membership_exactly_one_mesh() {
    let yaml = [
        namespace("ns", "{mesh: a}"),
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        mesh("b", "namespaceSelector: {matchLabels: {mesh: b}}"),
        object("VirtualNode", "ns", "vn", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let vn = &r.virtual_nodes[&key("ns", "vn")];
    assert_eq!(vn.common.mesh.as_deref(), Some("a"));
    assert_eq!(vn.common.mesh_source, Some(MeshSource::NamespaceLabels));
    assert_eq!(
        r.mesh_of(&ObjectRef::new("VirtualNode", Some("ns"), "vn")),
        Some("a")
    );
    assert!(r.meshes["a"].namespaces.contains("ns"));
    assert_eq!(r.namespace_mesh["ns"].as_deref(), Some("a"));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn membership_no_matching_mesh_is_an_error() {
    let yaml = [
        namespace("ns", "{other: x}"),
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        mesh("nil", "awsName: nil-selector"),
        object("VirtualNode", "ns", "vn", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.virtual_nodes[&key("ns", "vn")].common.mesh, None);
    assert_eq!(
        codes(&r),
        vec![("AMI1101".into(), "VirtualNode ns/vn".into(), None)]
    );
}

#[test]
fn membership_two_matching_meshes_is_an_error() {
    let yaml = [
        namespace("ns", "{mesh: a, env: prod}"),
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        mesh("all", "namespaceSelector: {}"),
        mesh(
            "prod",
            "namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}",
        ),
        object("VirtualService", "ns", "vs", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.virtual_services[&key("ns", "vs")].common.mesh, None);
    assert_eq!(code_list(&r), vec!["AMI1102", "AMI1114"]);
    assert!(
        r.findings[0].message.contains("a, all, prod"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn membership_assumed_when_namespace_is_absent_and_one_mesh_could_select_it() {
    let yaml = [
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        mesh("nil", "awsName: x"),
        object("VirtualNode", "ns", "one", "{}"),
        object("VirtualNode", "ns", "two", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    for name in ["one", "two"] {
        let vn = &r.virtual_nodes[&key("ns", name)];
        assert_eq!(vn.common.mesh.as_deref(), Some("a"));
        assert_eq!(vn.common.mesh_source, Some(MeshSource::Assumed));
    }
    // One info finding for the namespace, not one per object.
    assert_eq!(
        codes(&r),
        vec![("AMI1103".into(), "Namespace ns".into(), None)]
    );
}

#[test]
fn membership_unknown_when_namespace_is_absent_and_several_meshes_could_select_it() {
    let yaml = [
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        mesh("b", "namespaceSelector: {matchLabels: {mesh: b}}"),
        object("VirtualNode", "ns", "vn", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.virtual_nodes[&key("ns", "vn")].common.mesh, None);
    assert_eq!(code_list(&r), vec!["AMI1104"]);
}

#[test]
fn membership_unknown_without_any_mesh() {
    let inv = inventory(&object("VirtualNode", "ns", "vn", "{}"));
    let r = resolve(&inv);
    assert_eq!(r.virtual_nodes[&key("ns", "vn")].common.mesh, None);
    assert_eq!(
        codes(&r),
        vec![("AMI1104".into(), "Namespace ns".into(), None)]
    );
}

#[test]
fn mesh_ref_is_authoritative() {
    let yaml = [
        namespace("ns", "{mesh: a}"),
        mesh("a", "namespaceSelector: {matchLabels: {mesh: a}}"),
        object(
            "VirtualNode",
            "ns",
            "vn",
            "{meshRef: {name: live, uid: u1}}",
        ),
        object("VirtualNode", "ns", "labels", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let vn = &r.virtual_nodes[&key("ns", "vn")];
    assert_eq!(vn.common.mesh.as_deref(), Some("live"));
    assert_eq!(vn.common.mesh_source, Some(MeshSource::MeshRef));
    assert_eq!(
        r.virtual_nodes[&key("ns", "labels")].common.mesh.as_deref(),
        Some("a")
    );
    assert_eq!(
        codes(&r),
        vec![(
            "AMI1105".into(),
            "VirtualNode ns/vn".into(),
            Some("spec.meshRef".into())
        )]
    );
}

fn gateway_setup(extra: &str) -> String {
    [
        namespace("gw", "{mesh: m}"),
        namespace("app", "{mesh: m, gateway: ingress}"),
        namespace("other", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object(
            "VirtualService",
            "app",
            "web",
            "{provider: {virtualNode: {virtualNodeRef: {name: web}}}}",
        ),
        object("VirtualNode", "app", "web", "{}"),
        extra.to_owned(),
    ]
    .concat()
}

fn route(ns: &str, name: &str, labels: &str) -> String {
    format!(
        "---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: GatewayRoute\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\n\
         spec:\n  httpRoute:\n    match: {{prefix: /}}\n    action: {{target: {{virtualService: {{virtualServiceRef: {{name: web, namespace: app}}}}}}}}\n"
    )
}

#[test]
fn gateway_route_attaches_across_namespaces_by_namespace_labels() {
    let yaml = gateway_setup(
        &[
            object(
                "VirtualGateway",
                "gw",
                "ingress",
                "{namespaceSelector: {matchLabels: {gateway: ingress}}}",
            ),
            route("app", "web", "{}"),
        ]
        .concat(),
    );
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let gr = &r.gateway_routes[&key("app", "web")];
    assert_eq!(gr.virtual_gateway, Some(key("gw", "ingress")));
    assert_eq!(gr.target, Some(Target::Object(key("app", "web"))));
    let attached: Vec<_> = r
        .gateway_routes_of(&key("gw", "ingress"))
        .iter()
        .map(|g| g.common.key.clone())
        .collect();
    assert_eq!(attached, vec![key("app", "web")]);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn gateway_route_selector_filters_by_route_labels() {
    let yaml = gateway_setup(
        &[
            object("VirtualGateway", "gw", "public", "{namespaceSelector: {}, gatewayRouteSelector: {matchLabels: {exposure: public}}}"),
            object("VirtualGateway", "gw", "internal", "{namespaceSelector: {}, gatewayRouteSelector: {matchLabels: {exposure: internal}}}"),
            route("app", "pub", "{exposure: public}"),
            route("app", "int", "{exposure: internal}"),
            route("app", "none", "{}"),
        ]
        .concat(),
    );
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(
        r.gateway_routes[&key("app", "pub")].virtual_gateway,
        Some(key("gw", "public"))
    );
    assert_eq!(
        r.gateway_routes[&key("app", "int")].virtual_gateway,
        Some(key("gw", "internal"))
    );
    assert_eq!(r.gateway_routes[&key("app", "none")].virtual_gateway, None);
    assert_eq!(
        codes(&r),
        vec![("AMI1107".into(), "GatewayRoute app/none".into(), None)]
    );
}

#[test]
fn nil_namespace_selector_attaches_nothing_and_two_gateways_conflict() {
    let yaml = gateway_setup(
        &[
            object("VirtualGateway", "gw", "nil", "{}"),
            route("app", "web", "{}"),
        ]
        .concat(),
    );
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.gateway_routes[&key("app", "web")].virtual_gateway, None);
    assert_eq!(code_list(&r), vec!["AMI1107"]);

    let yaml = gateway_setup(
        &[
            object("VirtualGateway", "gw", "one", "{namespaceSelector: {}}"),
            object(
                "VirtualGateway",
                "gw",
                "two",
                "{namespaceSelector: {matchLabels: {gateway: ingress}}}",
            ),
            route("app", "web", "{}"),
        ]
        .concat(),
    );
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.gateway_routes[&key("app", "web")].virtual_gateway, None);
    assert_eq!(code_list(&r), vec!["AMI1108"]);
    assert!(
        r.virtual_gateways
            .values()
            .all(|vg| vg.gateway_routes.is_empty())
    );
}

#[test]
fn virtual_gateway_ref_is_authoritative() {
    let mut gr = route("other", "web", "{}");
    gr.push_str("  virtualGatewayRef: {name: ingress, namespace: gw, uid: u}\n");
    let yaml = gateway_setup(
        &[
            object(
                "VirtualGateway",
                "gw",
                "ingress",
                "{namespaceSelector: {matchLabels: {gateway: ingress}}}",
            ),
            gr,
        ]
        .concat(),
    );
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(
        r.gateway_routes[&key("other", "web")].virtual_gateway,
        Some(key("gw", "ingress"))
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn gateway_attachment_assumed_or_unknown_without_the_namespace() {
    let base = [
        mesh("m", "namespaceSelector: {}"),
        object(
            "VirtualService",
            "app",
            "web",
            "{provider: {virtualNode: {virtualNodeARN: arn}}}",
        ),
    ]
    .concat();
    let yaml = [
        base.clone(),
        object(
            "VirtualGateway",
            "gw",
            "ingress",
            "{namespaceSelector: {matchLabels: {gateway: ingress}}}",
        ),
        object("VirtualGateway", "gw", "nil", "{}"),
        route("app", "web", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(
        r.gateway_routes[&key("app", "web")].virtual_gateway,
        Some(key("gw", "ingress"))
    );
    assert!(code_list(&r).contains(&"AMI1110"), "{:?}", codes(&r));

    let yaml = [
        base,
        object(
            "VirtualGateway",
            "gw",
            "a",
            "{namespaceSelector: {matchLabels: {gateway: a}}}",
        ),
        object(
            "VirtualGateway",
            "gw",
            "b",
            "{namespaceSelector: {matchLabels: {gateway: b}}}",
        ),
        route("app", "web", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.gateway_routes[&key("app", "web")].virtual_gateway, None);
    assert!(code_list(&r).contains(&"AMI1118"), "{:?}", codes(&r));
}

#[test]
fn gateway_in_another_mesh_is_refused() {
    let yaml = [
        namespace("gw", "{mesh: one}"),
        namespace("app", "{mesh: two}"),
        mesh("one", "namespaceSelector: {matchLabels: {mesh: one}}"),
        mesh("two", "namespaceSelector: {matchLabels: {mesh: two}}"),
        object(
            "VirtualService",
            "app",
            "web",
            "{provider: {virtualNode: {virtualNodeARN: arn}}}",
        ),
        object("VirtualGateway", "gw", "ingress", "{namespaceSelector: {}}"),
        route("app", "web", "{}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(r.gateway_routes[&key("app", "web")].virtual_gateway, None);
    assert!(code_list(&r).contains(&"AMI1109"), "{:?}", codes(&r));
}

#[test]
fn providers_routes_and_reachable_nodes() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        namespace("other", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualService", "ns", "svc", "{awsName: svc.ns.svc.cluster.local, provider: {virtualRouter: {virtualRouterRef: {name: router}}}}"),
        object(
            "VirtualRouter",
            "ns",
            "router",
            "{listeners: [{portMapping: {port: 8080, protocol: http}}], routes: [{name: split, httpRoute: {match: {prefix: /}, \
             action: {weightedTargets: [{virtualNodeRef: {name: v1}, weight: 90}, {virtualNodeRef: {name: v2, namespace: other}, weight: 10, port: 8080}, \
             {virtualNodeARN: 'arn:aws:appmesh:x', weight: 0}]}}}]}",
        ),
        object("VirtualNode", "ns", "v1", "{}"),
        object("VirtualNode", "other", "v2", "{}"),
        object("VirtualService", "ns", "direct", "{provider: {virtualNode: {virtualNodeRef: {name: v1}}}}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let vs = &r.virtual_services[&key("ns", "svc")];
    assert_eq!(
        vs.provider,
        Some(Provider::VirtualRouter(Target::Object(key("ns", "router"))))
    );
    assert_eq!(
        vs.ports,
        vec![PortMapping {
            port: 8080,
            protocol: PortProtocol::Http
        }]
    );
    assert_eq!(vs.nodes, [key("ns", "v1"), key("other", "v2")].into());
    let router = &r.virtual_routers[&key("ns", "router")];
    assert_eq!(router.virtual_services, [key("ns", "svc")].into());
    let targets = &router.routes[0].targets;
    assert_eq!(router.routes[0].protocol, Some(PortProtocol::Http));
    assert_eq!(
        targets[0],
        ResolvedWeightedTarget {
            node: Target::Object(key("ns", "v1")),
            weight: 90,
            port: None
        }
    );
    assert_eq!(targets[1].node, Target::Object(key("other", "v2")));
    assert_eq!(targets[2].node, Target::Arn("arn:aws:appmesh:x".into()));
    assert_eq!(
        r.virtual_nodes[&key("ns", "v1")].virtual_services,
        [key("ns", "direct"), key("ns", "svc")].into()
    );
    assert_eq!(
        codes(&r),
        vec![(
            "AMI1111".into(),
            "VirtualRouter ns/router".into(),
            Some("spec.routes[0].httpRoute.action.weightedTargets[2].virtualNodeARN".into())
        )]
    );
}

#[test]
fn missing_references_are_reported_with_field_paths() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualService", "ns", "svc", "{provider: {virtualRouter: {virtualRouterRef: {name: gone}}}}"),
        object("VirtualNode", "ns", "vn", "{backends: [{virtualService: {virtualServiceRef: {name: absent, namespace: elsewhere}}}]}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(
        codes(&r),
        vec![
            (
                "AMI1106".into(),
                "VirtualService ns/svc".into(),
                Some("spec.provider.virtualRouter.virtualRouterRef".into())
            ),
            (
                "AMI1106".into(),
                "VirtualNode ns/vn".into(),
                Some("spec.backends[0].virtualService.virtualServiceRef".into())
            ),
        ]
    );
    assert!(
        r.findings[1].message.contains("elsewhere/absent"),
        "{}",
        r.findings[1].message
    );
    // The unresolved target is still recorded, so converters can name it.
    assert_eq!(
        r.virtual_nodes[&key("ns", "vn")].backends[0].virtual_service,
        Target::Object(key("elsewhere", "absent"))
    );
}

#[test]
fn backend_groups_expand_including_wildcard() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        namespace("shared", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualService", "ns", "a", "{provider: {virtualNode: {virtualNodeARN: x}}}"),
        object("VirtualService", "ns", "b", "{provider: {virtualNode: {virtualNodeARN: x}}}"),
        object("VirtualService", "shared", "c", "{provider: {virtualNode: {virtualNodeARN: x}}}"),
        object("VirtualService", "shared", "d", "{provider: {virtualNode: {virtualNodeARN: x}}}"),
        object("BackendGroup", "ns", "group", "{virtualservices: [{name: a}, {name: c, namespace: shared}]}"),
        object(
            "VirtualNode",
            "ns",
            "client",
            "{backends: [{virtualService: {virtualServiceRef: {name: a}}}], backendGroups: [{name: group}, {name: '*', namespace: shared}]}",
        ),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let backends: Vec<_> = r.virtual_nodes[&key("ns", "client")]
        .backends
        .iter()
        .map(|b| (b.virtual_service.clone(), b.source.clone()))
        .collect();
    assert_eq!(
        backends,
        vec![
            (
                Target::Object(key("ns", "a")),
                BackendSource::Listed { index: 0 }
            ),
            (
                Target::Object(key("shared", "c")),
                BackendSource::BackendGroup(key("ns", "group"))
            ),
            (
                Target::Object(key("shared", "d")),
                BackendSource::Wildcard {
                    namespace: "shared".into()
                }
            ),
        ]
    );
    assert_eq!(
        r.backend_groups[&key("ns", "group")].virtual_services,
        vec![key("ns", "a"), key("shared", "c")]
    );
    let c = code_list(&r);
    assert!(
        c.iter().all(|c| *c == "AMI1111" || *c == "AMI1116"),
        "{:?}",
        codes(&r)
    );
    assert_eq!(c.iter().filter(|c| **c == "AMI1116").count(), 1);
}

fn workload(kind: &str, ns: &str, name: &str, labels: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  template:\n    metadata:\n      labels: {labels}\n    spec:\n      containers: [{{name: app}}]\n"
    )
}

#[test]
fn pod_selectors_select_workloads_of_their_namespace() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object(
            "VirtualNode",
            "ns",
            "web",
            "{podSelector: {matchLabels: {app: web}}}",
        ),
        object("VirtualNode", "ns", "nil", "{}"),
        object(
            "VirtualNode",
            "ns",
            "all",
            "{podSelector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}",
        ),
        object(
            "VirtualGateway",
            "ns",
            "gw",
            "{podSelector: {matchLabels: {app: gw}}}",
        ),
        workload("Deployment", "ns", "web", "{app: web}"),
        workload("StatefulSet", "ns", "db", "{app: db}"),
        workload("Deployment", "ns", "gw", "{app: gw}"),
        workload("Deployment", "elsewhere", "web", "{app: web}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let names = |idx: &[usize]| {
        idx.iter()
            .map(|&i| r.workload(i).unwrap().object.object_ref().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&r.virtual_nodes[&key("ns", "web")].workloads),
        vec!["Deployment ns/web"]
    );
    assert_eq!(
        names(&r.virtual_nodes[&key("ns", "all")].workloads),
        vec!["StatefulSet ns/db"]
    );
    assert!(r.virtual_nodes[&key("ns", "nil")].workloads.is_empty());
    assert_eq!(
        names(&r.virtual_gateways[&key("ns", "gw")].workloads),
        vec!["Deployment ns/gw"]
    );
    assert_eq!(
        codes(&r),
        vec![(
            "AMI1113".into(),
            "VirtualNode ns/nil".into(),
            Some("spec.podSelector".into())
        )]
    );
}

#[test]
fn workload_selected_twice_is_an_error() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualNode", "ns", "a", "{podSelector: {}}"),
        object(
            "VirtualNode",
            "ns",
            "b",
            "{podSelector: {matchLabels: {app: web}}}",
        ),
        workload("Deployment", "ns", "web", "{app: web}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    assert_eq!(
        codes(&r),
        vec![("AMI1112".into(), "Deployment ns/web".into(), None)]
    );
    assert!(
        r.findings[0]
            .message
            .contains("VirtualNode ns/a and VirtualNode ns/b"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn virtual_node_hostname_finds_its_service() {
    let service = |ns: &str, name: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  ports: [{{port: 80}}]\n"
        )
    };
    let dns = |host: &str| {
        format!(
            "{{listeners: [{{portMapping: {{port: 80, protocol: http}}}}], serviceDiscovery: {{dns: {{hostname: {host}}}}}}}"
        )
    };
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        service("ns", "web"),
        service("other", "api"),
        object("VirtualNode", "ns", "fqdn", &dns("web.ns.svc.cluster.local")),
        object("VirtualNode", "ns", "short", &dns("web")),
        object("VirtualNode", "ns", "cross", &dns("api.other")),
        object("VirtualNode", "ns", "external", &dns("db.example.com")),
        object("VirtualNode", "ns", "missing", &dns("nope.ns.svc.cluster.local")),
        object("VirtualService", "ns", "vs", "{awsName: web.ns.svc.cluster.local, provider: {virtualNode: {virtualNodeRef: {name: fqdn}}}}"),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let svc = |n: &str| r.virtual_nodes[&key("ns", n)].service.clone();
    assert_eq!(svc("fqdn"), Some(key("ns", "web")));
    assert_eq!(svc("short"), Some(key("ns", "web")));
    assert_eq!(svc("cross"), Some(key("other", "api")));
    assert_eq!(svc("external"), None);
    assert_eq!(svc("missing"), None);
    assert_eq!(
        r.virtual_services[&key("ns", "vs")].service,
        Some(key("ns", "web"))
    );
    assert_eq!(
        r.service_for_host("web.ns.svc", "x")
            .map(|s| s.object.name.as_str()),
        Some("web")
    );
    assert_eq!(
        codes(&r),
        vec![(
            "AMI1117".into(),
            "VirtualNode ns/missing".into(),
            Some("spec.serviceDiscovery.dns.hostname".into())
        )]
    );
}

#[test]
fn webhook_rules_are_checked() {
    let yaml = [
        namespace("ns", "{mesh: m}"),
        mesh("m", "namespaceSelector: {matchLabels: {mesh: m}}"),
        object("VirtualService", "ns", "vs", "{provider: {virtualNode: {virtualNodeARN: x}}}"),
        object(
            "VirtualNode",
            "ns",
            "vn",
            "{listeners: [{portMapping: {port: 80, protocol: http}, connectionPool: {http: {maxConnections: 1}, tcp: {maxConnections: 1}}}], \
             backends: [{virtualService: {virtualServiceRef: {name: vs}}}, {virtualService: {virtualServiceRef: {name: vs, namespace: ns}}}]}",
        ),
        object(
            "VirtualRouter",
            "ns",
            "vr",
            "{listeners: [{portMapping: {port: 80, protocol: http}}], routes: [\
             {name: r, httpRoute: {match: {prefix: /, path: {exact: /x}}, action: {weightedTargets: [{virtualNodeRef: {name: vn}, weight: 1}]}}},\
             {name: r, tcpRoute: {action: {weightedTargets: [{virtualNodeRef: {name: vn}, weight: 1}]}}}]}",
        ),
    ]
    .concat();
    let inv = inventory(&yaml);
    let r = resolve(&inv);
    let fields: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "AMI1115")
        .map(|f| f.field.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        vec![
            "spec.routes[0].httpRoute.match",
            "spec.routes[1].name",
            "spec.serviceDiscovery",
            "spec.listeners[0].connectionPool",
            "spec.backends[1]",
        ]
    );
    assert_eq!(r.virtual_nodes[&key("ns", "vn")].backends.len(), 1);
}

#[test]
fn service_key_forms() {
    assert_eq!(service_key("web", "ns"), Some(key("ns", "web")));
    assert_eq!(service_key("web.other", "ns"), Some(key("other", "web")));
    assert_eq!(
        service_key("web.other.svc", "ns"),
        Some(key("other", "web"))
    );
    assert_eq!(
        service_key("web.other.svc.cluster.local.", "ns"),
        Some(key("other", "web"))
    );
    assert_eq!(service_key("api.example.com", "ns"), None);
    assert_eq!(
        default_aws_name(AppMeshKind::VirtualService, "ns", "a"),
        "a.ns"
    );
    assert_eq!(
        default_aws_name(AppMeshKind::GatewayRoute, "ns", "a"),
        "a_ns"
    );
}
