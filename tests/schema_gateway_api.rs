//! The CRD schema checker against our Gateway API model: one object of every Gateway API kind
//! we emit, with every modelled field set, must pass our validator and the Gateway API v1.5.1
//! CRD schemas of its channel (standard for everything but TCPRoute and HTTPRoute `retry`,
//! which only the experimental bundle has); broken objects must fail at the expected path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use appmesh2istio::gateway_api::*;
use appmesh2istio::istio::{IstioObject, Metadata};
use appmesh2istio::validate::validate_all;
use appmesh2istio_tests::schema::{experimental_schema, istio_schema};
use serde_json::Value;

const NS: &str = "shop";

fn meta(name: &str) -> Metadata {
    Metadata::new(name, NS)
        .managed()
        .with_annotation("appmesh2istio.io/source", "VirtualRouter shop/cart")
}

fn header(name: &str, value: &str) -> HttpHeader {
    HttpHeader {
        name: name.into(),
        value: value.into(),
    }
}

fn http_route(retry: bool) -> HttpRoute {
    let modifier = HeaderModifier {
        set: vec![header("x-mesh", "istio")],
        add: vec![header("x-added", "a b")],
        remove: vec!["x-internal".into()],
    };
    HttpRoute::new(
        meta("cart"),
        HttpRouteSpec {
            parent_refs: vec![
                ParentReference::service("cart", Some(8080)),
                ParentReference::gateway(
                    "ingress",
                    Some("istio-ingress".into()),
                    Some("https".into()),
                ),
            ],
            hostnames: vec!["cart.example.com".into(), "*.shop.example.com".into()],
            rules: vec![
                HttpRouteRule {
                    name: Some("api-v2".into()),
                    matches: vec![HttpRouteMatch {
                        path: Some(PathMatch::new(PathMatchType::PathPrefix, "/api/v2")),
                        headers: vec![
                            ValueMatch::new(ValueMatchType::Exact, "x-canary", "1"),
                            ValueMatch::new(ValueMatchType::RegularExpression, "x-user", "^a.*"),
                        ],
                        query_params: vec![ValueMatch::new(ValueMatchType::Exact, "debug", "true")],
                        method: Some("POST".into()),
                    }],
                    filters: vec![
                        RouteFilter::request_headers(modifier.clone()),
                        RouteFilter::response_headers(modifier),
                        RouteFilter::url_rewrite(UrlRewrite {
                            hostname: Some("cart.shop.svc.cluster.local".into()),
                            path: Some(PathModifier::prefix("/v2")),
                        }),
                        RouteFilter::mirror(RequestMirror {
                            backend_ref: BackendRef::service("cart-shadow", None, 8080),
                            percent: Some(10),
                        }),
                    ],
                    backend_refs: vec![
                        HttpBackendRef {
                            backend: BackendRef::service("cart-v2", None, 8080).with_weight(90),
                            filters: vec![RouteFilter::request_headers(HeaderModifier {
                                set: vec![header("x-version", "v2")],
                                ..Default::default()
                            })],
                        },
                        BackendRef::service("payments", Some("backend".into()), 80)
                            .with_weight(10)
                            .into(),
                    ],
                    timeouts: Some(HttpRouteTimeouts {
                        request: Some(Duration::from_millis(15_000)),
                        backend_request: Some(Duration::from_millis(2_500)),
                    }),
                    retry: retry.then(|| HttpRouteRetry {
                        codes: vec![500, 503],
                        attempts: Some(3),
                        backoff: Some(Duration::from_millis(25)),
                    }),
                },
                HttpRouteRule {
                    name: Some("legacy".into()),
                    matches: vec![HttpRouteMatch {
                        path: Some(PathMatch::new(
                            PathMatchType::RegularExpression,
                            "/legacy.*",
                        )),
                        ..Default::default()
                    }],
                    filters: vec![RouteFilter::url_rewrite(UrlRewrite {
                        hostname: None,
                        path: Some(PathModifier::full_path("/")),
                    })],
                    backend_refs: vec![BackendRef::service("cart-v1", None, 8080).into()],
                    ..Default::default()
                },
            ],
        },
    )
}

