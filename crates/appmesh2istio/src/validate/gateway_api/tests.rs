//! One test per rule: a valid object of each kind passes, and each rule fires on the
//! smallest change that breaks it.

use std::collections::BTreeMap;

use super::cross::REFERENCE_GRANT;
use super::gateway::*;
use super::routes::*;
use super::*;
use crate::gateway_api::TargetPort;
use crate::gateway_api::*;
use crate::istio::{IstioObject, Metadata};
use crate::validate::{validate_all, validate_object};

fn meta(name: &str) -> Metadata {
    Metadata::new(name, "shop").managed()
}

fn http_route() -> HttpRoute {
    HttpRoute::new(
        meta("cart"),
        HttpRouteSpec {
            parent_refs: vec![ParentReference::service("cart", Some(8080))],
            hostnames: vec![],
            rules: vec![HttpRouteRule {
                name: Some("api".into()),
                matches: vec![HttpRouteMatch {
                    path: Some(PathMatch::new(PathMatchType::PathPrefix, "/api")),
                    headers: vec![ValueMatch::new(ValueMatchType::Exact, "x-user", "alice")],
                    query_params: vec![ValueMatch::new(
                        ValueMatchType::RegularExpression,
                        "q",
                        "a.*",
                    )],
                    method: Some("GET".into()),
                }],
                filters: vec![
                    RouteFilter::request_headers(HeaderModifier {
                        set: vec![HttpHeader {
                            name: "x-mesh".into(),
                            value: "istio".into(),
                        }],
                        ..Default::default()
                    }),
                    RouteFilter::url_rewrite(UrlRewrite {
                        hostname: None,
                        path: Some(PathModifier::prefix("/v2")),
                    }),
                ],
                backend_refs: vec![
                    BackendRef::service("cart-v1", None, 8080)
                        .with_weight(1)
                        .into(),
                ],
                timeouts: Some(HttpRouteTimeouts {
                    request: Some(Duration::from_millis(15_000)),
                    backend_request: Some(Duration::from_millis(5_000)),
                }),
                retry: Some(HttpRouteRetry {
                    codes: vec![503],
                    attempts: Some(2),
                    backoff: None,
                }),
            }],
        },
    )
}

fn grpc_route() -> GrpcRoute {
    GrpcRoute::new(
        meta("greeter"),
        GrpcRouteSpec {
            parent_refs: vec![ParentReference::service("greeter", Some(9000))],
            hostnames: vec![],
            rules: vec![GrpcRouteRule {
                name: None,
                matches: vec![GrpcRouteMatch {
                    method: Some(GrpcMethodMatch {
                        match_type: ValueMatchType::Exact,
                        service: Some("helloworld.Greeter".into()),
                        method: Some("SayHello".into()),
                    }),
                    headers: vec![],
                }],
                filters: vec![],
                backend_refs: vec![BackendRef::service("greeter", None, 9000).into()],
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
                name: None,
                backend_refs: vec![BackendRef::service("db", None, 5432)],
            }],
        },
    )
}

fn gateway() -> Gateway {
    Gateway::new(
        meta("ingress"),
        GatewaySpec {
            gateway_class_name: ISTIO_GATEWAY_CLASS.into(),
            listeners: vec![
                Listener {
                    name: "http".into(),
                    hostname: Some("shop.example.com".into()),
                    port: 80,
                    protocol: "HTTP".into(),
                    tls: None,
                    allowed_routes: None,
                },
                Listener {
                    name: "https".into(),
                    hostname: Some("shop.example.com".into()),
                    port: 443,
                    protocol: "HTTPS".into(),
                    tls: Some(ListenerTls {
                        mode: None,
                        certificate_refs: vec![SecretObjectReference::secret("cert", None)],
                        options: BTreeMap::new(),
                    }),
                    allowed_routes: Some(AllowedRoutes {
                        namespaces: Some(RouteNamespaces {
                            from: FromNamespaces::All,
                        }),
                        kinds: vec![],
                    }),
                },
            ],
        },
    )
}

