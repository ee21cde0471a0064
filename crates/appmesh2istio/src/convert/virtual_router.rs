//! VirtualRouter routes (and VirtualNode providers) → the `http` / `tcp` rules of a host's
//! mesh VirtualService (istio-mapping.md §4, §5, §10).
//!
//! Routes are planned first and written later: one Istio VirtualService holds every route of
//! a host, so ordering (App Mesh priority, then specificity, catch-alls last) and the
//! DestinationRule idle timeouts of route targets can only be settled once all routes of the
//! host, and all routes targeting a node, are known.

use std::collections::BTreeMap;

use crate::appmesh::VirtualNode;
use crate::appmesh::common::{HttpTimeout, PortMapping, PortProtocol, TcpTimeout};
use crate::appmesh::virtual_router::{
    GrpcRoute, HttpRoute as AppMeshHttpRoute, Route, RouteAction, TcpRoute as AppMeshTcpRoute,
};
use crate::istio::{
    ConnectionPoolSettings, Destination, Duration, HttpMatchRequest, HttpRetry, HttpRoute,
    HttpRouteDestination, HttpSettings, L4MatchAttributes, RouteDestination, StringMatch, TcpRoute,
    TcpSettings, TrafficPolicy, clamp_i32,
};
use crate::origin::ObjectRef;
use crate::resolve::{NsName, VirtualRouterEntry};

use super::matches::{self, HeaderCondition, Inexpressible, Notes};
use super::retries::{self, RetryPolicy};
use super::route_idle;
use super::{Context, defaults, destinations, names};

/// A weighted target was dropped; the route keeps its other targets.
pub(crate) const CODE_TARGET_DROPPED: &str = "AMI2104";
/// No usable target is left: the route is not converted.
pub(crate) const CODE_NO_TARGET: &str = "AMI2105";
/// Several targets, all with weight 0.
pub(crate) const CODE_ZERO_WEIGHTS: &str = "AMI2106";
/// App Mesh's default idle timeout (written for TCP routes; see route_idle.rs for HTTP).
pub(crate) const CODE_DEFAULT_IDLE: &str = route_idle::CODE_DEFAULT_IDLE;
/// An idle timeout that could not be carried over as written.
pub(crate) const CODE_IDLE_APPROXIMATED: &str = "AMI2110";
/// A route that does not fit its router's listeners.
pub(crate) const CODE_LISTENER_MISMATCH: &str = "AMI2111";
/// A route App Mesh never reached.
pub(crate) const CODE_UNREACHABLE: &str = "AMI2112";
/// A weight outside App Mesh's 0..100.
pub(crate) const CODE_WEIGHT_RANGE: &str = "AMI2117";
/// The target listener's serving-side request timeout became the route timeout.
pub(crate) const CODE_LISTENER_LIMIT: &str = "AMI2122";
/// The same, approximately (retries, or targets with different limits).
pub(crate) const CODE_LISTENER_LIMIT_APPROXIMATED: &str = "AMI2123";

const TIMEOUT_DEFAULT: &str = "AMI2001";
const RETRIES_DEFAULT: &str = "AMI2002";
const DEFAULTS_DROPPED: &str = "AMI2003";

/// Either kind of Istio rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    Http(Box<HttpRoute>),
    Tcp(TcpRoute),
}

/// Where App Mesh puts a route among the routes of its router: priority (0 first, unset
/// after every prioritised route), then routes with conditions before a route matching
/// everything, then the most specific path (exact, then the longest prefix, then the rest),
/// then declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RouteOrder {
    unprioritised: bool,
    priority: i64,
    catch_all: bool,
    specificity: u8,
    longer_prefix_first: std::cmp::Reverse<usize>,
    position: usize,
}

/// The idle timeout a route asks for on the DestinationRule of one target host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdleRequest {
    pub host: String,
    /// Where the DestinationRule is created if it does not exist yet.
    pub namespace: String,
    pub tcp: bool,
    /// `None`: disabled (App Mesh value 0).
    pub value: Option<Duration>,
    /// False for App Mesh's implicit default.
    pub explicit: bool,
    pub source: ObjectRef,
    pub field: String,
}

/// One Istio rule to be, with what ordering and pruning need to know.
#[derive(Debug, Clone)]
pub(crate) struct PlannedRoute {
    pub source: ObjectRef,
    pub field: String,
    pub name: String,
    /// The listener port the rule is restricted to (`match.port`), if any.
    pub port: Option<u32>,
    pub order: RouteOrder,
    /// Matches every request (of its port): App Mesh never reaches routes after it.
    pub catch_all: bool,
    pub rule: Rule,
    pub idle: Vec<IdleRequest>,
}

/// Istio port numbers are 1..65535; App Mesh's CRD bounds them the same way, but input may not.
fn port_u32(port: i64) -> Option<u32> {
    u32::try_from(port).ok().filter(|p| (1..=65535).contains(p))
}

