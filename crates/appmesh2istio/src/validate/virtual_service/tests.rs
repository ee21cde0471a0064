//! Unit tests of the VirtualService rules.

use std::collections::BTreeMap;

use super::*;
use crate::istio::{
    Duration, HttpRouteDestination, L4MatchAttributes, RegexRewrite, RouteDestination,
};
use crate::validate::testing::{errors, labels, one, warnings};

const HOST: &str = "cart.shop.svc.cluster.local";

fn spec(hosts: &[&str], gateways: &[&str]) -> VirtualServiceSpec {
    VirtualServiceSpec {
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        gateways: gateways.iter().map(|s| s.to_string()).collect(),
        http: vec![route_to(HOST)],
        ..Default::default()
    }
}

fn route_to(host: &str) -> HttpRoute {
    HttpRoute {
        route: vec![HttpRouteDestination::to(Destination::host(host))],
        ..Default::default()
    }
}

fn with_match(m: HttpMatchRequest) -> HttpRoute {
    HttpRoute {
        matches: vec![m],
        ..route_to(HOST)
    }
}

fn uri_prefix(p: &str) -> HttpMatchRequest {
    HttpMatchRequest {
        uri: Some(StringMatch::prefix(p)),
        ..Default::default()
    }
}

#[test]
fn vs1_delegate_shape() {
    assert!(errors(|c| delegate_shape(c, &spec(&[], &[]))).is_empty());
    assert_eq!(
        errors(|c| delegate_shape(c, &spec(&[], &["ns/gw"]))),
        one("VS-1", "spec.gateways")
    );
}

#[test]
fn vs2_gateway_names() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(
        errors(|c| gateway_names(
            c,
            "spec.gateways",
            &names(&["mesh", "istio-system/ingress"])
        ))
        .is_empty()
    );
    assert_eq!(
        errors(|c| gateway_names(c, "spec.gateways", &names(&["mesh", "ns/a.b"]))),
        one("VS-2", "spec.gateways[1]")
    );
    assert_eq!(
        warnings(|c| gateway_names(c, "spec.gateways", &names(&["gw.ns"]))),
        one("VS-2", "spec.gateways[0]")
    );
}

#[test]
fn vs3_vs4_hosts() {
    assert!(errors(|c| hosts(c, &spec(&["*"], &["ns/gw"]))).is_empty());
    assert!(errors(|c| hosts(c, &spec(&[HOST, "10.0.0.1"], &[]))).is_empty());
    assert_eq!(
        errors(|c| hosts(c, &spec(&["*"], &["ns/gw", "mesh"]))),
        one("VS-4", "spec.hosts[0]")
    );
    assert_eq!(
        errors(|c| hosts(c, &spec(&["bad_host.com"], &[]))),
        one("VS-3", "spec.hosts[0]")
    );
}

#[test]
fn vs5_overlapping_hosts() {
    let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(errors(|c| overlapping_hosts(c, &h(&["a.example.com", "b.example.com"]))).is_empty());
    assert_eq!(
        errors(|c| overlapping_hosts(c, &h(&["*.example.com", "a.example.com"]))),
        one("VS-5", "spec.hosts[1]")
    );
}

#[test]
fn vs6_needs_routes() {
    assert!(errors(|c| has_routes(c, &spec(&[HOST], &[]))).is_empty());
    assert_eq!(
        errors(|c| has_routes(c, &VirtualServiceSpec::default())),
        one("VS-6", "spec")
    );
}

#[test]
fn vs7_jwt_claims_only_on_gateways() {
    let m = HttpMatchRequest {
        headers: BTreeMap::from([(
            "@request.auth.claims.group".into(),
            StringMatch::exact("admin"),
        )]),
        ..Default::default()
    };
    assert!(errors(|c| http_match(c, "m", &m, true)).is_empty());
    assert_eq!(
        errors(|c| http_match(c, "m", &m, false)),
        one("VS-7", "m.headers[@request.auth.claims.group]")
    );
}

#[test]
fn vs_h1_route_required() {
    assert!(errors(|c| http_route(c, "spec.http[0]", &route_to(HOST), false)).is_empty());
    assert_eq!(
        errors(|c| http_route(c, "spec.http[0]", &HttpRoute::default(), false)),
        one("VS-H1", "spec.http[0].route")
    );
}

