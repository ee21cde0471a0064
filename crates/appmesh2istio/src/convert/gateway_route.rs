//! GatewayRoutes → gateway-bound Istio `VirtualService`s (istio-mapping.md §4 "Rewrites", §11;
//! appmesh-crds.md §6, §12.6-7).
//!
//! App Mesh walks all GatewayRoutes of a VirtualGateway as one list: priority first (0 first,
//! unset = 1000), then the longest prefix, the hostname being one more condition. Istio first
//! picks a VirtualService by host (the most specific host wins) and only then walks its routes
//! in order, and routes of several VirtualServices for one host on one gateway are merged in
//! an order nobody controls. So there is one VirtualService per host the GatewayRoutes name,
//! and it holds every GatewayRoute whose hostname condition admits requests for that host
//! (one without hostname, a matching suffix), in App Mesh's order: whichever VirtualService
//! Istio picks for a request holds exactly the GatewayRoutes App Mesh would have tried, in
//! the same order.
//!
//! The target is the other trap: an Istio gateway sends requests straight to the destination
//! host, and the mesh VirtualService of that host (App Mesh's VirtualRouter) only applies to
//! sidecars, whereas App Mesh's gateway applied the router itself. A VirtualNode provider is
//! addressed directly; a router's routes are composed into the gateway route when their
//! conditions can be combined with the GatewayRoute's; otherwise the service host is the
//! destination and the report says what is lost.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::appmesh::AppMeshKind;
use crate::appmesh::gateway_route::{
    DefaultRewrite, GatewayRouteHostnameMatch, GrpcGatewayRoute, HttpGatewayRoute,
    HttpGatewayRouteRewrite,
};
use crate::istio::uri_index::{UriIndex, uri_covers};
use crate::istio::{
    Destination, Duration, HttpMatchRequest, HttpRetry, HttpRewrite, HttpRoute,
    HttpRouteDestination, Metadata, RegexRewrite, StringMatch, VirtualService, VirtualServiceSpec,
};
use crate::origin::ObjectRef;
use crate::report::ReportBuilder;
use crate::resolve::{
    GatewayRouteEntry, Provider, Target, VirtualGatewayEntry, VirtualServiceEntry,
};
use crate::validate::primitives;

use super::matches::{self, HeaderCondition, Notes};
use super::virtual_router::{self, Rule};
use super::{Context, OutputSet, defaults, destinations, names};

/// Nothing could be generated for a GatewayRoute.
pub(crate) const CODE_NOT_CONVERTED: &str = "AMI2320";
/// The target's router could not be composed: routed to the service host.
pub(crate) const CODE_ROUTER_NOT_APPLIED: &str = "AMI2321";
/// The target's router routes are applied by the gateway route itself.
pub(crate) const CODE_ROUTER_COMPOSED: &str = "AMI2322";
/// A hostname condition became an `:authority` regex.
pub(crate) const CODE_AUTHORITY_MATCH: &str = "AMI2323";
/// Shadowed by an earlier GatewayRoute.
pub(crate) const CODE_UNREACHABLE: &str = "AMI2324";
/// A prefix rewrite without a prefix match.
pub(crate) const CODE_REWRITE_IGNORED: &str = "AMI2325";
/// App Mesh's default Host/prefix rewrites written out.
pub(crate) const CODE_DEFAULT_REWRITES: &str = "AMI2326";
/// The composed router has no catch-all route.
pub(crate) const CODE_ROUTER_FALLTHROUGH: &str = "AMI2327";

const TIMEOUT_DEFAULT: &str = "AMI2001";
const RETRIES_DEFAULT: &str = "AMI2002";
const DEFAULTS_DROPPED: &str = "AMI2003";

/// App Mesh's default GatewayRoute priority: the lowest.
const DEFAULT_PRIORITY: i64 = 1000;

/// The Istio Gateway a VirtualGateway became.
pub(super) struct GatewayBinding {
    /// `<namespace>/<name>` of the Gateway, as `gateways` lists it.
    pub gateway: String,
    /// The VirtualGateway's usable listener ports and the Gateway server port of each.
    pub ports: Vec<(u32, u32)>,
}

/// A host a generated VirtualService routes, for the Gateway's server hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServedHost {
    pub namespace: String,
    pub host: String,
    /// The server ports its routes are restricted to; `None`: every server.
    pub ports: Option<BTreeSet<u32>>,
}

/// A GatewayRoute's hostname condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
}

/// How far a GatewayRoute's hostname condition admits the requests of one VirtualService host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Every request for the host passes the condition.
    Full,
    /// Some do: the routes need an `:authority` condition there.
    Partial,
    None,
}

/// A name a Gateway server and a VirtualService can both use as a host.
fn is_gateway_host(host: &str) -> bool {
    !host.contains('*') && primitives::namespace_slash_host(host, true).is_ok()
}

impl HostMatch {
    fn of(hostname: Option<&GatewayRouteHostnameMatch>) -> HostMatch {
        let Some(h) = hostname else {
            return HostMatch::Any;
        };
        // Host names are case-insensitive; Istio hosts are written in lower case.
        match (&h.exact, &h.suffix) {
            (Some(exact), _) => HostMatch::Exact(exact.trim_end_matches('.').to_ascii_lowercase()),
            (None, Some(suffix)) => {
                HostMatch::Suffix(suffix.trim_end_matches('.').to_ascii_lowercase())
            }
            (None, None) => HostMatch::Any,
        }
    }

    /// A suffix that starts at a label boundary: `*` + it is an Istio wildcard host.
    fn is_label_suffix(suffix: &str) -> bool {
        suffix.strip_prefix('.').is_some_and(is_gateway_host)
    }

