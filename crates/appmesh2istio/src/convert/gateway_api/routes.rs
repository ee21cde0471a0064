//! A mesh VirtualService (one host) as Gateway API routes whose parent is that host's
//! Service (GAMMA): one HTTPRoute per Service port the routes match (one without a port when
//! they match none), and TCPRoutes in the experimental channel.
//!
//! The routes are producer routes: they live in the Service's namespace, so they apply to
//! every client, as the VirtualService did (a route in another namespace would apply only to
//! clients in that namespace).

use std::collections::BTreeSet;

use super::backends::Backends;
use super::matches::{MatchNotes, PathStyle, Ranked, http_match, order_kept};
use super::{Note, codes};
use crate::appmesh::common::PortProtocol;
use crate::convert::names::{dns1123_label, service_of_host};
use crate::convert::{ConvertOptions, GatewayApiChannel};
use crate::gateway_api::{
    self as gw, BackendRef, HeaderModifier, HttpBackendRef, HttpHeader, HttpRouteRetry,
    HttpRouteRule, HttpRouteSpec, HttpRouteTimeouts, ParentReference, RouteFilter, TcpRouteRule,
    TcpRouteSpec,
};
use crate::istio::{HeaderOperations, Headers, HttpRoute, IstioObject, Metadata, VirtualService};
use crate::origin::ObjectRef;
use crate::validate::primitives::is_dns1123_subdomain;

/// Schema limits of one HTTPRoute (the CRD's maxItems and the CEL total).
const MAX_RULES: usize = 16;
const MAX_BACKENDS: usize = 16;
const MAX_MATCHES: usize = 64;
const MAX_TOTAL_MATCHES: usize = 128;

/// The retry events Istio always adds to a Gateway API `retry` (`conversion.go`).
const ISTIO_RETRY_EVENTS: [&str; 4] = [
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
];

/// What translating one VirtualService needs.
pub(super) struct RouteContext<'s, 'a> {
    pub opts: &'a ConvertOptions,
    pub backends: &'s mut Backends<'a>,
    /// ServiceEntries of the output by host: (namespace, name).
    pub service_entries: &'s std::collections::BTreeMap<String, (String, String)>,
    /// The App Mesh protocol of each route of the VirtualService's router, by route name.
    pub protocols: std::collections::BTreeMap<String, PortProtocol>,
}

/// Why a VirtualService stays a VirtualService.
pub(super) struct Kept {
    pub code: &'static str,
    pub reason: String,
}

fn kept(reason: impl Into<String>) -> Kept {
    Kept {
        code: codes::KEPT,
        reason: reason.into(),
    }
}