#[test]
fn vs_h2_string_matches() {
    let ok = HttpMatchRequest {
        uri: Some(StringMatch::prefix("")),
        headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
        without_headers: BTreeMap::from([("x-debug".into(), StringMatch::regex("*"))]),
        query_params: BTreeMap::from([("v".into(), StringMatch::exact(""))]),
        method: Some(StringMatch::exact("GET")),
        port: Some(8080),
        ..Default::default()
    };
    assert!(errors(|c| http_match(c, "m", &ok, false)).is_empty());
    let empty_prefix = HttpMatchRequest {
        headers: BTreeMap::from([("x-user".into(), StringMatch::prefix(""))]),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &empty_prefix, false)),
        one("VS-H2", "m.headers[x-user]")
    );
    let bad_regex = HttpMatchRequest {
        uri: Some(StringMatch::regex("(?!x)")),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &bad_regex, false)),
        one("VS-H2", "m.uri")
    );
    let star_in_headers = HttpMatchRequest {
        headers: BTreeMap::from([("x".into(), StringMatch::regex("*"))]),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &star_in_headers, false)),
        one("VS-H2", "m.headers[x]")
    );
    let presence_method = HttpMatchRequest {
        method: Some(StringMatch::Presence),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &presence_method, false)),
        one("VS-H2", "m.method")
    );
    let bad_header = HttpMatchRequest {
        headers: BTreeMap::from([("x user".into(), StringMatch::exact("a"))]),
        source_labels: labels(&[("app", "ok")]),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &bad_header, false)),
        one("VS-H2", "m.headers[x user]")
    );
    let bad_port = HttpMatchRequest {
        port: Some(70000),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| http_match(c, "m", &bad_port, false)),
        one("VS-H2", "m.port")
    );
}

#[test]
fn vs_h2_upper_case_header_names_warn() {
    let m = HttpMatchRequest {
        headers: BTreeMap::from([("X-User".into(), StringMatch::exact("a"))]),
        ..Default::default()
    };
    assert_eq!(
        warnings(|c| http_match(c, "m", &m, false)),
        one("VS-H2", "m.headers[X-User]")
    );
}

#[test]
fn vs_h3_header_operations() {
    let ok = Headers {
        request: Some(HeaderOperations {
            set: BTreeMap::from([
                (
                    "x-forwarded-by".into(),
                    "%DOWNSTREAM_REMOTE_ADDRESS%".into(),
                ),
                ("host".into(), "a.b".into()),
            ]),
            ..Default::default()
        }),
        response: Some(HeaderOperations {
            remove: vec!["server".into()],
            ..Default::default()
        }),
    };
    assert!(errors(|c| header_operations(c, "h", &ok)).is_empty());
    let bad = Headers {
        request: None,
        response: Some(HeaderOperations {
            set: BTreeMap::from([("host".into(), "x".into())]),
            ..Default::default()
        }),
    };
    assert_eq!(
        errors(|c| header_operations(c, "h", &bad)),
        one("VS-H3", "h.response.set[host]")
    );
    let bad_value = Headers {
        request: Some(HeaderOperations {
            add: BTreeMap::from([("x-a".into(), "50%".into())]),
            ..Default::default()
        }),
        response: None,
    };
    assert_eq!(
        errors(|c| header_operations(c, "h", &bad_value)),
        one("VS-H3", "h.request.add[x-a]")
    );
}

#[test]
fn vs_h4_authority_once() {
    let mut r = route_to(HOST);
    r.rewrite = Some(HttpRewrite {
        authority: Some("a.b".into()),
        ..Default::default()
    });
    assert!(errors(|c| authority_rewritten_once(c, "r", &r)).is_empty());
    r.headers = Some(Headers {
        request: Some(HeaderOperations {
            set: BTreeMap::from([(":authority".into(), "c.d".into())]),
            ..Default::default()
        }),
        response: None,
    });
    assert_eq!(
        errors(|c| authority_rewritten_once(c, "r", &r)),
        one("VS-H4", "r.rewrite.authority")
    );
}