    /// The VirtualService host whose requests this condition is mostly about; conditions no
    /// Istio host can express live in `*` with an `:authority` regex.
    fn own_host(&self) -> String {
        match self {
            HostMatch::Exact(h) if is_gateway_host(h) => h.clone(),
            HostMatch::Suffix(s) if HostMatch::is_label_suffix(s) => format!("*{s}"),
            _ => "*".to_owned(),
        }
    }

    /// Whether the condition needs an `:authority` regex even in its own VirtualService.
    fn needs_authority(&self) -> bool {
        match self {
            HostMatch::Any => false,
            HostMatch::Exact(h) => !is_gateway_host(h),
            HostMatch::Suffix(s) => !HostMatch::is_label_suffix(s),
        }
    }

    /// How the condition admits the requests Istio sends to the VirtualService of `host`
    /// (an exact name, `*.<domain>` or `*`).
    fn coverage(&self, host: &str) -> Coverage {
        let wildcard = host.strip_prefix('*');
        match (self, wildcard) {
            (HostMatch::Any, _) => Coverage::Full,
            (HostMatch::Exact(h), None) => {
                if h == host {
                    Coverage::Full
                } else {
                    Coverage::None
                }
            }
            // A DNS name has its own, more specific VirtualService.
            (HostMatch::Exact(h), Some(_)) if is_gateway_host(h) => Coverage::None,
            (HostMatch::Exact(h), Some(t)) => {
                if h.ends_with(t) {
                    Coverage::Partial
                } else {
                    Coverage::None
                }
            }
            (HostMatch::Suffix(s), None) => {
                if host.ends_with(s.as_str()) {
                    Coverage::Full
                } else {
                    Coverage::None
                }
            }
            (HostMatch::Suffix(s), Some(t)) => {
                if !t.is_empty() && t.ends_with(s.as_str()) {
                    Coverage::Full
                } else if !HostMatch::is_label_suffix(s) && s.ends_with(t) {
                    // Istio sends the hosts ending in `s` that no more specific host claims
                    // to `*<t>`; a label suffix has its own `*<s>`, more specific than `*<t>`.
                    Coverage::Partial
                } else {
                    Coverage::None
                }
            }
        }
    }

    /// The `:authority` regex of the condition (a Host header may carry a port).
    fn authority(&self) -> Option<StringMatch> {
        match self {
            HostMatch::Any => None,
            HostMatch::Exact(h) => Some(StringMatch::regex(format!(
                "{}(:[0-9]+)?",
                matches::escape_re2(h)
            ))),
            HostMatch::Suffix(s) => Some(StringMatch::regex(format!(
                ".*{}(:[0-9]+)?",
                matches::escape_re2(s)
            ))),
        }
    }

    /// Exact names before suffixes before no condition, among otherwise equal routes.
    fn specificity(&self) -> u8 {
        match self {
            HostMatch::Exact(_) => 0,
            HostMatch::Suffix(_) => 1,
            HostMatch::Any => 2,
        }
    }
}

/// Path specificity of a GatewayRoute that does not constrain the path.
const ANY_PATH: u8 = 3;

/// App Mesh's order of GatewayRoutes: priority, then the most specific path, then the most
/// specific hostname; name order breaks ties. App Mesh documents only "longest prefix first"
/// among equal priorities; exact paths rank first, regexes after prefixes, and routes that do
/// not constrain the path last, so such a catch-all never hides a more specific route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    priority: i64,
    path_specificity: u8,
    longer_prefix_first: Reverse<usize>,
    host_specificity: u8,
    namespace: String,
    name: String,
}

/// One converted GatewayRoute, before it is placed in VirtualServices.
#[derive(Debug)]
struct Candidate {
    source: ObjectRef,
    namespace: String,
    order: OrderKey,
    host: HostMatch,
    /// Its Istio rules in order (several when a router was composed).
    rules: Vec<HttpRoute>,
    /// Findings about its translation, reported once placed.
    notes: Notes,
    /// Findings describing what its rules do, moot when no rule of it is reachable.
    usage: Notes,
}

/// The path condition of a GatewayRoute, which decides its default rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathCondition {
    None,
    Prefix(String),
    Exact,
    Regex,
}