/// The routes of `router`, planned for a host whose providers listen on several ports when
/// `multi_port` (then every rule matches its listener port).
pub(crate) fn plan_router(
    ctx: &mut Context<'_>,
    router: &VirtualRouterEntry<'_>,
    multi_port: bool,
) -> Vec<PlannedRoute> {
    let source = router
        .common
        .key
        .object_ref(crate::appmesh::AppMeshKind::VirtualRouter);
    let namespace = router.common.key.namespace.as_str();
    let listeners = &router.object.spec.listeners;
    let mut planned = Vec::new();
    for (index, route) in router.object.spec.routes.iter().enumerate() {
        let mut notes = Notes::default();
        let Some((key, protocol)) = route_type(route) else {
            // No route type: the resolver reports it (AMI1115) and there is nothing to convert.
            continue;
        };
        let field = format!("spec.routes[{index}].{key}");
        if let Some(listener) = listener_of(route, protocol, listeners, &field, &mut notes) {
            let input = RouteInput {
                source: &source,
                namespace,
                index,
                route,
                field: &field,
                listener,
                multi_port,
            };
            if let Some(p) = plan_route(ctx, &input, &mut notes) {
                planned.push(p);
            }
        }
        notes.report(ctx, &source);
    }
    planned
}

/// The route type set first (the resolver warns when several are set) and its protocol.
fn route_type(route: &Route) -> Option<(&'static str, PortProtocol)> {
    if route.http_route.is_some() {
        Some(("httpRoute", PortProtocol::Http))
    } else if route.http2_route.is_some() {
        Some(("http2Route", PortProtocol::Http2))
    } else if route.grpc_route.is_some() {
        Some(("grpcRoute", PortProtocol::Grpc))
    } else if route.tcp_route.is_some() {
        Some(("tcpRoute", PortProtocol::Tcp))
    } else {
        None
    }
}

fn match_port(route: &Route) -> Option<i64> {
    route
        .http_route
        .as_ref()
        .or(route.http2_route.as_ref())
        .and_then(|r| r.match_.port)
        .or_else(|| route.grpc_route.as_ref().and_then(|r| r.match_.port))
        .or_else(|| {
            route
                .tcp_route
                .as_ref()
                .and_then(|r| r.match_.as_ref())
                .and_then(|m| m.port)
        })
}

fn protocol_name(p: PortProtocol) -> &'static str {
    match p {
        PortProtocol::Grpc => "grpc",
        PortProtocol::Http => "http",
        PortProtocol::Http2 => "http2",
        PortProtocol::Tcp => "tcp",
    }
}

/// The router listener a route is attached to. App Mesh requires `match.port` when the router
/// has several listeners, and a route type matching the listener protocol; a route breaking
/// either rule never carried traffic.
fn listener_of<'l>(
    route: &Route,
    protocol: PortProtocol,
    listeners: &'l [crate::appmesh::virtual_router::VirtualRouterListener],
    field: &str,
    notes: &mut Notes,
) -> Option<&'l PortMapping> {
    let port = match_port(route);
    let listener = match (listeners, port) {
        ([], _) => {
            notes.add(
                CODE_LISTENER_MISMATCH,
                field.to_owned(),
                "the router has no listener, so App Mesh routes nothing through it",
            );
            return None;
        }
        ([only], None) => Some(&only.port_mapping),
        (_, None) => {
            notes.add(
                CODE_LISTENER_MISMATCH,
                format!("{field}.match.port"),
                format!("route `{}` sets no match.port although the router has {} listeners (App Mesh requires it)", route.name, listeners.len()),
            );
            return None;
        }
        (_, Some(p)) => listeners
            .iter()
            .map(|l| &l.port_mapping)
            .find(|m| m.port == p),
    };
    let Some(listener) = listener else {
        notes.add(
            CODE_LISTENER_MISMATCH,
            format!("{field}.match.port"),
            format!("route `{}` matches port {} but the router has no listener on it, so it never matched", route.name, port.unwrap_or_default()),
        );
        return None;
    };
    if listener.protocol != protocol {
        notes.add(
            CODE_LISTENER_MISMATCH,
            field.to_owned(),
            format!(
                "route `{}` is a {} route but the router listener on port {} speaks {} (App Mesh requires the route type to match the listener protocol)",
                route.name,
                protocol_name(protocol),
                listener.port,
                protocol_name(listener.protocol)
            ),
        );
        return None;
    }
    if port_u32(listener.port).is_none() {
        notes.add(
            CODE_LISTENER_MISMATCH,
            field.to_owned(),
            format!("listener port {} is not a valid port number", listener.port),
        );
        return None;
    }
    Some(listener)
}

struct RouteInput<'r> {
    source: &'r ObjectRef,
    namespace: &'r str,
    index: usize,
    route: &'r Route,
    /// `spec.routes[i].<type>`.
    field: &'r str,
    listener: &'r PortMapping,
    multi_port: bool,
}