/// The routes replacing `vs`, and what they approximate.
pub(super) fn mesh_routes(
    vs: &VirtualService,
    sources: &[ObjectRef],
    ctx: &mut RouteContext<'_, '_>,
) -> Result<(Vec<IstioObject>, Vec<Note>), Kept> {
    let [host] = vs.spec.hosts.as_slice() else {
        return Err(kept("it has several hosts"));
    };
    let (parent_ns, parent_name, parent_group, parent_kind) = match service_of_host(
        host,
        &ctx.opts.cluster_domain,
    ) {
        Some((ns, name)) => (ns.to_owned(), name.to_owned(), "", "Service"),
        None => match ctx.service_entries.get(host) {
            Some((ns, name)) => (
                ns.clone(),
                name.clone(),
                "networking.istio.io",
                "ServiceEntry",
            ),
            None => {
                return Err(kept(format!(
                    "its host {host} is neither a Kubernetes Service nor a ServiceEntry of the output, so no route can name it as parent"
                )));
            }
        },
    };
    let parent = |port: Option<u32>| ParentReference {
        group: Some(parent_group.to_owned()),
        kind: Some(parent_kind.to_owned()),
        namespace: None,
        name: parent_name.clone(),
        section_name: None,
        port,
    };
    let base_name = dns1123_label(&parent_name, 63 - 6);
    let meta = |name: String| Metadata {
        name,
        namespace: Some(parent_ns.clone()),
        labels: vs.metadata.labels.clone(),
        annotations: vs.metadata.annotations.clone(),
    };
    let mut notes = Vec::new();
    let mut objects = Vec::new();
    let http_ports = vs
        .spec
        .http
        .iter()
        .map(|r| r.matches.iter().map(|m| m.port).collect())
        .collect();
    for (port, routes) in port_groups(&vs.spec.http, http_ports)? {
        let name = port.map_or_else(|| base_name.clone(), |p| format!("{base_name}-{p}"));
        let spec = http_route(&routes, parent(port), &parent_ns, sources, ctx, &mut notes)?;
        objects.push(gw::HttpRoute::new(meta(name), spec).into());
    }
    if !vs.spec.tcp.is_empty() && ctx.opts.gateway_api_channel == GatewayApiChannel::Standard {
        return Err(kept(
            "its TCP routes need TCPRoute, which only the experimental channel has (use --gateway-api-channel experimental)",
        ));
    }
    let tcp_ports = vs
        .spec
        .tcp
        .iter()
        .map(|r| r.matches.iter().map(|m| m.port).collect())
        .collect();
    for (port, routes) in port_groups(&vs.spec.tcp, tcp_ports)? {
        let [route] = routes.as_slice() else {
            return Err(kept(
                "several TCP routes share a port; a TCPRoute has no matches to tell them apart",
            ));
        };
        let backend_refs = route
            .route
            .iter()
            .map(|d| {
                let b = backend(ctx, &d.destination, "TCPRoute", &parent_ns, sources)?;
                Ok(match d.weight {
                    Some(w) if route.route.len() > 1 => b.with_weight(w),
                    _ => b,
                })
            })
            .collect::<Result<Vec<_>, Kept>>()?;
        let name = port.map_or_else(
            || format!("{base_name}-tcp"),
            |p| format!("{base_name}-tcp-{p}"),
        );
        let spec = TcpRouteSpec {
            parent_refs: vec![parent(port)],
            rules: vec![TcpRouteRule {
                name: None,
                backend_refs,
            }],
        };
        objects.push(gw::TcpRoute::new(meta(name), spec).into());
    }
    Ok((objects, notes))
}

/// The Gateway a gateway VirtualService's routes attach to.
pub(super) struct GatewayParent {
    pub name: String,
    pub namespace: String,
    /// By port: the name of its only listener, `None` when it has one per host (routes then
    /// attach by port).
    pub listeners: std::collections::BTreeMap<u32, Option<String>>,
}

/// The HTTPRoutes replacing a gateway-bound `vs`: parent the Gateway (the listener of the
/// port a route matches), hostnames the VirtualService's hosts.
pub(super) fn gateway_routes(
    vs: &VirtualService,
    sources: &[ObjectRef],
    ctx: &mut RouteContext<'_, '_>,
    gateway: &GatewayParent,
) -> Result<(Vec<IstioObject>, Vec<Note>), Kept> {
    if !vs.spec.tcp.is_empty() {
        return Err(kept("it has TCP routes on the gateway"));
    }
    let mut hostnames = Vec::new();
    for host in vs.spec.hosts.iter().filter(|h| *h != "*") {
        if !crate::validate::gateway_api::is_hostname(host) {
            return Err(kept(format!(
                "its host {host:?} is not a Gateway API hostname"
            )));
        }
        hostnames.push(host.clone());
    }
    let route_ns = vs.metadata.namespace.clone().unwrap_or_default();
    let parent = |port: Option<u32>| -> Result<ParentReference, Kept> {
        let mut parent = ParentReference::gateway(
            gateway.name.clone(),
            (gateway.namespace != route_ns).then(|| gateway.namespace.clone()),
            None,
        );
        if let Some(p) = port {
            match gateway.listeners.get(&p) {
                Some(Some(listener)) => parent.section_name = Some(listener.clone()),
                Some(None) => parent.port = Some(p),
                None => {
                    return Err(kept(format!(
                        "a route matches port {p}, which no listener of the Gateway has"
                    )));
                }
            }
        }
        Ok(parent)
    };
    let base_name = dns1123_label(&vs.metadata.name, 63 - 6);
    let mut notes = Vec::new();
    let mut objects = Vec::new();
    let http_ports = vs
        .spec
        .http
        .iter()
        .map(|r| r.matches.iter().map(|m| m.port).collect())
        .collect();
    for (port, routes) in port_groups(&vs.spec.http, http_ports)? {
        let name = port.map_or_else(|| base_name.clone(), |p| format!("{base_name}-{p}"));
        let mut spec = http_route(&routes, parent(port)?, &route_ns, sources, ctx, &mut notes)?;
        spec.hostnames = hostnames.clone();
        let meta = Metadata {
            name,
            namespace: Some(route_ns.clone()),
            labels: vs.metadata.labels.clone(),
            annotations: vs.metadata.annotations.clone(),
        };
        objects.push(gw::HttpRoute::new(meta, spec).into());
    }
    Ok((objects, notes))
}