fn service() -> Service {
    Service::new(
        meta("cart-v1"),
        ServiceSpec {
            ports: vec![ServicePort {
                name: Some("http".into()),
                app_protocol: Some("http".into()),
                port: 8080,
                target_port: Some(TargetPort::Number(8080)),
                ..Default::default()
            }],
            selector: BTreeMap::from([
                ("app".into(), "cart".into()),
                ("version".into(), "v1".into()),
            ]),
        },
    )
}

fn grant() -> ReferenceGrant {
    ReferenceGrant::new(
        Metadata::new("from-shop", "backend").managed(),
        ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: GROUP.into(),
                kind: "HTTPRoute".into(),
                namespace: "shop".into(),
            }],
            to: vec![ReferenceGrantTo {
                group: String::new(),
                kind: "Service".into(),
                name: Some("payments".into()),
            }],
        },
    )
}

/// `[(rule, field)]` of what the object breaks.
fn broken(object: impl Into<IstioObject>) -> Vec<(&'static str, String)> {
    validate_object(&object.into())
        .into_iter()
        .map(|v| (v.rule, v.field))
        .collect()
}

fn fires(object: impl Into<IstioObject>, rule: &str, field: &str) {
    let found = broken(object);
    assert!(
        found.iter().any(|(r, f)| *r == rule && f == field),
        "expected {rule} at {field}, got {found:?}"
    );
}

#[test]
fn valid_objects_of_every_kind_pass() {
    let objects: Vec<IstioObject> = vec![
        http_route().into(),
        grpc_route().into(),
        tcp_route().into(),
        gateway().into(),
        service().into(),
        grant().into(),
    ];
    assert_eq!(validate_all(&objects), vec![]);
}

#[test]
fn limits_fire() {
    let mut r = http_route();
    r.spec.rules = vec![r.spec.rules[0].clone(); 17];
    for (i, rule) in r.spec.rules.iter_mut().enumerate() {
        rule.name = Some(format!("r{i}"));
    }
    fires(r, LIMIT, "spec.rules");
    let mut r = http_route();
    r.spec.rules[0].backend_refs = vec![BackendRef::service("b", None, 80).into(); 17];
    fires(r, LIMIT, "spec.rules[0].backendRefs");
    let mut r = http_route();
    r.spec.rules[0].backend_refs[0].backend.weight = Some(1_000_001);
    fires(r, LIMIT, "spec.rules[0].backendRefs[0].weight");
    let mut r = http_route();
    r.spec.rules.clear();
    fires(r, LIMIT, "spec.rules");
    let mut t = tcp_route();
    t.spec.rules[0].backend_refs.clear();
    fires(t, LIMIT, "spec.rules[0].backendRefs");
    let mut g = grant();
    g.spec.to.clear();
    fires(g, LIMIT, "spec.to");
    let mut gw = gateway();
    gw.spec.listeners[0].port = 0;
    fires(gw, LIMIT, "spec.listeners[0].port");
    let mut r = http_route();
    r.spec.rules[0].retry = Some(HttpRouteRetry {
        codes: vec![200],
        ..Default::default()
    });
    fires(r, LIMIT, "spec.rules[0].retry.codes[0]");
}

#[test]
fn patterns_fire() {
    let mut r = http_route();
    r.spec.hostnames = vec!["Shop.Example.com".into()];
    fires(r, PATTERN, "spec.hostnames[0]");
    let mut r = http_route();
    r.spec.parent_refs[0].section_name = Some("Http_Port".into());
    fires(r, PATTERN, "spec.parentRefs[0].sectionName");
    let mut r = http_route();
    r.spec.rules[0].matches[0].headers[0].value = "two  spaces".into();
    fires(r, PATTERN, "spec.rules[0].matches[0].headers[0].value");
    let mut r = http_route();
    r.spec.rules[0].matches[0].headers[0].name = "x user".into();
    fires(r, PATTERN, "spec.rules[0].matches[0].headers[0].name");
    let mut r = http_route();
    r.spec.rules[0].timeouts = Some(HttpRouteTimeouts {
        request: Some(Duration::from_millis(Duration::MAX.as_millis() + 1)),
        backend_request: None,
    });
    fires(r, PATTERN, "spec.rules[0].timeouts.request");
    let mut gw = gateway();
    gw.spec.listeners[0].protocol = "HTTP 1".into();
    fires(gw, PATTERN, "spec.listeners[0].protocol");
}