fn plan_route(
    ctx: &mut Context<'_>,
    input: &RouteInput<'_>,
    notes: &mut Notes,
) -> Option<PlannedRoute> {
    let route = input.route;
    let port = input
        .multi_port
        .then(|| port_u32(input.listener.port))
        .flatten();
    let position = input.index;
    let order_base = |catch_all: bool, specificity: u8, prefix_len: usize| RouteOrder {
        unprioritised: route.priority.is_none(),
        priority: route.priority.unwrap_or_default(),
        catch_all,
        specificity,
        longer_prefix_first: std::cmp::Reverse(prefix_len),
        position,
    };
    if let Some(tcp) = &route.tcp_route {
        let targets = destinations_of(ctx, input, &tcp.action, notes)?;
        let idle = tcp_idle(ctx, input, tcp, &targets, notes);
        let rule = TcpRoute {
            matches: port
                .map(|p| {
                    vec![L4MatchAttributes {
                        port: Some(p),
                        ..L4MatchAttributes::default()
                    }]
                })
                .unwrap_or_default(),
            route: tcp_destinations(targets),
        };
        return Some(PlannedRoute {
            source: input.source.clone(),
            field: input.field.to_owned(),
            name: route.name.clone(),
            port,
            order: order_base(true, 0, 0),
            catch_all: true,
            rule: Rule::Tcp(rule),
            idle,
        });
    }
    let (m, specificity, prefix_len) =
        if let Some(http) = route.http_route.as_ref().or(route.http2_route.as_ref()) {
            http_match(http, input.field, notes).ok()?
        } else {
            let grpc = route.grpc_route.as_ref()?;
            grpc_match(grpc, input.field, notes).ok()?
        };
    let (action, timeout, retry) =
        if let Some(http) = route.http_route.as_ref().or(route.http2_route.as_ref()) {
            (
                &http.action,
                http.timeout.as_ref(),
                http.retry_policy.as_ref().map(RetryPolicy::from),
            )
        } else {
            let grpc = route.grpc_route.as_ref()?;
            (
                &grpc.action,
                grpc.timeout.as_ref(),
                grpc.retry_policy.as_ref().map(RetryPolicy::from),
            )
        };
    let targets = destinations_of(ctx, input, action, notes)?;
    let policies = http_policies(
        ctx,
        input.source,
        input.field,
        timeout,
        retry.as_ref(),
        &targets,
        notes,
    );
    let catch_all = m == HttpMatchRequest::default();
    let mut m = m;
    m.port = port;
    let rule = HttpRoute {
        name: Some(route.name.clone()),
        matches: if m == HttpMatchRequest::default() {
            Vec::new()
        } else {
            vec![m]
        },
        route: http_destinations(targets),
        timeout: policies.timeout,
        retries: policies.retries,
        ..HttpRoute::default()
    };
    Some(PlannedRoute {
        source: input.source.clone(),
        field: input.field.to_owned(),
        name: route.name.clone(),
        port,
        order: order_base(catch_all, specificity, prefix_len),
        catch_all,
        rule: Rule::Http(Box::new(rule)),
        idle: Vec::new(),
    })
}

/// The Istio match of an HTTP/HTTP2 route, its specificity rank and prefix length.
fn http_match(
    http: &AppMeshHttpRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<(HttpMatchRequest, u8, usize), Inexpressible> {
    let am = &http.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::uri_match(am.prefix.as_deref(), am.path.as_ref(), &base, notes);
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
    let (specificity, prefix_len) = match &uri {
        Some(StringMatch::Exact(_)) => (0, 0),
        Some(StringMatch::Prefix(p)) => (1, p.len()),
        _ => (2, 0),
    };
    // `prefix: /` matches every path; leaving the condition out says the same and lets a route
    // with nothing else be Istio's catch-all.
    m.uri = uri.filter(|u| *u != StringMatch::prefix("/"));
    m.method = am.method.map(matches::method_match);
    m.scheme = am.scheme.map(matches::scheme_match);
    Ok((m, specificity, prefix_len))
}

fn grpc_match(
    grpc: &GrpcRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<(HttpMatchRequest, u8, usize), Inexpressible> {
    let am = &grpc.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::grpc_uri(
        am.service_name.as_deref(),
        am.method_name.as_deref(),
        &base,
        notes,
    );
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
    let (specificity, prefix_len) = match &uri {
        Some(StringMatch::Exact(_)) => (0, 0),
        Some(StringMatch::Prefix(p)) => (1, p.len()),
        _ => (2, 0),
    };
    m.uri = uri;
    Ok((m, specificity, prefix_len))
}

/// A resolved weighted target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub destination: Destination,
    pub weight: i32,
    /// The node's namespace: where a new DestinationRule for its host goes.
    pub namespace: String,
    /// The per-request timeout the node's listener enforces on the serving side.
    pub listener_limit: Option<ListenerLimit>,
}

/// A serving-side per-request timeout of a VirtualNode listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenerLimit {
    pub timeout: Duration,
    /// App Mesh's implicit 15 s rather than a value in the listener.
    pub implicit: bool,
}