#[test]
fn vs_h5_rewrite() {
    let ok = HttpRewrite {
        uri: Some("/".into()),
        authority: Some("a.b".into()),
        ..Default::default()
    };
    assert!(errors(|c| rewrite(c, "rw", &ok)).is_empty());
    let both = HttpRewrite {
        uri: Some("/".into()),
        uri_regex_rewrite: Some(RegexRewrite {
            pattern: "^/a(.*)".into(),
            rewrite: "/b\\1".into(),
        }),
        ..Default::default()
    };
    assert_eq!(errors(|c| rewrite(c, "rw", &both)), one("VS-H5", "rw"));
    assert_eq!(
        errors(|c| rewrite(c, "rw", &HttpRewrite::default())),
        one("VS-H5", "rw")
    );
    let incomplete = HttpRewrite {
        uri_regex_rewrite: Some(RegexRewrite {
            pattern: "^/a".into(),
            rewrite: String::new(),
        }),
        ..Default::default()
    };
    assert_eq!(
        errors(|c| rewrite(c, "rw", &incomplete)),
        one("VS-H5", "rw.uriRegexRewrite")
    );
}

#[test]
fn vs_h6_retries() {
    assert!(errors(|c| retries(c, "r", &HttpRetry::disabled())).is_empty());
    let ok = HttpRetry::attempts(2)
        .with_retry_on(["5xx", "503", "409", "gateway-error", "unavailable"])
        .with_per_try_timeout(Duration::from_millis(1500));
    assert!(errors(|c| retries(c, "r", &ok)).is_empty());
    let zero_with_timeout = HttpRetry::disabled().with_per_try_timeout(Duration::from_secs(1));
    assert_eq!(
        errors(|c| retries(c, "r", &zero_with_timeout)),
        one("VS-H6", "r")
    );
    let app_mesh_vocab = HttpRetry::attempts(2).with_retry_on(["server-error"]);
    assert_eq!(
        errors(|c| retries(c, "r", &app_mesh_vocab)),
        one("VS-H6", "r.retryOn")
    );
    let spaced = HttpRetry {
        retry_on: Some("5xx, reset".into()),
        ..HttpRetry::attempts(1)
    };
    assert_eq!(
        errors(|c| retries(c, "r", &spaced)),
        one("VS-H6", "r.retryOn")
    );
    let unnamed_status = HttpRetry::attempts(1).with_retry_on(["599"]);
    assert_eq!(
        errors(|c| retries(c, "r", &unnamed_status)),
        one("VS-H6", "r.retryOn")
    );
    let zero_timeout = HttpRetry::attempts(1).with_per_try_timeout(Duration::ZERO);
    assert_eq!(
        errors(|c| retries(c, "r", &zero_timeout)),
        one("VS-H6", "r.perTryTimeout")
    );
    assert_eq!(
        errors(|c| retries(c, "r", &HttpRetry::attempts(-1))),
        one("VS-H6", "r.attempts")
    );
}

#[test]
fn vs_h7_timeout() {
    let mut r = route_to(HOST);
    r.timeout = Some(Duration::from_secs(15));
    assert!(errors(|c| http_route(c, "h", &r, false)).is_empty());
    r.timeout = Some(Duration::ZERO);
    assert_eq!(
        errors(|c| http_route(c, "h", &r, false)),
        one("VS-H7", "h.timeout")
    );
}

#[test]
fn vs_h8_destinations() {
    let a = Destination::host(HOST).with_subset("v1").with_port(8080);
    let b = Destination::host(HOST).with_subset("v2");
    let ok = [(&a, Some(0)), (&b, Some(1))];
    assert!(errors(|c| destinations(c, "VS-H8", "r", ok.into_iter())).is_empty());
    let lone_zero = [(&a, Some(0))];
    assert!(errors(|c| destinations(c, "VS-H8", "r", lone_zero.into_iter())).is_empty());
    let all_zero = [(&a, Some(0)), (&b, None)];
    assert_eq!(
        errors(|c| destinations(c, "VS-H8", "r", all_zero.into_iter())),
        one("VS-H8", "r")
    );
    let star = Destination::host("*");
    assert_eq!(
        errors(|c| destinations(c, "VS-H8", "r", [(&star, None)].into_iter())),
        one("VS-H8", "r[0].destination.host")
    );
    let dotted = Destination::host(HOST).with_subset("v1.2");
    assert_eq!(
        errors(|c| destinations(c, "VS-H8", "r", [(&dotted, None)].into_iter())),
        one("VS-H8", "r[0].destination.subset")
    );
    let port0 = Destination::host(HOST).with_port(0);
    assert_eq!(
        errors(|c| destinations(c, "VS-H8", "r", [(&port0, None)].into_iter())),
        one("VS-H8", "r[0].destination.port.number")
    );
    assert_eq!(
        errors(|c| destinations(c, "VS-H8", "r", [(&a, Some(-5))].into_iter())),
        one("VS-H8", "r[0].weight")
    );
}