#[test]
fn list_keys_fire() {
    let mut r = http_route();
    let header = r.spec.rules[0].matches[0].headers[0].clone();
    r.spec.rules[0].matches[0].headers.push(ValueMatch {
        name: "X-User".into(),
        ..header
    });
    fires(r, LIST_KEY, "spec.rules[0].matches[0].headers[1].name");
    let mut r = http_route();
    r.spec.rules[0].filters[0].request_header_modifier = Some(HeaderModifier {
        remove: vec!["a".into(), "a".into()],
        ..Default::default()
    });
    fires(
        r,
        LIST_KEY,
        "spec.rules[0].filters[0].requestHeaderModifier.remove[1]",
    );
}

#[test]
fn parent_ref_cel_rules_fire() {
    let mut r = http_route();
    r.spec
        .parent_refs
        .push(ParentReference::service("cart", None));
    fires(r, CEL_PARENT_SECTION, "spec.parentRefs");
    let mut r = http_route();
    r.spec
        .parent_refs
        .push(ParentReference::service("cart", Some(8080)));
    fires(r, CEL_PARENT_UNIQUE, "spec.parentRefs");
    // Two ports of one Service are two parents.
    let mut r = http_route();
    r.spec
        .parent_refs
        .push(ParentReference::service("cart", Some(9090)));
    assert_eq!(broken(r), vec![]);
}

#[test]
fn service_backend_needs_a_port() {
    let mut r = http_route();
    r.spec.rules[0].backend_refs[0].backend.port = None;
    fires(r, CEL_SERVICE_PORT, "spec.rules[0].backendRefs[0]");
    // Not for other kinds.
    let mut r = http_route();
    let b = &mut r.spec.rules[0].backend_refs[0].backend;
    b.port = None;
    b.group = Some("networking.istio.io".into());
    b.kind = Some("Hostname".into());
    assert_eq!(broken(r), vec![]);
}

#[test]
fn filter_cel_rules_fire() {
    let mut r = http_route();
    r.spec.rules[0].filters[0].response_header_modifier = Some(HeaderModifier::default());
    fires(
        r,
        CEL_FILTER_TYPE,
        "spec.rules[0].filters[0].responseHeaderModifier",
    );
    let mut r = http_route();
    r.spec.rules[0].filters[0].request_header_modifier = None;
    fires(r, CEL_FILTER_TYPE, "spec.rules[0].filters[0]");
    let mut r = http_route();
    let again = r.spec.rules[0].filters[0].clone();
    r.spec.rules[0].filters.push(again);
    fires(r, CEL_FILTER_REPEAT, "spec.rules[0].filters");
    let mut r = http_route();
    r.spec.rules[0].filters[1].url_rewrite = Some(UrlRewrite {
        hostname: None,
        path: Some(PathModifier {
            modifier_type: PathModifierType::ReplaceFullPath,
            replace_full_path: None,
            replace_prefix_match: Some("/x".into()),
        }),
    });
    fires(
        r,
        CEL_PATH_MODIFIER,
        "spec.rules[0].filters[1].urlRewrite.path",
    );
}

#[test]
fn prefix_rewrite_needs_exactly_one_path_prefix_match() {
    let mut r = http_route();
    r.spec.rules[0].matches[0].path =
        Some(PathMatch::new(PathMatchType::RegularExpression, "/api.*"));
    fires(r, CEL_PREFIX_REWRITE, "spec.rules[0].matches");
    let mut r = http_route();
    let second = r.spec.rules[0].matches[0].clone();
    r.spec.rules[0].matches.push(second);
    fires(r, CEL_PREFIX_REWRITE, "spec.rules[0].matches");
    // The same in a backend's filters.
    let mut r = http_route();
    let rewrite = r.spec.rules[0].filters.remove(1);
    r.spec.rules[0].backend_refs[0].filters.push(rewrite);
    r.spec.rules[0].matches.clear();
    fires(r, CEL_PREFIX_REWRITE, "spec.rules[0].matches");
}

