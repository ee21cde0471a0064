#![allow(clippy::unwrap_used)]
use super::*;
use crate::appmesh::gateway_route::{GatewayRouteHostnameMatch, HttpGatewayRouteRewrite};
use crate::istio::{HttpRewrite, RegexRewrite, StringMatch};

use super::compose::{Conjunction, conjoin};
use super::host::{Coverage, HostMatch};
use super::request::http_rewrite;
use super::shadow::{PlacedRules, shadows};

fn host(exact: Option<&str>, suffix: Option<&str>) -> HostMatch {
    HostMatch::of(Some(&GatewayRouteHostnameMatch {
        exact: exact.map(str::to_owned),
        suffix: suffix.map(str::to_owned),
    }))
}

#[test]
fn hostname_conditions_map_to_istio_hosts() {
    assert_eq!(HostMatch::of(None).own_host(), "*");
    assert_eq!(
        host(Some("Shop.Example.com."), None).own_host(),
        "shop.example.com"
    );
    assert_eq!(host(None, Some(".example.com")).own_host(), "*.example.com");
    // Not at a label boundary: matched on :authority in "*".
    let odd = host(None, Some("example.com"));
    assert_eq!(odd.own_host(), "*");
    assert!(odd.needs_authority());
    assert_eq!(
        odd.authority(),
        Some(StringMatch::regex(r".*example\.com(:[0-9]+)?"))
    );
    assert!(host(Some("localhost"), None).needs_authority());
    assert!(!host(Some("a.example.com"), None).needs_authority());
}

#[test]
fn coverage_follows_which_virtual_service_istio_picks() {
    let any = HostMatch::Any;
    let exact = host(Some("a.example.com"), None);
    let dot = host(None, Some(".example.com"));
    let bare = host(None, Some("example.com"));
    assert_eq!(any.coverage("a.example.com"), Coverage::Full);
    assert_eq!(exact.coverage("a.example.com"), Coverage::Full);
    assert_eq!(exact.coverage("*.example.com"), Coverage::None);
    assert_eq!(exact.coverage("*"), Coverage::None);
    assert_eq!(dot.coverage("a.example.com"), Coverage::Full);
    assert_eq!(dot.coverage("*.example.com"), Coverage::Full);
    assert_eq!(dot.coverage("*.b.example.com"), Coverage::Full);
    assert_eq!(
        dot.coverage("*"),
        Coverage::None,
        "*.example.com is more specific than *"
    );
    assert_eq!(dot.coverage("a.example.org"), Coverage::None);
    assert_eq!(bare.coverage("*"), Coverage::Partial);
    assert_eq!(bare.coverage("*.example.com"), Coverage::Full);
    assert_eq!(bare.coverage("*.com"), Coverage::Partial);
    assert_eq!(bare.coverage("myexample.com"), Coverage::Full);
    assert_eq!(
        host(None, Some(".com")).coverage("*.example.com"),
        Coverage::Full
    );
}

fn rule(m: Option<HttpMatchRequest>) -> HttpRoute {
    HttpRoute {
        matches: m.into_iter().collect(),
        ..HttpRoute::default()
    }
}

fn prefix(p: &str) -> HttpMatchRequest {
    HttpMatchRequest {
        uri: Some(StringMatch::prefix(p)),
        ..HttpMatchRequest::default()
    }
}

#[test]
fn shadowing_needs_every_earlier_condition_to_hold() {
    assert!(shadows(&rule(None), &rule(Some(prefix("/a")))));
    assert!(shadows(
        &rule(Some(prefix("/a"))),
        &rule(Some(prefix("/ab")))
    ));
    assert!(!shadows(
        &rule(Some(prefix("/ab"))),
        &rule(Some(prefix("/a")))
    ));
    assert!(!shadows(&rule(Some(prefix("/a"))), &rule(None)));
    let mut with_header = prefix("/a");
    with_header
        .headers
        .insert("x-canary".into(), StringMatch::exact("1"));
    assert!(shadows(
        &rule(Some(prefix("/"))),
        &rule(Some(with_header.clone()))
    ));
    assert!(!shadows(
        &rule(Some(with_header)),
        &rule(Some(prefix("/a")))
    ));
    let on_port = HttpMatchRequest {
        port: Some(8443),
        ..prefix("/a")
    };
    assert!(!shadows(
        &rule(Some(on_port.clone())),
        &rule(Some(prefix("/a")))
    ));
    assert!(shadows(&rule(Some(prefix("/a"))), &rule(Some(on_port))));
}