fn grpc_route() -> GrpcRoute {
    GrpcRoute::new(
        meta("greeter"),
        GrpcRouteSpec {
            parent_refs: vec![ParentReference::service("greeter", Some(9000))],
            hostnames: vec!["greeter.example.com".into()],
            rules: vec![GrpcRouteRule {
                name: Some("say-hello".into()),
                matches: vec![
                    GrpcRouteMatch {
                        method: Some(GrpcMethodMatch {
                            match_type: ValueMatchType::Exact,
                            service: Some("helloworld.Greeter".into()),
                            method: Some("SayHello".into()),
                        }),
                        headers: vec![ValueMatch::new(ValueMatchType::Exact, "x-tenant", "a")],
                    },
                    GrpcRouteMatch {
                        method: Some(GrpcMethodMatch {
                            match_type: ValueMatchType::RegularExpression,
                            service: Some("helloworld\\..*".into()),
                            method: None,
                        }),
                        headers: vec![],
                    },
                ],
                filters: vec![RouteFilter::response_headers(HeaderModifier {
                    remove: vec!["server".into()],
                    ..Default::default()
                })],
                backend_refs: vec![
                    BackendRef::service("greeter-v1", None, 9000)
                        .with_weight(1)
                        .into(),
                ],
            }],
        },
    )
}

fn tcp_route() -> TcpRoute {
    TcpRoute::new(
        meta("db"),
        TcpRouteSpec {
            parent_refs: vec![ParentReference::service("db", Some(5432))],
            rules: vec![TcpRouteRule {
                name: Some("all".into()),
                backend_refs: vec![
                    BackendRef::service("db-v1", None, 5432).with_weight(50),
                    BackendRef::service("db-v2", None, 5432).with_weight(50),
                ],
            }],
        },
    )
}

fn gateway() -> Gateway {
    Gateway::new(
        Metadata::new("ingress", "istio-ingress").managed(),
        GatewaySpec {
            gateway_class_name: ISTIO_GATEWAY_CLASS.into(),
            listeners: vec![
                Listener {
                    name: "http".into(),
                    hostname: Some("*.example.com".into()),
                    port: 80,
                    protocol: "HTTP".into(),
                    tls: None,
                    allowed_routes: Some(AllowedRoutes {
                        namespaces: Some(RouteNamespaces {
                            from: FromNamespaces::All,
                        }),
                        kinds: vec![RouteGroupKind {
                            group: Some(GROUP.into()),
                            kind: "HTTPRoute".into(),
                        }],
                    }),
                },
                Listener {
                    name: "https".into(),
                    hostname: Some("cart.example.com".into()),
                    port: 443,
                    protocol: "HTTPS".into(),
                    tls: Some(ListenerTls {
                        mode: Some(TlsMode::Terminate),
                        certificate_refs: vec![SecretObjectReference::secret("cart-cert", None)],
                        options: BTreeMap::from([(
                            "gateway.istio.io/tls-terminate-mode".into(),
                            "MUTUAL".into(),
                        )]),
                    }),
                    allowed_routes: Some(AllowedRoutes {
                        namespaces: Some(RouteNamespaces {
                            from: FromNamespaces::Same,
                        }),
                        kinds: vec![],
                    }),
                },
                Listener {
                    name: "tcp".into(),
                    hostname: None,
                    port: 5432,
                    protocol: "TCP".into(),
                    tls: None,
                    allowed_routes: None,
                },
            ],
        },
    )
}

fn reference_grant() -> ReferenceGrant {
    ReferenceGrant::new(
        Metadata::new("from-shop", "backend").managed(),
        ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: GROUP.into(),
                kind: "HTTPRoute".into(),
                namespace: NS.into(),
            }],
            to: vec![ReferenceGrantTo {
                group: CORE_GROUP.into(),
                kind: "Service".into(),
                name: Some("payments".into()),
            }],
        },
    )
}

fn service() -> Service {
    Service::new(
        meta("cart-v2"),
        ServiceSpec {
            ports: vec![ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                app_protocol: Some("http".into()),
                port: 8080,
                target_port: Some(appmesh2istio::gateway_api::TargetPort::Number(8080)),
            }],
            selector: BTreeMap::from([
                ("app".into(), "cart".into()),
                ("version".into(), "v2".into()),
            ]),
        },
    )
}