/// Translate the GatewayRoutes attached to `vg` into VirtualServices bound to `binding`, and
/// return the hosts the Gateway's servers must admit.
pub(super) fn translate_routes(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    binding: &GatewayBinding,
) -> Vec<ServedHost> {
    let resolved = ctx.resolved;
    let mut candidates = Vec::new();
    for gr in resolved.gateway_routes_of(&vg.common.key) {
        if let Some(c) = candidate(ctx, gr, binding) {
            candidates.push(c);
        }
    }
    candidates.sort_by(|a, b| a.order.cmp(&b.order));
    let hosts: BTreeSet<String> = candidates.iter().map(|c| c.host.own_host()).collect();
    let mut served = Vec::new();
    let mut reachable: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut shadowed_by: BTreeMap<ObjectRef, String> = BTreeMap::new();
    for host in &hosts {
        let members: Vec<(&Candidate, Coverage)> = candidates
            .iter()
            .map(|c| (c, c.host.coverage(host)))
            .filter(|(_, coverage)| *coverage != Coverage::None)
            .collect();
        let several_namespaces = members
            .iter()
            .map(|(c, _)| &c.namespace)
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
        let mut rules: Vec<(&Candidate, HttpRoute)> = Vec::new();
        let mut placed = PlacedRules::default();
        for (c, coverage) in &members {
            let own = c.host.own_host() == *host;
            for rule in &c.rules {
                let mut rule = rule.clone();
                if *coverage == Coverage::Partial {
                    restrict_authority(&mut rule, &c.host);
                }
                if several_namespaces {
                    rule.name = rule.name.map(|n| format!("{}.{n}", c.namespace));
                }
                if let Some(i) = placed.first_shadowing(&rules, &rule) {
                    if own && let Some((earlier, _)) = rules.get(i) {
                        shadowed_by
                            .entry(c.source.clone())
                            .or_insert_with(|| earlier.source.to_string());
                    }
                    continue;
                }
                if own {
                    reachable.insert(c.source.clone());
                }
                placed.push(rules.len(), &rule);
                rules.push((c, rule));
            }
        }
        if rules.is_empty() {
            continue;
        }
        let sources: Vec<&ObjectRef> = {
            let mut seen = BTreeSet::new();
            rules
                .iter()
                .map(|(c, _)| &c.source)
                .filter(|s| seen.insert((*s).clone()))
                .collect()
        };
        let namespaces: BTreeSet<&str> = rules.iter().map(|(c, _)| c.namespace.as_str()).collect();
        let namespace = match namespaces.iter().next() {
            Some(only) if namespaces.len() == 1 => (*only).to_owned(),
            _ => vg.common.key.namespace.clone(),
        };
        // Named after gateway and host: the GatewayRoutes' names usually are those of the
        // App Mesh VirtualServices they target, whose mesh VirtualServices already use them.
        let name = virtual_service_name(&vg.common.key.name, host);
        let ports = served_ports(rules.iter().map(|(_, r)| r));
        let spec = VirtualServiceSpec {
            hosts: vec![host.clone()],
            gateways: vec![binding.gateway.clone()],
            http: rules.into_iter().map(|(_, r)| r).collect(),
            ..VirtualServiceSpec::default()
        };
        let Some((first, rest)) = sources.split_first() else {
            continue;
        };
        let key = ctx.output.insert(
            VirtualService::new(
                Metadata::new(names::object_name(&name), namespace.clone()),
                spec,
            ),
            first,
        );
        for source in rest {
            ctx.output.add_source(&key, source);
        }
        served.push(ServedHost {
            namespace,
            host: host.clone(),
            ports,
        });
    }
    for c in candidates {
        c.notes.report(ctx, &c.source);
        if reachable.contains(&c.source) {
            c.usage.report(ctx, &c.source);
            continue;
        }
        let earlier = shadowed_by
            .get(&c.source)
            .map_or_else(|| "an earlier GatewayRoute".to_owned(), |s| s.clone());
        ctx.note(
            CODE_UNREACHABLE,
            &c.source,
            "spec",
            format!("{earlier} comes first in App Mesh's order and matches every request this GatewayRoute matches, so it is not generated"),
        );
    }
    served
}

/// A readable name for the VirtualService of the GatewayRoutes of one gateway host.
fn virtual_service_name(gateway: &str, host: &str) -> String {
    match host {
        "*" => format!("{gateway}-routes"),
        _ => format!("{gateway}-{}", host.replace('*', "wildcard")),
    }
}

/// The server ports some rule is restricted to, or `None` when a rule applies on every port.
fn served_ports<'r>(rules: impl Iterator<Item = &'r HttpRoute>) -> Option<BTreeSet<u32>> {
    let mut ports = BTreeSet::new();
    for rule in rules {
        if rule.matches.is_empty() {
            return None;
        }
        for m in &rule.matches {
            ports.insert(m.port?);
        }
    }
    Some(ports)
}

/// Limit a rule to the requests whose `:authority` passes `host`'s condition.
fn restrict_authority(rule: &mut HttpRoute, host: &HostMatch) {
    let Some(authority) = host.authority() else {
        return;
    };
    if rule.matches.is_empty() {
        rule.matches.push(HttpMatchRequest::default());
    }
    for m in &mut rule.matches {
        m.authority = Some(authority.clone());
    }
}

/// The rules placed so far in one VirtualService, indexed so that finding the first one that
/// hides a new rule looks only at rules whose uri condition could (a gateway host with
/// hundreds of routes would otherwise cost a scan of all earlier rules per rule).
#[derive(Debug, Default)]
struct PlacedRules {
    /// The first placed rule without match conditions: it hides every later rule.
    catch_all: Option<usize>,
    uris: UriIndex,
}

impl PlacedRules {
    fn push(&mut self, id: usize, rule: &HttpRoute) {
        if rule.matches.is_empty() {
            self.catch_all.get_or_insert(id);
        }
        for m in &rule.matches {
            self.uris.insert(m.uri.as_ref(), id);
        }
    }

    /// The position in `placed` of the first rule that [`shadows`] `rule`. An earlier rule
    /// with conditions must cover the first condition of `rule`, uri included, so only the
    /// rules the uri index yields for it are candidates.
    fn first_shadowing<T>(&self, placed: &[(T, HttpRoute)], rule: &HttpRoute) -> Option<usize> {
        let Some(first) = rule.matches.first() else {
            return self.catch_all;
        };
        self.uris
            .covering(first.uri.as_ref())
            .into_iter()
            .take_while(|&i| self.catch_all.is_none_or(|c| i < c))
            .find(|&i| {
                placed
                    .get(i)
                    .is_some_and(|(_, earlier)| shadows(earlier, rule))
            })
            .or(self.catch_all)
    }
}

/// Whether `earlier` matches every request `later` matches (so Istio, like App Mesh, never
/// reaches `later`). Each condition of an earlier match must hold for the later one.
fn shadows(earlier: &HttpRoute, later: &HttpRoute) -> bool {
    if earlier.matches.is_empty() {
        return true;
    }
    !later.matches.is_empty()
        && later
            .matches
            .iter()
            .all(|l| earlier.matches.iter().any(|e| match_covers(e, l)))
}

