use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::istio::{IstioObject, Metadata};

fn mesh_route() -> HttpRoute {
    HttpRoute::new(
        Metadata::new("cart", "shop").managed(),
        HttpRouteSpec {
            parent_refs: vec![ParentReference::service("cart", Some(8080))],
            rules: vec![HttpRouteRule {
                name: Some("v2".into()),
                matches: vec![HttpRouteMatch {
                    path: Some(PathMatch::new(PathMatchType::PathPrefix, "/api")),
                    headers: vec![ValueMatch::new(
                        ValueMatchType::RegularExpression,
                        "x-user",
                        "a.*",
                    )],
                    ..Default::default()
                }],
                backend_refs: vec![
                    BackendRef::service("cart-v1", None, 8080)
                        .with_weight(90)
                        .into(),
                    BackendRef::service("cart-v2", None, 8080)
                        .with_weight(10)
                        .into(),
                ],
                timeouts: Some(HttpRouteTimeouts {
                    request: Some(Duration::from_millis(15_000)),
                    backend_request: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
    )
}

#[test]
fn http_route_serialises_in_go_field_order_without_empty_blocks() {
    let text = serde_json::to_string(&mesh_route()).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","#,
            r#""metadata":{"name":"cart","namespace":"shop","labels":{"app.kubernetes.io/managed-by":"appmesh2istio"}},"#,
            r#""spec":{"parentRefs":[{"group":"","kind":"Service","name":"cart","port":8080}],"#,
            r#""rules":[{"name":"v2","matches":[{"path":{"type":"PathPrefix","value":"/api"},"#,
            r#""headers":[{"type":"RegularExpression","name":"x-user","value":"a.*"}]}],"#,
            r#""backendRefs":[{"name":"cart-v1","port":8080,"weight":90},{"name":"cart-v2","port":8080,"weight":10}],"#,
            r#""timeouts":{"request":"15s"}}]}}"#
        )
    );
}

#[test]
fn objects_round_trip_through_yaml_as_istio_objects() {
    let gateway = Gateway::new(
        Metadata::new("ingress", "shop"),
        GatewaySpec {
            gateway_class_name: ISTIO_GATEWAY_CLASS.into(),
            listeners: vec![Listener {
                name: "https".into(),
                hostname: Some("shop.example.com".into()),
                port: 443,
                protocol: "HTTPS".into(),
                tls: Some(ListenerTls {
                    certificate_refs: vec![SecretObjectReference::secret("shop-cert", None)],
                    ..Default::default()
                }),
                allowed_routes: None,
            }],
        },
    );
    let grant = ReferenceGrant::new(
        Metadata::new("from-shop", "backend"),
        ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: GROUP.into(),
                kind: "HTTPRoute".into(),
                namespace: "shop".into(),
            }],
            to: vec![ReferenceGrantTo {
                group: CORE_GROUP.into(),
                kind: "Service".into(),
                name: None,
            }],
        },
    );
    let service = Service::new(
        Metadata::new("cart-v1", "shop"),
        ServiceSpec {
            ports: vec![ServicePort {
                name: Some("http".into()),
                port: 8080,
                ..Default::default()
            }],
            selector: BTreeMap::from([
                ("app".into(), "cart".into()),
                ("version".into(), "v1".into()),
            ]),
        },
    );
    let tcp = TcpRoute::new(
        Metadata::new("db", "shop"),
        TcpRouteSpec {
            parent_refs: vec![ParentReference::service("db", Some(5432))],
            rules: vec![TcpRouteRule {
                name: None,
                backend_refs: vec![BackendRef::service("db", None, 5432)],
            }],
        },
    );
    let grpc = GrpcRoute::new(
        Metadata::new("greeter", "shop"),
        GrpcRouteSpec {
            parent_refs: vec![ParentReference::service("greeter", None)],
            rules: vec![GrpcRouteRule {
                matches: vec![GrpcRouteMatch {
                    method: Some(GrpcMethodMatch {
                        match_type: ValueMatchType::Exact,
                        service: Some("helloworld.Greeter".into()),
                        method: None,
                    }),
                    headers: vec![],
                }],
                backend_refs: vec![BackendRef::service("greeter", None, 9000).into()],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    let objects: Vec<IstioObject> = vec![
        mesh_route().into(),
        gateway.into(),
        grant.into(),
        service.into(),
        tcp.into(),
        grpc.into(),
    ];
    for object in objects {
        let yaml = serde_saphyr::to_string(&object).unwrap();
        assert!(
            !yaml.contains("null") && !yaml.contains("{}") && !yaml.contains("[]"),
            "{yaml}"
        );
        let back: IstioObject = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, object, "{yaml}");
    }
}

#[test]
fn the_two_gateway_kinds_are_told_apart_by_group() {
    let kube = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "n"},
        "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}});
    let istio = json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "n"}, "spec": {"selector": {"istio": "ingressgateway"}}});
    let kube: IstioObject = serde_json::from_value(kube).unwrap();
    let istio: IstioObject = serde_json::from_value(istio).unwrap();
    assert!(matches!(kube, IstioObject::KubernetesGateway(_)));
    assert!(matches!(istio, IstioObject::Gateway(_)));
    assert_eq!(kube.api_version(), "gateway.networking.k8s.io/v1");
    assert!(kube.kind_order() > istio.kind_order());
}