/// Routes by the Service port they match (`None`: every port).
type PortGroups<'r, R> = Vec<(Option<u32>, Vec<&'r R>)>;

/// The routes per Service port they match (`ports[i]`: the match ports of `routes[i]`):
/// `None` when no route matches a port.
fn port_groups<R>(routes: &[R], ports: Vec<Vec<Option<u32>>>) -> Result<PortGroups<'_, R>, Kept> {
    if ports.iter().flatten().all(Option::is_none) {
        return Ok(if routes.is_empty() {
            vec![]
        } else {
            vec![(None, routes.iter().collect())]
        });
    }
    if ports
        .iter()
        .any(|p| p.is_empty() || p.iter().any(Option::is_none))
    {
        return Err(kept(
            "some of its routes match one port and others every port; Gateway API attaches a route to one port or to all",
        ));
    }
    let distinct: BTreeSet<u32> = ports.iter().flatten().flatten().copied().collect();
    Ok(distinct
        .into_iter()
        .map(|port| {
            let on_port = routes
                .iter()
                .zip(&ports)
                .filter(|(_, p)| p.contains(&Some(port)))
                .map(|(r, _)| r)
                .collect();
            (Some(port), on_port)
        })
        .collect())
}

fn backend(
    ctx: &mut RouteContext<'_, '_>,
    dest: &crate::istio::Destination,
    kind: &'static str,
    route_ns: &str,
    sources: &[ObjectRef],
) -> Result<BackendRef, Kept> {
    ctx.backends
        .backend(dest, kind, route_ns, sources)
        .map_err(kept)
}