#[test]
fn path_cel_rules_fire() {
    for bad in [
        "api", "/a//b", "/a/./b", "/a/../b", "/a%2fb", "/a#b", "/a/..", "/a/.", "/a b",
    ] {
        let mut r = http_route();
        r.spec.rules[0].filters.truncate(1);
        r.spec.rules[0].matches[0].path = Some(PathMatch::new(PathMatchType::Exact, bad));
        fires(r, CEL_PATH, "spec.rules[0].matches[0].path.value");
    }
    // A regex may contain anything RE2 takes.
    let mut r = http_route();
    r.spec.rules[0].filters.truncate(1);
    r.spec.rules[0].matches[0].path = Some(PathMatch::new(
        PathMatchType::RegularExpression,
        "/a b(/.*)?",
    ));
    assert_eq!(broken(r), vec![]);
}

#[test]
fn invalid_regexes_fire() {
    let mut r = http_route();
    r.spec.rules[0].filters.truncate(1);
    r.spec.rules[0].matches[0].path = Some(PathMatch::new(PathMatchType::RegularExpression, "/(a"));
    fires(r, RE2, "spec.rules[0].matches[0].path.value");
    let mut r = http_route();
    r.spec.rules[0].matches[0].query_params[0].value = "(?=x)".into();
    fires(r, RE2, "spec.rules[0].matches[0].queryParams[0].value");
}

#[test]
fn match_total_and_rule_names_fire() {
    let mut r = http_route();
    let mut rule = r.spec.rules[0].clone();
    rule.filters.truncate(1);
    rule.matches = vec![rule.matches[0].clone(); 64];
    r.spec.rules = (0..3)
        .map(|i| HttpRouteRule {
            name: Some(format!("r{i}")),
            ..rule.clone()
        })
        .collect();
    fires(r, CEL_MATCH_TOTAL, "spec.rules");
    let mut r = http_route();
    r.spec.rules.push(r.spec.rules[0].clone());
    fires(r, CEL_RULE_NAME, "spec.rules[1].name");
}

#[test]
fn backend_request_longer_than_request_fires() {
    let mut r = http_route();
    r.spec.rules[0].timeouts = Some(HttpRouteTimeouts {
        request: Some(Duration::from_millis(1000)),
        backend_request: Some(Duration::from_millis(2000)),
    });
    fires(r, CEL_TIMEOUTS, "spec.rules[0].timeouts");
    // A request timeout of 0s disables it, so any backendRequest fits.
    let mut r = http_route();
    r.spec.rules[0].timeouts = Some(HttpRouteTimeouts {
        request: Some(Duration::ZERO),
        backend_request: Some(Duration::from_millis(2000)),
    });
    assert_eq!(broken(r), vec![]);
}

#[test]
fn grpc_method_rules_fire() {
    let mut g = grpc_route();
    g.spec.rules[0].matches[0].method = Some(GrpcMethodMatch::default());
    fires(g, CEL_GRPC_METHOD, "spec.rules[0].matches[0].method");
    let mut g = grpc_route();
    g.spec.rules[0].matches[0].method.as_mut().unwrap().service = Some("hello/world".into());
    fires(
        g,
        CEL_GRPC_METHOD,
        "spec.rules[0].matches[0].method.service",
    );
    let mut g = grpc_route();
    g.spec.rules[0].matches[0].method.as_mut().unwrap().method = Some("Say.Hello".into());
    fires(g, CEL_GRPC_METHOD, "spec.rules[0].matches[0].method.method");
}