/// What the standard channel serves, and what only the experimental bundle does.
fn standard_objects() -> Vec<IstioObject> {
    vec![
        http_route(false).into(),
        grpc_route().into(),
        gateway().into(),
        reference_grant().into(),
        service().into(),
    ]
}

fn experimental_objects() -> Vec<IstioObject> {
    vec![http_route(true).into(), tcp_route().into()]
}

#[test]
fn every_gateway_api_kind_passes_our_validator() {
    let mut experimental = experimental_objects();
    experimental.push(reference_grant().into());
    for objects in [standard_objects(), experimental] {
        let violations = validate_all(&objects);
        assert!(violations.is_empty(), "{violations:#?}");
    }
}

fn schema_errors(
    schemas: &appmesh2istio_tests::schema::IstioSchemas,
    obj: &IstioObject,
) -> Vec<String> {
    let json = serde_json::to_value(obj).unwrap();
    schemas.validate(&json).err().unwrap_or_default()
}

#[test]
fn every_gateway_api_kind_passes_the_crd_schemas_of_its_channel() {
    let (Some(standard), Some(experimental)) = (istio_schema(), experimental_schema()) else {
        return;
    };
    for obj in standard_objects() {
        assert_eq!(
            schema_errors(standard, &obj),
            Vec::<String>::new(),
            "{} (standard)",
            obj.object_ref()
        );
        assert_eq!(
            schema_errors(experimental, &obj),
            Vec::<String>::new(),
            "{} (experimental)",
            obj.object_ref()
        );
    }
    for obj in experimental_objects() {
        assert_eq!(
            schema_errors(experimental, &obj),
            Vec::<String>::new(),
            "{}",
            obj.object_ref()
        );
    }
    // The standard channel has no TCPRoute and no HTTPRoute retry: the reason retries are
    // only written with `--gateway-api-channel experimental`.
    let [with_retry, tcp] = <[IstioObject; 2]>::try_from(experimental_objects()).unwrap();
    let errors = schema_errors(standard, &with_retry);
    assert!(
        errors.iter().any(|e| e.starts_with("spec.rules[0].retry")),
        "{errors:?}"
    );
    assert_eq!(
        schema_errors(standard, &tcp),
        vec!["no CRD schema for \"gateway.networking.k8s.io/v1alpha2\" \"TCPRoute\"".to_owned()]
    );
}

/// Serialises `obj`, edits the JSON, and returns the experimental schema's errors.
fn errors_after(obj: impl Into<IstioObject>, edit: impl FnOnce(&mut Value)) -> Option<Vec<String>> {
    let schemas = experimental_schema()?;
    let mut json = serde_json::to_value(obj.into()).unwrap();
    edit(&mut json);
    Some(schemas.validate(&json).err().unwrap_or_default())
}

#[test]
fn the_schema_checker_rejects_what_the_api_server_would() {
    let cases: Vec<(Option<Vec<String>>, &str)> = vec![
        (
            errors_after(http_route(true), |j| {
                j["spec"]["rules"][0]["timeouts"]["request"] = "1.5s".into()
            }),
            "spec.rules[0].timeouts.request",
        ),
        (
            errors_after(http_route(true), |j| {
                j["spec"]["rules"][0]["matches"][0]["method"] = "FETCH".into()
            }),
            "spec.rules[0].matches[0].method",
        ),
        (
            errors_after(http_route(true), |j| {
                j["spec"]["rules"][0]["backendRefs"][0]["weight"] = 2_000_000.into()
            }),
            "spec.rules[0].backendRefs[0].weight",
        ),
        (
            errors_after(gateway(), |j| {
                j["spec"]["listeners"][0]["hostname"] = "Not A Host".into()
            }),
            "spec.listeners[0].hostname",
        ),
        (
            errors_after(tcp_route(), |j| {
                j["spec"]["rules"][0]["matches"] = serde_json::json!([])
            }),
            "spec.rules[0].matches",
        ),
        (
            errors_after(reference_grant(), |j| {
                j["spec"]["to"] = serde_json::json!([])
            }),
            "spec.to",
        ),
    ];
    for (errors, path) in cases {
        let Some(errors) = errors else { return };
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{path}: "))),
            "expected an error at {path}, got {errors:?}"
        );
    }
}