fn http_route(
    routes: &[&HttpRoute],
    parent: ParentReference,
    route_ns: &str,
    sources: &[ObjectRef],
    ctx: &mut RouteContext<'_, '_>,
    notes: &mut Vec<Note>,
) -> Result<HttpRouteSpec, Kept> {
    if routes.len() > MAX_RULES {
        return Err(kept(format!(
            "it has {} routes on one port; an HTTPRoute holds {MAX_RULES}, and Istio orders the rules of several HTTPRoutes by creation time, not App Mesh's order",
            routes.len()
        )));
    }
    let mut chosen = None;
    for style in PathStyle::ALL {
        let (rules, n) = rules(routes, style)?;
        if order_kept(&expanded(&rules, routes)) {
            chosen = Some((rules, n, style));
            break;
        }
    }
    let Some((rules, match_notes, style)) = chosen else {
        return Err(Kept {
            code: codes::ORDER,
            reason: "Istio ranks Gateway API rules by path type and length, then method, header and query counts, which would evaluate routes that can match the same request in another order than App Mesh".into(),
        });
    };
    match style {
        PathStyle::Readable => {}
        PathStyle::RegexCatchAll => notes.push(Note::new(codes::ALL_REGEX, "", "the catch-all path is the RegularExpression /.* instead of PathPrefix /: Istio ranks every PathPrefix above every regex, so App Mesh's order holds only this way")),
        PathStyle::AllRegex => notes.push(Note::new(codes::ALL_REGEX, "", "every path match is a RegularExpression: Istio ranks regexes below every PathPrefix and Exact path, so App Mesh's order holds only if all paths are regexes")),
    }
    let total: usize = rules.iter().map(|r| r.matches.len()).sum();
    if total > MAX_TOTAL_MATCHES || rules.iter().any(|r| r.matches.len() > MAX_MATCHES) {
        return Err(kept(format!(
            "its routes have {total} matches, beyond an HTTPRoute's limits ({MAX_MATCHES} per rule, {MAX_TOTAL_MATCHES} in all)"
        )));
    }
    for (route, n) in routes.iter().zip(match_notes) {
        let at = route.name.clone().unwrap_or_default();
        for prefix in n.prefix_regexes {
            notes.push(Note::new(codes::PREFIX_REGEX, &at, format!("prefix {prefix:?} is a RegularExpression: Gateway API's PathPrefix matches whole path segments (\"/foo\" would not match \"/foobar\", as App Mesh does)")));
        }
        if !n.value_regexes.is_empty() {
            notes.push(Note::new(codes::VALUE_REGEX, &at, format!("prefix and presence matches of {} are RegularExpressions (Gateway API has only Exact and RegularExpression)", n.value_regexes.join(", "))));
        }
        if !n.inverted.is_empty() {
            notes.push(Note::new(codes::INVERT, &at, format!("the inverted match of {} is dropped: Gateway API cannot match the absence of a header, so the rule also takes requests App Mesh sent elsewhere", n.inverted.join(", "))));
        }
    }
    let mut out = Vec::with_capacity(rules.len());
    let mut names = BTreeSet::new();
    for (route, mut rule) in routes.iter().zip(rules) {
        let at = route.name.clone().unwrap_or_default();
        if let Some(rewrite) = &route.rewrite {
            if rewrite.uri.is_some() || rewrite.uri_regex_rewrite.is_some() {
                return Err(kept(format!(
                    "route {at} rewrites the path: a ReplacePrefixMatch needs a segment-aware PathPrefix match, which would match other paths than App Mesh's prefix"
                )));
            }
            if let Some(host) = &rewrite.authority {
                rule.filters.push(RouteFilter::url_rewrite(gw::UrlRewrite {
                    hostname: Some(host.clone()),
                    path: None,
                }));
            }
        }
        if route.route.len() > MAX_BACKENDS {
            return Err(kept(format!(
                "a route has {} targets; a rule holds {MAX_BACKENDS}",
                route.route.len()
            )));
        }
        rule.name = route
            .name
            .as_deref()
            .map(|n| dns1123_label(n, 63))
            .filter(|n| is_dns1123_subdomain(n) && names.insert(n.clone()));
        for d in &route.route {
            let mut b = backend(ctx, &d.destination, "HTTPRoute", route_ns, sources)?;
            if route.route.len() > 1 {
                b.weight = d.weight;
            }
            rule.backend_refs.push(HttpBackendRef {
                backend: b,
                filters: header_filters(d.headers.as_ref()),
            });
        }
        rule.filters.extend(header_filters(route.headers.as_ref()));
        let request = route.timeout.map(gw::Duration::from);
        let mut backend_request = None;
        if let Some(retries) = &route.retries {
            match ctx.opts.gateway_api_channel {
                GatewayApiChannel::Experimental => {
                    let (retry, lost) = retry(retries);
                    rule.retry = Some(retry);
                    backend_request = retries.per_try_timeout.map(gw::Duration::from);
                    if let (Some(r), Some(b)) = (request, backend_request)
                        && r.as_millis() != 0
                        && b > r
                    {
                        backend_request = Some(r);
                    }
                    if !lost.is_empty() {
                        notes.push(Note::new(codes::RETRY_EVENTS, &at, format!("retry events {} have no Gateway API form: Istio retries on {} and the listed status codes", lost.join(", "), ISTIO_RETRY_EVENTS.join(", "))));
                    }
                }
                GatewayApiChannel::Standard => {
                    let what = if retries.attempts == 0 {
                        "no retries (attempts 0) cannot be said".to_owned()
                    } else {
                        format!(
                            "the retry policy ({} {}) is dropped, and its per-try timeout with it (Istio would make a lone backendRequest the whole route's timeout)",
                            retries.attempts,
                            if retries.attempts == 1 {
                                "attempt"
                            } else {
                                "attempts"
                            }
                        )
                    };
                    notes.push(Note::new(codes::RETRY_DROPPED, &at, format!("the standard channel's HTTPRoute has no retry field: {what}; meshConfig's defaultHttpRetryPolicy applies (use --gateway-api-channel experimental to keep it)")));
                }
            }
        }
        if request.is_some() || backend_request.is_some() {
            rule.timeouts = Some(HttpRouteTimeouts {
                request,
                backend_request,
            });
        }
        if ctx.protocols.get(&at) == Some(&PortProtocol::Grpc) {
            notes.push(Note::new(codes::GRPC_AS_HTTP, &at, "the gRPC route is an HTTPRoute on its gRPC paths: GRPCRoute has no timeouts or retries in Gateway API v1.5.1"));
        }
        out.push(rule);
    }
    Ok(HttpRouteSpec {
        parent_refs: vec![parent],
        hostnames: Vec::new(),
        rules: out,
    })
}