#[test]
fn vs_t1_tcp_routes() {
    let ok = TcpRoute {
        matches: vec![L4MatchAttributes {
            port: Some(9000),
            destination_subnets: vec!["10.0.0.0/8".into()],
            ..Default::default()
        }],
        route: vec![RouteDestination::to(
            Destination::host(HOST).with_port(9000),
        )],
    };
    assert!(errors(|c| tcp_route(c, "spec.tcp[0]", &ok)).is_empty());
    assert_eq!(
        errors(|c| tcp_route(c, "spec.tcp[0]", &TcpRoute::default())),
        one("VS-T1", "spec.tcp[0].route")
    );
    let bad_subnet = TcpRoute {
        matches: vec![L4MatchAttributes {
            destination_subnets: vec!["10.0.0.0/40".into()],
            ..Default::default()
        }],
        ..ok
    };
    assert_eq!(
        errors(|c| tcp_route(c, "spec.tcp[0]", &bad_subnet)),
        one("VS-T1", "spec.tcp[0].match[0].destinationSubnets[0]")
    );
}

#[test]
fn vs9_catch_all_must_be_last() {
    let ok = [with_match(uri_prefix("/api")), route_to(HOST)];
    assert!(warnings(|c| unreachable_http_rules(c, &ok)).is_empty());
    let bad = [route_to(HOST), with_match(uri_prefix("/api"))];
    assert_eq!(
        warnings(|c| unreachable_http_rules(c, &bad)),
        one("VS-9", "spec.http[1]")
    );
    let named_empty = HttpMatchRequest {
        name: Some("all".into()),
        ..Default::default()
    };
    let bad2 = [with_match(named_empty), route_to(HOST)];
    assert_eq!(
        warnings(|c| unreachable_http_rules(c, &bad2)),
        one("VS-9", "spec.http[1]")
    );
    let tcp = [TcpRoute::default(), TcpRoute::default()];
    assert_eq!(
        warnings(|c| unreachable_tcp_rules(c, &tcp)),
        one("VS-9", "spec.tcp[1]")
    );
}

#[test]
fn vs9_ineffective_matches() {
    let ok = [
        with_match(uri_prefix("/api/v2")),
        with_match(uri_prefix("/api")),
    ];
    assert!(warnings(|c| ineffective_matches(c, &ok)).is_empty());
    let shadowed = [
        with_match(uri_prefix("/api")),
        with_match(uri_prefix("/api/v2")),
    ];
    assert_eq!(
        warnings(|c| ineffective_matches(c, &shadowed)),
        one("VS-9", "spec.http[1].match[0]")
    );
    let mut named = uri_prefix("/x");
    named.name = Some("dup".into());
    let dup = [with_match(uri_prefix("/x")), with_match(named)];
    assert_eq!(
        warnings(|c| ineffective_matches(c, &dup)),
        one("VS-9", "spec.http[1].match[0]")
    );
    let mut with_header = uri_prefix("/api/v2");
    with_header
        .headers
        .insert("x-canary".into(), StringMatch::exact("1"));
    let differs = [with_match(uri_prefix("/api")), with_match(with_header)];
    assert!(warnings(|c| ineffective_matches(c, &differs)).is_empty());
}

#[test]
fn vs8_export_to() {
    let mut vs = VirtualService::new(
        crate::istio::Metadata::new("cart", "shop"),
        spec(&[HOST], &[]),
    );
    vs.spec.export_to = vec![".".into(), "istio-system".into()];
    assert!(crate::validate::testing::run(|c| check(c, &vs)).is_empty());
    vs.spec.export_to = vec!["*".into(), ".".into()];
    assert_eq!(errors(|c| check(c, &vs)), one("VS-8", "spec.exportTo"));
}

#[test]
fn whole_virtual_service_passes() {
    let vs = VirtualService::new(
        crate::istio::Metadata::new("cart", "shop"),
        spec(&[HOST], &[]),
    );
    assert!(crate::validate::testing::run(|c| check(c, &vs)).is_empty());
}