fn match_covers(e: &HttpMatchRequest, l: &HttpMatchRequest) -> bool {
    let uri = uri_covers(e.uri.as_ref(), l.uri.as_ref());
    let option = |a: &Option<StringMatch>, b: &Option<StringMatch>| a.is_none() || a == b;
    let map = |a: &BTreeMap<String, StringMatch>, b: &BTreeMap<String, StringMatch>| {
        a.iter().all(|(k, v)| b.get(k) == Some(v))
    };
    uri && option(&e.scheme, &l.scheme)
        && option(&e.method, &l.method)
        && option(&e.authority, &l.authority)
        && map(&e.headers, &l.headers)
        && map(&e.query_params, &l.query_params)
        && map(&e.without_headers, &l.without_headers)
        && (e.port.is_none() || e.port == l.port)
        && e.ignore_uri_case == l.ignore_uri_case
        && e.source_labels
            .iter()
            .all(|(k, v)| l.source_labels.get(k) == Some(v))
        && e.gateways.iter().all(|g| l.gateways.contains(g))
}

/// The route of a GatewayRoute, whichever type it is.
enum RouteKind<'g> {
    Http {
        key: &'static str,
        route: &'g HttpGatewayRoute,
    },
    Grpc(&'g GrpcGatewayRoute),
}

/// The match of a GatewayRoute without its hostname, and what ordering and rewriting need.
struct MatchPlan {
    m: HttpMatchRequest,
    path: PathCondition,
    path_specificity: u8,
    prefix_len: usize,
}