/// Resolve the weighted targets of `action`; `None` when no usable target is left (a note
/// says why).
fn destinations_of(
    ctx: &mut Context<'_>,
    input: &RouteInput<'_>,
    action: &RouteAction,
    notes: &mut Notes,
) -> Option<Vec<Target>> {
    let base = format!("{}.action.weightedTargets", input.field);
    let mut targets: Vec<Target> = Vec::new();
    let mut dropped_weight = 0i64;
    for (i, t) in action.weighted_targets.iter().enumerate() {
        let here = format!("{base}[{i}]");
        let weight = t.weight.max(0);
        if t.weight < 0 || t.weight > 100 {
            notes.add(
                CODE_WEIGHT_RANGE,
                format!("{here}.weight"),
                format!(
                    "weight {} is outside App Mesh's 0..100; {} is used as a relative weight",
                    t.weight, weight
                ),
            );
        }
        let node_key = match (&t.virtual_node_ref, &t.virtual_node_arn) {
            (Some(r), _) => NsName::new(r.namespace_or(input.namespace), &r.name),
            (None, Some(arn)) => {
                dropped_weight += weight;
                notes.add(CODE_TARGET_DROPPED, here, format!("target VirtualNode `{arn}` is referenced by ARN and cannot be addressed from manifests"));
                continue;
            }
            (None, None) => {
                notes.add(CODE_TARGET_DROPPED, here, "target names no VirtualNode");
                continue;
            }
        };
        let found = match ctx.resolved.virtual_nodes.get(&node_key) {
            Some(node) => node_listener_destination(ctx, node.object, &node_key.namespace, t.port),
            None => Err(format!("target VirtualNode {node_key} is not in the input")),
        };
        match found {
            Ok((destination, listener_limit)) => {
                let weight32 = clamp_i32(weight);
                // Two targets reaching the same destination (e.g. nodes sharing a hostname)
                // are one Istio destination with their weights added.
                match targets.iter_mut().find(|x| x.destination == destination) {
                    Some(existing) => existing.weight = existing.weight.saturating_add(weight32),
                    None => targets.push(Target {
                        destination,
                        weight: weight32,
                        namespace: node_key.namespace.clone(),
                        listener_limit,
                    }),
                }
            }
            Err(why) => {
                dropped_weight += weight;
                notes.add(CODE_TARGET_DROPPED, here, why);
            }
        }
    }
    if targets.is_empty() {
        notes.add(
            CODE_NO_TARGET,
            format!("{}.action", input.field),
            format!(
                "route `{}` has no target Istio can address, so it is not generated",
                input.route.name
            ),
        );
        return None;
    }
    if dropped_weight > 0 {
        notes.add(
            CODE_TARGET_DROPPED,
            format!("{}.action", input.field),
            format!("route `{}` lost targets with a total weight of {dropped_weight}; their share of traffic now goes to the remaining targets", input.route.name),
        );
    }
    if targets.len() > 1 && targets.iter().all(|t| t.weight == 0) {
        notes.add(
            CODE_ZERO_WEIGHTS,
            format!("{}.action", input.field),
            format!("all {} targets of route `{}` have weight 0: App Mesh's Envoy rejects such a split and Istio does too, so the route is not generated", targets.len(), input.route.name),
        );
        return None;
    }
    Some(targets)
}

/// The Istio destination of a VirtualNode listener (`port`: the target's listener port), or
/// why there is none.
pub(crate) fn target_destination(
    ctx: &Context<'_>,
    node_key: &NsName,
    port: Option<i64>,
) -> Result<Destination, String> {
    let Some(node) = ctx.resolved.virtual_nodes.get(node_key) else {
        return Err(format!("target VirtualNode {node_key} is not in the input"));
    };
    node_listener_destination(ctx, node.object, &node_key.namespace, port).map(|(d, _)| d)
}

/// The Istio destination of a VirtualNode listener (and the listener's serving-side
/// per-request timeout), or why there is none. `port` is the target's listener port.
fn node_listener_destination(
    ctx: &Context<'_>,
    node: &VirtualNode,
    namespace: &str,
    port: Option<i64>,
) -> Result<(Destination, Option<ListenerLimit>), String> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let domain = &ctx.opts.cluster_domain;
    let address = destinations::node_address(node, namespace, domain).map_err(|why| {
        format!("target VirtualNode {namespace}/{name} {why}, so nothing can reach it")
    })?;
    let Some((listener_port, _)) = destinations::target_listener(node, port) else {
        return Err(match port {
            Some(p) => format!("target VirtualNode {namespace}/{name} has no listener on port {p}"),
            None if node.spec.listeners.is_empty() => {
                format!("target VirtualNode {namespace}/{name} has no listener")
            }
            None => format!(
                "target VirtualNode {namespace}/{name} has several listeners and the target names no port"
            ),
        });
    };
    let mut destination = Destination::host(&address.host);
    if let Some(subset) = address.subset {
        destination = destination.with_subset(subset);
    }
    if port.is_some()
        || destinations::needs_explicit_port(ctx.resolved, node, &address.host, domain)
    {
        let service_port =
            destinations::service_port(ctx.resolved, &address.host, listener_port, domain);
        let Some(number) = port_u32(service_port) else {
            return Err(format!(
                "port {service_port} of target VirtualNode {namespace}/{name} is not a valid port number"
            ));
        };
        destination = destination.with_port(number);
    }
    Ok((destination, listener_limit(ctx, node, listener_port)))
}