#[test]
fn indexed_shadow_search_finds_the_first_rule_a_scan_finds() {
    // A small deterministic generator (no dependency): rules with zero to two
    // conditions drawn from uris sharing prefixes, headers and ports, so that hiding
    // happens often and in every way `shadows` knows.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let uris = [
        None,
        Some(StringMatch::prefix("/")),
        Some(StringMatch::prefix("/a")),
        Some(StringMatch::prefix("/a/b")),
        Some(StringMatch::exact("/a/b")),
        Some(StringMatch::exact("/c")),
        Some(StringMatch::regex("/a.*")),
    ];
    let mut hidden = 0;
    for _case in 0..200 {
        let mut placed: Vec<((), HttpRoute)> = Vec::new();
        let mut index = PlacedRules::default();
        for _ in 0..12 {
            let conditions = usize::try_from(next(3)).unwrap_or(0);
            let matches = (0..conditions)
                .map(|_| {
                    let mut m = HttpMatchRequest {
                        uri: uris
                            .get(usize::try_from(next(7)).unwrap_or(0))
                            .cloned()
                            .flatten(),
                        ..HttpMatchRequest::default()
                    };
                    if next(3) == 0 {
                        m.headers.insert("x-v".into(), StringMatch::exact("1"));
                    }
                    if next(4) == 0 {
                        m.port = Some(8080);
                    }
                    m
                })
                .collect();
            let candidate = HttpRoute {
                matches,
                ..HttpRoute::default()
            };
            let scanned = placed.iter().position(|(_, r)| shadows(r, &candidate));
            assert_eq!(
                index.first_shadowing(&placed, &candidate),
                scanned,
                "rule {candidate:?} after {placed:?}"
            );
            if scanned.is_some() {
                hidden += 1;
                continue;
            }
            index.push(placed.len(), &candidate);
            placed.push(((), candidate));
        }
    }
    // The generator must exercise both outcomes for the comparison to mean anything.
    assert!(hidden > 200, "only {hidden} hidden rules generated");
}

#[test]
fn conditions_are_joined_or_found_exclusive() {
    let gr = prefix("/shop");
    let mut header = HttpMatchRequest::default();
    header
        .headers
        .insert("x-canary".into(), StringMatch::exact("true"));
    let Conjunction::Match(joined) = conjoin(&gr, &header, true) else {
        panic!("joinable")
    };
    assert_eq!(joined.uri, Some(StringMatch::prefix("/shop")));
    assert_eq!(joined.headers["x-canary"], StringMatch::exact("true"));
    // The router's path is checked after the gateway's rewrite.
    assert!(matches!(
        conjoin(&gr, &prefix("/shop/cart"), true),
        Conjunction::Inexpressible(_)
    ));
    assert_eq!(
        conjoin(&gr, &prefix("/shop/cart"), false),
        Conjunction::Match(Box::new(prefix("/shop/cart")))
    );
    assert_eq!(conjoin(&gr, &prefix("/other"), false), Conjunction::Never);
    let get = HttpMatchRequest {
        method: Some(StringMatch::exact("GET")),
        ..HttpMatchRequest::default()
    };
    let post = HttpMatchRequest {
        method: Some(StringMatch::exact("POST")),
        ..HttpMatchRequest::default()
    };
    assert_eq!(conjoin(&get, &post, false), Conjunction::Never);
    let regex = HttpMatchRequest {
        method: Some(StringMatch::regex("P.*")),
        ..HttpMatchRequest::default()
    };
    assert!(matches!(
        conjoin(&get, &regex, false),
        Conjunction::Inexpressible(_)
    ));
}

#[test]
fn served_ports_are_none_when_a_rule_applies_everywhere() {
    let on = |p| {
        rule(Some(HttpMatchRequest {
            port: Some(p),
            ..prefix("/")
        }))
    };
    assert_eq!(
        served_ports([on(80), on(8443)].iter()),
        Some(BTreeSet::from([80, 8443]))
    );
    assert_eq!(
        served_ports([on(80), rule(Some(prefix("/x")))].iter()),
        None
    );
    assert_eq!(served_ports([rule(None)].iter()), None);
}