#[test]
fn enums_fire() {
    let mut g = grpc_route();
    g.spec.rules[0].filters = vec![RouteFilter::url_rewrite(UrlRewrite {
        hostname: Some("a.b".into()),
        path: None,
    })];
    fires(g, ENUM, "spec.rules[0].filters[0].type");
    let mut r = http_route();
    r.spec.rules[0].matches[0].method = Some("get".into());
    fires(r, ENUM, "spec.rules[0].matches[0].method");
}

#[test]
fn listener_cel_rules_fire() {
    let mut gw = gateway();
    gw.spec.listeners[0].tls = gw.spec.listeners[1].tls.clone();
    fires(gw, CEL_LISTENER_TLS, "spec.listeners[0].tls");
    let mut gw = gateway();
    gw.spec.listeners[1].tls.as_mut().unwrap().mode = Some(TlsMode::Passthrough);
    fires(gw, CEL_LISTENER_TLS, "spec.listeners[1].tls.mode");
    let mut gw = gateway();
    gw.spec.listeners[1].protocol = "TLS".into();
    fires(gw, CEL_LISTENER_TLS, "spec.listeners[1].tls.mode");
    let mut gw = gateway();
    gw.spec.listeners[0].protocol = "TCP".into();
    fires(gw, CEL_LISTENER_HOSTNAME, "spec.listeners[0].hostname");
    let mut gw = gateway();
    gw.spec.listeners[1].name = "http".into();
    fires(gw, CEL_LISTENER_NAME, "spec.listeners[1].name");
    let mut gw = gateway();
    let mut copy = gw.spec.listeners[0].clone();
    copy.name = "http-2".into();
    gw.spec.listeners.push(copy);
    fires(gw, CEL_LISTENER_UNIQUE, "spec.listeners[2]");
    let mut gw = gateway();
    gw.spec.listeners[1]
        .tls
        .as_mut()
        .unwrap()
        .certificate_refs
        .clear();
    fires(gw, CEL_TLS_CERTIFICATES, "spec.listeners[1].tls");
}

#[test]
fn service_rules_fire() {
    let mut s = service();
    s.metadata.name = "1cart".into();
    fires(s, SERVICE, "metadata.name");
    let mut s = service();
    s.spec.ports.push(ServicePort {
        port: 9090,
        ..Default::default()
    });
    fires(s, SERVICE, "spec.ports[1].name");
    let mut s = service();
    s.spec.ports.clear();
    fires(s, SERVICE, "spec.ports");
    let mut s = service();
    s.spec.selector.insert("app".into(), "not valid!".into());
    fires(s, SERVICE, "spec.selector.app");
}

#[test]
fn cross_namespace_references_need_a_reference_grant() {
    let mut r = http_route();
    r.spec.rules[0]
        .backend_refs
        .push(BackendRef::service("payments", Some("backend".into()), 80).into());
    let without: Vec<IstioObject> = vec![r.clone().into()];
    let found: Vec<_> = validate_all(&without)
        .into_iter()
        .map(|v| (v.rule, v.field))
        .collect();
    assert_eq!(
        found,
        vec![(REFERENCE_GRANT, "spec.rules[0].backendRefs[1]".to_owned())]
    );
    let with: Vec<IstioObject> = vec![r.clone().into(), grant().into()];
    assert_eq!(validate_all(&with), vec![]);
    // A grant for another Service does not count.
    let mut other = grant();
    other.spec.to[0].name = Some("billing".into());
    let wrong: Vec<IstioObject> = vec![r.into(), other.into()];
    assert_eq!(validate_all(&wrong).len(), 1);
    // A Gateway's certificate in another namespace too.
    let mut gw = gateway();
    gw.spec.listeners[1].tls.as_mut().unwrap().certificate_refs[0].namespace = Some("certs".into());
    let found: Vec<_> = validate_all(&[gw.into()])
        .into_iter()
        .map(|v| (v.rule, v.field))
        .collect();
    assert_eq!(
        found,
        vec![(
            REFERENCE_GRANT,
            "spec.listeners[1].tls.certificateRefs[0]".to_owned()
        )]
    );
}