/// The per-request timeout a node's listener enforces on requests it serves: its own
/// `timeout.<protocol>.perRequest` (0 disables it), else App Mesh's 15 s default.
fn listener_limit(ctx: &Context<'_>, node: &VirtualNode, port: i64) -> Option<ListenerLimit> {
    let listener = node
        .spec
        .listeners
        .iter()
        .find(|l| l.port_mapping.port == port)?;
    let timeouts = listener.timeout.as_ref();
    let block = match listener.port_mapping.protocol {
        PortProtocol::Http => timeouts.and_then(|t| t.http.as_ref()),
        PortProtocol::Http2 => timeouts.and_then(|t| t.http2.as_ref()),
        PortProtocol::Grpc => timeouts.and_then(|t| t.grpc.as_ref()),
        PortProtocol::Tcp => return None,
    };
    match block.and_then(|b| b.per_request.as_ref()) {
        Some(d) => {
            let millis = u64::try_from(d.to_millis()).ok().filter(|m| *m > 0)?;
            Some(ListenerLimit {
                timeout: Duration::from_millis(millis.min(Duration::MAX_GO_MILLIS)),
                implicit: false,
            })
        }
        None => ctx.opts.preserve_defaults.then_some(ListenerLimit {
            timeout: defaults::REQUEST_TIMEOUT,
            implicit: true,
        }),
    }
}

fn http_destinations(targets: Vec<Target>) -> Vec<HttpRouteDestination> {
    // A sole destination receives all traffic in both meshes, whatever its weight.
    if let [only] = targets.as_slice() {
        return vec![HttpRouteDestination::to(only.destination.clone())];
    }
    targets
        .into_iter()
        .map(|t| HttpRouteDestination::weighted(t.destination, t.weight))
        .collect()
}

fn tcp_destinations(targets: Vec<Target>) -> Vec<RouteDestination> {
    if let [only] = targets.as_slice() {
        return vec![RouteDestination::to(only.destination.clone())];
    }
    targets
        .into_iter()
        .map(|t| RouteDestination::weighted(t.destination, t.weight))
        .collect()
}

/// Where a target host's DestinationRule lives: the Service's namespace for Kubernetes
/// Service hosts, otherwise the node's.
fn rule_namespace(ctx: &Context<'_>, host: &str, node_namespace: &str) -> String {
    names::service_of_host(host, &ctx.opts.cluster_domain)
        .map_or(node_namespace, |(ns, _)| ns)
        .to_owned()
}

/// Timeout and retries of an HTTP/HTTP2/gRPC rule (its idle timeout: route_idle.rs).
struct HttpPolicies {
    timeout: Option<Duration>,
    retries: Option<HttpRetry>,
}

fn http_policies(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    timeout: Option<&HttpTimeout>,
    retry: Option<&RetryPolicy<'_>>,
    targets: &[Target],
    notes: &mut Notes,
) -> HttpPolicies {
    let preserve = ctx.opts.preserve_defaults;
    let mut dropped: Vec<String> = Vec::new();
    // A VirtualNode provider has no timeout or retry fields: findings point at the provider.
    let (timeout_field, retry_field) = if source.kind == "VirtualService" {
        (field.to_owned(), field.to_owned())
    } else {
        (format!("{field}.timeout"), format!("{field}.retryPolicy"))
    };
    let per_request = timeout.and_then(|t| t.per_request.as_ref());
    // Istio's `timeout` is the budget for the request including retries, which is also what
    // App Mesh's per-request timeout bounds (it becomes Envoy's route timeout).
    let mut timeout_value = match per_request {
        Some(d) => retries::timeout(d, &format!("{field}.timeout.perRequest"), notes),
        None if preserve => Some(defaults::REQUEST_TIMEOUT),
        None => {
            dropped.push(format!("{} per-request timeout", defaults::REQUEST_TIMEOUT));
            None
        }
    };
    let retries_value = match retry {
        Some(policy) => Some(retries::retry_policy(
            policy,
            &format!("{field}.retryPolicy"),
            notes,
        )),
        None if preserve => {
            notes.add(
                RETRIES_DEFAULT,
                retry_field,
                format!(
                    "no retry policy: App Mesh's default ({} retries on {}) is written out",
                    defaults::RETRY_ATTEMPTS,
                    defaults::RETRY_ON.join(",")
                ),
            );
            Some(defaults::retry_policy())
        }
        None => {
            dropped.push("default retry policy".to_owned());
            None
        }
    };
    let lowered = apply_listener_limits(
        targets,
        &mut timeout_value,
        retries_value.as_ref(),
        &timeout_field,
        notes,
    );
    if per_request.is_none() && preserve && !lowered {
        notes.add(
            TIMEOUT_DEFAULT,
            timeout_field.clone(),
            format!(
                "no per-request timeout: App Mesh's default of {} is written out",
                defaults::REQUEST_TIMEOUT
            ),
        );
    }
    // A route's HTTP idle timeout is per request, which Istio cannot carry (route_idle.rs).
    route_idle::report_http_route_idle(
        timeout.and_then(|t| t.idle.as_ref()),
        field,
        &timeout_field,
        preserve,
        notes,
    );
    if !dropped.is_empty() {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!(
                "not carried over (--no-preserve-defaults): App Mesh's implicit {}",
                join_words(&dropped)
            ),
        );
    }
    HttpPolicies {
        timeout: timeout_value,
        retries: retries_value,
    }
}