fn prefix_rewrite(
    default_prefix: Option<DefaultRewrite>,
    value: Option<&str>,
) -> HttpGatewayRouteRewrite {
    HttpGatewayRouteRewrite {
        prefix: Some(crate::appmesh::gateway_route::GatewayRoutePrefixRewrite {
            default_prefix,
            value: value.map(str::to_owned),
        }),
        ..HttpGatewayRouteRewrite::default()
    }
}

fn rewrite_of(
    rewrite: Option<&HttpGatewayRouteRewrite>,
    path: PathCondition,
) -> (Option<HttpRewrite>, bool) {
    let (mut notes, mut usage) = (Notes::default(), Notes::default());
    http_rewrite(
        rewrite,
        &path,
        "cart.shop.svc.cluster.local",
        "spec.httpRoute.action",
        &mut notes,
        &mut usage,
    )
}

#[test]
fn app_mesh_default_rewrites_replace_host_and_matched_prefix() {
    let (rw, path_rewritten) = rewrite_of(None, PathCondition::Prefix("/cart".into()));
    let rw = rw.unwrap();
    assert!(path_rewritten);
    assert_eq!(rw.authority.as_deref(), Some("cart.shop.svc.cluster.local"));
    // `/cart/items` must become `/items`, not `//items`.
    assert_eq!(rw.uri, None);
    assert_eq!(
        rw.uri_regex_rewrite,
        Some(RegexRewrite {
            pattern: "^/cart/?".into(),
            rewrite: "/".into()
        })
    );
    let (rw, _) = rewrite_of(None, PathCondition::Prefix("/cart/".into()));
    assert_eq!(rw.unwrap().uri.as_deref(), Some("/"));
    // Replacing `/` by `/` changes nothing.
    let (rw, path_rewritten) = rewrite_of(None, PathCondition::Prefix("/".into()));
    assert!(!path_rewritten);
    assert_eq!(rw.unwrap().uri, None);
}

#[test]
fn explicit_and_disabled_rewrites() {
    let value = prefix_rewrite(None, Some("/api/v2/"));
    let (rw, _) = rewrite_of(Some(&value), PathCondition::Prefix("/v2/".into()));
    assert_eq!(rw.unwrap().uri.as_deref(), Some("/api/v2/"));
    let disabled = prefix_rewrite(Some(DefaultRewrite::Disabled), None);
    let (rw, path_rewritten) = rewrite_of(Some(&disabled), PathCondition::Prefix("/v2".into()));
    assert!(!path_rewritten);
    assert_eq!(
        rw.unwrap(),
        HttpRewrite {
            authority: Some("cart.shop.svc.cluster.local".into()),
            ..HttpRewrite::default()
        }
    );
    let no_host = HttpGatewayRouteRewrite {
        hostname: Some(crate::appmesh::gateway_route::GatewayRouteHostnameRewrite {
            default_target_hostname: Some(DefaultRewrite::Disabled),
        }),
        ..prefix_rewrite(Some(DefaultRewrite::Disabled), None)
    };
    assert_eq!(
        rewrite_of(Some(&no_host), PathCondition::Prefix("/v2".into())),
        (None, false)
    );
    let path = HttpGatewayRouteRewrite {
        path: Some(crate::appmesh::gateway_route::GatewayRoutePathRewrite {
            exact: Some("/new".into()),
        }),
        ..HttpGatewayRouteRewrite::default()
    };
    assert_eq!(
        rewrite_of(Some(&path), PathCondition::Exact)
            .0
            .unwrap()
            .uri
            .as_deref(),
        Some("/new")
    );
    // After a prefix match Istio's `uri` would only replace the prefix.
    let whole = rewrite_of(Some(&path), PathCondition::Prefix("/old".into()))
        .0
        .unwrap();
    assert_eq!(
        whole.uri_regex_rewrite,
        Some(RegexRewrite {
            pattern: "^.*$".into(),
            rewrite: "/new".into()
        })
    );
}

#[test]
fn merged_virtual_services_are_named_after_gateway_and_host() {
    assert_eq!(virtual_service_name("ingress-gw", "*"), "ingress-gw-routes");
    assert_eq!(
        virtual_service_name("ingress-gw", "*.example.com"),
        "ingress-gw-wildcard.example.com"
    );
    assert_eq!(
        virtual_service_name("ingress-gw", "shop.example.com"),
        "ingress-gw-shop.example.com"
    );
}