fn candidate(
    ctx: &mut Context<'_>,
    gr: &GatewayRouteEntry<'_>,
    binding: &GatewayBinding,
) -> Option<Candidate> {
    let source = gr.common.key.object_ref(AppMeshKind::GatewayRoute);
    let spec = &gr.object.spec;
    let kind = if let Some(route) = &spec.http_route {
        RouteKind::Http {
            key: "httpRoute",
            route,
        }
    } else if let Some(route) = &spec.http2_route {
        RouteKind::Http {
            key: "http2Route",
            route,
        }
    } else if let Some(route) = &spec.grpc_route {
        RouteKind::Grpc(route)
    } else {
        ctx.note(CODE_NOT_CONVERTED, &source, "spec", "the GatewayRoute sets none of httpRoute, http2Route and grpcRoute, so it routes nothing");
        return None;
    };
    let field = match &kind {
        RouteKind::Http { key, .. } => format!("spec.{key}"),
        RouteKind::Grpc(_) => "spec.grpcRoute".to_owned(),
    };
    let mut notes = Notes::default();
    let mut usage = Notes::default();
    let result = build_candidate(
        ctx, gr, &source, &kind, &field, binding, &mut notes, &mut usage,
    );
    match result {
        Ok(mut c) => {
            c.notes = notes;
            c.usage = usage;
            Some(c)
        }
        Err(Some(why)) => {
            notes.report(ctx, &source);
            ctx.note(CODE_NOT_CONVERTED, &source, &field, why);
            None
        }
        // The notes already say why (a condition Istio cannot express).
        Err(None) => {
            notes.report(ctx, &source);
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_candidate(
    ctx: &mut Context<'_>,
    gr: &GatewayRouteEntry<'_>,
    source: &ObjectRef,
    kind: &RouteKind<'_>,
    field: &str,
    binding: &GatewayBinding,
    notes: &mut Notes,
    usage: &mut Notes,
) -> Result<Candidate, Option<String>> {
    let (hostname, port) = match kind {
        RouteKind::Http { route, .. } => (route.match_.hostname.as_ref(), route.match_.port),
        RouteKind::Grpc(route) => (route.match_.hostname.as_ref(), route.match_.port),
    };
    let host = HostMatch::of(hostname);
    let mut plan = match kind {
        RouteKind::Http { route, .. } => http_match(route, field, notes),
        RouteKind::Grpc(route) => grpc_match(route, field, notes),
    }
    .map_err(|matches::Inexpressible| None)?;
    if let Some(port) = port {
        let server = binding
            .ports
            .iter()
            .find(|(listener, _)| i64::from(*listener) == port)
            .map(|(_, server)| *server);
        let Some(server) = server else {
            return Err(Some(format!(
                "it matches port {port}, which is no listener port of its VirtualGateway ({}), so App Mesh never routed anything to it",
                binding
                    .ports
                    .iter()
                    .map(|(listener, _)| listener.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        // Istio matches the Gateway server's port. With one listener the condition holds for
        // every request of the gateway.
        if binding.ports.len() > 1 {
            plan.m.port = Some(server);
        }
    }
    if host.needs_authority() {
        notes.add(
            CODE_AUTHORITY_MATCH,
            format!("{field}.match.hostname"),
            format!(
                "hostname condition {} is no Istio host, so the route is in the VirtualService for host \"*\" with an :authority regex",
                describe_host(&host)
            ),
        );
    }
    let (action_field, target_port, target_vs) = match kind {
        RouteKind::Http { route, .. } => (
            format!("{field}.action"),
            route.action.target.port,
            gr.target.as_ref(),
        ),
        RouteKind::Grpc(route) => (
            format!("{field}.action"),
            route.action.target.port,
            gr.target.as_ref(),
        ),
    };
    let vs = target_virtual_service(ctx, target_vs)?;
    if let RouteKind::Http { route, .. } = kind
        && let Some(why) = matches::rewrite_control_character(route.action.rewrite.as_ref())
    {
        return Err(Some(why));
    }
    let (rewrite, path_rewritten) = match kind {
        RouteKind::Http { route, .. } => http_rewrite(
            route.action.rewrite.as_ref(),
            &plan.path,
            &vs.aws_name,
            &action_field,
            notes,
            usage,
        ),
        RouteKind::Grpc(route) => {
            let disabled = route
                .action
                .rewrite
                .as_ref()
                .and_then(|r| r.hostname.as_ref())
                .and_then(|h| h.default_target_hostname)
                == Some(DefaultRewrite::Disabled);
            let mut defaults_written = Vec::new();
            let rewrite = authority_rewrite(disabled, &vs.aws_name, &mut defaults_written);
            note_default_rewrites(usage, &action_field, &defaults_written);
            (rewrite, false)
        }
    };
    let name = gr.common.key.name.clone();
    let base = HttpRoute {
        name: Some(name.clone()),
        matches: if plan.m == HttpMatchRequest::default() {
            Vec::new()
        } else {
            vec![plan.m.clone()]
        },
        rewrite,
        ..HttpRoute::default()
    };
    let rules = target_rules(
        ctx,
        vs,
        target_port,
        &base,
        &plan.m,
        path_rewritten,
        &action_field,
        notes,
        usage,
    )?;
    let priority = gr.object.spec.priority.unwrap_or(DEFAULT_PRIORITY);
    Ok(Candidate {
        source: source.clone(),
        namespace: gr.common.key.namespace.clone(),
        order: OrderKey {
            priority,
            path_specificity: plan.path_specificity,
            longer_prefix_first: Reverse(plan.prefix_len),
            host_specificity: host.specificity(),
            namespace: gr.common.key.namespace.clone(),
            name,
        },
        host,
        rules,
        notes: Notes::default(),
        usage: Notes::default(),
    })
}

fn describe_host(host: &HostMatch) -> String {
    match host {
        HostMatch::Any => "(none)".to_owned(),
        HostMatch::Exact(h) => format!("exact {h:?}"),
        HostMatch::Suffix(s) => format!("suffix {s:?}"),
    }
}

fn http_match(
    route: &HttpGatewayRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<MatchPlan, matches::Inexpressible> {
    let am = &route.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    // A GatewayRoute may match on the hostname alone (the webhook requires one of prefix,
    // path, hostname), so no path condition is not an anomaly here.
    let uri = if am.prefix.is_some() || am.path.is_some() {
        matches::uri_match(am.prefix.as_deref(), am.path.as_ref(), &base, notes)
    } else {
        Ok(None)
    };
    let headers = matches::add_header_conditions(
        &mut m,
        am.headers.iter().map(|h| HeaderCondition {
            name: &h.name,
            method: h.match_.as_ref(),
            invert: h.invert.unwrap_or(false),
        }),
        &format!("{base}.headers"),
        notes,
    );
    let query = matches::add_query_conditions(
        &mut m,
        &am.query_parameters,
        &format!("{base}.queryParameters"),
        notes,
    );
    let uri = uri?;
    headers?;
    query?;
    if let Some(method) = am.method {
        m.method = Some(matches::method_match(method));
    }
    let (path, path_specificity, prefix_len) = match &uri {
        Some(StringMatch::Prefix(p)) if p == "/" => {
            (PathCondition::Prefix(p.clone()), ANY_PATH, p.len())
        }
        Some(StringMatch::Prefix(p)) => (PathCondition::Prefix(p.clone()), 1, p.len()),
        Some(StringMatch::Exact(_)) => (PathCondition::Exact, 0, 0),
        Some(_) => (PathCondition::Regex, 2, 0),
        None => (PathCondition::None, ANY_PATH, 0),
    };
    // `prefix: /` matches every path: no condition at all in Istio.
    m.uri = uri.filter(|u| *u != StringMatch::prefix("/"));
    Ok(MatchPlan {
        m,
        path,
        path_specificity,
        prefix_len,
    })
}

fn grpc_match(
    route: &GrpcGatewayRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<MatchPlan, matches::Inexpressible> {
    let am = &route.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::grpc_uri(am.service_name.as_deref(), None, &base, notes);
    let metadata = matches::add_header_conditions(
        &mut m,
        am.metadata.iter().map(|h| HeaderCondition {
            name: &h.name,
            method: h.match_.as_ref(),
            invert: h.invert.unwrap_or(false),
        }),
        &format!("{base}.metadata"),
        notes,
    );
    let uri = uri?;
    metadata?;
    let prefix_len = match &uri {
        Some(StringMatch::Prefix(p)) => p.len(),
        _ => 0,
    };
    m.uri = uri;
    Ok(MatchPlan {
        m,
        path: PathCondition::None,
        path_specificity: if prefix_len == 0 { ANY_PATH } else { 1 },
        prefix_len,
    })
}

/// The target VirtualService of a GatewayRoute, or why there is none to route to.
fn target_virtual_service<'r>(
    ctx: &Context<'r>,
    target: Option<&Target>,
) -> Result<&'r VirtualServiceEntry<'r>, Option<String>> {
    let resolved = ctx.resolved;
    match target {
        None => Err(Some(
            "the GatewayRoute names no target VirtualService".to_owned(),
        )),
        Some(Target::Arn(arn)) => Err(Some(format!(
            "the target VirtualService is referenced by ARN ({arn}), which cannot be mapped to an Istio host from manifests"
        ))),
        Some(Target::Object(key)) => match resolved.virtual_services.get(key) {
            None => Err(Some(format!(
                "the target VirtualService {key} is not in the input"
            ))),
            Some(vs) if vs.provider.is_none() => Err(Some(format!(
                "the target VirtualService {key} has no provider, so App Mesh's gateway had nowhere to send these requests"
            ))),
            // Its host is the destination (and the Host rewrite) of every rule written here;
            // the VirtualService itself is not converted for the same reason.
            Some(vs) => {
                let host = ctx.qualify(&vs.aws_name, &vs.common.key.namespace);
                match primitives::fqdn(&host) {
                    Ok(()) => Ok(vs),
                    Err(e) => Err(Some(format!(
                        "the target VirtualService {key} has host {host:?}, which cannot be an Istio host: {e}"
                    ))),
                }
            }
        },
    }
}

/// App Mesh's Host rewrite: to the target VirtualService's name, unless disabled.
fn authority_rewrite(
    disabled: bool,
    target_name: &str,
    defaults_written: &mut Vec<String>,
) -> Option<HttpRewrite> {
    if disabled {
        return None;
    }
    defaults_written.push(format!("the Host header is rewritten to {target_name:?}"));
    Some(HttpRewrite {
        authority: Some(target_name.to_owned()),
        ..HttpRewrite::default()
    })
}

fn note_default_rewrites(notes: &mut Notes, field: &str, written: &[String]) {
    if !written.is_empty() {
        notes.add(
            CODE_DEFAULT_REWRITES,
            format!("{field}.rewrite"),
            format!(
                "App Mesh's default rewrites are written out: {}",
                written.join("; ")
            ),
        );
    }
}

/// The rewrite of an HTTP GatewayRoute, and whether the path the target sees differs from the
/// path the gateway received.
fn http_rewrite(
    rewrite: Option<&HttpGatewayRouteRewrite>,
    path: &PathCondition,
    target_name: &str,
    field: &str,
    notes: &mut Notes,
    usage: &mut Notes,
) -> (Option<HttpRewrite>, bool) {
    let hostname_disabled = rewrite
        .and_then(|r| r.hostname.as_ref())
        .and_then(|h| h.default_target_hostname)
        == Some(DefaultRewrite::Disabled);
    let mut written = Vec::new();
    let mut result =
        authority_rewrite(hostname_disabled, target_name, &mut written).unwrap_or_default();
    let prefix_rewrite = rewrite.and_then(|r| r.prefix.as_ref());
    let path_rewrite = rewrite
        .and_then(|r| r.path.as_ref())
        .and_then(|p| p.exact.as_deref());
    let rewrite_field = format!("{field}.rewrite");
    if let Some(value) = path_rewrite {
        // Istio's `uri` replaces the whole path only after an exact or regex match; after a
        // prefix match (or none) it would replace just the prefix.
        if matches!(path, PathCondition::Exact | PathCondition::Regex) {
            result.uri = Some(value.to_owned());
        } else {
            result.uri_regex_rewrite = Some(RegexRewrite {
                pattern: "^.*$".to_owned(),
                rewrite: value.to_owned(),
            });
        }
        if prefix_rewrite.is_some() {
            notes.add(CODE_REWRITE_IGNORED, format!("{rewrite_field}.prefix"), "both prefix and path rewrites are set (App Mesh accepts one); the path rewrite is used");
        }
    } else if let PathCondition::Prefix(prefix) = path {
        let value = prefix_rewrite.and_then(|p| p.value.as_deref());
        let disabled =
            prefix_rewrite.and_then(|p| p.default_prefix) == Some(DefaultRewrite::Disabled);
        match value {
            // Istio's `uri` replaces the matched prefix, as App Mesh's value does.
            Some(value) => result.uri = Some(value.to_owned()),
            None if disabled || prefix == "/" => {}
            None => {
                written.push(format!(
                    "the matched prefix {prefix:?} is rewritten to \"/\""
                ));
                if prefix.ends_with('/') {
                    result.uri = Some("/".to_owned());
                } else {
                    // Replacing `/chapter` by `/` would turn `/chapter/1` into `//1`; App Mesh
                    // documents `/1`, so the slash after the prefix goes too.
                    result.uri_regex_rewrite = Some(RegexRewrite {
                        pattern: format!("^{}/?", matches::escape_re2(prefix)),
                        rewrite: "/".to_owned(),
                    });
                }
            }
        }
    } else if prefix_rewrite
        .is_some_and(|p| p.value.is_some() || p.default_prefix == Some(DefaultRewrite::Enabled))
    {
        notes.add(CODE_REWRITE_IGNORED, format!("{rewrite_field}.prefix"), "a prefix rewrite needs a prefix match, and this GatewayRoute matches no prefix; it is left out");
    }
    note_default_rewrites(usage, field, &written);
    let path_rewritten = result.uri.is_some() || result.uri_regex_rewrite.is_some();
    let rewrite = (result != HttpRewrite::default()).then_some(result);
    (rewrite, path_rewritten)
}

/// Timeout and retries of a gateway route whose target sets none: App Mesh's defaults.
fn default_policies(
    ctx: &Context<'_>,
    field: &str,
    notes: &mut Notes,
) -> (Option<Duration>, Option<HttpRetry>) {
    if ctx.opts.preserve_defaults {
        notes.add(
            TIMEOUT_DEFAULT,
            field.to_owned(),
            format!(
                "App Mesh's default per-request timeout of {} is written out",
                defaults::REQUEST_TIMEOUT
            ),
        );
        notes.add(
            RETRIES_DEFAULT,
            field.to_owned(),
            format!(
                "App Mesh's default retry policy ({} retries on {}) is written out",
                defaults::RETRY_ATTEMPTS,
                defaults::RETRY_ON.join(",")
            ),
        );
        (
            Some(defaults::REQUEST_TIMEOUT),
            Some(defaults::retry_policy()),
        )
    } else {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!("App Mesh's implicit {} per-request timeout and default retry policy are not carried over (--no-preserve-defaults)", defaults::REQUEST_TIMEOUT),
        );
        (None, None)
    }
}

/// The Istio rules of a GatewayRoute: `base` (its match and rewrite) sent to where App Mesh's
/// gateway sent the target VirtualService's requests.
#[allow(clippy::too_many_arguments)]
fn target_rules(
    ctx: &mut Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    target_port: Option<i64>,
    base: &HttpRoute,
    gr_match: &HttpMatchRequest,
    path_rewritten: bool,
    field: &str,
    notes: &mut Notes,
    usage: &mut Notes,
) -> Result<Vec<HttpRoute>, Option<String>> {
    let target_field = format!("{field}.target");
    let single = |route: Vec<HttpRouteDestination>,
                  (timeout, retries): (Option<Duration>, Option<HttpRetry>)| {
        vec![HttpRoute {
            route,
            timeout,
            retries,
            ..base.clone()
        }]
    };
    match &vs.provider {
        None => Err(Some(format!(
            "the target VirtualService {} has no provider",
            vs.common.key
        ))),
        Some(Provider::VirtualNode(Target::Arn(arn))) => Err(Some(format!(
            "the target VirtualService {} is provided by a VirtualNode referenced by ARN ({arn}), which cannot be addressed from manifests",
            vs.common.key
        ))),
        Some(Provider::VirtualNode(Target::Object(node_key))) => {
            let destination =
                virtual_router::target_destination(ctx, node_key, target_port).map_err(Some)?;
            // A VirtualService provided by a node has no route to carry a timeout or retry
            // policy: App Mesh's gateway applies the defaults.
            let policies = default_policies(ctx, &target_field, usage);
            Ok(single(
                vec![HttpRouteDestination::to(destination)],
                policies,
            ))
        }
        Some(Provider::VirtualRouter(router)) => {
            match compose_router(ctx, vs, router, target_port, base, gr_match, path_rewritten) {
                Ok(composed) => {
                    usage.add(CODE_ROUTER_COMPOSED, target_field.clone(), composed.summary);
                    if !composed.ends_with_catch_all {
                        notes.add(
                        CODE_ROUTER_FALLTHROUGH,
                        target_field,
                        format!("no route of {} matches every request, so requests it does not route continue to later gateway routes instead of failing", composed.router),
                    );
                    }
                    Ok(composed.rules)
                }
                Err(why) => {
                    let destination = service_host_destination(ctx, vs, target_port);
                    notes.add(
                    CODE_ROUTER_NOT_APPLIED,
                    target_field.clone(),
                    format!(
                        "routed to the service host {} because {why}; the router's matches, weights, timeouts and retries do not apply to these requests",
                        destination.host
                    ),
                );
                    let policies = default_policies(ctx, &target_field, usage);
                    Ok(single(
                        vec![HttpRouteDestination::to(destination)],
                        policies,
                    ))
                }
            }
        }
    }
}

/// The Istio destination for a VirtualService's own host (and port).
fn service_host_destination(
    ctx: &Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    target_port: Option<i64>,
) -> Destination {
    let domain = &ctx.opts.cluster_domain;
    let host = ctx.qualify(&vs.aws_name, &vs.common.key.namespace);
    let mut destination = Destination::host(&host);
    let listener_port = match (target_port, vs.ports.as_slice()) {
        (Some(p), _) => Some(p),
        (None, [only]) => Some(only.port),
        _ => None,
    };
    let service_ports = names::service_of_host(&host, domain)
        .and_then(|(ns, name)| {
            ctx.inventory
                .services
                .iter()
                .find(|s| s.object.namespace == ns && s.object.name == name)
        })
        .map_or(0, |s| s.object.ports.len());
    if let Some(port) = listener_port
        && (target_port.is_some() || service_ports > 1)
    {
        let number = destinations::service_port(ctx.resolved, &host, port, domain);
        if let Ok(number) = u32::try_from(number)
            && (1..=65535).contains(&number)
        {
            destination = destination.with_port(number);
        }
    }
    destination
}

struct Composed {
    rules: Vec<HttpRoute>,
    ends_with_catch_all: bool,
    router: String,
    summary: String,
}

/// The router's routes as rules of the gateway route: each router route's conditions joined
/// with the GatewayRoute's, its destinations, timeout and retries. `Err`: why that is not
/// possible.
fn compose_router(
    ctx: &Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    router: &Target,
    target_port: Option<i64>,
    base: &HttpRoute,
    gr_match: &HttpMatchRequest,
    path_rewritten: bool,
) -> Result<Composed, String> {
    let Target::Object(router_key) = router else {
        return Err(format!(
            "the provider of {} is a VirtualRouter referenced by ARN",
            vs.common.key
        ));
    };
    let Some(router) = ctx.resolved.virtual_routers.get(router_key) else {
        return Err(format!(
            "its VirtualRouter {router_key} is not in the input"
        ));
    };
    let router_name = format!("VirtualRouter {router_key}");
    let multi_port = router.object.spec.listeners.len() > 1;
    // Planning reports its findings against the router, which the VirtualService translation
    // already did; a scratch context keeps them from being reported twice.
    let mut scratch = Context {
        inventory: ctx.inventory,
        resolved: ctx.resolved,
        opts: ctx.opts,
        output: OutputSet::default(),
        report: ReportBuilder::default(),
    };
    let mut planned = virtual_router::plan_router(&mut scratch, router, multi_port);
    if multi_port {
        let Some(port) = target_port.and_then(|p| u32::try_from(p).ok()) else {
            return Err(format!(
                "{router_name} has several listeners and the GatewayRoute names no target port"
            ));
        };
        planned.retain(|r| r.port == Some(port));
    }
    planned.sort_by_key(|r| r.order);
    if let Some(end) = planned.iter().position(|r| r.catch_all) {
        planned.truncate(end + 1);
    }
    if planned.is_empty() {
        return Err(format!(
            "no route of {router_name} could be converted for the target's port"
        ));
    }
    let ends_with_catch_all = planned.last().is_some_and(|r| r.catch_all);
    let mut rules = Vec::new();
    let mut described = Vec::new();
    for p in &planned {
        let Rule::Http(route) = &p.rule else {
            return Err(format!(
                "route `{}` of {router_name} is a TCP route",
                p.name
            ));
        };
        let router_match = route.matches.first().cloned().map(|mut m| {
            m.port = None;
            m
        });
        let joined = match router_match {
            None => Conjunction::Match(Box::new(gr_match.clone())),
            Some(m) => conjoin(gr_match, &m, path_rewritten),
        };
        let m = match joined {
            Conjunction::Match(m) => *m,
            Conjunction::Never => continue,
            Conjunction::Inexpressible(why) => {
                return Err(format!("route `{}` of {router_name} {why}", p.name));
            }
        };
        described.push(format!(
            "`{}` ({})",
            p.name,
            describe_destinations(&route.route)
        ));
        rules.push(HttpRoute {
            name: base.name.as_ref().map(|n| format!("{n}.{}", p.name)),
            matches: if m == HttpMatchRequest::default() {
                Vec::new()
            } else {
                vec![m]
            },
            route: route.route.clone(),
            timeout: route.timeout,
            retries: route.retries.clone(),
            ..base.clone()
        });
    }
    if rules.is_empty() {
        return Err(format!(
            "no route of {router_name} can match the requests of this GatewayRoute"
        ));
    }
    let summary = format!(
        "the gateway applies the routes of {router_name} itself: {}",
        described.join(", ")
    );
    Ok(Composed {
        rules,
        ends_with_catch_all,
        router: router_name,
        summary,
    })
}

fn describe_destinations(route: &[HttpRouteDestination]) -> String {
    route
        .iter()
        .map(|d| match d.weight {
            Some(w) => format!("{} weight {w}", d.destination.host),
            None => d.destination.host.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conjunction of two Istio match conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conjunction {
    Match(Box<HttpMatchRequest>),
    /// No request satisfies both.
    Never,
    /// Both can hold, but one Istio match cannot say so; the reason.
    Inexpressible(String),
}

/// Join the GatewayRoute's conditions with a router route's. The router sees the request after
/// the gateway's rewrites, so its path condition cannot be checked at the gateway once the path
/// was rewritten.
fn conjoin(
    gateway: &HttpMatchRequest,
    router: &HttpMatchRequest,
    path_rewritten: bool,
) -> Conjunction {
    let mut m = gateway.clone();
    // `prefix: /` holds for every path, rewritten or not.
    let router_uri = router
        .uri
        .as_ref()
        .filter(|u| **u != StringMatch::prefix("/"));
    if let Some(router_uri) = router_uri {
        if path_rewritten {
            return Conjunction::Inexpressible(
                "matches the path, which the gateway rewrites before the router sees it".to_owned(),
            );
        }
        m.uri = match both_uri(gateway.uri.as_ref(), router_uri) {
            Ok(Some(uri)) => Some(uri),
            Ok(None) => return Conjunction::Never,
            Err(why) => return Conjunction::Inexpressible(why),
        };
    }
    for (mine, theirs, what) in [
        (&mut m.scheme, &router.scheme, "scheme"),
        (&mut m.method, &router.method, "method"),
        (&mut m.authority, &router.authority, "authority"),
    ] {
        match join_value(mine.as_ref(), theirs.as_ref()) {
            Ok(v) => *mine = v,
            Err(never) => return never_or(never, what),
        }
    }
    for (mine, theirs, what) in [
        (&mut m.headers, &router.headers, "header"),
        (&mut m.query_params, &router.query_params, "query parameter"),
        (
            &mut m.without_headers,
            &router.without_headers,
            "absent header",
        ),
    ] {
        for (key, value) in theirs {
            match join_value(mine.get(key), Some(value)) {
                Ok(Some(v)) => {
                    mine.insert(key.clone(), v);
                }
                Ok(None) => {}
                Err(never) => return never_or(never, &format!("{what} {key:?}")),
            }
        }
    }
    Conjunction::Match(Box::new(m))
}

fn never_or(never: bool, what: &str) -> Conjunction {
    if never {
        Conjunction::Never
    } else {
        Conjunction::Inexpressible(format!(
            "and the GatewayRoute both set different {what} conditions, which one Istio match cannot combine"
        ))
    }
}

/// Both conditions on one value: `Err(true)` when they exclude each other (two different exact
/// values), `Err(false)` when they may overlap but cannot be written as one.
fn join_value(
    a: Option<&StringMatch>,
    b: Option<&StringMatch>,
) -> Result<Option<StringMatch>, bool> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x.cloned()),
        (Some(a), Some(b)) if a == b => Ok(Some(a.clone())),
        (Some(StringMatch::Exact(_)), Some(StringMatch::Exact(_))) => Err(true),
        _ => Err(false),
    }
}

/// Both path conditions: `Ok(None)` when no path satisfies both.
fn both_uri(
    gateway: Option<&StringMatch>,
    router: &StringMatch,
) -> Result<Option<StringMatch>, String> {
    let Some(gateway) = gateway else {
        return Ok(Some(router.clone()));
    };
    match (gateway, router) {
        (StringMatch::Prefix(p), StringMatch::Prefix(q)) => Ok(if q.starts_with(p.as_str()) {
            Some(router.clone())
        } else if p.starts_with(q.as_str()) {
            Some(gateway.clone())
        } else {
            None
        }),
        (StringMatch::Prefix(p), StringMatch::Exact(e)) | (StringMatch::Exact(e), StringMatch::Prefix(p)) => {
            Ok(e.starts_with(p.as_str()).then(|| StringMatch::exact(e)))
        }
        (StringMatch::Exact(a), StringMatch::Exact(b)) => Ok((a == b).then(|| gateway.clone())),
        (a, b) if a == b => Ok(Some(a.clone())),
        _ => Err("matches the path with a regex, which cannot be combined with the GatewayRoute's path condition".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