/// The rules' matches, without backends yet.
fn rules(
    routes: &[&HttpRoute],
    style: PathStyle,
) -> Result<(Vec<HttpRouteRule>, Vec<MatchNotes>), Kept> {
    let mut rules = Vec::with_capacity(routes.len());
    let mut all_notes = Vec::with_capacity(routes.len());
    for route in routes {
        let mut notes = MatchNotes::default();
        let mut matches = route
            .matches
            .iter()
            .map(|m| http_match(m, style, &mut notes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|what| {
                kept(format!(
                    "route {} has {what}",
                    route.name.as_deref().unwrap_or("(unnamed)")
                ))
            })?;
        // A match left empty (it only named a port, now the parentRef's) matches every
        // request: the rule is a catch-all, written without matches.
        if matches.iter().any(|m| *m == gw::HttpRouteMatch::default()) {
            matches.clear();
        }
        if matches.is_empty() && style != PathStyle::Readable {
            // Without a match the API server defaults the rule to `PathPrefix /`, which
            // would outrank every regex.
            matches.push(gw::HttpRouteMatch {
                path: Some(gw::PathMatch::new(
                    gw::PathMatchType::RegularExpression,
                    "/.*",
                )),
                ..gw::HttpRouteMatch::default()
            });
        }
        rules.push(HttpRouteRule {
            matches,
            ..HttpRouteRule::default()
        });
        all_notes.push(notes);
    }
    Ok((rules, all_notes))
}

/// Every match of every rule in order, with the VirtualService match it came from; a rule
/// without matches is one catch-all match.
fn expanded<'m>(rules: &[HttpRouteRule], routes: &[&'m HttpRoute]) -> Vec<Ranked<'m>> {
    let mut out = Vec::new();
    for (i, (rule, route)) in rules.iter().zip(routes).enumerate() {
        if rule.matches.is_empty() {
            out.push(Ranked {
                rule: i,
                converted: gw::HttpRouteMatch::default(),
                original: None,
            });
        }
        for (j, m) in rule.matches.iter().enumerate() {
            out.push(Ranked {
                rule: i,
                converted: m.clone(),
                original: route.matches.get(j),
            });
        }
    }
    out
}

fn header_filters(headers: Option<&Headers>) -> Vec<RouteFilter> {
    let Some(h) = headers else { return Vec::new() };
    let modifier = |ops: &HeaderOperations| HeaderModifier {
        set: ops
            .set
            .iter()
            .map(|(n, v)| HttpHeader {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
        add: ops
            .add
            .iter()
            .map(|(n, v)| HttpHeader {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
        remove: ops.remove.clone(),
    };
    let mut out = Vec::new();
    if let Some(m) = h.request.as_ref().map(modifier).filter(|m| !m.is_empty()) {
        out.push(RouteFilter::request_headers(m));
    }
    if let Some(m) = h.response.as_ref().map(modifier).filter(|m| !m.is_empty()) {
        out.push(RouteFilter::response_headers(m));
    }
    out
}

/// Istio's retry policy as the experimental `retry`, and the `retryOn` events it loses.
fn retry(retries: &crate::istio::HttpRetry) -> (HttpRouteRetry, Vec<String>) {
    let mut codes = BTreeSet::new();
    let mut lost = Vec::new();
    for token in retries
        .retry_on
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|t| !t.is_empty())
    {
        match token {
            t if ISTIO_RETRY_EVENTS.contains(&t) => {}
            "gateway-error" => codes.extend([502, 503, 504]),
            t => match t.parse::<u32>() {
                Ok(code) if (400..=599).contains(&code) => {
                    codes.insert(code);
                }
                _ => lost.push(t.to_owned()),
            },
        }
    }
    (
        HttpRouteRetry {
            codes: codes.into_iter().collect(),
            attempts: Some(retries.attempts),
            backoff: None,
        },
        lost,
    )
}