#[test]
fn service_parent_writes_the_empty_core_group_explicitly() {
    let parent = serde_json::to_value(ParentReference::service("cart", None)).unwrap();
    assert_eq!(
        parent,
        json!({"group": "", "kind": "Service", "name": "cart"})
    );
    let gateway = ParentReference::gateway(
        "ingress",
        Some("istio-ingress".into()),
        Some("https".into()),
    );
    assert_eq!(
        serde_json::to_value(&gateway).unwrap(),
        json!({"namespace": "istio-ingress", "name": "ingress", "sectionName": "https"})
    );
    assert_eq!(gateway.effective_group(), GROUP);
    assert_eq!(gateway.effective_kind(), "Gateway");
}

#[test]
fn filters_write_only_their_own_block() {
    let rewrite = RouteFilter::url_rewrite(UrlRewrite {
        hostname: None,
        path: Some(PathModifier::prefix("/v2")),
    });
    assert_eq!(
        serde_json::to_value(&rewrite).unwrap(),
        json!({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"}}})
    );
    let headers = RouteFilter::request_headers(HeaderModifier {
        set: vec![HttpHeader {
            name: "x-a".into(),
            value: "1".into(),
        }],
        ..Default::default()
    });
    assert_eq!(
        serde_json::to_value(&headers).unwrap(),
        json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]}})
    );
}

#[test]
fn durations_use_the_gateway_api_format() {
    let cases = [
        (0, "0s"),
        (1500, "1s500ms"),
        (15_000, "15s"),
        (90_000, "1m30s"),
        (3_600_000, "1h"),
        (90_061_001, "25h1m1s1ms"),
    ];
    for (millis, text) in cases {
        assert_eq!(Duration::from_millis(millis).to_string(), text);
        assert_eq!(
            Duration::parse(text),
            Some(Duration::from_millis(millis)),
            "{text}"
        );
    }
    for bad in ["", "1", "1.5s", "100000s", "1us", "1h1m1s1ms1h", "-1s"] {
        assert_eq!(Duration::parse(bad), None, "{bad}");
    }
    let beyond = Duration::from_millis(Duration::MAX.as_millis() + 1);
    assert_eq!(Duration::parse(&beyond.to_string()), None);
    assert_eq!(
        Duration::parse(&Duration::MAX.to_string()),
        Some(Duration::MAX)
    );
    assert_eq!(
        Duration::from(crate::istio::Duration::from_millis(2500)).to_string(),
        "2s500ms"
    );
}