/// App Mesh enforces per-request timeouts on both sides: the caller's route timeout and the
/// serving listener's (15 s unless set), so a request ends after the smaller of the two.
/// Istio has no serving-side request timeout, so a tighter listener limit becomes the route's
/// `timeout`. (Not `perTryTimeout`: Envoy retries an attempt that hit its per-try timeout when
/// `reset` is a retry condition, as in App Mesh's default policy, while App Mesh's serving
/// side answered 504, which that policy does not retry.) Returns whether it lowered it.
fn apply_listener_limits(
    targets: &[Target],
    timeout: &mut Option<Duration>,
    retries: Option<&HttpRetry>,
    field: &str,
    notes: &mut Notes,
) -> bool {
    let limits: Vec<ListenerLimit> = targets.iter().filter_map(|t| t.listener_limit).collect();
    let Some(limit) = limits.iter().map(|l| l.timeout).min() else {
        return false;
    };
    if timeout.is_some_and(|t| t <= limit) {
        return false;
    }
    let before = timeout.map_or_else(|| "no timeout".to_owned(), |t| t.to_string());
    *timeout = Some(limit);
    let mut distinct: Vec<Duration> = limits.iter().map(|l| l.timeout).collect();
    distinct.sort();
    distinct.dedup();
    let retrying = retries.is_some_and(|r| r.attempts > 0);
    if distinct.len() > 1 || limits.len() < targets.len() {
        let each: Vec<String> = targets
            .iter()
            .map(|t| match t.listener_limit {
                Some(l) => format!("{} after {}", t.destination.host, l.timeout),
                None => format!("{} never", t.destination.host),
            })
            .collect();
        notes.add(
            CODE_LISTENER_LIMIT_APPROXIMATED,
            field.to_owned(),
            format!(
                "the targets' listeners end requests on the serving side at different times ({}); Istio cannot set that per destination, so the route's timeout is the smallest, {limit}, instead of {before}",
                each.join(", ")
            ),
        );
    } else {
        let origin = if limits.iter().all(|l| l.implicit) {
            "App Mesh's default for listeners without a perRequest timeout"
        } else {
            "its perRequest timeout"
        };
        let (code, retry_note) = if retrying {
            (
                CODE_LISTENER_LIMIT_APPROXIMATED,
                "; App Mesh applied it to each attempt, Istio's timeout covers the retries too",
            )
        } else {
            (CODE_LISTENER_LIMIT, "")
        };
        notes.add(
            code,
            field.to_owned(),
            format!(
                "the target's listener ends each request after {limit} ({origin}), which App Mesh enforced on the serving side and Istio cannot; the route's timeout is {limit} instead of {before}{retry_note}"
            ),
        );
    }
    true
}

fn tcp_idle(
    ctx: &Context<'_>,
    input: &RouteInput<'_>,
    tcp: &AppMeshTcpRoute,
    targets: &[Target],
    notes: &mut Notes,
) -> Vec<IdleRequest> {
    let field = format!("{}.timeout", input.field);
    match tcp
        .timeout
        .as_ref()
        .and_then(|t: &TcpTimeout| t.idle.as_ref())
    {
        Some(d) => {
            let here = format!("{field}.idle");
            let value = retries::tcp_idle_timeout(d, &here, notes);
            idle_requests(ctx, input.source, &here, targets, true, Some(value), true)
        }
        None => default_tcp_idle(ctx, input.source, &field, targets, notes),
    }
}

fn default_tcp_idle(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    targets: &[Target],
    notes: &mut Notes,
) -> Vec<IdleRequest> {
    if ctx.opts.preserve_defaults {
        notes.add(
            CODE_DEFAULT_IDLE,
            field.to_owned(),
            format!("no idle timeout: App Mesh's default of {} is written to the DestinationRule of each target", defaults::IDLE_TIMEOUT),
        );
        idle_requests(
            ctx,
            source,
            field,
            targets,
            true,
            Some(defaults::IDLE_TIMEOUT),
            false,
        )
    } else {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!(
                "not carried over (--no-preserve-defaults): App Mesh's implicit {} idle timeout",
                defaults::IDLE_TIMEOUT
            ),
        );
        Vec::new()
    }
}

fn idle_requests(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    targets: &[Target],
    tcp: bool,
    value: Option<Duration>,
    explicit: bool,
) -> Vec<IdleRequest> {
    let mut out: Vec<IdleRequest> = Vec::new();
    for t in targets {
        let host = t.destination.host.clone();
        if out.iter().any(|r| r.host == host) {
            continue;
        }
        out.push(IdleRequest {
            namespace: rule_namespace(ctx, &host, &t.namespace),
            host,
            tcp,
            value,
            explicit,
            source: source.clone(),
            field: field.to_owned(),
        });
    }
    out
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The rules of a VirtualService whose provider is a VirtualNode: one per node listener,
/// carrying App Mesh's defaults (a node provider cannot set timeouts or retries).
pub(crate) fn plan_node_provider(
    ctx: &mut Context<'_>,
    vs: &ObjectRef,
    node_key: &NsName,
    node: &VirtualNode,
    multi_port: bool,
) -> Vec<PlannedRoute> {
    let field = "spec.provider.virtualNode";
    let mut notes = Notes::default();
    let mut planned = Vec::new();
    for (i, listener) in node.spec.listeners.iter().enumerate() {
        let mapping = &listener.port_mapping;
        let Some(listener_port) = port_u32(mapping.port) else {
            notes.add(
                CODE_LISTENER_MISMATCH,
                field,
                format!(
                    "listener port {} of VirtualNode {node_key} is not a valid port number",
                    mapping.port
                ),
            );
            continue;
        };
        let target_port = Some(mapping.port).filter(|_| node.spec.listeners.len() > 1);
        let (destination, listener_limit) =
            match node_listener_destination(ctx, node, &node_key.namespace, target_port) {
                Ok(found) => found,
                Err(why) => {
                    notes.add(CODE_NO_TARGET, field, why);
                    continue;
                }
            };
        let targets = [Target {
            destination,
            weight: 100,
            namespace: node_key.namespace.clone(),
            listener_limit,
        }];
        let port = multi_port.then_some(listener_port);
        let order = RouteOrder {
            unprioritised: true,
            priority: 0,
            catch_all: true,
            specificity: 0,
            longer_prefix_first: std::cmp::Reverse(0),
            position: i,
        };
        let (rule, idle) = if mapping.protocol == PortProtocol::Tcp {
            let idle = default_tcp_idle(ctx, vs, field, &targets, &mut notes);
            let rule = TcpRoute {
                matches: port
                    .map(|p| {
                        vec![L4MatchAttributes {
                            port: Some(p),
                            ..L4MatchAttributes::default()
                        }]
                    })
                    .unwrap_or_default(),
                route: tcp_destinations(targets.to_vec()),
            };
            (Rule::Tcp(rule), idle)
        } else {
            let policies = http_policies(ctx, vs, field, None, None, &targets, &mut notes);
            let rule = HttpRoute {
                matches: port
                    .map(|p| {
                        vec![HttpMatchRequest {
                            port: Some(p),
                            ..HttpMatchRequest::default()
                        }]
                    })
                    .unwrap_or_default(),
                route: http_destinations(targets.to_vec()),
                timeout: policies.timeout,
                retries: policies.retries,
                ..HttpRoute::default()
            };
            (Rule::Http(Box::new(rule)), Vec::new())
        };
        planned.push(PlannedRoute {
            source: vs.clone(),
            field: field.to_owned(),
            name: format!("{node_key} port {}", mapping.port),
            port,
            order,
            catch_all: true,
            rule,
            idle,
        });
    }
    if node.spec.listeners.is_empty() {
        notes.add(CODE_NO_TARGET, field, format!("VirtualNode {node_key} has no listener, so App Mesh cannot send this service's traffic to it"));
    }
    notes.report(ctx, vs);
    planned
}

/// Put the planned routes of one source (a router, or a node provider) in App Mesh's order
/// and drop those App Mesh never reached: everything after a route that matches all
/// requests of its port (a catch-all; for TCP, any route).
pub(crate) fn order_source_routes(
    ctx: &mut Context<'_>,
    mut routes: Vec<PlannedRoute>,
) -> Vec<PlannedRoute> {
    routes.sort_by_key(|r| r.order);
    let mut kept: Vec<PlannedRoute> = Vec::new();
    for route in routes {
        let tcp = matches!(route.rule, Rule::Tcp(_));
        let shadow = kept.iter().find(|k| {
            k.catch_all
                && matches!(k.rule, Rule::Tcp(_)) == tcp
                && (k.port.is_none() || k.port == route.port)
        });
        if let Some(shadow) = shadow {
            let message = format!(
                "route `{}` comes after route `{}`, which matches every {} request{}, so App Mesh never used it; it is not generated",
                route.name,
                shadow.name,
                if tcp { "TCP" } else { "HTTP" },
                route
                    .port
                    .map(|p| format!(" on port {p}"))
                    .unwrap_or_default()
            );
            ctx.note(CODE_UNREACHABLE, &route.source, &route.field, message);
            continue;
        }
        kept.push(route);
    }
    kept
}

/// The rules of one host in Istio's order: sources one after the other, each in App Mesh
/// order, and every catch-all after all other rules (Istio stops at the first rule without
/// conditions, IST0130).
pub(crate) fn istio_rules(routes: Vec<PlannedRoute>) -> (Vec<HttpRoute>, Vec<TcpRoute>) {
    let (specific, catch_all): (Vec<PlannedRoute>, Vec<PlannedRoute>) =
        routes.into_iter().partition(|r| !r.catch_all);
    let (mut http, mut tcp) = (Vec::new(), Vec::new());
    let (mut tcp_specific, mut tcp_any) = (Vec::new(), Vec::new());
    for r in specific.into_iter().chain(catch_all) {
        match r.rule {
            Rule::Http(h) => http.push(*h),
            Rule::Tcp(t) if t.matches.is_empty() => tcp_any.push(t),
            Rule::Tcp(t) => tcp_specific.push(t),
        }
    }
    // Port-specific catch-alls only compete within their port; rules without any match go last.
    let (with_match, without): (Vec<HttpRoute>, Vec<HttpRoute>) =
        http.into_iter().partition(|h| !h.matches.is_empty());
    http = with_match.into_iter().chain(without).collect();
    tcp.extend(tcp_specific);
    tcp.extend(tcp_any);
    (http, tcp)
}

/// Write the idle timeouts the kept routes ask for into the DestinationRules of their target
/// hosts. One DestinationRule serves every route to a host, so when routes disagree the
/// longest explicit value wins (no route sees connections closed earlier than it allowed),
/// and each route that asked for something else is told.
pub(crate) fn apply_idle_timeouts(ctx: &mut Context<'_>, requests: Vec<IdleRequest>) {
    let mut by_target: BTreeMap<(String, bool), Vec<IdleRequest>> = BTreeMap::new();
    for r in requests {
        by_target
            .entry((r.host.clone(), r.tcp))
            .or_default()
            .push(r);
    }
    for ((host, tcp), requests) in by_target {
        let explicit: Vec<&IdleRequest> = requests.iter().filter(|r| r.explicit).collect();
        let pool = if explicit.is_empty() {
            requests.iter().collect::<Vec<_>>()
        } else {
            explicit
        };
        // TCP `0s` (disabled) outlasts any duration.
        let Some(chosen) = pool
            .iter()
            .filter_map(|r| r.value)
            .max_by_key(|d| if d.is_zero() { u64::MAX } else { d.as_millis() })
        else {
            continue;
        };
        let Some(first) = requests.first() else {
            continue;
        };
        let namespace = first.namespace.clone();
        let existing = {
            let dr = ctx
                .output
                .destination_rule(&host, &namespace, &first.source);
            let pool = dr
                .traffic_policy
                .get_or_insert_with(TrafficPolicy::default)
                .connection_pool
                .get_or_insert_with(ConnectionPoolSettings::default);
            let slot = if tcp {
                &mut pool
                    .tcp
                    .get_or_insert_with(TcpSettings::default)
                    .idle_timeout
            } else {
                &mut pool
                    .http
                    .get_or_insert_with(HttpSettings::default)
                    .idle_timeout
            };
            match *slot {
                Some(existing) => Some(existing),
                None => {
                    *slot = Some(chosen);
                    None
                }
            }
        };
        let effective = existing.unwrap_or(chosen);
        for r in &requests {
            ctx.output.destination_rule(&host, &namespace, &r.source);
            if r.value != Some(effective) {
                let asked = r.value.map_or_else(
                    || "no idle timeout".to_owned(),
                    |d| {
                        if d.is_zero() {
                            "no idle timeout (0)".to_owned()
                        } else {
                            d.to_string()
                        }
                    },
                );
                let why = if existing.is_some() {
                    "it already set by the VirtualNode's own policies"
                } else {
                    "the longest explicit value of the routes to that host"
                };
                ctx.note(
                    CODE_IDLE_APPROXIMATED,
                    &r.source,
                    &r.field,
                    format!(
                        "this route asks for {asked} but the one DestinationRule of host {host} uses {} for {} connections ({why})",
                        if effective.is_zero() { "0s (disabled)".to_owned() } else { effective.to_string() },
                        if tcp { "TCP" } else { "HTTP" }
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(name: &str, order: RouteOrder, catch_all: bool, port: Option<u32>) -> PlannedRoute {
        PlannedRoute {
            source: ObjectRef::new("VirtualRouter", Some("ns"), "r"),
            field: String::new(),
            name: name.into(),
            port,
            order,
            catch_all,
            rule: Rule::Http(Box::new(HttpRoute {
                name: Some(name.into()),
                matches: if catch_all && port.is_none() {
                    Vec::new()
                } else {
                    vec![HttpMatchRequest {
                        port,
                        ..Default::default()
                    }]
                },
                ..Default::default()
            })),
            idle: Vec::new(),
        }
    }

    fn order(priority: Option<i64>, specificity: u8, len: usize, position: usize) -> RouteOrder {
        RouteOrder {
            unprioritised: priority.is_none(),
            priority: priority.unwrap_or_default(),
            catch_all: false,
            specificity,
            longer_prefix_first: std::cmp::Reverse(len),
            position,
        }
    }

    #[test]
    fn app_mesh_order_priority_then_specificity_then_position() {
        let mut v = [
            order(None, 1, 4, 0),
            order(Some(5), 2, 0, 1),
            order(None, 1, 9, 2),
            order(Some(0), 1, 1, 3),
            order(None, 0, 0, 4),
            order(Some(5), 0, 0, 5),
        ];
        v.sort();
        let positions: Vec<usize> = v.iter().map(|o| o.position).collect();
        assert_eq!(positions, vec![3, 5, 1, 4, 2, 0]);
    }

    #[test]
    fn a_catch_all_sorts_after_regex_routes_of_its_priority_but_before_lower_priorities() {
        let catch_all = |priority: Option<i64>, position| RouteOrder {
            catch_all: true,
            ..order(priority, 1, 1, position)
        };
        let mut v = [
            catch_all(None, 0),
            order(None, 2, 0, 1),
            catch_all(Some(3), 2),
            order(Some(7), 2, 0, 3),
        ];
        v.sort();
        let positions: Vec<usize> = v.iter().map(|o| o.position).collect();
        assert_eq!(positions, vec![2, 3, 1, 0]);
    }

    #[test]
    fn catch_alls_go_last_across_sources() {
        let routes = vec![
            planned("default", order(None, 1, 1, 0), true, None),
            planned("api", order(None, 1, 4, 1), false, None),
        ];
        let (http, _) = istio_rules(routes);
        let names: Vec<_> = http
            .iter()
            .map(|h| h.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, vec!["api", "default"]);
    }

    #[test]
    fn words_are_joined() {
        assert_eq!(join_words(&["a".into()]), "a");
        assert_eq!(
            join_words(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }
}
